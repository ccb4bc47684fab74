"""Kafka -> bronze: the raw records, append-only, partitioned by ingest date, exactly once.

The built-in Delta streaming sink is used: it commits each micro-batch with a ``SetTransaction``
keyed by the query id and batch id, so a batch re-run after a crash is skipped, never duplicated
(the same mechanism foreachBatch writers get from ``txnAppId``/``txnVersion``).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter

from toollife.lakehouse import tables
from toollife.ingestion import kafka_options, schemas

log = logging.getLogger(__name__)


def to_bronze(kafka_df: DataFrame) -> DataFrame:
    """Kafka source rows -> bronze rows (pure; the ingest time is the micro-batch's time)."""
    return kafka_df.select(
        "key", "value", "topic", "partition", "offset",
        F.col("timestamp").alias("kafka_timestamp"),
        F.col("timestampType").alias("kafka_timestamp_type"),
        F.current_timestamp().alias("ingest_time"),
    ).withColumn("ingest_date", F.to_date("ingest_time"))


def ensure_table(spark: SparkSession, config: Mapping[str, Any], source: schemas.Source) -> None:
    tables.create_if_missing(
        spark, config, source.bronze, schemas.BRONZE, partition_by=["ingest_date"],
        properties=config["ingestion"]["table_properties"]["bronze"],
        comment=f"raw Kafka records of topic {config['kafka']['topics'][source.key]}, append-only",
    )


def read_kafka(spark: SparkSession, config: Mapping[str, Any], source: schemas.Source, **option_kw) -> DataFrame:
    topic = config["kafka"]["topics"][source.key]
    opts = kafka_options.source_options(config, topic, **option_kw)
    log.info("Kafka source for %s: %s", source.key, opts)  # redacted repr
    return spark.readStream.format("kafka").options(**opts).load()


def writer(spark: SparkSession, config: Mapping[str, Any], source: schemas.Source) -> DataStreamWriter:
    """The bronze stream writer (trigger and start are the caller's)."""
    return (
        to_bronze(read_kafka(spark, config, source))
        .writeStream.format("delta")
        .outputMode("append")
        .queryName(f"bronze_{source.key}")
        .option("checkpointLocation", source.bronze.checkpoint(config))
    )
