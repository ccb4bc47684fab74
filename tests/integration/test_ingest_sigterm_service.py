"""`toollife submit jobs/ingest_sensors.py --trigger processing_time` as a service, stopped with
SIGTERM to the process that was started (what a scheduler or an operator does): it exits 0 within
a bound, without a stack trace, its run is in meta.job_runs, and a following availableNow run
neither loses nor duplicates a record."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from toollife.ingestion import schemas
from toollife.lakehouse import tables

from ingest_messages import keyed, send, valid_reading
from test_ingest_crash_recovery import count, end_offsets, job_env, wait_for

REPO = Path(__file__).resolve().parents[2]
STOP_BOUND_S = 90  # graceful: the running micro-batches commit, the run is recorded, the JVM exits


def submit(config, log: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "toollife.cli", "submit", "--master", "local[2]", "jobs/ingest_sensors.py", *args]
    return subprocess.Popen(cmd, env=job_env(config), cwd=REPO, stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def test_sigterm_stops_the_service_cleanly_and_the_next_run_resumes_exactly(spark, kafka_config, tmp_path):
    cfg, log = kafka_config, tmp_path / "job.log"
    silver_tbl = schemas.SOURCES["sensor_readings"].silver
    first = [valid_reading(n) for n in range(600)]
    send(cfg, "sensor_readings", keyed(first))

    service = submit(cfg, log, "--trigger", "processing_time", "--interval", "2 seconds",
                     "--max-offsets-per-trigger", "100")
    try:
        wait_for(lambda: count(spark, cfg, silver_tbl) > 0 or service.poll() is not None, 300, "silver rows")
        assert service.poll() is None, log.read_text()[-3000:]
        stopped_at = time.monotonic()
        service.send_signal(signal.SIGTERM)    # to `toollife submit` itself, not to a process it started
        assert service.wait(STOP_BOUND_S) == 0, log.read_text()[-3000:]
        assert time.monotonic() - stopped_at < STOP_BOUND_S
    finally:
        if service.poll() is None:
            service.kill()
    text = log.read_text()
    assert "ingestion stopped cleanly" in text
    assert "Traceback" not in text and "stopped SparkContext" not in text, text[-3000:]

    later = [valid_reading(n) for n in range(600, 700)]
    send(cfg, "sensor_readings", keyed(later))
    drain = submit(cfg, log, "--trigger", "available_now")
    assert drain.wait(600) == 0, log.read_text()[-3000:]

    silver = tables.read(spark, cfg, silver_tbl)
    assert silver.count() == silver.select("event_id").distinct().count() == len(first) + len(later)
    bronze = tables.read(spark, cfg, schemas.SOURCES["sensor_readings"].bronze)
    assert bronze.count() == bronze.select("partition", "offset").distinct().count() \
        == sum(end_offsets(cfg, "sensor_readings").values())

    runs = tables.read(spark, cfg, tables.Table("meta", "job_runs")).where("job = 'ingest_sensors'").collect()
    metrics = sorted((json.loads(r.metrics) for r in runs if r.status == "succeeded"), key=lambda m: m["mode"])
    assert len(runs) == 2 and [(m["mode"], m["stopped_by_signal"]) for m in metrics] == [
        ("available_now", False), ("processing_time", True)]
