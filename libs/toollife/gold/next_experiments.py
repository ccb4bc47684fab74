"""gold.doe_next_experiments and gold.doe_follow_up: the job (issue 14, part 2).

What is planned and why: :mod:`toollife.gold.next_plan`. Spark wiring like gold.doe_effects: each
lineage x machine x tool is gathered into one row in the JVM (its runs as an array of structs) and
``mapInArrow`` hands Arrow batches of them to :func:`toollife.gold.next_plan.next_experiments_frame`,
which loops over the combinations (``recommend_next`` is per combination: ~10-20 ms per call, one
call per generation of the lineage). Both tables are MERGEd by key
(:func:`toollife.gold.writes.merge_experiments`): a rerun on the same runs changes nothing.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from toollife.gold.arrow_batches import to_arrow, unpack_runs
from toollife.gold.next_coding import COMPLETED, KEY, LIFE, NextParams
from toollife.gold.next_plan import FOLLOW_UP_COLUMNS, lineages, next_experiments_frame, output_columns
from toollife.gold.writes import merge_experiments
from toollife.lakehouse.tables import Table

NEXT = Table("gold", "doe_next_experiments")
FOLLOW_UP = Table("gold", "doe_follow_up")


# --------------------------------------------------------------------------- schemas
def _types():
    from pyspark.sql.types import DoubleType, LongType, StringType

    return {"s": StringType(), "d": DoubleType(), "l": LongType()}

def _udf_schema(params: NextParams):
    from pyspark.sql.types import StructField, StructType

    t = _types()
    return StructType([StructField(n, t[k], n not in KEY) for n, k in output_columns(params)])

def next_schema(params: NextParams):
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    fields = [f for f in _udf_schema(params).fields if not f.name.startswith("fu_")]
    return StructType(fields + [StructField("row_hash", StringType(), False),
                                StructField("recommended_at", TimestampType(), False)])

def follow_up_schema(params: NextParams):
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    t = _types()
    fields = [StructField(c, StringType(), False) for c in KEY] + [
        StructField("parent_experiment_id", StringType(), False), StructField("response", StringType())]
    fields += [StructField(c, t[k]) for c, k in FOLLOW_UP_COLUMNS]
    return StructType(fields + [StructField("row_hash", StringType(), False),
                                StructField("computed_at", TimestampType(), False)])


# --------------------------------------------------------------------------- Spark wiring
def lineage_runs(spark, runs, config: Mapping[str, Any], params: NextParams, experiments=None):
    """gold.experiment_runs -> one row per lineage x machine x tool: keys (experiment_id = the
    lineage's last experiment), root/parent and the runs of the whole lineage as an array of
    structs (``_gen`` = generation, natural and coded levels, completed flag, life)."""
    from pyspark.sql import functions as F

    from toollife.simulation import manifest as mf

    exps = [r[0] for r in runs.select("experiment_id").distinct().collect()]
    try:
        links = mf.parents(spark, config)
    except Exception:  # noqa: BLE001 - no meta table readable: the naming convention still links
        links = {}
    lin = lineages(exps, links)
    wanted = sorted(lin) if not experiments else [e for e in sorted(lin) if e in set(experiments)]
    members = [(e, m, i, lin[e][0], lin[e][-2] if len(lin[e]) > 1 else None)
               for e in wanted for i, m in enumerate(lin[e])]
    if not members:
        return None, wanted, lin
    mdf = spark.createDataFrame(members, "family string, member string, _gen int, root_experiment_id string, "
                                         "parent_experiment_id string")
    from toollife.gold.doe_effects import life_column

    fields = [F.col("_gen"), F.coalesce(F.col("status") == "completed", F.lit(False)).alias(COMPLETED),
              life_column(runs).alias(LIFE), *[F.col(f) for f in params.factors], *[F.col(f"coded_{f}") for f in params.factors]]
    joined = runs.join(F.broadcast(mdf), runs["experiment_id"] == mdf["member"])
    gathered = (joined.select(F.col("family").alias("experiment_id"), "machine_id", "tool_id", "root_experiment_id",
                              "parent_experiment_id", F.struct(*fields).alias("_runs"))
                .groupBy("experiment_id", "machine_id", "tool_id")
                .agg(F.first("root_experiment_id").alias("root_experiment_id"),
                     F.first("parent_experiment_id").alias("parent_experiment_id"),
                     F.collect_list("_runs").alias("_runs")))
    return gathered, wanted, lin

def udf(params: NextParams):
    """mapInArrow function: batches of lineage x machine x tool rows -> their plan rows."""
    schema = _udf_schema(params)

    def fn(batches):
        for batch in batches:
            if batch.num_rows == 0:
                continue
            gid, keys, frame = unpack_runs(batch, "_runs", KEY,
                                           per_combination=("root_experiment_id", "parent_experiment_id"))
            res = next_experiments_frame(frame, params, (gid, None))
            yield from to_arrow(res, keys, schema).to_batches()
    return fn

def compute(spark, runs, config, params: NextParams, experiments=None):
    """(lazy DataFrame of UDF rows, planned experiments, lineages)."""
    gathered, wanted, lin = lineage_runs(spark, runs, config, params, experiments)
    if gathered is None:
        return None, wanted, lin
    return gathered.mapInArrow(udf(params), _udf_schema(params)), wanted, lin

def _with_hash(df, columns, stamp_name, stamp):
    from pyspark.sql import functions as F

    content = [c for c in columns]
    return (df.withColumn("row_hash", F.sha2(F.to_json(F.struct(*content)), 256))
            .withColumn(stamp_name, F.lit(stamp)))

def run(spark, config: Mapping[str, Any], *, experiments: Sequence[str] | None = None, now=None) -> dict[str, Any]:
    """gold.experiment_runs (+ meta.simulation_runs lineage) -> gold.doe_next_experiments and
    gold.doe_follow_up. Re-running on the same runs leaves both tables unchanged.
    Raises :class:`toollife.errors.MissingInputError` when gold.experiment_runs does not exist."""
    from datetime import datetime, timezone

    from pyspark.sql import functions as F

    from toollife.lakehouse import tables
    from toollife.gold.experiment_runs import AGGREGATE_JOB, EXPERIMENT_RUNS

    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    tables.require(spark, config, [EXPERIMENT_RUNS], AGGREGATE_JOB)     # exit 3 with the job to run, as the others
    runs = tables.read(spark, config, EXPERIMENT_RUNS)
    params = NextParams.from_config(config, {f.name: f.dataType.typeName() for f in runs.schema.fields})
    out, wanted, lin = compute(spark, runs, config, params, experiments)
    next_s, fu_s = next_schema(params), follow_up_schema(params)
    if out is None:
        tables.create_if_missing(spark, config, NEXT, next_s, partition_by=["experiment_id"], comment=NEXT.qualified)
        tables.create_if_missing(spark, config, FOLLOW_UP, fu_s, partition_by=["experiment_id"],
                                 comment=FOLLOW_UP.qualified)
        return {"experiments": [], "combinations": 0}
    out = out.persist()
    try:
        plan_cols = [f.name for f in next_s.fields if f.name not in ("row_hash", "recommended_at")]
        plan = _with_hash(out.select(*plan_cols), plan_cols, "recommended_at", now)
        plan = plan.select(*[F.col(f.name).cast(f.dataType) for f in next_s.fields])
        m_next = merge_experiments(spark, config, NEXT, next_s, plan, KEY + ["run_no"], wanted)
        fu_cols = [f.name for f in fu_s.fields if f.name not in ("row_hash", "computed_at")]
        fu = out.where(F.col("parent_experiment_id").isNotNull() & F.col("fu_parent_kind").isNotNull())
        fu = fu.select(*KEY, "parent_experiment_id", "response",
                       *[F.col(f"fu_{c}").alias(c) for c, _ in FOLLOW_UP_COLUMNS])
        fu = _with_hash(fu, fu_cols, "computed_at", now).select(*[F.col(f.name).cast(f.dataType) for f in fu_s.fields])
        m_fu = merge_experiments(spark, config, FOLLOW_UP, fu_s, fu, KEY, wanted)
        kinds = {r[0]: int(r[1]) for r in out.where("run_no <= 1").groupBy("kind").count().collect()}
    finally:
        out.unpersist()
    return {"experiments": wanted, "combinations": sum(kinds.values()), "kinds": kinds,
            "lineages": {e: lin[e] for e in wanted if len(lin[e]) > 1},
            "next_experiments": m_next, "follow_up": m_fu}
