"""Silver-shaped DataFrames straight from the simulator, without Kafka.

Used by tests, benchmarks and demos of the gold jobs: the simulator's contract-v1 messages are
wrapped as bronze-like rows (key, value, topic, partition, offset, timestamps) and run through
the ingestion's own parse/validate transform (:mod:`toollife.ingestion.validate`), so the rows
are exactly what the streaming ingestion would land in ``silver.*``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import BinaryType, IntegerType, LongType, StringType, StructField, StructType, TimestampType

_BRONZE_LIKE = StructType([
    StructField("key", BinaryType()), StructField("value", BinaryType()),
    StructField("topic", StringType(), False), StructField("partition", IntegerType(), False),
    StructField("offset", LongType(), False), StructField("kafka_timestamp", TimestampType()),
    StructField("kafka_timestamp_type", IntegerType()), StructField("ingest_time", TimestampType(), False),
])


def bronze_like(spark: SparkSession, pairs, topic: str, *, ingest_time: datetime | None = None) -> DataFrame:
    """(key, value) byte pairs -> rows shaped like bronze (one partition, offsets 0..n-1)."""
    ingest_time = ingest_time or datetime(2100, 1, 1, tzinfo=timezone.utc)   # never "in the future"
    ts = pd.Timestamp(ingest_time).tz_convert("UTC").tz_localize(None)
    pdf = pd.DataFrame({
        "key": [k for k, _ in pairs], "value": [v for _, v in pairs],
        "topic": topic, "partition": 0, "offset": range(len(pairs)),
        "kafka_timestamp": ts, "kafka_timestamp_type": 0, "ingest_time": ts,
    })
    pdf = pdf.astype({"partition": "int32", "offset": "int64", "kafka_timestamp_type": "int32"})
    return spark.createDataFrame(pdf, _BRONZE_LIKE)


def silver_frames(spark: SparkSession, result: Any, *, rules: Mapping[str, Any] | None = None) -> dict[str, DataFrame]:
    """{'tool_events': df, 'sensor_readings': df} silver rows from a ``SimulationResult``."""
    from toollife.ingestion import validate

    out = {}
    for source, pairs in (("tool_events", result.tool_events), ("sensor_readings", result.sensor_readings)):
        bronze = bronze_like(spark, pairs, source)
        out[source] = validate.to_silver(validate.validate(source, bronze), source)
    return out
