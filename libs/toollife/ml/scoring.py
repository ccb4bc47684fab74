"""Score gold.experiment_runs with the champions, through Spark (``mlflow.pyfunc.spark_udf``).

* ``tool_life`` scores every run from its settings: the life a tool gets at those settings;
* ``tool_rul`` scores the runs still cutting from the settings plus their readings so far:
  predicted life, and the remaining useful life T - t (never below 0).

What else a version needs (its calibrated interval, its wear curve, the feature its output is
relative to) comes from its tags (:class:`toollife.ml.serving.Serving`), as for the live scorer.
A run whose features are incomplete gets a row with a null prediction and the reason, never a crash.
"""

from __future__ import annotations

from typing import Any, Mapping

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from toollife.lakehouse import tables
from toollife.gold.experiment_runs import EXPERIMENT_RUNS
from toollife.ingestion.schemas import SOURCES
from toollife.ml import datasets, quiet, spark_features, tracking
from toollife.ml import features as feat
from toollife.ml.intervals import Interval
from toollife.ml.serving import Serving
from toollife.ml.specs import SPECS


def _incomplete(columns, required_readings: int | None = None, nan_columns=()) -> Column:
    """The reason a row cannot be scored, or null."""
    reason = F.lit(None).cast("string")
    if required_readings is not None:
        reason = F.when(F.coalesce(F.col("n_flank_wear_readings"), F.lit(0.0)) < required_readings,
                        F.lit(f"fewer than {required_readings} flank-wear readings so far"))
    # a feature a pandas UDF could not compute arrives as NaN, not null
    missing = F.concat_ws(", ", *[F.when(F.col(c).isNull() | (F.isnan(c) if c in nan_columns else F.lit(False)), F.lit(c))
                                  for c in columns])
    return F.coalesce(reason, F.when(missing != "", F.concat(F.lit("missing "), missing)))


def _by_bin(interval: Interval, fraction: Column, values) -> Column:
    """The value of the interval's bin of each row (the Spark form of :meth:`Interval.bins`)."""
    if not interval.edges:
        return F.lit(float(values[0]))
    expr = F.when(fraction < F.lit(interval.edges[0]), F.lit(float(values[0])))
    for edge, value in zip(interval.edges[1:], values[1:-1]):
        expr = expr.when(fraction < F.lit(edge), F.lit(float(value)))
    return expr.otherwise(F.lit(float(values[-1])))


def _predict(spark: SparkSession, frame: DataFrame, model_name: str, uri: str, version: str,
             serving: Serving) -> DataFrame:
    """Rows with a null ``reason`` get predictions; the others keep null ones."""
    import mlflow.pyfunc

    columns = list(SPECS[model_name].features)
    quiet.spark_udf_notices_off()
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type="double", env_manager="local")
    ln = udf(F.struct(*[F.col(c) for c in columns]))
    if serving.offset:
        ln = ln + F.log(F.col(serving.offset))
    ok = frame.where(F.col("reason").isNull()).withColumn("_ln", ln)
    bad = frame.where(F.col("reason").isNotNull()).withColumn("_ln", F.lit(None).cast("double"))
    both = ok.unionByName(bad)
    life = F.exp("_ln")
    fraction = F.coalesce(F.col("minutes_cut") / life, F.lit(0.0))
    return both.select(
        *feat.RUN_KEY, F.lit(model_name).alias("model_name"), F.lit(version).alias("model_version"), "status",
        life.alias("predicted_life_min"),
        F.exp(F.col("_ln") + _by_bin(serving.interval, fraction, serving.interval.low)).alias("predicted_life_lower_min"),
        F.exp(F.col("_ln") + _by_bin(serving.interval, fraction, serving.interval.high)).alias("predicted_life_upper_min"),
        "minutes_cut",
        # greatest() skips nulls: without the guard a missing prediction would read as 0 min left
        F.when(F.col("minutes_cut").isNotNull() & F.col("_ln").isNotNull(),
               F.greatest(life - F.col("minutes_cut"), F.lit(0.0))).alias("remaining_life_min"),
        "reason")


def _finish(predictions: DataFrame) -> DataFrame:
    content = [c for c in predictions.columns]
    out = predictions.withColumn("row_hash", F.sha2(F.to_json(F.struct(*content)), 256))
    out = out.withColumn("scored_at", F.current_timestamp())
    return out.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in datasets.PREDICTIONS_SCHEMA.fields])


def score(spark: SparkSession, config: Mapping[str, Any], client, experiments=None) -> dict[str, Any]:
    """Score with both champions and MERGE into gold.tool_life_predictions."""
    champions = {name: tracking.champion_uri(client, name) for name in tracking.MODEL_NAMES}  # fail before work
    runs_version = datasets.require_version(spark, config, EXPERIMENT_RUNS, "jobs/aggregate_experiments.py")
    runs = datasets.streamed_runs(tables.read(spark, config, EXPERIMENT_RUNS, runs_version))
    if experiments:
        runs = runs.where(F.col("experiment_id").isin(*experiments))
    cutting = F.col("status") == "running"
    runs = runs.withColumn("minutes_cut", F.when(cutting, F.col("cutting_time_min")))

    life_frame = runs.select(*feat.RUN_KEY, "status", "minutes_cut",
                             *[c for c in feat.PLANNING_FEATURES if c not in feat.RUN_KEY])
    life_frame = life_frame.withColumn("reason", _incomplete(feat.PLANNING_FEATURES))
    uri, version = champions["tool_life"]
    life = _predict(spark, life_frame, "tool_life", uri, version, tracking.serving(client, "tool_life", version))

    readings_tbl = SOURCES["sensor_readings"].silver
    running = runs.where(cutting)
    uri, version = champions["tool_rul"]
    rul_serving = tracking.serving(client, "tool_rul", version)
    now = spark_features.features_now(running, tables.read(spark, config, readings_tbl), rul_serving.curve)
    now = now.join(running.select(*feat.RUN_KEY, "status"), feat.RUN_KEY)
    offset = [rul_serving.offset] if rul_serving.offset else []
    now = now.withColumn("reason", _incomplete([*feat.PLANNING_FEATURES, "minutes_cut", *offset],
                                               int(config["ml"]["min_readings"]), nan_columns=offset))
    rul = _predict(spark, now, "tool_rul", uri, version, rul_serving)

    predictions = _finish(life.unionByName(rul))
    merged = datasets.merge_predictions(spark, config, predictions)
    summary = (tables.read(spark, config, datasets.PREDICTIONS)
               .where(F.col("model_name") == "tool_rul").where(F.col("status") == "running")
               .agg(F.count("*").alias("cutting"), F.count("remaining_life_min").alias("scored")).first())
    return {"models": {n: v for n, (_, v) in champions.items()}, "gold.experiment_runs_version": runs_version,
            "tools_cutting": int(summary["cutting"]), "tools_cutting_scored": int(summary["scored"]), **merged}
