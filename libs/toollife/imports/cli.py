"""`toollife import runs|wear FILE ...`: spark-submit jobs/import_measurements.py, as `toollife submit` does.

    toollife import wear ../shared/realdata/nasa_mill_runs.csv --experiment-id nasa_mill \\
        --run-column case --time-column time --time-unit min --wear-column VB --wear-unit mm \\
        --factors DOC=depth_of_cut,feed,material

The options (or a ``--map`` YAML file) are checked and the file is read and its columns checked
before any JVM starts: a missing column, an unknown unit or a file that is not there is one line
and exit code 2 (3 for a missing file). Machine and tool default to 'imported' and the
experiment id. The job's summary line counts the runs, readings and quarantined rows.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path

from toollife.imports import reading, spec as specs
from toollife.runtime import submit

JOB = "jobs/import_measurements.py"
log = logging.getLogger("toollife.import")


def add_arguments(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    specs.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    spec = specs.from_args(args)
    job_args = spec.to_argv() + [x for o in getattr(args, "overrides", None) or [] for x in ("--set", o)]
    config = submit.job_conf(args.env, job_args, None)
    frame = reading.read_table(spec.file, config)            # unreadable / missing file: one line
    reading.require_columns(frame, spec.columns_used, spec.source or spec.file)
    job = submit.check_job(JOB, config["base_dir"])
    submit.check_job_options(job, job_args)
    cmd = submit.build_command(config, job, job_args)
    print(submit.short_command(cmd, job_args), file=sys.stderr, flush=True)
    log.debug("%s", shlex.join(cmd))
    env = submit.submit_environment(config, os.environ, env_name=args.env)
    return submit.supervise(cmd, env, Path(job).name)
