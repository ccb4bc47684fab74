"""The one SparkSession factory.

The session is built from :func:`toollife.runtime.spark_conf.spark_conf` (Delta, jars, master,
shuffle partitions, the workers' Python, JVM options), then every lakehouse table on disk is
registered in the catalog. Jobs, tests and notebooks all call :func:`get_spark`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Mapping

from pyspark.sql import SparkSession

from toollife.lakehouse import tables
from toollife.runtime.spark_conf import spark_conf

log = logging.getLogger(__name__)


def get_spark(config: Mapping[str, Any], app_name: str | None = None) -> SparkSession:
    """Build (or return the running) SparkSession and register the lakehouse tables.

    Under spark-submit, whatever was given on its command line (``--master``, ``--conf``) wins
    over conf, so one job file runs unchanged on ``local[2]``, a standalone master or YARN.
    """
    os.environ.setdefault("SPARK_LOCAL_IP", config["spark"]["local_ip"])
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    submitted = launcher_conf()
    builder = SparkSession.builder
    for key, value in spark_conf(config, app_name).items():
        if key not in submitted:
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(config["spark"]["log_level"])
    _require_delta(spark)
    tables.register_existing(spark, config)
    return spark


def _require_delta(spark: SparkSession) -> None:
    from py4j.java_gateway import JavaClass

    # py4j resolves names with the thread's context class loader, the one that sees --jars.
    if not isinstance(spark._jvm.io.delta.sql.DeltaSparkSessionExtension, JavaClass):
        raise RuntimeError(
            "Delta Lake classes are not on the driver classpath. Under spark-submit pass the jars on "
            "the command line (`toollife submit JOB`, or --jars var/jars/spark/*.jar / --packages "
            "io.delta:delta-spark_4.2_2.13:4.4.0,org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0)"
        )


def launcher_conf() -> dict[str, str]:
    """Settings spark-submit handed to this driver; empty when started as plain ``python``."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return {}
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connects to the launcher's JVM, loads its properties
    return dict(SparkConf().getAll())


