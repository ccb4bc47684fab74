"""A class-data-sharing (AppCDS) archive of the Spark driver's classes, so a new JVM starts faster.

Every spark-submit, every scheduled ``availableNow`` run and every demo step starts a driver JVM
that loads, parses and verifies some 17,000 classes of Spark, Delta and the Kafka connector from
their jars before doing any work. HotSpot can map them from an archive instead (JDK 13+,
``-XX:ArchiveClassesAtExit`` then ``-XX:SharedArchiveFile``). Measured here
(``benchmarks.driver_start``, docs/ingestion.md): a spark-submit of jobs/init_lakehouse.py takes
0.67 of the wall time and 0.70 of the CPU time it takes without the archive.

``make setup`` builds it (``python -m toollife.runtime.class_archive``) by running a small workload of the
kind the jobs run (Delta write, MERGE, read, a Delta stream, JSON, a pandas UDF, and with the S3
jars present an S3A filesystem's start and one refused request) in a JVM that
writes the archive when it exits. :func:`toollife.runtime.spark_conf.class_archive_options` adds it to the driver's options when the
file exists; the JVM itself checks that the archive matches its own build and classpath, and
without a match (another JDK, ``--driver-class-path``, a cluster node without the file) simply
starts without it. The archive's log lines are switched off: a mismatch only costs the speed-up.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

from toollife.config import load_config
from toollife.runtime.session import get_spark
from toollife.runtime.spark_conf import CLASS_ARCHIVE_QUIET, class_archive_path

def _workload(spark, scratch: Path) -> None:
    """Touch the code paths the jobs use, so their classes are in the archive."""
    import pandas as pd
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    path = str(scratch / "t")
    rows = (spark.range(2000)
            .withColumn("k", (F.col("id") % 7).cast("string"))
            .withColumn("ts", F.timestamp_seconds(F.col("id") * 60))
            .withColumn("event_date", F.to_date("ts"))
            .withColumn("payload", F.to_json(F.struct("id", "k", "ts"))))
    rows.write.format("delta").partitionBy("event_date").save(path)
    (DeltaTable.forPath(spark, path).alias("t").merge(rows.alias("s"), "t.id = s.id")
     .whenNotMatchedInsertAll().whenMatchedUpdateAll().execute())
    spark.sql(f"CREATE TABLE archive_probe USING DELTA LOCATION '{path}'")
    table = spark.table("archive_probe")
    parsed = table.select(F.from_json("payload", "id long, k string, ts timestamp").alias("j"),
                          F.parse_json("payload").alias("v"))
    parsed.select("j.*", F.variant_get("v", "$.k", "string").alias("vk")).where("vk IS NOT NULL").count()
    table.groupBy("k").applyInPandas(lambda pdf: pd.DataFrame({"k": pdf.k.head(1), "n": [len(pdf)]}),
                                     "k string, n long").collect()
    query = (spark.readStream.format("delta").load(path).writeStream
             .option("checkpointLocation", str(scratch / "checkpoint"))
             .foreachBatch(lambda batch, _: batch.groupBy("k").count().collect())
             .trigger(availableNow=True).start())
    query.awaitTermination()
    _touch_s3a(spark)


def _touch_s3a(spark) -> None:
    """With the S3 jars on the classpath: start an S3A filesystem and send it one request, so the
    connector's and the AWS SDK's classes (client, signer, HTTP, retries) are in the archive too.
    Its endpoint is a closed local port and its key a dummy: one attempt, refused, nothing sent
    anywhere. Without the jars: nothing."""
    jvm = spark.sparkContext._jvm
    # the session's Hadoop conf: its class loader is the one that sees the jars of spark.jars
    conf = jvm.org.apache.hadoop.conf.Configuration(spark.sparkContext._jsc.hadoopConfiguration())
    for key, value in {"fs.s3a.endpoint": "http://127.0.0.1:9", "fs.s3a.endpoint.region": "us-east-1",
                       "fs.s3a.path.style.access": "true", "fs.s3a.connection.ssl.enabled": "false",
                       "fs.s3a.access.key": "class-archive", "fs.s3a.secret.key": "class-archive",
                       "fs.s3a.attempts.maximum": "1", "fs.s3a.retry.limit": "0",
                       "fs.s3a.bucket.probe": "0"}.items():
        conf.set(key, value)
    try:
        fs = jvm.org.apache.hadoop.fs.FileSystem.newInstance(jvm.java.net.URI("s3a://class-archive-probe/"), conf)
    except Exception:  # no S3A on the classpath (py4j wraps the JVM's exception)
        return
    try:
        fs.exists(jvm.org.apache.hadoop.fs.Path("s3a://class-archive-probe/probe"))
    except Exception:  # refused: the request's classes are loaded all the same
        pass
    finally:
        fs.close()


def _dump(target: Path) -> None:
    """In the child JVM's Python: run the workload, stop; the JVM writes ``target`` as it exits."""
    with tempfile.TemporaryDirectory(prefix="toollife-class-archive-") as scratch:
        config = load_config(overrides={
            "lakehouse": {"root": f"{scratch}/lakehouse", "checkpoint_root": f"{scratch}/checkpoints"},
            "metrics": {"enabled": False},
        })
        options = config["spark"]["java_options"] or ""
        config["spark"]["java_options"] = f"{options} -XX:ArchiveClassesAtExit={target} {CLASS_ARCHIVE_QUIET}".strip()
        config["spark"]["class_archive_path"] = None
        spark = get_spark(config, app_name="toollife-class-archive")
        _workload(spark, Path(scratch))
        spark.stop()


def build(config: Mapping[str, Any]) -> Path:
    """(Re)build the archive at conf ``spark.class_archive_path``; replaced only when complete."""
    path = class_archive_path(config)
    if path is None:
        raise SystemExit("spark.class_archive_path is null in conf: nothing to build")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    run = subprocess.run([sys.executable, "-m", "toollife.runtime.class_archive", "--dump-to", str(partial)],
                         capture_output=True, text=True, timeout=900)
    if run.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        tail = (run.stdout + run.stderr).strip().splitlines()[-5:]
        raise SystemExit(f"building the class archive failed (exit {run.returncode}): " + " | ".join(tail))
    os.replace(partial, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toollife.runtime.class_archive",
                                     description="build the Spark driver's class-data-sharing archive")
    parser.add_argument("--dump-to", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dump_to:
        _dump(Path(args.dump_to))
        return 0
    path = build(load_config())
    print(f"class archive: {path} ({path.stat().st_size // 2**20} MB); new driver JVMs map their classes from it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
