"""What Spark is given, as plain settings (pure: no JVM, no pyspark import; unit-tested).

The one place for Delta's extension and catalog, the JVM jars, master, the driver's log4j and JVM
options (the class archive among them), the Prometheus sink and ``spark.extra_conf``. The session
factory builds its session from :func:`spark_conf`; ``toollife submit``, the Thrift server and the
Airflow DAGs put the same settings on spark-submit's command line (:func:`submit_args`,
:func:`launch_conf`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from toollife.errors import UserError
from toollife.lakehouse import storage
from toollife.runtime import prometheus

# class-data sharing's own log lines off: a mismatched archive only costs the speed-up
CLASS_ARCHIVE_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


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
    root = config["lakehouse"]["root"]
    conf["spark.sql.warehouse.dir"] = (f"{root.rstrip('/')}/_warehouse" if storage.is_object_store(root)
                                       else str(Path(root) / "_warehouse"))
    if spark_cfg["master"]:
        conf["spark.master"] = spark_cfg["master"]
    if spark_cfg["master"] and spark_cfg["master"].startswith("local"):
        conf["spark.driver.host"] = spark_cfg["local_ip"]
        conf["spark.driver.bindAddress"] = spark_cfg["local_ip"]
        conf["spark.ui.showConsoleProgress"] = "false"
    conf.update(launch_conf(config, sys.executable))
    default_options = " ".join(o for o in (log4j_option(config), catalog_home_option(config)) if o)
    if default_options:  # the same way; Spark prepends the default options to the extra ones
        conf["spark.driver.defaultJavaOptions"] = default_options
    conf.update(local_metastore_conf(config))
    jars = jar_paths(spark_cfg["jars_dir"])
    if jars:
        conf["spark.jars"] = ",".join(jars)
    if spark_cfg["packages"]:
        conf["spark.jars.packages"] = ",".join(spark_cfg["packages"])
    conf.update(storage.hadoop_conf(config))     # S3A for an s3a:// root or a conf endpoint; else nothing
    conf.update(prometheus.spark_conf(config))  # Prometheus (conf metrics.enabled); off: nothing
    conf.update({k: str(v) for k, v in spark_cfg["extra_conf"].items()})
    return conf


def class_archive_path(config: Mapping[str, Any]) -> Path | None:
    path = config["spark"].get("class_archive_path")
    return Path(path) if path else None


def class_archive_options(config: Mapping[str, Any]) -> str:
    """The driver's JVM options that map its classes from the archive (toollife.runtime.class_archive),
    or "" when it is off (conf null) or not built. The JVM checks that the archive matches its own
    build and classpath, and without a match simply starts without it."""
    path = class_archive_path(config)
    if path is None or not path.is_file():
        return ""
    return f"-XX:SharedArchiveFile={path} {CLASS_ARCHIVE_QUIET}"


def launch_conf(config: Mapping[str, Any], python: str) -> dict[str, str]:
    """The settings a driver must have from its launch on: Delta's extension and catalog, the
    Python the workers run (``python``: the jobs venv's interpreter, which has pandas and pyarrow;
    without it local workers run the first ``python3`` on PATH) and the JVM options. Under
    spark-submit (client mode) the driver JVM is already up, so these reach it only on the command
    line; the executors get ``java_options`` either way. The class archive is the driver's alone:
    an executor on a cluster node has another JVM and no such file. The Airflow DAGs submit with
    exactly these."""
    spark_cfg = config["spark"]
    conf = dict(DELTA_CONF)
    conf["spark.pyspark.python"] = python
    conf["spark.pyspark.driver.python"] = python
    driver_options = " ".join(o for o in (spark_cfg["java_options"], class_archive_options(config)) if o)
    if driver_options:
        conf["spark.driver.extraJavaOptions"] = driver_options
    if spark_cfg["java_options"]:
        conf["spark.executor.extraJavaOptions"] = spark_cfg["java_options"]
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


def catalog_dir(config: Mapping[str, Any]) -> Path | None:
    """Where a local driver keeps the catalog's own state (``spark.catalog_dir``, default
    var/catalog): Derby's home (its ``derby.log``; the Thrift server's Hive client writes one even
    over the in-memory catalog) and, with ``catalog: hive``, the Derby ``metastore_db``. None on a
    cluster (master not ``local``) or when unset: Spark's and the cluster's defaults apply."""
    spark_cfg = config["spark"]
    path = spark_cfg.get("catalog_dir")
    if not path or not str(spark_cfg["master"] or "").startswith("local"):
        return None
    return Path(path)


def catalog_home_option(config: Mapping[str, Any]) -> str:
    """-Dderby.system.home=<catalog_dir>: Derby's files go there, not into the working directory."""
    path = catalog_dir(config)
    return f"-Dderby.system.home={path}" if path else ""


def local_metastore_conf(config: Mapping[str, Any]) -> dict[str, str]:
    """A local ``catalog: hive``: its Derby metastore under catalog_dir (not ./metastore_db)."""
    path = catalog_dir(config)
    if path is None or config["spark"]["catalog"] != "hive":
        return {}
    return {"spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={path / 'metastore_db'};create=true"}


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
