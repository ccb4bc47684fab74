"""The model features at Spark scale: silver readings grouped per run, each group summarised by
the pure functions of :mod:`toollife.ml.features` (``applyInPandas``), so a cluster computes
exactly what the unit tests check."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from toollife.ml import features as feat
from toollife.ml.wear_curve import WearCurve

_KEY_TYPES = {"run_id": LongType(), "replicate": LongType()}
_SETTING_TYPES = {c: DoubleType() for c in feat.NUMERIC_SETTINGS}


def _schema(columns: Sequence[str]) -> StructType:
    fields = []
    for c in columns:
        dtype = _KEY_TYPES.get(c) or _SETTING_TYPES.get(c)
        if dtype is None:
            dtype = StringType() if c in feat.RUN_KEY or c in feat.CATEGORICAL_SETTINGS else DoubleType()
        fields.append(StructField(c, dtype))
    return StructType(fields)


RUL_SAMPLES_SCHEMA = _schema(feat.SAMPLE_COLUMNS)
FEATURES_NOW_SCHEMA = _schema(feat.NOW_COLUMNS)
_RUN_COLUMNS = [*feat.RUN_KEY, "started_at", *[c for c in feat.PLANNING_FEATURES if c not in feat.RUN_KEY]]


def _with_run(runs: DataFrame, readings: DataFrame, extra: Sequence[str]) -> DataFrame:
    """Each reading of the wanted sensors beside its run's start, settings and ``extra`` columns;
    a run without readings still forms a group (one row with a null sensor)."""
    wanted = readings.where(F.col("sensor").isin(*feat.SENSORS)).select(*feat.RUN_KEY, "ts", "sensor", "value")
    return runs.select(*_RUN_COLUMNS, *extra).join(wanted, feat.RUN_KEY, "left")


def _split(group: pd.DataFrame, extra: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    run = group[[*_RUN_COLUMNS, *extra]].iloc[:1].reset_index(drop=True)
    readings = group.loc[group["sensor"].notna(), [*feat.RUN_KEY, "ts", "sensor", "value"]]
    return run, readings


def rul_training_samples(runs: DataFrame, readings: DataFrame, fractions: Sequence[float]) -> DataFrame:
    """tool_rul samples of the completed ``runs`` (gold.experiment_runs rows) at each fraction."""
    fractions = [float(f) for f in fractions]
    completed = runs.where(F.col("tool_life_min").isNotNull() & F.col("started_at").isNotNull())

    def samples(group: pd.DataFrame) -> pd.DataFrame:
        run, mine = _split(group, ["tool_life_min"])
        return feat.rul_samples(run, mine, fractions)

    return (_with_run(completed, readings, ["tool_life_min"]).groupBy(*feat.RUN_KEY)
            .applyInPandas(samples, RUL_SAMPLES_SCHEMA))


def features_now(runs: DataFrame, readings: DataFrame, curve: WearCurve | None = None) -> DataFrame:
    """Features of the ``runs`` still cutting (``minutes_cut`` = cutting time so far), the wear
    curve's life read against the scoring model's ``curve``."""

    def now(group: pd.DataFrame) -> pd.DataFrame:
        run, mine = _split(group, ["minutes_cut"])
        return feat.features_now(run, mine, curve)

    return (_with_run(runs, readings, ["minutes_cut"]).groupBy(*feat.RUN_KEY)
            .applyInPandas(now, FEATURES_NOW_SCHEMA))


def flank_wear(runs: DataFrame, readings: DataFrame) -> DataFrame:
    """The flank-wear readings of ``runs`` as :data:`~toollife.ml.features.WEAR_COLUMNS` (minutes
    after run_started, from the microseconds: the difference :func:`features.minutes_since` takes)."""
    minutes = (F.unix_micros("ts") - F.unix_micros("started_at")) / F.lit(60e6)
    return (readings.where(F.col("sensor") == "flank_wear").select(*feat.RUN_KEY, "ts", "value")
            .join(runs.select(*feat.RUN_KEY, "started_at"), feat.RUN_KEY)
            .select(*feat.RUN_KEY, minutes.alias("minutes"), F.col("value").cast("double").alias("value"))
            .where(F.col("minutes") >= 0))
