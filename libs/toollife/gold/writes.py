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

    # mergeSchema: new columns (an imported experiment's factors, fit/note) reach a table written before them
    (df.write.format("delta").mode("overwrite").option("replaceWhere", experiments_in(experiments))
     .option("mergeSchema", "true").save(tbl.path(config)))
    tables.register(df.sparkSession, config, tbl)


def merge_experiments(spark, config: Mapping[str, Any], tbl: Table, schema, df, key: Sequence[str],
                      experiments: Sequence[str]) -> dict[str, int]:
    """MERGE on ``key`` (null-safe): changed rows (row_hash) updated, new inserted, rows of
    ``experiments`` no longer in ``df`` deleted; unchanged rows -- and their timestamps -- stay as
    they were (:func:`toollife.lakehouse.tables.merge_changed`)."""
    from toollife.lakehouse import tables

    target = tables.create_if_missing(spark, config, tbl, schema, partition_by=["experiment_id"],
                                      comment=tbl.qualified)
    add_missing_columns(spark, tbl, target, schema)
    counts = tables.merge_changed(spark, config, tbl, target, df, key,
                                  delete_missing="t." + experiments_in(experiments))
    return {k: counts[k] for k in ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted")}


def add_missing_columns(spark, tbl: Table, target, schema) -> list[str]:
    """ALTER TABLE ADD COLUMNS for the fields of ``schema`` the table lacks (an imported
    experiment's factors reach a table created for the simulated ones); returns their names."""
    have = {f.name.lower() for f in target.toDF().schema.fields}
    new = [f for f in schema.fields if f.name.lower() not in have]
    if new:
        cols = ", ".join(f"`{f.name.replace('`', '``')}` {f.dataType.simpleString()}" for f in new)
        spark.sql(f"ALTER TABLE {tbl.qualified} ADD COLUMNS ({cols})")
    return [f.name for f in new]
