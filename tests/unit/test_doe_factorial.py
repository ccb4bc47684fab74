"""analyze_factorial against published results (Montgomery, Design and Analysis of Experiments)."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from toollife.doe import (
    RESULT_COLUMNS,
    add_center_points,
    add_replicates,
    analyze_factorial,
    code_levels,
    fractional_factorial,
    full_factorial,
)

# Example 6.2, filtration rate, unreplicated 2^4 in standard order
FILTRATION = [45, 71, 48, 65, 68, 60, 80, 65, 43, 100, 45, 104, 75, 86, 70, 96]
FILTRATION_EFFECTS = {
    "A": 21.625, "B": 3.125, "C": 9.875, "D": 14.625, "A:B": 0.125, "A:C": -18.125, "A:D": 16.625,
    "B:C": 2.375, "B:D": -0.375, "C:D": -1.125, "A:B:C": 1.875, "A:B:D": 4.125, "A:C:D": -1.625,
    "B:C:D": -2.625, "A:B:C:D": 1.375,
}
# Example 6.1, plasma etch, 2^3 with n = 2 (replicate 1, then replicate 2, standard order)
ETCH = [550, 669, 633, 642, 1037, 749, 1075, 729, 604, 650, 601, 635, 1052, 868, 1063, 860]


def filtration_runs():
    d = full_factorial(list("ABCD"))
    d["y"] = FILTRATION
    return d


def etch_runs():
    d = add_replicates(full_factorial(list("ABC")), 2)
    d["y"] = ETCH
    return d


def test_example_6_2_effects_and_lenth():
    res = analyze_factorial(filtration_runs(), list("ABCD"), "y")
    assert list(res.columns) == RESULT_COLUMNS
    assert list(res["term"]) == list(FILTRATION_EFFECTS)          # order: by interaction order
    assert np.allclose(res["effect"], list(FILTRATION_EFFECTS.values()), atol=1e-12)
    assert np.allclose(res["coefficient"], res["effect"] / 2)
    assert (res["method"] == "lenth").all() and (res["aliases"] == "").all()
    assert np.allclose(res["std_error"], 2.625)                   # PSE
    me = stats.t.ppf(0.975, 15 / 3) * 2.625
    assert round(me, 3) == 6.748
    assert set(res.loc[res["significant"], "term"]) == {"A", "C", "D", "A:C", "A:D"}
    assert np.allclose(res["t_value"], res["effect"] / 2.625)
    assert np.allclose(res["p_value"], 2 * stats.t.sf(np.abs(res["t_value"]), 5))


def test_example_6_2_run_order_does_not_matter():
    d = filtration_runs().sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(analyze_factorial(d, list("ABCD"), "y"),
                                  analyze_factorial(filtration_runs(), list("ABCD"), "y"))


def test_example_6_1_anova():
    res = analyze_factorial(etch_runs(), list("ABC"), "y").set_index("term")
    expected = {"A": -101.625, "B": 7.375, "C": 306.125, "A:B": -24.875, "A:C": -153.625, "B:C": -2.125, "A:B:C": 5.625}
    assert np.allclose(res.loc[list(expected), "effect"], list(expected.values()))
    assert (res["method"] == "anova").all()
    mse = 2252.5625
    assert np.allclose(res["std_error"], 2 * np.sqrt(mse / 16))
    for term, p in {"A": 0.00268, "C": 1.23e-6, "A:C": 0.000193}.items():
        assert float(f"{res.loc[term, 'p_value']:.3g}") == p
    assert np.allclose(res["p_value"], 2 * stats.t.sf(np.abs(res["t_value"]), 8))
    assert set(res.index[res["significant"]]) == {"A", "C", "A:C"}


def test_unbalanced_replication_matches_general_least_squares():
    d = etch_runs().iloc[:-3]              # drop three runs of replicate 2
    res = analyze_factorial(d, list("ABC"), "y")
    lv = d[list("ABC")].to_numpy(float)
    cols = [np.ones(len(d))] + [np.prod(lv[:, list(c)], axis=1) for c in
                                ([0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2])]
    X = np.column_stack(cols)
    beta, *_ = np.linalg.lstsq(X, d["y"].to_numpy(float), rcond=None)
    resid = d["y"].to_numpy(float) - X @ beta
    df = len(d) - 8
    cov = resid @ resid / df * np.linalg.inv(X.T @ X)
    assert np.allclose(res["effect"], 2 * beta[1:])
    assert np.allclose(res["std_error"], 2 * np.sqrt(np.diag(cov)[1:]))
    assert np.allclose(res["p_value"], 2 * stats.t.sf(np.abs(2 * beta[1:] / res["std_error"]), df))


def test_half_fraction_aliases():
    f = list("ABCDE")
    d = fractional_factorial(f, ["E=ABCD"])
    rng = np.random.default_rng(0)
    d["y"] = 10 + 3 * d["A"] + 2 * d["A"] * d["B"] + rng.normal(0, 0.1, len(d))
    res = analyze_factorial(d, f, "y").set_index("term")
    assert len(res) == 15
    assert res.loc["A", "aliases"] == "B:C:D:E"
    assert res.loc["A:B", "aliases"] == "C:D:E"
    assert "C:D:E" not in res.index and "A:B:C:D" not in res.index
    assert res.loc["A", "effect"] == pytest.approx(6, abs=0.2)
    assert res.loc["A:B", "effect"] == pytest.approx(4, abs=0.2)
    assert {"A", "A:B"} <= set(res.index[res["significant"]])
    neg = fractional_factorial(f, ["E=-ABCD"])
    neg["y"] = d["y"]
    assert analyze_factorial(neg, f, "y").set_index("term").loc["A", "aliases"] == "-B:C:D:E"


def test_quarter_fraction_lowest_order_representative():
    f = list("ABCDEF")
    d = fractional_factorial(f, ["E=ABC", "F=BCD"])
    d["y"] = np.random.default_rng(1).normal(size=len(d))
    res = analyze_factorial(d, f, "y").set_index("term")
    assert len(res) == 15
    assert res.loc["A:B", "aliases"] == "C:E, A:C:D:F, B:D:E:F"
    assert "C:E" not in res.index


def test_center_points_curvature_example_6_6():
    d = add_center_points(full_factorial(["A", "B"]), 5)
    d["y"] = [39.3, 40.9, 40.0, 41.5, 40.3, 40.5, 40.7, 40.2, 40.6]
    res = analyze_factorial(d, ["A", "B"], "y").set_index("term")
    assert list(res.index) == ["A", "B", "A:B", "curvature"]
    assert (res["method"] == "anova").all()
    curv = res.loc["curvature"]
    assert curv["effect"] == pytest.approx(40.425 - 40.46)
    ss_curv = 4 * 5 * curv["effect"] ** 2 / 9
    assert ss_curv == pytest.approx(0.0027, abs=5e-5)
    mse = 0.1720 / 4                                   # pure error from the centre runs
    f_stat = ss_curv / mse
    assert curv["t_value"] ** 2 == pytest.approx(f_stat, rel=1e-3)
    assert curv["p_value"] == pytest.approx(stats.f.sf(f_stat, 1, 4), rel=1e-3)
    assert not curv["significant"]
    assert res.loc["A", "effect"] == pytest.approx(1.55)
    assert res.loc["A", "std_error"] == pytest.approx(2 * np.sqrt(mse / 4), rel=1e-3)


def test_log_response():
    d = add_replicates(full_factorial(["A", "B"]), 2)
    d["life"] = np.exp(2 + 0.5 * d["A"] - 0.25 * d["B"] + np.array([0.01, -0.02, 0.0, 0.03, -0.01, 0.02, 0.0, -0.03]))
    res = analyze_factorial(d, ["A", "B"], "life", log_response=True).set_index("term")
    assert res.loc["A", "effect"] == pytest.approx(1.0, abs=0.05)
    assert res.loc["B", "effect"] == pytest.approx(-0.5, abs=0.05)
    raw = d.assign(life=np.log(d["life"]))
    pd.testing.assert_frame_equal(res.reset_index(), analyze_factorial(raw, ["A", "B"], "life"))
    d.loc[0, "life"] = 0.0
    with pytest.raises(ValueError, match="strictly positive"):
        analyze_factorial(d, ["A", "B"], "life", log_response=True)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.drop(columns="y"), "missing column"),
        (lambda d: d.assign(A=d["A"] * 2), "coded"),
        (lambda d: d.iloc[:3], "regular"),
        (lambda d: d.assign(y=np.where(d.index == 0, np.nan, d["y"])), "missing"),
        (lambda d: pd.concat([d, pd.DataFrame({"A": [0], "B": [1], "C": [0], "D": [0], "y": [1.0]})]), "centre"),
    ],
)
def test_bad_input(mutate, match):
    with pytest.raises(ValueError, match=match):
        analyze_factorial(mutate(filtration_runs()), list("ABCD"), "y")


def test_too_few_runs():
    d = full_factorial(["A"])
    d["y"] = [1.0, 2.0]
    with pytest.raises(ValueError, match="too few runs"):
        analyze_factorial(d, ["A"], "y")


# --------------------------------------------------------------------------- levels in floating point
def _two_by_two(a, b):
    return pd.DataFrame({"A": a, "B": b, "y": [10.0, 20.0, 30.0, 40.0]})


def test_levels_a_rounding_error_off_are_the_level():
    exact = analyze_factorial(_two_by_two([-1, 1, -1, 1], [-1, -1, 1, 1]), ["A", "B"], "y")
    # hand-checked: A = (20 + 40)/2 - (10 + 30)/2 = 10, B = 20, A:B = 0
    assert exact.set_index("term")["effect"].to_dict() == pytest.approx({"A": 10.0, "B": 20.0, "A:B": 0.0})
    fuzzy = _two_by_two([-0.9999999999999998, 1.0000000000000002, -1, 1], [-1, -1, 0.9999999999999998, 1])
    pd.testing.assert_frame_equal(analyze_factorial(fuzzy, ["A", "B"], "y"), exact)


def test_levels_clearly_off_the_design_are_still_refused():
    with pytest.raises(ValueError, match="coded -1/\\+1"):
        analyze_factorial(_two_by_two([-0.99, 1, -1, 1], [-1, -1, 1, 1]), ["A", "B"], "y")


def test_code_levels_codes_low_high_and_centre_from_natural_units():
    runs = pd.DataFrame({"feed": [0.1, 0.3, 0.1, 0.3, 0.2], "coolant": ["dry", "dry", "flood", "flood", "dry"],
                         "y": [1.0, 2.0, 3.0, 4.0, 2.5]})
    coded = code_levels(runs, ["feed", "coolant"], {"coolant": ("dry", "flood")})
    # (0.3 - 0.2) / 0.1 is 0.9999999999999998 in floating point: coded exactly +1
    assert coded["feed"].tolist() == [-1.0, 1.0, -1.0, 1.0, 0.0]
    assert coded["coolant"].tolist() == [-1.0, -1.0, 1.0, 1.0, -1.0]
    assert coded["y"].tolist() == runs["y"].tolist() and runs["feed"].iloc[1] == 0.3      # a copy
    axial = code_levels(pd.DataFrame({"speed": [150.0, 250.0, 270.0]}), ["speed"], {"speed": (150, 250)})
    assert axial["speed"].tolist() == pytest.approx([-1.0, 1.0, 1.4])


def test_code_levels_feeds_analyze_factorial():
    natural = pd.DataFrame({"speed": [150.0, 250.0, 150.0, 250.0], "feed": [0.15, 0.15, 0.3, 0.3],
                            "y": [10.0, 20.0, 30.0, 40.0]})
    got = analyze_factorial(code_levels(natural, ["speed", "feed"]), ["speed", "feed"], "y")
    assert got.set_index("term")["effect"].to_dict() == pytest.approx({"speed": 10.0, "feed": 20.0,
                                                                      "speed:feed": 0.0})


def test_code_levels_refuses_what_it_cannot_code():
    with pytest.raises(ValueError, match="give its \\(low, high\\)"):
        code_levels(pd.DataFrame({"coolant": ["dry", "flood"]}), ["coolant"])
    with pytest.raises(ValueError, match="neither"):
        code_levels(pd.DataFrame({"coolant": ["dry", "mist"]}), ["coolant"], {"coolant": ("dry", "flood")})
    with pytest.raises(ValueError, match="one level"):
        code_levels(pd.DataFrame({"feed": [0.2, 0.2]}), ["feed"])
