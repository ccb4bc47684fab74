"""meta.job_runs: one row per job run (who, when, with what arguments, outcome, metrics)."""

from __future__ import annotations

from typing import Any, Mapping

from pyspark.sql import SparkSession
from pyspark.sql.types import DoubleType, StringType, StructField, StructType, TimestampType

from toollife.lakehouse import tables

JOB_RUNS = tables.Table("meta", "job_runs")

JOB_RUNS_SCHEMA = StructType([
    StructField("run_id", StringType(), False),
    StructField("job", StringType(), False),
    StructField("env", StringType(), True),
    StructField("status", StringType(), False),
    StructField("started_at", TimestampType(), False),
    StructField("finished_at", TimestampType(), True),
    StructField("duration_s", DoubleType(), True),
    StructField("user", StringType(), True),
    StructField("spark_app_id", StringType(), True),
    StructField("args", StringType(), True),
    StructField("metrics", StringType(), True),   # JSON object
    StructField("error", StringType(), True),
])


def record_job_run(spark: SparkSession, config: Mapping[str, Any], run: Mapping[str, Any],
                   *, create: bool = True) -> None:
    """Append one run; run_id is a fresh uuid per run, so appends never collide.

    ``create=False``: only append to an existing table (a run that stopped before doing anything
    leaves no table behind in a lakehouse that has none).
    """
    if not create:
        from delta.tables import DeltaTable

        if not DeltaTable.isDeltaTable(spark, JOB_RUNS.path(config)):
            return
    tables.create_if_missing(spark, config, JOB_RUNS, JOB_RUNS_SCHEMA,
                             properties={"delta.appendOnly": "true"},
                             comment="one row per job run: lineage and outcome")
    row = {field.name: run.get(field.name) for field in JOB_RUNS_SCHEMA.fields}
    spark.createDataFrame([row], JOB_RUNS_SCHEMA).write.format("delta").mode("append").save(
        JOB_RUNS.path(config))
