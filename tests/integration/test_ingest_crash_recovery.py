"""jobs/ingest_sensors.py under spark-submit: kill -9 twice mid-ingest while producing, then as a
service under `toollife submit` stopped by SIGTERM to that process (what a scheduler, systemd or
`docker stop` does: graceful, exit 0, no stack trace, its run recorded), then an availableNow run
drains. Afterwards silver holds exactly the unique valid events, bronze every Kafka offset exactly
once, and the reconciliation balances."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from toollife.lakehouse import tables
from toollife.ingestion import schemas
from toollife.ingestion.reconcile import reconcile
from toollife.runtime.submit import build_command

from ingest_messages import keyed, producer, send, valid_event, valid_reading

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def job_env(config):
    env = dict(os.environ)
    topics = config["kafka"]["topics"]
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}",
        PYSPARK_PYTHON=sys.executable,
        TOOLLIFE_CONF_DIR=str(REPO / "conf"),
        TOOLLIFE__LAKEHOUSE__ROOT=config["lakehouse"]["root"],
        TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=config["lakehouse"]["checkpoint_root"],
        TOOLLIFE__KAFKA__BOOTSTRAP_SERVERS=config["kafka"]["bootstrap_servers"],
        TOOLLIFE__KAFKA__TOPICS__SENSOR_READINGS=topics["sensor_readings"],
        TOOLLIFE__KAFKA__TOPICS__TOOL_EVENTS=topics["tool_events"],
        TOOLLIFE__SPARK__SHUFFLE_PARTITIONS="2",
        TOOLLIFE__INGESTION__PROGRESS__FLUSH_INTERVAL_S="2",
    )
    return env


def start_job(config, log_path: Path, *args: str) -> subprocess.Popen:
    cmd = build_command(config, str(REPO / "jobs" / "ingest_sensors.py"), list(args), master="local[2]")
    out = open(log_path, "ab")
    # own session: the test can signal exactly the processes it started (by their group id)
    return subprocess.Popen(cmd, env=job_env(config), stdout=out, stderr=subprocess.STDOUT,
                            cwd=REPO, start_new_session=True)


def start_submitted(config, log_path: Path, *args: str) -> subprocess.Popen:
    """The job as a user starts a service: `toollife submit`, which stays spark-submit's parent."""
    cmd = [sys.executable, "-m", "toollife.cli", "submit", "--master", "local[2]", "jobs/ingest_sensors.py", *args]
    return subprocess.Popen(cmd, env=job_env(config), stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
                            cwd=REPO, start_new_session=True)


def count(spark, config, tbl) -> int:
    try:
        return tables.read(spark, config, tbl).count()
    except Exception:
        return 0


def wait_for(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


class Producer(threading.Thread):
    """Sends valid readings (10% re-sent duplicates) and tool events in small chunks until stopped."""

    def __init__(self, config):
        super().__init__(daemon=True)
        self.config = config
        self.stop_flag = threading.Event()
        self.readings: set[str] = set()
        self.events: set[str] = set()
        self.sent = 0

    def run(self):
        prod = producer(self.config)
        i = 0
        while not self.stop_flag.is_set() and i < 7_500:
            chunk = [valid_reading(n, machine=f"M0{1 + n % 3}") for n in range(i, i + 50)]
            dups = chunk[::10]  # re-sent: at-least-once producers
            events = [valid_event(n, "run_started" if n % 2 else "tool_worn_out", machine="M02")
                      for n in range(i // 50 * 2, i // 50 * 2 + 2)]
            self.sent += send(self.config, "sensor_readings", keyed(chunk + dups), prod=prod)
            self.sent += send(self.config, "tool_events", keyed(events), prod=prod)
            self.readings.update(m["event_id"] for m in chunk)
            self.events.update(m["event_id"] for m in events)
            i += 50
            time.sleep(1.0)
        prod.close()


def end_offsets(config, source):
    topic = config["kafka"]["topics"][source]
    consumer = KafkaConsumer(bootstrap_servers=config["kafka"]["bootstrap_servers"])
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: off for tp, off in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def test_kill_9_twice_sigterm_then_drain_loses_and_duplicates_nothing(spark, kafka_config, tmp_path):
    cfg = kafka_config
    log = tmp_path / "job.log"
    bronze_tbl = schemas.SOURCES["sensor_readings"].bronze
    silver_tbl = schemas.SOURCES["sensor_readings"].silver
    streaming_args = ("--trigger", "processing_time", "--interval", "2 seconds", "--max-offsets-per-trigger", "400")

    prod = Producer(cfg)
    prod.start()
    try:
        for attempt in range(2):  # kill -9 mid-ingest, twice
            before = count(spark, cfg, silver_tbl)
            job = start_job(cfg, log, *streaming_args)
            wait_for(lambda: count(spark, cfg, silver_tbl) > before or job.poll() is not None, 300,
                     f"silver rows in run {attempt}")
            assert job.poll() is None, log.read_text()[-3000:]
            time.sleep(1.5)  # land inside a later batch
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(60)

        # SIGTERM to the process the user started: the running batches finish, the job exits 0
        before, logged = count(spark, cfg, silver_tbl), log.stat().st_size
        job = start_submitted(cfg, log, *streaming_args)
        wait_for(lambda: count(spark, cfg, silver_tbl) > before or job.poll() is not None, 300, "silver rows")
        assert job.poll() is None, log.read_text()[-3000:]
        job.send_signal(signal.SIGTERM)
        assert job.wait(180) == 0, log.read_text()[-3000:]
        service_log = log.read_text()[logged:]
        assert "ingestion stopped cleanly" in service_log
        assert "Traceback" not in service_log and "stopped SparkContext" not in service_log, service_log[-3000:]
    finally:
        prod.stop_flag.set()
        prod.join(60)
        if "job" in locals() and job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)

    # drain everything with a scheduled-style run
    job = start_job(cfg, log, "--trigger", "available_now", "--max-offsets-per-trigger", "5000")
    assert job.wait(600) == 0, log.read_text()[-3000:]

    silver = tables.read(spark, cfg, silver_tbl)
    assert silver.count() == len(prod.readings)
    assert silver.select("event_id").distinct().count() == len(prod.readings)
    assert {r.event_id for r in silver.select("event_id").collect()} == prod.readings
    events = tables.read(spark, cfg, schemas.SOURCES["tool_events"].silver)
    assert events.count() == len(prod.events) == events.select("event_id").distinct().count()

    for source in ("sensor_readings", "tool_events"):
        bronze = tables.read(spark, cfg, schemas.SOURCES[source].bronze)
        expected = end_offsets(cfg, source)
        per_partition = {r.partition: (r.n, r.distinct_n, r.lo, r.hi) for r in bronze.groupBy("partition").agg(
            {"offset": "count"}).withColumnRenamed("count(offset)", "n")
            .join(bronze.groupBy("partition").agg({"offset": "min"}).withColumnRenamed("min(offset)", "lo"), "partition")
            .join(bronze.groupBy("partition").agg({"offset": "max"}).withColumnRenamed("max(offset)", "hi"), "partition")
            .join(bronze.select("partition", "offset").distinct().groupBy("partition").count()
                  .withColumnRenamed("count", "distinct_n"), "partition").collect()}
        for partition, end in expected.items():
            if end == 0:
                continue
            # every offset 0..end-1 exactly once
            assert per_partition[partition] == (end, end, 0, end - 1), (source, partition, per_partition)
        rec = reconcile(spark, cfg, source)
        assert rec.ok, rec.as_dict()
    assert count(spark, cfg, bronze_tbl) == sum(end_offsets(cfg, "sensor_readings").values())
    progress = tables.read(spark, cfg, schemas.STREAM_PROGRESS_TABLE)
    assert progress.where("num_input_rows > 0").count() > 0

    # meta.job_runs: the SIGTERM-stopped run and the drain, each once; a kill -9 leaves no row
    runs = tables.read(spark, cfg, tables.Table("meta", "job_runs")).where("job = 'ingest_sensors'").collect()
    assert sorted(r.status for r in runs) == ["succeeded", "succeeded"]
    metrics = sorted((json.loads(r.metrics) for r in runs), key=lambda m: m["mode"])
    assert [(m["mode"], m["stopped_by_signal"]) for m in metrics] == [("available_now", False), ("processing_time", True)]
    queries = {f"{layer}_{src}" for layer in ("bronze", "silver") for src in ("sensor_readings", "tool_events")}
    assert all(set(m["micro_batches"]) == set(m["input_rows"]) == queries for m in metrics)
    assert sum(metrics[1]["micro_batches"].values()) > 0   # bronze finished batches before silver had rows
