"""What every spark-submit entry point in jobs/ shares: arguments, conf, session, lineage, exit code.

A job file stays a few lines::

    def main(spark, config, args) -> dict:      # returns metrics for meta.job_runs
        ...
    if __name__ == "__main__":
        sys.exit(run_job("aggregate_experiments", main))

``run_job`` parses ``--env`` / ``--conf-file`` / ``--set section.key=value`` (plus the job's own
options), loads conf, runs the job's ``preflight`` checks (before the JVM: a broker that does not
answer fails in seconds and creates nothing), builds the one SparkSession, records the run in
``meta.job_runs`` (start, end, status, metrics, error) and turns any failure into a one-line
error and an exit code (:mod:`toollife.errors`: 1 failed, 2 arguments/conf, 3 missing input,
4 nothing analysed); the traceback goes to the log at DEBUG, not into the user's face.

Help texts may name a conf key as ``(conf: section.key)``; ``--help`` shows its effective value
(defaults <- conf/<env>.yaml <- TOOLLIFE__* <- --set), i.e. what the job will use.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import re
import sys
import time
import traceback
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from toollife.config import HelpFormatter, job_config
from toollife.errors import EXIT_OK, UserError, one_line, report, setup_logging
from toollife.lakehouse import storage

log = logging.getLogger("toollife.runtime.job")

JobFn = Callable[[Any, dict, argparse.Namespace], Mapping[str, Any] | None]
PreflightFn = Callable[[dict, argparse.Namespace], None]
CONF_REF = re.compile(r"\(conf: ([a-z_]+(?:\.[a-z_]+)+)\)")


def conf_value(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node[part]
    return node


def show_effective_conf(parser: argparse.ArgumentParser, config: Mapping[str, Any]) -> None:
    """Rewrite ``(conf: section.key)`` in help texts to ``(conf section.key: VALUE)``."""

    def value(match: re.Match) -> str:
        try:
            return f"(conf {match[1]}: {json.dumps(conf_value(config, match[1]), default=str)})"
        except (KeyError, TypeError):
            return match[0]

    for action in parser._actions:
        if action.help:
            action.help = CONF_REF.sub(value, action.help)


def base_parser(name: str, description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"{name}.py", description=description,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--env", default=None, help="conf/<env>.yaml to load (default: $TOOLLIFE_ENV or local)")
    parser.add_argument("--conf-file", default=None,
                        help="explicit conf file, e.g. one shipped with spark-submit --files")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one conf value (repeatable)")
    parser.add_argument("--log-level", default="INFO", help="Python log level (default: INFO)")
    return parser


def run_job(
    name: str,
    fn: JobFn,
    *,
    description: str | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: list[str] | None = None,
    record: bool = True,
    preflight: PreflightFn | None = None,
) -> int:
    """Run one job end to end and return its exit code (see :mod:`toollife.errors`)."""
    parser = base_parser(name, description)
    if add_arguments:
        add_arguments(parser)
    argv = sys.argv[1:] if argv is None else list(argv)
    if "-h" in argv or "--help" in argv:
        known, _ = base_parser(name).parse_known_args([a for a in argv if a not in ("-h", "--help")])
        try:
            show_effective_conf(parser, job_config(known.env, known.conf_file, known.overrides))
        except UserError:
            pass  # the help still shows the conf keys; running will name the mistake
    args = parser.parse_args(argv)
    try:
        setup_logging(args.log_level)   # `--log-level verbose`: one line and exit 2, as `toollife` says it
        config = job_config(args.env, args.conf_file, args.overrides)
        storage.check_buckets(config)   # an object-store lakehouse answers, before any JVM
        if preflight is not None:
            preflight(config, args)
    except UserError as exc:  # nothing started, nothing written
        return report(name, exc)

    spark = start_session(config, name)
    if spark is None:
        return 1
    return execute(spark, config, name, fn, args, record=record)


def start_session(config: Mapping[str, Any], name: str):
    """The one SparkSession, or None after saying in one line why it could not start."""
    # imported here: `toollife submit` checks a job's options with base_parser, without pyspark
    from toollife.runtime.session import get_spark

    try:
        return get_spark(config, app_name=f"toollife-{name}")
    except Exception as exc:  # noqa: BLE001 - no session, nothing to record: say why and stop
        log.debug("session failed:\n%s", traceback.format_exc())
        print(f"{name}: cannot start Spark: {one_line(str(exc))}", file=sys.stderr)
        return None


def execute(spark, config: dict, name: str, fn: JobFn, args: argparse.Namespace, *, record: bool = True) -> int:
    """Run one job's function on a session: meta.job_runs row, JSON summary line, exit code."""
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
    status, error, metrics, code, user_error = "succeeded", None, {}, EXIT_OK, False
    try:
        metrics = dict(fn(spark, config, args) or {})
    except Exception as exc:  # noqa: BLE001 - the boundary where failures become an exit code
        status, error = "failed", f"{type(exc).__name__}: {one_line(str(exc))}"
        user_error = isinstance(exc, UserError)
        metrics = dict(getattr(exc, "metrics", None) or {})
        code = report(name, exc)
    run.update(status=status, error=error, duration_s=round(time.monotonic() - started, 3),
               finished_at=datetime.now(timezone.utc), metrics=json.dumps(metrics, default=str, sort_keys=True))
    if record:
        from toollife.lakehouse import lineage  # pyspark, as above

        try:
            # a run stopped by a user-facing check (missing input, ...) does not create a lakehouse
            lineage.record_job_run(spark, config, run, create=not user_error)
        except Exception as exc:  # noqa: BLE001 - lineage must never mask the job's own outcome
            log.warning("could not record the run in meta.job_runs: %s", one_line(str(exc)))
    summary = {"job": name, "status": status, "run_id": run["run_id"], "duration_s": run["duration_s"], **metrics}
    print(json.dumps(summary, default=str, sort_keys=True))
    return code
