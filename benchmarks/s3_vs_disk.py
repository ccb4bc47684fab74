"""The lakehouse on the local S3 server vs on local disk, in one run, one session.

    .venv/bin/python -m benchmarks.s3_vs_disk [--messages 1000000] [--max-offsets-per-trigger 250000]
        [--combos 200000] [--count-messages 20000 --count-max-offsets 2000] [--skip-doe] [--skip-ingest]

1. starts a throw-away KRaft broker and S3Proxy (in memory, as `toollife s3 up`) and, in front of
   a second bucket of the same server, the pausable forwarder of the fault test
   (``toollife.services.tcp_proxy``), which counts the HTTP requests passing through it;
2. **ingest**: N valid readings (``benchmarks.ingest_vs_noop.readings``) into one topic, then the
   ingestion application (availableNow, Kafka -> bronze -> silver, the same maxOffsetsPerTrigger)
   into a fresh lakehouse on local disk and into a fresh one under ``s3a://`` (the order
   alternates with ``--repeat``); a small ingest first warms both paths (JIT, S3A and Delta classes);
3. **doe**: the DOE effects job (``gold.doe_effects.run``: effects + optimal settings, both tables
   written) over the synthetic gold.experiment_runs of ``benchmarks.doe_effects_scaling`` with
   ``--combos`` machine x tool combinations (32 runs each), written to each lakehouse first (not
   timed);
4. **requests per micro-batch**: a small ingest (``--count-messages`` in batches of
   ``--count-max-offsets``) into the counted bucket; the forwarder's request count by method,
   divided by the micro-batches all four queries ran.

Prints one JSON line per measure and the s3/disk ratios. The S3 server runs on this machine, so
the ratio is the cost of the S3 protocol and S3A's way of committing (no rename: every Delta commit
and checkpoint file is a PUT, every listing a LIST), not of a network.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

COUNTED_BUCKET = "toollife-counted"


def ingest_once(spark, config) -> tuple[float, dict]:
    """(wall seconds, micro-batches per query) of one availableNow ingestion."""
    from toollife.ingestion.reconcile import reconcile
    from toollife.ingestion.streaming import IngestionApp

    app = IngestionApp(spark, config)
    start = time.perf_counter()
    app.run()
    elapsed = time.perf_counter() - start
    rec = reconcile(spark, config, "sensor_readings")
    if not rec.ok:
        raise RuntimeError(f"reconciliation failed: {rec.as_dict()}")
    return elapsed, dict(app.summary()["micro_batches"])


def with_lakehouse(config, root: str, topic: str | None = None):
    out = copy.deepcopy(config)
    out["lakehouse"] = {"root": f"{root}/tables", "checkpoint_root": f"{root}/checkpoints"}
    if topic:
        out["kafka"]["topics"]["sensor_readings"] = topic
    return out


def doe_once(spark, config, combos: int) -> float:
    from benchmarks.doe_effects_scaling import synthetic_runs
    from toollife.gold import doe_effects as de
    from toollife.gold.experiment_runs import EXPERIMENT_RUNS
    from toollife.lakehouse import tables

    exp = f"BENCH-{combos}"
    tables.overwrite(synthetic_runs(spark, combos, exp), config, EXPERIMENT_RUNS, partition_by=["experiment_id"])
    de.ensure_tables(spark, config, de.DoeParams.from_config(config))
    start = time.perf_counter()
    de.run(spark, config, experiments=[exp], computed_at=datetime(2026, 1, 1))
    return time.perf_counter() - start


def count_requests(spark, config, broker, proxy, args) -> dict:
    """S3 requests per streaming micro-batch, counted by the forwarder: the same messages ingested
    twice into fresh lakehouses of the counted bucket, once in one bronze batch and once in
    batches of ``--count-max-offsets``; the difference over the difference in micro-batches is
    what one more micro-batch costs (each run's start: tables, checkpoints, listings cancel out)."""
    from benchmarks.ingest_vs_noop import produce

    topic = "bench-counted"
    broker.create_topics([topic], args.partitions)
    produce(spark, broker.bootstrap_servers, topic, args.count_messages)
    runs = {}
    for name, max_offsets in (("one_batch", args.count_messages), ("batched", args.count_max_offsets)):
        counted = with_lakehouse(config, f"s3a://{COUNTED_BUCKET}/{name}", topic)
        counted["ingestion"]["kafka"]["max_offsets_per_trigger"] = max_offsets
        before = dict(proxy.requests)
        _, batches = ingest_once(spark, counted)
        runs[name] = {"micro_batches": batches, "requests": {m: proxy.requests[m] - before.get(m, 0)
                                                             for m in proxy.requests}}
    extra_batches = (sum(runs["batched"]["micro_batches"].values())
                     - sum(runs["one_batch"]["micro_batches"].values()))
    per_method = {m: round((runs["batched"]["requests"].get(m, 0) - runs["one_batch"]["requests"].get(m, 0))
                           / max(extra_batches, 1), 1) for m in proxy.requests}
    return {**runs, "extra_micro_batches": extra_batches, "per_micro_batch_by_method": per_method,
            "per_micro_batch": round(sum(per_method.values()), 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--max-offsets-per-trigger", type=int, default=250_000)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--combos", type=int, default=200_000)
    p.add_argument("--count-messages", type=int, default=20_000)
    p.add_argument("--count-max-offsets", type=int, default=2_000)
    p.add_argument("--repeat", type=int, default=1, help="ingest this many times per store (order alternating)")
    p.add_argument("--skip-ingest", action="store_true")
    p.add_argument("--skip-doe", action="store_true")
    p.add_argument("--skip-requests", action="store_true")
    args = p.parse_args(argv)

    from benchmarks.doe_effects_scaling import FACTORS
    from benchmarks.ingest_vs_noop import produce
    from toollife.config import load_config
    from toollife.runtime.session import get_spark
    from toollife.services.kafka_local import LocalKafkaBroker
    from toollife.services.s3_local import LocalS3Server
    from toollife.services.tcp_proxy import TcpProxy

    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    base = load_config("local")
    s3 = LocalS3Server(base, port=0, data_dir=str(work / "s3"))
    s3.start()
    os.environ.update(s3.credentials_env())     # before the JVM, as a deployment exports them
    s3.create_bucket(COUNTED_BUCKET)
    proxy = TcpProxy(s3.host, s3.port).start()
    config = load_config("local", overrides={
        "s3": {"endpoint": s3.endpoint},
        "lakehouse": {"root": str(work / "disk" / "tables"), "checkpoint_root": str(work / "disk" / "checkpoints")},
        "doe": {"factors": FACTORS},
        "kafka": {"partitions": args.partitions},
        "spark": {"app_name": "bench-s3-vs-disk", "extra_conf": {
            "spark.ui.enabled": "false", "spark.driver.memory": "4g",
            # only the counted bucket goes through the forwarder (S3A's per-bucket settings)
            f"spark.hadoop.fs.s3a.bucket.{COUNTED_BUCKET}.endpoint": proxy.endpoint}},
    })
    broker = LocalKafkaBroker(config, port=0, data_dir=str(work / "kafka" / "data"))
    broker.start()
    results: dict[str, object] = {}
    try:
        config["kafka"]["bootstrap_servers"] = broker.bootstrap_servers
        config["ingestion"]["sources"] = ["sensor_readings"]
        config["ingestion"]["trigger"]["mode"] = "available_now"
        spark = get_spark(config)
        stores = {"disk": str(work / "disk"), "s3": f"s3a://{s3.bucket}/bench"}
        print(f"spark {spark.version}, master {spark.sparkContext.master}, S3 {s3.endpoint}, work dir {work}",
              flush=True)

        if not args.skip_ingest:
            warm = "bench-warm"
            broker.create_topics([warm], args.partitions)
            produce(spark, broker.bootstrap_servers, warm, 20_000)
            for store, root in stores.items():
                ingest_once(spark, with_lakehouse(config, f"{root}/warm", warm))
            topic = "bench-readings"
            broker.create_topics([topic], args.partitions)
            produce(spark, broker.bootstrap_servers, topic, args.messages)
            config["ingestion"]["kafka"]["max_offsets_per_trigger"] = args.max_offsets_per_trigger
            times: dict[str, list[float]] = {s: [] for s in stores}
            for i in range(args.repeat):
                for store in (list(stores) if i % 2 == 0 else list(stores)[::-1]):
                    seconds, batches = ingest_once(spark, with_lakehouse(config, f"{stores[store]}/ingest{i}", topic))
                    times[store].append(seconds)
                    print(json.dumps({"measure": "ingest", "store": store, "messages": args.messages,
                                      "seconds": round(seconds, 2), "micro_batches": batches}), flush=True)
            best = {s: min(v) for s, v in times.items()}
            results["ingest"] = {**{f"{s}_s": round(v, 2) for s, v in best.items()},
                                 "ratio_s3_to_disk": round(best["s3"] / best["disk"], 2),
                                 "messages_per_s": {s: round(args.messages / v) for s, v in best.items()}}

        if not args.skip_requests:
            results["requests_per_micro_batch"] = count_requests(spark, config, broker, proxy, args)
            print(json.dumps({"measure": "requests", **results["requests_per_micro_batch"]}), flush=True)

        if not args.skip_doe:
            doe_once(spark, with_lakehouse(config, f"{stores['disk']}/doe-warm"), 2000)    # JIT, Python workers
            doe_once(spark, with_lakehouse(config, f"{stores['s3']}/doe-warm"), 2000)
            doe = {store: doe_once(spark, with_lakehouse(config, f"{root}/doe"), args.combos)
                   for store, root in stores.items()}
            results["doe"] = {"combos": args.combos, **{f"{s}_s": round(v, 2) for s, v in doe.items()},
                              "ratio_s3_to_disk": round(doe["s3"] / doe["disk"], 2)}
            print(json.dumps({"measure": "doe", **results["doe"]}), flush=True)
        spark.stop()
    finally:
        broker.stop()
        proxy.stop()
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"summary": results}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
