"""Reduced hierarchical model and best settings (Montgomery Example 6.2)."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from toollife.doe import analyze_factorial, full_factorial, fractional_factorial, optimal_settings, reduce_model

FILTRATION = [45, 71, 48, 65, 68, 60, 80, 65, 43, 100, 45, 104, 75, 86, 70, 96]   # Example 6.2


def filtration_runs():
    return full_factorial(list("ABCD")).assign(y=FILTRATION)


def test_reduce_model_example_6_2():
    eff = analyze_factorial(filtration_runs(), list("ABCD"), "y")
    assert reduce_model(eff, list("ABCD")) == ["A", "C", "D", "A:C", "A:D"]


def test_reduce_model_adds_hierarchy():
    eff = pd.DataFrame({"term": ["A", "B", "C", "A:B", "A:C", "B:C", "A:B:C"],
                        "significant": [False, False, False, False, False, False, True]})
    assert reduce_model(eff, list("ABC")) == list(eff["term"])
    eff["significant"] = [False, False, False, False, False, True, False]
    assert reduce_model(eff, list("ABC")) == ["B", "C", "B:C"]


def test_reduce_model_maps_aliased_subterms():
    # 2^(4-1), D = ABC: A:D is reported as A:D (alias B:C); a significant A:D needs A and D
    f = list("ABCD")
    d = fractional_factorial(f, ["D=ABC"])
    d["y"] = np.arange(8.0)
    eff = analyze_factorial(d, f, "y")
    eff["significant"] = eff["term"] == "A:D"
    assert reduce_model(eff, f) == ["A", "D", "A:D"]


def test_optimal_settings_example_6_2():
    runs = filtration_runs()
    best = optimal_settings(runs, list("ABCD"), "y")
    assert best["terms"] == ["A", "C", "D", "A:C", "A:D"]
    assert best["coded"] == {"A": 1, "B": None, "C": -1, "D": 1}
    assert best["predicted"] == pytest.approx(100.625, abs=1e-12)
    assert best["method"] == "lenth" and best["df_resid"] == 10
    # hand computation: reduced-model SSE (pooled dropped effects), h = p/N = 6/16
    eff = analyze_factorial(runs, list("ABCD"), "y").set_index("term")
    dropped = eff.loc[["B", "A:B", "B:C", "B:D", "C:D", "A:B:C", "A:B:D", "A:C:D", "B:C:D", "A:B:C:D"], "effect"]
    mse = (16 * (dropped / 2) ** 2).sum() / 10
    assert mse == pytest.approx(195.125 / 10)
    tq = stats.t.ppf(0.975, 10)
    assert best["ci_low"] == pytest.approx(100.625 - tq * np.sqrt(mse * 6 / 16))
    assert best["ci_high"] == pytest.approx(100.625 + tq * np.sqrt(mse * 6 / 16))
    assert best["pi_high"] == pytest.approx(100.625 + tq * np.sqrt(mse * (1 + 6 / 16)))
    worst = optimal_settings(runs, list("ABCD"), "y", effects=eff.reset_index(), maximize=False)
    assert worst["predicted"] < best["predicted"]
    assert worst["terms"] == best["terms"]


def test_optimal_settings_log_response_back_transforms():
    d = full_factorial(list("ABC"))
    d = pd.concat([d, d], ignore_index=True)
    noise = np.random.default_rng(2).normal(0, 0.02, len(d))
    d["life"] = np.exp(3 + 0.4 * d["A"] - 0.3 * d["C"] + noise)
    best = optimal_settings(d, list("ABC"), "life", log_response=True)
    logged = optimal_settings(d.assign(life=np.log(d["life"])), list("ABC"), "life")
    assert best["coded"] == {"A": 1, "B": None, "C": -1} == logged["coded"]
    for key in ("predicted", "ci_low", "ci_high", "pi_low", "pi_high"):
        assert best[key] == pytest.approx(np.exp(logged[key]))
    assert best["predicted"] == pytest.approx(np.exp(3.7), rel=0.03)


def test_no_significant_terms_gives_grand_mean():
    d = full_factorial(list("ABC"))
    d = pd.concat([d, d], ignore_index=True)
    d["y"] = 5.0 + np.random.default_rng(3).normal(0, 1, len(d)) * 1e-3
    d.loc[:, "y"] = d["y"] - d["y"].mean() + 5.0
    eff = analyze_factorial(d, list("ABC"), "y")
    eff["significant"] = False
    best = optimal_settings(d, list("ABC"), "y", effects=eff)
    assert best["terms"] == [] and all(v is None for v in best["coded"].values())
    assert best["predicted"] == pytest.approx(5.0)
