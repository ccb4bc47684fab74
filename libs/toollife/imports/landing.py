"""Landing an import with Spark: three row_hash MERGEs, each scoped to the experiment + file.

* ``silver.wear_measurements``: one row per measured wear reading (wear logs), key experiment,
  file, line, wear column;
* ``silver.import_quarantine``: one row per rejected input row with its reason and the raw row
  as JSON (:mod:`toollife.imports.rules`), key experiment, file, line, reason;
* ``gold.experiment_runs``: one row per imported run beside the simulated ones (interface of
  issue 30): ``source`` = the file as the user named it, ``tool_life`` / ``censored_life`` /
  ``life_unit``, each factor as a natural-level column named as the user named it and its
  ``coded_<name>``; new factor columns reach the table by Delta schema evolution.

Re-importing the same file changes nothing (no row's hash changes); a corrected file updates the
rows that changed and deletes the rows of that experiment + file that are gone.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType

from toollife.errors import UsageError
from toollife.gold import experiment_runs as er
from toollife.imports.rules import Parsed
from toollife.imports.spec import ImportSpec
from toollife.lakehouse import tables
from toollife.lakehouse.tables import Table

WEAR_MEASUREMENTS = Table("silver", "wear_measurements")
IMPORT_QUARANTINE = Table("silver", "import_quarantine")
WEAR_KEY = ["experiment_id", "source_file", "source_line", "wear_column"]
QUARANTINE_KEY = ["experiment_id", "source_file", "source_line", "reason"]
IMPORT_JOB = "jobs/import_measurements.py"


def _f(name, dtype, nullable=True, comment=None):
    return StructField(name, dtype, nullable, {"comment": comment} if comment else {})


_STAMP = [_f("row_hash", StringType(), False, "sha256 of the content columns: MERGE updates only on change"),
          _f("updated_at", TimestampType(), False, "when the row was inserted or last changed")]
WEAR_SCHEMA = StructType([
    _f("experiment_id", StringType(), False), _f("machine_id", StringType(), False),
    _f("tool_id", StringType(), False), _f("run_id", LongType(), False),
    _f("time", DoubleType(), False, "cumulative time / count at the reading, in time_unit"),
    _f("time_unit", StringType(), False, "min | cuts | parts"),
    _f("wear_mm", DoubleType(), False, "flank wear, mm (max over the wear columns unless per flute)"),
    _f("wear_column", StringType(), False, "the input column(s) the wear came from"),
    _f("source_file", StringType(), False, "the input file as the user named it"),
    _f("source_line", LongType(), False, "line in the file (Excel: sheet row; Parquet: row number)"),
    *_STAMP])
QUARANTINE_SCHEMA = StructType([
    _f("experiment_id", StringType(), False), _f("source_file", StringType(), False),
    _f("source_line", LongType(), False), _f("reason", StringType(), False, "see toollife.imports.rules"),
    _f("detail", StringType(), comment="which value, and why"), _f("raw_json", StringType(), comment="the row as read"),
    *_STAMP])


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _scope(spec: ImportSpec, file_col: str) -> str:
    return f"t.experiment_id = {_lit(spec.experiment_id)} AND t.{file_col} = {_lit(spec.source or spec.file)}"


def _stamped(df: DataFrame) -> DataFrame:
    content = [c for c in df.columns]
    return df.withColumn("row_hash", F.sha2(F.to_json(F.struct(*content)), 256)).withColumn(
        "updated_at", F.current_timestamp())


def _frame(spark: SparkSession, pdf: pd.DataFrame, schema: StructType) -> DataFrame:
    fields = [f for f in schema.fields if f.name not in ("row_hash", "updated_at")]
    content = StructType([StructField(f.name, f.dataType, True, f.metadata) for f in fields])
    rows = [] if pdf.empty else [tuple(None if (v is None or (isinstance(v, float) and v != v)) else v
                                       for v in rec) for rec in pdf[[f.name for f in fields]].itertuples(index=False)]
    return _stamped(spark.createDataFrame(rows, content))


def gold_schema(config: Mapping[str, Any], factor_types: Mapping[str, str],
                existing: StructType | None = None) -> StructType:
    """gold.experiment_runs' schema plus the imported factors' columns it does not have yet."""
    base = er.experiment_runs_schema(config)
    have = {f.name.lower(): f for f in [*base.fields, *(existing.fields if existing else [])]}
    extra = []
    for name, kind in factor_types.items():
        dtype = DoubleType() if kind == "double" else StringType()
        known = have.get(name.lower())
        if known is not None and known.name != name:
            raise UsageError(f"--factors: '{name}' clashes with the column '{known.name}' of gold.experiment_runs "
                             f"(names are case-insensitive); rename it, e.g. --factors COL={known.name}")
        if known is not None and known.dataType != dtype and known.dataType != StringType():
            raise UsageError(f"--factors: {name} has levels that are not numbers, but gold.experiment_runs.{name} "
                             f"holds numbers; rename it, e.g. --factors COL={name}_level")
        in_base = {f.name.lower() for f in base.fields}
        if name.lower() not in in_base:   # always listed: the row hash must not depend on the table
            extra.append(_f(name, known.dataType if known is not None else dtype, comment="imported factor, natural level"))
        if f"coded_{name}".lower() not in in_base:
            extra.append(_f(f"coded_{name}", DoubleType(), comment="imported factor, coded -1/+1"))
    return StructType([*base.fields, *extra])


def gold_rows(spark: SparkSession, config: Mapping[str, Any], parsed: Parsed,
              existing: StructType | None = None) -> DataFrame:
    """The imported runs shaped like gold.experiment_runs (plus their factor columns)."""
    schema = gold_schema(config, parsed.factor_types, existing)
    types = {f.name.lower(): f.dataType for f in [*schema.fields, *(existing.fields if existing else [])]}
    names = list(parsed.factor_types)
    records = []
    for run in parsed.runs.to_dict("records"):
        minutes = run["life_unit"] == "min"
        life = run["tool_life"] if run["tool_life"] == run["tool_life"] else None
        censored = run["censored_life"] if run["censored_life"] == run["censored_life"] else None
        wear = run["flank_wear_mm"] if run["flank_wear_mm"] == run["flank_wear_mm"] else None
        cut = (life if life is not None else censored) if minutes else None
        rec = {k: run[k] for k in er.RUN_KEY}
        rec.update(status=run["status"], started_at=None, ended_at=None,
                   factors_json=json.dumps(run["levels"], sort_keys=True, separators=(",", ":")),
                   design_factors=list(run["design_factors"]), tool_life_min=life if minutes else None,
                   cutting_time_min=cut, flank_wear_mm=wear,
                   wear_rate_mm_per_min=wear / cut if (wear is not None and cut) else None,
                   n_readings=int(run["n_readings"]), tool_life=life, censored_life=censored,
                   life_unit=run["life_unit"], source=run["source"])
        for n in names:
            value = run["levels"][n]
            rec[n] = str(value) if types[n.lower()] == StringType() and value is not None else value
            rec[f"coded_{n}"] = run["coded"][n]
        records.append(rec)
    content = StructType([StructField(f.name, f.dataType, True) for f in schema.fields
                          if f.name not in ("row_hash", "updated_at")])
    df = spark.createDataFrame([tuple(r.get(c) for c in content.fieldNames()) for r in records], content)
    return _stamped(df)


def _ensure(spark, config, tbl: Table, schema: StructType, comment: str):
    return tables.create_if_missing(spark, config, tbl, schema, partition_by=["experiment_id"], comment=comment)


def _scopes(specs: list[ImportSpec], file_col: str) -> str:
    return " OR ".join(f"({_scope(spec, file_col)})" for spec in specs)


def _merge(spark, config, tbl: Table, schema: StructType, comment: str, pdf: pd.DataFrame, key: list[str],
           specs: list[ImportSpec]) -> dict[str, int]:
    """One MERGE; skipped (nothing to insert, nothing of these files to delete) when it would be a no-op."""
    scope = _scopes(specs, "source_file")
    if pdf.empty:
        from delta.tables import DeltaTable

        if not DeltaTable.isDeltaTable(spark, tbl.path(config)) or not tables.read(spark, config, tbl).alias("t").where(scope).limit(1).count():
            return {"numSourceRows": 0, "numTargetRowsInserted": 0, "numTargetRowsUpdated": 0, "numTargetRowsDeleted": 0}
    target = _ensure(spark, config, tbl, schema, comment)
    return tables.merge_changed(spark, config, tbl, target, _frame(spark, pdf, schema), key, delete_missing=scope)


def land(spark: SparkSession, config: Mapping[str, Any], imports: list[tuple[ImportSpec, Parsed]]) -> dict[str, Any]:
    """MERGE the readings, the quarantine and the runs of every (spec, parsed) -- one MERGE per
    table for all of them; returns each MERGE's counts."""
    specs = [spec for spec, _ in imports]
    runs_table = er.ensure_table(spark, config)
    current = runs_table.toDF()
    ids = sorted({spec.experiment_id for spec in specs})
    if "source" in current.columns:
        clash = [r[0] for r in current.where(F.col("experiment_id").isin(*ids)
                                              & (F.coalesce("source", F.lit(er.SIMULATION)) == er.SIMULATION))
                 .select("experiment_id").distinct().collect()]
        if clash:
            raise UsageError(f"--experiment-id {clash[0]}: that is a simulated experiment in "
                             "gold.experiment_runs; import under another id")
    out: dict[str, Any] = {}
    out["wear_measurements"] = _merge(spark, config, WEAR_MEASUREMENTS, WEAR_SCHEMA, "imported flank-wear readings, mm",
                                      pd.concat([p.readings for _, p in imports]), WEAR_KEY, specs)
    out["import_quarantine"] = _merge(spark, config, IMPORT_QUARANTINE, QUARANTINE_SCHEMA,
                                      "rejected rows of imported files: reason, file, line, raw row",
                                      pd.concat([p.quarantine for _, p in imports]), QUARANTINE_KEY, specs)
    gold = spark.createDataFrame([], er.experiment_runs_schema(config))
    for _, parsed in imports:
        if not parsed.runs.empty:
            gold = gold.unionByName(gold_rows(spark, config, parsed, current.schema), allowMissingColumns=True)
    out["experiment_runs"] = tables.merge_changed(spark, config, er.EXPERIMENT_RUNS, runs_table, gold, er.RUN_KEY,
                                                  delete_missing=_scopes(specs, "source"), evolve=True)
    return out


def summary(spec: ImportSpec, parsed: Parsed) -> dict[str, Any]:
    status = parsed.runs["status"].value_counts().to_dict() if not parsed.runs.empty else {}
    reasons = parsed.quarantine["reason"].value_counts().sort_index().to_dict()
    return {"experiment_id": spec.experiment_id, "source": spec.source or spec.file, "kind": spec.kind,
            "runs": int(len(parsed.runs)), "readings": int(len(parsed.readings)),
            "quarantined": int(len(parsed.quarantine)), "quarantined_by_reason": reasons,
            "completed": int(status.get("completed", 0)), "censored": int(status.get("censored", 0)),
            "no_life": int(status.get("no_life", 0)), "not_measured": int(parsed.not_measured)}
