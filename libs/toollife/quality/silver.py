"""Silver suites: the valid, unique events (new versions only, through the change data feed).

Per ``silver.sensor_readings`` / ``silver.tool_events``: the schema, non-null keys, the enums of
the contract (sensor, event, coolant, coating), the physical range of every sensor and the
contract's minimums (run_id >= 1, tool life > 0, flank wear >= 0), ``event_id`` unique, the
freshness of ``ingest_time``, and the volume: bronze = silver + quarantine + counted duplicates
(:func:`toollife.ingestion.reconcile.reconcile`, a few Spark aggregates, checked on a one-row
frame). ``silver.quarantine``: schema, non-null reason and coordinates, source and reason known.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from toollife import contracts
from toollife.ingestion import schemas
from toollife.quality import expectations as ex
from toollife.quality.bronze import freshness
from toollife.quality.core import Suite, figures_frame, table_suite

LAYER = "silver"
KEYS = ["event_id", "ts", "event_date", "machine_id", "tool_id", "experiment_id", "run_id", "replicate",
        "kafka_topic", "kafka_partition", "kafka_offset", "ingest_time"]


def _enum(contract: str, *path: str) -> list[str]:
    node = contracts.load_schema(contract)["properties"]
    for p in path[:-1]:
        node = node[p]["properties"]
    return list(node[path[-1]]["enum"])


def range_query() -> str:
    """Readings outside their sensor's physical range (contract x-sensor-units-and-ranges)."""
    ranges = contracts.sensor_ranges()
    cases = " ".join(f"WHEN '{s}' THEN value < {r['min']} OR value > {r['max']}" for s, r in sorted(ranges.items()))
    return (f"SELECT event_id, sensor, value FROM {{batch}} WHERE CASE sensor {cases} ELSE false END "
            f"OR isnan(value) OR run_id < 1 OR replicate < 1")


def sensor_checks() -> list:
    return [
        ex.columns("schema", schemas.SILVER_SENSOR_READINGS),
        ex.not_null("keys_not_null", KEYS + ["sensor", "value"]),
        ex.in_set("sensor_in_contract", "sensor", contracts.sensor_ranges()),
        ex.unexpected_rows("value_in_physical_range", range_query(), description="value within the sensor's range"),
        ex.unique("event_id_unique", "event_id"),
    ]


def event_checks() -> list:
    factor = "SELECT event_id, event, factors FROM {batch} WHERE "
    return [
        ex.columns("schema", schemas.SILVER_TOOL_EVENTS),
        ex.not_null("keys_not_null", KEYS + ["event"]),
        ex.in_set("event_in_contract", "event", _enum(contracts.TOOL_EVENT, "event")),
        ex.unexpected_rows(
            "values_in_contract_range",
            factor + "run_id < 1 OR replicate < 1 OR tool_life_min <= 0 OR flank_wear_mm < 0 "
                     "OR factors.cutting_speed <= 0 OR factors.feed <= 0 OR factors.depth_of_cut <= 0 "
                     f"OR factors.coolant NOT IN ({_sql_list(_enum(contracts.TOOL_EVENT, 'factors', 'coolant'))}) "
                     f"OR factors.coating NOT IN ({_sql_list(_enum(contracts.TOOL_EVENT, 'factors', 'coating'))})",
            description="contract minimums and factor enums"),
        ex.unique("event_id_unique", "event_id"),
    ]


def quarantine_checks(config: Mapping[str, Any]) -> list:
    return [
        ex.columns("schema", schemas.QUARANTINE),
        ex.not_null("keys_not_null", ["source", "reason_code", "reason", "kafka_topic", "kafka_partition",
                                      "kafka_offset", "ingest_time"]),
        ex.in_set("source_known", "source", schemas.SOURCES),
    ]


def _sql_list(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def volume(spark: SparkSession, config: Mapping[str, Any], key: str) -> dict[str, Any]:
    """bronze = silver + quarantine + duplicates dropped, for one source, from counts alone (a
    Delta ``count(*)`` is answered from the log's statistics): cheap enough for every run. Exact
    after an availableNow ingest (the DAG validates after it); while a processing-time service
    runs, silver may lag bronze by a micro-batch."""
    from toollife.lakehouse import tables

    src = schemas.SOURCES[key]
    n_bronze = tables.read(spark, config, src.bronze).count()
    n_silver = tables.read(spark, config, src.silver).count()
    n_quarantined = tables.read(spark, config, schemas.QUARANTINE_TABLE).where(F.col("source") == key).count()
    dups = (tables.read(spark, config, schemas.BATCH_STATS_TABLE).where(F.col("source") == key)
            .agg(F.coalesce(F.sum("duplicates_dropped"), F.lit(0))).first()[0])
    return {"bronze": n_bronze, "silver": n_silver, "quarantined": n_quarantined, "duplicates_dropped": int(dups),
            "unaccounted": n_bronze - n_silver - n_quarantined - int(dups)}


def suites(spark: SparkSession, config: Mapping[str, Any], *, done: Mapping[str, int], as_of: datetime,
           skipped: dict[str, str], only: set[str] | None = None) -> list[Suite]:
    out = []
    for key in config["ingestion"]["sources"]:
        src = schemas.SOURCES[key]
        if only is not None and src.silver.qualified not in only:
            continue
        checks = sensor_checks() if key == "sensor_readings" else event_checks()
        suite = table_suite(spark, config, src.silver, checks, done, skipped)
        if suite is None:
            continue
        fresh = freshness(spark, config, src.silver, suite.to_version, as_of, "ingest_time")
        fresh.checks.append(ex.between("volume_reconciles", "unaccounted", 0, 0))
        fresh.frame = fresh.frame.crossJoin(figures_frame(spark, [volume(spark, config, key)]))
        out += [suite, fresh]
    if only is None or schemas.QUARANTINE_TABLE.qualified in only:
        suite = table_suite(spark, config, schemas.QUARANTINE_TABLE, quarantine_checks(config), done, skipped)
        if suite is not None:
            out.append(suite)
    return out
