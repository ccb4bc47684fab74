"""The `toollife` console script: one entry point, one sub-command per module.

Each sub-command module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and is
imported only when chosen, so `toollife --help` stays fast and Spark-free.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

SUBCOMMANDS = {
    "kafka": ("toollife.kafka_local", "start/stop the local development Kafka broker"),
    "tables": ("toollife.tables_cli", "list the lakehouse tables or print spark-sql registration DDL"),
    "submit": ("toollife.submit", "spark-submit a job from jobs/ with the conf's jars, master and settings"),
    "simulate": ("toollife.simulation.cli", "simulate DOE machining runs and publish sensor readings + tool events to Kafka"),
    "mlflow": ("toollife.ml.cli", "the MLflow UI over the configured tracking store (ml.store_dir / ml.tracking_uri)"),
    "dashboard": ("toollife.dashboard.cli", "the Streamlit dashboard over the Delta tables (no Spark), on 127.0.0.1:8501"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="toollife", description="Tool-life DOE platform tools.")
    parser.add_argument("--env", default=None, help="conf/<env>.yaml to read (default: TOOLLIFE_ENV or local)")
    parser.add_argument("--log-level", default="INFO", help="Python log level (default: INFO)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    chosen = next((a for a in (argv if argv is not None else sys.argv[1:]) if a in SUBCOMMANDS), None)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text,
                                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        if name == chosen:  # import only the module that runs
            modules[name] = importlib.import_module(module_name)
            modules[name].add_arguments(sub_parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return modules[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
