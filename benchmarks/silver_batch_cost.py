"""What one small silver micro-batch costs: the fixed part of every streaming batch.

    .venv/bin/python -m benchmarks.silver_batch_cost [--batches 14] [--rows 1000]

Runs the ingestion's own ``SilverBatchWriter`` (the silver query's ``foreachBatch`` function) on
``--batches`` bronze-shaped batches of ``--rows`` new valid readings each (those of
``benchmarks.ingest_vs_noop``, fresh event ids every batch), against real Delta tables in a
throw-away lakehouse, one after the other as a running query would. For every batch: its wall time,
the Spark jobs it ran (job ids before and after) and the writer's phase line. The median is taken
over the batches after the third (the first ones compile the plans). No Kafka: what a batch costs
once the rows are there, the part that does not shrink with the batch (docs/models.md, the Kafka pull).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=14)
    parser.add_argument("--rows", type=int, default=1000, help="readings per batch")
    args = parser.parse_args(argv)

    from benchmarks.validate_paths import bronze_rows
    from toollife.config import load_config
    from toollife.ingestion import schemas, silver
    from toollife.runtime.session import get_spark

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    root = tempfile.mkdtemp(prefix="toollife-silver-batch-")
    cfg = load_config(overrides={
        "lakehouse": {"root": f"{root}/lakehouse", "checkpoint_root": f"{root}/checkpoints"},
        "spark": {"shuffle_partitions": 2, "extra_conf": {"spark.ui.enabled": "false"}}})
    spark = get_spark(cfg, app_name="toollife-bench-silver-batch")
    src = schemas.SOURCES["sensor_readings"]
    silver.ensure_tables(spark, cfg, src)
    write_batch = silver.SilverBatchWriter(cfg, src)
    write_batch.set_query_id("bench-silver-batch")
    # materialised first, as a bronze Delta stream hands the writer rows already on disk
    batches = [bronze_rows(spark, args.rows, i * args.rows).localCheckpoint() for i in range(args.batches)]
    tracker = spark.sparkContext.statusTracker()

    def last_job() -> int:
        return max(tracker.getJobIdsForGroup(None) or [-1])

    seconds, jobs = [], []
    for batch_id, batch in enumerate(batches):
        before, start = last_job(), time.perf_counter()
        write_batch(batch, batch_id)
        seconds.append(time.perf_counter() - start)
        jobs.append(last_job() - before)
    steady = slice(3, None) if args.batches > 4 else slice(None)
    print(f"\n{args.batches} silver batches of {args.rows} new readings each (real Delta tables, {root}):")
    print("  seconds per batch:", " ".join(f"{s:.2f}" for s in seconds))
    print("  Spark jobs per batch:", " ".join(str(j) for j in jobs))
    print(f"  after the third: median {statistics.median(seconds[steady]):.2f} s, "
          f"{statistics.median(jobs[steady]):.0f} Spark jobs per batch")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
