"""`make demo`: the whole flow on a laptop, the way a user runs it, then a summary.

1. a local Kafka broker (reused if `make kafka-up` already started one),
2. `toollife simulate`: a seeded experiment (with a few bad messages) published to Kafka,
3. the jobs of jobs/, in one Spark application (`toollife submit jobs/run_jobs.py JOB ...`):
   ingest_sensors (availableNow: Kafka -> bronze -> silver/quarantine), validate_tables (Great
   Expectations on bronze and silver, meta.data_quality; a critical failure stops the demo),
   aggregate_experiments (gold.experiment_runs), compute_doe_effects (gold.doe_effects,
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
   simulator's ground truth.

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

import pandas as pd

from toollife.config import load_config
from toollife.lakehouse import reader
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


def quality_summary(config: Mapping[str, Any], quality: Mapping[str, Mapping[str, int]]) -> list[str]:
    from toollife.quality.core import data_docs_index

    lines = ["    data quality (expectations this demo ran, meta.data_quality):"]
    for layer in ("bronze", "silver", "gold"):
        c = quality.get(layer)
        lines.append(f"      {layer:6s} " + (f"{c['passed']} passed, {c['warned']} warned, {c['failed']} failed"
                                            if c else "nothing new to check"))
    lines.append(f"      data docs: {data_docs_index(config)}")
    return lines


def summarize(config: Mapping[str, Any], experiment: str) -> str:
    """Read the tables back (delta-rs, no Spark session) and compare the analysis with the
    simulator's truth."""
    lines = ["", "==> summary (from the Delta tables)"]
    for name in ("bronze.sensor_readings_raw", "bronze.tool_events_raw", "silver.sensor_readings",
                 "silver.tool_events", "silver.quarantine", "gold.experiment_runs", "gold.doe_effects",
                 "gold.doe_optimal_settings", "gold.tool_life_predictions", "gold.doe_next_experiments",
                 "gold.doe_follow_up", "meta.model_promotions", "meta.job_runs"):
        count = reader.count(config, name)
        lines.append(f"    {name:32s} {'missing' if count is None else count}")

    quarantine = reader.read_frame(config, "silver.quarantine", columns=["reason_code"])
    if quarantine is not None:
        reasons = quarantine["reason_code"].value_counts().sort_index()
        lines.append("    quarantined by reason: " + ", ".join(f"{k}={n}" for k, n in reasons.items()))

    effects = reader.read_frame(config, "gold.doe_effects",
                                columns=["machine_id", "tool_id", "fit", "term", "significant"])
    effects = effects[effects["fit"].fillna("least_squares") == "least_squares"]      # not the censored_mle rows
    significant = effects[effects["significant"].fillna(False).astype(bool)]["term"].value_counts()
    combos = len(effects[["machine_id", "tool_id"]].drop_duplicates())
    lines.append(f"    terms significant (of {combos} machine x tool combinations): "
                 + ", ".join(f"{term}={n}" for term, n in significant.items()))

    optimal = reader.read_frame(config, "gold.doe_optimal_settings", filters=[("experiment_id", "=", experiment)])
    skipped = optimal[optimal["status"] != "ok"]
    lines.append(f"    combinations analysed: {len(optimal) - len(skipped)} of {len(optimal)}"
                 + "".join(f"; {r.machine_id}/{r.tool_id} {r.status}: {r.skip_reason}" for r in skipped.itertuples()))
    optimal = optimal[optimal["status"] == "ok"]
    truth = simulation_truth(config, experiment)
    true_taylor = list(truth["taylor"]) if truth is not None else []
    lines.append("    Taylor exponents per machine x tool, fitted (median) vs the simulator's truth:")
    for param in ("n", "a", "b"):
        true_value = sum(t[param] for t in true_taylor) / max(len(true_taylor), 1)
        lines.append(f"      {param}: fitted {optimal[f'taylor_{param}'].median():.3f}   true {true_value:.3f}")
    lines.append(f"    median predicted tool life at the best settings: {optimal['predicted_tool_life_min'].median():.1f} min")
    lines.append(f"    median cost-optimal cutting speed: {optimal['cost_optimal_cutting_speed'].median():.0f} m/min, "
                 f"saving {optimal['savings_per_part'].median():.3f} per part against the baseline settings")
    lines += model_summary(config, truth)
    lines += live_summary(config)
    lines += loop_summary(config, experiment)
    return "\n".join(lines)


def simulation_truth(config: Mapping[str, Any], experiment: str) -> pd.Series | None:
    """The newest meta.simulation_runs row of ``experiment`` (the follow-up has its own), or None."""
    runs = reader.read_frame(config, "meta.simulation_runs", filters=[("experiment_id", "=", experiment)])
    if runs is None or runs.empty:
        return None
    return runs.sort_values("created_at").iloc[-1]


def model_summary(config: Mapping[str, Any], truth: pd.Series | None) -> list[str]:
    """Each champion's holdout figures beside the oracle and the physics baseline, the remaining
    life of the tools still cutting against the simulator's truth (:func:`simulation_truth`),
    and where to look."""
    from toollife.ml import datasets, tracking

    logging.getLogger("mlflow").setLevel(logging.WARNING)   # the summary is for people, not a log
    client = tracking.configure(config)
    lines = ["    models (holdout of unseen design points; the oracle is the simulator's own law):"]
    for name in tracking.MODEL_NAMES:
        version = tracking.alias_version(client, name, tracking.CHAMPION)
        if version is None:
            lines.append(f"      {name}: no champion")
            continue
        mv = client.get_model_version(name, version)
        m = client.get_run(mv.run_id).data.metrics
        lines.append(f"      {name} champion v{version} ({mv.tags.get('candidate')}): RMSE ln T {m['holdout_rmse_ln_t']:.3f}"
                     f"  oracle {m['oracle_holdout_rmse_ln_t']:.3f}  physics (Taylor per machine x tool)"
                     f" {m['physics_holdout_rmse_ln_t']:.3f}  unseen tool {m['loto_rmse_ln_t']:.3f}")
        if name == "tool_rul":
            lines.append(f"        remaining-life MAE at 25 % / 50 % of life cut: {m['holdout_mae_rul_min_at_25']:.2f}"
                         f" / {m['holdout_mae_rul_min_at_50']:.2f} min; the tool_life champion"
                         f" {m['tool_life_champion_holdout_mae_rul_min_at_25']:.2f} / "
                         f"{m['tool_life_champion_holdout_mae_rul_min_at_50']:.2f} min")
    promotions = reader.read_frame(config, "meta.model_promotions", columns=["decision"])
    decisions = promotions["decision"].value_counts().sort_index() if promotions is not None else pd.Series(dtype=int)
    lines.append("      alias changes in meta.model_promotions: " + ", ".join(f"{k}={n}" for k, n in decisions.items()))
    live = reader.read_frame(config, datasets.PREDICTIONS.qualified, filters=[("model_name", "=", "tool_rul"), ("status", "=", "running")])
    live = live.sort_values("remaining_life_min") if live is not None else pd.DataFrame()
    true_life = {(r["machine_id"], r["tool_id"], r["run_id"], r["replicate"]): r["true_tool_life_min"]
                 for r in (truth["runs"] if truth is not None else [])}
    lines.append(f"    tools cutting now ({len(live)}), remaining useful life by tool_rul against the truth:")
    for r in live.itertuples():
        true = true_life.get((r.machine_id, r.tool_id, r.run_id, r.replicate))
        told = "no prediction: " + r.reason if r.reason else (
            f"{r.remaining_life_min:5.1f} min left (interval {max(r.predicted_life_lower_min - r.minutes_cut, 0):.1f}"
            f"-{r.predicted_life_upper_min - r.minutes_cut:.1f})")
        lines.append(f"      {r.machine_id}/{r.tool_id} run {r.run_id}.{r.replicate}: cut {r.minutes_cut:5.1f} min, {told}"
                     + (f"; true {true - r.minutes_cut:.1f} min left" if true is not None else ""))
    lines.append(f"    MLflow: `make mlflow-ui`, then open http://127.0.0.1:5000 (store {tracking.tracking_uri(config)})")
    return lines


def loop_summary(config: Mapping[str, Any], experiment: str, shown: int = 2) -> list[str]:
    """The round of the experiment loop: what was recommended after ``experiment``, and for a few
    combinations (of different kinds where there are) the reason, what the follow-up resolved,
    and the recommendation after it."""
    from toollife.gold.next_experiments import FOLLOW_UP, NEXT
    from toollife.simulation.follow_up import follow_up_id

    follow_up = follow_up_id(experiment)
    plan = reader.read_frame(config, NEXT.qualified, filters=[("run_no", "<=", 1)])
    first = plan[plan["experiment_id"] == experiment].sort_values(["machine_id", "tool_id"])
    kinds = first["kind"].value_counts()
    lines = [f"    experiment loop: after {experiment}, gold.doe_next_experiments recommends "
             + ", ".join(f"{k}={n}" for k, n in kinds.items()) + f"; the follow-up {follow_up} ran them"]
    resolved = reader.read_frame(config, FOLLOW_UP.qualified, filters=[("experiment_id", "=", follow_up)])
    resolved = resolved if resolved is not None else pd.DataFrame(columns=["machine_id", "tool_id"])
    after = plan[plan["experiment_id"] == follow_up].set_index(["machine_id", "tool_id"])
    picks = first.drop_duplicates("kind").head(shown)
    picks = pd.concat([picks, first.drop(picks.index)]).head(shown)   # different kinds first
    for r in picks.itertuples():
        lines.append(f"      {r.machine_id}/{r.tool_id}: {r.kind}: {r.reason}")
        fu = resolved[(resolved["machine_id"] == r.machine_id) & (resolved["tool_id"] == r.tool_id)]
        for f in fu.itertuples():
            found = ([f"{int(f.n_runs)} runs analysed with {experiment} ({f.model})"] if pd.notna(f.n_runs)
                     else ["its points run"])
            if f.resolved:
                found.append(f"resolved {f.resolved}")
            if f.nature:
                found.append(f"stationary point: {f.nature}")
            if pd.notna(f.cost_optimal_speed):
                found.append(f"cost-optimal speed {f.cost_optimal_speed:.0f} m/min")
            lines.append(f"        {follow_up} ({f.parent_kind}): " + "; ".join(found))
        if (r.machine_id, r.tool_id) in after.index:
            nxt = after.loc[[(r.machine_id, r.tool_id)]].iloc[0]
            lines.append(f"        next: {nxt['kind']}: {nxt['reason']}")
    lines.append("    the DOE page of the dashboard shows every combination's recommendation (`make dashboard`)")
    return lines


def live_summary(config: Mapping[str, Any]) -> list[str]:
    """The live scorer's view (gold.tool_life_live, gold.tool_alerts): remaining life of the tools cutting, alerts."""
    live = reader.read_frame(config, "gold.tool_life_live", filters=[("status", "=", "running")])
    if live is None:
        return ["    live scorer: no gold.tool_life_live"]
    live = live.sort_values("remaining_life_min")
    lines = [f"    live scorer (jobs/score_live.py): {len(live)} tool(s) cutting, remaining useful life now:"]
    for r in live.itertuples():
        told = ("no prediction: " + r.reason) if r.reason else (
            f"{r.remaining_life_min:5.1f} min left ({max(r.predicted_life_lower_min - r.minutes_cut, 0):.1f}"
            f"-{max(r.predicted_life_upper_min - r.minutes_cut, 0):.1f})")
        lines.append(f"      {r.machine_id}/{r.tool_id} run {r.run_id}.{r.replicate}: cut {r.minutes_cut:5.1f} min, {told}, "
                     f"tool_rul v{r.model_version}, newest reading {pd.Timestamp(r.last_reading_ts):%Y-%m-%d %H:%M:%S}")
    alerts = reader.read_frame(config, "gold.tool_alerts")
    alerts = alerts.sort_values("raised_at") if alerts is not None else pd.DataFrame()
    lines.append(f"    alerts raised (gold.tool_alerts, Kafka tool-alerts): {len(alerts)}")
    for r in alerts.itertuples():
        lines.append(f"      {r.machine_id}/{r.tool_id} run {r.run_id}.{r.replicate}: below {r.threshold_min:g} min "
                     f"({r.remaining_life_min:.1f} min left), {'published' if pd.notna(r.published_at) else 'pending'}")
    return lines


def where_to_look(config: Mapping[str, Any]) -> str:
    """The commands that open the results, for the end of the demo's output."""
    thrift = config["thrift"]
    return "\n".join([
        "", "==> look at the results (each command keeps running; Ctrl-C stops it)",
        "    make dashboard   Streamlit dashboard (plant, DOE charts, models): http://127.0.0.1:8501",
        f"    make thrift      JDBC for BI tools: jdbc:hive2://{thrift['host']}:{thrift['port']}/default"
        " (driver org.apache.hive.jdbc.HiveDriver)",
        "    make mlflow-ui   MLflow runs and registered models: http://127.0.0.1:5000",
        "    notebooks/doe_exploration.ipynb   the DOE of one machine x tool, step by step",
    ])


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
            ("compute_doe_effects", [], "DOE effects, optimal settings, Taylor fit"),
            ("validate_tables", ["--table", "gold.experiment_runs", "--table", "gold.doe_effects",
                                 "--table", "gold.doe_optimal_settings"], "Great Expectations: gold"),
            ("train_tool_life", DEMO_TRAINING, "tool_life / tool_rul (random forest, gradient boosting) in MLflow"),
            ("score_tool_life", [], "gold.tool_life_predictions from the champions"),
            ("score_live", ["--trigger", "available_now"], "the tools cutting, scored live: gold.tool_life_live"),
            ("validate_tables", ["--table", "gold.tool_life_predictions"], "Great Expectations: predictions"),
            ("plan_next_experiments", [], "the next experiment of every machine x tool"),
            # the loop: the recommendation runs as the follow-up experiment <id>-F1, in the same JVM
            (SIMULATE, follow_up, "the recommended follow-up experiment -> Kafka"),
            ("ingest_sensors", ["--trigger", "available_now"], "the follow-up's messages"),
            ("aggregate_experiments", [], "its runs"),
            ("plan_next_experiments", [], "analysed with its parent; the next round"),
        ], env, jobs, separate), quality)
        print(summarize(config, experiment), flush=True)
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


if __name__ == "__main__":
    sys.exit(main())
