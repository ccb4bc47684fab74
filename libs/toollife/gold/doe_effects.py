"""gold.doe_effects and gold.doe_optimal_settings: the DOE analysis of every machine x tool combination.

Speed: ``applyInPandas`` with one Python call per combination costs ~2.4 ms per call, while the
vectorised ``toollife.doe.*_groups`` functions analyse thousands of combinations in one numpy
pass. So the JVM first gathers each combination's runs into one row (:func:`combination_runs`:
a hash aggregate, keys + an array of run structs), and ``mapInArrow`` hands the Python workers
Arrow batches of ``doe.combinations_per_batch`` such rows; each batch is one vectorised call.
Compared with a grouped map over hash buckets this ships the key strings once per combination
instead of once per run, needs no sort of the runs, and keeps every batch small and
self-contained. Results are equal to the per-combination functions
(:func:`toollife.doe.analyze_factorial` etc.) by construction.

The batch maths is pure pandas (:mod:`toollife.gold.doe_screen`, :mod:`toollife.gold.doe_frames`),
the Arrow batching shared with the planner (:mod:`toollife.gold.arrow_batches`); this module is
the Spark side: schemas, the gathering, the map functions and the job.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from toollife.gold.arrow_batches import arrow_batch_size, to_arrow, unpack_runs
from toollife.gold.doe_frames import effects_frame, optimal_columns, optimal_frame
from toollife.gold.doe_censored import CENSORED_FIT, LEAST_SQUARES
from toollife.gold.doe_screen import (CENSORED, CENSORED_STATUSES, COMPLETED, FACTOR_MASK, GROUP_COLS, INCOMPLETE, LIFE,
                                      LIFE_FALLBACK, LIFE_SOURCE, DoeParams)
from toollife.gold.writes import replace_experiments
from toollife.lakehouse.tables import Table

EFFECTS = Table("gold", "doe_effects")
OPTIMAL = Table("gold", "doe_optimal_settings")
RUNS = "_runs"                     # the array of run structs of one combination


# --------------------------------------------------------------------------- output schemas
def effects_schema():
    from pyspark.sql.types import (BooleanType, DoubleType, LongType, StringType, StructField, StructType,
                                   TimestampType)

    s, d = StringType(), DoubleType()
    return StructType([
        StructField("experiment_id", s, False), StructField("machine_id", s, False), StructField("tool_id", s, False),
        StructField("fit", s, False), StructField("term", s, False), StructField("effect", d), StructField("coefficient", d),
        StructField("std_error", d), StructField("t_value", d), StructField("p_value", d),
        StructField("significant", BooleanType()), StructField("method", s, False), StructField("aliases", s),
        StructField("response", s, False), StructField("n_runs", LongType(), False),
        StructField("note", s),
        StructField("computed_at", TimestampType(), False),
    ])

def _effects_udf_schema():
    from pyspark.sql.types import StructType

    drop = {"response", "computed_at"}
    return StructType([f for f in effects_schema().fields if f.name not in drop])

def _optimal_udf_schema(params: DoeParams):
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    types = {"s": StringType(), "d": DoubleType(), "l": LongType()}
    not_null = set(GROUP_COLS) | {"status", "n_runs", "n_runs_not_completed"}
    return StructType([StructField(n, types[k], n not in not_null) for n, k in optimal_columns(params)])

def optimal_schema(params: DoeParams):
    """gold.doe_optimal_settings: the UDF columns plus response and computed_at."""
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    udf = _optimal_udf_schema(params).fields
    return StructType(udf[:len(GROUP_COLS) + 2] + [StructField("response", StringType(), False)]
                      + udf[len(GROUP_COLS) + 2:] + [StructField("computed_at", TimestampType(), False)])


# --------------------------------------------------------------------------- Spark wiring
def combination_runs(runs, params: DoeParams, *, naturals: bool):
    """gold.experiment_runs rows -> one row per combination: its keys, the factor mask and its
    runs as an array of structs holding only the numbers the maths needs.

    The aggregation runs in the JVM (hash aggregate with partial aggregation), so the Python
    workers receive 32-run lists instead of 32 rows per combination, the key strings once per
    combination, and every Arrow batch holds whole combinations: no sort, no regrouping in
    Python. The experiment's varied factors travel as a bit mask (an int is far cheaper through
    Arrow than a string array).
    """
    from pyspark.sql import functions as F

    # gold.experiment_runs leaves coded_<f> null exactly when the experiment does not vary f (its
    # design_factors), so OR-ing the non-null coded levels of a combination's runs gives the same
    # mask without reading design_factors: an array of strings on every run row, whose decoding
    # alone cost more CPU than the rest of the read (1.2-3 of 2.5-4.4 CPU-s at 6.4M rows).
    mask = F.lit(0)
    for j, f in enumerate(params.factors):
        mask = mask + F.when(F.col(f"coded_{f}").isNotNull(), F.lit(1 << j)).otherwise(F.lit(0))
    fields = [F.coalesce(F.col("status") == "completed", F.lit(False)).alias(COMPLETED),
              *[F.col(f"coded_{f}") for f in params.factors], life_column(runs).alias(LIFE)]
    if naturals:      # natural levels (best settings, Taylor fit); conf categorical ones come from params
        fields += [F.col(f) for f in params.natural_factors() if f in runs.columns]
    else:             # the censoring time of runs not completed: the censored fit (doe_censored)
        fields.append(censored_column(runs).alias(CENSORED))
    return (runs.select(*GROUP_COLS, mask.cast("int").alias(FACTOR_MASK), F.struct(*fields).alias(RUNS))
            .groupBy(*GROUP_COLS)
            .agg(F.bit_or(FACTOR_MASK).alias(FACTOR_MASK), F.collect_list(RUNS).alias(RUNS)))

def life_column(runs):
    """gold.experiment_runs.tool_life (life_unit); tool_life_min on a table written before tool_life."""
    from pyspark.sql import functions as F

    return F.col(LIFE_SOURCE if LIFE_SOURCE in runs.columns else LIFE_FALLBACK).cast("double")

def censored_column(runs):
    """The right-censoring time of a run that did not complete (status censored, aborted or running
    with a positive censored_life), else null. Before censored_life existed: cutting_time_min."""
    from pyspark.sql import functions as F

    col = "censored_life" if "censored_life" in runs.columns else "cutting_time_min"
    if col not in runs.columns:
        return F.lit(None).cast("double")
    t = F.col(col).cast("double")
    return F.when(F.col("status").isin(*CENSORED_STATUSES) & (t > 0), t)

def _combination_udf(frame_fn, schema, params: DoeParams):
    """mapInArrow function: every batch of combinations -> the rows of ``frame_fn`` for them."""

    def fn(batches):
        for batch in batches:
            if batch.num_rows == 0:
                continue
            gid, keys, frame = unpack_runs(batch, RUNS, GROUP_COLS, per_combination=[FACTOR_MASK])
            res = frame_fn(frame, params, (gid, pd.DataFrame({"_key": np.arange(keys.num_rows)})))
            yield from to_arrow(res, keys, schema).to_batches()
    return fn

def effects_udf(params: DoeParams):
    """Arrow map function: batches of combinations -> their effect rows."""
    return _combination_udf(effects_frame, _effects_udf_schema(), params)

def optimal_udf(params: DoeParams):
    """Arrow map function: batches of combinations -> one optimal-settings row per combination."""
    return _combination_udf(optimal_frame, _optimal_udf_schema(params), params)

def compute_effects(runs, params: DoeParams, computed_at):
    """gold.experiment_runs DataFrame -> gold.doe_effects rows (a lazy DataFrame)."""
    from pyspark.sql import functions as F

    out = combination_runs(runs, params, naturals=False).mapInArrow(effects_udf(params), _effects_udf_schema())
    schema = effects_schema()
    response = F.when(F.col("fit") == CENSORED_FIT, F.lit("ln_tool_life")).otherwise(F.lit(params.response))
    out = out.withColumn("response", response).withColumn("computed_at", F.lit(computed_at))
    return out.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])

def compute_optimal(runs, params: DoeParams, computed_at):
    """gold.experiment_runs DataFrame -> gold.doe_optimal_settings rows (a lazy DataFrame)."""
    from pyspark.sql import functions as F

    out = combination_runs(runs, params, naturals=True).mapInArrow(optimal_udf(params), _optimal_udf_schema(params))
    schema = optimal_schema(params)
    out = out.withColumn("response", F.lit(params.response)).withColumn("computed_at", F.lit(computed_at))
    return out.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])

def ensure_tables(spark, config: Mapping[str, Any], params: DoeParams) -> None:
    """Create both tables if missing.

    No per-column Delta statistics: the rows of an experiment are spread over files by hash of
    the combination, so min/max of machine, tool or term would skip nothing, while collecting
    them cost ~1.5x the CPU of the write of millions of effect rows. Queries prune by the
    partition column, experiment_id.
    """
    from toollife.lakehouse import tables

    props = {"delta.dataSkippingNumIndexedCols": "0"}
    tables.create_if_missing(spark, config, EFFECTS, effects_schema(), partition_by=["experiment_id"],
                             properties=props, comment="DOE effects per machine x tool combination and term")
    tables.create_if_missing(spark, config, OPTIMAL, optimal_schema(params), partition_by=["experiment_id"],
                             properties=props,
                             comment="best settings, Taylor fit and cost optimum per machine x tool combination")

def run(spark, config: Mapping[str, Any], *, experiments: Sequence[str] | None = None,
        computed_at=None) -> dict[str, Any]:
    """Read gold.experiment_runs, write gold.doe_effects + gold.doe_optimal_settings.

    Each experiment present in the input is replaced as a whole in both tables, so a rerun on
    the same input leaves the same rows (only ``computed_at`` moves). The metrics count the
    combinations analysed and skipped, and the skipped ones per reason (``skip_reasons``).
    Raises :class:`toollife.errors.MissingInputError` when gold.experiment_runs does not exist or
    holds no runs (of ``experiments``).
    """
    from datetime import datetime, timezone

    from pyspark.sql import functions as F

    from toollife.lakehouse import tables
    from toollife.errors import MissingInputError
    from toollife.gold.experiment_runs import AGGREGATE_JOB, EXPERIMENT_RUNS

    computed_at = computed_at or datetime.now(timezone.utc).replace(tzinfo=None)
    tables.require(spark, config, [EXPERIMENT_RUNS], AGGREGATE_JOB)
    runs = tables.read(spark, config, EXPERIMENT_RUNS)
    params = DoeParams.from_config(config, {f.name: f.dataType.typeName() for f in runs.schema.fields})
    if experiments:
        runs = runs.where(F.col("experiment_id").isin(*experiments))
    per_exp = {r[0]: int(r[1]) for r in runs.groupBy("experiment_id").count().collect()}
    if not per_exp:
        which = f" of experiment(s) {', '.join(experiments)}" if experiments else ""
        raise MissingInputError(f"no runs{which} in {EXPERIMENT_RUNS.qualified} under {config['lakehouse']['root']}; "
                                f"it is filled by {AGGREGATE_JOB} from silver: ingest, then run "
                                f"`toollife submit {AGGREGATE_JOB}` first")
    ensure_tables(spark, config, params)
    n_rows = sum(per_exp.values())
    exps = sorted(per_exp)
    with arrow_batch_size(spark, int(config["doe"]["combinations_per_batch"])):
        replace_experiments(compute_effects(runs, params, computed_at), config, EFFECTS, exps)
        replace_experiments(compute_optimal(runs, params, computed_at), config, OPTIMAL, exps)
    opt = tables.read(spark, config, OPTIMAL).where(F.col("experiment_id").isin(*exps))
    counts = {(r[0], r[1]): int(r[2]) for r in opt.groupBy("status", "skip_reason").count().collect()}
    reasons = {reason: n for (status, reason), n in sorted(counts.items(), key=lambda kv: -kv[1])
               if status == "skipped"}
    no_taylor = opt.where(F.col("taylor_note").isNotNull() & (F.col("status") == "ok")).count()
    eff = tables.read(spark, config, EFFECTS).where(F.col("experiment_id").isin(*exps) & (F.col("fit") == CENSORED_FIT))
    censored = {bool(r[0]): int(r[1]) for r in eff.groupBy(*GROUP_COLS).agg(
        F.max(F.col("method") == "censored_mle").alias("fitted")).groupBy("fitted").count().collect()}
    return {"experiments": exps, "rows_in": n_rows, "factors": list(params.factors),
            "combinations_censored_fit": censored.get(True, 0),
            "combinations_censored_not_identifiable": censored.get(False, 0),
            "combinations_without_taylor": no_taylor,
            "combinations_ok": sum(n for (status, _), n in counts.items() if status == "ok"),
            "combinations_incomplete": sum(n for (status, _), n in counts.items() if status == INCOMPLETE),
            "combinations_skipped": sum(reasons.values()), "skip_reasons": reasons}
