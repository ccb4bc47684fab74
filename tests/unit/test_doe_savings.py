"""Savings and payback arithmetic (hand-checked), the interval against a Monte-Carlo over the
coefficients' covariance, and the interval's coverage of the simulator's true saving."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from toollife.config import load_config
from toollife.doe.savings import _figures, annual_savings, experiment_cost, fit_log_life, payback_days
from toollife.doe.taylor import as_machining_cost
from toollife.simulation.plan import build_plan

COST = dict(machine_rate=1.5, tool_cost=6.0, tool_change_time=2.0, handling_time=1.0, diameter=80.0, length=250.0)
PRACTICE = dict(cutting_speed=240.0, feed=0.2, depth_of_cut=2.0, coolant="flood", coating="TiAlN")


def _exact_runs(n=0.25, a=0.6, b=0.15, C=185.0, noise=None):
    rows = []
    for V, f, d in itertools.product((200.0, 280.0), (0.15, 0.25), (1.5, 2.5)):
        for rep in range(2):
            T = (C / (V * f ** a * d ** b)) ** (1 / n)
            rows.append(dict(cutting_speed=V, feed=f, depth_of_cut=d, tool_life=T))
    runs = pd.DataFrame(rows)
    if noise is not None:
        runs["tool_life"] *= np.exp(noise.normal(0, 0.1, len(runs)))
    return runs


def test_noise_free_figures_are_the_closed_form():
    out, why = annual_savings(_exact_runs(), COST, PRACTICE, parts_per_year=10_000)
    assert why is None
    # by hand: T0 = (185 / (240 * 0.2^0.6 * 2^0.15))^4; t_m = pi 80 250 / (1000 * 240 * 0.2)
    T0 = (185 / (240 * 0.2 ** 0.6 * 2 ** 0.15)) ** 4
    tm0 = math.pi * 80 * 250 / (1000 * 240 * 0.2)
    now = 1.5 * (1.0 + tm0) + tm0 / T0 * (1.5 * 2.0 + 6.0)
    T_opt = (1 / 0.25 - 1) * (2.0 + 6.0 / 1.5)                      # 18 min
    V_opt = 185 / (T_opt ** 0.25 * 0.2 ** 0.6 * 2 ** 0.15)
    tm1 = math.pi * 80 * 250 / (1000 * V_opt * 0.2)
    opt = 1.5 * (1.0 + tm1) + tm1 / T_opt * (1.5 * 2.0 + 6.0)
    assert out["tool_life_now_min"] == pytest.approx(T0, rel=1e-9)
    assert out["tool_life_optimal_min"] == pytest.approx(18.0)
    assert out["optimal_speed"] == pytest.approx(V_opt, rel=1e-9)
    assert out["cost_per_part_now"] == pytest.approx(now, rel=1e-9)
    assert out["cost_per_part_optimal"] == pytest.approx(opt, rel=1e-9)
    assert out["annual_saving"] == pytest.approx((now - opt) * 10_000, rel=1e-9)
    assert out["tool_changes_per_year_now"] == pytest.approx(10_000 * tm0 / T0, rel=1e-9)
    assert out["annual_saving_low"] == pytest.approx(out["annual_saving"], rel=1e-6)   # no scatter, no width


def test_experiment_cost_and_payback_by_hand():
    # 3 runs of 10, 20, 30 min: (60 min + 3 changes x 2 min) x 1.5 + 3 edges x 6 = 117
    assert experiment_cost([10, 20, 30, np.nan], COST) == pytest.approx(117.0)
    assert payback_days(117.0, 365 * 117.0 / 10) == pytest.approx(10.0)
    assert math.isnan(payback_days(117.0, -5.0))


def test_delta_interval_matches_monte_carlo_over_the_covariance():
    runs = _exact_runs(noise=np.random.default_rng(3))
    out, _ = annual_savings(runs, COST, PRACTICE, parts_per_year=10_000, alpha=0.05)
    fit = fit_log_life(runs)
    z = fit.practice_row(PRACTICE, {"coolant": "flood", "coating": "TiAlN"})
    draws = np.random.default_rng(4).multivariate_normal(fit.beta, fit.cov, 20_000)
    c = as_machining_cost(COST)
    saving = np.array([_figures(b, z, np.log(240.0), 0.2, c, 10_000)[3] for b in draws])
    half_width = (out["annual_saving_high"] - out["annual_saving_low"]) / 2
    from scipy import stats
    se_delta = half_width / stats.t.ppf(0.975, fit.df)
    assert np.nanstd(saving) == pytest.approx(se_delta, rel=0.15)
    assert np.nanmedian(saving) == pytest.approx(out["annual_saving"], abs=0.2 * se_delta)


def test_no_speed_variation_says_why():
    runs = _exact_runs()
    runs["cutting_speed"] = 240.0
    out, why = annual_savings(runs, COST, PRACTICE, 10_000)
    assert out is None and "cutting speed does not vary" in why


def _true_saving(tr, practice, c) -> float:
    """Per part, by the closed form on the simulator's own Taylor parameters."""
    n, a, b = tr["n"], tr["a"], tr["b"]
    C = tr["C"] * tr[f"m_coating_{practice['coating']}"] * tr[f"m_coolant_{practice['coolant']}"]
    V0, f, d = practice["cutting_speed"], practice["feed"], practice["depth_of_cut"]
    T0 = (C / (V0 * f ** a * d ** b)) ** (1 / n)
    T_opt = (1 / n - 1) * (c.tool_change_time + c.tool_cost / c.machine_rate)
    V_opt = C / (T_opt ** n * f ** a * d ** b)

    def per_part(V, T):
        t_m = math.pi * c.diameter * c.length / (1000 * V * f)
        return c.machine_rate * (c.handling_time + t_m) + t_m / T * (c.machine_rate * c.tool_change_time + c.tool_cost)

    return per_part(V0, T0) - per_part(V_opt, T_opt)


def test_interval_covers_the_simulators_true_saving():
    """On the simulator the truth is known: the 95 % interval of the annual saving holds the true
    one (true Taylor parameters, true optimum, the same cost model) for >= 90 % of combinations."""
    c = as_machining_cost(COST)
    hits, total = 0, 0
    for seed in (1, 2, 3, 4, 5):
        sim = load_config(overrides={"simulation": {"seed": seed, "machines": 4, "tools": 3,
                                     "replicates": 2}})["simulation"]
        plan = build_plan(sim)
        runs = plan.runs.assign(tool_life=plan.runs["true_tool_life_min"])
        practice = {**PRACTICE, **{k: v for k, v in sim["physics"]["nominal"].items() if k not in runs.columns}}
        for (m, t), grp in runs.groupby(["machine_id", "tool_id"]):
            out, why = annual_savings(grp, COST, practice, 10_000, completed=(grp["status"] == "worn_out").to_numpy())
            if out is None:
                continue
            tr = plan.taylor.set_index(["machine_id", "tool_id"]).loc[(m, t)]
            true_saving = _true_saving(tr, practice, c) * 10_000
            total += 1
            hits += out["annual_saving_low"] <= true_saving <= out["annual_saving_high"]
            assert abs(out["annual_saving"] - true_saving) <= out["annual_saving_high"] - out["annual_saving_low"]
    assert total >= 40
    assert hits / total >= 0.90, f"{hits} of {total}"


def test_savings_frame_per_combination_overrides_and_skips():
    from toollife.gold.savings_frames import SavingsParams, savings_frame

    runs = _exact_runs()
    runs = runs.assign(_completed=True, life=runs["tool_life"], cutting_time_min=runs["tool_life"],
                       coolant="flood", coating="TiAlN")
    fixed = runs.assign(cutting_speed=240.0)
    both = pd.concat([runs, fixed], ignore_index=True)
    gid = np.repeat([0, 1], len(runs))
    keys = pd.DataFrame({"machine_id": ["M01", "M02"], "tool_id": ["T01", "T01"], "_key": [0, 1]})
    params = SavingsParams(cost=COST, baseline=PRACTICE, parts_per_year=10_000,
                           per_combination={"M01/T01": {"parts_per_year": 5_000, "cutting_speed": 260.0}})
    out = savings_frame(both, gid, keys, params).set_index("_key")
    want, _ = annual_savings(runs, COST, {**PRACTICE, "cutting_speed": 260.0}, 5_000)
    assert out.loc[0, "status"] == "ok" and out.loc[0, "annual_saving"] == pytest.approx(want["annual_saving"])
    assert out.loc[0, "parts_per_year"] == 5_000
    assert out.loc[0, "experiment_cost"] == pytest.approx(experiment_cost(runs["cutting_time_min"], COST))
    assert out.loc[1, "status"] == "skipped" and "does not vary cutting_speed" in out.loc[1, "reason"]


def test_production_conf_rejects_an_unknown_key():
    from toollife.config import ConfigError
    from toollife.gold.savings_frames import SavingsParams

    config = load_config(overrides={"doe": {"production": {"per_combination": {"M01/T01": {"parts_a_year": 1}}}}})
    with pytest.raises(ConfigError, match="doe.production.per_combination.M01/T01.parts_a_year"):
        SavingsParams.from_config(config)


def test_plant_totals_count_the_latest_experiment_and_the_costs_of_costed_combinations_only():
    import pandas as pd

    from toollife.gold.savings_frames import plant_totals

    rows = pd.DataFrame([
        # machine, tool, experiment, status, significant, saving (low, high), experiment cost
        ("M01", "T01", "E1", "ok", True, 100.0, 50.0, 150.0, 20.0),
        ("M01", "T01", "E1-F1", "ok", True, 120.0, 80.0, 160.0, 10.0),   # the follow-up replaces E1's saving
        ("M02", "T01", "E1", "ok", False, 30.0, -10.0, 70.0, 15.0),      # costed, not distinguishable from 0
        ("imported", "X", "worksheet", "skipped", None, None, None, None, 500.0),   # no Taylor: not costed
    ], columns=["machine_id", "tool_id", "experiment_id", "status", "significant", "annual_saving",
                "annual_saving_low", "annual_saving_high", "experiment_cost"])
    t = plant_totals(rows)
    assert (t["combinations"], t["combinations_costed"], t["combinations_significant"]) == (3, 2, 1)
    assert (t["annual_saving"], t["annual_saving_low"], t["annual_saving_high"]) == (120.0, 80.0, 160.0)
    assert t["experiment_cost"] == 45.0                       # 20 + 10 + 15; the worksheet's 500 is not theirs
    assert t["payback_days"] == pytest.approx(45.0 / 120.0 * 365.0)
