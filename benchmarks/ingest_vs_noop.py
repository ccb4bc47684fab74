"""Silver ingest rate vs. the same Spark reading the same topic into a ``noop`` sink.

    .venv/bin/python -m benchmarks.ingest_vs_noop [--messages 1000000] [--max-offsets-per-trigger 250000] [--floor] [--cold]

1. starts a throw-away local KRaft broker and fills one topic with N valid sensor-reading messages
   (contract v1, keyed by machine_id, unique event_ids) with a Spark batch write to Kafka;
2. baseline: ``readStream.format("kafka")`` (availableNow) -> ``writeStream.format("noop")``;
3. measured: the ingestion application (availableNow) Kafka -> bronze -> silver, fresh lakehouse;
4. prints both rates (messages / wall seconds from query start to drained) and the ratio;
5. with ``--floor``, the two Delta writes every Kafka -> bronze -> silver design must make, each
   alone: the bronze query by itself (Kafka -> bronze, the job's own writer, fresh lakehouse) and
   the write of the finished silver rows (cached in memory: Delta minus ``noop`` from the same
   cache). Their sum, with no validation or dedupe at all, bounds the ratio any such design could
   reach here, and ``validate_plus_dedupe_vs_delta_writes`` sets the silver batches' validate phase
   and their dedupe (the silver phase, which looks up, classifies and appends in one pass, less the
   silver write alone; phases summed from the silver writer's batch log lines, ``silver_phases``)
   against it. It also times the same bronze rows into silver with Spark's primitives alone
   (``from_json`` into the silver types, ``dropDuplicates``, an anti-join with silver, the append:
   no rule checked, no quarantine), and ``primitive_ratio`` is the ratio with that silver stage:
   what parsing and deduplicating with nothing but Spark's own operators leaves reachable;
6. with ``--cold``, the application first runs first thing in the JVM (on a copy of the topic, into
   its own lakehouse; only the producing Spark write ran before it), instead of the warm-ups, and
   its time and phases are reported against the warm run's (``cold_vs_warm_*``).

Same session, same topic, same partitions, same maxOffsetsPerTrigger for both. Both sides are
warmed up first (JIT, connector and Delta classes): the noop side by a read of the topic, the
ingest side by a small ingest of a separate topic into a throw-away lakehouse.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("bench.ingest_vs_noop")


def readings(spark, n: int, start: int = 0):
    """N contract-v1 readings (unique event_ids, 8 machines, 5 sensors): ``key`` and ``value`` as strings.
    ``start``: the first id (event_id ``bench-<id>``, ts 10 ms apart by id), for batches of new events."""
    from pyspark.sql import functions as F

    sensors = ["spindle_power", "vibration_rms", "temperature", "acoustic_emission", "flank_wear"]
    machine = F.format_string("M%02d", (F.col("id") % 8) + 1)
    return spark.range(start, start + n, numPartitions=4).select(
        machine.alias("key"),
        F.to_json(F.struct(
            F.concat(F.lit("bench-"), F.col("id").cast("string")).alias("event_id"),
            F.date_format(F.expr("timestamp'2026-11-21 08:00:00' + make_interval(0,0,0,0,0,0, id / 100.0)"),
                          "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").alias("ts"),
            machine.alias("machine_id"),
            F.format_string("T%02d", (F.col("id") % 5) + 1).alias("tool_id"),
            F.lit("bench-exp").alias("experiment_id"),
            ((F.col("id") % 16) + 1).alias("run_id"),
            F.lit(1).alias("replicate"),
            F.element_at(F.array(*[F.lit(s) for s in sensors]), (F.col("id") % 5 + 1).cast("int")).alias("sensor"),
            F.round((F.col("id") % 1000) / 1000.0, 3).alias("value"),
        )).alias("value"),
    )


def produce(spark, bootstrap: str, topic: str, n: int) -> float:
    """N readings (:func:`readings`) written by Spark's Kafka sink; returns seconds taken."""
    start = time.perf_counter()
    (readings(spark, n).write.format("kafka").option("kafka.bootstrap.servers", bootstrap).option("topic", topic)
     .option("kafka.linger.ms", "50").option("kafka.batch.size", "262144").option("kafka.compression.type", "lz4")
     .save())
    return time.perf_counter() - start


def run_noop(spark, config, topic: str, max_offsets: int | None, name: str) -> float:
    from toollife.ingestion import kafka_options

    opts = kafka_options.source_options(config, topic, max_offsets_per_trigger=max_offsets)
    start = time.perf_counter()
    q = (spark.readStream.format("kafka").options(**opts).load()
         .writeStream.format("noop").trigger(availableNow=True)
         .option("checkpointLocation", str(Path(config["lakehouse"]["checkpoint_root"]) / name))
         .start())
    q.awaitTermination()
    if q.exception():
        raise RuntimeError(q.exception())
    return time.perf_counter() - start


def warm_up_ingest(spark, config, broker, work: Path, n: int = 20_000) -> None:
    """A small ingest of its own topic into its own lakehouse: the measured run starts as warm as the noop one."""
    from toollife.ingestion.streaming import IngestionApp

    topic = "bench-warmup-sensor-readings"
    broker.create_topics([topic], config["kafka"]["partitions"])
    produce(spark, config["kafka"]["bootstrap_servers"], topic, n)
    warm = copy.deepcopy(config)
    warm["kafka"]["topics"]["sensor_readings"] = topic
    warm["lakehouse"] = {"root": str(work / "warmup" / "tables"), "checkpoint_root": str(work / "warmup" / "checkpoints")}
    IngestionApp(spark, warm).run()


class SilverPhases(logging.Handler):
    """Sums the phase timings of the silver writer's batch log lines (``... (validate=1.2s silver=...)``)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.seconds: dict[str, float] = {}
        self.batches = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if not text.startswith("silver ") or "(" not in text:
            return
        self.batches += 1
        for name, value in re.findall(r"(\w+)=([0-9.]+)s\b", text[text.rindex("("):]):
            self.seconds[name] = round(self.seconds.get(name, 0.0) + float(value), 2)


def run_ingest(spark, config) -> tuple[float, dict, dict]:
    """(wall seconds, reconciliation, the silver batches' phase seconds)."""
    from toollife.ingestion.reconcile import reconcile
    from toollife.ingestion.streaming import IngestionApp

    phases = SilverPhases()
    silver_log = logging.getLogger("toollife.ingestion.silver")
    silver_log.addHandler(phases)
    try:
        start = time.perf_counter()
        IngestionApp(spark, config).run()
        elapsed = time.perf_counter() - start
    finally:
        silver_log.removeHandler(phases)
    return elapsed, reconcile(spark, config, "sensor_readings").as_dict(), {"batches": phases.batches, **phases.seconds}


def floor_parts(spark, config, work: Path) -> dict:
    """Wall seconds of the bronze stage alone and of the silver Delta write alone."""
    from toollife.lakehouse import tables
    from toollife.ingestion import bronze, schemas, silver

    source = schemas.SOURCES["sensor_readings"]
    floor = copy.deepcopy(config)
    floor["lakehouse"] = {"root": str(work / "floor" / "tables"), "checkpoint_root": str(work / "floor" / "checkpoints")}
    bronze.ensure_table(spark, floor, source)
    silver.ensure_tables(spark, floor, source)        # the same table, properties and partitioning
    bronze_s = timed(lambda: bronze.writer(spark, floor, source).partitionBy("ingest_date")
                     .trigger(availableNow=True).start(source.bronze.path(floor)).awaitTermination())

    # the same bronze rows into silver with Spark's own primitives only: the least any such design
    # does; once into a throw-away silver first, as the measured application ran warm
    warm = copy.deepcopy(floor)
    warm["lakehouse"] = {"root": str(work / "floor-warm" / "tables"), "checkpoint_root": str(work / "floor-warm" / "c")}
    silver.ensure_tables(spark, warm, source)
    primitive_silver(spark, source.bronze.path(floor), warm, source)
    primitive_s = timed(lambda: primitive_silver(spark, source.bronze.path(floor), floor, source))
    rows = tables.read(spark, config, source.silver).cache()      # what the measured run wrote
    rows.count()
    try:
        noop_s = timed(lambda: rows.write.format("noop").mode("overwrite").save())
        delta_s = timed(lambda: rows.write.format("delta").mode("append").save(source.silver.path(floor)))
    finally:
        rows.unpersist()
    return {"bronze_only_seconds": round(bronze_s, 2), "silver_write_seconds": round(delta_s - noop_s, 2),
            "primitive_silver_seconds": round(primitive_s, 2)}


def primitive_silver(spark, bronze_path: str, config, source) -> None:
    """Bronze (at ``bronze_path``) -> silver (``config``'s) with nothing but Spark's primitives:
    ``from_json`` into the silver types (no JSON type, pattern, range or timestamp check, no
    quarantine), ``dropDuplicates`` on event_id, an anti-join with silver, a Delta append into the
    same (empty) silver table definition. The least parsing and dedupe any Kafka -> bronze ->
    silver design does; not a correct silver."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    from toollife.lakehouse import tables

    schema = source.silver_schema
    lineage = {"kafka_topic": "topic", "kafka_partition": "partition", "kafka_offset": "offset",
               "kafka_timestamp": "kafka_timestamp", "ingest_time": "ingest_time"}
    payload = [f for f in schema.fields if f.name not in lineage and f.name != "event_date"]
    parsed = spark.read.format("delta").load(bronze_path).select(
        F.from_json(F.col("value").cast("string"), StructType(payload)).alias("j"),
        *[F.col(b).alias(s) for s, b in lineage.items()])
    rows = parsed.select("j.*", *lineage).withColumn("event_date", F.to_date("ts"))
    rows = rows.withColumn("replicate", F.coalesce("replicate", F.lit(1).cast("long")))
    silver = tables.read(spark, config, source.silver).select("event_id")
    (rows.dropDuplicates(["event_id"]).join(silver, "event_id", "left_anti")
     .select(*[f.name for f in schema.fields])
     .write.format("delta").mode("append").save(source.silver.path(config)))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--max-offsets-per-trigger", type=int, default=250_000)
    p.add_argument("--floor", action="store_true",
                   help="also time the bronze stage alone and the silver Delta write alone (the bound)")
    p.add_argument("--exact-only", action="store_true",
                   help="ingestion.silver.fast_path=false: every row through the exact rule engine (the baseline)")
    p.add_argument("--cold", action="store_true",
                   help="run the application first thing in the JVM (on a copy of the topic) before the warm "
                        "measurement, instead of the warm-ups, and report cold against warm")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (lakehouse, broker logs)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("toollife.ingestion.streaming").setLevel(logging.WARNING)

    from benchmarks.cputime import spark_cpu_seconds
    from toollife.config import load_config
    from toollife.services.kafka_local import LocalKafkaBroker
    from toollife.runtime.session import get_spark

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    config = load_config(overrides={
        "lakehouse": {"root": str(work / "tables"), "checkpoint_root": str(work / "checkpoints")},
        "kafka": {"partitions": args.partitions, "topics": {"sensor_readings": "bench-sensor-readings",
                                                            "tool_events": "bench-tool-events"}},
        "spark": {"shuffle_partitions": 2, "extra_conf": {"spark.ui.enabled": "false",
                                                           "spark.databricks.delta.snapshotPartitions": "2"}},
    })
    broker = LocalKafkaBroker(config, port=0, data_dir=str(work / "kafka" / "data"))
    broker.start()
    spark = None
    try:
        config["kafka"]["bootstrap_servers"] = broker.bootstrap_servers
        topic = config["kafka"]["topics"]["sensor_readings"]
        spark = get_spark(config, app_name="bench-ingest-vs-noop")
        produce_s = produce(spark, broker.bootstrap_servers, topic, args.messages)
        log.info("produced %d messages in %.1fs", args.messages, produce_s)

        ing_config = copy.deepcopy(config)
        ing_config["ingestion"]["sources"] = ["sensor_readings"]
        ing_config["ingestion"]["trigger"]["mode"] = "available_now"
        ing_config["ingestion"]["kafka"]["max_offsets_per_trigger"] = args.max_offsets_per_trigger
        ing_config["ingestion"]["silver"]["fast_path"] = not args.exact_only

        cold = None
        if args.cold:  # the application first thing in this JVM, on a copy of the topic, into its own lakehouse
            cold_config = copy.deepcopy(ing_config)
            cold_config["kafka"]["topics"]["sensor_readings"] = topic + "-cold"
            cold_config["lakehouse"] = {"root": str(work / "cold" / "tables"),
                                        "checkpoint_root": str(work / "cold" / "checkpoints")}
            broker.create_topics([topic + "-cold"], args.partitions)
            produce(spark, broker.bootstrap_servers, topic + "-cold", args.messages)
            cold_s, cold_rec, cold_phases = run_ingest(spark, cold_config)
            cold = {"seconds": round(cold_s, 2), "silver_phases": cold_phases, "reconciled": cold_rec["ok"]}
        else:
            run_noop(spark, ing_config, topic, 10_000, "noop-warmup")  # warm-up: JIT, connector classes, broker page cache
            warm_up_ingest(spark, ing_config, broker, work)
        cpu = spark_cpu_seconds(spark)
        noop_s = run_noop(spark, ing_config, topic, args.max_offsets_per_trigger, "noop")
        noop_cpu, cpu = spark_cpu_seconds(spark) - cpu, spark_cpu_seconds(spark)
        ingest_s, rec, phases = run_ingest(spark, ing_config)
        ingest_cpu = spark_cpu_seconds(spark) - cpu
        n = args.messages
        result = {
            "messages": n,
            "kafka_partitions": args.partitions,
            "max_offsets_per_trigger": args.max_offsets_per_trigger,
            "fast_path": not args.exact_only,
            "noop_seconds": round(noop_s, 2),
            "noop_rows_per_s": round(n / noop_s),
            "silver_seconds": round(ingest_s, 2),
            "silver_rows_per_s": round(n / ingest_s),
            "ratio_silver_vs_noop": round(noop_s / ingest_s, 3),
            # CPU seconds of the Spark JVM (not the broker): steadier than wall time on a shared machine
            "noop_cpu_seconds": round(noop_cpu, 2), "silver_cpu_seconds": round(ingest_cpu, 2),
            "cpu_ratio_silver_vs_noop": round(noop_cpu / ingest_cpu, 3),
            "silver_phases": phases,
            "reconciliation": rec,
        }
        if cold is not None:
            result["cold"] = {**cold, "cold_vs_warm_application": round(cold["seconds"] / ingest_s, 2),
                              "cold_vs_warm_validate": round(cold["silver_phases"].get("validate", 0)
                                                             / max(phases.get("validate", 0), 0.01), 2)}
        if args.floor:
            parts = floor_parts(spark, ing_config, work)
            bound_s = parts["bronze_only_seconds"] + parts["silver_write_seconds"]
            result.update(parts, best_possible_ratio=round(noop_s / bound_s, 3),
                          # the ratio if silver took only what Spark's primitives take (still no
                          # fixed cost of the application: a bound, not a run)
                          primitive_ratio=round(noop_s / (parts["bronze_only_seconds"]
                                                          + parts["primitive_silver_seconds"]), 3))
            # the goal: validation plus dedupe cost no more than the two Delta writes. The dedupe
            # (lookup and classification) runs inside the silver append: its phase less the
            # append of the same rows alone
            dedupe_s = max(0.0, phases.get("silver", 0) - parts["silver_write_seconds"])
            result["dedupe_seconds"] = round(dedupe_s, 2)
            result["validate_plus_dedupe_vs_delta_writes"] = round(
                (phases.get("validate", 0) + dedupe_s) / bound_s, 2)
            # the same split for the primitives: from_json + dropDuplicates against the two writes
            result["primitive_parse_dedupe_vs_delta_writes"] = round(
                max(0.0, parts["primitive_silver_seconds"] - parts["silver_write_seconds"]) / bound_s, 2)
        result["load_average"] = os.getloadavg()
        print(json.dumps(result, indent=2))
        return 0 if rec["ok"] and rec["silver"] == n else 1
    finally:
        if spark is not None:
            spark.stop()
        broker.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
