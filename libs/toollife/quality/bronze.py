"""Bronze suites: the raw Kafka records of each ingested topic (append-only, new versions only).

Per ``bronze.<source>_raw``: the schema, non-null Kafka coordinates and ingest time, the topic
is the configured one; and freshness: the newest ``ingest_time`` (when the micro-batch ran, not
the simulated event time) is at most ``quality.freshness_max_age_min`` old at the reference
time (the DAG's data-interval end, else now).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from toollife.lakehouse import tables
from toollife.ingestion import schemas
from toollife.quality import expectations as ex
from toollife.quality.core import FIGURES_SUFFIX, Suite, figures_frame, table_suite

LAYER = "bronze"
KEYS = ["topic", "partition", "offset", "ingest_time", "ingest_date"]


def freshness_suite(spark: SparkSession, config: Mapping[str, Any], tbl: tables.Table, end: int,
                    as_of: datetime) -> Suite:
    """One-row frame: age in minutes of the newest ingest_time (a Delta metadata-only max)."""
    return freshness(spark, config, tbl, end, as_of, "ingest_time")


def freshness(spark: SparkSession, config: Mapping[str, Any], tbl: tables.Table, end: int, as_of: datetime,
              column: str) -> Suite:
    newest = tables.read(spark, config, tbl, end).agg(F.max(column).cast("double")).first()[0]   # epoch seconds
    age = None if newest is None else (as_of.timestamp() - float(newest)) / 60.0
    frame = figures_frame(spark, [{"table": tbl.qualified, f"newest_{column}_epoch_s": newest,
                                   "age_min": age}])
    bound = float(config["quality"]["freshness_max_age_min"])
    check = ex.between("fresh_ingest", "age_min", max_value=bound, severity="warning")
    return Suite(tbl, [check], frame, "figures", end, end, FIGURES_SUFFIX)


def suites(spark: SparkSession, config: Mapping[str, Any], *, done: Mapping[str, int], as_of: datetime,
           skipped: dict[str, str], only: set[str] | None = None) -> list[Suite]:
    out = []
    for key in config["ingestion"]["sources"]:
        src = schemas.SOURCES[key]
        if only is not None and src.bronze.qualified not in only:
            continue
        checks = [
            ex.columns("schema", schemas.BRONZE),
            ex.not_null("keys_not_null", KEYS),
            ex.in_set("topic_configured", "topic", [config["kafka"]["topics"][key]]),
        ]
        suite = table_suite(spark, config, src.bronze, checks, done, skipped)
        if suite is not None:
            out += [suite, freshness_suite(spark, config, src.bronze, suite.to_version, as_of)]
    return out
