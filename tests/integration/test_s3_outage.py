"""jobs/ingest_sensors.py as a service with its lakehouse (tables and checkpoints) in S3, while
the S3 server goes away for a minute: a pausable TCP forwarder (toollife.services.tcp_proxy) in
front of the session's S3Proxy refuses connections and resets the open ones, so the bucket's data
survives, as a real object store's does. S3A's retries give up within the minute: the query
fails and the job exits non-zero; started again once S3 answers, it resumes from its checkpoints
in the bucket. Silver then holds every unique valid reading exactly once. While S3 is away, a
job that starts says in one line that the endpoint does not answer, naming it and the bucket."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toollife.ingestion import schemas
from toollife.ingestion.reconcile import reconcile
from toollife.lakehouse import reader, tables
from toollife.runtime.submit import build_command
from toollife.services.tcp_proxy import TcpProxy

from ingest_messages import keyed, send, valid_event, valid_reading
from test_ingest_crash_recovery import job_env, wait_for

REPO = Path(__file__).resolve().parents[2]
OUTAGE_S = 60


@pytest.fixture
def s3_proxy(s3_server):
    proxy = TcpProxy(s3_server.host, s3_server.port).start()
    yield proxy
    proxy.stop()


def with_endpoint(config, endpoint):
    cfg = copy.deepcopy(config)
    cfg["s3"]["endpoint"] = endpoint
    return cfg


@pytest.mark.slow
def test_s3_away_for_a_minute_mid_ingest_loses_and_duplicates_nothing(spark, kafka_config, s3_lakehouse_config,
                                                                       s3_server, s3_proxy, tmp_path):
    direct = {**copy.deepcopy(kafka_config), "lakehouse": s3_lakehouse_config["lakehouse"]}
    through = with_endpoint(direct, s3_proxy.endpoint)       # what the job sees: S3 behind the forwarder
    bronze_tbl = schemas.SOURCES["sensor_readings"].bronze
    silver_tbl = schemas.SOURCES["sensor_readings"].silver
    readings = [valid_reading(n, machine=f"M0{1 + n % 3}") for n in range(600)]
    events = [valid_event(n, "run_started" if n % 2 else "tool_worn_out", machine="M02") for n in range(4)]
    send(through, "sensor_readings", keyed(readings + readings[::10]))
    send(through, "tool_events", keyed(events))

    env = dict(job_env(through), TOOLLIFE__S3__ENDPOINT=s3_proxy.endpoint)
    log = tmp_path / "job.log"
    # 100 offsets per batch: most readings are still in Kafka when S3 goes away
    job = _start(through, env, log, "--trigger", "processing_time", "--interval", "2 seconds",
                 "--max-offsets-per-trigger", "100")
    try:
        wait_for(lambda: (reader.count(direct, bronze_tbl.qualified) or 0) > 0 or job.poll() is not None, 300,
                 "a first bronze batch")
        assert job.poll() is None, log.read_text()[-3000:]
        s3_proxy.pause()
        stopped_at = time.monotonic()
        # a job started now: one line naming the endpoint and the bucket, before any JVM
        starting = subprocess.run([sys.executable, str(REPO / "jobs" / "aggregate_experiments.py")], env=env,
                                  capture_output=True, text=True, timeout=120)
        assert starting.returncode == 1, starting.stderr
        lines = starting.stderr.strip().splitlines()
        assert len(lines) == 1 and f"the S3 endpoint {s3_proxy.endpoint} (s3.endpoint) does not answer for bucket " \
            f"{s3_server.bucket}" in lines[0], lines
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        s3_proxy.resume()
        code = job.wait(300)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert code != 0, log.read_text()[-3000:]     # S3A gave up: the query failed and so did the run
    assert s3_proxy.connections_reset > 0          # S3 really went away under open connections

    # started again: it resumes from the checkpoints in the bucket and drains Kafka
    again = _start(through, env, log, "--trigger", "available_now")
    assert again.wait(600) == 0, log.read_text()[-3000:]

    silver = tables.read(spark, direct, silver_tbl)
    assert sorted(r.event_id for r in silver.select("event_id").collect()) == sorted(m["event_id"] for m in readings)
    for source in ("sensor_readings", "tool_events"):
        rec = reconcile(spark, direct, source)
        assert rec.ok, rec.as_dict()


def _start(config, env, log, *args):
    """The job as test_ingest_crash_recovery starts it, with the forwarder as its S3 endpoint."""
    cmd = build_command(config, str(REPO / "jobs" / "ingest_sensors.py"), list(args), master="local[2]")
    return subprocess.Popen(cmd, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, cwd=REPO,
                            start_new_session=True)
