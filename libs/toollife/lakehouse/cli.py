"""`toollife tables`: what is in the lakehouse, and DDL so spark-sql / BI tools see it.

With the laptop's in-memory catalog, ``spark-sql -i <(toollife tables sql-init)`` registers every
table before your query; ``make sql`` does exactly that.
"""

from __future__ import annotations

import argparse

import sys

from toollife.config import job_config
from toollife.lakehouse.tables import existing_tables


def add_arguments(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    parser.add_argument("action", choices=["list", "sql-init"],
                        help="list: <layer>.<table> and location; sql-init: CREATE statements for spark-sql -i")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config key, as for the jobs (repeatable)")


def run(args: argparse.Namespace) -> int:
    config = job_config(args.env, None, args.overrides)
    found = existing_tables(config)
    if args.action == "list":
        if not found:   # said on stderr: stdout stays a clean list for scripts
            print(f"no tables yet under {config['lakehouse']['root']} (lakehouse.root); "
                  "`toollife submit jobs/init_lakehouse.py` creates them, `make demo` fills them", file=sys.stderr)
        for tbl in found:
            print(f"{tbl.qualified:40s} {tbl.path(config)}")
        return 0
    for layer in sorted({t.layer for t in found}):
        print(f"CREATE SCHEMA IF NOT EXISTS {layer};")
    for tbl in found:
        print(f"CREATE TABLE IF NOT EXISTS {tbl.qualified} USING DELTA LOCATION '{tbl.path(config)}';")
    return 0
