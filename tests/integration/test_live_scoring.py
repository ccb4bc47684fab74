"""The live scorer end to end: a tiny tool_rul trained once (champion + challenger), then one run's
silver history appended stage by stage while the scorer follows it, first in-process (trigger
availableNow, the session fixture), then spark-submit'd as a service (processing time) that is
killed with -9 and restarted. Alerts go to the session's real Kafka broker.

Steps: a run in progress gets a row that updates as readings arrive; a run with too few readings
gets a row without a prediction (and nothing crashes); moving ``champion`` while the service runs
changes the version on the next batch; alerts are raised once per run and threshold, published
once, survive kill -9 without a duplicate, and conform to tool-alert/v1; the run's end closes its
row with the true life beside the last prediction. A last test walks the two crash windows of
publishing (alert stored but not sent; sent but not marked) without Spark streaming.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from kafka import KafkaConsumer
from pyspark.sql import functions as F

from toollife import contracts
from toollife.dashboard.models_view import remaining_life_history
from toollife.lakehouse import reader, tables
from toollife.gold import experiment_runs as er
from toollife.gold.simulated import silver_frames
from toollife.ingestion import silver as ingestion_silver
from toollife.ingestion.schemas import SOURCES
from toollife.live import alerts, frames, scorer
from toollife.ml import models, tracking
from toollife.ml import jobs as ml_jobs
from toollife.simulation import simulate
from toollife.runtime.submit import build_command, python_driver_pid

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
TRAIN_SIM = {"seed": 21, "machines": 1, "tools": 2, "replicates": 1, "sensors": {"sample_interval_s": 60.0}}
LIVE_SIM = {"seed": 5, "machines": 1, "tools": 1, "replicates": 1, "anomalies": {"chipping_rate": 0.0}}
TINY = {"random_forest": {"n_estimators": [40]}, "gradient_boosting": {"max_iter": [80], "learning_rate": [0.1]}}
KEY = ["experiment_id", "machine_id", "tool_id", "run_id", "replicate"]


@pytest.fixture(scope="module")
def live_env(spark, base_config, kafka_broker, tmp_path_factory):
    """Silver of a training simulation -> a tiny tool_rul (2 versions); an empty live lakehouse
    with the same MLflow store; the live simulation's silver rows to append stage by stage."""
    root = tmp_path_factory.mktemp("live")
    config = copy.deepcopy(base_config)
    config["lakehouse"].update(root=str(root / "train" / "tables"), checkpoint_root=str(root / "train" / "cp"))
    config["ml"].update(store_dir=str(root / "mlflow"), search_time_s=2, cv_folds=2, rul_fractions=[0.25, 0.5, 0.75])
    for key, df in silver_frames(spark, simulate(overrides=TRAIN_SIM)).items():
        tables.overwrite(df, config, SOURCES[key].silver)
    te, sr = er.read_silver(spark, config)
    er.merge_runs(spark, config, er.build_experiment_runs(te, sr, config))
    mp = pytest.MonkeyPatch()
    mp.setitem(models.PARAM_GRIDS, "tool_rul", TINY)
    trained = ml_jobs.train(spark, config, models=["tool_rul"])
    mp.undo()

    live = copy.deepcopy(config)
    live["lakehouse"].update(root=str(root / "live" / "tables"), checkpoint_root=str(root / "live" / "cp"))
    live["kafka"]["bootstrap_servers"] = kafka_broker.bootstrap_servers
    live["kafka"]["topics"] = {k: f"{v}-live" for k, v in live["kafka"]["topics"].items()}
    kafka_broker.create_topics(live["kafka"]["topics"].values(), live["kafka"]["partitions"])
    for key in ("sensor_readings", "tool_events"):
        ingestion_silver.ensure_tables(spark, live, SOURCES[key])
    sim = simulate(overrides=LIVE_SIM)
    truth = sim.truth_runs()
    frames_ = {k: df.toPandas() for k, df in silver_frames(spark, sim).items()}
    yield {"config": live, "trained": trained["tool_rul"], "frames": frames_, "truth": truth, "root": root}


def _run_frames(env, run_id: int):
    ev, rd = env["frames"]["tool_events"], env["frames"]["sensor_readings"]
    ev, rd = ev[ev["run_id"] == run_id], rd[rd["run_id"] == run_id]
    start = ev.loc[ev["event"] == "run_started", "ts"].iloc[0]
    minutes = (rd["ts"] - start).dt.total_seconds() / 60.0
    return ev, rd.assign(_min=minutes.to_numpy()), float(ev["tool_life_min"].dropna().iloc[0])


def append(spark, env, *, events=None, readings=None):
    """Append silver-shaped rows, as the ingestion would (new Delta files the stream picks up)."""
    from pyspark.sql.types import StructType

    cfg = env["config"]
    for key, pdf in (("tool_events", events), ("sensor_readings", readings)):
        if pdf is None or pdf.empty:
            continue
        src = SOURCES[key]
        df = scorer._to_spark(spark, pdf, StructType(src.silver_schema.fields))
        df.write.format("delta").mode("append").save(src.silver.path(cfg))


def live_rows(spark, cfg) -> pd.DataFrame:
    return tables.read(spark, cfg, scorer.LIVE).toPandas().set_index("run_id")


def score_available_now(spark, cfg):
    run_cfg = copy.deepcopy(cfg)
    run_cfg["live"]["trigger"]["mode"] = "available_now"
    return scorer.LiveScorerApp(spark, run_cfg, tracking.configure(cfg)).run()


def job_env(cfg):
    env = dict(os.environ)
    topics = cfg["kafka"]["topics"]
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}", PYSPARK_PYTHON=sys.executable,
               TOOLLIFE_CONF_DIR=str(REPO / "conf"),
               TOOLLIFE__LAKEHOUSE__ROOT=cfg["lakehouse"]["root"],
               TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=cfg["lakehouse"]["checkpoint_root"],
               TOOLLIFE__ML__STORE_DIR=cfg["ml"]["store_dir"],
               TOOLLIFE__KAFKA__BOOTSTRAP_SERVERS=cfg["kafka"]["bootstrap_servers"],
               TOOLLIFE__KAFKA__TOPICS__TOOL_ALERTS=topics["tool_alerts"],
               TOOLLIFE__SPARK__SHUFFLE_PARTITIONS="2")
    return env


def start_scorer(cfg, log_path: Path) -> subprocess.Popen:
    cmd = build_command(cfg, str(REPO / "jobs" / "score_live.py"),
                        ["--trigger", "processing_time", "--interval", "2 seconds"], master="local[2]")
    # its own session: the test signals exactly the processes it started, by their group id
    return subprocess.Popen(cmd, env=job_env(cfg), stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
                            cwd=REPO, start_new_session=True)


def wait_for(predicate, timeout_s, what, job=None, log_path=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if job is not None and job.poll() is not None:
            raise AssertionError(f"scorer exited ({job.returncode}) waiting for {what}: "
                                 f"{log_path.read_text()[-3000:] if log_path else ''}")
        try:
            if predicate():
                return
        except Exception:  # the table may not show the change yet
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}: {log_path.read_text()[-3000:] if log_path else ''}")


def topic_messages(cfg) -> list[tuple[str, dict]]:
    consumer = KafkaConsumer(cfg["kafka"]["topics"]["tool_alerts"], bootstrap_servers=cfg["kafka"]["bootstrap_servers"],
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        return [(m.key.decode(), json.loads(m.value)) for m in consumer]
    finally:
        consumer.close()


@pytest.mark.timeout(1800)  # two spark-submit'd scorers (one killed) besides the in-process runs; pytest.ini's 900 s
def test_live_scorer_follows_runs_swaps_models_alerts_once_and_survives_kill_9(spark, live_env, tmp_path):
    cfg, env = live_env["config"], live_env
    champion, challenger = env["trained"]["champion"], env["trained"]["challenger"]
    assert champion and challenger and champion != challenger
    completed = env["truth"][env["truth"]["status"] == "worn_out"].sort_values("true_tool_life_min")
    run_a = int(completed.iloc[len(completed) // 2]["run_id"])        # followed to its end
    run_b = int(completed.iloc[0]["run_id"])                          # stays at two readings
    ev_a, rd_a, life_a = _run_frames(env, run_a)
    ev_b, rd_b, _ = _run_frames(env, run_b)
    started = lambda ev: ev[ev["event"] == "run_started"]                                    # noqa: E731

    # 1. in progress at 30 %; a second run with only two readings so far
    append(spark, env, events=pd.concat([started(ev_a), started(ev_b)]),
           readings=pd.concat([rd_a[rd_a["_min"] <= 0.3 * life_a], rd_b[rd_b["_min"] <= 0.75]]))
    summary = score_available_now(spark, cfg)
    rows = live_rows(spark, cfg)
    a1 = rows.loc[run_a]
    assert a1["status"] == "running" and a1["model_version"] == champion and a1["reason"] is None
    assert a1["minutes_cut"] == pytest.approx(rd_a.loc[rd_a["_min"] <= 0.3 * life_a, "_min"].max())
    assert a1["predicted_life_lower_min"] <= a1["predicted_life_min"] <= a1["predicted_life_upper_min"]
    assert a1["remaining_life_min"] == pytest.approx(max(a1["predicted_life_min"] - a1["minutes_cut"], 0.0))
    b1 = rows.loc[run_b]
    assert b1["reason"].startswith("fewer than 3 flank-wear readings") and pd.isna(b1["remaining_life_min"])
    assert summary["rows_scored"] == 2 and summary["gold.tool_alerts"] == 0

    # 2. more readings: the same row moves on
    append(spark, env, readings=rd_a[(rd_a["_min"] > 0.3 * life_a) & (rd_a["_min"] <= 0.6 * life_a)])
    score_available_now(spark, cfg)
    a2 = live_rows(spark, cfg).loc[run_a]
    assert a2["minutes_cut"] > a1["minutes_cut"] and a2["last_reading_ts"] > a1["last_reading_ts"]
    assert a2["scored_at"] > a1["scored_at"] and len(live_rows(spark, cfg)) == 2
    # the MERGE's Change Data Feed keeps both batches: the Models page's remaining life over time
    changes = reader.read_changes(cfg, "gold.tool_life_live")
    running = live_rows(spark, cfg).reset_index()
    history = remaining_life_history(changes.frame, running[running["status"] == "running"])
    a_history = history[history["run_id"] == run_a]
    assert list(a_history["minutes_cut"]) == pytest.approx([a1["minutes_cut"], a2["minutes_cut"]])
    assert (a_history["remaining_lower_min"] <= a_history["remaining_life_min"]).all()

    # 3. the service: champion moves while it runs -> the next batch says the new version
    log_path = tmp_path / "score_live.log"
    job = start_scorer(cfg, log_path)
    try:
        wait_for(lambda: "live scorer started" in log_path.read_text(), 600, "the scorer to start", job, log_path)
        client = tracking.configure(cfg)
        client.set_registered_model_alias("tool_rul", "champion", challenger)
        append(spark, env, readings=rd_a[(rd_a["_min"] > 0.6 * life_a) & (rd_a["_min"] <= 0.97 * life_a)])
        wait_for(lambda: live_rows(spark, cfg).loc[run_a, "model_version"] == challenger, 600,
                 "the new champion's version on the row", job, log_path)
        a3 = live_rows(spark, cfg).loc[run_a]
        assert a3["minutes_cut"] > a2["minutes_cut"]
        assert a3["remaining_life_min"] < max(cfg["live"]["alert_thresholds_min"]), \
            "the tiny model should see the end coming at 97 % of life"
        wait_for(lambda: (lambda t: len(t) > 0 and t["published_at"].notna().all())(
            tables.read(spark, cfg, scorer.ALERTS).toPandas()), 300, "the alerts published", job, log_path)
        # 4. kill -9 (the JVM and its Python driver), more readings while it is down, restart
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(30)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    alerts_before = tables.read(spark, cfg, scorer.ALERTS).toPandas()
    append(spark, env, readings=rd_a[rd_a["_min"] > 0.97 * life_a], events=ev_a[ev_a["event"] != "run_started"])
    job = start_scorer(cfg, log_path)
    try:
        wait_for(lambda: live_rows(spark, cfg).loc[run_a, "status"] == "completed", 600, "the run closed",
                 job, log_path)
        driver = python_driver_pid(job.pid, "score_live.py")
        assert driver, f"no Python driver under spark-submit {job.pid}"
        os.kill(driver, signal.SIGTERM)     # graceful: the driver's handler stops the query
        assert job.wait(120) == 0, log_path.read_text()[-3000:]
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)

    a4 = live_rows(spark, cfg).loc[run_a]
    assert a4["true_life_min"] == pytest.approx(life_a) and pd.notna(a4["ended_at"])
    assert a4["predicted_life_min"] == pytest.approx(a3["predicted_life_min"])   # the last prediction stays beside it
    assert live_rows(spark, cfg).loc[run_b, "status"] == "running"
    stored = tables.read(spark, cfg, scorer.ALERTS).toPandas()
    assert sorted(stored["alert_id"]) == sorted(alerts_before["alert_id"])         # nothing raised twice
    assert set(stored["run_id"]) == {run_a}
    assert stored.groupby("threshold_min").size().max() == 1
    assert set(stored["bound"]) == {"lower"} and (stored["bound_remaining_life_min"] < stored["threshold_min"]).all()
    assert (stored["last_reading_ts"] < a4["ended_at"]).all()                       # before the true end of life
    messages = topic_messages(cfg)
    keys = [k for k, _ in messages]
    assert sorted(keys) == sorted(stored["alert_id"]), "every alert on Kafka exactly once"
    validator = contracts.validator(contracts.TOOL_ALERT)
    for key, msg in messages:
        assert not list(validator.iter_errors(msg)), msg
        # raised on the interval's lower end, so before the estimate itself crosses the threshold
        lower_left = max(msg["predicted_life_lower_min"] - msg["minutes_cut"], 0.0)
        assert msg["alert_id"] == key and msg["run_id"] == run_a and lower_left < msg["threshold_min"]
        assert lower_left <= msg["remaining_life_min"]


def test_publish_crash_windows_send_pending_once(spark, live_env, kafka_broker, tmp_path):
    """Crash after the alert row committed but before the send: the next process sends it. Crash after
    Kafka acknowledged but before the mark: the next process finds it on the topic and only marks it."""
    cfg = copy.deepcopy(live_env["config"])
    cfg["lakehouse"].update(root=str(tmp_path / "tables"), checkpoint_root=str(tmp_path / "cp"))
    cfg["kafka"]["topics"]["tool_alerts"] = "tool-alerts-windows"
    kafka_broker.create_topics([cfg["kafka"]["topics"]["tool_alerts"]], 1)
    scorer.ensure_tables(spark, cfg)
    now = pd.Timestamp("2026-01-05 07:00:00")
    run = {"experiment_id": "SIM-1", "machine_id": "M01", "tool_id": "T01", "replicate": 1, "minutes_cut": 18.0,
           "predicted_life_min": 21.0, "predicted_life_lower_min": 17.0, "predicted_life_upper_min": 26.0,
           "model_name": "tool_rul", "model_version": "1", "last_reading_ts": now, "raised_at": now}
    rows = pd.DataFrame([{**run, "run_id": r, "threshold_min": 5.0, "remaining_life_min": 3.0} for r in (1, 2)])
    rows["alert_id"] = [frames.alert_id(r, 5.0) for r in rows.to_dict("records")]
    (scorer._to_spark(spark, rows, scorer.ALERTS_SCHEMA).write.format("delta").mode("append")
     .save(scorer.ALERTS.path(cfg)))
    # the process that died had sent run 1's alert, not run 2's
    first = alerts.AlertPublisher(cfg)
    first.send([{**rows.iloc[0].to_dict()}])
    first.close()

    restarted = scorer.LiveBatchScorer(cfg, tracking.configure(cfg))
    raised, published, found = restarted._alerts(spark, pd.DataFrame(), pd.Timestamp.now())
    assert (raised, published, found) == (0, 1, 1)
    again = restarted._alerts(spark, pd.DataFrame(), pd.Timestamp.now())
    assert again == (0, 0, 0)
    restarted.publisher.close()
    assert sorted(k for k, _ in topic_messages(cfg)) == sorted(rows["alert_id"])
    assert tables.read(spark, cfg, scorer.ALERTS).where(F.col("published_at").isNull()).count() == 0
