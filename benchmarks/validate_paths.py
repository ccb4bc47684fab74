"""The validation alone: the fast path against the exact rule engine, and a plain ``from_json``.

    .venv/bin/python -m benchmarks.validate_paths [--rows 1000000] [--huge-method-limit 8000]

Builds N valid contract-v1 sensor readings (those of ``benchmarks.ingest_vs_noop``) as
bronze-shaped rows in memory (cached), then in one session writes ``validate(...)`` into the
``noop`` sink three times per variant and prints the first pass and the best warm pass: ``from_json`` (one strict parse into the silver types, the
floor any validation pays), ``exact`` (``ingestion.silver.fast_path=false``) and ``fast``.
No Kafka and no Delta: only what validation costs. Ratios within one run are what count.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def bronze_rows(spark, n: int):
    """The readings the ingest benchmark sends through Kafka, shaped like bronze rows."""
    from pyspark.sql import functions as F

    from benchmarks.ingest_vs_noop import readings

    return readings(spark, n).select(
        F.col("key").cast("binary").alias("key"), F.col("value").cast("binary").alias("value"),
        F.lit("bench").alias("topic"), F.lit(0).alias("partition"), F.monotonically_increasing_id().alias("offset"),
        F.current_timestamp().alias("kafka_timestamp"), F.current_timestamp().alias("ingest_time"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--huge-method-limit", type=int, default=None,
                   help="set spark.sql.codegen.hugeMethodLimit (what the application used to set: 8000)")
    args = p.parse_args(argv)

    from pyspark.sql import functions as F

    from toollife.config import load_config
    from toollife.ingestion import validate as V
    from toollife.session import get_spark

    config = load_config(overrides={"spark": {"shuffle_partitions": 2, "extra_conf": {"spark.ui.enabled": "false"}}})
    spark = get_spark(config, app_name="bench-validate-paths")
    try:
        if args.huge_method_limit:
            spark.conf.set("spark.sql.codegen.hugeMethodLimit", str(args.huge_method_limit))
        rows = bronze_rows(spark, args.rows).cache()
        rows.count()
        silver_types = ", ".join(f"{n}: {'double' if n in ('run_id', 'replicate', 'value') else 'string'}"
                                 for n in ["event_id", "ts", "machine_id", "tool_id", "experiment_id", "run_id",
                                           "replicate", "sensor", "value", "unit"])
        variants = {
            "from_json": lambda: rows.select(F.from_json(F.col("value").cast("string"), f"struct<{silver_types}>")),
            "exact": lambda: V.validate("sensor_readings", rows, V.Rules(fast_path=False)),
            "fast": lambda: V.validate("sensor_readings", rows, V.Rules()),
        }
        result = {"rows": args.rows, "huge_method_limit": args.huge_method_limit}
        for name, frame in variants.items():
            passes = []
            for _ in range(3):
                start = time.perf_counter()
                frame().write.format("noop").mode("overwrite").save()
                passes.append(time.perf_counter() - start)
            result[name] = {"first_s": round(passes[0], 2), "warm_s": round(min(passes[1:]), 2)}
        result["fast_vs_exact_warm"] = round(result["fast"]["warm_s"] / result["exact"]["warm_s"], 3)
        print(json.dumps(result, indent=2))
        return 0
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
