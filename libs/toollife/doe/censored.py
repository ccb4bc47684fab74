"""Effects of a 2-level factorial on ln(tool life) when some lives are right-censored.

A tool that was still cutting when the experiment ended, was aborted (chipped, removed) or never
reached the wear criterion has no life, only a time it survived: its life is *longer* than that.
Dropping such runs biases the effects towards short lives; treating the survival time as a life
biases them the same way. The fit here is a lognormal accelerated-failure-time model, maximum
likelihood with right censoring (``lifelines.LogNormalAFTFitter``)::

    ln T = X beta + sigma * eps,   eps ~ N(0, 1)

with X the model matrix the least-squares analysis uses (:func:`toollife.doe.kernel.design_layout`
of every attempted run: intercept, the estimable terms and a centre-point indicator when there are
centre runs). Effects are on the coded scale with the least-squares definition
(:mod:`toollife.doe.factorial`): effect = 2 x coefficient, curvature = ybar_F - ybar_C; standard
errors from the inverse of the observed information (the Hessian of the log-likelihood), Wald z
tests (normal p-values: the MLE has no exact t distribution).

Identifiability. The likelihood of a term whose column is not determined by the *observed*
(uncensored) lives can grow without bound (a cell with every life censored pushes its mean to
infinity). A term is kept when its column, restricted to the uncensored runs, is independent of
the intercept and the terms kept before it (effects-table order, so the highest-order
interactions go first), and terms are dropped from the top until the uncensored runs leave at
least one degree of freedom for sigma. With these conditions the maximum exists. When a main
effect (or the intercept) would have to go, nothing is estimated: the result says why.

With nothing censored the MLE of beta is the least-squares estimate; sigma_MLE^2 = RSS / n
while least squares uses s^2 = RSS / (n - p), so the MLE standard errors are the least-squares
ones times sqrt((n - p) / n).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .factorial import CURVATURE_TERM, RESULT_COLUMNS
from .kernel import design_layout, sequential_independent

__all__ = ["CensoredFit", "fit_censored", "CENSORED_METHOD", "NOT_IDENTIFIABLE"]

CENSORED_METHOD = "censored_mle"
NOT_IDENTIFIABLE = "not_identifiable"


@dataclass
class CensoredFit:
    """Result of :func:`fit_censored`. ``effects`` has :data:`RESULT_COLUMNS`, one row per model
    term (method ``censored_mle``, or ``not_identifiable`` with NaN numbers for a dropped term,
    for every term when ``identifiable`` is False); ``note`` says what was fitted or why not."""

    effects: pd.DataFrame
    identifiable: bool
    note: str
    n_runs: int
    n_censored: int
    dropped: List[str] = field(default_factory=list)
    sigma: float = float("nan")
    log_likelihood: float = float("nan")


def fit_censored(runs: pd.DataFrame, factors: Sequence[str], life: str, censored: str, *,
                 alpha: float = 0.05) -> CensoredFit:
    """Lognormal AFT maximum-likelihood effects of a factorial with right-censored lives.

    ``runs``: coded factor columns (-1/+1, 0 for centre runs); ``life``: the observed life (NaN
    when censored); ``censored``: the time a censored tool survived (NaN when observed). Rows
    with neither (no life at all), with a non-positive time or with off-design levels are left out.
    """
    factors = list(factors)
    missing = [c for c in [*factors, life, censored] if c not in runs.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; available columns: {list(runs.columns)}")
    levels = runs[factors].to_numpy(float)
    t_obs = pd.to_numeric(runs[life], errors="coerce").to_numpy(float)
    t_cen = pd.to_numeric(runs[censored], errors="coerce").to_numpy(float)
    observed = np.isfinite(t_obs) & (t_obs > 0)
    cens = ~observed & np.isfinite(t_cen) & (t_cen > 0)
    use = (observed | cens) & np.isin(levels, (-1.0, 0.0, 1.0)).all(axis=1)
    time = np.where(observed, t_obs, t_cen)[use]
    levels, observed = levels[use], observed[use]
    n, n_cens = int(use.sum()), int((~observed).sum())
    try:
        lay = design_layout(levels, factors)
    except ValueError as err:
        return _refused([], [], n, n_cens, f"no censored fit: design cannot be analysed: {err}")
    terms = list(lay.terms) + ([CURVATURE_TERM] if lay.has_center else [])
    aliases = list(lay.aliases) + ([""] if lay.has_center else [])
    X = lay.X                                     # intercept, terms, [centre indicator]
    keep = sequential_independent(X[observed])
    n_obs = int(observed.sum())
    order = [1 + j for j in np.argsort([-_order(t) for t in terms], kind="stable")]   # highest order first
    for j in order:                               # leave a df for sigma
        if keep.sum() < n_obs:
            break
        keep[j] = False
    main = [1 + j for j, t in enumerate(terms) if ":" not in t and t != CURVATURE_TERM]
    head = (f"{n_cens} of {n} lives censored (status censored/aborted/running); lognormal AFT, "
            "maximum likelihood")
    if not keep[0] or not keep[main].all() or keep.sum() >= n_obs:
        lost = [terms[j - 1] for j in main if not keep[j]]
        why = (f"main effect(s) {', '.join(lost)} not identifiable" if lost else
               f"{n_obs} uncensored lives leave no degree of freedom for sigma")
        return _refused(terms, aliases, n, n_cens,
                        f"{head}: not identifiable with these censored lives ({why} from the {n_obs} "
                        "uncensored ones); no estimates -- run more tools to failure")
    dropped = [terms[j - 1] for j in range(1, X.shape[1]) if not keep[j]]
    try:
        beta, cov, sigma, loglik = _lognormal_aft(X[:, keep], time, observed)
    except Exception as err:  # noqa: BLE001 - lifelines' convergence errors have several types
        return _refused(terms, aliases, n, n_cens, f"{head}: the fit did not converge ({type(err).__name__})")
    coef = np.full(X.shape[1], np.nan)
    se = np.full(X.shape[1], np.nan)
    coef[keep], se[keep] = beta, np.sqrt(np.diag(cov))
    coef, se = coef[1:], se[1:]
    scale = np.array([1.0 if t == CURVATURE_TERM else 2.0 for t in terms])
    sign = np.array([-1.0 if t == CURVATURE_TERM else 1.0 for t in terms])
    effect, coefficient = sign * scale * coef, np.where(scale == 1.0, sign * coef, coef)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = coef / se
        p = 2.0 * stats.norm.sf(np.abs(z))
    z = sign * z
    fitted = np.isfinite(coef)
    note = f"{head}, sigma = {sigma:.4g}"
    if dropped:
        note += f"; not identifiable from the uncensored lives, dropped: {', '.join(dropped)}"
    eff = pd.DataFrame({
        "term": terms, "effect": effect, "coefficient": coefficient, "std_error": scale * se,
        "t_value": z, "p_value": p, "significant": np.where(fitted, p < alpha, False),
        "method": np.where(fitted, CENSORED_METHOD, NOT_IDENTIFIABLE), "aliases": aliases,
    }, columns=RESULT_COLUMNS)
    return CensoredFit(eff, True, note, n, n_cens, dropped, sigma, loglik)


def _order(term: str) -> int:
    return 0 if term == CURVATURE_TERM else term.count(":") + 1

def _refused(terms: List[str], aliases: List[str], n: int, n_cens: int, note: str) -> CensoredFit:
    nan = np.full(len(terms), np.nan)
    eff = pd.DataFrame({"term": terms, "effect": nan, "coefficient": nan, "std_error": nan, "t_value": nan,
                        "p_value": nan, "significant": np.zeros(len(terms), bool),
                        "method": [NOT_IDENTIFIABLE] * len(terms), "aliases": aliases}, columns=RESULT_COLUMNS)
    return CensoredFit(eff, False, note, n, n_cens, list(terms))

def _lognormal_aft(X: np.ndarray, time: np.ndarray, observed: np.ndarray,
                   ) -> tuple[np.ndarray, np.ndarray, float, Optional[float]]:
    """(beta, covariance of beta, sigma, log-likelihood) of ln T = X beta + sigma eps; X[:, 0] = 1."""
    import warnings

    from lifelines import LogNormalAFTFitter

    names = [f"x{j}" for j in range(1, X.shape[1])]
    df = pd.DataFrame(X[:, 1:], columns=names).assign(_T=time, _E=observed.astype(int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = LogNormalAFTFitter().fit(df, "_T", "_E")
    idx = [("mu_", "Intercept")] + [("mu_", c) for c in names]
    beta = m.params_.loc[idx].to_numpy(float)
    cov = m.variance_matrix_.loc[idx, idx].to_numpy(float)
    sigma = float(np.exp(m.params_.loc[("sigma_", "Intercept")]))
    return beta, cov, sigma, float(m.log_likelihood_)
