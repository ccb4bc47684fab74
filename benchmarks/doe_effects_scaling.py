"""DOE effects at scale: the Spark job's vectorised map over batches of combinations vs single-process pandas.

    .venv/bin/python -m benchmarks.doe_effects_scaling [--combos 20000 200000] [--sample-groups 2000]
    .venv/bin/python -m benchmarks.doe_effects_scaling --combos 200000 2000000   # Spark only above 200k

For each size N (machine x tool combinations of a replicated 2^4 design, 32 runs each):

1. synthetic gold.experiment_runs rows with known effects on ln T are generated in Spark and
   written to a Delta table first (not timed);
2. **spark_effects**: the job's effects transform (``doe_effects.compute_effects``) from that table
   to gold.doe_effects (Delta, replaceWhere on the experiment) -- end to end, write included;
   **spark_effects_noop**: the same transform into the ``noop`` sink (all results materialised,
   no Delta write); **spark_job**: the whole job (``doe_effects.run``: effects + optimal settings
   with the Taylor fit and cost optimum, both tables written); while these run, the peak memory
   of the driver JVM and of its Python workers is recorded (:class:`benchmarks.cputime.PeakMemory`:
   the kernel's VmHWM of each process; plus the most the JVM heap held after a GC);
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

Steps 3 and 4 (and the Parquet copy for pandas) run only up to ``--spark-only-above`` combinations
(default 200,000): beyond that single-process pandas is not the question, the Spark job's scaling
is. For every size the CPU seconds per combination of each Spark measure are printed, with their
ratio to the first size (issue 13: 2M combinations within 1.3x of the 200k figure).

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


class HeapPeak:
    """The driver JVM's heap while a block runs: ``after_gc_mb``, the most it held right after a
    collection (the heap pools' use after the latest GC, sampled every ``interval`` s: what the
    work really kept alive), and ``max_mb``, its limit (spark.driver.memory). The heap's plain
    peak says little: G1 lets the young generation fill whatever the limit allows before it
    collects, so it sits at the limit whatever the job needs."""

    def __init__(self, spark, interval: float = 1.0):
        jvm = spark.sparkContext._jvm
        self.pools = [p for p in jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
                      if p.getType().name() == "HEAP"]
        self.max_mb = jvm.java.lang.Runtime.getRuntime().maxMemory() / 2 ** 20
        self.interval = interval
        self.after_gc_mb = 0.0

    def _sample(self) -> None:
        used = [p.getCollectionUsage() for p in self.pools]
        self.after_gc_mb = max(self.after_gc_mb, sum(u.getUsed() for u in used if u is not None) / 2 ** 20)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "HeapPeak":
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heap-after-gc", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self._stop.set()
        self._thread.join()
        self._sample()
        return False


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


def run_size(spark, config, n: int, sample_groups: int, root: Path, repeat: int = 1, floor: bool = False,
             with_pandas: bool = True) -> dict:
    import pandas as pd

    from benchmarks.cputime import PeakMemory
    from toollife.lakehouse import tables
    from toollife.doe import analyze_factorial, analyze_factorial_groups
    from toollife.gold import doe_effects as de
    from toollife.gold.experiment_runs import EXPERIMENT_RUNS

    exp = f"BENCH-{n}"
    rows = n * RUNS_PER_COMBO
    batch = int(config["doe"]["combinations_per_batch"])
    out = {"combos": n, "rows": rows, "combos_per_batch": batch}
    # the input is not the job's work, but its cost and memory are shown: at 64M rows it is the
    # largest single step of the benchmark
    with PeakMemory.of_spark(spark) as gen_mem:
        out["generate"], out["generate_cpu"] = timed_spark(spark, lambda: tables.overwrite(
            synthetic_runs(spark, n, exp), config, EXPERIMENT_RUNS, partition_by=["experiment_id"]))
    out["generate_mem_jvm_mb"] = gen_mem.result()["jvm"]
    runs = tables.read(spark, config, EXPERIMENT_RUNS).where(f"experiment_id = '{exp}'")
    pandas_input = str(root / f"pandas_input_{n}")      # the same rows for pandas, read without Spark
    if with_pandas:
        runs.select("experiment_id", "machine_id", "tool_id", *[f"coded_{f}" for f in FACTORS],
                    "tool_life_min").write.mode("overwrite").parquet(pandas_input)
    params = de.DoeParams.from_config(config)
    de.ensure_tables(spark, config, params)
    now = datetime(2026, 1, 1)

    def effects_delta():
        with de.arrow_batch_size(spark, batch):
            de.replace_experiments(de.compute_effects(runs, params, now), config, de.EFFECTS, [exp])

    def effects_noop():
        with de.arrow_batch_size(spark, batch):
            de.compute_effects(runs, params, now).write.format("noop").mode("overwrite").save()

    metrics = {}

    def job():
        metrics.update(de.run(spark, config, experiments=[exp], computed_at=now))

    out["repeat"] = repeat
    with PeakMemory.of_spark(spark) as mem, HeapPeak(spark) as heap:
        out["spark_effects_noop"], out["spark_effects_noop_cpu"] = median_of(repeat, lambda: timed_spark(spark, effects_noop))
        out["spark_effects"], out["spark_effects_cpu"] = median_of(repeat, lambda: timed_spark(spark, effects_delta))
        out["spark_job"], out["spark_job_cpu"] = timed_spark(spark, job)
    peaks = mem.result()
    out["mem_jvm_mb"], out["mem_jvm_heap_mb"], out["mem_jvm_heap_max_mb"] = peaks["jvm"], heap.after_gc_mb, heap.max_mb
    out["mem_python_worker_mb"], out["mem_python_workers_sum_mb"] = peaks["python_worker"], peaks["python_workers_sum"]
    out["python_processes"] = peaks["python_processes"]
    n_effect_rows = tables.read(spark, config, de.EFFECTS).where(f"experiment_id = '{exp}'").count()
    assert n_effect_rows == n * 15, n_effect_rows
    assert metrics["combinations_ok"] == n, metrics
    if floor:
        out.update(floor_parts(spark, config, runs, params, now, exp, repeat))
    if not with_pandas:
        return out

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
    parser.add_argument("--spark-only-above", type=int, default=200000, metavar="N",
                        help="sizes above N combinations time Spark only (no pandas baselines)")
    parser.add_argument("--floor", action="store_true",
                        help="at the largest N with pandas, also time the read and the Delta write alone "
                             "(the lower bound)")
    parser.add_argument("--keep", action="store_true", help="keep the temp lakehouse")
    args = parser.parse_args(argv)

    from toollife.runtime.session import get_spark

    root = Path(tempfile.mkdtemp(prefix="bench-doe-"))
    config = bench_config(root)
    spark = get_spark(config)
    spark_cores = spark.sparkContext.defaultParallelism
    print(f"spark {spark.version}, master {spark.sparkContext.master}, "
          f"default parallelism {spark_cores}, lakehouse {root}", flush=True)
    with_pandas = [n for n in args.combos if n <= args.spark_only_above]
    results = []
    try:
        if args.warmup:
            run_size(spark, config, args.warmup, min(args.sample_groups, args.warmup), root)   # JIT, Python workers
        for n in args.combos:
            r = run_size(spark, config, n, args.sample_groups, root, args.repeat,
                         floor=args.floor and bool(with_pandas) and n == max(with_pandas),
                         with_pandas=n <= args.spark_only_above)
            results.append(r)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}), flush=True)
    finally:
        spark.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    report(results, spark_cores)
    return 0


def report(results: list[dict], spark_cores: int) -> None:
    print()
    print(f"{'combos':>8} {'rows':>9} {'spark eff':>10} {'eff noop':>9} {'spark job':>10} "
          f"{'pd vector':>10} {'pd groupby.apply*':>18} {'spark/vec':>9} {'apply/spark':>11}")
    for r in results:
        pandas = "pandas_vectorised" in r
        print(f"{r['combos']:>8} {r['rows']:>9} {r['spark_effects']:>10.2f} "
              f"{r['spark_effects_noop']:>9.2f} {r['spark_job']:>10.2f} "
              + (f"{r['pandas_vectorised']:>10.2f} {r['pandas_groupby_apply']:>18.1f} "
                 f"{r['spark_effects'] / r['pandas_vectorised']:>9.2f} "
                 f"{r['pandas_groupby_apply'] / r['spark_effects']:>11.1f}" if pandas else
                 f"{'-':>10} {'-':>18} {'-':>9} {'-':>11}"))
    print("(wall seconds, medians; '-': Spark only at this size)")

    # CPU per combination: steadier than wall time on a shared machine; the scaling goal
    measures = [("spark_effects_cpu", "effects, Delta"), ("spark_effects_noop_cpu", "effects, noop"),
                ("spark_job_cpu", "whole job")]
    base = results[0]
    print()
    print(f"CPU seconds (JVM + Python workers, {spark_cores} cores) per combination, in microseconds; "
          f"x = ratio to {base['combos']} combinations")
    print(f"{'combos':>8} " + " ".join(f"{label:>22}" for _, label in measures)
          + f" {'generate input':>15} {'JVM peak MB':>12} {'heap afterGC MB':>16} {'py worker MB':>13} {'py sum MB':>10}")
    for r in results:
        cells = []
        for key, _ in measures:
            us, us0 = r[key] / r["combos"] * 1e6, base[key] / base["combos"] * 1e6
            cells.append(f"{us:>12.1f} (x{us / us0:.2f})")
        print(f"{r['combos']:>8} " + " ".join(f"{c:>22}" for c in cells)
              + f" {r['generate_cpu'] / r['combos'] * 1e6:>15.1f} {r['mem_jvm_mb']:>12.0f} "
              f"{r['mem_jvm_heap_mb']:>16.0f} {r['mem_python_worker_mb']:>13.0f} {r['mem_python_workers_sum_mb']:>10.0f}")
    print(f"peak memory while the Spark measures ran: the driver JVM's VmHWM (heap limit "
          f"{base['mem_jvm_heap_max_mb']:.0f} MB; heap after GC: the most it held right after a collection), "
          "the largest VmHWM "
          "of one Python worker and the largest sum of their RSS at one time")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        print(f"goal: CPU per combination at {b['combos']} / at {a['combos']}: effects (Delta) "
              f"x{(b['spark_effects_cpu'] / b['combos']) / (a['spark_effects_cpu'] / a['combos']):.2f}, whole job "
              f"x{(b['spark_job_cpu'] / b['combos']) / (a['spark_job_cpu'] / a['combos']):.2f} (goal <= 1.3)")

    with_pandas = [r for r in results if "pandas_vectorised" in r]
    if not with_pandas:
        return
    print(f"* groupby.apply timed on {with_pandas[0]['groupby_apply_sample_groups']} combinations per size and "
          "extrapolated linearly to all combinations")
    big = with_pandas[-1]
    print(f"CPU seconds at {big['combos']}: spark effects {big['spark_effects_cpu']:.1f} "
          f"(noop sink {big['spark_effects_noop_cpu']:.1f}, JVM + Python workers, {spark_cores} cores), "
          f"pandas vectorised {big['pandas_vectorised_cpu']:.1f} (one core)")
    if len(with_pandas) >= 2:
        a = with_pandas[0]
        size = big["combos"] / a["combos"]
        print(f"growth {a['combos']} -> {big['combos']} (x{size:g}): spark effects "
              f"x{big['spark_effects'] / a['spark_effects']:.2f}, "
              f"effects noop x{big['spark_effects_noop'] / a['spark_effects_noop']:.2f}, "
              f"spark job x{big['spark_job'] / a['spark_job']:.2f}, pandas vectorised "
              f"x{big['pandas_vectorised'] / a['pandas_vectorised']:.2f}")
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


if __name__ == "__main__":
    sys.exit(main())
