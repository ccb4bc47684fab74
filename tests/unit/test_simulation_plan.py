"""Experiment plan and ground truth: design, replication, randomisation, Taylor truth, and the
physics seen through the published messages (main effects on ln T, signals rising with wear)."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from toollife.simulation import simulate
from toollife.simulation.core import resolve_sim_config
from toollife.simulation.plan import build_plan

NO_ANOMALIES = {"drift_rate": 0.0, "vibration_spike_rate": 0.0, "chipping_rate": 0.0, "dropout_rate": 0.0}
FACTORS = ["cutting_speed", "feed", "depth_of_cut", "coolant", "coating"]


def plan(**overrides):
    return build_plan(resolve_sim_config(None, overrides))


def test_default_plan_is_a_replicated_randomised_half_fraction_per_machine_and_tool():
    p = plan(machines=2, tools=3, replicates=2)
    runs = p.runs
    assert p.design == "2^(5-1) resolution V, E=ABCD"
    assert len(runs) == 2 * 3 * 16 * 2
    x = runs[[f"x_{f}" for f in FACTORS]].to_numpy()
    assert np.all(x[:, 4] == x[:, :4].prod(axis=1))  # E = ABCD
    for (m, t), g in runs.groupby(["machine_id", "tool_id"]):
        assert sorted(g["run_id"]) == sorted(list(range(1, 17)) * 2)
        assert sorted(g["run_order"]) == list(range(1, 33))
        in_order = g.sort_values("run_order")
        assert list(in_order["run_id"]) != list(range(1, 17)) * 2  # randomised
        assert g.groupby("replicate").size().to_dict() == {1: 16, 2: 16}
    assert set(runs["machine_id"]) == {"M01", "M02"} and set(runs["tool_id"]) == {"T01", "T02", "T03"}
    # natural units are the exact configured levels
    assert set(runs["feed"]) == {0.15, 0.30} and set(runs["coating"]) == {"TiN", "TiAlN"}


def test_standard_order_and_full_factorial():
    p = plan(machines=1, tools=1, replicates=1, randomize=False, design={"generators": []})
    assert p.design == "2^5 full factorial"
    runs = p.runs.sort_values("run_order")
    assert list(runs["run_id"]) == list(range(1, 33))
    assert list(runs["x_cutting_speed"][:4]) == [-1, 1, -1, 1]  # standard (Yates) order


def test_inert_factor_and_nominal_settings():
    p = plan(machines=1, tools=1, replicates=1, design={"generators": [], "factors": [
        {"name": "cutting_speed", "low": 200.0, "high": 260.0},
        {"name": "nose_radius", "low": 0.4, "high": 0.8, "unit": "mm"}]})
    runs = p.runs
    assert len(runs) == 4 and set(runs["f"]) == {0.2} and set(runs["coating_eff"]) == {"TiAlN"}
    assert set(runs["nose_radius"]) == {0.4, 0.8}
    # the inert factor changes nothing but the scatter draw: its true effect is 0
    det = runs["ln_true_tool_life"] - runs["eps"]
    assert det[runs["x_nose_radius"] > 0].mean() == pytest.approx(det[runs["x_nose_radius"] < 0].mean())


def test_invalid_plans_are_rejected():
    with pytest.raises(ValueError, match="not one of"):
        plan(design={"factors": [{"name": "coolant", "low": "dry", "high": "mist"}], "generators": []})
    with pytest.raises(ValueError, match="base factors|generated factor|generators"):
        plan(design={"generators": ["E=ABCE"]})
    with pytest.raises(ValueError, match="machines"):
        plan(machines=0)


def test_taylor_truth_and_clock():
    p = plan(machines=3, tools=2, replicates=1)
    tay = p.taylor
    assert np.allclose(tay["C"], tay["C_base"] * tay["u_machine"] * tay["u_tool"])
    assert tay.groupby("tool_id")["u_tool"].nunique().eq(1).all()  # a tool's effect is shared by machines
    assert tay.groupby("machine_id")["u_machine"].nunique().eq(1).all()
    runs = p.runs
    n, a, b = 0.25, 0.6, 0.15
    expected = (np.log(runs["C"] * runs["m_coating"] * runs["m_coolant"]) - np.log(runs["V"])
                - a * np.log(runs["f"]) - b * np.log(runs["d"])) / n + runs["eps"]
    assert np.allclose(runs["ln_true_tool_life"], expected)
    for _, g in runs.groupby("machine_id"):
        g = g.sort_values("exec_order")
        assert np.all(g["start_ms"].to_numpy()[1:] >= g["end_ms"].to_numpy()[:-1])
    # scatter of a run is keyed by the run, not by the plan's size
    bigger = plan(machines=4, tools=2, replicates=1).runs
    key = ["machine_id", "tool_id", "run_id", "replicate"]
    merged = runs.merge(bigger, on=key, suffixes=("", "_big"))
    assert len(merged) == len(runs) and np.allclose(merged["eps"], merged["eps_big"])


def _observed(result) -> pd.DataFrame:
    """One row per run from the published tool events: factors + observed ln T."""
    started, life = {}, {}
    for _, value in result.tool_events:
        e = json.loads(value)
        key = (e["machine_id"], e["tool_id"], e["run_id"], e["replicate"])
        if e["event"] == "run_started":
            started[key] = e["factors"]
        elif e["event"] == "tool_worn_out":
            life[key] = e["tool_life_min"]
    levels = {f.name: f.high for f in result.factors}
    rows = [{"machine_id": k[0], "tool_id": k[1], "ln_t": np.log(life[k]),
             **{f: 1 if started[k][f] == levels[f] else -1 for f in FACTORS}} for k in life]
    return pd.DataFrame(rows)


def _effects(df: pd.DataFrame) -> dict[str, float]:
    out = {}
    for r in (1, 2):
        for combo in itertools.combinations(FACTORS, r):
            x = df[list(combo)].prod(axis=1)
            out[":".join(combo)] = df.loc[x > 0, "ln_t"].mean() - df.loc[x < 0, "ln_t"].mean()
    return out


def test_main_effects_on_ln_t_are_exact_without_scatter_and_interactions_vanish():
    result = simulate(overrides={"machines": 2, "tools": 2, "replicates": 1, "seed": 5,
                                 "sensors": {"sample_interval_s": 3600.0},
                                 "physics": {"sigma": 0.0}, "anomalies": NO_ANOMALIES})
    obs = _observed(result)
    assert len(obs) == 2 * 2 * 16
    for _, g in obs.groupby(["machine_id", "tool_id"]):
        eff = _effects(g)
        for f in FACTORS:
            assert eff[f] == pytest.approx(result.true_effects[f], abs=1e-3)
        for term, value in eff.items():
            if ":" in term:
                assert abs(value) < 1e-3, term
    assert result.true_effects["cutting_speed"] == pytest.approx(-4 * np.log(300 / 180))


def test_main_effects_within_sampling_error_with_scatter():
    sigma = 0.1
    result = simulate(overrides={"machines": 2, "tools": 2, "replicates": 4, "seed": 9,
                                 "sensors": {"sample_interval_s": 3600.0},
                                 "physics": {"sigma": sigma}, "anomalies": NO_ANOMALIES})
    obs = _observed(result)
    se = 2 * sigma / np.sqrt(len(obs))
    eff = _effects(obs)  # machine/tool effects are balanced over the design: they cancel
    for term, value in eff.items():
        expected = result.true_effects.get(term, 0.0)
        assert abs(value - expected) < 4 * se, (term, value, expected)


def test_signals_rise_with_wear_in_every_run_and_wear_ends_at_criterion():
    result = simulate(overrides={"machines": 1, "tools": 1, "replicates": 1, "seed": 3,
                                 "sensors": {"sample_interval_s": 10.0}, "anomalies": NO_ANOMALIES})
    series = defaultdict(lambda: defaultdict(list))
    for _, value in result.sensor_readings:
        r = json.loads(value)
        series[(r["run_id"], r["replicate"])][r["sensor"]].append(r["value"])
    assert len(series) == 16
    for run, s in series.items():
        power, wear = np.array(s["spindle_power"]), np.array(s["flank_wear"])
        assert len(power) >= 5
        assert abs(wear[-1] - 0.3) < 0.01 and wear[0] < 0.01
        assert np.corrcoef(power, wear)[0, 1] > 0, run
        q = max(len(power) // 4, 1)
        for name in ("spindle_power", "vibration_rms", "acoustic_emission", "flank_wear"):
            v = np.array(s[name])
            assert v[-q:].mean() > v[:q].mean(), (run, name)
    truth = result.truth_runs()
    assert (truth["status"] == "worn_out").all()
    assert np.allclose(truth["end_min"], truth["true_tool_life_min"])


def test_in_progress_leaves_the_last_runs_of_each_machine_cutting_with_their_truth():
    small = {"machines": 2, "tools": 2, "replicates": 1, "sensors": {"sample_interval_s": 120.0}}
    done = simulate(overrides=small)
    cutting = simulate(overrides={**small, "in_progress": {"per_machine": 2, "cut_fraction_min": 0.4,
                                                           "cut_fraction_max": 0.6}})
    runs = cutting.runs
    left = runs[runs["status"] == "in_progress"]
    assert cutting.counts["runs_in_progress"] == len(left) == 2 * 2
    # the last two runs on each machine's clock, cut to 40-60 % of a life that stays the truth
    last = runs.groupby("machine_id")["exec_order"].transform("max")
    assert (left["exec_order"] > last[left.index] - 2).all()
    assert left["end_min"].between(0.4 * left["true_tool_life_min"], 0.6 * left["true_tool_life_min"]).all()
    assert np.allclose(left["true_tool_life_min"], done.runs.loc[left.index, "true_tool_life_min"])
    events = [json.loads(v) for _, v in cutting.tool_events]
    ended = {(e["machine_id"], e["tool_id"], e["run_id"]) for e in events if e["event"] != "run_started"}
    started = {(e["machine_id"], e["tool_id"], e["run_id"]) for e in events if e["event"] == "run_started"}
    open_runs = {(r.machine_id, r.tool_id, r.run_id) for r in left.itertuples()}
    assert started - ended == open_runs
    with pytest.raises(ValueError, match="in_progress"):
        simulate(overrides={**small, "in_progress": {"per_machine": 1, "cut_fraction_max": 1.0}})
