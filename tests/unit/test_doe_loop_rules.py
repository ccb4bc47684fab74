"""The loop's pure parts (no Spark): the simulator's resolution III designs, centre points and
follow-up experiments, and the per-combination planning of toollife.gold.next_experiments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from toollife.config import load_config
from toollife.doe import cost_per_part, cost_per_part_at_life
from toollife.gold import next_coding as nc
from toollife.gold import next_plan as nx
from toollife.simulation import simulate
from toollife.simulation.core import resolve_sim_config
from toollife.simulation.follow_up import follow_up_id, parent_by_name, read_plan, simulate_follow_up
from toollife.simulation.plan import build_plan

FACTORS5 = ["cutting_speed", "feed", "depth_of_cut", "coolant", "coating"]
SPEED_ONLY = {"factors": [{"name": "cutting_speed", "low": 180.0, "high": 300.0}], "generators": []}


# --------------------------------------------------------------------------- simulator
def test_resolution_iii_generators_give_the_2_5_2_fraction():
    p = build_plan(resolve_sim_config(None, {"machines": 1, "tools": 1, "replicates": 1,
                                             "design": {"generators": ["D=AB", "E=AC"]}}))
    assert p.design == "2^(5-2) resolution III, D=AB, E=AC"
    x = p.runs[[f"x_{f}" for f in FACTORS5]].to_numpy()
    assert len(x) == 8 and len({tuple(r) for r in x}) == 8
    assert np.all(x[:, 3] == x[:, 0] * x[:, 1]) and np.all(x[:, 4] == x[:, 0] * x[:, 2])


def test_centre_points_are_the_midpoints_and_need_numeric_factors():
    p = build_plan(resolve_sim_config(None, {"machines": 1, "tools": 1, "replicates": 2,
                                             "design": {**SPEED_ONLY, "center_points": 3}}))
    runs = p.runs
    assert p.design == "2^1 full factorial, 3 centre points"
    assert len(runs) == 2 * (2 + 3) and (runs["x_cutting_speed"] == 0).sum() == 6
    assert set(runs.loc[runs["x_cutting_speed"] == 0, "cutting_speed"]) == {240.0}
    assert sorted(runs["run_id"].unique()) == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="categorical factor"):
        build_plan(resolve_sim_config(None, {"design": {"center_points": 2}}))


def test_without_centre_points_the_simulation_id_is_unchanged():
    a = simulate(overrides={"machines": 1, "tools": 1})
    b = simulate(overrides={"machines": 1, "tools": 1, "design": {"center_points": 0}})
    assert a.simulation_id == b.simulation_id and a.messages == b.messages


def test_follow_up_ids():
    assert follow_up_id("EXP-7") == "EXP-7-F1" and follow_up_id("EXP-7-F1") == "EXP-7-F2"
    assert parent_by_name("EXP-7-F1") == "EXP-7" and parent_by_name("EXP-7-F2") == "EXP-7-F1"
    assert parent_by_name("EXP-7") is None


def _plan(experiment="SIM-3"):
    return pd.DataFrame({
        "experiment_id": experiment, "machine_id": ["M01"] * 3 + ["M02"] * 3, "tool_id": "T02",
        "run_no": [1, 2, 3] * 2, "kind": "augment_axial", "point_type": ["axial", "axial", "center"] * 2,
        "coded_cutting_speed": [-1.414, 1.414, 0.0] * 2, "cutting_speed": [155.1, 324.9, 240.0] * 2,
        "coded_feed": np.nan, "feed": np.nan})


def test_a_follow_up_runs_the_plan_with_the_parents_truth_and_its_own_scatter(tmp_path):
    cfg = {"seed": 3, "machines": 2, "tools": 2, "design": SPEED_ONLY}
    parent = simulate(overrides=cfg)
    fu = simulate_follow_up({"simulation": resolve_sim_config(None, cfg)}, _plan(), "SIM-3")
    assert fu.experiment_id == "SIM-3-F1" and fu.parent_experiment_id == "SIM-3"
    assert len(fu.runs) == 6 and sorted(fu.runs["cutting_speed"].unique()) == [155.1, 240.0, 324.9]
    t_parent = parent.taylor.set_index(["machine_id", "tool_id"])
    t_fu = fu.taylor.set_index(["machine_id", "tool_id"])
    pd.testing.assert_frame_equal(t_fu, t_parent.loc[t_fu.index])                     # same random effects
    assert not set(fu.runs["eps"]) & set(parent.runs["eps"])
    events = [json.loads(v) for _, v in fu.tool_events]
    assert {e["experiment_id"] for e in events} == {"SIM-3-F1"}
    assert {e["event_id"].split("-")[0] for e in events}.isdisjoint({json.loads(v)["event_id"].split("-")[0]
                                                                      for _, v in parent.tool_events})
    again = simulate_follow_up({"simulation": resolve_sim_config(None, cfg)}, _plan(), "SIM-3")
    assert again.messages == fu.messages and again.simulation_id == fu.simulation_id   # deterministic
    # exports of the table read back the same
    for name, write in (("p.csv", lambda p, f: p.to_csv(f, index=False)),
                        ("p.json", lambda p, f: p.to_json(f, orient="records")),
                        ("p.jsonl", lambda p, f: p.to_json(f, orient="records", lines=True))):
        write(_plan(), tmp_path / name)
        assert simulate_follow_up({"simulation": resolve_sim_config(None, cfg)}, read_plan(str(tmp_path / name)),
                                  "SIM-3").messages == fu.messages, name


def test_simulate_plan_from_file_cli_dry_run(tmp_path, capsys):
    from toollife.cli import main

    _plan().to_csv(tmp_path / "plan.csv", index=False)
    rc = main(["simulate", "--plan-from", str(tmp_path / "plan.csv"), "--seed", "3", "--no-table", "--no-progress",
               "--manifest-dir", str(tmp_path / "m"), "--dry-run", str(tmp_path / "out.jsonl")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (only,) = out["follow_ups"]
    assert only["experiment_id"] == "SIM-3-F1" and only["parent_experiment_id"] == "SIM-3"
    manifest = json.loads(open(only["manifest"]).read())
    assert manifest["parent_experiment_id"] == "SIM-3" and manifest["counts"]["runs"] == 6
    assert (tmp_path / "out.jsonl").read_text().count('run_started') == 6
    assert main(["simulate", "--plan-from", str(tmp_path / "plan.csv"), "--parent", "NOPE", "--no-table",
                 "--dry-run", str(tmp_path / "x.jsonl")]) == 2


def test_by_default_only_open_recommendations_are_simulated():
    from toollife.simulation.follow_up import simulate_plan

    plan = pd.concat([_plan("SIM-3"), _plan("SIM-3-F1"), _plan("OTHER")], ignore_index=True)
    cfg = {"simulation": resolve_sim_config(None, {"seed": 3})}
    assert [r.experiment_id for r in simulate_plan(cfg, plan)] == ["OTHER-F1", "SIM-3-F2"]
    assert [r.experiment_id for r in simulate_plan(cfg, plan, ["SIM-3"])] == ["SIM-3-F1"]


# --------------------------------------------------------------------------- planning
def _params(**nxt):
    cfg = load_config(overrides={"doe": {"next_experiment": nxt}} if nxt else None)
    return nc.NextParams.from_config(cfg), cfg


def test_observed_cost_per_part_is_the_cost_model_at_the_observed_life():
    _, cfg = _params()
    cost = cfg["doe"]["cost"]
    for V, f, T in ((180.0, 0.2, 35.0), (300.0, 0.15, 4.2)):
        # doe.cost_per_part with a Taylor law that gives exactly T at V: n=1, a=b=0, C=T*V
        want = cost_per_part(V, f, 2.0, {"n": 1.0, "a": 0.0, "b": 0.0, "C": T * V}, **cost)
        assert cost_per_part_at_life(V, f, T, cost) == pytest.approx(want, rel=1e-12)
    assert np.isnan(cost_per_part_at_life(200.0, 0.2, np.nan, cost))


def test_lineages_follow_links_then_names():
    lin = nx.lineages(["A", "A-F1", "A-F2", "B", "C"], {"C": "B"})
    assert lin == {"A": ["A"], "A-F1": ["A", "A-F1"], "A-F2": ["A", "A-F1", "A-F2"], "B": ["B"], "C": ["B", "C"]}


def _runs(sim, gen=0):
    """gold.experiment_runs-like rows of a simulation (truth as observed)."""
    r = sim.runs
    out = pd.DataFrame({"experiment_id": sim.experiment_id, "machine_id": r["machine_id"], "tool_id": r["tool_id"],
                        nc.GEN: gen, nc.COMPLETED: r["status"].eq("worn_out").to_numpy(),
                        nc.LIFE: np.where(r["status"] == "worn_out", r["true_tool_life_min"], np.nan)})
    for f in FACTORS5:
        out[f] = r[f].to_numpy() if f in r.columns else None
        out[f"coded_{f}"] = r[f"x_{f}"].to_numpy(float) if f"x_{f}" in r.columns else np.nan
    return out


def test_categorical_centre_runs_are_planned_at_both_levels_and_levels_are_clipped():
    params, _ = _params(limits={"cutting_speed": [100.0, 310.0]})
    sim = simulate(overrides={"seed": 4, "machines": 1, "tools": 1, "replicates": 2, "design": {
        "factors": [{"name": "cutting_speed", "low": 180.0, "high": 300.0}, {"name": "coating", "low": "TiN",
                                                                              "high": "TiAlN"}], "generators": []}})
    runs = _runs(sim)
    step = nx._Step("confirm", "", pd.DataFrame({"cutting_speed": [0.5, 2.0], "coating": [0.0, 1.7],
                                                 "point_type": "confirm"}),
                    {}, nc.root_coding(runs, params))
    rows = nx._plan_rows(step, params)
    assert list(rows["coating"]) == ["TiN", "TiAlN", "TiAlN"]            # 0 split into both levels, 1.7 -> +1
    assert list(rows["cutting_speed"]) == [270.0, 270.0, 310.0]           # 2.0 -> 360, clipped to 310
    assert list(rows["coded_cutting_speed"]) == pytest.approx([0.5, 0.5, 70 / 60])
    assert list(rows["coded_coating"]) == [-1.0, 1.0, 1.0]


def test_plan_combination_of_a_resolution_iii_fraction_is_a_fold_over():
    params, _ = _params(response="tool_life")
    sim = simulate(overrides={"seed": 9, "machines": 2, "tools": 2, "replicates": 2,
                              "anomalies": {"chipping_rate": 0.0},
                              "physics": {"coolant_multiplier": {"dry": 1.0, "flood": 1.0}},
                              "design": {"generators": ["D=AB", "E=AC"]}})
    runs = _runs(sim)
    out = nx.next_experiments_frame(runs, params)
    assert set(out["kind"]) == {"fold_over"} and out.groupby("_key").size().tolist() == [8] * 4
    assert set(out["cutting_speed"]) == {180.0, 300.0} and set(out["coolant"]) == {"dry", "flood"}
    # a design point lost in both replicates (chipping) comes back as a rerun of that combination only
    lost = runs.copy()
    combo = (lost["machine_id"] == "M01") & (lost["tool_id"] == "T01")
    coded = [f"coded_{f}" for f in FACTORS5]
    point = (lost[coded] == lost.loc[lost.index[combo][0], coded]).all(axis=1) & combo
    assert point.sum() == 2
    lost.loc[point, nc.COMPLETED] = False
    lost.loc[point, nc.LIFE] = np.nan
    out = nx.next_experiments_frame(lost, params)
    kinds = out.groupby("_key")["kind"].first().tolist()
    assert kinds == ["rerun"] + ["fold_over"] * 3
    assert (out["_key"] == 0).sum() == 2


def test_a_steepest_ascent_follow_up_starts_a_new_factorial_around_the_best_step():
    params, _ = _params(response="cost_per_part")
    coding = nc.Coding(["cutting_speed"], {"cutting_speed": 150.0}, {"cutting_speed": 30.0}, {})
    X_steps = np.array([[1.0], [2.0], [3.0], [4.0]])
    y = np.array([4.2, 4.0, 3.9, 4.1])                              # cost: lowest at step 3 (240 m/min)
    step = nx._new_region(X_steps, y, np.array([[-1.0], [1.0], [0.0]]), coding, params)
    assert step.kind == nc.NEW_FACTORIAL and step.coding.centre["cutting_speed"] == 240.0
    rows = nx._plan_rows(step, params)
    assert sorted(rows["cutting_speed"]) == [210.0, 240.0, 240.0, 240.0, 270.0]


def test_a_follow_up_keeps_simulation_in_progress_working():
    cfg = {"seed": 3, "machines": 2, "tools": 2, "design": SPEED_ONLY,
           "in_progress": {"per_machine": 1, "cut_fraction_min": 0.3, "cut_fraction_max": 0.7}}
    fu = simulate_follow_up({"simulation": resolve_sim_config(None, cfg)}, _plan(), "SIM-3")
    running = fu.runs[fu.runs["status"] == "in_progress"]
    assert running.groupby("machine_id").size().to_dict() == {"M01": 1, "M02": 1}
    assert (running["end_min"] < running["true_tool_life_min"]).all()
    ends = {json.loads(v)["run_id"] for _, v in fu.tool_events if json.loads(v)["event"] != "run_started"
            and json.loads(v)["machine_id"] == "M01"}
    assert len(ends) == 2                                   # 3 runs on M01, the last one still cutting
