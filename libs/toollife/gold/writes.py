"""Writing the gold DOE tables per experiment: each run of a job owns the rows of the experiments
it analysed, whole, so a rerun on the same input leaves the same rows."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from toollife.lakehouse.tables import Table


def experiments_in(experiments: Sequence[str]) -> str:
    """SQL predicate ``experiment_id IN ('A', 'B')``, the ids quoted as SQL string literals."""
    quoted = ", ".join("'" + e.replace("\\", "\\\\").replace("'", "\\'") + "'" for e in experiments)
    return f"experiment_id IN ({quoted})"


def replace_experiments(df, config: Mapping[str, Any], tbl: Table, experiments: Sequence[str]) -> None:
    """Overwrite exactly the rows of ``experiments`` (Delta replaceWhere): reruns replace, never add."""
    from toollife.lakehouse import tables

    (df.write.format("delta").mode("overwrite").option("replaceWhere", experiments_in(experiments))
     .save(tbl.path(config)))
    tables.register(df.sparkSession, config, tbl)


def merge_experiments(spark, config: Mapping[str, Any], tbl: Table, schema, df, key: Sequence[str],
                      experiments: Sequence[str]) -> dict[str, int]:
    """MERGE on ``key`` (null-safe): changed rows (row_hash) updated, new inserted, rows of
    ``experiments`` no longer in ``df`` deleted; unchanged rows -- and their timestamps -- stay as
    they were. :func:`toollife.lakehouse.tables.merge_changed` plus the delete of what is gone."""
    from toollife.lakehouse import tables

    target = tables.create_if_missing(spark, config, tbl, schema, partition_by=["experiment_id"],
                                      comment=tbl.qualified)
    cond = " AND ".join(f"t.{k} <=> s.{k}" for k in key)
    (target.alias("t").merge(df.alias("s"), cond)
     .whenMatchedUpdateAll(condition="t.row_hash <> s.row_hash")
     .whenNotMatchedInsertAll()
     .whenNotMatchedBySourceDelete(condition="t." + experiments_in(experiments))
     .execute())
    tables.register(spark, config, tbl)
    m = target.history(1).select("operationMetrics").collect()[0][0] or {}
    return {k: int(m.get(k, 0)) for k in ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted")}
