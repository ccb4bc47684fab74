"""Does the silver dedupe cost follow the batch or the table? (issue 13)

The silver writer's dedupe (``toollife.ingestion.silver``: the lookup bounds, ``classify``, its
counts and the append of the new rows, as one micro-batch runs them) for one batch of N readings,
into an empty silver and into a silver seeded directly with Spark with M rows, all on the batch's
own event date (the lookup never reads other dates, so this is the worst case for the date).

The seeded silver looks like what the streaming ingestion writes: ``--rows-per-file`` rows per
file, each file a stretch of event time (00:00-22:00), as successive appends leave it.
``--layout zordered`` then runs the weekly maintenance's ``OPTIMIZE ZORDER BY machine_id,
tool_id`` on it, after which every file spans the whole seeded day.

The batch: 90% new readings from the 10 minutes after the seeded ones, and 10% re-sends of seeded
readings (their event_id and ts, new Kafka coordinates), in two kinds, each timed against the same
batch into an empty silver:

* ``recent``: producer retries and replays of the last ``--replay-minutes`` (60) before the batch;
* ``spread``: re-sends spread evenly over the whole seeded day (the worst case: every file of the
  date holds some).

``--baseline`` also times the lookup as it was before issue 13 (a shuffle join with every silver
row of the batch's dates), into both tables. Runs alternate within each pass, after a warm-up
pass. The load average is printed at the start and the end: compare ratios, not seconds; the CPU
seconds (the JVM with its Python workers, and this driver) swing less with other load than wall time.

  python -m benchmarks.dedupe_vs_table_size [--seed-rows 10000000] [--batch-rows 100000] [--passes 3]
      [--rows-per-file 100000] [--layout appends|zordered] [--replay-minutes 60]
      [--lookup event_time|event_date] [--baseline]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time

DAY = "2026-12-01"
SEED_HOURS = 22          # seeded readings cover 00:00-22:00 of DAY; the batch's new ones 22:00-22:10
BATCH_MINUTES = 10


def silver_rows(spark, ids, prefix: str, offset_base: int, ts_micros):
    """Silver-shaped readings on DAY, one per id of ``ids`` (a spark.range), event_id ``<prefix>-<id>``
    and ts ``ts_micros(id)`` (microseconds after DAY 00:00)."""
    from pyspark.sql import functions as F

    from toollife.ingestion import schemas

    schema = schemas.SOURCES["sensor_readings"].silver_schema
    i = F.col("id")
    day_start = F.unix_micros(F.lit(f"{DAY} 00:00:00").cast("timestamp"))
    df = ids.select(
        F.concat(F.lit(f"{prefix}-"), i.cast("string")).alias("event_id"),
        F.timestamp_micros(day_start + ts_micros(i).cast("long")).alias("ts"),
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


def batches(spark, seed_rows: int, batch_rows: int, replay_minutes: int):
    """{kind: batch}: the same new readings plus a tenth of re-sent seeded ones, recent or spread."""
    seed_step = SEED_HOURS * 3600e6 / seed_rows            # microseconds between seeded readings
    new_rows, dups = batch_rows - batch_rows // 10, batch_rows // 10
    new = silver_rows(spark, spark.range(new_rows), "new", 10**12,
                      lambda i: SEED_HOURS * 3600e6 + i * (BATCH_MINUTES * 60e6 / new_rows))
    window = min(seed_rows, int(replay_minutes * 60e6 / seed_step))   # seeded readings in the replay window
    first = {"recent": seed_rows - window, "spread": 0}
    out = {}
    for kind, start in first.items():
        step = max(1, (seed_rows - start) // dups)
        resent = silver_rows(spark, spark.range(start, seed_rows, step).limit(dups), "seed", 2 * 10**12,
                             lambda i: i * seed_step)
        out[kind] = new.unionByName(resent)
    return out


def before_classify(valid, silver_table, dates):
    """The lookup before issue 13, the baseline: every silver row of the dates joins the batch."""
    from pyspark.sql import functions as F

    from toollife.ingestion import silver

    return silver.classify_against(valid, silver_table.where(F.col("event_date").isin(dates)))


def one_batch(spark, batch, silver_path: str, out_path: str, lookup: str) -> tuple[float, float, int, int, int]:
    """The writer's dedupe phase for one batch: (seconds, CPU seconds of the JVM, its Python workers and this
    driver, new, duplicates, silver files the lookup read)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from benchmarks.cputime import spark_cpu_seconds
    from toollife.ingestion.silver import classify, lookup_bounds, lookup_filter

    silver = spark.read.format("delta").load(silver_path)
    cpu0, py0 = spark_cpu_seconds(spark), time.process_time()
    start = time.perf_counter()
    if lookup == "before":
        dates, ranges = lookup_bounds(batch, "event_date")
        classified = before_classify(batch, silver, dates)
    else:
        dates, ranges = lookup_bounds(batch, lookup)
        classified = classify(batch, silver, dates, ranges)
    classified = classified.persist(StorageLevel.MEMORY_AND_DISK)
    counts = classified.agg(F.count_if(F.col("_class") == "new").alias("new"),
                            F.count_if(F.col("_class") == "duplicate").alias("dup")).first()
    classified.where(F.col("_class") == "new").drop("_class").write.format("delta").mode("overwrite").save(out_path)
    classified.unpersist()
    elapsed = time.perf_counter() - start
    cpu1, py1 = spark_cpu_seconds(spark), time.process_time()
    cpu = (cpu1 - cpu0 + py1 - py0) if cpu0 is not None and cpu1 is not None else float("nan")
    files = len(silver.where(lookup_filter(dates, ranges)).inputFiles())
    return elapsed, cpu, counts.new, counts.dup, files


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed-rows", type=int, default=10_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--rows-per-file", type=int, default=100_000)
    parser.add_argument("--layout", choices=("appends", "zordered"), default="appends")
    parser.add_argument("--replay-minutes", type=int, default=60)
    parser.add_argument("--lookup", choices=("event_time", "event_date"), default="event_time")
    parser.add_argument("--baseline", action="store_true", help="also time the lookup before issue 13")
    args = parser.parse_args(argv)

    from delta.tables import DeltaTable
    from pyspark import StorageLevel

    from toollife.lakehouse import maintenance
    from toollife.config import load_config
    from toollife.runtime.session import get_spark

    print(f"start: {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="toollife-dedupe-") as scratch:
        config = load_config(overrides={"lakehouse": {"root": f"{scratch}/lakehouse",
                                                      "checkpoint_root": f"{scratch}/checkpoints"}})
        spark = get_spark(config, app_name="bench-dedupe")
        empty, seeded = f"{scratch}/silver_empty", f"{scratch}/silver_seeded"
        t0 = time.perf_counter()
        seed_step = SEED_HOURS * 3600e6 / args.seed_rows
        files = max(1, math.ceil(args.seed_rows / args.rows_per_file))
        (silver_rows(spark, spark.range(0, args.seed_rows, 1, files), "seed", 0, lambda i: i * seed_step)
         .write.format("delta").partitionBy("event_date").save(seeded))
        silver_rows(spark, spark.range(0), "seed", 0, lambda i: i).write.format("delta").partitionBy(
            "event_date").save(empty)
        if args.layout == "zordered":
            zorder = maintenance.LAYOUT["silver.sensor_readings"][0]
            DeltaTable.forPath(spark, seeded).optimize().executeZOrderBy(*zorder)
        seeded_files = len(spark.read.format("delta").load(seeded).inputFiles())
        print(f"seeded silver with {args.seed_rows:,} rows in {seeded_files} files ({args.layout}) "
              f"in {time.perf_counter() - t0:.0f} s", flush=True)

        kinds = batches(spark, args.seed_rows, args.batch_rows, args.replay_minutes)
        for df in kinds.values():
            df.persist(StorageLevel.MEMORY_ONLY).count()
        lookups = [args.lookup] + (["before"] if args.baseline else [])
        runs = [(kind, table, lookup) for kind in kinds for lookup in lookups for table in ("empty", "seeded")]
        paths = {"empty": empty, "seeded": seeded}
        times: dict[tuple, list[float]] = {run: [] for run in runs}
        cpus: dict[tuple, list[float]] = {run: [] for run in runs}
        read: dict[tuple, int] = {}
        for n in range(args.passes + 1):                        # pass 0 warms everything up
            for run in runs[:: 1 if n % 2 else -1]:
                kind, table, lookup = run
                elapsed, cpu, new, dup, read[run] = one_batch(spark, kinds[kind], paths[table],
                                                              f"{scratch}/out_{kind}_{table}_{lookup}", lookup)
                print(f"  pass {n} {kind:6s} {table:6s} {lookup:10s} {elapsed:5.1f} s {cpu:5.1f} CPU-s  new {new:,} "
                      f"duplicates {dup:,}  silver files read {read[run]}", flush=True)
                if n:
                    times[run].append(elapsed)
                    cpus[run].append(cpu)
        print(f"end: {load()}")
        for kind, lookup in [(k, lk) for k in kinds for lk in lookups]:
            e, s = (statistics.median(times[(kind, table, lookup)]) for table in ("empty", "seeded"))
            ce, cs = (statistics.median(cpus[(kind, table, lookup)]) for table in ("empty", "seeded"))
            print(f"{kind} re-sends, lookup {lookup}: dedupe of a {args.batch_rows:,}-row batch, median of "
                  f"{args.passes}: {s:.1f} s into silver with {args.seed_rows:,} rows on its date "
                  f"({read[(kind, 'seeded', lookup)]} of {seeded_files} files read) vs {e:.1f} s into an empty "
                  f"silver: ratio {s / e:.2f} (goal <= 1.3); CPU {cs:.1f} vs {ce:.1f} CPU-s, ratio {cs / ce:.2f}")
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
