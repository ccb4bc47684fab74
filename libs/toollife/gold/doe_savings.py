"""gold.doe_savings: what the recommended settings are worth, per experiment x machine x tool.

The JVM gathers each combination's runs into one row and ``mapInArrow`` hands the Python workers
Arrow batches of whole combinations (:mod:`toollife.gold.arrow_batches`, as the DOE job does); the
figures are :func:`toollife.doe.savings.annual_savings` per combination
(:mod:`toollife.gold.savings_frames`). Each analysed experiment is replaced as a whole: a rerun on
the same runs leaves the same rows.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from toollife.doe.savings import SAVINGS_KEYS
from toollife.gold.arrow_batches import arrow_batch_size, to_arrow, unpack_runs
from toollife.gold.savings_frames import EXTRA_KEYS, SavingsParams, plant_totals, savings_frame
from toollife.gold.writes import replace_experiments
from toollife.lakehouse.tables import Table

SAVINGS = Table("gold", "doe_savings")
SAVINGS_JOB = "jobs/compute_savings.py"
KEYS = ["experiment_id", "machine_id", "tool_id"]
_RUNS = "_runs"
_LONGS = {"n_runs", "n_runs_completed", "df_resid"}


def savings_schema():
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType, TimestampType

    fields = [StructField(k, StringType(), False) for k in KEYS]
    fields += [StructField("status", StringType(), False), StructField("reason", StringType())]
    for k in SAVINGS_KEYS + EXTRA_KEYS:
        fields.append(StructField(k, LongType() if k in _LONGS else DoubleType()))
    fields += [StructField("significant", BooleanType(),
                           metadata={"comment": "the annual saving's interval lies above zero"}),
               StructField("alpha", DoubleType(), False), StructField("computed_at", TimestampType(), False)]
    return StructType(fields)


def _udf_schema():
    from pyspark.sql.types import StructType

    return StructType([f for f in savings_schema().fields if f.name not in ("alpha", "computed_at")])


def _gathered(runs):
    """One row per combination: keys and its runs' completion, life, time and Taylor factors."""
    from pyspark.sql import functions as F

    life = "tool_life" if "tool_life" in runs.columns else "tool_life_min"
    cols = [F.coalesce(F.col("status") == "completed", F.lit(False)).alias("_completed"),
            F.col(life).cast("double").alias("life"), F.col("cutting_time_min").cast("double").alias("cutting_time_min")]
    for f in ("cutting_speed", "feed", "depth_of_cut"):
        cols.append((F.col(f).cast("double") if f in runs.columns else F.lit(None).cast("double")).alias(f))
    for f in ("coolant", "coating"):
        cols.append((F.col(f).cast("string") if f in runs.columns else F.lit(None).cast("string")).alias(f))
    return runs.select(*KEYS, F.struct(*cols).alias(_RUNS)).groupBy(*KEYS).agg(F.collect_list(_RUNS).alias(_RUNS))


def _savings_udf(params: SavingsParams):
    schema = _udf_schema()

    def fn(batches):
        for batch in batches:
            if batch.num_rows == 0:
                continue
            gid, keys, frame = unpack_runs(batch, _RUNS, KEYS)
            key_frame = keys.select(["machine_id", "tool_id"]).to_pandas()
            key_frame["_key"] = np.arange(len(key_frame))
            res = savings_frame(frame, gid, key_frame, params)
            yield from to_arrow(res, keys, schema).to_batches()
    return fn


def compute_savings(runs, params: SavingsParams, computed_at):
    """gold.experiment_runs DataFrame -> gold.doe_savings rows (lazy)."""
    from pyspark.sql import functions as F

    out = _gathered(runs).mapInArrow(_savings_udf(params), _udf_schema())
    out = out.withColumn("alpha", F.lit(params.alpha)).withColumn("computed_at", F.lit(computed_at))
    return out.select(*[F.col(f.name).cast(f.dataType) for f in savings_schema().fields])


def run(spark, config: Mapping[str, Any], *, experiments: Sequence[str] | None = None) -> dict[str, Any]:
    """Read gold.experiment_runs, replace the analysed experiments' rows of gold.doe_savings and
    return the plant-wide totals (annual saving and its interval over significant rows, payback)."""
    from datetime import datetime, timezone

    from pyspark.sql import functions as F

    from toollife.errors import MissingInputError
    from toollife.gold.experiment_runs import AGGREGATE_JOB, EXPERIMENT_RUNS
    from toollife.lakehouse import tables

    params = SavingsParams.from_config(config)
    tables.require(spark, config, [EXPERIMENT_RUNS], AGGREGATE_JOB)
    runs = tables.read(spark, config, EXPERIMENT_RUNS)
    if experiments:
        runs = runs.where(F.col("experiment_id").isin(*experiments))
    exps = sorted(r[0] for r in runs.select("experiment_id").distinct().collect())
    if not exps:
        raise MissingInputError(f"no runs in {EXPERIMENT_RUNS.qualified}: run `toollife submit {AGGREGATE_JOB}` first")
    tables.create_if_missing(spark, config, SAVINGS, savings_schema(), partition_by=["experiment_id"],
                             comment="cost per part now and at the optimum, annual saving, payback per machine x tool")
    computed_at = datetime.now(timezone.utc).replace(tzinfo=None)
    with arrow_batch_size(spark, int(config["doe"]["combinations_per_batch"])):
        replace_experiments(compute_savings(runs, params, computed_at), config, SAVINGS, exps)
    rows = tables.read(spark, config, SAVINGS).where(F.col("experiment_id").isin(*exps)).toPandas()
    return {"experiments": exps, **plant_totals(rows)}

