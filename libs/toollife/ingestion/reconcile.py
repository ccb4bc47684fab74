"""Nothing lost: every bronze record is in exactly one of silver, the duplicate counters, quarantine."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from toollife.lakehouse import tables
from toollife.ingestion import schemas

COORDS = ["kafka_topic", "kafka_partition", "kafka_offset"]


@dataclass(frozen=True)
class Reconciliation:
    source: str
    bronze: int
    silver: int
    quarantined: int
    duplicates_dropped: int
    unaccounted: int  # bronze - silver - quarantined - duplicates_dropped (> 0 while silver lags)
    bronze_duplicate_offsets: int  # a Kafka offset stored twice in bronze
    silver_duplicate_event_ids: int
    silver_not_in_bronze: int
    quarantine_not_in_bronze: int
    in_silver_and_quarantine: int

    @property
    def ok(self) -> bool:
        return not any((self.unaccounted, self.bronze_duplicate_offsets, self.silver_duplicate_event_ids,
                        self.silver_not_in_bronze, self.quarantine_not_in_bronze, self.in_silver_and_quarantine))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def reconcile(spark: SparkSession, config: Mapping[str, Any], source_key: str) -> Reconciliation:
    """Check the three-way accounting of one source over the tables as they are now."""
    src = schemas.SOURCES[source_key]
    bronze = (tables.read(spark, config, src.bronze)
              .select(F.col("topic").alias("kafka_topic"), F.col("partition").alias("kafka_partition"),
                      F.col("offset").alias("kafka_offset")).cache())
    silver = tables.read(spark, config, src.silver).select("event_id", *COORDS).cache()
    quarantine = (tables.read(spark, config, schemas.QUARANTINE_TABLE)
                  .where(F.col("source") == source_key).select(*COORDS).cache())
    try:
        stats = tables.read(spark, config, schemas.BATCH_STATS_TABLE).where(F.col("source") == source_key)
        n_bronze, n_silver, n_quarantine = bronze.count(), silver.count(), quarantine.count()
        dups = stats.agg(F.coalesce(F.sum("duplicates_dropped"), F.lit(0))).first()[0]
        return Reconciliation(
            source=source_key,
            bronze=n_bronze,
            silver=n_silver,
            quarantined=n_quarantine,
            duplicates_dropped=int(dups),
            unaccounted=n_bronze - n_silver - n_quarantine - int(dups),
            bronze_duplicate_offsets=n_bronze - bronze.distinct().count(),
            silver_duplicate_event_ids=n_silver - silver.select("event_id").distinct().count(),
            silver_not_in_bronze=silver.select(*COORDS).join(bronze, COORDS, "left_anti").count(),
            quarantine_not_in_bronze=quarantine.join(bronze, COORDS, "left_anti").count(),
            in_silver_and_quarantine=silver.select(*COORDS).join(quarantine, COORDS, "left_semi").count(),
        )
    finally:
        for df in (bronze, silver, quarantine):
            df.unpersist()
