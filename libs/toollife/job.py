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
import runpy
import shlex
import sys
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from toollife.cli import HelpFormatter
from toollife.config import ConfigError, load_config
from toollife.errors import EXIT_OK, UsageError, UserError, one_line, report, setup_logging

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

    spark = _session(config, name)
    if spark is None:
        return 1
    return execute(spark, config, name, fn, args, record=record)


def _session(config: Mapping[str, Any], name: str):
    """The one SparkSession, or None after saying in one line why it could not start."""
    from toollife.session import get_spark

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
        from toollife import lineage

        try:
            # a run stopped by a user-facing check (missing input, ...) does not create a lakehouse
            lineage.record_job_run(spark, config, run, create=not user_error)
        except Exception as exc:  # noqa: BLE001 - lineage must never mask the job's own outcome
            log.warning("could not record the run in meta.job_runs: %s", one_line(str(exc)))
    summary = {"job": name, "status": status, "run_id": run["run_id"], "duration_s": run["duration_s"], **metrics}
    print(json.dumps(summary, default=str, sort_keys=True))
    return code


# --------------------------------------------------------------------------- several jobs, one application
@dataclass(frozen=True)
class JobSpec:
    """What a job file in jobs/ defines: ``main`` and, optionally, ``add_arguments`` and ``preflight``."""

    name: str
    main: JobFn
    description: str | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    preflight: PreflightFn | None = None


def load_job(path: Path) -> JobSpec:
    """The job defined by ``path`` (its ``__main__`` block is not run); its name is the file's stem."""
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in path.parent.glob("*.py"))) if path.parent.is_dir() else ""
        raise UsageError(f"no job {path.stem} ({path})" + (f"; jobs there: {known}" if known else ""))
    ns = runpy.run_path(str(path), run_name=f"toollife_job_{path.stem}")
    if not callable(ns.get("main")):
        raise UsageError(f"{path} defines no main(spark, config, args)")
    return JobSpec(path.stem, ns["main"], ns.get("__doc__"), ns.get("add_arguments"), ns.get("preflight"))


# `toollife` commands a chain may run between its jobs: the ones that end by themselves and read or
# feed the tables the jobs use (a follow-up experiment published from the plan a job just wrote)
CHAIN_COMMANDS = ("simulate",)


@dataclass(frozen=True)
class CommandStep:
    """A ``toollife COMMAND [OPTIONS]`` step of a chain, run as its own process between two jobs."""

    command: str
    argv: list[str]     # the console script's arguments, the command's name among them

    @property
    def name(self) -> str:
        return f"toollife {self.command}"


def command_step(words: list[str], env: str | None) -> CommandStep:
    """``["toollife", "simulate", ...]`` -> its step, its options checked now (argparse says what is
    wrong and exits 2); only :data:`CHAIN_COMMANDS`, which end by themselves."""
    from toollife import cli

    if len(words) < 2 or words[1] not in CHAIN_COMMANDS:
        raise UsageError(f"'{shlex.join(words)}': a chain runs only these toollife commands between its jobs: "
                         + ", ".join(f"toollife {c}" for c in CHAIN_COMMANDS))
    argv = [*(["--env", env] if env else []), *words[1:]]
    cli.parse(argv)
    return CommandStep(words[1], argv)


def run_command(step: CommandStep) -> int:
    """Run the command as a child process (same Python, same environment; its output goes to ours) and
    print a summary line like a job's. The application's JVM waits meanwhile: what the chain gains is
    that the jobs after it reuse the warm session."""
    import os
    import subprocess

    started = time.monotonic()
    sys.stdout.flush()
    code = subprocess.run([sys.executable, "-m", "toollife.cli", *step.argv], env=dict(os.environ)).returncode
    print(json.dumps({"job": step.name, "status": "succeeded" if code == EXIT_OK else "failed",
                      "exit_code": code, "duration_s": round(time.monotonic() - started, 3)}), flush=True)
    return code


def run_jobs(jobs_dir: Path, *, argv: list[str] | None = None, description: str | None = None) -> int:
    """``run_jobs.py [--env E] [--set K=V ...] 'JOB [OPTIONS]' ...``: several jobs, in order, in one
    Spark application. Each runs as its own spark-submit would (options, preflight, meta.job_runs
    row, summary line); the first one that fails stops the chain with its exit code. Every job's
    options are checked before the session starts, so a typo in the last one costs no JVM.
    A step ``'toollife simulate [OPTIONS]'`` runs that command between two jobs (:class:`CommandStep`;
    it gets its own options, ``--env`` and the environment, not the chain's ``--set``)."""
    parser = base_parser("run_jobs", description)
    parser.add_argument("steps", nargs="+", metavar="'JOB [OPTIONS]'",
                        help="a job file's name in jobs/ (without .py) and its own options, as one argument")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    setup_logging(args.log_level)
    common = [*(["--env", args.env] if args.env else []), *(["--conf-file", args.conf_file] if args.conf_file else []),
              *[x for pair in args.overrides for x in ("--set", pair)], "--log-level", args.log_level]
    try:
        config = job_config(args.env, args.conf_file, args.overrides)
        steps = []
        for text in args.steps:
            words = shlex.split(text)
            if not words:
                raise UsageError("an empty step: name a job of jobs/")
            if words[0] == "toollife":
                try:
                    steps.append((command_step(words, args.env), None, None))
                except SystemExit as exc:  # argparse said what is wrong with the command's options
                    return int(exc.code or EXIT_OK)
                continue
            spec = load_job(jobs_dir / f"{words[0].removesuffix('.py')}.py")
            step_sets = [w for i, w in enumerate(words) if i and words[i - 1] == "--set"]
            if any(pair.startswith("spark.") for pair in step_sets):
                raise UsageError(f"{spec.name}: a step's --set spark.* cannot change the session the jobs share; "
                                 "give it before the steps")
            step_parser = base_parser(spec.name, spec.description)
            if spec.add_arguments:
                spec.add_arguments(step_parser)
            try:
                step_args = step_parser.parse_args([*words[1:], *common])
            except SystemExit as exc:      # argparse said what is wrong with this step's options
                return int(exc.code or EXIT_OK)
            steps.append((spec, step_args, job_config(step_args.env, step_args.conf_file, step_args.overrides)))
    except UserError as exc:
        return report("run_jobs", exc)
    spark = _session(config, "run_jobs")
    if spark is None:
        return 1
    for spec, step_args, step_config in steps:
        if isinstance(spec, CommandStep):
            code = run_command(spec)
            if code != EXIT_OK:
                return code
            continue
        try:
            if spec.preflight is not None:
                spec.preflight(step_config, step_args)
        except UserError as exc:
            return report(spec.name, exc)
        code = execute(spark, step_config, spec.name, spec.main, step_args)
        if code != EXIT_OK:
            return code
    return EXIT_OK
