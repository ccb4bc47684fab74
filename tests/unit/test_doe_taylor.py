"""Taylor fit (recovers known exponents) and the Gilbert minimum-cost model (hand numbers)."""
import numpy as np
import pandas as pd
import pytest

from toollife.doe import (
    MachiningCost,
    add_replicates,
    cost_optimal_conditions,
    cost_optimal_speed,
    cost_per_part,
    cost_per_part_at_life,
    fit_taylor,
    full_factorial,
    taylor_life,
    to_natural,
)

FACTORS = ["cutting_speed", "feed", "depth_of_cut", "coolant", "coating"]
LEVELS = {"cutting_speed": (150, 350), "feed": (0.1, 0.4), "depth_of_cut": (0.5, 4.0),
          "coolant": ("dry", "flood"), "coating": ("uncoated", "TiAlN")}


def taylor_runs(sigma=0.0, seed=0, n=0.25, a=0.6, b=0.15, C=400.0, m_cool=1.1, m_coat=1.3, reps=2):
    d = to_natural(add_replicates(full_factorial(FACTORS), reps), LEVELS)
    mult = np.where(d["coolant"] == "flood", m_cool, 1.0) * np.where(d["coating"] == "TiAlN", m_coat, 1.0)
    life = (C * mult / (d["cutting_speed"] * d["feed"] ** a * d["depth_of_cut"] ** b)) ** (1 / n)
    d["tool_life_min"] = life * np.exp(np.random.default_rng(seed).normal(0, sigma, len(d)))
    return d


def test_noiseless_recovery():
    t = fit_taylor(taylor_runs())
    for key, val in {"n": 0.25, "a": 0.6, "b": 0.15, "C": 400.0, "coolant_multiplier": 1.1,
                     "coating_multiplier": 1.3, "r_squared": 1.0}.items():
        assert t[key] == pytest.approx(val, rel=1e-9), key
    assert t["n_se"] < 1e-10 and t["df_resid"] == 64 - 6 and t["n_runs"] == 64


def test_noisy_fit_standard_errors_cover_truth():
    t = fit_taylor(taylor_runs(sigma=0.1, seed=5))
    for key, val in {"n": 0.25, "a": 0.6, "b": 0.15}.items():
        assert abs(t[key] - val) < 4 * t[f"{key}_se"], key
    assert 0.05 < t["sigma"] < 0.15


def test_delta_method_matches_numerical_propagation():
    runs = taylor_runs(sigma=0.1, seed=9)
    t = fit_taylor(runs)
    X = np.column_stack([np.ones(len(runs)), np.log(runs["cutting_speed"]), np.log(runs["feed"]),
                         np.log(runs["depth_of_cut"]), runs["coolant"] == "flood", runs["coating"] == "TiAlN"]).astype(float)
    y = np.log(runs["tool_life_min"].to_numpy())
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ beta
    cov = r @ r / (len(y) - 6) * np.linalg.inv(X.T @ X)
    assert t["n_se"] == pytest.approx(np.sqrt(cov[1, 1]) / beta[1] ** 2, rel=1e-6)
    g = np.array([0, -beta[2] / beta[1] ** 2, 1 / beta[1], 0, 0, 0])
    assert t["a_se"] == pytest.approx(np.sqrt(g @ cov @ g), rel=1e-6)


def test_fit_taylor_input_errors():
    runs = taylor_runs()
    with pytest.raises(ValueError, match="missing column"):
        fit_taylor(runs.drop(columns="feed"))
    with pytest.raises(ValueError, match="positive"):
        fit_taylor(runs.assign(tool_life_min=-1.0))
    with pytest.raises(ValueError, match="does not vary"):
        fit_taylor(runs.assign(depth_of_cut=2.0))
    with pytest.raises(ValueError, match="none is"):
        fit_taylor(runs.assign(coolant=np.where(runs["coolant"] == "flood", "wet", "dry")))


def test_cost_per_part_hand_computed():
    taylor = {"n": 0.25, "a": 0.6, "b": 0.15, "C": 400.0}
    V, f, d = 200.0, 0.25, 2.0
    T = (400 / (200 * 0.25 ** 0.6 * 2 ** 0.15)) ** 4
    assert taylor_life(V, f, d, taylor) == pytest.approx(T)
    t_m = np.pi * 50 * 200 / (1000 * 200 * 0.25)            # 0.6283 min
    expected = 1.0 * (1.0 + t_m) + (t_m / T) * (1.0 * 2.0 + 5.0)
    cost = dict(machine_rate=1.0, tool_cost=5.0, tool_change_time=2.0, handling_time=1.0, diameter=50, length=200)
    assert cost_per_part(V, f, d, taylor, **cost) == pytest.approx(expected)


def test_cost_optimal_conditions():
    taylor = {"n": 0.25, "a": 0.6, "b": 0.15, "C": 400.0, "coating_multiplier": 1.3, "coolant_multiplier": 1.1}
    cost = MachiningCost(machine_rate=1.0, tool_cost=5.0, tool_change_time=2.0, handling_time=1.0,
                         diameter=50, length=200)
    res = cost_optimal_conditions(taylor, 0.25, 2.0, cost, current_speed=250, coating=True)
    assert res["T_opt"] == pytest.approx(3 * (2 + 5))               # (1/n - 1)(t_c + C_t/C_m) = 21
    V_opt = 400 * 1.3 / (21 ** 0.25 * 0.25 ** 0.6 * 2 ** 0.15)
    assert res["V_opt"] == pytest.approx(V_opt)
    assert taylor_life(res["V_opt"], 0.25, 2.0, taylor, coating=True) == pytest.approx(21)
    # the optimum is a minimum of the cost curve
    kw = dict(machine_rate=1.0, tool_cost=5.0, tool_change_time=2.0, handling_time=1.0, diameter=50, length=200, coating=True)
    grid = np.linspace(0.5, 1.5, 101) * V_opt
    costs = [cost_per_part(v, 0.25, 2.0, taylor, **kw) for v in grid]
    assert int(np.argmin(costs)) == 50
    assert res["cost_per_part_optimal"] == pytest.approx(min(costs))
    assert res["savings"] == pytest.approx(res["cost_per_part_current"] - res["cost_per_part_optimal"])
    assert res["savings"] > 0
    assert np.isnan(cost_optimal_conditions(taylor, 0.25, 2.0, cost)["savings"])


def test_cost_optimal_speed_of_exact_taylor_runs_is_the_closed_form_with_a_zero_width_interval():
    # T = (C / V)^(1/n), n = 0.25, C = 400: T_opt = (1/n - 1)(t_c + C_t/C_m) = 3 * 7 = 21 min,
    # V_opt = C / T_opt^n = 400 / 21^0.25 = 186.9 m/min
    cost = {"machine_rate": 1.0, "tool_cost": 5.0, "tool_change_time": 2.0, "handling_time": 0.5,
            "diameter": 50.0, "length": 100.0}
    V = np.array([100.0, 150.0, 200.0, 250.0])
    runs = pd.DataFrame({"cutting_speed": V, "tool_life_min": (400.0 / V) ** 4})
    got = cost_optimal_speed(runs, cost, {"cutting_speed": 180.0})
    assert got["speed"] == pytest.approx(400.0 / 21.0 ** 0.25, rel=1e-9)
    assert got["speed"] == pytest.approx(
        cost_optimal_conditions({"n": 0.25, "a": 0.0, "b": 0.0, "C": 400.0}, 0.2, 2.0, cost)["V_opt"], rel=1e-9)
    assert got["ci_low"] == pytest.approx(got["speed"]) and got["ci_high"] == pytest.approx(got["speed"])
    assert got["taylor_n"] == pytest.approx(0.25) and got["n_runs"] == 4
    lost = np.array([True, True, True, False])          # a lost run is left out of the fit
    assert cost_optimal_speed(runs, cost, {}, completed=lost)["n_runs"] == 3
    assert cost_optimal_speed(runs.assign(cutting_speed=150.0), cost, {}) is None      # speed not varied


def test_cost_per_part_at_life_is_cost_per_part_at_the_taylor_life():
    cost = {"machine_rate": 1.2, "tool_cost": 6.0, "tool_change_time": 1.5, "handling_time": 0.4,
            "diameter": 60.0, "length": 120.0}
    taylor = {"n": 0.3, "a": 0.2, "b": 0.1, "C": 500.0}
    T = taylor_life(200.0, 0.2, 2.0, taylor)
    assert cost_per_part_at_life(200.0, 0.2, T, cost) == pytest.approx(cost_per_part(200.0, 0.2, 2.0, taylor, **cost),
                                                                       rel=1e-12)
    assert np.isnan(cost_per_part_at_life(np.array([200.0, -1.0]), 0.2, 10.0, cost)[1])
