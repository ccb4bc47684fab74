"""The one SparkSession factory.

Everything a job needs from Spark is configured here, once: Delta's SQL extension and catalog,
the JVM jars (a local cache filled by ``make setup``, or Maven coordinates on a cluster), master,
shuffle partitions, the interpreter the Python workers use, and the catalog registration of the
lakehouse tables. Jobs, tests and notebooks all call :func:`get_spark`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Mapping

from pyspark.sql import SparkSession

from toollife.errors import UserError

log = logging.getLogger(__name__)


class SetupError(UserError, RuntimeError):
    """Something `make setup` provides is missing."""

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def jar_paths(jars_dir: str | None) -> list[str]:
    """The cached JVM jars, or a clear error pointing at `make setup` if the cache is missing."""
    if not jars_dir:
        return []
    jars = sorted(str(p) for p in Path(jars_dir).glob("*.jar"))
    if not jars:
        raise SetupError(
            f"no jars in {jars_dir}: run `make setup` (resolves Delta and the Kafka connector "
            "with mvn), or set spark.packages / spark.jars_dir in conf"
        )
    return jars


def spark_conf(config: Mapping[str, Any], app_name: str | None = None) -> dict[str, str]:
    """All settings the session is built with, as strings (pure: unit-tested without a JVM)."""
    spark_cfg = config["spark"]
    conf: dict[str, str] = dict(DELTA_CONF)
    conf["spark.app.name"] = app_name or spark_cfg["app_name"]
    conf["spark.sql.shuffle.partitions"] = str(spark_cfg["shuffle_partitions"])
    conf["spark.sql.session.timeZone"] = "UTC"
    conf["spark.sql.catalogImplementation"] = spark_cfg["catalog"]
    conf["spark.sql.execution.arrow.pyspark.enabled"] = "true"
    # Delta tables keep their files; warehouse only matters for managed tables nobody should create.
    conf["spark.sql.warehouse.dir"] = str(Path(config["lakehouse"]["root"]) / "_warehouse")
    # Without this, local workers run the first `python3` on PATH, which lacks pandas/pyarrow.
    conf["spark.pyspark.python"] = sys.executable
    conf["spark.pyspark.driver.python"] = sys.executable
    if spark_cfg["master"]:
        conf["spark.master"] = spark_cfg["master"]
    if spark_cfg["master"] and spark_cfg["master"].startswith("local"):
        conf["spark.driver.host"] = spark_cfg["local_ip"]
        conf["spark.driver.bindAddress"] = spark_cfg["local_ip"]
        conf["spark.ui.showConsoleProgress"] = "false"
    # Under spark-submit (client mode) the driver JVM is already up: these reach it only through
    # submit_args' --conf; the executors get java_options either way. The class archive is the
    # driver's alone: an executor on a cluster node has another JVM and no such file.
    from toollife import class_archive

    driver_options = " ".join(o for o in (spark_cfg["java_options"], class_archive.driver_options(config)) if o)
    if driver_options:
        conf["spark.driver.extraJavaOptions"] = driver_options
    if spark_cfg["java_options"]:
        conf["spark.executor.extraJavaOptions"] = spark_cfg["java_options"]
    if log4j_option(config):  # the same way; Spark prepends the default options to the extra ones
        conf["spark.driver.defaultJavaOptions"] = log4j_option(config)
    jars = jar_paths(spark_cfg["jars_dir"])
    if jars:
        conf["spark.jars"] = ",".join(jars)
    if spark_cfg["packages"]:
        conf["spark.jars.packages"] = ",".join(spark_cfg["packages"])
    from toollife import metrics

    conf.update(metrics.spark_conf(config))  # Prometheus (conf metrics.enabled); off: nothing
    conf.update({k: str(v) for k, v in spark_cfg["extra_conf"].items()})
    return conf


def log4j_option(config: Mapping[str, Any]) -> str:
    """The driver's log4j2 configuration (``spark.log4j_path``), at ``spark.log_level`` from the
    JVM's first line on: Spark's own default logs ~100 INFO lines before setLogLevel can run.
    Empty when unset or not on this machine (a cluster's defaults apply then)."""
    path = config["spark"].get("log4j_path")
    if not path or not Path(path).is_file():
        return ""
    level = (config["spark"]["log_level"] or "WARN").upper()
    return f"-Dlog4j2.configurationFile=file:{Path(path).resolve()} -Dtoollife.log.level={level}"


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

    from toollife import tables

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


def submit_args(config: Mapping[str, Any], *, master: str | None = None) -> list[str]:
    """spark-submit options equivalent to :func:`spark_conf`.

    Under spark-submit the driver JVM is already running when Python builds the session, so the
    Delta/Kafka jars must be on the command line (``--jars`` from the local cache, or
    ``--packages`` on a cluster); setting them in the builder is too late for the driver.
    ``toollife submit`` and the Airflow DAGs use this.
    """
    spark_cfg = config["spark"]
    args: list[str] = []
    chosen_master = master or spark_cfg["master"]
    if chosen_master:
        args += ["--master", chosen_master]
    jars = jar_paths(spark_cfg["jars_dir"])
    if jars:
        args += ["--jars", ",".join(jars)]
    if spark_cfg["packages"]:
        args += ["--packages", ",".join(spark_cfg["packages"])]
    for key, value in spark_conf(config).items():
        if key in {"spark.master", "spark.jars", "spark.jars.packages", "spark.app.name"}:
            continue
        args += ["--conf", f"{key}={value}"]
    return args
