"""`toollife thrift`: the Spark Thrift Server over the lakehouse, for BI tools over JDBC / ODBC.

    toollife thrift [--host 127.0.0.1] [--port 10000] [--set lakehouse.root=/data/lakehouse]
    toollife thrift --print-command          # the spark-submit command, without running it
    toollife thrift --beeline -e "select * from gold.doe_effects limit 5"   # a JDBC client (beeline) to it

Clients connect to ``jdbc:hive2://<host>:<port>/default`` (Hive JDBC driver
``org.apache.hive.jdbc.HiveDriver``, or any "Spark SQL" / "Apache Hive" connector of a BI tool) and
see every lakehouse table as ``<layer>.<table>``.

How it starts: ``spark-submit`` runs this module as the driver. It builds the session with the one
factory (:func:`toollife.runtime.session.get_spark`: Delta's extension and catalog, conf's catalog, and
every table on disk registered by :func:`toollife.lakehouse.tables.register_existing`), then starts Spark's
``HiveThriftServer2`` on that session (``startWithContext``), and registers tables that appear
later every ``thrift.refresh_interval_s``. Why not ``--class ...HiveThriftServer2 spark-internal``
with an init file: that server has no ``-i``, and Hive's global init file
(``hive.server2.global.init.file.location``) runs before Spark has attached its session to the
new JDBC session, so every connection fails ("Session handle ... has not been initialized").

Catalog: conf's ``spark.catalog``. On a laptop that is the in-memory catalog, shared by every JDBC
session of the server (each gets its own SparkSession over one SharedState) and filled from the
files, so no Derby ``metastore_db`` is created or locked: the jobs, ``toollife sql`` and this server
run side by side, and a job's new Delta version is what the next query reads. The server's own Hive
client still starts Derby: its ``derby.log`` goes to ``spark.catalog_dir`` (var/catalog), not into
the working directory. With ``catalog: hive`` (cluster) the server uses the shared metastore like the jobs.

The Delta jars go on ``--jars`` *and* ``--driver-class-path``: the JDBC sessions resolve the catalog
class through the JVM's application class loader, which ``--jars`` does not reach
(``ClassNotFoundException: org.apache.spark.sql.delta.catalog.DeltaCatalog`` otherwise).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

from toollife.errors import UsageError

log = logging.getLogger(__name__)

SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
JDBC_DRIVER = "org.apache.hive.jdbc.HiveDriver"
BEELINE_CLASS = "org.apache.hive.beeline.BeeLine"
APP_NAME = "toollife-thrift"


def jdbc_url(host: str, port: int) -> str:
    return f"jdbc:hive2://{host}:{port}/default"


def build_command(config: Mapping[str, Any], sets: Sequence[str] = (), env_name: str | None = None) -> list[str]:
    """The spark-submit command that serves ``config``'s lakehouse on ``thrift.host:thrift.port`` (pure)."""
    from toollife.runtime.spark_conf import jar_paths, submit_args
    from toollife.runtime.submit import spark_submit_binary

    thrift = config["thrift"]
    cmd = [spark_submit_binary(), *submit_args(config), "--name", APP_NAME]
    jars = jar_paths(config["spark"]["jars_dir"])
    if jars:
        cmd += ["--driver-class-path", os.pathsep.join(jars)]
    cmd += ["--conf", f"spark.hadoop.hive.server2.thrift.port={int(thrift['port'])}",
            "--conf", f"spark.hadoop.hive.server2.thrift.bind.host={thrift['host']}"]
    driver_args = [*(["--env", env_name] if env_name else []), *[a for s in sets for a in ("--set", s)]]
    return [*cmd, str(Path(__file__).resolve()), *driver_args]


def beeline_command(url: str, *args: str) -> list[str]:
    """Beeline from pyspark's own jars (``spark-class``), e.g. ``beeline_command(url, "-e", sql)``."""
    from toollife.runtime.submit import spark_submit_binary

    spark_class = str(Path(spark_submit_binary()).with_name("spark-class"))
    return [spark_class, BEELINE_CLASS, "-u", url, *args]


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def add_arguments(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (conf: thrift.host)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (conf: thrift.port)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one conf value, e.g. lakehouse.root=/data/lakehouse (repeatable)")
    parser.add_argument("--print-command", action="store_true", help="print the spark-submit command instead of running it")
    parser.add_argument("--beeline", nargs=argparse.REMAINDER, default=None, metavar="BEELINE_ARGS",
                        help="instead: connect beeline (pyspark's own) to the server at --host/--port, passing the rest "
                             "on, e.g. --beeline -e 'select * from gold.doe_effects limit 5' --outputformat=csv2")


def _sets(args: argparse.Namespace) -> list[str]:
    sets = list(args.overrides)
    if args.host:
        sets.append(f"thrift.host={args.host}")
    if args.port is not None:
        sets.append(f"thrift.port={args.port}")
    return sets


def run(args: argparse.Namespace) -> int:
    from toollife.config import job_config
    from toollife.runtime.spark_conf import catalog_dir
    from toollife.runtime.submit import submit_environment
    from toollife.lakehouse.tables import existing_tables

    sets = _sets(args)
    config = job_config(args.env, None, sets)
    cmd = build_command(config, sets, args.env)
    if args.print_command:
        print(shlex.join(cmd))
        return 0
    host, port = config["thrift"]["host"], int(config["thrift"]["port"])
    if args.beeline is not None:   # spark-class finds its home through the venv's Python: the submit environment
        client = beeline_command(jdbc_url("127.0.0.1" if host == "0.0.0.0" else host, port), *args.beeline)
        os.execvpe(client[0], client, submit_environment(config, os.environ, env_name=args.env))
    if not _port_free(host, port):
        raise UsageError(f"port {port} on {host} is already in use (another Thrift server?); "
                         "pick another with --port or `make thrift THRIFT_PORT=...`")
    log.debug("%s", shlex.join(cmd))   # all of it: --print-command
    print(f"toollife thrift: starting the Spark Thrift Server for {len(existing_tables(config))} tables under "
          f"{config['lakehouse']['root']}; connect to {jdbc_url(host, port)} (driver {JDBC_DRIVER}), e.g.\n"
          f"  toollife thrift --port {port} --beeline -e 'show tables in gold'\nCtrl-C stops it", flush=True)
    if catalog_dir(config) is not None:      # Derby's home (derby.log) must exist
        catalog_dir(config).mkdir(parents=True, exist_ok=True)
    env = submit_environment(config, os.environ, env_name=args.env)
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached


# --------------------------------------------------------------------------- the driver (under spark-submit)
def serve(config: Mapping[str, Any]) -> int:
    """Start HiveThriftServer2 on the factory's session; re-register tables until SIGTERM / SIGINT."""
    from py4j.protocol import Py4JError

    from toollife.lakehouse import tables
    from toollife.runtime.session import get_spark

    spark = get_spark(config, app_name=APP_NAME)   # registers every table on disk
    for layer in tables.LAYERS:     # `show tables in gold` answers (empty) before any job has run
        tables.ensure_schema(spark, layer)
    spark._jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
        spark._jsparkSession.sqlContext())
    thrift = config["thrift"]
    known = tables.existing_tables(config)
    print(f"toollife thrift: serving {len(known)} tables ({', '.join(t.qualified for t in known)}) "
          f"at {jdbc_url(thrift['host'], int(thrift['port']))}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(float(thrift["refresh_interval_s"])):
            if spark.sparkContext._jsc.sc().isStopped():   # also raises once the JVM is gone (killed)
                return 1
            new = [t for t in tables.existing_tables(config) if t not in known]
            for tbl in new:
                tables.register(spark, config, tbl)
                log.warning("registered %s (new on disk)", tbl.qualified)
            known += new
    except (Py4JError, OSError):  # the JVM went away (killed): nothing left to serve
        return 1
    spark.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    from toollife.errors import UserError, report, setup_logging
    from toollife.config import job_config

    parser = argparse.ArgumentParser(prog="toollife-thrift-driver")
    parser.add_argument("--env", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    setup_logging("WARNING")
    try:
        return serve(job_config(args.env, None, args.overrides))
    except UserError as exc:
        return report("toollife thrift", exc)


if __name__ == "__main__":
    sys.exit(main())
