"""The silver writer's validate phase alone: the fast path against the exact rule engine and a plain
``from_json``, warm and in a fresh JVM.

    .venv/bin/python -m benchmarks.validate_paths [--rows 1000000] [--passes 4] [--cold]

Builds N valid contract-v1 sensor readings (those of ``benchmarks.ingest_vs_noop``) as bronze-shaped
rows in memory (cached), then runs what ``SilverBatchWriter`` does before it writes anything:
``validate.parse`` cached as the writer caches it (uncompressed), ``validate.finish`` over that
cache, and the writer's head aggregate (row, valid and late counts, max ts). Variants: ``from_json``
(one strict parse into the silver types, cached and counted: the floor any validation pays),
``exact`` (``ingestion.silver.fast_path=false``) and ``fast``.

Warm: in one session the variants alternate, ``--passes`` times each; the median of passes 2.. is
reported, wall and CPU seconds (the JVM and its children, from /proc: steadier than wall time on a
shared machine). ``--cold``: each variant also runs first thing in a fresh JVM of its own (after the
rows are built and cached, as a new spark-submit would have read its batch), reporting its first
pass against its own warm passes, and what the JVM generated (Spark's ``CodegenMetrics``: methods,
the largest one's bytecode, how many exceed HotSpot's 8,000-byte JIT limit, Janino's compile time).
No Kafka and no Delta: only what validation costs. Ratios within one run are what count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

VARIANTS = ("from_json", "exact", "fast")


def bronze_rows(spark, n: int, start: int = 0):
    """The readings the ingest benchmark sends through Kafka, shaped like bronze rows (what the silver
    writer reads of them). ``start``: the first reading's id, and added to the offsets, for batches of
    new events."""
    from pyspark.sql import functions as F

    from benchmarks.ingest_vs_noop import readings

    return readings(spark, n, start).select(
        F.col("key").cast("binary").alias("key"), F.col("value").cast("binary").alias("value"),
        F.lit("bench").alias("topic"), F.lit(0).alias("partition"),
        (F.monotonically_increasing_id() + F.lit(start)).alias("offset"),
        F.current_timestamp().alias("kafka_timestamp"), F.current_timestamp().alias("ingest_time"))


def validate_phase(rows, variant: str) -> None:
    """One validate phase of the silver writer over ``rows`` (see the module docstring)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from toollife.ingestion import validate as V

    if variant == "from_json":
        types = ", ".join(f"{n}: {'double' if n in ('run_id', 'replicate', 'value') else 'string'}"
                          for n in ["event_id", "ts", "machine_id", "tool_id", "experiment_id", "run_id",
                                    "replicate", "sensor", "value", "unit"])
        parsed = rows.select("offset", F.from_json(F.col("value").cast("string"), f"struct<{types}>").alias("r"))
        parsed.persist(StorageLevel.MEMORY_AND_DISK).count()
        parsed.unpersist()
        return
    rules = V.Rules(fast_path=variant == "fast")
    if not hasattr(V, "parse"):  # the library before parse/finish (b127ecf): its writer cached validate()
        parsed = validated = V.validate("sensor_readings", rows, rules).persist(StorageLevel.MEMORY_AND_DISK)
    else:
        parsed = V.parse("sensor_readings", rows, rules).persist(StorageLevel.MEMORY_AND_DISK)
        validated = V.finish("sensor_readings", parsed, rules, exact=V.needs_exact(parsed))
    try:
        validated.agg(
            F.count(F.lit(1)), F.count_if(F.col("reason_code").isNull()),
            F.count_if(F.col("reason_code").isNull() & (F.col("ts") < F.lit("2026-11-21").cast("timestamp"))),
            F.max(F.when(F.col("reason_code").isNull(), F.col("ts")))).first()
    finally:
        parsed.unpersist()


def codegen_metrics(spark) -> dict:
    """What Spark generated and Janino compiled in this JVM so far (its CodegenMetrics histograms)."""
    cm = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics
    sizes = list(cm.METRIC_GENERATED_METHOD_BYTECODE_SIZE().getSnapshot().getValues())
    compile_ms = cm.METRIC_COMPILATION_TIME()
    return {"methods": len(sizes), "largest_method_bytes": max(sizes, default=0),
            "methods_over_8000_bytes": sum(1 for s in sizes if s > 8000),
            "classes_compiled": compile_ms.getCount(),
            "compile_seconds": round(sum(compile_ms.getSnapshot().getValues()) / 1000, 2)}


def session(app_name: str):
    from toollife.config import load_config
    from toollife.runtime.session import get_spark

    config = load_config(overrides={"spark": {"shuffle_partitions": 2, "extra_conf": {
        "spark.ui.enabled": "false",
        # what the silver writer sets on its batch's session (silver.SilverBatchWriter)
        "spark.sql.inMemoryColumnarStorage.compressed": "false"}}})
    spark = get_spark(config, app_name=app_name)
    spark.conf.set("spark.sql.variant.allowDuplicateKeys", "true")  # as the ingestion application does
    return spark


def timed_passes(spark, rows, names: list[str], passes: int) -> dict[str, list[tuple[float, float]]]:
    """(wall s, CPU s) of every pass of every variant, the variants alternating."""
    from benchmarks.cputime import spark_cpu_seconds

    out: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for _ in range(passes):
        for name in names:
            cpu, start = spark_cpu_seconds(spark), time.perf_counter()
            validate_phase(rows, name)
            out[name].append((round(time.perf_counter() - start, 2), round(spark_cpu_seconds(spark) - cpu, 2)))
    return out


def summary(passes: list[tuple[float, float]]) -> dict:
    warm = passes[1:] or passes
    wall, cpu = statistics.median(w for w, _ in warm), statistics.median(c for _, c in warm)
    return {"first_wall_s": passes[0][0], "first_cpu_s": passes[0][1], "warm_wall_s": wall, "warm_cpu_s": cpu,
            "first_vs_warm_wall": round(passes[0][0] / wall, 2), "first_vs_warm_cpu": round(passes[0][1] / cpu, 2),
            "passes": passes}


def run(args, names: list[str], fresh: bool) -> dict:
    spark = session("bench-validate-paths")
    try:
        rows = bronze_rows(spark, args.rows).cache()
        rows.count()
        before = codegen_metrics(spark) if fresh else None
        result = {name: summary(p) for name, p in timed_passes(spark, rows, names, args.passes).items()}
        if fresh:
            after = codegen_metrics(spark)
            result["codegen"] = {**after, "methods": after["methods"] - before["methods"],
                                 "classes_compiled": after["classes_compiled"] - before["classes_compiled"]}
        return result
    finally:
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--passes", type=int, default=4)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    p.add_argument("--cold", action="store_true", help="also run each variant first thing in a fresh JVM")
    p.add_argument("--single", help=argparse.SUPPRESS)  # internal: one variant in this (fresh) JVM, JSON out
    args = p.parse_args(argv)
    if args.single:
        print("RESULT " + json.dumps(run(args, [args.single], fresh=True)))
        return 0

    import os

    names = [n for n in args.variants.split(",") if n]
    result: dict = {"rows": args.rows, "passes": args.passes, "load_before": os.getloadavg()[0]}
    result["warm"] = run(args, names, fresh=False)
    if args.cold:
        result["cold"] = {}
        for name in names:
            out = subprocess.run([sys.executable, "-m", "benchmarks.validate_paths", "--single", name,
                                  "--rows", str(args.rows), "--passes", str(args.passes)],
                                 capture_output=True, text=True, check=True).stdout
            single = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
            result["cold"][name] = {**single[name], "codegen": single["codegen"]}
    result["load_after"] = os.getloadavg()[0]
    warm = result["warm"]
    if "fast" in warm and "exact" in warm:
        result["fast_vs_exact_warm_cpu"] = round(warm["fast"]["warm_cpu_s"] / warm["exact"]["warm_cpu_s"], 3)
    if "fast" in warm and "from_json" in warm:
        result["fast_vs_from_json_warm_cpu"] = round(warm["fast"]["warm_cpu_s"] / warm["from_json"]["warm_cpu_s"], 3)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
