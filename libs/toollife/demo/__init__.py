"""`make demo`: the whole flow on a laptop, the way a user runs it, then a summary.

1. a local Kafka broker (reused if `make kafka-up` already started one),
2. `toollife simulate`: a seeded experiment (with a few bad messages) published to Kafka,
3. the jobs of jobs/, in one Spark application (`toollife submit jobs/run_jobs.py JOB ...`):
   ingest_sensors (availableNow: Kafka -> bronze -> silver/quarantine), validate_tables (Great
   Expectations on bronze and silver, meta.data_quality; a critical failure stops the demo),
   aggregate_experiments (gold.experiment_runs), import_measurements (published real data, when
   ../shared/realdata is there: a wear log and a worksheet, beside the simulation), compute_doe_effects (gold.doe_effects,
   gold.doe_optimal_settings), validate_tables (gold), train_tool_life (tool_life / tool_rul
   candidates in MLflow, champion / challenger by the promotion rule), score_tool_life
   (gold.tool_life_predictions), score_live (availableNow: gold.tool_life_live, gold.tool_alerts,
   Kafka tool-alerts), validate_tables (predictions), plan_next_experiments
   (gold.doe_next_experiments),
4. in the same application, one round of the experiment loop: `toollife simulate --plan-from
   gold.doe_next_experiments` (a step of the chain, run between two jobs) runs the recommendation
   as the follow-up experiment <id>-F1, then ingest_sensors, aggregate_experiments and
   plan_next_experiments analyse it with its parent (gold.doe_follow_up) and recommend the round
   after; they reuse the warm JVM instead of paying a second start and warm-up,
5. a summary read back from the tables with delta-rs (no second JVM), checked against the
   simulator's ground truth, and the savings report a plant manager reads (`toollife report`, PDF).

Each job runs exactly as its own spark-submit would (jobs/run_jobs.py); one application pays the JVM
start and warm-up once instead of once per job. `python -m toollife.demo --separate`
runs every job as its own spark-submit instead, as the Airflow DAGs do. Running the demo again
gives the same tables: the simulator re-sends identical messages (same seed), the ingestion drops
them as duplicates, and the gold jobs MERGE / replace by experiment. Training again registers new
versions, but they only tie the champion on the same holdout, so the champion and its
predictions stay.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from toollife.config import load_config
from toollife.demo.summary import imported_summary, quality_summary, savings_summary, summarize, where_to_look
from toollife.services.kafka_local import BrokerError, LocalKafkaBroker
from toollife.services.s3_local import LocalS3Server

log = logging.getLogger("toollife.demo")

# Laptop-sized experiment: 3 machines x 2 tools, the default 2^(5-1) design twice (192 runs).
# The last run of every machine is still cutting when the simulation ends: the tools to score live.
DEMO_SIZE = ["--machines", "3", "--tools", "2", "--replicates", "2", "--sample-interval", "60", "--in-progress", "1"]
# A short hyperparameter search per candidate keeps the demo quick (the default is 60 s).
DEMO_TRAINING = ["--set", "ml.search_time_s=10"]
# A few of every kind of bad message, so the quarantine has something to show.
DEMO_BAD_MESSAGES = ["malformed_json=3", "missing_field=3", "unknown_sensor=2", "out_of_range=2",
                     "non_finite=2", "bad_timestamp=2", "wrong_type=2", "oversize=1", "duplicate=20"]


# Real, published data (../shared/realdata beside the repository; its README has the sources): a wear
# log and a textbook worksheet, imported beside the simulated experiment and analysed with it.
REAL_DATA_IMPORTS = [
    ("nasa_mill_runs.csv", ["wear", "--experiment-id", "nasa_mill", "--run-column", "case", "--time-column", "time",
                            "--time-unit", "min", "--wear-column", "VB", "--wear-unit", "mm",
                            "--factors", "DOC=depth_of_cut,feed,material"], "NASA milling wear log (16 tools)"),
    ("montgomery_dae_problem6_5_toollife.csv", ["runs", "--experiment-id", "montgomery_6_5", "--life", "LifeHours",
                                                "--life-unit", "h", "--factors", "CuttingSpeed,ToolGeometry,CuttingAngle"],
     "Montgomery's 2^3 tool-life worksheet"),
]


def real_data_steps(folder: Path) -> list[tuple[str, list[str], str]]:
    """import_measurements steps for the example files present in ``folder`` (none: a note)."""
    steps = []
    for name, args, what in REAL_DATA_IMPORTS:
        if (folder / name).is_file():
            steps.append(("import_measurements", [args[0], str(folder / name), *args[1:]], f"import: {what}"))
    if not steps:
        print(f"    note: no real data at {folder}: the import of published data is skipped", flush=True)
    return steps


# a chain's step that runs `toollife simulate` between its jobs (toollife.runtime.job.CommandStep)
SIMULATE = "toollife simulate"


def _toollife(*args: str) -> list[str]:
    return [sys.executable, "-m", "toollife.cli", *args]


def run_step(name: str, cmd: list[str], env: Mapping[str, str]) -> dict[str, Any]:
    """Run one step as its own process; return the JSON summary line it printed, if any."""
    print(f"\n==> {name}\n    $ {shlex.join(cmd)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(cmd, env=dict(env), capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.stderr.write((result.stderr + result.stdout)[-4000:])  # under spark-submit the job's own lines are on stdout
        raise RuntimeError(f"step '{name}' failed with exit code {result.returncode}")
    summary = {}
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            summary = json.loads(line)
            break
    print(f"    ok in {seconds:.0f}s", flush=True)
    return summary


def run_jobs_step(title: str, steps: list[tuple[str, list[str], str]], env: Mapping[str, str], jobs: Path,
                  separate: bool = False) -> list[dict[str, Any]]:
    """Jobs of jobs/ in order, each ``(job, its options, what it does)``: one Spark application
    (jobs/run_jobs.py), or one spark-submit each with ``separate``; a job :data:`SIMULATE` is that
    command. Prints a line per job as it ends; returns the jobs' summary lines."""
    if separate:
        return [run_step(f"{what} ({job})", _toollife(*job.split()[1:], *args) if job == SIMULATE
                         else _toollife("submit", str(jobs / f"{job}.py"), *args), env)
                for job, args, what in steps]
    cmd = _toollife("submit", str(jobs / "run_jobs.py"), *[shlex.join([*job.split(), *args]) for job, args, _ in steps])
    print(f"\n==> {title}\n    $ {shlex.join(cmd)}", flush=True)
    what = [text for _, _, text in steps]       # the i-th summary line is the i-th job's
    summaries, stdout = [], []
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=dict(env), stdout=subprocess.PIPE, stderr=err, text=True)
        for line in proc.stdout:
            stdout.append(line)
            if line.startswith("{") and '"job"' in line:
                summary = json.loads(line)
                summaries.append(summary)
                print(f"    ok  {summary['job']:22s} {summary.get('duration_s', 0):5.0f}s  "
                      f"{what[len(summaries) - 1] if len(summaries) <= len(what) else ''}", flush=True)
        code = proc.wait()
        if code != 0:
            err.seek(0)
            sys.stderr.write((err.read() + "".join(stdout))[-4000:])
            raise RuntimeError(f"step '{title}' failed with exit code {code}"
                               f" after {', '.join(s['job'] for s in summaries) or 'no job'}")
    print(f"    all ok in {time.monotonic() - started:.0f}s", flush=True)
    return summaries


def add_quality(summaries: list[dict[str, Any]], quality: dict[str, dict[str, int]]) -> None:
    """Add the passed / warned / failed per layer of the validate_tables summaries."""
    for summary in summaries:
        if summary.get("job") != "validate_tables":
            continue
        for layer, counts in (summary.get("counts") or {}).items():
            total = quality.setdefault(layer, {"passed": 0, "warned": 0, "failed": 0})
            for key, n in counts.items():
                total[key] += n


def object_store(config: Mapping[str, Any]) -> tuple[LocalS3Server, bool]:
    """The local S3 server (started unless one runs) and the environment that puts the demo's
    lakehouse, tables and checkpoints, into its bucket; every step inherits the environment."""
    server = LocalS3Server(config)
    started = server.running_pid() is None
    if started:
        print(f"==> starting a local S3 API server at {server.endpoint}", flush=True)
        server.start()
    base = f"s3a://{server.bucket}/demo"
    os.environ.update(server.credentials_env())
    os.environ.update({"TOOLLIFE__S3__ENDPOINT": server.endpoint,
                       "TOOLLIFE__LAKEHOUSE__ROOT": f"{base}/tables",
                       "TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT": f"{base}/checkpoints"})
    print(f"    the lakehouse: {base}/ (tables and streaming checkpoints through S3A)", flush=True)
    return server, started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toollife.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--separate", action="store_true",
                        help="every job as its own spark-submit (as Airflow runs them) instead of one application per group")
    parser.add_argument("--store", choices=["local", "s3"], default="local",
                        help="where the lakehouse lives: var/ on local disk, or a bucket of a local S3 API server "
                             "(started like the broker, reused if `toollife s3 up` runs one)")
    parser.add_argument("--real-data", type=Path, default=None, metavar="DIR",
                        help="folder of the published example data to import (default: ../shared/realdata beside "
                             "the repository; skipped when absent)")
    args = parser.parse_args(argv)
    separate = args.separate
    logging.basicConfig(level=logging.WARNING)
    config = load_config()
    s3_server, started_s3 = None, False
    if args.store == "s3":
        s3_server, started_s3 = object_store(config)
        config = load_config()   # the lakehouse now points at the bucket (TOOLLIFE__* variables)
    broker = LocalKafkaBroker(config)
    started_broker = broker.running_pid() is None
    env = dict(os.environ)
    env.setdefault("TOOLLIFE_CONF_DIR", str(Path(config["base_dir"]) / "conf"))
    jobs = Path(config["base_dir"]) / "jobs"
    started = time.monotonic()
    try:
        if started_broker:
            print(f"==> starting a local Kafka broker at {broker.bootstrap_servers}", flush=True)
            broker.start()
        broker.create_topics(broker.topics, broker.partitions)   # tool-alerts too, also on a broker from `make kafka-up`
        simulated = run_step("simulate and publish to Kafka",
                             _toollife("simulate", "--no-progress", "--bootstrap-servers", broker.bootstrap_servers,
                                       *DEMO_SIZE, *[arg for bad in DEMO_BAD_MESSAGES for arg in ("--bad", bad)]), env)
        experiment = simulated["experiment_id"]
        quality: dict[str, dict[str, int]] = {}
        # --parent names the round: a second demo run re-sends the same follow-up, deduplicated
        follow_up = ["--no-progress", "--bootstrap-servers", broker.bootstrap_servers,
                     "--plan-from", "gold.doe_next_experiments", "--parent", experiment,
                     "--sample-interval", DEMO_SIZE[DEMO_SIZE.index("--sample-interval") + 1]]
        add_quality(run_jobs_step("the jobs and one round of the experiment loop, one Spark application", [
            ("ingest_sensors", ["--trigger", "available_now"], "Kafka -> bronze -> silver / quarantine"),
            ("validate_tables", ["--layer", "bronze", "--layer", "silver"], "Great Expectations: bronze, silver"),
            ("aggregate_experiments", [], "gold.experiment_runs"),
            *real_data_steps(args.real_data or Path(config["base_dir"]).parent / "shared" / "realdata"),
            ("compute_doe_effects", [], "DOE effects, optimal settings, Taylor fit"),
            ("validate_tables", ["--table", "gold.experiment_runs", "--table", "gold.doe_effects",
                                 "--table", "gold.doe_optimal_settings"], "Great Expectations: gold"),
            ("train_tool_life", DEMO_TRAINING, "tool_life / tool_rul (random forest, gradient boosting) in MLflow"),
            ("score_tool_life", [], "gold.tool_life_predictions from the champions"),
            ("score_live", ["--trigger", "available_now"], "the tools cutting, scored live: gold.tool_life_live"),
            ("validate_tables", ["--table", "gold.tool_life_predictions"], "Great Expectations: predictions"),
            ("plan_next_experiments", [], "the next experiment of every machine x tool"),
            ("compute_savings", [], "gold.doe_savings: annual saving, payback"),
            # the loop: the recommendation runs as the follow-up experiment <id>-F1, in the same JVM
            (SIMULATE, follow_up, "the recommended follow-up experiment -> Kafka"),
            ("ingest_sensors", ["--trigger", "available_now"], "the follow-up's messages"),
            ("aggregate_experiments", [], "its runs"),
            ("plan_next_experiments", [], "analysed with its parent; the next round"),
        ], env, jobs, separate), quality)
        print(summarize(config, experiment), flush=True)
        print("\n".join(imported_summary(config)), flush=True)
        print("\n".join(savings_summary(config)), flush=True)
        print("\n".join(quality_summary(config, quality)), flush=True)
        print(where_to_look(config), flush=True)
    except (BrokerError, RuntimeError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if started_broker:
            broker.stop()
            print("==> Kafka broker stopped", flush=True)
        if started_s3 and s3_server is not None:
            s3_server.stop()
            print("==> local S3 server stopped (its in-memory bucket with it; `toollife s3 up` keeps one)",
                  flush=True)
    print(f"==> demo done in {time.monotonic() - started:.0f}s", flush=True)
    return 0

