"""gold.experiment_runs: one row per run (machine, tool, experiment, run, replicate).

Pure ``DataFrame -> DataFrame`` transforms over the silver tables, plus the MERGE that lands
them (:func:`merge_runs`). Per run:

* factor levels in natural units (``cutting_speed``, ``feed``, ... one column per configured
  factor) and coded (``coded_<factor>``): categorical factors by ``doe.categorical_levels``
  (coolant dry -1 / flood +1, coating TiN -1 / TiAlN +1), numeric factors from the
  experiment's own low/high (min/max over all its runs): low -1, high +1, in between linear
  (the midpoint 0). A factor the experiment did not vary is coded null and left out of
  ``design_factors``;
* ``status``: ``completed`` (tool_worn_out), ``aborted`` (run_aborted) or ``running`` (no
  terminal event yet); the last terminal event by time wins;
* ``tool_life_min`` (observed life of a completed run), ``cutting_time_min`` (life, or
  end - start of an aborted/running run), final ``flank_wear_mm`` and
  ``wear_rate_mm_per_min`` = final flank wear / cutting time;
* per sensor: ``<sensor>_mean``, ``<sensor>_max`` and ``<sensor>_slope`` (least squares per
  minute of elapsed time since the run started; a slope does not depend on the time origin).

Beside the simulated runs the table holds imported ones (toollife.imports, ``source`` = the
file): the shared life columns ``tool_life`` / ``censored_life`` / ``life_unit`` / ``source`` are
filled here for simulated runs too (life_unit min, source simulation); imported factors add
columns by schema evolution, and :func:`merge_runs` never touches an imported experiment.

``row_hash`` digests every content column, so the MERGE only rewrites a row whose content
changed: re-running on the same silver data leaves the table exactly as it was.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from toollife.lakehouse.tables import Table

EXPERIMENT_RUNS = Table("gold", "experiment_runs")
INGEST_JOB = "jobs/ingest_sensors.py"          # fills silver.*, the input of this module
AGGREGATE_JOB = "jobs/aggregate_experiments.py"  # fills gold.experiment_runs
RUN_KEY = ["experiment_id", "machine_id", "tool_id", "run_id", "replicate"]
STATUSES = ("completed", "aborted", "running", "censored", "no_life")   # the last two: imported runs
SIMULATION = "simulation"                        # `source` of the runs this module aggregates
TERMINAL_EVENTS = {"tool_worn_out": "completed", "run_aborted": "aborted"}
STANDARD_FACTORS = ("cutting_speed", "feed", "depth_of_cut", "coolant", "coating")


def _f(name: str, dtype, nullable: bool = True, comment: str | None = None) -> StructField:
    return StructField(name, dtype, nullable, {"comment": comment} if comment else {})


def categorical(config: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    return {f: (str(lv[0]), str(lv[1])) for f, lv in config["doe"]["categorical_levels"].items()}


def experiment_runs_schema(config: Mapping[str, Any]) -> StructType:
    """Schema of gold.experiment_runs for the configured factors and sensors."""
    doe = config["doe"]
    cats = categorical(config)
    fields = [
        _f("experiment_id", StringType(), False), _f("machine_id", StringType(), False),
        _f("tool_id", StringType(), False), _f("run_id", LongType(), False), _f("replicate", LongType(), False),
        _f("status", StringType(), False, "completed | aborted | running | censored | no_life"),
        _f("started_at", TimestampType(), comment="run_started ts (else the first reading)"),
        _f("ended_at", TimestampType(), comment="ts of the terminal event (tool_worn_out / run_aborted)"),
    ]
    for fac in doe["factors"]:
        fields.append(_f(fac, StringType() if fac in cats else DoubleType(), comment="natural level"))
    fields.append(_f("factors_json", StringType(), comment="all factors of run_started, as sent"))
    for fac in doe["factors"]:
        fields.append(_f(f"coded_{fac}", DoubleType(), comment="coded level -1/+1 (0 = centre)"))
    fields += [
        _f("design_factors", ArrayType(StringType()), False,
           "configured factors this experiment varies (the ones the DOE analysis uses)"),
        _f("tool_life_min", DoubleType(), comment="observed tool life (completed runs)"),
        _f("cutting_time_min", DoubleType(), comment="tool life, or end/last reading - start"),
        _f("flank_wear_mm", DoubleType(), comment="final flank wear (event, else last reading)"),
        _f("wear_rate_mm_per_min", DoubleType(), comment="flank_wear_mm / cutting_time_min"),
        _f("n_readings", LongType(), False, "sensor readings of the run (imported: wear readings)"),
        _f("tool_life", DoubleType(), comment="observed life in life_unit (completed runs)"),
        _f("censored_life", DoubleType(),
           comment="not completed: how long the tool survived, in life_unit (the right-censoring point)"),
        _f("life_unit", StringType(), comment="min | cuts | parts"),
        _f("source", StringType(), comment="'simulation', or the imported file as the user named it"),
    ]
    for s in doe["sensors"]:
        fields += [_f(f"{s}_mean", DoubleType()), _f(f"{s}_max", DoubleType()),
                   _f(f"{s}_slope", DoubleType(), comment="least squares, per minute")]
    fields += [
        _f("row_hash", StringType(), False, "sha256 of the content columns: MERGE updates only on change"),
        _f("updated_at", TimestampType(), False, "when the row was inserted or last changed"),
    ]
    return StructType(fields)


# --------------------------------------------------------------------------- transforms
def run_events(tool_events: DataFrame, config: Mapping[str, Any]) -> DataFrame:
    """One row per run key from the tool events: start, factors, terminal event, status."""
    cats = categorical(config)
    factors = config["doe"]["factors"]
    ordering = F.struct("ts", "event_id")          # deterministic tie-break
    started = tool_events.where(F.col("event") == "run_started")
    natural = []
    for fac in factors:
        if fac in STANDARD_FACTORS:
            col = F.col(f"factors.{fac}")
        else:                                       # non-standard factor: only in factors_json
            col = F.get_json_object("factors_json", f"$.{fac}")
        natural.append(col.cast(StringType() if fac in cats else DoubleType()).alias(fac))
    starts = started.groupBy(*RUN_KEY).agg(
        F.min_by(F.struct(F.col("ts").alias("started_at"), *natural, "factors_json"), ordering).alias("s"))
    terminal = tool_events.where(F.col("event").isin(*TERMINAL_EVENTS)).groupBy(*RUN_KEY).agg(
        F.max_by(F.struct("event", F.col("ts").alias("ended_at"), "tool_life_min", "flank_wear_mm"), ordering)
        .alias("t"))
    status = F.lit("running")
    for event, name in TERMINAL_EVENTS.items():
        status = F.when(F.col("t.event") == event, name).otherwise(status)
    return starts.join(terminal, RUN_KEY, "full_outer").select(
        *RUN_KEY, status.alias("status"), "s.started_at", "t.ended_at", *[F.col(f"s.{f}").alias(f) for f in factors],
        "s.factors_json",
        F.when(F.col("t.event") == "tool_worn_out", F.col("t.tool_life_min")).alias("tool_life_min"),
        F.col("t.flank_wear_mm").alias("event_flank_wear_mm"),
    )


def sensor_features(sensor_readings: DataFrame, config: Mapping[str, Any]) -> DataFrame:
    """One row per run key: reading count, first/last reading time and mean/max/slope per sensor."""
    sensors = list(config["doe"]["sensors"])
    minutes = F.unix_micros("ts") / F.lit(60e6)     # slope per minute; the origin does not matter
    aggs = [F.count(F.lit(1)).alias("n_readings"), F.min("ts").alias("first_reading_at"),
            F.max("ts").alias("last_reading_at")]
    for s in sensors:
        hit = F.col("sensor") == s
        value = F.when(hit, F.col("value"))
        aggs += [
            F.avg(value).alias(f"{s}_mean"),
            F.max(value).alias(f"{s}_max"),
            F.regr_slope(value, F.when(hit, minutes)).alias(f"{s}_slope"),
            F.max_by(value, F.when(hit, F.struct("ts", "event_id"))).alias(f"{s}_last"),
        ]
    return sensor_readings.where(F.col("sensor").isin(*sensors)).groupBy(*RUN_KEY).agg(*aggs)


def _coded(fac: str, cats: Mapping[str, tuple[str, str]]) -> tuple[Column, Column]:
    """(coded level, experiment-varies-this-factor) for one factor; windows over the experiment."""
    from pyspark.sql import Window

    w = Window.partitionBy("experiment_id")
    x = F.col(fac)
    if fac in cats:
        low, high = cats[fac]
        coded = F.when(x == low, F.lit(-1.0)).when(x == high, F.lit(1.0))
        varies = (F.max((x == low).cast("int")).over(w) == 1) & (F.max((x == high).cast("int")).over(w) == 1)
        return F.when(varies, coded), varies
    lo, hi = F.min(x).over(w), F.max(x).over(w)
    varies = F.coalesce(hi > lo, F.lit(False))
    coded = (F.when(x == lo, F.lit(-1.0)).when(x == hi, F.lit(1.0))
             .otherwise((F.lit(2.0) * x - lo - hi) / (hi - lo)))
    return F.when(varies, coded), varies


def build_experiment_runs(tool_events: DataFrame, sensor_readings: DataFrame, config: Mapping[str, Any],
                          *, updated_at: Column | None = None) -> DataFrame:
    """silver.tool_events + silver.sensor_readings -> rows shaped like gold.experiment_runs."""
    doe = config["doe"]
    cats = categorical(config)
    factors, sensors = list(doe["factors"]), list(doe["sensors"])
    runs = run_events(tool_events, config).join(sensor_features(sensor_readings, config), RUN_KEY, "full_outer")
    runs = runs.withColumn("status", F.coalesce("status", F.lit("running")))
    start = F.coalesce("started_at", "first_reading_at")
    end = F.coalesce("ended_at", "last_reading_at")
    elapsed = (F.unix_micros(end) - F.unix_micros(start)) / F.lit(60e6)
    runs = runs.select(
        "*",
        start.alias("_start"),
        F.coalesce("tool_life_min", elapsed).alias("cutting_time_min"),
        F.coalesce("event_flank_wear_mm", F.col("flank_wear_last") if "flank_wear" in sensors else F.lit(None))
        .cast(DoubleType()).alias("flank_wear_mm"),
    )
    coded, varies = {}, {}
    for fac in factors:
        coded[fac], varies[fac] = _coded(fac, cats)
    design = F.filter(F.array(*[F.when(varies[f], F.lit(f)) for f in factors]), lambda c: c.isNotNull())
    wear_rate = F.when(F.col("cutting_time_min") > 0, F.col("flank_wear_mm") / F.col("cutting_time_min"))
    out = runs.select(
        *RUN_KEY, "status", F.col("_start").alias("started_at"), "ended_at", *factors, "factors_json",
        *[coded[f].alias(f"coded_{f}") for f in factors],
        design.alias("design_factors"),
        "tool_life_min", "cutting_time_min", "flank_wear_mm", wear_rate.alias("wear_rate_mm_per_min"),
        F.coalesce("n_readings", F.lit(0)).alias("n_readings"),
        F.col("tool_life_min").alias("tool_life"),
        F.when(F.col("status") != "completed", F.col("cutting_time_min")).alias("censored_life"),
        F.lit("min").alias("life_unit"), F.lit(SIMULATION).alias("source"),
        *[F.col(f"{s}_{k}") for s in sensors for k in ("mean", "max", "slope")],
    )
    content = [c for c in out.columns]
    out = out.withColumn("row_hash", F.sha2(F.to_json(F.struct(*content)), 256))
    out = out.withColumn("updated_at", updated_at if updated_at is not None else F.current_timestamp())
    schema = experiment_runs_schema(config)
    return out.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


# --------------------------------------------------------------------------- load
def ensure_table(spark: SparkSession, config: Mapping[str, Any]):
    from toollife.lakehouse import tables

    return tables.create_if_missing(
        spark, config, EXPERIMENT_RUNS, experiment_runs_schema(config), partition_by=["experiment_id"],
        comment="one row per experiment run: factors natural + coded, status, tool life, sensor features")


def merge_runs(spark: SparkSession, config: Mapping[str, Any], runs: DataFrame) -> dict[str, int]:
    """MERGE ``runs`` into gold.experiment_runs on the run key.

    New runs are inserted; a known run is updated only when its content (``row_hash``) changed,
    so late data updates rows, reruns change nothing and nothing is ever duplicated. Imported
    experiments (``source`` other than simulation, see toollife.imports) are never touched: runs
    of an experiment id the table holds as imported are left out of the MERGE, and nothing is
    deleted. The table may have more columns than the configured schema (imported factors): they
    stay null for simulated runs.
    """
    from toollife.lakehouse import tables

    target = ensure_table(spark, config)
    current = target.toDF()
    if "source" in current.columns:          # a table from before imports existed has no source
        imported = current.where(F.coalesce("source", F.lit(SIMULATION)) != SIMULATION).select("experiment_id")
        runs = runs.join(F.broadcast(imported.distinct()), "experiment_id", "left_anti")
    return tables.merge_changed(spark, config, EXPERIMENT_RUNS, target, runs, RUN_KEY, evolve=True)


def read_silver(spark: SparkSession, config: Mapping[str, Any],
                experiments: Sequence[str] | None = None) -> tuple[DataFrame, DataFrame]:
    """silver.tool_events and silver.sensor_readings (of ``experiments``, if given).

    Raises :class:`toollife.errors.MissingInputError` when either table does not exist yet (no
    ingestion has run against this lakehouse): aggregating nothing is not a success.
    """
    from toollife.lakehouse import tables
    from toollife.ingestion.schemas import SOURCES

    srcs = [SOURCES[key] for key in ("tool_events", "sensor_readings")]
    tables.require(spark, config, [src.silver for src in srcs], INGEST_JOB)
    out = []
    for src in srcs:
        df = tables.read(spark, config, src.silver)
        if experiments:
            df = df.where(F.col("experiment_id").isin(*experiments))
        out.append(df)
    return out[0], out[1]
