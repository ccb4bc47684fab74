"""What every spark-submit entry point in jobs/ shares: arguments, conf, session, lineage, exit code.

A job file stays a few lines::

    def main(spark, config, args) -> dict:      # returns metrics for meta.job_runs
        ...
    if __name__ == "__main__":
        sys.exit(run_job("aggregate_experiments", main))

``run_job`` parses ``--env`` / ``--conf-file`` / ``--set section.key=value`` (plus the job's own
options), loads conf, builds the one SparkSession, records the run in ``meta.job_runs`` (start,
end, status, metrics, error) and turns any failure into a one-line error and exit code 1; the
traceback goes to the log at DEBUG, not into the user's face.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
import time
import traceback
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import yaml

from toollife.config import ConfigError, load_config

log = logging.getLogger("toollife.job")

JobFn = Callable[[Any, dict, argparse.Namespace], Mapping[str, Any] | None]


def parse_set_options(pairs: list[str]) -> dict[str, Any]:
    """``["kafka.partitions=6", "spark.master=local[1]"]`` -> nested override dict."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects section.key=value, got '{pair}'")
        node = overrides
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return overrides


def base_parser(name: str, description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"{name}.py", description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--env", default=None, help="conf/<env>.yaml to load (default: $TOOLLIFE_ENV or local)")
    parser.add_argument("--conf-file", default=None,
                        help="explicit conf file, e.g. one shipped with spark-submit --files")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one conf value (repeatable)")
    parser.add_argument("--log-level", default="INFO", help="Python log level")
    return parser


def run_job(
    name: str,
    fn: JobFn,
    *,
    description: str | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: list[str] | None = None,
    record: bool = True,
) -> int:
    """Run one job end to end and return its exit code (0 ok, 1 failed, 2 bad arguments/conf)."""
    parser = base_parser(name, description)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config = load_config(args.env, conf_file=args.conf_file, overrides=parse_set_options(args.overrides))
    except ConfigError as exc:
        print(f"{name}: configuration error: {exc}", file=sys.stderr)
        return 2

    from toollife.session import get_spark

    try:
        spark = get_spark(config, app_name=f"toollife-{name}")
    except Exception as exc:  # noqa: BLE001 - no session, nothing to record: say why and stop
        log.debug("session failed:\n%s", traceback.format_exc())
        print(f"{name}: cannot start Spark: {exc}", file=sys.stderr)
        return 1
    run = {
        "run_id": str(uuid.uuid4()),
        "job": name,
        "env": config["env"],
        "started_at": datetime.now(timezone.utc),
        "user": getpass.getuser(),
        "args": json.dumps(vars(args), default=str, sort_keys=True),
        "spark_app_id": spark.sparkContext.applicationId,
    }
    started = time.monotonic()
    status, error, metrics = "succeeded", None, {}
    try:
        metrics = dict(fn(spark, config, args) or {})
    except Exception as exc:  # noqa: BLE001 - the boundary where failures become an exit code
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        log.debug("%s failed:\n%s", name, traceback.format_exc())
        print(f"{name}: failed: {error}", file=sys.stderr)
    run.update(status=status, error=error, duration_s=round(time.monotonic() - started, 3),
               finished_at=datetime.now(timezone.utc), metrics=json.dumps(metrics, default=str, sort_keys=True))
    if record:
        from toollife import lineage

        try:
            lineage.record_job_run(spark, config, run)
        except Exception as exc:  # noqa: BLE001 - lineage must never mask the job's own outcome
            log.warning("could not record the run in meta.job_runs: %s", exc)
    summary = {"job": name, "status": status, "run_id": run["run_id"], "duration_s": run["duration_s"], **metrics}
    print(json.dumps(summary, default=str, sort_keys=True))
    return 0 if status == "succeeded" else 1
