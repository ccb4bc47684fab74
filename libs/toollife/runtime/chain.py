"""Several jobs of jobs/ in one Spark application (``jobs/run_jobs.py``), each exactly as its own
spark-submit would run it; a ``toollife simulate`` step may run between two of them."""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from toollife.config import job_config
from toollife.errors import EXIT_OK, UsageError, UserError, report, setup_logging
from toollife.lakehouse import storage
from toollife.runtime.job import JobFn, PreflightFn, base_parser, execute, start_session

# checks a console-script command line (argparse exits 2 on a mistake); the runtime does not know
# the console script, so its caller hands it in
CommandCheck = Callable[[list[str]], object]


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


def command_step(words: list[str], env: str | None, check: CommandCheck) -> CommandStep:
    """``["toollife", "simulate", ...]`` -> its step, its options checked now by ``check`` (the
    console script's parser: argparse says what is wrong and exits 2); only :data:`CHAIN_COMMANDS`,
    which end by themselves."""
    if len(words) < 2 or words[1] not in CHAIN_COMMANDS:
        raise UsageError(f"'{shlex.join(words)}': a chain runs only these toollife commands between its jobs: "
                         + ", ".join(f"toollife {c}" for c in CHAIN_COMMANDS))
    argv = [*(["--env", env] if env else []), *words[1:]]
    check(argv)
    return CommandStep(words[1], argv)


def run_command(step: CommandStep) -> int:
    """Run the command as a child process (same Python, same environment; its output goes to ours) and
    print a summary line like a job's. The application's JVM waits meanwhile: what the chain gains is
    that the jobs after it reuse the warm session."""
    started = time.monotonic()
    sys.stdout.flush()
    code = subprocess.run([sys.executable, "-m", "toollife.cli", *step.argv], env=dict(os.environ)).returncode
    print(json.dumps({"job": step.name, "status": "succeeded" if code == EXIT_OK else "failed",
                      "exit_code": code, "duration_s": round(time.monotonic() - started, 3)}), flush=True)
    return code


def run_jobs(jobs_dir: Path, *, check_command: CommandCheck, argv: list[str] | None = None,
             description: str | None = None) -> int:
    """``run_jobs.py [--env E] [--set K=V ...] 'JOB [OPTIONS]' ...``: several jobs, in order, in one
    Spark application. Each runs as its own spark-submit would (options, preflight, meta.job_runs
    row, summary line); the first one that fails stops the chain with its exit code. Every job's
    options are checked before the session starts, so a typo in the last one costs no JVM.
    A step ``'toollife simulate [OPTIONS]'`` runs that command between two jobs (:class:`CommandStep`;
    it gets its own options, ``--env`` and the environment, not the chain's ``--set``), its options
    checked by ``check_command`` (the console script's parser, handed down by jobs/run_jobs.py)."""
    parser = base_parser("run_jobs", description)
    parser.add_argument("steps", nargs="+", metavar="'JOB [OPTIONS]'",
                        help="a job file's name in jobs/ (without .py) and its own options, as one argument")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    setup_logging(args.log_level)
    common = [*(["--env", args.env] if args.env else []), *(["--conf-file", args.conf_file] if args.conf_file else []),
              *[x for pair in args.overrides for x in ("--set", pair)], "--log-level", args.log_level]
    try:
        config = job_config(args.env, args.conf_file, args.overrides)
        storage.check_buckets(config)   # an object-store lakehouse answers, before the JVM
        steps = []
        for text in args.steps:
            words = shlex.split(text)
            if not words:
                raise UsageError("an empty step: name a job of jobs/")
            if words[0] == "toollife":
                try:
                    steps.append((command_step(words, args.env, check_command), None, None))
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
                # the chain's options first: a job with sub-commands (import_measurements KIND) reads
                # options after KIND with the sub-command's parser; a step's own --set still wins
                step_args = step_parser.parse_args([*common, *words[1:]])
            except SystemExit as exc:      # argparse said what is wrong with this step's options
                return int(exc.code or EXIT_OK)
            steps.append((spec, step_args, job_config(step_args.env, step_args.conf_file, step_args.overrides)))
    except UserError as exc:
        return report("run_jobs", exc)
    spark = start_session(config, "run_jobs")
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
