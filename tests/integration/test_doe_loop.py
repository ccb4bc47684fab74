"""The loop on simulator data (issue 14, part 2): simulate -> silver (no Kafka) -> gold.experiment_runs
-> plan_next_experiments -> simulate --plan-from (a follow-up <parent>-F1) -> ... .

1. A 2^(5-2) resolution III fraction (D=AB, E=AC) on raw tool life T: coolant (D) and coating (E)
   are made inert (multipliers 1), so their true effects are 0, while T = (C/(V f^a d^b))^(1/n)
   has real speed x feed and speed x depth interactions on the raw scale. The truth of every
   effect is therefore known exactly: the effects of the noise-free T over the full 2^5 design
   (times E[exp(eps)] = exp(sigma^2/2)). In the fraction coolant is aliased with speed x feed and
   looks significant; the recommendation must be a fold-over, and after the follow-up coolant must
   be ~0 and speed x feed significant and equal to its truth.
2. Cost per part (derived from the observed life) in cutting speed from a 2-level start with centre
   points: at most three rounds reach settings within 1 % of the true minimum cost, and the
   Taylor-based confidence interval for the cost-optimal speed contains the truth of
   cost_optimal_conditions with the true Taylor parameters.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd

from toollife.lakehouse import tables
from toollife.config import load_config
from toollife.doe import analyze_factorial, cost_optimal_conditions, cost_per_part, full_factorial
from toollife.gold import experiment_runs as er
from toollife.gold import next_experiments as nx
from toollife.gold.simulated import silver_frames
from toollife.ingestion.schemas import SOURCES
from toollife.simulation import manifest as mf
from toollife.simulation import simulate
from toollife.simulation.follow_up import read_plan, simulate_follow_up

REPO = Path(__file__).resolve().parents[2]
FACTORS5 = ["cutting_speed", "feed", "depth_of_cut", "coolant", "coating"]


def _config(lakehouse_config, overrides):
    cfg = load_config("local", overrides=overrides)
    cfg["lakehouse"] = copy.deepcopy(lakehouse_config["lakehouse"])
    cfg["spark"] = copy.deepcopy(lakehouse_config["spark"])
    return cfg


def land(spark, config, results, new=None):
    """Silver holds the messages of every simulation so far; gold.experiment_runs is merged;
    the ``new`` results (default: all) get their meta.simulation_runs row (the lineage links)."""
    frames = [silver_frames(spark, r) for r in results]
    for key in ("tool_events", "sensor_readings"):
        df = frames[0][key]
        for f in frames[1:]:
            df = df.unionByName(f[key])
        tables.overwrite(df, config, SOURCES[key].silver)
    te, sr = er.read_silver(spark, config)
    er.merge_runs(spark, config, er.build_experiment_runs(te, sr, config))
    for r in results if new is None else new:       # as `toollife simulate` writes them
        mf.write_table(config, mf.build_manifest(r, target="jsonl"))


def plan_table(spark, config):
    return tables.read(spark, config, nx.NEXT).toPandas().sort_values(nx.KEY + ["run_no"]).reset_index(drop=True)


def follow_up_table(spark, config):
    return tables.read(spark, config, nx.FOLLOW_UP).toPandas().sort_values(nx.KEY).reset_index(drop=True)


# --------------------------------------------------------------------------- 1. fold-over
def true_raw_effects(sim, machine_id, tool_id):
    """Effects on raw T of the noise-free physics over the full 2^5 (coolant/coating inert)."""
    t = sim.taylor.set_index(["machine_id", "tool_id"]).loc[(machine_id, tool_id)]
    lv = {f.name: (f.low, f.high) for f in sim.factors}
    d = full_factorial(FACTORS5).astype(float)
    nat = {f: np.where(d[f] > 0, lv[f][1], lv[f][0]).astype(float) for f in ("cutting_speed", "feed", "depth_of_cut")}
    d["T"] = ((t["C"] / (nat["cutting_speed"] * nat["feed"] ** t["a"] * nat["depth_of_cut"] ** t["b"])) ** (1 / t["n"])
              * np.exp(sim.config["physics"]["sigma"] ** 2 / 2))
    return analyze_factorial(d, FACTORS5, "T").set_index("term")["effect"]


def test_a_resolution_iii_fold_over_identifies_the_interaction_behind_an_inert_factor(spark, lakehouse_config,
                                                                                       capsys):
    config = _config(lakehouse_config, {
        "doe": {"log_response": False, "next_experiment": {"response": "tool_life"}},
        "simulation": {"seed": 21, "machines": 2, "tools": 1, "replicates": 2, "anomalies": {"chipping_rate": 0.0},
                       "sensors": {"sample_interval_s": 600.0},
                       "physics": {"coolant_multiplier": {"dry": 1.0, "flood": 1.0},
                                   "coating_multiplier": {"TiN": 1.0, "TiAlN": 1.0}},
                       "design": {"generators": ["D=AB", "E=AC"]}}})
    root = simulate(config)
    assert root.design == "2^(5-2) resolution III, D=AB, E=AC" and len(root.runs) == 2 * 16
    land(spark, config, [root])
    m1 = nx.run(spark, config)
    plan1 = plan_table(spark, config)
    assert m1["kinds"] == {"fold_over": 2}
    assert (plan1["kind"] == "fold_over").all() and (plan1["experiment_id"] == root.experiment_id).all()
    assert plan1["reason"].str.contains(r"coolant \(aliased with cutting_speed:feed\)").all()
    # natural levels decode the parent's low/high; the fold is 8 runs per combination
    assert set(plan1["cutting_speed"]) == {180.0, 300.0} and set(plan1["coolant"]) == {"dry", "flood"}
    assert plan1.groupby(["machine_id", "tool_id"]).size().tolist() == [8, 8]

    # idempotent: re-running changes nothing, timestamps included
    m2 = nx.run(spark, config)
    assert m2["next_experiments"] == {"numTargetRowsInserted": 0, "numTargetRowsUpdated": 0, "numTargetRowsDeleted": 0}
    pd.testing.assert_frame_equal(plan_table(spark, config), plan1)

    # the simulator runs the plan read back from the Delta table as the follow-up <parent>-F1
    plan = read_plan("gold.doe_next_experiments", config)
    fu = simulate_follow_up(config, plan, root.experiment_id)
    assert fu.experiment_id == f"{root.experiment_id}-F1" and fu.parent_experiment_id == root.experiment_id
    pd.testing.assert_frame_equal(fu.taylor, root.taylor)                 # same truth
    assert not set(fu.runs["eps"]) & set(root.runs["eps"])                 # runs of its own
    land(spark, config, [root, fu], new=[fu])
    m3 = nx.run(spark, config)
    assert m3["lineages"][fu.experiment_id] == [root.experiment_id, fu.experiment_id]
    report = follow_up_table(spark, config)
    assert list(report["experiment_id"]) == [fu.experiment_id] * 2
    for row in report.itertuples():
        assert row.parent_kind == "fold_over" and row.model == "two_level" and row.n_runs == 24
        assert "coolant = cutting_speed:feed" in row.aliases_before
        assert "coolant" not in (row.aliases_after or "")
        eff = json.loads(row.effects_json)
        truth = true_raw_effects(root, row.machine_id, row.tool_id)
        inter, cool = eff["cutting_speed:feed"], eff["coolant"]
        assert "coolant" not in (inter["aliases"] or "") and "cutting_speed:feed" not in (cool["aliases"] or "")
        assert inter["significant"] and not cool["significant"]
        assert abs(inter["effect"] - truth["cutting_speed:feed"]) < 3 * inter["std_error"]
        assert abs(cool["effect"] - 0.0) < 3 * cool["std_error"]
        assert "cutting_speed:feed" in row.resolved and "coolant" in row.resolved
    # the parent's recommendation stays (it was computed from the parent's runs), the follow-up has its own
    assert set(plan_table(spark, config)["experiment_id"]) == {root.experiment_id, fu.experiment_id}

    # the job entry point on the same lakehouse (in-process: the session is the fixture's): nothing changes
    import importlib.util

    from toollife.runtime.job import run_job

    spec = importlib.util.spec_from_file_location("plan_job", REPO / "jobs" / "plan_next_experiments.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    before = plan_table(spark, config)
    argv = ["--set", f"lakehouse.root={config['lakehouse']['root']}",
            "--set", f"lakehouse.checkpoint_root={config['lakehouse']['checkpoint_root']}",
            "--set", "spark.shuffle_partitions=2", "--set", "doe.log_response=false",
            "--set", "doe.next_experiment.response=tool_life"]
    assert run_job("plan_next_experiments", job.main, add_arguments=job.add_arguments, argv=argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["kinds"] == m3["kinds"]
    assert summary["next_experiments"] == {"numTargetRowsInserted": 0, "numTargetRowsUpdated": 0,
                                           "numTargetRowsDeleted": 0}
    pd.testing.assert_frame_equal(plan_table(spark, config), before)


# --------------------------------------------------------------------------- 2. cost per part
def test_cost_per_part_reaches_the_true_optimum_within_three_rounds(spark, lakehouse_config, tmp_path):
    config = _config(lakehouse_config, {
        "doe": {"factors": ["cutting_speed"], "next_experiment": {"response": "cost_per_part"}},
        "simulation": {"seed": 5, "machines": 2, "tools": 2, "replicates": 2, "anomalies": {"chipping_rate": 0.0},
                       "sensors": {"sample_interval_s": 600.0},
                       "design": {"factors": [{"name": "cutting_speed", "low": 180.0, "high": 300.0}],
                                  "generators": [], "center_points": 3}}})
    cost, base = config["doe"]["cost"], config["doe"]["baseline"]
    root = simulate(config)
    assert "3 centre points" in root.design and set(root.runs["cutting_speed"]) == {180.0, 240.0, 300.0}
    truth = {}
    for t in root.taylor.to_dict("records"):
        tay = {"n": t["n"], "a": t["a"], "b": t["b"], "C": t["C"], "coolant_multiplier": t["m_coolant_flood"],
               "coating_multiplier": t["m_coating_TiAlN"]}
        opt = cost_optimal_conditions(tay, base["feed"], base["depth_of_cut"], cost, coolant=True, coating=True)
        truth[(t["machine_id"], t["tool_id"])] = (tay, opt)
    results, kinds, measured = [root], [], []
    for rnd in range(3):
        land(spark, config, results, new=results[-1:])
        nx.run(spark, config, experiments=[results[-1].experiment_id])
        plan = plan_table(spark, config)
        plan = plan[plan["experiment_id"] == results[-1].experiment_id]
        kinds.append(sorted(set(plan["kind"])))
        if rnd:
            report = follow_up_table(spark, config)
            report = report[report["experiment_id"] == results[-1].experiment_id]
            assert len(report) == 4
            for row in report.itertuples():
                v_opt = truth[(row.machine_id, row.tool_id)][1]["V_opt"]
                rsm = json.loads(row.stationary_ci_json)["cutting_speed"] if row.stationary_ci_json else [None, None]
                measured.append((rnd, row.machine_id, row.tool_id, round(v_opt, 1), round(row.cost_optimal_speed, 1),
                                 round(row.cost_optimal_speed_ci_low, 1), round(row.cost_optimal_speed_ci_high, 1), rsm))
                assert row.cost_optimal_speed_ci_low <= v_opt <= row.cost_optimal_speed_ci_high, measured[-1]
        if set(plan["kind"]) == {"confirm"}:
            break
        # round trip through a CSV export of the table, as `toollife simulate --plan-from FILE` reads it
        path = tmp_path / f"plan-{rnd}.csv"
        plan.to_csv(path, index=False)
        results.append(simulate_follow_up(config, read_plan(str(path)), results[-1].experiment_id))
    print("kinds per round:", kinds)
    print("(round, machine, tool, true V_opt, Taylor V_opt, CI low, CI high, response-surface CI):", *measured, sep="\n  ")
    assert set(plan["kind"]) == {"confirm"}, kinds
    assert len(results) <= 3
    for (m, t), g in plan.groupby(["machine_id", "tool_id"]):
        tay, opt = truth[(m, t)]
        for v in g["cutting_speed"]:
            c = cost_per_part(v, base["feed"], base["depth_of_cut"], tay, **cost, coolant=True, coating=True)
            print(f"  {m}/{t}: confirm at {v:.1f} m/min, true cost / true optimum = {c / opt['cost_per_part_optimal']:.5f}")
            assert c <= 1.01 * opt["cost_per_part_optimal"], (m, t, v, opt)


def test_an_older_meta_simulation_runs_table_gains_the_parent_column(spark, lakehouse_config):
    from pyspark.sql.types import StructType

    from toollife.simulation.follow_up import simulate_follow_up as follow

    config = copy.deepcopy(lakehouse_config)
    tbl = tables.Table(*mf.TABLE)
    old = StructType([f for f in mf.table_schema().fields if f.name != "parent_experiment_id"])
    tables.create_if_missing(spark, config, tbl, old)
    cfg = {"seed": 8, "machines": 1, "tools": 1, "replicates": 1, "sensors": {"sample_interval_s": 3600.0},
           "design": {"factors": [{"name": "cutting_speed", "low": 180.0, "high": 300.0}], "generators": []}}
    root = simulate(overrides=cfg)
    plan = pd.DataFrame({"experiment_id": root.experiment_id, "machine_id": "M01", "tool_id": "T01", "run_no": [1, 2],
                         "kind": "confirm", "point_type": "confirm", "coded_cutting_speed": 0.5, "cutting_speed": 270.0})
    from toollife.simulation.core import resolve_sim_config

    fu = follow({"simulation": resolve_sim_config(config, cfg)}, plan, root.experiment_id)
    for r in (root, fu):
        mf.write_table(config, mf.build_manifest(r, target="jsonl"))
    assert mf.parents(spark, config) == {fu.experiment_id: root.experiment_id}
