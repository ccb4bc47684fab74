"""`toollife submit JOB [JOB ARGS...]`: spark-submit a job with the options conf implies.

    toollife submit jobs/init_lakehouse.py --check-executors
    toollife --env cluster submit --master yarn --py-files dist/toollife.zip jobs/compute_doe_effects.py

Prints one short line first (``spark-submit --master local[2] ... jobs/x.py ARGS``: the jars and
``--conf`` settings elided); ``--print-command`` prints the full command instead of running it, so
it can be copied into any scheduler as it is (``--log-level DEBUG`` logs it too). Before the JVM
starts it checks what it can: that the job file exists and that the job's conf (``--env``,
``--conf-file``, ``--set`` among the job's arguments, TOOLLIFE__* variables) is valid, so such a
mistake is one line and exit code 2 within a second instead of after the JVM's start-up.

It then stays as spark-submit's parent and exits with its exit code. A SIGTERM or SIGINT it gets
is passed on to the job's Python driver only: the job stops gracefully (running micro-batches
commit, the run is recorded in meta.job_runs) and exits 0. spark-submit runs in a session of its
own, so a signal to this process's group (Ctrl-C, a scheduler stopping a task) does not reach the
driver JVM either: the JVM's shutdown hook would stop the SparkContext under the Python driver
(Py4J "Cannot call methods on a stopped SparkContext", exit 143, no meta.job_runs row).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from toollife.errors import UsageError, check_log_level
from toollife.runtime.spark_conf import submit_args

log = logging.getLogger(__name__)


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


def short_command(cmd: list[str], job_args: list[str]) -> str:
    """The one line echoed before a run: spark-submit, its master, ``...`` for the jars and
    settings, the job and its arguments (``cmd`` ends with the job and ``job_args``)."""
    at = len(cmd) - len(job_args) - 1
    options = cmd[1:at]
    master = options[options.index("--master"):options.index("--master") + 2] if "--master" in options else []
    parts = [Path(cmd[0]).name, *master, *(["..."] if len(options) > len(master) else [])]
    return " ".join([*(shlex.quote(p) if p != "..." else p for p in parts), shlex.join(cmd[at:])])


def installed_jobs_dir() -> Path:
    """jobs/ of the checkout the library is installed from (an editable install, PYTHONPATH=libs)."""
    return Path(__file__).resolve().parents[3] / "jobs"


def check_job(job: str, base_dir: str) -> str:
    """The job file to run: ``job`` as given, else ``jobs/NAME.py`` of the project (``base_dir``)
    or of the installed library, so it runs from any directory; else name the jobs there are."""
    path = Path(job)
    if path.is_file():
        return job
    relative = not path.is_absolute() and path.parent in (Path("."), Path("jobs"))
    candidates = [d / path.name for d in (Path(base_dir) / "jobs", installed_jobs_dir())] if relative else []
    found = next((c for c in candidates if c.is_file()), None)
    if found is not None:
        return str(found)
    jobs_dir = path.parent if path.parent.is_dir() and path.parent != Path(".") else Path(base_dir) / "jobs"
    if relative and not jobs_dir.is_dir():
        jobs_dir = installed_jobs_dir()
    known = sorted(str(p) for p in jobs_dir.glob("*.py")) if jobs_dir.is_dir() else []
    where = f"; jobs in {jobs_dir}/: {', '.join(Path(k).name for k in known)}" if known else ""
    raise UsageError(f"no job file {job}{where}")


def check_job_options(job: str, job_args: list[str]) -> None:
    """The job's own options, parsed by the job's parser before the JVM starts (argparse says what
    is wrong and exits 2), as run_jobs checks its steps. A file without a job ``main`` (run_jobs.py)
    is left to itself; ``--help`` is the job's to print."""
    from toollife.runtime.chain import load_job
    from toollife.runtime.job import base_parser

    if "-h" in job_args or "--help" in job_args:
        return
    try:
        spec = load_job(Path(job))
    except UsageError:
        return
    parser = base_parser(spec.name, spec.description)
    if spec.add_arguments:
        spec.add_arguments(parser)
    parser.parse_args(job_args)


def job_conf(env: str | None, job_args: list[str], files: str | None):
    """Validate the conf the job will load (its --env / --conf-file / --set), without Spark.

    A ``--conf-file`` that only exists where spark-submit ships it (``--files``) is checked in
    its local form.
    """
    from toollife.runtime.job import base_parser
    from toollife.config import job_config

    known, _ = base_parser("job", None).parse_known_args([a for a in job_args if a not in ("-h", "--help")])
    check_log_level(known.log_level)
    conf_file = known.conf_file
    if conf_file and not Path(conf_file).is_file():
        shipped = [f for f in (files or "").split(",") if f and Path(f).name == Path(conf_file).name]
        conf_file = shipped[0] if shipped else conf_file
    return job_config(known.env or env, conf_file, known.overrides)


def add_arguments(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    parser.add_argument("--master", default=None, help="override spark.master from conf")
    parser.add_argument("--py-files", default=None, help="zip of the library for executors (make package)")
    parser.add_argument("--files", default=None, help="files to ship, e.g. conf/cluster.yaml")
    parser.add_argument("--print-command", action="store_true",
                        help="print the full spark-submit command (every jar and --conf) instead of running it")
    parser.add_argument("job", help="path of the job file, e.g. jobs/init_lakehouse.py")
    parser.add_argument("job_args", nargs=argparse.REMAINDER, help="arguments passed to the job")


def run(args: argparse.Namespace) -> int:
    config = job_conf(args.env, args.job_args, args.files)
    job = check_job(args.job, config["base_dir"])
    check_job_options(job, args.job_args)
    cmd = build_command(config, job, args.job_args, master=args.master,
                        py_files=args.py_files, files=args.files)
    if args.print_command:
        print(shlex.join(cmd))
        return 0
    log.debug("%s", shlex.join(cmd))
    print(short_command(cmd, args.job_args), file=sys.stderr, flush=True)
    env = submit_environment(config, os.environ, master=args.master, env_name=args.env)
    return supervise(cmd, env, Path(args.job).name)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the kernel kills spark-submit if this process is killed outright (SIGKILL), as it
    did when this process *was* spark-submit; elsewhere nothing."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def supervise(cmd: list[str], env: dict[str, str], script: str) -> int:
    """Run spark-submit and wait for it; SIGTERM/SIGINT go to the Python driver running ``script``
    (before it has started, to spark-submit itself). Returns its exit code, 128+N for signal N."""
    started: list[subprocess.Popen] = []
    stops: list[int] = []  # a signal that came before spark-submit had a pid

    def forward(signum, _frame):
        if not started:
            stops.append(signum)
            return
        target = python_driver_pid(started[0].pid, script) or started[0].pid
        try:
            os.kill(target, signum)
        except ProcessLookupError:
            pass  # it ended meanwhile: wait() below returns its code

    # handlers first: a stop in the instant spark-submit starts must not kill this process alone
    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        started.append(subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_die_with_parent))
        for signum in stops:
            forward(signum, None)
        code = started[0].wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code


def submit_environment(config, environ, *, master: str | None = None, env_name: str | None = None) -> dict[str, str]:
    """The environment spark-submit runs in: this venv first on PATH (spark-submit finds its
    Python), its interpreter for the workers, SPARK_LOCAL_IP on local masters, --env handed on."""
    env = dict(environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    master = master or config["spark"]["master"] or ""
    if master.startswith("local") and config["spark"]["local_ip"]:
        # the driver JVM starts before the job's Python: only the environment reaches it in time
        # (the UI then binds to local_ip instead of 0.0.0.0, and no "hostname resolves to a
        # loopback address" warning)
        env.setdefault("SPARK_LOCAL_IP", config["spark"]["local_ip"])
    if env_name:
        env["TOOLLIFE_ENV"] = env_name
    return env


def python_driver_pid(submit_pid: int, script: str) -> int | None:
    """The Python driver a local spark-submit (``submit_pid``) started for ``script``, or None.

    In client mode spark-submit is a JVM whose child runs the job's Python; a graceful stop
    (SIGTERM: the job's handler lets the running micro-batch commit) goes to that child, since
    the JVM would exit at once. Linux /proc only (local runs: tests, benchmarks, an operator).
    """
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat, cmdline = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
        except OSError:   # the process ended while we looked
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == submit_pid and script.encode() in cmdline and b"python" in cmdline:
            return int(entry.name)
    return None
