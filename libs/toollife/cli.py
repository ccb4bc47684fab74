"""The `toollife` console script: one entry point, one sub-command per module.

Each sub-command module exposes ``add_arguments(parser, env)`` (``env``: the ``--env`` given before
the sub-command, so help texts can show the effective conf) and ``run(args) -> int`` and is
imported only when chosen, so `toollife --help` stays fast and Spark-free. A sub-command reports
a mistake the user can fix by raising a :class:`toollife.errors.UserError` (``ConfigError`` is
one): the console script prints it as one line and exits with its code (see toollife.errors).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from toollife.config import HelpFormatter
from toollife.errors import UserError, report, setup_logging

SUBCOMMANDS = {
    "kafka": ("toollife.services.kafka_local", "start/stop the local development Kafka broker"),
    "s3": ("toollife.services.s3_local", "start/stop the local S3 API server (S3Proxy, in memory) for an s3a:// lakehouse"),
    "tables": ("toollife.lakehouse.cli", "list the lakehouse tables or print spark-sql registration DDL"),
    "submit": ("toollife.runtime.submit", "spark-submit a job from jobs/ with the conf's jars, master and settings"),
    "import": ("toollife.imports.cli", "import real tool-life worksheets or wear logs (CSV, Excel, Parquet) into the lakehouse"),
    "simulate": ("toollife.simulation.cli", "simulate DOE machining runs and publish sensor readings + tool events to Kafka"),
    "mlflow": ("toollife.ml.cli", "the MLflow UI over the configured tracking store (ml.store_dir / ml.tracking_uri)"),
    "dashboard": ("toollife.dashboard.cli", "the Streamlit dashboard over the Delta tables (no Spark), on 127.0.0.1:8501"),
    "metrics": ("toollife.services.metrics_exporter", "Prometheus metrics of the lakehouse's job runs (meta.job_runs), on 127.0.0.1:9109"),
    "report": ("toollife.dashboard.report", "the savings summary, per-combination table and key charts as one PDF or Excel file"),
    "thrift": ("toollife.services.thrift", "the Spark Thrift Server (JDBC for BI tools) over every lakehouse table, on 127.0.0.1:10000"),
    "sql": ("toollife.services.sql_shell", "Spark SQL over every lakehouse table: a statement, -f FILE, or a prompt"),
}


def parse(argv: list[str] | None = None) -> tuple[argparse.Namespace, object]:
    """(the parsed arguments, the chosen sub-command's module); argparse exits 2 on a mistake."""
    parser = argparse.ArgumentParser(prog="toollife", description="Tool-life DOE platform tools.")
    parser.add_argument("--env", default=None, help="conf/<env>.yaml to read (default: TOOLLIFE_ENV or local)")
    parser.add_argument("--log-level", default="INFO", help="Python log level: DEBUG, INFO, WARNING, ERROR or CRITICAL (default: INFO)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((a for a in argv if a in SUBCOMMANDS), None)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--env", default=None)
    env = pre.parse_known_args(argv[: argv.index(chosen)] if chosen else argv)[0].env
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text,
                                    formatter_class=HelpFormatter)
        if name == chosen:  # import only the module that runs
            modules[name] = importlib.import_module(module_name)
            modules[name].add_arguments(sub_parser, env)
    args = parser.parse_args(argv)
    return args, modules[args.command]


def main(argv: list[str] | None = None) -> int:
    args, module = parse(argv)
    try:
        setup_logging(args.log_level)
    except UserError as exc:
        return report("toollife", exc)
    try:
        return module.run(args)
    except UserError as exc:
        return report(f"toollife {args.command}", exc)


if __name__ == "__main__":
    sys.exit(main())
