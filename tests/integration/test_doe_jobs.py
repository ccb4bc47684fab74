"""The gold jobs on simulator data landed in real silver Delta tables (no Kafka).

One module-scoped pipeline: silver (one terminal event held back) -> aggregate twice -> the late
event arrives -> aggregate -> DOE effects twice. Tests check idempotency, the late update, equality
with the single-combination doe functions and recovery of the simulator's true Taylor law; the
last test runs both jobs again through spark-submit and expects the same tables.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from toollife.lakehouse import tables
from toollife.doe import analyze_factorial
from toollife.gold import doe_effects as de
from toollife.gold import experiment_runs as er
from toollife.gold.simulated import silver_frames
from toollife.ingestion.schemas import SOURCES
from toollife.simulation import simulate

REPO = Path(__file__).resolve().parents[2]
FACTORS = ["cutting_speed", "feed", "depth_of_cut", "coolant", "coating"]
INTERACTIONS = [f"{a}:{b}" for i, a in enumerate(FACTORS) for b in FACTORS[i + 1:]]
SIM = {  # 2 x 2 combinations of a replicated 2^(5-1): 64 runs each, little scatter, few readings
    "seed": 11, "machines": 2, "tools": 2, "replicates": 4,
    "physics": {"sigma": 0.03}, "sensors": {"sample_interval_s": 600.0},
}


def snapshot(spark, config, tbl, drop=()):
    pdf = tables.read(spark, config, tbl).drop(*drop).toPandas()
    key = [c for c in ("experiment_id", "machine_id", "tool_id", "run_id", "replicate", "fit", "term") if c in pdf]
    return pdf.sort_values(key).reset_index(drop=True)


@pytest.fixture(scope="module")
def pipeline(spark, base_config, tmp_path_factory):
    config = copy.deepcopy(base_config)
    root = tmp_path_factory.mktemp("doe_jobs")
    config["lakehouse"]["root"] = str(root / "tables")
    config["lakehouse"]["checkpoint_root"] = str(root / "checkpoints")
    sim = simulate(overrides=SIM)
    silver = {k: v.cache() for k, v in silver_frames(spark, sim).items()}
    # hold back one completed run's tool_worn_out: it arrives late
    late = silver["tool_events"].where("event = 'tool_worn_out'").orderBy("machine_id", "tool_id", "run_id", "replicate").limit(1)
    late_key = late.select("machine_id", "tool_id", "run_id", "replicate").first().asDict()
    for key, df in silver.items():
        if key == "tool_events":
            df = df.join(late, "event_id", "left_anti")
        tables.overwrite(df, config, SOURCES[key].silver)

    def aggregate():
        te, sr = er.read_silver(spark, config)
        return er.merge_runs(spark, config, er.build_experiment_runs(te, sr, config))

    out = {"config": config, "sim": sim, "late_key": late_key}
    out["merge1"] = aggregate()
    out["runs1"] = snapshot(spark, config, er.EXPERIMENT_RUNS)
    out["merge2"] = aggregate()
    out["runs2"] = snapshot(spark, config, er.EXPERIMENT_RUNS)
    late.write.format("delta").mode("append").save(SOURCES["tool_events"].silver.path(config))
    out["merge3"] = aggregate()
    out["runs3"] = snapshot(spark, config, er.EXPERIMENT_RUNS)
    out["doe1"] = de.run(spark, config, computed_at=datetime(2026, 1, 1))
    out["effects1"] = snapshot(spark, config, de.EFFECTS)
    out["optimal1"] = snapshot(spark, config, de.OPTIMAL)
    out["doe2"] = de.run(spark, config, computed_at=datetime(2026, 1, 2))
    out["effects2"] = snapshot(spark, config, de.EFFECTS)
    out["optimal2"] = snapshot(spark, config, de.OPTIMAL)
    yield out
    for df in silver.values():
        df.unpersist()


def test_aggregate_twice_leaves_the_same_table(pipeline):
    assert pipeline["merge1"]["numTargetRowsInserted"] == 4 * 64
    assert pipeline["merge2"] == {"numSourceRows": 256, "numTargetRowsInserted": 0, "numTargetRowsUpdated": 0,
                                  "numTargetRowsDeleted": 0}
    pd.testing.assert_frame_equal(pipeline["runs1"], pipeline["runs2"])


def test_a_late_tool_worn_out_updates_its_row_and_nothing_else(pipeline):
    before, after, key = pipeline["runs2"], pipeline["runs3"], pipeline["late_key"]
    assert pipeline["merge3"]["numTargetRowsInserted"] == 0 and pipeline["merge3"]["numTargetRowsUpdated"] == 1
    assert len(after) == len(before) == 256
    hit = np.logical_and.reduce([after[k] == v for k, v in key.items()])
    assert before.loc[hit, "status"].item() == "running" and np.isnan(before.loc[hit, "tool_life_min"].item())
    assert after.loc[hit, "status"].item() == "completed" and after.loc[hit, "tool_life_min"].item() > 0
    pd.testing.assert_frame_equal(before[~hit], after[~hit])              # untouched, updated_at included


def test_rerunning_the_effects_gives_the_same_tables(pipeline):
    doe = pipeline["doe1"]
    assert doe["combinations_ok"] + doe["combinations_incomplete"] + doe["combinations_skipped"] == 4
    for name in ("effects", "optimal"):
        a, b = pipeline[f"{name}1"], pipeline[f"{name}2"]
        assert (a["computed_at"] == datetime(2026, 1, 1)).all() and (b["computed_at"] == datetime(2026, 1, 2)).all()
        pd.testing.assert_frame_equal(a.drop(columns="computed_at"), b.drop(columns="computed_at"))


def test_spark_results_equal_analyze_factorial_per_combination(pipeline):
    runs, effects = pipeline["runs3"], pipeline["effects2"].query("fit == 'least_squares'")
    done = runs[runs["status"] == "completed"]
    ok = pipeline["optimal2"].query("status == 'ok'")
    assert len(ok) >= 3
    for _, combo in ok.iterrows():
        key = (combo["experiment_id"], combo["machine_id"], combo["tool_id"])
        g = done[(done[["experiment_id", "machine_id", "tool_id"]] == key).all(axis=1)]
        coded = g[[f"coded_{f}" for f in FACTORS] + ["tool_life_min"]].rename(columns=lambda c: c.removeprefix("coded_"))
        want = analyze_factorial(coded, FACTORS, "tool_life_min", log_response=True)
        want = want.sort_values("term").reset_index(drop=True)          # the snapshot is sorted by term
        got = effects[(effects[["experiment_id", "machine_id", "tool_id"]] == key).all(axis=1)].reset_index(drop=True)
        pd.testing.assert_frame_equal(got[want.columns], want, check_exact=False, rtol=1e-12, atol=1e-14)
        assert (got["response"] == "ln_tool_life").all() and (got["n_runs"] == len(g)).all()


def test_the_analysis_recovers_the_simulated_taylor_law(pipeline):
    sim, effects, optimal = pipeline["sim"], pipeline["effects2"].query("fit == 'least_squares'"), pipeline["optimal2"]
    truth = sim.taylor.set_index(["machine_id", "tool_id"])
    ok = optimal.query("status == 'ok'")
    assert len(ok) >= 3
    for _, row in ok.iterrows():
        t = truth.loc[(row["machine_id"], row["tool_id"])]
        for k in ("n", "a", "b", "C"):
            assert row[f"taylor_{k}"] == pytest.approx(t[k], rel=0.05), k
        assert row["taylor_coolant_multiplier"] == pytest.approx(t["m_coolant_flood"], rel=0.05)
        assert row["taylor_coating_multiplier"] == pytest.approx(t["m_coating_TiAlN"], rel=0.05)
        assert 0 < row["cost_optimal_cutting_speed"] and row["savings_per_part"] >= 0
    # the effects on ln T: exponents implied by the main effects, and which terms are significant
    levels = {f.name: (f.low, f.high) for f in sim.factors}
    true = sim.true_effects
    analysed = effects.merge(ok[["experiment_id", "machine_id", "tool_id"]])
    n_runs = 0
    for _, g in analysed.groupby(["machine_id", "tool_id"]):
        e = g.set_index("term")["effect"]
        n = -np.log(levels["cutting_speed"][1] / levels["cutting_speed"][0]) / e["cutting_speed"]
        a = -e["feed"] * n / np.log(levels["feed"][1] / levels["feed"][0])
        b = -e["depth_of_cut"] * n / np.log(levels["depth_of_cut"][1] / levels["depth_of_cut"][0])
        assert (n, a, b) == pytest.approx((0.25, 0.6, 0.15), rel=0.05)
        sig = g.set_index("term")["significant"]
        se = g.set_index("term")["std_error"]
        for f in FACTORS:            # a main effect is expected significant when it is >> its std error
            if abs(true[f]) > 4 * se[f]:
                assert sig[f], f
        n_runs += 1
    inter = analysed[analysed["term"].isin(INTERACTIONS)]
    assert len(inter) == 10 * n_runs
    assert inter["significant"].mean() <= 0.2          # inert: ~alpha, never most


def test_jobs_under_spark_submit_are_idempotent(pipeline):
    """Both jobs via spark-submit on the same lakehouse: the tables stay as they were."""
    from toollife.runtime.submit import build_command

    config = pipeline["config"]
    env = dict(os.environ)
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", PYSPARK_PYTHON=sys.executable,
               TOOLLIFE_CONF_DIR=str(REPO / "conf"), TOOLLIFE__LAKEHOUSE__ROOT=config["lakehouse"]["root"],
               TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=config["lakehouse"]["checkpoint_root"],
               TOOLLIFE__SPARK__SHUFFLE_PARTITIONS="2")
    for job in ("jobs/aggregate_experiments.py", "jobs/compute_doe_effects.py"):
        cmd = build_command(config, job, ["--set", "spark.extra_conf={spark.ui.enabled: 'false'}"])
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        summary = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
        assert summary["status"] == "succeeded"
        if job.endswith("aggregate_experiments.py"):
            assert summary["numTargetRowsInserted"] == 0 and summary["numTargetRowsUpdated"] == 0
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    pd.testing.assert_frame_equal(snapshot(spark, config, er.EXPERIMENT_RUNS), pipeline["runs3"])
    for name, tbl in (("effects", de.EFFECTS), ("optimal", de.OPTIMAL)):
        now = snapshot(spark, config, tbl, drop=("computed_at",))
        pd.testing.assert_frame_equal(now, pipeline[f"{name}2"].drop(columns="computed_at"))
    assert spark.table("gold.doe_effects").where(F.col("experiment_id") == pipeline["sim"].experiment_id).count() > 0


def test_savings_job_equals_the_per_combination_figures_and_reruns_alike(pipeline, spark):
    from toollife.doe.savings import annual_savings
    from toollife.gold import doe_savings as ds

    config = pipeline["config"]
    m1 = ds.run(spark, config)
    first = snapshot(spark, config, ds.SAVINGS, drop=("computed_at",))
    m2 = ds.run(spark, config)
    pd.testing.assert_frame_equal(snapshot(spark, config, ds.SAVINGS, drop=("computed_at",)), first)
    assert m1 == m2 and len(first) == 4 and (first["status"] == "ok").all()
    runs = pipeline["runs3"]
    life = "tool_life" if "tool_life" in runs else "tool_life_min"
    for _, row in first.iterrows():
        g = runs[(runs["machine_id"] == row["machine_id"]) & (runs["tool_id"] == row["tool_id"])]
        want, _ = annual_savings(g, config["doe"]["cost"], config["doe"]["baseline"],
                                 config["doe"]["production"]["parts_per_year"], life=life,
                                 completed=(g["status"] == "completed").to_numpy())
        for k, v in want.items():
            assert row[k] == pytest.approx(v, rel=1e-9), k
        assert row["significant"] == (row["annual_saving_low"] > 0)
    assert m1["annual_saving"] == pytest.approx(first.loc[first["significant"], "annual_saving"].sum())
