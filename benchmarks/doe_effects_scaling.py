"""DOE effects at scale: the Spark job's vectorised map over batches of combinations vs single-process pandas.

    .venv/bin/python -m benchmarks.doe_effects_scaling [--combos 20000 200000] [--sample-groups 2000]

For each size N (machine x tool combinations of a replicated 2^4 design, 32 runs each):

1. synthetic gold.experiment_runs rows with known effects on ln T are generated in Spark and
   written to a Delta table first (not timed);
2. **spark_effects**: the job's effects transform (``doe_effects.compute_effects``) from that table
   to gold.doe_effects (Delta, replaceWhere on the experiment) -- end to end, write included;
   **spark_effects_noop**: the same transform into the ``noop`` sink (all results materialised,
   no Delta write); **spark_job**: the whole job (``doe_effects.run``: effects + optimal settings
   with the Taylor fit and cost optimum, both tables written);
3. **pandas_vectorised**: ``toollife.doe.analyze_factorial_groups`` on the whole pandas frame
   (one process, the frame already in memory: the goal's baseline); **pandas_vectorised_io**:
   the same with the rows read from Parquet and the effects written to Parquet, like the job;
4. **pandas_groupby_apply**: ``groupby(...).apply(analyze_factorial)`` timed on a sample of
   ``--sample-groups`` combinations and extrapolated linearly to N (said so in the output);
5. with ``--floor``, at the largest N, the parts no Spark design of the job can avoid, each alone:
   reading the columns the maths needs (into ``noop``) and the Delta write of the effect rows
   (already computed and cached in memory: Delta minus ``noop`` from the same cache). With the
   maths costing at least what pandas spends, the best any Spark job could do on this machine is
   (read + write + pandas CPU) / cores; that bound is printed as a ratio against pandas.

Spark effects (both sinks) and vectorised pandas are each timed ``--repeat`` times (default 3)
and the medians reported. Wall times decide the goals; CPU seconds (JVM + Python workers for
Spark, from /proc) are printed next to them because they swing less with other load.

Prints a table of seconds and the ratios against the goals: Spark effects <= 2x vectorised pandas
at the largest N, >= 10x faster than groupby.apply, linear growth (time ratio vs size ratio).
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

FACTORS = ["cutting_speed", "feed", "depth_of_cut", "coolant"]
EFFECTS = {"cutting_speed": -2.0, "feed": -1.6, "depth_of_cut": -0.6, "coolant": 0.4}   # on ln T
LEVELS = {"cutting_speed": (180.0, 300.0), "feed": (0.15, 0.30), "depth_of_cut": (1.0, 3.0)}
RUNS_PER_COMBO = 32            # 2^4 x 2 replicates
TOOLS_PER_MACHINE = 20


def bench_config(root: Path):
    from toollife.config import load_config

    return load_config("local", overrides={
        "lakehouse": {"root": str(root / "tables"), "checkpoint_root": str(root / "checkpoints")},
        "spark": {"app_name": "bench-doe-effects",
                  "extra_conf": {"spark.ui.enabled": "false", "spark.driver.memory": "4g"}},
        "doe": {"factors": FACTORS},
    })


def synthetic_runs(spark, n_combos: int, experiment_id: str, seed: int = 42):
    """gold.experiment_runs-like rows: N combos x 32 runs, main effects EFFECTS/2 per coded unit."""
    from pyspark.sql import functions as F

    df = spark.range(n_combos * RUNS_PER_COMBO, numPartitions=4)
    combo = (F.col("id") / RUNS_PER_COMBO).cast("long")
    point = F.col("id") % 16
    cols = [
        F.lit(experiment_id).alias("experiment_id"),
        F.format_string("M%05d", (combo / TOOLS_PER_MACHINE).cast("long")).alias("machine_id"),
        F.format_string("T%02d", combo % TOOLS_PER_MACHINE).alias("tool_id"),
        (F.col("id") % RUNS_PER_COMBO + 1).alias("run_id"),
        F.lit("completed").alias("status"),
        F.array(*[F.lit(f) for f in FACTORS]).alias("design_factors"),
    ]
    coded = {f: F.when(F.shiftright(point, j).bitwiseAND(1) == 1, F.lit(1.0)).otherwise(F.lit(-1.0))
             for j, f in enumerate(FACTORS)}
    ln_t = F.lit(3.0) + (F.hash(combo) % 100) / F.lit(1000.0) + F.lit(0.1) * F.randn(seed)
    for f in FACTORS:
        ln_t = ln_t + F.lit(EFFECTS[f] / 2.0) * coded[f]
        cols.append(coded[f].alias(f"coded_{f}"))
    for f, (lo, hi) in LEVELS.items():
        cols.append(F.when(coded[f] > 0, F.lit(hi)).otherwise(F.lit(lo)).alias(f))
    cols.append(F.when(coded["coolant"] > 0, F.lit("flood")).otherwise(F.lit("dry")).alias("coolant"))
    cols.append(F.exp(ln_t).alias("tool_life_min"))
    return df.select(*cols)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def timed_spark(spark, fn):
    """(wall seconds, CPU seconds of the JVM + Python workers) of ``fn``."""
    from benchmarks.cputime import spark_cpu_seconds

    before = spark_cpu_seconds(spark)
    wall, _ = timed(fn)
    after = spark_cpu_seconds(spark)
    return wall, (after - before) if before is not None and after is not None else float("nan")


def median_of(repeat: int, measure) -> tuple[float, float]:
    """Median wall and median CPU seconds of ``repeat`` calls of ``measure`` (-> (wall, cpu)):
    one run swings by +-15 % on a shared 2-core machine."""
    import statistics

    walls, cpus = zip(*[measure() for _ in range(max(1, repeat))])
    return statistics.median(walls), statistics.median(cpus)


def floor_parts(spark, config, runs, params, now, exp: str, repeat: int) -> dict:
    """CPU seconds of the unavoidable parts alone: the read of the needed columns and the Delta
    write of the finished effect rows (Delta sink minus noop sink, both from one in-memory cache)."""
    from toollife.gold import doe_effects as de

    needed = runs.select(*de.GROUP_COLS, "status", *[f"coded_{f}" for f in params.factors], de.LIFE)
    _, read_cpu = median_of(repeat, lambda: timed_spark(
        spark, lambda: needed.write.format("noop").mode("overwrite").save()))
    with de.arrow_batch_size(spark, int(config["doe"]["combinations_per_batch"])):
        effects = de.compute_effects(runs, params, now).cache()
        effects.count()
    try:
        _, cached_cpu = median_of(repeat, lambda: timed_spark(
            spark, lambda: effects.write.format("noop").mode("overwrite").save()))
        _, delta_cpu = median_of(repeat, lambda: timed_spark(
            spark, lambda: de.replace_experiments(effects, config, de.EFFECTS, [exp])))
    finally:
        effects.unpersist()
    return {"floor_read_cpu": read_cpu, "floor_write_cpu": delta_cpu - cached_cpu}


def run_size(spark, config, n: int, sample_groups: int, root: Path, repeat: int = 1, floor: bool = False) -> dict:
    import pandas as pd

    from toollife import tables
    from toollife.doe import analyze_factorial, analyze_factorial_groups
    from toollife.gold import doe_effects as de
    from toollife.gold.experiment_runs import EXPERIMENT_RUNS

    exp = f"BENCH-{n}"
    tables.overwrite(synthetic_runs(spark, n, exp), config, EXPERIMENT_RUNS, partition_by=["experiment_id"])
    runs = tables.read(spark, config, EXPERIMENT_RUNS).where(f"experiment_id = '{exp}'")
    pandas_input = str(root / f"pandas_input_{n}")      # the same rows for pandas, read without Spark
    runs.select("experiment_id", "machine_id", "tool_id", *[f"coded_{f}" for f in FACTORS],
                "tool_life_min").write.mode("overwrite").parquet(pandas_input)
    rows = n * RUNS_PER_COMBO
    params = de.DoeParams.from_config(config)
    de.ensure_tables(spark, config, params)
    batch = int(config["doe"]["combinations_per_batch"])
    now = datetime(2026, 1, 1)
    out = {"combos": n, "rows": rows, "combos_per_batch": batch}

    def effects_delta():
        with de.arrow_batch_size(spark, batch):
            de.replace_experiments(de.compute_effects(runs, params, now), config, de.EFFECTS, [exp])

    def effects_noop():
        with de.arrow_batch_size(spark, batch):
            de.compute_effects(runs, params, now).write.format("noop").mode("overwrite").save()

    out["repeat"] = repeat
    out["spark_effects_noop"], out["spark_effects_noop_cpu"] = median_of(repeat, lambda: timed_spark(spark, effects_noop))
    out["spark_effects"], out["spark_effects_cpu"] = median_of(repeat, lambda: timed_spark(spark, effects_delta))
    out["spark_job"], metrics = timed(lambda: de.run(spark, config, experiments=[exp], computed_at=now))
    n_effect_rows = tables.read(spark, config, de.EFFECTS).where(f"experiment_id = '{exp}'").count()
    assert n_effect_rows == n * 15, n_effect_rows
    assert metrics["combinations_ok"] == n, metrics
    if floor:
        out.update(floor_parts(spark, config, runs, params, now, exp, repeat))

    def load():
        frame = pd.read_parquet(pandas_input)
        frame.columns = [c.removeprefix("coded_") for c in frame.columns]
        return frame

    def analyse(frame):
        return analyze_factorial_groups(frame, ["experiment_id", "machine_id", "tool_id"], FACTORS, "tool_life_min",
                                        log_response=True)

    def timed_cpu(fn):
        """(wall, CPU seconds of this process) of ``fn``."""
        cpu0 = time.process_time()
        wall, _ = timed(fn)
        return wall, time.process_time() - cpu0

    def vectorised():
        assert len(analyse(pdf)) == n * 15

    def vectorised_with_io():      # like for like with the Spark job: Parquet in, Parquet out
        analyse(load()).to_parquet(root / f"pandas_effects_{n}.parquet")

    pdf = load()                   # the goal's baseline: the same rows, in memory before the clock starts
    out["pandas_vectorised"], out["pandas_vectorised_cpu"] = median_of(repeat, lambda: timed_cpu(vectorised))
    out["pandas_vectorised_io"], out["pandas_vectorised_io_cpu"] = median_of(repeat, lambda: timed_cpu(vectorised_with_io))
    keys = pdf[["machine_id", "tool_id"]].drop_duplicates().head(sample_groups)
    sample = pdf.merge(keys)
    t_sample, _ = timed(lambda: sample.groupby(["experiment_id", "machine_id", "tool_id"]).apply(
        lambda g: analyze_factorial(g, FACTORS, "tool_life_min", log_response=True), include_groups=False))
    assert len(keys) == min(sample_groups, n)
    out["groupby_apply_sample_groups"] = len(keys)
    out["groupby_apply_sample_s"] = t_sample
    out["pandas_groupby_apply"] = t_sample * n / len(keys)
    del pdf, sample
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--combos", type=int, nargs="+", default=[20000, 200000])
    parser.add_argument("--sample-groups", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="time Spark effects and vectorised pandas this many times each; report the medians")
    parser.add_argument("--warmup", type=int, default=2000, help="combos of an untimed warm-up run (0: none)")
    parser.add_argument("--floor", action="store_true",
                        help="at the largest N, also time the read and the Delta write alone (the lower bound)")
    parser.add_argument("--keep", action="store_true", help="keep the temp lakehouse")
    args = parser.parse_args(argv)

    from toollife.session import get_spark

    root = Path(tempfile.mkdtemp(prefix="bench-doe-"))
    config = bench_config(root)
    spark = get_spark(config)
    spark_cores = spark.sparkContext.defaultParallelism
    print(f"spark {spark.version}, master {spark.sparkContext.master}, "
          f"default parallelism {spark_cores}, lakehouse {root}", flush=True)
    results = []
    try:
        if args.warmup:
            run_size(spark, config, args.warmup, min(args.sample_groups, args.warmup), root)   # JIT, Python workers
        for n in args.combos:
            r = run_size(spark, config, n, args.sample_groups, root, args.repeat,
                         floor=args.floor and n == max(args.combos))
            results.append(r)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}), flush=True)
    finally:
        spark.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print()
    print(f"{'combos':>8} {'rows':>9} {'spark eff':>10} {'eff noop':>9} {'spark job':>10} "
          f"{'pd vector':>10} {'pd groupby.apply*':>18} {'spark/vec':>9} {'apply/spark':>11}")
    for r in results:
        print(f"{r['combos']:>8} {r['rows']:>9} {r['spark_effects']:>10.2f} "
              f"{r['spark_effects_noop']:>9.2f} {r['spark_job']:>10.2f} {r['pandas_vectorised']:>10.2f} "
              f"{r['pandas_groupby_apply']:>18.1f} {r['spark_effects'] / r['pandas_vectorised']:>9.2f} "
              f"{r['pandas_groupby_apply'] / r['spark_effects']:>11.1f}")
    print(f"CPU seconds at {results[-1]['combos']}: spark effects {results[-1]['spark_effects_cpu']:.1f} "
          f"(noop sink {results[-1]['spark_effects_noop_cpu']:.1f}, JVM + Python workers, 2 cores), "
          f"pandas vectorised {results[-1]['pandas_vectorised_cpu']:.1f} (one core)")
    print(f"* groupby.apply timed on {results[0]['groupby_apply_sample_groups']} combinations per size and "
          "extrapolated linearly to all combinations")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        size = b["combos"] / a["combos"]
        print(f"growth {a['combos']} -> {b['combos']} (x{size:g}): spark effects x{b['spark_effects'] / a['spark_effects']:.2f}, "
              f"effects noop x{b['spark_effects_noop'] / a['spark_effects_noop']:.2f}, "
              f"spark job x{b['spark_job'] / a['spark_job']:.2f}, pandas vectorised "
              f"x{b['pandas_vectorised'] / a['pandas_vectorised']:.2f}")
    big = results[-1]
    print(f"like for like at {big['combos']} (pandas also reads the rows from Parquet and writes its effects "
          f"to Parquet): {big['pandas_vectorised_io']:.2f} s; spark effects / that = "
          f"{big['spark_effects'] / big['pandas_vectorised_io']:.2f}")
    print(f"goals at {big['combos']}: spark effects / vectorised pandas = "
          f"{big['spark_effects'] / big['pandas_vectorised']:.2f} (goal <= 2; noop sink "
          f"{big['spark_effects_noop'] / big['pandas_vectorised']:.2f}); groupby.apply / spark effects = "
          f"{big['pandas_groupby_apply'] / big['spark_effects']:.1f} (goal >= 10)")
    if "floor_read_cpu" in big:
        bound = (big["floor_read_cpu"] + big["floor_write_cpu"] + big["pandas_vectorised_cpu"]) / spark_cores
        print(f"lower bound at {big['combos']}: read {big['floor_read_cpu']:.1f} + Delta write "
              f"{big['floor_write_cpu']:.1f} + the maths at pandas' {big['pandas_vectorised_cpu']:.1f} CPU-s, "
              f"on {spark_cores} cores = {bound:.2f} s wall at best; / vectorised pandas = "
              f"{bound / big['pandas_vectorised']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
