"""The Spark edges of the models: what training reads (one Delta version per table) and the two
tables the model jobs write, ``meta.model_promotions`` and ``gold.tool_life_predictions``."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from toollife.lakehouse import tables
from toollife.gold.experiment_runs import EXPERIMENT_RUNS, SIMULATION
from toollife.ingestion.schemas import SOURCES
from toollife.ml import features as feat
from toollife.ml import spark_features
from toollife.ml.specs import TrainingData
from toollife.simulation import manifest

SIMULATION_RUNS = tables.Table(*manifest.TABLE)
MODEL_PROMOTIONS = tables.Table("meta", "model_promotions")
PREDICTIONS = tables.Table("gold", "tool_life_predictions")
PREDICTION_KEY = [*feat.RUN_KEY, "model_name"]

PROMOTIONS_SCHEMA = StructType([
    StructField("model_name", StringType(), False),
    StructField("version", StringType(), False),
    StructField("alias", StringType(), False),
    StructField("replaced_version", StringType(), True),
    StructField("metric", StringType(), False),
    StructField("new_metric", DoubleType(), False),
    StructField("champion_metric", DoubleType(), True),
    StructField("decision", StringType(), False),
    StructField("reason", StringType(), True),
    StructField("candidate", StringType(), True),
    StructField("training_run_id", StringType(), True),
    StructField("decided_at", TimestampType(), False),
])

PREDICTIONS_SCHEMA = StructType([
    StructField("experiment_id", StringType(), False),
    StructField("machine_id", StringType(), False),
    StructField("tool_id", StringType(), False),
    StructField("run_id", LongType(), False),
    StructField("replicate", LongType(), False),
    StructField("model_name", StringType(), False),
    StructField("model_version", StringType(), False),
    StructField("status", StringType(), True, {"comment": "the run's status when scored"}),
    StructField("predicted_life_min", DoubleType(), True),
    StructField("predicted_life_lower_min", DoubleType(), True),
    StructField("predicted_life_upper_min", DoubleType(), True),
    StructField("minutes_cut", DoubleType(), True, {"comment": "tools still cutting: cutting time so far"}),
    StructField("remaining_life_min", DoubleType(), True, {"comment": "tools still cutting: predicted T - t, >= 0"}),
    StructField("reason", StringType(), True, {"comment": "why there is no prediction"}),
    StructField("row_hash", StringType(), False),
    StructField("scored_at", TimestampType(), False),
])


def latest_version(spark: SparkSession, config: Mapping[str, Any], tbl: tables.Table) -> int | None:
    path = tbl.path(config)
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])


def require_version(spark: SparkSession, config: Mapping[str, Any], tbl: tables.Table, job: str) -> int:
    """The newest version of a table the job reads; a missing one is a MissingInputError (exit 3)."""
    tables.require(spark, config, [tbl], job)
    return latest_version(spark, config, tbl)


def _truth(spark: SparkSession, config: Mapping[str, Any], experiments: list[str]) -> tuple[dict | None, list[str]]:
    """The newest simulation of each experiment: its true Taylor parameters (None if not simulated)."""
    if latest_version(spark, config, SIMULATION_RUNS) is None:
        return None, []
    sims = (tables.read(spark, config, SIMULATION_RUNS).where(F.col("experiment_id").isin(*experiments))
            .select("simulation_id", "experiment_id", "created_at", "taylor", "coating_multiplier",
                    "coolant_multiplier").toPandas())
    if sims.empty:
        return None, []
    newest = sims.sort_values("created_at").groupby("experiment_id").tail(1)
    taylor = pd.DataFrame([dict(t) for row in newest["taylor"] for t in row]).drop_duplicates(
        ["machine_id", "tool_id"], keep="last")
    first = newest.iloc[-1]
    return ({"taylor": taylor, "coating_multiplier": dict(first["coating_multiplier"]),
             "coolant_multiplier": dict(first["coolant_multiplier"])},
            sorted(newest["simulation_id"]))


def streamed_runs(runs: DataFrame) -> DataFrame:
    """The runs aggregated from the sensor stream: the models learn from and score only these.
    Imported runs (toollife.imports, ``source`` = their file) have no sensor readings and their own
    factors, so a model of the plant's machines says nothing about them."""
    if "source" not in runs.columns:     # a table from before imports existed
        return runs
    return runs.where(F.coalesce(F.col("source"), F.lit(SIMULATION)) == SIMULATION)


def load_training_data(spark: SparkSession, config: Mapping[str, Any]) -> TrainingData:
    """Completed runs of gold.experiment_runs and their readings in silver.sensor_readings, each
    table at its newest version, read ``versionAsOf`` that version (and logged as such)."""
    readings_tbl = SOURCES["sensor_readings"].silver
    versions = {EXPERIMENT_RUNS.qualified: require_version(spark, config, EXPERIMENT_RUNS, "jobs/aggregate_experiments.py"),
                readings_tbl.qualified: require_version(spark, config, readings_tbl, "jobs/ingest_sensors.py")}
    runs = tables.read(spark, config, EXPERIMENT_RUNS, versions[EXPERIMENT_RUNS.qualified])
    completed = runs.where((F.col("status") == "completed") & F.col("tool_life_min").isNotNull()
                           & (F.col("tool_life_min") > 0))
    completed = streamed_runs(completed)
    readings = tables.read(spark, config, readings_tbl, versions[readings_tbl.qualified])
    samples = spark_features.rul_training_samples(completed, readings, config["ml"]["rul_fractions"]).toPandas()
    wear = spark_features.flank_wear(completed, readings).toPandas()
    runs_pdf = completed.select(*feat.RUN_KEY, "started_at", *[c for c in feat.PLANNING_FEATURES if c not in feat.RUN_KEY],
                                "tool_life_min").toPandas()
    sort = [*feat.RUN_KEY]
    runs_pdf = runs_pdf.sort_values(sort, kind="mergesort").reset_index(drop=True)
    samples = samples.sort_values([*sort, "fraction"], kind="mergesort").reset_index(drop=True)
    truth, simulation_ids = _truth(spark, config, sorted(runs_pdf["experiment_id"].unique()))
    return TrainingData(runs=runs_pdf, samples=samples, wear=wear, versions=versions,
                        paths={EXPERIMENT_RUNS.qualified: EXPERIMENT_RUNS.path(config),
                               readings_tbl.qualified: readings_tbl.path(config)},
                        truth=truth, simulation_ids=simulation_ids)


def record_promotions(spark: SparkSession, config: Mapping[str, Any], records: list[dict[str, Any]]) -> None:
    """Append the alias changes to meta.model_promotions (MLflow keeps no history of aliases)."""
    tables.create_if_missing(spark, config, MODEL_PROMOTIONS, PROMOTIONS_SCHEMA,
                             properties={"delta.appendOnly": "true"},
                             comment="every alias change of the registered models: who replaced whom, why")
    if records:
        rows = [tuple(r.get(f.name) for f in PROMOTIONS_SCHEMA.fields) for r in records]
        spark.createDataFrame(rows, PROMOTIONS_SCHEMA).write.format("delta").mode("append").save(
            MODEL_PROMOTIONS.path(config))


def merge_predictions(spark: SparkSession, config: Mapping[str, Any], predictions: DataFrame) -> dict[str, int]:
    """MERGE on (run key, model name); a row changes only when its content does (``row_hash``),
    so re-scoring the same runs with the same models changes nothing, not even ``scored_at``."""
    target = tables.create_if_missing(spark, config, PREDICTIONS, PREDICTIONS_SCHEMA,
                                      comment="tool-life and remaining-life predictions of the champion models")
    return tables.merge_changed(spark, config, PREDICTIONS, target, predictions, PREDICTION_KEY)
