"""Explicit Spark schemas of the ingestion tables, following message contract v1.

Silver columns carry the contract's fields with their JSON types mapped to Spark types
(string -> string, integer -> long, number -> double, date-time -> timestamp UTC) plus the Kafka
coordinates of the record they came from (lineage, and how replays are recognised).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import (
    BinaryType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from toollife import contracts
from toollife.lakehouse.tables import Table


def _f(name: str, dtype, nullable: bool = True, comment: str | None = None) -> StructField:
    return StructField(name, dtype, nullable, {"comment": comment} if comment else {})


BRONZE = StructType([
    _f("key", BinaryType(), comment="Kafka record key, raw bytes (machine_id by contract)"),
    _f("value", BinaryType(), comment="Kafka record value, raw bytes (UTF-8 JSON by contract)"),
    _f("topic", StringType(), False),
    _f("partition", IntegerType(), False),
    _f("offset", LongType(), False),
    _f("kafka_timestamp", TimestampType(), comment="Kafka record timestamp"),
    _f("kafka_timestamp_type", IntegerType(), comment="0 CreateTime, 1 LogAppendTime"),
    _f("ingest_time", TimestampType(), False, "when the bronze micro-batch ran"),
    _f("ingest_date", DateType(), False, "partition column: date of ingest_time (UTC)"),
])

LINEAGE = [
    _f("kafka_topic", StringType(), False),
    _f("kafka_partition", IntegerType(), False),
    _f("kafka_offset", LongType(), False),
    _f("kafka_timestamp", TimestampType()),
    _f("ingest_time", TimestampType(), False),
]

COMMON = [
    _f("event_id", StringType(), False),
    _f("ts", TimestampType(), False, "event time (UTC)"),
    _f("event_date", DateType(), False, "partition column: date of ts (UTC)"),
    _f("machine_id", StringType(), False),
    _f("tool_id", StringType(), False),
    _f("experiment_id", StringType(), False),
    _f("run_id", LongType(), False),
    _f("replicate", LongType(), False, "1 when the message omitted it (contract default)"),
]

SILVER_SENSOR_READINGS = StructType(COMMON + [
    _f("sensor", StringType(), False),
    _f("value", DoubleType(), False),
    _f("unit", StringType()),
] + LINEAGE)

FACTORS = StructType([
    _f("cutting_speed", DoubleType(), comment="m/min"),
    _f("feed", DoubleType(), comment="mm/rev"),
    _f("depth_of_cut", DoubleType(), comment="mm"),
    _f("coolant", StringType()),
    _f("coating", StringType()),
])

SILVER_TOOL_EVENTS = StructType(COMMON + [
    _f("event", StringType(), False),
    _f("factors", FACTORS, comment="standard factors, typed (run_started)"),
    _f("factors_json", StringType(), comment="the whole factors object as JSON, incl. non-standard factors"),
    _f("tool_life_min", DoubleType()),
    _f("flank_wear_mm", DoubleType()),
] + LINEAGE)

QUARANTINE = StructType([
    _f("source", StringType(), False, "sensor_readings | tool_events"),
    _f("reason_code", StringType(), False, "machine-readable, see docs/ingestion.md"),
    _f("reason", StringType(), False, "human-readable explanation"),
    _f("event_id", StringType(), comment="if one could be read from the payload"),
    _f("kafka_key", StringType()),
    _f("raw_value", StringType(), comment="payload as UTF-8 text (base64 if it was not valid UTF-8)"),
    _f("payload_bytes", IntegerType()),
    _f("kafka_topic", StringType(), False),
    _f("kafka_partition", IntegerType(), False),
    _f("kafka_offset", LongType(), False),
    _f("kafka_timestamp", TimestampType()),
    _f("ingest_time", TimestampType(), False),
    _f("ingest_date", DateType(), False, "partition column"),
])

BATCH_STATS = StructType([
    _f("source", StringType(), False),
    _f("query_id", StringType(), False, "stable id of the silver query (kept in its checkpoint)"),
    _f("batch_id", LongType(), False),
    _f("rows_in", LongType(), False, "bronze rows in this batch"),
    _f("silver_rows", LongType(), False, "rows appended to silver"),
    _f("quarantined", LongType(), False),
    _f("duplicates_dropped", LongType(), False, "valid rows whose event_id was already in silver or earlier in the batch"),
    _f("late_rows", LongType(), False, "unique rows older than the watermark (still accepted)"),
    _f("late_duplicates", LongType(), False, "duplicates older than the watermark (dropped, included in duplicates_dropped)"),
    _f("max_event_ts", TimestampType(), comment="max ts of the valid rows (drives the watermark)"),
    _f("watermark", TimestampType(), comment="watermark in force for this batch"),
    _f("written_at", TimestampType(), False),
])

STREAM_PROGRESS = StructType([
    _f("query_name", StringType()),
    _f("query_id", StringType(), False),
    _f("run_id", StringType(), False),
    _f("batch_id", LongType(), False),
    _f("timestamp", TimestampType(), False, "trigger start"),
    _f("num_input_rows", LongType()),
    _f("input_rows_per_second", DoubleType()),
    _f("processed_rows_per_second", DoubleType()),
    _f("batch_duration_ms", LongType()),
    _f("trigger_execution_ms", LongType()),
    _f("watermark", StringType(), comment="event-time watermark reported by Spark, if any"),
    _f("sources_json", StringType()),
    _f("sink", StringType()),
])


@dataclass(frozen=True)
class Source:
    """One ingested topic: its config key, contract and tables."""

    key: str
    contract: str
    bronze: Table
    silver: Table
    silver_schema: StructType


SOURCES: dict[str, Source] = {
    "sensor_readings": Source(
        "sensor_readings", contracts.SENSOR_READING,
        Table("bronze", "sensor_readings_raw"), Table("silver", "sensor_readings"), SILVER_SENSOR_READINGS,
    ),
    "tool_events": Source(
        "tool_events", contracts.TOOL_EVENT,
        Table("bronze", "tool_events_raw"), Table("silver", "tool_events"), SILVER_TOOL_EVENTS,
    ),
}

QUARANTINE_TABLE = Table("silver", "quarantine")
BATCH_STATS_TABLE = Table("meta", "ingest_batch_stats")
STREAM_PROGRESS_TABLE = Table("meta", "stream_progress")
