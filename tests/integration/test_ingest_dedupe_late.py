"""Duplicates are dropped and counted; late data (older than the watermark) is still deduplicated
globally and, when unique, accepted and counted as late. availableNow runs, in-process."""

from __future__ import annotations

import copy
from datetime import timedelta

from toollife.lakehouse import tables
from toollife.ingestion import schemas
from toollife.ingestion.reconcile import reconcile
from toollife.ingestion.streaming import IngestionApp

from ingest_messages import BASE_TS, keyed, send, valid_reading


def run_once(spark, config):
    cfg = copy.deepcopy(config)
    cfg["ingestion"]["trigger"]["mode"] = "available_now"
    cfg["ingestion"]["sources"] = ["sensor_readings"]
    cfg["ingestion"]["silver"]["watermark_delay"] = "1 hour"
    assert IngestionApp(spark, cfg).run() == 0
    return cfg


def stats(spark, cfg):
    return (tables.read(spark, cfg, schemas.BATCH_STATS_TABLE)
            .where("source = 'sensor_readings'").orderBy("written_at").collect())


def test_duplicates_dropped_and_counted_late_data_deduped_globally(spark, kafka_config):
    readings = [valid_reading(i) for i in range(10)]
    # 1) the same event_id re-sent inside one run
    send(kafka_config, "sensor_readings", keyed(readings + [readings[3], readings[3]]))
    cfg = run_once(spark, kafka_config)
    silver = tables.read(spark, cfg, schemas.SOURCES["sensor_readings"].silver)
    assert silver.count() == 10
    assert silver.where("event_id = 'r3'").count() == 1
    assert sum(s.duplicates_dropped for s in stats(spark, cfg)) == 2

    # 2) re-sent in a later run (another batch), plus a reading 3 h later that moves the watermark
    ahead = valid_reading(1000, ts=BASE_TS + timedelta(hours=3))
    send(kafka_config, "sensor_readings", keyed([readings[5], ahead]))
    run_once(spark, kafka_config)
    assert silver.count() == 11
    assert sum(s.duplicates_dropped for s in stats(spark, cfg)) == 3

    # 3) late: older than the watermark (3 h - 1 h after BASE_TS): a late duplicate is still dropped
    #    (global insert-if-absent on event_id), a late unique reading is accepted and counted as late
    late_unique = valid_reading(2000, ts=BASE_TS + timedelta(seconds=30))
    send(kafka_config, "sensor_readings", keyed([readings[1], late_unique]))
    run_once(spark, kafka_config)
    last = stats(spark, cfg)[-1]
    assert last.watermark is not None and last.watermark == (BASE_TS + timedelta(hours=2)).replace(tzinfo=None)
    assert (last.rows_in, last.silver_rows, last.duplicates_dropped) == (2, 1, 1)
    assert (last.late_rows, last.late_duplicates) == (1, 1)
    assert silver.count() == 12
    assert silver.where("event_id = 'r1'").count() == 1 and silver.where("event_id = 'r2000'").count() == 1

    rec = reconcile(spark, cfg, "sensor_readings")
    assert rec.ok, rec.as_dict()
    assert (rec.bronze, rec.silver, rec.duplicates_dropped, rec.quarantined) == (16, 12, 4, 0)
