"""OPTIMIZE and VACUUM while the streaming ingestion runs: no exception in either, every record
accounted for; VACUUM keeps the Delta version a training run recorded in meta.job_runs readable
while it removes what nothing needs."""

from __future__ import annotations

import copy
import json
import threading
import time
from datetime import datetime, timezone

import pytest

from toollife.lakehouse import lineage, maintenance, tables
from toollife.ingestion import schemas
from toollife.ingestion.reconcile import reconcile
from toollife.ingestion.streaming import IngestionApp
from toollife.quality.core import current_version

from ingest_messages import keyed, send, valid_event, valid_reading


def wait_until(predicate, timeout_s=600, every=2.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout_s}s")


def count(spark, config, tbl):
    try:
        return tables.read(spark, config, tbl).count()
    except Exception:  # noqa: BLE001 - not created yet
        return 0


@pytest.mark.timeout(1800)  # a loaded machine runs a micro-batch in a minute
def test_optimize_and_vacuum_while_ingestion_streams(spark, kafka_config):
    cfg = copy.deepcopy(kafka_config)
    cfg["ingestion"]["trigger"] = {"mode": "processing_time", "interval": "1 second"}
    cfg["ingestion"]["progress"]["flush_interval_s"] = 1
    readings, events = schemas.SOURCES["sensor_readings"].silver, schemas.SOURCES["tool_events"].silver
    app = IngestionApp(spark, cfg)
    errors: list[Exception] = []

    def ingest():
        try:
            app.run()
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    thread = threading.Thread(target=ingest, daemon=True)
    thread.start()
    sent = {"r": 0, "e": 0}

    def wave(w: int) -> None:
        sent["r"] += send(cfg, "sensor_readings", keyed([valid_reading(i, prefix=f"w{w}-", machine=f"M0{1 + i % 3}")
                                                         for i in range(30)]))
        sent["e"] += send(cfg, "tool_events", keyed([valid_event(i, prefix=f"w{w}-") for i in range(4)]))

    try:
        for w in range(2):     # several micro-batches: several small files per table
            wave(w)
            wait_until(lambda: count(spark, cfg, readings) == sent["r"] and count(spark, cfg, events) == sent["e"])
        pinned = current_version(spark, cfg, readings)
        pinned_rows = count(spark, cfg, readings)
        lineage.record_job_run(spark, cfg, {
            "run_id": "training-run", "job": "train_tool_life", "status": "succeeded",
            "started_at": datetime.now(timezone.utc),
            "metrics": json.dumps({"versions_read": {readings.qualified: pinned}})})

        def keep_sending():
            for w in range(2, 4):
                wave(w)
                time.sleep(1.5)

        sender = threading.Thread(target=keep_sending)
        sender.start()
        streamed = [t for t in maintenance.targets(cfg) if t.layer in ("bronze", "silver")]   # the tables being written
        optimized = maintenance.optimize(spark, cfg, streamed)
        vacuumed = maintenance.vacuum(spark, cfg, streamed)
        sender.join()
        wait_until(lambda: count(spark, cfg, readings) == sent["r"] and count(spark, cfg, events) == sent["e"])
        assert not errors and thread.is_alive()
    finally:
        app.request_stop()
        thread.join(180)
    assert not errors, errors

    assert optimized[readings.qualified]["zorder_by"] == ["machine_id", "tool_id"]
    assert optimized[readings.qualified]["files_removed"] > 1
    assert vacuumed[readings.qualified]["retention_hours"] == cfg["quality"]["maintenance"]["vacuum_retention_hours"]
    for key in ("sensor_readings", "tool_events"):
        rec = reconcile(spark, cfg, key)
        assert rec.ok and rec.silver == sent["r" if key == "sensor_readings" else "e"], rec

    # with no retention from conf, VACUUM still keeps the version training read, and only it
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        cfg["quality"]["maintenance"]["vacuum_retention_hours"] = 0
        raw = schemas.SOURCES["sensor_readings"].bronze
        maintenance.optimize(spark, cfg, [raw, readings])
        out = maintenance.vacuum(spark, cfg, [raw, readings])
    finally:
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "true")
    assert out[readings.qualified]["retention_hours"] >= 1 and "read by training" in out[readings.qualified]["why"]
    assert tables.read(spark, cfg, readings, pinned).count() == pinned_rows
    assert out[raw.qualified]["retention_hours"] == 0 and out[raw.qualified]["files_deleted"] > 0
    assert count(spark, cfg, raw) == sent["r"]
