"""Table maintenance: OPTIMIZE (compaction, Z-order where the reads filter on machine and tool)
and VACUUM that never removes what a recorded training run still reads.

Layout choices per table (:data:`LAYOUT`; a table not listed is compacted only):

* ``silver.sensor_readings``: Z-order by ``machine_id, tool_id``. The largest table; the
  aggregation, the model features and the dashboard read one machine x tool's readings. It is
  partitioned by ``event_date`` (the ingestion's dedupe lookup prunes by it), and liquid
  clustering cannot be combined with partitioning, so Z-order within each date partition. The
  dedupe lookup also skips files by their ts range, which the streaming appends keep narrow; the
  rewritten files each span the period they compacted, so a batch whose events lie in it reads
  all of them (docs/ingestion.md, issue 13: measured, and left so).
* ``silver.tool_events``: compaction only: two to four events per run, a small table read whole.
* ``bronze.*``: compaction only: read by the silver stream in commit order, never filtered by
  machine; Z-order would only rewrite raw bytes.
* ``gold.*``: compaction only: one row per run / combination, small tables read whole; they are
  MERGE targets, and a rewrite that commits between a MERGE's read and its commit makes the
  MERGE retry (its Airflow task retries), so nothing is rewritten that does not need to be.
* ``meta.*``: compaction only (many one-row appends).

Concurrency: OPTIMIZE commits ``dataChange=false`` rewrites, which do not conflict with the
streaming ingestion's blind appends (bronze sink, silver/quarantine foreachBatch appends);
VACUUM only deletes files that no version younger than the retention references.

VACUUM retention: ``quality.maintenance.vacuum_retention_hours``, raised per table to cover the
oldest Delta version that ``meta.job_runs`` says a training run read (``versions_read`` of
``train_tool_life``: training sets are read ``versionAsOf``) plus ``lineage_margin_hours``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from toollife.lakehouse import tables
from toollife.lakehouse.lineage import JOB_RUNS

log = logging.getLogger("toollife.lakehouse.maintenance")

LAYOUT: dict[str, tuple[tuple[str, ...], str]] = {
    "silver.sensor_readings": (("machine_id", "tool_id"),
                               "largest table, read per machine x tool; partitioned by event_date, so Z-order "
                               "(liquid clustering cannot be combined with partitions)"),
    "silver.tool_events": ((), "small, read whole: compaction only"),
    "bronze.sensor_readings_raw": ((), "read in commit order by the silver stream: compaction only"),
    "bronze.tool_events_raw": ((), "read in commit order by the silver stream: compaction only"),
    "gold.experiment_runs": ((), "small MERGE target read whole: compaction only"),
    "gold.tool_life_predictions": ((), "small MERGE target read whole: compaction only"),
}
TRAINING_JOBS = ("train_tool_life",)


def layout(tbl: tables.Table) -> tuple[tuple[str, ...], str]:
    default = "compaction only (small table, read whole)" if tbl.layer != "meta" else "compaction of one-row appends"
    return LAYOUT.get(tbl.qualified, ((), default))


def targets(config: Mapping[str, Any], names: Iterable[str] = ()) -> list[tables.Table]:
    names = list(names)
    return [tables.table(n) for n in names] if names else tables.existing_tables(config)


def optimize(spark: SparkSession, config: Mapping[str, Any], tbls: Iterable[tables.Table]) -> dict[str, Any]:
    from delta.tables import DeltaTable

    out = {}
    for tbl in tbls:
        zorder, reason = layout(tbl)
        started = time.monotonic()
        builder = DeltaTable.forPath(spark, tbl.path(config)).optimize()
        metrics = (builder.executeZOrderBy(*zorder) if zorder else builder.executeCompaction()).first()["metrics"]
        out[tbl.qualified] = {"zorder_by": list(zorder), "why": reason, "files_added": int(metrics["numFilesAdded"]),
                              "files_removed": int(metrics["numFilesRemoved"]),
                              "seconds": round(time.monotonic() - started, 1)}
        log.info("OPTIMIZE %s%s: %s files -> %s (%s)", tbl.qualified, f" ZORDER BY {', '.join(zorder)}" if zorder else "",
                 metrics["numFilesRemoved"], metrics["numFilesAdded"], reason)
    return out


def lineage_versions(spark: SparkSession, config: Mapping[str, Any]) -> dict[str, int]:
    """{qualified table: oldest Delta version a recorded training run read}."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, JOB_RUNS.path(config)):
        return {}
    oldest: dict[str, int] = {}
    runs = (tables.read(spark, config, JOB_RUNS).where(F.col("job").isin(*TRAINING_JOBS)
                                                       & (F.col("status") == "succeeded"))
            .select("metrics").collect())
    for row in runs:
        for name, version in (json.loads(row.metrics or "{}").get("versions_read") or {}).items():
            oldest[name] = min(int(version), oldest.get(name, int(version)))
    return oldest


def retention_hours(spark: SparkSession, config: Mapping[str, Any], tbl: tables.Table,
                    pinned: Mapping[str, int], now: datetime | None = None) -> tuple[float, str]:
    """The VACUUM retention of one table: conf's, or longer to keep a pinned version readable."""
    from delta.tables import DeltaTable

    conf = config["quality"]["maintenance"]
    hours = float(conf["vacuum_retention_hours"])
    version = pinned.get(tbl.qualified)
    if version is None:
        return hours, "conf"
    history = DeltaTable.forPath(spark, tbl.path(config)).history().where(F.col("version") == version)
    first = history.select(F.col("timestamp").cast("double")).first()
    if first is None:   # the log no longer has it: time travel to it is gone already
        return hours, f"version {version} read by training is no longer in the Delta log"
    now = now or datetime.now(timezone.utc)
    needed = math.ceil((now.timestamp() - float(first[0])) / 3600.0 + float(conf["lineage_margin_hours"]))
    if needed <= hours:
        return hours, f"conf (covers version {version} read by training)"
    return float(needed), f"raised to keep version {version}, read by training, readable"


def vacuum(spark: SparkSession, config: Mapping[str, Any], tbls: Iterable[tables.Table]) -> dict[str, Any]:
    from delta.tables import DeltaTable

    pinned = lineage_versions(spark, config)
    out = {}
    for tbl in tbls:
        hours, why = retention_hours(spark, config, tbl, pinned)
        before = _file_count(spark, config, tbl)
        DeltaTable.forPath(spark, tbl.path(config)).vacuum(hours)
        out[tbl.qualified] = {"retention_hours": hours, "why": why, "files_deleted": before - _file_count(spark, config, tbl)}
        log.info("VACUUM %s RETAIN %s HOURS (%s)", tbl.qualified, hours, why)
    return out


def _file_count(spark: SparkSession, config: Mapping[str, Any], tbl: tables.Table) -> int:
    """Data files on disk (local roots; -1 elsewhere: VACUUM's own log says what it deleted)."""
    from pathlib import Path

    local = tables._local_dir(config, tbl)
    if local is None:
        return -1
    return sum(1 for p in Path(local).rglob("*.parquet") if "_delta_log" not in p.parts)
