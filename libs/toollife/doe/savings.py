"""What a recommendation is worth: cost per part now and at the cost optimum, a year's saving,
tool changes, what the experiments cost and the payback, each with the interval the data supports.

The model is the extended Taylor law fitted to the observed lives by least squares on ln T (the
regression of :func:`toollife.doe.taylor.cost_optimal_speed`):

    ln T = b0 + b1 ln V + b2 ln f + b3 ln d + g1 coolant + g2 coating        (n = -1/b1)

Today's practice (V0, f0, d0, coolant, coating) has the life T0 = exp(b . x0); the optimum keeps
feed, depth, coolant and coating and moves the speed to V* where T(V*) = T_opt = (1/n - 1) K,
K = t_c + C_t/C_m (Gilbert). Every figure is a function of the coefficients b, so its interval comes
from the delta method with b's covariance s^2 (X'X)^-1 and Student's t on the residual degrees of
freedom: the uncertainty of the fitted Taylor parameters, not a fixed +/- %. Annual figures scale by
the parts per year, which are taken as known (conf). Pure numpy/scipy: no Spark here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .kernel import numeric_gradient
from .taylor import CostLike, as_machining_cost

__all__ = ["LogLifeFit", "fit_log_life", "annual_savings", "experiment_cost", "payback_days", "SAVINGS_KEYS"]

#: keys of :func:`annual_savings` (each ``*_low``/``*_high`` is the 1 - alpha interval)
SAVINGS_KEYS = [
    "cost_per_part_now", "cost_per_part_now_low", "cost_per_part_now_high",
    "cost_per_part_optimal", "cost_per_part_optimal_low", "cost_per_part_optimal_high",
    "saving_per_part", "saving_per_part_low", "saving_per_part_high",
    "annual_saving", "annual_saving_low", "annual_saving_high",
    "optimal_speed", "tool_life_now_min", "tool_life_optimal_min",
    "tool_changes_per_year_now", "tool_changes_per_year_optimal", "taylor_n", "df_resid",
]
_ON_LEVELS = {"coolant": "flood", "coating": "TiAlN"}


@dataclass(frozen=True)
class LogLifeFit:
    """Least squares of ln T on ln V (+ ln f, ln d, coolant/coating indicators where varied)."""

    beta: np.ndarray          # [b0, b1 (ln V), then the other regressors in ``terms`` order]
    cov: np.ndarray           # s^2 (X'X)^-1
    df: int                   # residual degrees of freedom
    terms: tuple[str, ...]    # regressor names after the intercept and ln V

    def practice_row(self, practice: Mapping[str, object], on_levels: Mapping[str, str]) -> np.ndarray:
        """The regressors of ``practice`` except ln V (placed at index 1 as NaN)."""
        row = [1.0, np.nan]
        for t in self.terms:
            if t in ("feed", "depth_of_cut"):
                row.append(np.log(float(practice[t])))
            else:
                row.append(1.0 if str(practice.get(t)) == on_levels[t] else 0.0)
        return np.array(row)


def fit_log_life(runs: pd.DataFrame, *, life: str = "tool_life", completed: Optional[np.ndarray] = None,
                 on_levels: Optional[Mapping[str, str]] = None) -> Optional[LogLifeFit]:
    """The Taylor regression on the ``completed`` runs with a positive life; None when the speed
    does not vary, a level is not positive, the fit is singular or leaves no residual df."""
    on_levels = {**_ON_LEVELS, **dict(on_levels or {})}
    if "cutting_speed" not in runs.columns or life not in runs.columns:
        return None
    life_v = pd.to_numeric(runs[life], errors="coerce").to_numpy(float)
    done = np.ones(len(runs), dtype=bool) if completed is None else np.asarray(completed, dtype=bool)
    ok = done & np.isfinite(life_v) & (life_v > 0)
    r = runs[ok]
    V = pd.to_numeric(r["cutting_speed"], errors="coerce").to_numpy(float)
    if not len(r) or not (np.isfinite(V).all() and (V > 0).all()) or np.ptp(np.log(V)) == 0:
        return None
    cols, terms = [np.ones(len(r)), np.log(V)], []
    for f in ("feed", "depth_of_cut"):
        if f in r.columns:
            x = pd.to_numeric(r[f], errors="coerce").to_numpy(float)
            if np.isfinite(x).all() and (x > 0).all() and np.ptp(np.log(x)) > 0:
                cols.append(np.log(x))
                terms.append(f)
    for f in ("coolant", "coating"):
        if f in r.columns:
            x = (r[f].astype(object).to_numpy() == on_levels[f]).astype(float)
            if np.ptp(x) > 0:
                cols.append(x)
                terms.append(f)
    X, y = np.column_stack(cols), np.log(life_v[ok])
    df = len(y) - X.shape[1]
    if df < 1 or np.linalg.matrix_rank(X) < X.shape[1]:
        return None
    XtX_inv = np.linalg.inv(X.T @ X)
    beta = XtX_inv @ X.T @ y
    resid = y - X @ beta
    return LogLifeFit(beta=beta, cov=float(resid @ resid) / df * XtX_inv, df=int(df), terms=tuple(terms))


def _figures(b: np.ndarray, z: np.ndarray, lnV0: float, f0: float, cost, parts_per_year: float) -> np.ndarray:
    """[cost now, cost optimal, saving per part, annual saving, V*, T0, T*, changes now, changes after]."""
    n = -1.0 / b[1]
    if not 0 < n < 1:
        return np.full(9, np.nan)
    c0 = b[0] + float(b[2:] @ z[2:])
    T0 = np.exp(c0 + b[1] * lnV0)
    T_opt = (1.0 / n - 1.0) * (cost.tool_change_time + cost.tool_cost / cost.machine_rate)
    V_opt = np.exp((np.log(T_opt) - c0) / b[1])
    V0 = np.exp(lnV0)

    def per_part(V, T):
        t_m = np.pi * cost.diameter * cost.length / (1000.0 * V * f0)
        return (cost.machine_rate * (cost.handling_time + t_m)
                + t_m / T * (cost.machine_rate * cost.tool_change_time + cost.tool_cost)), t_m

    now, tm0 = per_part(V0, T0)
    opt, tm1 = per_part(V_opt, T_opt)
    return np.array([now, opt, now - opt, (now - opt) * parts_per_year, V_opt, T0, T_opt,
                     parts_per_year * tm0 / T0, parts_per_year * tm1 / T_opt])


def annual_savings(runs: pd.DataFrame, cost: CostLike, practice: Mapping[str, object], parts_per_year: float, *,
                   alpha: float = 0.05, life: str = "tool_life", completed: Optional[np.ndarray] = None,
                   on_levels: Optional[Mapping[str, str]] = None) -> tuple[Optional[dict], Optional[str]]:
    """(figures, None) with :data:`SAVINGS_KEYS`, or (None, why not) for one machine x tool.

    ``practice``: today's cutting_speed, feed, depth_of_cut, coolant, coating (a factor the runs
    do not vary is taken as the experiment ran it). Intervals: estimate +/- t(1-alpha/2, df) * se,
    se by the delta method over the fitted coefficients."""
    on_levels = {**_ON_LEVELS, **dict(on_levels or {})}
    fit = fit_log_life(runs, life=life, completed=completed, on_levels=on_levels)
    if fit is None:
        return None, "no Taylor fit: the cutting speed does not vary among the completed runs, or too few runs"
    n_hat = -1.0 / fit.beta[1]
    if not 0 < n_hat < 1:
        return None, f"the fitted Taylor exponent n = {n_hat:.3g} is outside (0, 1): no finite cost optimum"
    c = as_machining_cost(cost)
    z = fit.practice_row(practice, on_levels)
    lnV0, f0 = np.log(float(practice["cutting_speed"])), float(practice["feed"])

    def fn(b):
        return _figures(b, z, lnV0, f0, c, float(parts_per_year))

    est = fn(fit.beta)
    jac = numeric_gradient(fn, fit.beta)
    se = np.sqrt(np.einsum("ki,ij,kj->k", jac, fit.cov, jac))
    t = float(stats.t.ppf(1 - alpha / 2, fit.df))
    names = ["cost_per_part_now", "cost_per_part_optimal", "saving_per_part", "annual_saving"]
    out: dict = {}
    for i, name in enumerate(names):
        out[name], out[f"{name}_low"], out[f"{name}_high"] = (float(est[i]), float(est[i] - t * se[i]),
                                                               float(est[i] + t * se[i]))
    for i, name in enumerate(["optimal_speed", "tool_life_now_min", "tool_life_optimal_min",
                              "tool_changes_per_year_now", "tool_changes_per_year_optimal"], start=4):
        out[name] = float(est[i])
    out["taylor_n"], out["df_resid"] = float(n_hat), fit.df
    return out, None


def experiment_cost(cutting_time_min: Sequence[float], cost: CostLike) -> float:
    """What the runs cost: their machine time (cutting + one tool change each) at the machine
    rate, plus one cutting edge per run. Runs without a time (never started) cost nothing."""
    c = as_machining_cost(cost)
    t = np.asarray(cutting_time_min, dtype=float)
    t = t[np.isfinite(t)]
    return float(c.machine_rate * (t.sum() + c.tool_change_time * len(t)) + c.tool_cost * len(t))


def payback_days(experiment_cost_: float, annual_saving: float) -> float:
    """Days of the saving that pay for the experiments; NaN when nothing is saved."""
    if not np.isfinite(annual_saving) or annual_saving <= 0:
        return float("nan")
    return float(experiment_cost_ / annual_saving * 365.0)
