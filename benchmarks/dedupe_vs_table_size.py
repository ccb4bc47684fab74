"""Does the silver dedupe cost follow the batch or the table? (issue 13)

The silver writer's dedupe (``toollife.ingestion.silver.classify`` plus its counts and the append of
the new rows, as one micro-batch runs them) for one batch of N readings, into an empty silver and
into a silver seeded directly with Spark with M rows. The seeded rows are on the batch's own event
date, which is the worst case: the lookup reads only the batch's dates, so older days cost nothing.
A tenth of the batch re-sends seeded event_ids, so the duplicates are found too. The passes
alternate between the two tables, after a warm-up pass of each.

  python -m benchmarks.dedupe_vs_table_size [--seed-rows 10000000] [--batch-rows 100000] [--passes 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

DAY = "2026-12-01"


def silver_rows(spark, n: int, prefix: str, offset_base: int):
    """N silver-shaped readings on DAY with event_ids ``<prefix>-<i>``."""
    from pyspark.sql import functions as F

    from toollife.ingestion import schemas

    schema = schemas.SOURCES["sensor_readings"].silver_schema
    i = F.col("id")
    df = spark.range(n).select(
        F.concat(F.lit(f"{prefix}-"), i.cast("string")).alias("event_id"),
        (F.lit(f"{DAY} 00:00:00").cast("timestamp") + F.make_interval(secs=(i % 86400).cast("int"))).alias("ts"),
        F.lit(DAY).cast("date").alias("event_date"),
        F.concat(F.lit("M0"), (i % 8).cast("string")).alias("machine_id"),
        F.concat(F.lit("T0"), (i % 2).cast("string")).alias("tool_id"),
        F.lit("SIM-1").alias("experiment_id"),
        (i % 32).alias("run_id"),
        (i % 2 + 1).alias("replicate"),
        F.lit("spindle_power").alias("sensor"),
        (i % 1000 / 10.0).alias("value"),
        F.lit("kW").alias("unit"),
        F.lit("sensor-readings").alias("kafka_topic"),
        (i % 3).cast("int").alias("kafka_partition"),
        (i + offset_base).alias("kafka_offset"),
        F.current_timestamp().alias("kafka_timestamp"),
        F.current_timestamp().alias("ingest_time"),
    )
    return df.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])


def one_batch(spark, batch, silver_path: str, out_path: str) -> tuple[float, int, int]:
    """classify + counts + append of the new rows (what SilverBatchWriter does per batch), seconds."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from toollife.ingestion.silver import classify

    start = time.perf_counter()
    dates = [r.event_date for r in batch.select("event_date").distinct().collect()]
    classified = classify(batch, spark.read.format("delta").load(silver_path), dates).persist(
        StorageLevel.MEMORY_AND_DISK)
    counts = classified.agg(F.count_if(F.col("_class") == "new").alias("new"),
                            F.count_if(F.col("_class") == "duplicate").alias("dup")).first()
    classified.where(F.col("_class") == "new").drop("_class").write.format("delta").mode("overwrite").save(out_path)
    classified.unpersist()
    elapsed = time.perf_counter() - start
    return elapsed, counts.new, counts.dup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed-rows", type=int, default=10_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args(argv)

    from pyspark import StorageLevel

    from toollife.config import load_config
    from toollife.session import get_spark

    with tempfile.TemporaryDirectory(prefix="toollife-dedupe-") as scratch:
        config = load_config(overrides={"lakehouse": {"root": f"{scratch}/lakehouse",
                                                      "checkpoint_root": f"{scratch}/checkpoints"}})
        spark = get_spark(config, app_name="bench-dedupe")
        empty, seeded = f"{scratch}/silver_empty", f"{scratch}/silver_seeded"
        t0 = time.perf_counter()
        silver_rows(spark, args.seed_rows, "seed", 0).write.format("delta").partitionBy("event_date").save(seeded)
        silver_rows(spark, 0, "seed", 0).write.format("delta").partitionBy("event_date").save(empty)
        print(f"seeded silver with {args.seed_rows:,} rows in {time.perf_counter() - t0:.0f} s", flush=True)
        dups = args.batch_rows // 10
        batch = (silver_rows(spark, args.batch_rows - dups, "new", 10**12)
                 .unionByName(silver_rows(spark, dups, "seed", 2 * 10**12))
                 .persist(StorageLevel.MEMORY_ONLY))
        batch.count()
        times: dict[str, list[float]] = {"empty": [], "seeded": []}
        for n in range(args.passes + 1):                        # pass 0 warms both up
            for name, path in (("empty", empty), ("seeded", seeded))[:: 1 if n % 2 else -1]:
                elapsed, new, dup = one_batch(spark, batch, path, f"{scratch}/out_{name}")
                print(f"  pass {n} {name:6s} {elapsed:5.1f} s  new {new:,} duplicates {dup:,}", flush=True)
                if n:
                    times[name].append(elapsed)
        e, s = statistics.median(times["empty"]), statistics.median(times["seeded"])
        print(f"dedupe of a {args.batch_rows:,}-row batch, median of {args.passes}: {s:.1f} s into silver with "
              f"{args.seed_rows:,} rows on its date vs {e:.1f} s into an empty silver (ratio {s / e:.2f}, goal <= 1.3)")
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
