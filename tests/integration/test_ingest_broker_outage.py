"""jobs/ingest_sensors.py as a service (spark-submit, processing-time trigger) while its broker goes
away: the broker, this test's own, is stopped mid-ingest and started again a minute later on the same
port and data dir. The job rides it out (ingestion.kafka.outage_tolerance_s, 300 s by default): it
says once that Kafka is unreachable and once that it is back, goes on where it stopped, and a
SIGTERM ends it with exit 0. Silver then holds every unique valid event exactly once, including
readings re-sent across the outage, and the reconciliation balances."""

from __future__ import annotations

import copy
import json
import os
import signal
import time

import pytest

from toollife.lakehouse import tables
from toollife.lakehouse import reader
from toollife.ingestion import schemas
from toollife.ingestion.reconcile import reconcile
from toollife.runtime.submit import python_driver_pid

from ingest_messages import BAD_READINGS, keyed, send, valid_event, valid_reading
from test_ingest_crash_recovery import start_job, wait_for

OUTAGE_S = 60


@pytest.fixture
def own_broker(base_config, tmp_path):
    """A broker of this test's own (the session's is shared by other tests): it is stopped and restarted."""
    from toollife.services.kafka_local import start_on_free_port

    broker = start_on_free_port(base_config, lambda attempt: str(tmp_path / f"kafka-{attempt}" / "data"))
    yield broker
    broker.stop()


def readings(numbers):
    return [valid_reading(n, machine=f"M0{1 + n % 3}") for n in numbers]


def events(numbers):
    return [valid_event(n, "run_started" if n % 2 else "tool_worn_out", machine="M02") for n in numbers]


def bad(cases):
    return [(key, value) for _kind, _reason, key, value in cases]


def rows(cfg, table) -> int:
    # from the Delta log with delta-rs: polling starts no Spark job beside the ingestion on 2 cores
    return reader.count(cfg, table.qualified) or 0


@pytest.mark.slow
def test_broker_stopped_for_a_minute_mid_ingest_is_ridden_out(spark, lakehouse_config, own_broker, tmp_path):
    cfg = copy.deepcopy(lakehouse_config)
    cfg["kafka"]["bootstrap_servers"] = own_broker.bootstrap_servers
    log = tmp_path / "job.log"
    bronze_tbl = schemas.SOURCES["sensor_readings"].bronze
    silver_tbl = schemas.SOURCES["sensor_readings"].silver
    events_tbl = schemas.SOURCES["tool_events"].silver

    before, after = readings(range(600)), readings(range(600, 900))
    send(cfg, "sensor_readings", keyed(before + before[::10]) + bad(BAD_READINGS[:2]))
    send(cfg, "tool_events", keyed(events(range(4))))

    # 200 offsets per batch: Kafka still holds most of the readings when the broker goes
    job = start_job(cfg, log, "--trigger", "processing_time", "--interval", "2 seconds",
                    "--max-offsets-per-trigger", "200")
    try:
        wait_for(lambda: rows(cfg, bronze_tbl) > 0 or job.poll() is not None, 300, "a first bronze batch")
        assert job.poll() is None, log.read_text()[-3000:]
        stopped_at = time.monotonic()
        assert own_broker.stop()
        wait_for(lambda: "is unreachable" in log.read_text() or job.poll() is not None, 60, "the outage line")
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        assert job.poll() is None, log.read_text()[-3000:]   # still running, waiting for its broker

        own_broker.start()  # same port, same data dir: the topics and their offsets are back
        send(cfg, "sensor_readings", keyed(after + before[::20]) + bad(BAD_READINGS[2:3]))  # re-sent across it
        send(cfg, "tool_events", keyed(events(range(4, 8))))
        expected = len(before) + len(after)
        wait_for(lambda: (rows(cfg, silver_tbl) >= expected and rows(cfg, events_tbl) >= 8)
                 or job.poll() is not None, 600, "every reading in silver after the outage")
        assert job.poll() is None, log.read_text()[-3000:]   # rode it out: the same job, never restarted

        driver = python_driver_pid(job.pid, "ingest_sensors.py")
        assert driver is not None
        os.kill(driver, signal.SIGTERM)
        assert job.wait(180) == 0, log.read_text()[-3000:]
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)

    text = log.read_text()
    assert text.count(f"Kafka at {own_broker.bootstrap_servers} is unreachable") == 1, text[-3000:]
    assert text.count(f"Kafka at {own_broker.bootstrap_servers} is reachable again") == 1, text[-3000:]
    assert "\tat " not in text and "Traceback" not in text   # no stack trace while riding it out
    assert "ingestion stopped cleanly" in text

    silver = tables.read(spark, cfg, silver_tbl)
    assert sorted(r.event_id for r in silver.select("event_id").collect()) == sorted(
        m["event_id"] for m in before + after)
    ev = tables.read(spark, cfg, events_tbl)
    assert sorted(r.event_id for r in ev.select("event_id").collect()) == sorted(m["event_id"] for m in events(range(8)))
    for source in ("sensor_readings", "tool_events"):
        rec = reconcile(spark, cfg, source)
        assert rec.ok, rec.as_dict()
    assert tables.read(spark, cfg, schemas.QUARANTINE_TABLE).count() == 3

    runs = tables.read(spark, cfg, tables.Table("meta", "job_runs")).where("job = 'ingest_sensors'").collect()
    assert [r.status for r in runs] == ["succeeded"]
    metrics = json.loads(runs[0].metrics)
    assert metrics["kafka_outages"] == 1 and metrics["kafka_unreachable_s"] > 0
    assert metrics["stopped_by_signal"] is True
