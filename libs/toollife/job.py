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

import yaml

from toollife.cli import HelpFormatter
from toollife.config import ConfigError, load_config
from toollife.errors import EXIT_OK, UserError, one_line, report, setup_logging

log = logging.getLogger("toollife.job")

JobFn = Callable[[Any, dict, argparse.Namespace], Mapping[str, Any] | None]
PreflightFn = Callable[[dict, argparse.Namespace], None]
CONF_REF = re.compile(r"\(conf: ([a-z_]+(?:\.[a-z_]+)+)\)")


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
            if not isinstance(node, dict):
                raise ConfigError(f"--set {pair}: '{part}' was already given a value by another --set")
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {pair}: not a valid YAML value ({one_line(str(exc))})") from None
    return overrides


def job_config(env: str | None = None, conf_file: str | None = None, sets: list[str] | None = None) -> dict:
    """The conf a job runs with; a mistake in a ``--set`` is reported as that ``--set``."""
    sets = list(sets or [])
    try:
        return load_config(env, conf_file=conf_file, overrides=parse_set_options(sets))
    except ConfigError as exc:
        key = exc.key or ""
        pair = next((p for p in sets if key and (p.partition("=")[0] == key
                                                 or p.partition("=")[0].startswith(key + "."))), None)
        if pair is None or str(exc).startswith("environment variable"):
            raise
        raise ConfigError(f"--set {pair}: {exc}", key=exc.key) from None


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
    setup_logging(args.log_level)
    try:
        config = job_config(args.env, args.conf_file, args.overrides)
        if preflight is not None:
            preflight(config, args)
    except UserError as exc:  # nothing started, nothing written
        return report(name, exc)

    from toollife.session import get_spark

    try:
        spark = get_spark(config, app_name=f"toollife-{name}")
    except Exception as exc:  # noqa: BLE001 - no session, nothing to record: say why and stop
        log.debug("session failed:\n%s", traceback.format_exc())
        print(f"{name}: cannot start Spark: {one_line(str(exc))}", file=sys.stderr)
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
        from toollife import lineage

        try:
            # a run stopped by a user-facing check (missing input, ...) does not create a lakehouse
            lineage.record_job_run(spark, config, run, create=not user_error)
        except Exception as exc:  # noqa: BLE001 - lineage must never mask the job's own outcome
            log.warning("could not record the run in meta.job_runs: %s", one_line(str(exc)))
    summary = {"job": name, "status": status, "run_id": run["run_id"], "duration_s": run["duration_s"], **metrics}
    print(json.dumps(summary, default=str, sort_keys=True))
    return code
