"""`toollife submit JOB [JOB ARGS...]`: spark-submit a job with the options conf implies.

    toollife submit jobs/init_lakehouse.py --check-executors
    toollife --env cluster submit --master yarn --py-files dist/toollife.zip jobs/compute_doe_effects.py

Prints the full command first, so it can be copied into any scheduler as it is.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

from toollife.config import load_config
from toollife.session import submit_args


def spark_submit_binary() -> str:
    """spark-submit beside the running interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "spark-submit"
    return str(beside) if beside.exists() else (shutil.which("spark-submit") or "spark-submit")


def build_command(config, job: str, job_args: list[str], *, master: str | None = None,
                  py_files: str | None = None, files: str | None = None) -> list[str]:
    cmd = [spark_submit_binary(), *submit_args(config, master=master)]
    if py_files:
        cmd += ["--py-files", py_files]
    if files:
        cmd += ["--files", files]
    return [*cmd, job, *job_args]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--master", default=None, help="override spark.master from conf")
    parser.add_argument("--py-files", default=None, help="zip of the library for executors (make package)")
    parser.add_argument("--files", default=None, help="files to ship, e.g. conf/cluster.yaml")
    parser.add_argument("job", help="path of the job file, e.g. jobs/init_lakehouse.py")
    parser.add_argument("job_args", nargs=argparse.REMAINDER, help="arguments passed to the job")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.env)
    cmd = build_command(config, args.job, args.job_args, master=args.master,
                        py_files=args.py_files, files=args.files)
    print(shlex.join(cmd), file=sys.stderr, flush=True)
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if args.env:
        env["TOOLLIFE_ENV"] = args.env
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached
