"""The next experiment (issue 14, part 1): response surfaces, steepest ascent, fold-overs, power,
incomplete designs and recommend_next, against published results (Montgomery, *Design and
Analysis of Experiments*, ch. 8 and 11) and hand computations."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from toollife.doe import (
    RECOMMENDATION_KINDS,
    RESULT_COLUMNS,
    add_center_points,
    add_replicates,
    alias_structure,
    analyze_factorial,
    analyze_incomplete,
    central_composite,
    fit_response_surface,
    fold_over,
    fractional_factorial,
    full_factorial,
    power_two_level,
    recommend_next,
    replicates_for_power,
    steepest_ascent,
    to_natural,
)

X12 = ["x1", "x2"]


# --------------------------------------------------------------------------- Example 11.1
def example_11_1():
    """2^2 with 5 centre points: time 30/40 min (x1), temperature 150/160 °F (x2), yield."""
    rows = [(-1, -1, 39.3), (1, -1, 40.9), (-1, 1, 40.0), (1, 1, 41.5)]
    rows += [(0, 0, v) for v in (40.3, 40.5, 40.7, 40.2, 40.6)]
    return pd.DataFrame(rows, columns=["x1", "x2", "y"])


def test_example_11_1_first_order_model_no_interaction_no_curvature():
    d = example_11_1()
    res = analyze_factorial(d, X12, "y").set_index("term")
    # y-hat = 40.44 + 0.775 x1 + 0.325 x2 (the intercept is the grand mean: the design is orthogonal)
    assert d["y"].mean() == pytest.approx(40.444, abs=5e-4)
    assert round(d["y"].mean(), 2) == 40.44
    assert res.loc["x1", "coefficient"] == pytest.approx(0.775, abs=1e-12)
    assert res.loc["x2", "coefficient"] == pytest.approx(0.325, abs=1e-12)
    assert not res.loc["x1:x2", "significant"] and not res.loc["curvature", "significant"]
    # Montgomery's ANOVA: interaction SS 0.0025, pure quadratic SS 0.0027, pure error 0.1720 on 4 df
    mse = 0.1720 / 4
    assert res.loc["x1:x2", "std_error"] == pytest.approx(2 * np.sqrt(mse / 4))
    ss_int = 4 * res.loc["x1:x2", "coefficient"] ** 2
    assert ss_int == pytest.approx(0.0025)
    ss_curv = 4 * 5 * res.loc["curvature", "effect"] ** 2 / 9
    assert round(ss_curv, 4) == 0.0027
    assert res.loc["curvature", "t_value"] ** 2 == pytest.approx(ss_curv / mse)


def test_example_11_1_path_of_steepest_ascent():
    d = example_11_1()
    path = steepest_ascent(d, X12, "y")
    assert list(path.columns) == ["step", "x1", "x2"]
    assert path["step"].tolist() == [0, 1, 2, 3, 4, 5]
    assert (path.loc[0, X12] == 0).all()                        # step 0 = the design centre
    assert np.allclose(path["x1"], path["step"])                 # time moves one coded unit per step
    assert np.allclose(path["x2"], path["step"] * 0.325 / 0.775)
    assert round(path.loc[1, "x2"], 2) == 0.42
    nat = to_natural(path, {"x1": (30, 40), "x2": (150, 160)})
    steps = nat.diff().iloc[1:]
    assert np.allclose(steps["x1"], 5.0)                         # 5 min per step in time ...
    assert np.allclose(steps["x2"], 5 * 0.325 / 0.775)           # ... moves temperature 2.1 °F
    assert round(float(steps["x2"].iloc[0])) == 2
    assert nat.loc[1, "x1"] == pytest.approx(40) and round(nat.loc[1, "x2"]) == 157   # Table 11.3
    down = steepest_ascent(d, X12, "y", maximize=False, n_steps=2, step_factor="x2")
    assert np.allclose(down["x2"], [0, -1, -2]) and np.allclose(down["x1"], -down["step"] * 0.775 / 0.325)


def test_example_11_1_recommends_steepest_ascent():
    rec = recommend_next(example_11_1(), X12, "y")
    assert rec.kind == "steepest_ascent"
    path = steepest_ascent(example_11_1(), X12, "y")
    assert rec.runs["step"].tolist() == [1, 2, 3, 4, 5]
    assert np.allclose(rec.runs[X12].to_numpy(), path.loc[1:, X12].to_numpy())
    assert (rec.runs["point_type"] == "step").all()
    assert "steepest ascent" in rec.reason and "no curvature" in rec.reason
    assert rec.details["step_factor"] == "x1"
    assert rec.details["delta"]["x2"] == pytest.approx(0.325 / 0.775)


# --------------------------------------------------------------------------- Example 11.2
def example_11_2():
    rows = [(-1, -1, 76.5), (-1, 1, 77.0), (1, -1, 78.0), (1, 1, 79.5)]
    rows += [(0, 0, v) for v in (79.9, 80.3, 80.0, 79.7, 79.8)]
    rows += [(1.414, 0, 78.4), (-1.414, 0, 75.6), (0, 1.414, 78.5), (0, -1.414, 77.0)]
    return pd.DataFrame(rows, columns=["x1", "x2", "y"])


def test_example_11_2_second_order_model_and_canonical_analysis():
    rs = fit_response_surface(example_11_2(), X12, "y")
    assert list(rs.coefficients.index) == ["Intercept", "x1", "x2", "x1:x2", "x1^2", "x2^2"]
    expected = {"Intercept": 79.94, "x1": 0.995, "x2": 0.515, "x1:x2": 0.25, "x1^2": -1.376, "x2^2": -1.001}
    for term, v in expected.items():
        assert round(rs.coefficients[term], 3) == pytest.approx(v, abs=1e-12), term
    assert rs.stationary_point.round(3).tolist() == [0.389, 0.306]
    assert list(rs.stationary_point.index) == X12
    assert round(rs.predicted_at_stationary, 2) == 80.21
    assert rs.nature == "maximum"
    assert rs.eigenvalues[0] < rs.eigenvalues[1]                   # ascending
    assert rs.eigenvalues == pytest.approx([-1.4147, -0.9634], abs=5e-4)
    # the stationary point solves grad = b + 2 B x = 0, and B's eigenvalues are those of the fitted quadratic
    assert np.allclose(rs.first_order.to_numpy() + 2 * rs.B @ rs.stationary_point.to_numpy(), 0)
    assert rs.predict(rs.stationary_point)[0] == pytest.approx(rs.predicted_at_stationary)
    # ANOVA (Montgomery Table 11.?): model 28.25 on 5 df, residual 0.50 on 7, lack of fit 0.28 on 3,
    # pure error 0.212 on 4 (the centre points 79.9 ... 79.8), R^2 = 0.9827
    a = rs.anova
    assert a.loc["model", "df"] == 5 and round(a.loc["model", "sum_sq"], 2) == 28.25
    assert a.loc["residual", "df"] == 7 and round(a.loc["residual", "sum_sq"], 2) == 0.50
    assert a.loc["lack_of_fit", "df"] == 3 and round(a.loc["lack_of_fit", "sum_sq"], 2) == 0.28
    assert a.loc["pure_error", "df"] == 4 and a.loc["pure_error", "sum_sq"] == pytest.approx(0.212)
    assert a.loc["total", "sum_sq"] == pytest.approx(((example_11_2()["y"] - example_11_2()["y"].mean()) ** 2).sum())
    assert a.loc[["linear", "interaction", "square"], "sum_sq"].sum() == pytest.approx(a.loc["model", "sum_sq"])
    assert a.loc["interaction", "sum_sq"] == pytest.approx(0.25)
    f_lof = a.loc["lack_of_fit", "mean_sq"] / a.loc["pure_error", "mean_sq"]
    assert a.loc["lack_of_fit", "p_value"] == pytest.approx(stats.f.sf(f_lof, 3, 4))
    assert a.loc["lack_of_fit", "p_value"] > 0.05                  # no lack of fit
    assert round(rs.r_squared, 4) == 0.9827


def test_example_11_2_recommends_confirmation_at_the_stationary_point():
    rec = recommend_next(example_11_2(), X12, "y")
    assert rec.kind == "confirm"
    rs = fit_response_surface(example_11_2(), X12, "y")
    assert len(rec.runs) == 3 and (rec.runs["point_type"] == "confirm").all()
    assert np.allclose(rec.runs[X12].to_numpy(), rs.stationary_point.to_numpy())
    pi = rs.prediction_interval(rs.stationary_point).iloc[0]
    h = pi["high"] - pi["predicted"]
    x0 = np.array([1, *rs.stationary_point, np.prod(rs.stationary_point), *rs.stationary_point ** 2])
    assert h == pytest.approx(stats.t.ppf(0.975, 7) * np.sqrt(rs.mse * (1 + x0 @ rs.xtx_inv @ x0)))
    assert rec.details["pi_low"] == pytest.approx(pi["low"]) and rec.details["pi_high"] == pytest.approx(pi["high"])
    assert rec.details["predicted"] == pytest.approx(80.21, abs=5e-3)
    assert "prediction interval" in rec.reason


def test_response_surface_uses_factor_names_and_rejects_first_order_designs():
    d = central_composite(["speed", "feed", "depth"], center_points=3)
    x = d.to_numpy()
    d["y"] = 5 - (x[:, 0] - 0.2) ** 2 - 2 * (x[:, 1] + 0.1) ** 2 + x[:, 2] ** 2 + 0.5 * x[:, 0] * x[:, 2]
    rs = fit_response_surface(d, ["speed", "feed", "depth"], "y")
    assert list(rs.coefficients.index) == [
        "Intercept", "speed", "feed", "depth", "speed:feed", "speed:depth", "feed:depth",
        "speed^2", "feed^2", "depth^2"]
    assert rs.coefficients["speed:depth"] == pytest.approx(0.5)
    assert rs.nature == "saddle" and rs.eigenvalues[0] < 0 < rs.eigenvalues[-1]
    # 15 distinct points, 10 parameters: lack of fit on 5 df, pure error (the 3 centre runs) on 2
    assert rs.anova.loc["lack_of_fit", "df"] == 5 and rs.anova.loc["pure_error", "df"] == 2
    with pytest.raises(ValueError, match="axial"):
        fit_response_surface(example_11_1(), X12, "y")


# --------------------------------------------------------------------------- designs
def test_central_composite_layout_and_alpha():
    d = central_composite(X12)
    assert list(d.columns) == X12 and len(d) == 4 + 4 + 5
    assert np.allclose(d.iloc[:4], full_factorial(X12))
    assert np.allclose(d.iloc[4:8], [[-np.sqrt(2), 0], [np.sqrt(2), 0], [0, -np.sqrt(2)], [0, np.sqrt(2)]])
    assert (d.iloc[8:] == 0).all().all()
    assert central_composite(list("ABC"), center_points=0).abs().max().max() == pytest.approx(8 ** 0.25)
    assert central_composite(list("ABC"), alpha="face").abs().max().max() == 1.0
    assert central_composite(list("ABC"), alpha=1.5, center_points=2).shape == (8 + 6 + 2, 3)
    half = central_composite(list("ABCDE"), generators=["E=ABCD"])
    assert len(half) == 16 + 10 + 5 and half.abs().max().max() == pytest.approx(2.0)
    with pytest.raises(ValueError):
        central_composite(X12, alpha="bogus")
    with pytest.raises(ValueError):
        central_composite(X12, alpha=-1)


def test_rotatable_ccd_predicts_with_equal_variance_at_equal_distance():
    d = central_composite(list("ABC"))
    d["y"] = np.arange(len(d), dtype=float) % 3
    rs = fit_response_surface(d, list("ABC"), "y")
    r = 1.3
    pts = np.array([[r, 0, 0], [0, 0, r], [r / np.sqrt(3)] * 3, [0, r / np.sqrt(2), -r / np.sqrt(2)]])
    hw = rs.prediction_interval(pts, mean=True)
    width = (hw["high"] - hw["low"]).to_numpy()
    assert np.allclose(width, width[0])


def test_fold_over_reverses_signs():
    d = add_center_points(fractional_factorial(list("ABC"), ["C=AB"]), 1).assign(y=1.0)
    full = fold_over(d, list("ABC"))
    assert list(full.columns) == list("ABC") and len(full) == len(d)
    assert (full.to_numpy() == -d[list("ABC")].to_numpy()).all()
    one = fold_over(d, list("ABC"), on="B")
    assert (one["B"] == -d["B"]).all() and (one[["A", "C"]] == d[["A", "C"]]).all().all()
    two = fold_over(d, list("ABC"), on=["A", "C"])
    assert (two["B"] == d["B"]).all() and (two["A"] == -d["A"]).all()
    with pytest.raises(ValueError, match="not in factors"):
        fold_over(d, list("ABC"), on="Z")


SEVEN = list("ABCDEFG")
RES_III = ["D=AB", "E=AC", "F=BC", "G=ABC"]          # 2^(7-4), resolution III (Montgomery Table 8.19)


def _alias_map(effects: pd.DataFrame):
    return {t: [a.strip() for a in str(al).split(",") if a.strip()] for t, al in zip(effects["term"], effects["aliases"])}


def test_full_fold_over_of_resolution_III_de_aliases_main_effects():
    d = fractional_factorial(SEVEN, RES_III)
    before = _alias_map(analyze_factorial(d.assign(y=np.arange(8.0)), SEVEN, "y"))
    assert all(any(len(a.lstrip("-").split(":")) == 2 for a in before[f]) for f in SEVEN)
    both = pd.concat([d, fold_over(d, SEVEN)], ignore_index=True)
    both["y"] = np.random.default_rng(0).normal(size=16)
    after = _alias_map(analyze_factorial(both, SEVEN, "y"))
    for f in SEVEN:   # no main effect aliased with a main effect or a two-factor interaction
        assert all(len(a.lstrip("-").split(":")) >= 3 for a in after[f]), (f, after[f])
    # the combined design is the resolution IV 2^(7-3) keeping the even words: E=BCD, F=ACD, G=ABC
    assert after == alias_structure(SEVEN, ["E=BCD", "F=ACD", "G=ABC"])


def test_single_factor_fold_over_de_aliases_that_factor_and_its_interactions():
    d = fractional_factorial(SEVEN, RES_III)
    both = pd.concat([d, fold_over(d, SEVEN, on="D")], ignore_index=True)
    both["y"] = np.random.default_rng(1).normal(size=16)
    after = _alias_map(analyze_factorial(both, SEVEN, "y"))
    assert all(len(a.lstrip("-").split(":")) >= 3 for a in after["D"])
    low = {t for t in after if len(t.split(":")) <= 2}
    for t, als in after.items():   # every 2FI with D: no main effect or 2FI in its alias set
        if "D" in t.split(":") and len(t.split(":")) == 2:
            assert all(len(a.lstrip("-").split(":")) >= 3 for a in als), (t, als)
    d_2fis = {t for t in low if "D" in t.split(":") and t != "D"}
    assert d_2fis == {"A:D", "B:D", "C:D", "D:E", "D:F", "D:G"}


# --------------------------------------------------------------------------- power
def test_power_two_level_matches_noncentral_t_by_hand():
    # 2^3 replicated twice: 16 runs, df = 16 - 8 = 8; effect 2, sigma 2 -> delta = 2 sqrt(16) / (2 * 2) = 2
    tcrit = stats.t.ppf(0.975, 8)
    hand = stats.nct.sf(tcrit, 8, 2.0) + stats.nct.cdf(-tcrit, 8, 2.0)
    assert power_two_level(3, 16, 2.0, 2.0) == pytest.approx(hand, rel=1e-12)
    assert 0.4 < hand < 0.5
    # unreplicated 2^4 (16 runs): main-effects model, df = 16 - 1 - 4 = 11
    t11 = stats.t.ppf(0.95, 11)
    delta = 1.5 * 4 / (2 * 1.2)
    assert power_two_level(4, 16, 1.5, 1.2, alpha=0.1) == pytest.approx(
        stats.nct.sf(t11, 11, delta) + stats.nct.cdf(-t11, 11, delta))
    assert power_two_level(3, 16, -2.0, 2.0) == pytest.approx(hand)
    assert power_two_level(3, 16, 2.0, 2.0, df=12) > hand
    with pytest.raises(ValueError, match="error df"):
        power_two_level(7, 8, 1.0, 1.0)                  # saturated 2^(7-4)


def test_replicates_for_power_is_the_smallest_sufficient():
    r = replicates_for_power(3, 2.0, 2.0, power=0.8)
    assert power_two_level(3, 8 * r, 2.0, 2.0) >= 0.8
    assert power_two_level(3, 8 * (r - 1), 2.0, 2.0) < 0.8
    assert replicates_for_power(3, 20.0, 1.0) == 1
    assert power_two_level(3, 8, 20.0, 1.0) == pytest.approx(1.0)       # no NaN far in the tail
    assert replicates_for_power(5, 1.0, 1.0, runs_per_replicate=16) >= 1


# --------------------------------------------------------------------------- incomplete designs
FILTRATION = [45, 71, 48, 65, 68, 60, 80, 65, 43, 100, 45, 104, 75, 86, 70, 96]   # Example 6.2


def _complete_designs():
    rng = np.random.default_rng(7)
    yield full_factorial(list("ABCD")).assign(y=FILTRATION), list("ABCD")
    d = add_replicates(full_factorial(list("ABC")), 2)
    yield d.assign(y=rng.normal(size=len(d))).iloc[:-3], list("ABC")     # unequal replication
    d = add_center_points(fractional_factorial(list("ABCDE"), ["E=-ABCD"]), 3)
    yield d.assign(y=rng.normal(size=len(d))), list("ABCDE")
    d = fractional_factorial(SEVEN, RES_III)
    yield d.assign(y=rng.normal(size=8)), SEVEN


@pytest.mark.parametrize("case", range(4))
def test_analyze_incomplete_equals_analyze_factorial_on_complete_designs(case):
    runs, factors = list(_complete_designs())[case]
    inc = analyze_incomplete(runs, factors, "y")
    assert inc.complete and inc.non_estimable == [] and inc.missing_points.empty and inc.n_lost == 0
    pd.testing.assert_frame_equal(inc.effects, analyze_factorial(runs, factors, "y"), rtol=1e-9, atol=1e-12)


def test_analyze_factorial_still_rejects_a_design_with_a_lost_point():
    with pytest.raises(ValueError, match="do not form a full"):
        analyze_factorial(full_factorial(list("ABCD")).assign(y=FILTRATION).iloc[1:], list("ABCD"), "y")


def test_analyze_incomplete_example_6_2_with_a_lost_run():
    runs = full_factorial(list("ABCD")).assign(y=FILTRATION).drop(index=6)      # (-,+,+,-) lost
    inc = analyze_incomplete(runs, list("ABCD"), "y")
    assert inc.non_estimable == ["A:B:C:D"]
    assert inc.missing_points[list("ABCD")].values.tolist() == [[-1, 1, 1, -1]]
    assert inc.missing_points["n_lost"].tolist() == [1] and inc.n_lost == 1
    eff = inc.effects
    assert list(eff.columns) == RESULT_COLUMNS
    assert len(eff) == 14 and eff["term"].iloc[-1] == "B:C:D" and (eff["method"] == "lenth").all()
    # saturated least squares: 15 runs, intercept + 14 terms
    lv = runs[list("ABCD")].to_numpy(float)
    cols = [np.ones(15)] + [np.prod(lv[:, [ "ABCD".index(c) for c in t.split(":")]], axis=1) for t in eff["term"]]
    X = np.column_stack(cols)
    beta = np.linalg.solve(X, runs["y"].to_numpy(float))
    assert np.allclose(eff["coefficient"], beta[1:])
    # Lenth on the standardised effects: se_j = PSE_z sqrt((X'X)^-1_jj)
    d = np.diag(np.linalg.inv(X.T @ X))[1:]
    z = np.abs(eff["effect"].to_numpy()) / np.sqrt(d)
    s0 = 1.5 * np.median(z)
    pse = 1.5 * np.median(z[z < 2.5 * s0])
    assert np.allclose(eff["std_error"], pse * np.sqrt(d))
    assert np.allclose(eff["p_value"], 2 * stats.t.sf(np.abs(eff["t_value"]), 14 / 3))
    # the lost run correlates the estimates; A:B:C:D is fully confounded with the others
    assert len(inc.correlations) > 0 and (inc.correlations["correlation"].abs() > 0).all()
    assert (inc.vif > 1).all()
    col = np.prod(lv, axis=1)
    assert np.allclose(X @ inc.alias_matrix["A:B:C:D"].to_numpy(), col)


def test_analyze_incomplete_lost_rows_design_and_fractions():
    f5 = list("ABCDE")
    d = add_center_points(fractional_factorial(f5, ["E=ABCD"]), 3)
    d["y"] = np.random.default_rng(3).normal(size=len(d))
    lost = d.copy()
    lost.loc[[2, 9], "y"] = np.nan                       # two runs aborted: NaN response rows
    inc = analyze_incomplete(lost, f5, "y")
    assert len(inc.missing_points) == 2 and inc.n_lost == 2 and inc.n_runs == 17
    assert sorted(map(tuple, inc.missing_points[f5].values.tolist())) == sorted(
        map(tuple, d.loc[[2, 9], f5].values.tolist()))
    assert inc.non_estimable == ["C:E", "D:E"] and inc.method == "anova" and inc.df_resid == 2
    same = analyze_incomplete(d.drop(index=[2, 9]), f5, "y", design=d)      # told the plan instead
    pd.testing.assert_frame_equal(same.effects, inc.effects)
    inferred = analyze_incomplete(d.drop(index=[2]), f5, "y")               # nothing told: affine hull
    assert inferred.missing_points[f5].values.tolist() == [d.loc[2, f5].tolist()]
    # a lost replicate of a point that still has a run is not a missing point
    rep = add_replicates(full_factorial(list("AB")), 2).assign(y=[1.0, 2, 3, 4, 1.1, np.nan, 3.2, 4.1])
    inc = analyze_incomplete(rep, list("AB"), "y")
    assert inc.missing_points.empty and inc.n_lost == 1 and inc.non_estimable == []
    assert not inc.correlations.empty                     # unequal replication correlates the estimates


# --------------------------------------------------------------------------- recommend_next, one case per kind
def test_recommend_rerun_for_a_lost_design_point():
    runs = example_11_1()
    runs.loc[0, "y"] = np.nan                               # (-,-) aborted by chipping
    rec = recommend_next(runs, X12, "y")
    assert rec.kind == "rerun"
    assert rec.runs[X12].values.tolist() == [[-1.0, -1.0]] and rec.runs["point_type"].tolist() == ["rerun"]
    assert rec.details["non_estimable"] == ["x1:x2"]
    assert "x1:x2" in rec.reason and "re-run" in rec.reason
    # the same without the NaN row: the corner points no longer form a 2^2, so the lost one is found
    assert recommend_next(example_11_1().iloc[1:], X12, "y").runs[X12].values.tolist() == [[-1.0, -1.0]]
    # every centre run lost: curvature can no longer be tested
    runs = example_11_1()
    runs.loc[4:, "y"] = np.nan
    rec = recommend_next(runs, X12, "y")
    assert rec.kind == "rerun" and rec.runs[X12].values.tolist() == [[0.0, 0.0]] * 5 and "curvature" in rec.reason
    # half of a planned 2^3 is itself a regular fraction: only the plan tells that runs were lost
    plan = full_factorial(list("ABC"))
    half = plan[plan.prod(axis=1) == 1].assign(y=[1.0, 2.0, 3.0, 4.0])
    assert recommend_next(half, list("ABC"), "y").kind != "rerun"
    rec = recommend_next(half, list("ABC"), "y", design=plan)
    assert rec.kind == "rerun" and len(rec.runs) == 4 and (rec.runs[list("ABC")].prod(axis=1) == -1).all()
    # a lost centre run (others completed) is a lost replicate: no re-run needed
    runs = example_11_1()
    runs.loc[8, "y"] = np.nan
    assert recommend_next(runs, X12, "y").kind == "steepest_ascent"


def _res_iii(y_of):
    d = fractional_factorial(SEVEN, RES_III)
    d["y"] = y_of(d) + np.array([0.02, -0.01, 0.0, 0.01, -0.02, 0.01, 0.0, -0.01])
    return d


def test_recommend_fold_over_single_factor_and_full():
    one = recommend_next(_res_iii(lambda d: 10 + 3 * d["A"]), SEVEN, "y")
    assert one.kind == "fold_over" and one.details["on"] == ["A"]
    assert set(one.details["ambiguous"]["A"]) == {"B:D", "C:E", "F:G"}
    d = fractional_factorial(SEVEN, RES_III)
    assert sorted(map(tuple, one.runs[SEVEN].to_numpy())) == sorted(map(tuple, fold_over(d, SEVEN, on="A").to_numpy()))
    assert "single-factor fold-over" in one.reason
    two = recommend_next(_res_iii(lambda d: 10 + 3 * d["A"] + 2 * d["B"]), SEVEN, "y")
    assert two.kind == "fold_over" and two.details["on"] == SEVEN
    assert sorted(map(tuple, two.runs[SEVEN].to_numpy())) == sorted(map(tuple, -d[SEVEN].to_numpy()))
    assert "full fold-over" in two.reason
    assert two.details["words_broken"] == two.details["words"] == 5


def _with_curvature(design, factors, n_center=4):
    d = add_center_points(design, n_center)
    centre = (d[factors] == 0).all(axis=1).to_numpy()
    d["y"] = np.where(centre, 15.0, 10.0)
    d.loc[centre, "y"] += np.array([0.1, -0.1, 0.05, -0.05])[: centre.sum()]
    return d


def test_recommend_augment_axial_on_curvature():
    rec = recommend_next(_with_curvature(full_factorial(X12), X12), X12, "y")
    assert rec.kind == "augment_axial"
    ax = rec.runs[rec.runs["point_type"] == "axial"][X12].to_numpy()
    assert np.allclose(ax, central_composite(X12, center_points=0).iloc[4:].to_numpy())
    assert (rec.runs["point_type"] == "center").sum() == 3
    assert rec.details["alpha"] == pytest.approx(np.sqrt(2)) and rec.details["curvature_p_value"] < 0.05
    assert "curvature" in rec.reason
    # the augmented design fits a second-order model (a CCD): the loop can go on
    parent = _with_curvature(full_factorial(X12), X12)
    both = pd.concat([parent[X12], rec.runs[X12]], ignore_index=True)
    both["y"] = 10 - both["x1"] ** 2 - both["x2"] ** 2 + np.arange(len(both)) % 2 * 0.01
    assert fit_response_surface(both, X12, "y").nature == "maximum"
    # face-centred and clipped to the machine's limits
    clipped = recommend_next(parent, X12, "y", limits={"x1": (-1, 1)})
    assert clipped.runs[clipped.runs["point_type"] == "axial"]["x1"].abs().max() == 1.0
    # a resolution IV fraction (AB = CD) cannot fit the quadratic: fold over first
    f4 = list("ABCD")
    res_iv = recommend_next(_with_curvature(fractional_factorial(f4, ["D=ABC"]), f4), f4, "y")
    assert res_iv.kind == "fold_over" and len(res_iv.details["on"]) == 1 and "curvature" in res_iv.reason


def test_recommend_steepest_ascent_respects_limits():
    rec = recommend_next(example_11_1(), X12, "y", limits={"x1": (-1, 1.5), "x2": (-1, 1)})
    assert rec.kind == "steepest_ascent"
    assert np.allclose(rec.runs[X12].to_numpy(), [[1, 0.325 / 0.775], [1.5, 0.65 / 0.775], [1.5, 1.0]])
    # already at the limits in the direction of ascent: nothing to climb, so confirm
    stuck = recommend_next(example_11_1(), X12, "y", limits={"x1": (-1, 1), "x2": (-1, 1)})
    assert stuck.kind == "confirm" and stuck.runs[X12].values.tolist()[0] == [1.0, 1.0]


def test_recommend_replicate_when_power_is_too_low():
    runs = full_factorial(list("ABC")).assign(y=[0.1, -0.3, -0.2, -1.2, 0.9, 0.6, -0.2, 0.4])
    assert not analyze_factorial(runs, list("ABC"), "y")["significant"].any()
    rec = recommend_next(runs, list("ABC"), "y", relevant_effect=1.0)
    assert rec.kind == "replicate"
    sigma = analyze_factorial(runs, list("ABC"), "y")["std_error"].iloc[0] * np.sqrt(8) / 2   # Lenth PSE
    assert rec.details["sigma"] == pytest.approx(sigma)
    assert rec.details["power"] == pytest.approx(power_two_level(3, 8, 1.0, sigma)) and rec.details["power"] < 0.8
    need = replicates_for_power(3, 1.0, sigma, power=0.8, runs_per_replicate=8)
    assert rec.details["n_replicates"] == need - 1 and len(rec.runs) == 8 * (need - 1)
    assert (rec.runs["point_type"] == "replicate").all()
    assert f"{need - 1} more replicate" in rec.reason


def test_recommend_confirm_with_a_prediction_interval():
    runs = full_factorial(list("ABC")).assign(y=[0.1, -0.3, -0.2, -1.2, 0.9, 0.6, -0.2, 0.4])
    rec = recommend_next(runs, list("ABC"), "y", relevant_effect=20.0)       # power is ample
    assert rec.kind == "confirm"
    assert rec.runs[list("ABC")].values.tolist() == [[0.0, 0.0, 0.0]] * 3
    mse = ((runs["y"] - runs["y"].mean()) ** 2).sum() / 7
    half = stats.t.ppf(0.975, 7) * np.sqrt(mse * (1 + 1 / 8))
    assert rec.details["pi_low"] == pytest.approx(runs["y"].mean() - half)
    assert rec.details["pi_high"] == pytest.approx(runs["y"].mean() + half)
    assert "prediction interval" in rec.reason


def test_recommend_second_order_saddle_moves_on():
    d = central_composite(X12, center_points=4)
    x1, x2 = d["x1"], d["x2"]
    d["y"] = 50 + 2 * x1 + 1 * x2 + x1 ** 2 - 2 * x2 ** 2 + np.r_[np.zeros(8), [0.1, -0.1, 0.05, -0.05]]
    rec = recommend_next(d, X12, "y")
    assert rec.kind == "steepest_ascent" and rec.details["nature"] == "saddle"
    assert rec.runs["x1"].tolist() == pytest.approx([1, 2, 3, 4, 5])
    assert rec.runs["x2"].tolist() == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5])


def test_recommendation_kinds_and_input_errors():
    assert RECOMMENDATION_KINDS == ("rerun", "fold_over", "augment_axial", "steepest_ascent", "replicate", "confirm")
    with pytest.raises(ValueError, match="no completed run"):
        recommend_next(example_11_1().assign(y=np.nan), X12, "y")
    with pytest.raises(ValueError, match="limits"):
        recommend_next(example_11_1(), X12, "y", limits={"x3": (-1, 1)})
    with pytest.raises(ValueError, match="target_power"):
        recommend_next(example_11_1(), X12, "y", target_power=1.5)
