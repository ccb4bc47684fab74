"""toollife.doe.censored: the lognormal AFT maximum-likelihood fit with right-censored lives,
against a likelihood written out here and maximised with scipy, and against least squares."""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from toollife.doe import analyze_factorial
from toollife.doe.censored import CENSORED_METHOD, NOT_IDENTIFIABLE, fit_censored

# a 2^2 factorial, 3 replicates; lives in minutes; three tools censored (still cutting at the time given)
A = [-1, 1, -1, 1] * 3
B = [-1, -1, 1, 1] * 3
LIFE = [42.0, 20.0, 61.0, 30.0, 50.0, 17.0, 55.0, 26.0, 47.0, 23.0, 70.0, 33.0]
CENSORED_AT = {2: 40.0, 7: 24.0, 10: 52.0}       # run index -> survived this long, still cutting


def _runs(censored_at=CENSORED_AT):
    life = np.array(LIFE)
    cens = np.full(len(life), np.nan)
    for i, t in censored_at.items():
        cens[i], life[i] = t, np.nan
    return pd.DataFrame({"A": np.array(A, float), "B": np.array(B, float), "life": life, "cens": cens})


def _scipy_mle(runs):
    """Maximise the censored lognormal log-likelihood directly; SEs from the numeric Hessian."""
    a, b = runs["A"].to_numpy(), runs["B"].to_numpy()
    X = np.column_stack([np.ones(len(a)), a, b, a * b])
    obs = runs["life"].notna().to_numpy()
    y = np.log(np.where(obs, runs["life"], runs["cens"]))

    def nll(theta):
        beta, log_s = theta[:-1], theta[-1]
        s = np.exp(log_s)
        z = (y - X @ beta) / s
        return -(np.sum(stats.norm.logpdf(z[obs]) - log_s) + np.sum(stats.norm.logsf(z[~obs])))

    start = np.append(np.linalg.lstsq(X, y, rcond=None)[0], 0.0)
    res = optimize.minimize(nll, start, method="BFGS", options={"gtol": 1e-10})
    h = 1e-4
    k = len(res.x)
    H = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h, np.eye(k)[j] * h
            H[i, j] = (nll(res.x + e_i + e_j) - nll(res.x + e_i - e_j) - nll(res.x - e_i + e_j)
                       + nll(res.x - e_i - e_j)) / (4 * h * h)
    cov = np.linalg.inv(H)
    return res.x[:-1], np.sqrt(np.diag(cov))[:-1], np.exp(res.x[-1])


def test_mle_matches_a_likelihood_maximised_with_scipy():
    runs = _runs()
    fit = fit_censored(runs, ["A", "B"], "life", "cens")
    beta, se, sigma = _scipy_mle(runs)
    eff = fit.effects.set_index("term")
    assert fit.identifiable and fit.n_censored == 3 and fit.n_runs == 12
    assert list(eff.index) == ["A", "B", "A:B"]
    assert (eff["method"] == CENSORED_METHOD).all()
    np.testing.assert_allclose(eff["coefficient"].to_numpy(), beta[1:], atol=1e-4)
    np.testing.assert_allclose(eff["effect"].to_numpy(), 2 * beta[1:], atol=2e-4)
    np.testing.assert_allclose(eff["std_error"].to_numpy(), 2 * se[1:], rtol=1e-3)
    z = beta[1:] / se[1:]
    np.testing.assert_allclose(eff["p_value"].to_numpy(), 2 * stats.norm.sf(np.abs(z)), rtol=1e-3, atol=1e-8)
    assert fit.sigma == pytest.approx(sigma, rel=1e-4)
    assert "3 of 12 lives censored" in fit.note


def test_without_censoring_the_mle_is_least_squares_with_sigma_on_n():
    runs = _runs({})
    fit = fit_censored(runs, ["A", "B"], "life", "cens")
    ols = analyze_factorial(runs, ["A", "B"], "life", log_response=True).set_index("term")
    eff = fit.effects.set_index("term")
    np.testing.assert_allclose(eff["effect"], ols["effect"], atol=1e-5)
    np.testing.assert_allclose(eff["coefficient"], ols["coefficient"], atol=1e-5)
    n, p = 12, 4
    np.testing.assert_allclose(eff["std_error"], ols["std_error"] * np.sqrt((n - p) / n), rtol=1e-3)
    X = np.column_stack([np.ones(n), A, B, np.multiply(A, B)])
    resid = np.log(LIFE) - X @ np.linalg.lstsq(X, np.log(LIFE), rcond=None)[0]
    assert fit.sigma == pytest.approx(np.sqrt(resid @ resid / n), rel=1e-4)


def test_a_cell_with_every_life_censored_drops_the_top_interaction():
    censored = {i: LIFE[i] * 0.9 for i in (3, 7, 11)}      # every tool at A=+1, B=+1 still cutting
    fit = fit_censored(_runs(censored), ["A", "B"], "life", "cens")
    eff = fit.effects.set_index("term")
    assert fit.identifiable and fit.dropped == ["A:B"]
    assert eff.loc["A:B", "method"] == NOT_IDENTIFIABLE and np.isnan(eff.loc["A:B", "effect"])
    assert np.isfinite(eff.loc[["A", "B"], "effect"]).all()
    assert "dropped: A:B" in fit.note


def test_most_lives_censored_is_refused_without_numbers():
    censored = {i: LIFE[i] * 0.8 for i in range(12) if i not in (0, 1)}   # only two tools failed
    fit = fit_censored(_runs(censored), ["A", "B"], "life", "cens")
    assert not fit.identifiable
    assert fit.effects["effect"].isna().all() and (fit.effects["method"] == NOT_IDENTIFIABLE).all()
    assert "not identifiable" in fit.note and "main effect(s) A, B not identifiable from the 2 uncensored" in fit.note


def test_a_run_without_any_life_is_left_out():
    """A tool with neither a life nor a censoring time (no reading beyond the start) does not count."""
    from toollife.doe.censored import fit_censored

    rng = np.random.default_rng(5)
    rows = [{"A": a, "B": b, "life": float(np.exp(3 + 0.4 * a - 0.2 * b + rng.normal(0, 0.1))), "cens": np.nan}
            for a in (-1, 1) for b in (-1, 1) for _ in range(3)]
    rows[0].update(life=np.nan, cens=10.0)                       # censored
    rows[1].update(life=np.nan, cens=np.nan)                     # no life at all
    fit = fit_censored(pd.DataFrame(rows), ["A", "B"], "life", "cens")
    assert fit.n_runs == 11 and fit.n_censored == 1
