"""The silver dedupe's lookup bounds and classification on small hand-checked rows."""

from __future__ import annotations

import copy
from datetime import date, datetime, timezone

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from toollife.config import ConfigError
from toollife.ingestion import schemas
from toollife.ingestion.silver import (SilverBatchWriter, classify, event_time_spans, lookup_bounds, lookup_filter,
                                       lookup_ranges)

DAY = date(2026, 11, 21)
INGEST = datetime(2026, 11, 21, 9, 0, 0)


def micros(hh, mm, ss=0, us=0):
    return int(datetime(2026, 11, 21, hh, mm, ss, tzinfo=timezone.utc).timestamp()) * 1_000_000 + us


def row(eid, ts_micros, offset):
    ts = datetime.fromtimestamp(ts_micros / 1e6, timezone.utc).replace(tzinfo=None)
    return (eid, ts, ts.date(), "M01", "T01", "x", 1, 1, "temperature", 1.0, None, "t", 0, offset, INGEST, INGEST)


def frame(spark, rows):
    return spark.createDataFrame(rows, schemas.SILVER_SENSOR_READINGS)


def test_event_time_spans_one_row_per_date_and_minute(spark):
    batch = frame(spark, [row("a", micros(8, 0, 5), 1), row("b", micros(8, 0, 59, 999_999), 2),
                          row("c", micros(8, 1, 0), 3), row("d", micros(23, 59, 30), 4)])
    expected = spark.createDataFrame(
        [(DAY, micros(8, 0, 5), micros(8, 0, 59, 999_999)), (DAY, micros(8, 1), micros(8, 1)),
         (DAY, micros(23, 59, 30), micros(23, 59, 30))],
        T.StructType([T.StructField("event_date", T.DateType(), False), T.StructField("lo", T.LongType()),
                      T.StructField("hi", T.LongType())]))
    assert_df_equality(event_time_spans(batch, 60), expected,
                       ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    # the writer's bounds: minutes 08:00 and 08:01 join, 23:59 stays apart
    assert lookup_bounds(batch, "event_time") == (
        [DAY], [(micros(8, 0, 5), micros(8, 1)), (micros(23, 59, 30), micros(23, 59, 30))])
    assert lookup_bounds(batch, "event_date") == ([DAY], None)


def test_lookup_ranges_join_near_spans_and_keep_the_widest_gaps():
    spans = [(100, 110), (0, 10), (20, 30), (1000, 1001), (5000, 5000)]
    assert lookup_ranges(spans, join_gap=15, max_ranges=16) == [(0, 30), (100, 110), (1000, 1001), (5000, 5000)]
    # too many: the narrowest gaps (30->100, then 110->1000) are closed first
    assert lookup_ranges(spans, join_gap=15, max_ranges=2) == [(0, 1001), (5000, 5000)]
    assert lookup_ranges(spans, join_gap=15, max_ranges=1) == [(0, 5000)]
    assert lookup_ranges([], join_gap=15, max_ranges=4) == []


def test_classify_looks_up_only_the_batch_ranges(spark):
    t8, t12 = micros(8, 0), micros(12, 0)
    # silver: "a" committed by this batch before (own), "b" the original of a re-send (same ts),
    # "d" an event_id the batch reuses with another ts, outside the batch's ranges
    silver = frame(spark, [row("a", t8, 1), row("b", t8 + 1, 2), row("d", t12, 3)])
    batch = frame(spark, [row("a", t8, 1), row("a", t8, 7), row("b", t8 + 1, 8), row("c", t8 + 2, 9),
                          row("c", t8 + 2, 10), row("d", t8 + 3, 11)])
    ranges = lookup_ranges([(t8, t8 + 3)], join_gap=60_000_000, max_ranges=16)
    got = classify(batch, silver, [DAY], ranges).select("event_id", "kafka_offset", "_class")
    expected = spark.createDataFrame(
        [("a", 1, "own"), ("a", 7, "duplicate"), ("b", 8, "duplicate"), ("c", 9, "new"), ("c", 10, "duplicate"),
         ("d", 11, "new")], "event_id string, kafka_offset long, _class string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    # the whole date (dedupe_lookup: event_date) also finds the reused "d"
    by_date = {r.kafka_offset: r._class for r in classify(batch, silver, [DAY]).collect()}
    assert by_date[11] == "duplicate" and by_date[9] == "new" and by_date[1] == "own"


def test_lookup_filter_skips_silver_files_outside_the_ranges(spark, tmp_path):
    path = str(tmp_path / "silver")
    # three appends = three files, each a stretch of time like a streaming batch's
    for hh in (6, 8, 10):
        frame(spark, [row(f"e{hh}-{i}", micros(hh, i), i) for i in range(3)]).coalesce(1) \
            .write.format("delta").mode("append").partitionBy("event_date").save(path)
    silver = spark.read.format("delta").load(path)
    assert len(silver.where(lookup_filter([DAY], None)).inputFiles()) == 3
    # the batch's events at 08:00-08:02 and 10:01 (its re-sends keep their ts): two files
    lookup = silver.where(lookup_filter([DAY], [(micros(8, 0), micros(8, 2)), (micros(10, 1), micros(10, 1))]))
    assert len(lookup.inputFiles()) == 2
    assert sorted(r.event_id for r in lookup.collect()) == ["e10-1", "e8-0", "e8-1", "e8-2"]
    # a ts between two files' ranges: none; another date: none
    assert silver.where(lookup_filter([DAY], [(micros(7, 0), micros(7, 30))])).inputFiles() == []
    assert silver.where(lookup_filter([date(2026, 11, 22)], [(micros(8, 0), micros(8, 2))])).inputFiles() == []
    # the max stat is truncated to ms in Delta's stats: a file whose last ts has microseconds is still found
    frame(spark, [row("u", micros(12, 0, 0, 999), 9)]).coalesce(1) \
        .write.format("delta").mode("append").partitionBy("event_date").save(path)
    hit = spark.read.format("delta").load(path).where(
        lookup_filter([DAY], [(micros(12, 0, 0, 999), micros(12, 0, 0, 999))]))
    assert [r.event_id for r in hit.collect()] == ["u"]


def test_dedupe_lookup_conf_is_checked(base_config):
    cfg = copy.deepcopy(base_config)
    cfg["ingestion"]["silver"]["dedupe_lookup"] = "event_id"
    with pytest.raises(ConfigError, match="dedupe_lookup"):
        SilverBatchWriter(cfg, schemas.SOURCES["sensor_readings"])


def bronze(offset: int, reading: int, *, value: str | None = None) -> tuple:
    """One bronze row carrying contract-v1 reading ``reading`` at Kafka offset ``offset``."""
    import json

    msg = {"event_id": f"r{reading}", "ts": f"2026-11-21T08:00:{reading:02d}.000Z", "machine_id": "M01",
           "tool_id": "T01", "experiment_id": "exp-1", "run_id": 1, "replicate": 1,
           "sensor": "spindle_power", "value": 10.5, "unit": "kW"}
    return (b"M01", (value or json.dumps(msg)).encode(), "readings", 0, offset, INGEST, 0, INGEST, INGEST.date())


def test_a_batch_rerun_after_a_restart_writes_nothing_twice(spark, lakehouse_config):
    """Silver and the stats row carry no Delta app id: a re-run finds its silver rows as its own, and
    its stats row by (query id, batch id); quarantine still skips by app id."""
    from toollife.lakehouse import tables
    from toollife.ingestion.silver import ensure_tables

    cfg, src = lakehouse_config, schemas.SOURCES["sensor_readings"]
    ensure_tables(spark, cfg, src)
    # readings 0-3, reading 0 re-sent (a duplicate), one record that is not JSON
    batch = spark.createDataFrame([bronze(o, o) for o in range(4)] + [bronze(4, 0), bronze(5, 9, value="{")],
                                  schemas.BRONZE)

    def run(writer, batch_id, rows):
        writer(rows, batch_id)
        return {k: v for k, v in writer.last_stats.items() if k != "written_at"}

    def started():   # the application makes a new writer for every start of the query
        writer = SilverBatchWriter(cfg, src)
        writer.set_query_id("q-1")
        return writer

    first = run(started(), 0, batch)
    assert (first["rows_in"], first["silver_rows"], first["quarantined"], first["duplicates_dropped"]) == (6, 4, 1, 1)
    restarted = started()
    assert run(restarted, 0, batch) == first      # the crash came after every write of batch 0
    later = spark.createDataFrame([bronze(6, 5), bronze(7, 1)], schemas.BRONZE)
    assert run(restarted, 1, later)["silver_rows"] == 1  # the next batch: reading 1 is a duplicate

    silver = tables.read(spark, cfg, src.silver)
    assert sorted(r.event_id for r in silver.collect()) == ["r0", "r1", "r2", "r3", "r5"]
    assert silver.where("event_id = 'r0'").first().kafka_offset == 0
    stats = tables.read(spark, cfg, schemas.BATCH_STATS_TABLE)
    assert sorted(r.batch_id for r in stats.collect()) == [0, 1]
    assert tables.read(spark, cfg, schemas.QUARANTINE_TABLE).count() == 1


def test_short_span_bounds_one_range_over_the_dates_or_none():
    from datetime import timedelta

    from toollife.ingestion.silver import short_span_bounds

    lo = micros(23, 59, 50)
    assert short_span_bounds(DAY, DAY + timedelta(days=1), lo, lo + 20_000_000) == (
        [DAY, DAY + timedelta(days=1)], [(lo, lo + 20_000_000)])
    assert short_span_bounds(DAY, DAY, lo, lo + 960_000_000) is not None     # 16 minutes: one range
    assert short_span_bounds(DAY, DAY, lo, lo + 960_000_001) is None         # longer: the minute buckets
    assert short_span_bounds(None, None, None, None) is None
