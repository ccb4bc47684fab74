"""Extended Taylor tool-life equation and the minimum-cost cutting speed.

Model (Taylor 1907, extended; coolant and coating act multiplicatively on C):

    V * T^n * f^a * d^b = C * M_cool^coolant * M_coat^coating

with V cutting speed (m/min), T tool life (min), f feed (mm/rev), d depth of cut (mm) and 0/1
indicators for flood coolant and TiAlN coating. Taking logs gives a linear model

    ln T = b0 + b1 ln V + b2 ln f + b3 ln d + g1 coolant + g2 coating
    b1 = -1/n,  b2 = -a/n,  b3 = -b/n,  b0 = ln C / n,  g = ln M / n

so n = -1/b1, a = b2/b1, b = b3/b1, ln C = -b0/b1, M = exp(-g/b1). Standard errors of these
non-linear functions of the OLS coefficients come from the delta method.

Cost model (Gilbert's minimum-cost analysis, see e.g. Groover, *Fundamentals of Modern
Manufacturing*, §23.3; all times in minutes):

    t_m  = pi * D * L / (1000 * V * f)                         machining time per part
    T    = (C' / (V f^a d^b))^(1/n),  C' = C * multipliers      tool life at these settings
    cost = C_m (t_h + t_m) + (t_m / T) (C_m t_c + C_t)          cost per part

C_m machine + labour rate per minute, t_h handling time per part, t_c tool-change time, C_t
cost per cutting edge. Setting d cost / dV = 0 gives the cost-optimal tool life and speed

    T_opt = (1/n - 1) (t_c + C_t / C_m),   V_opt = C' / (T_opt^n f^a d^b).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Mapping, Optional, Union

import numpy as np
import pandas as pd
from scipy import stats

from .kernel import numeric_gradient

__all__ = [
    "fit_taylor",
    "taylor_life",
    "cost_per_part",
    "cost_optimal_conditions",
    "cost_per_part_at_life",
    "cost_optimal_speed",
    "MachiningCost",
    "TAYLOR_KEYS",
]

#: keys of :func:`fit_taylor` results (and columns of ``fit_taylor_groups``)
TAYLOR_KEYS = [
    "n", "n_se", "a", "a_se", "b", "b_se", "C", "C_se",
    "coolant_multiplier", "coolant_multiplier_se", "coating_multiplier", "coating_multiplier_se",
    "r_squared", "sigma", "df_resid", "n_runs",
]
_P = 6  # intercept, ln V, ln f, ln d, coolant, coating


# --------------------------------------------------------------------------- fitting
def _indicator(values: pd.Series, on_level: str, name: str) -> np.ndarray:
    """0/1 indicator: booleans as is, numbers > 0 (covers 0/1 and coded -1/+1), strings equal to
    ``on_level`` (case-insensitive)."""
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float)
    if pd.api.types.is_numeric_dtype(values):
        x = values.to_numpy(dtype=float)
        if not np.isfinite(x).all():
            raise ValueError(f"column {name!r} has missing values")
        return (x > 0).astype(float)
    s = values.astype(str).str.strip().str.lower()
    on = str(on_level).strip().lower()
    hit = (s == on).to_numpy()
    if not hit.any() and s.nunique() > 1:
        raise ValueError(
            f"column {name!r} has levels {sorted(values.astype(str).unique())[:5]} but none is "
            f"{on_level!r}; pass the level that means 'on'"
        )
    return hit.astype(float)


def taylor_matrix(
    runs: pd.DataFrame, speed: str, feed: str, depth: str, coolant: Optional[str], coating: Optional[str],
    life: str, coolant_level: str, coating_level: str,
):
    if not isinstance(runs, pd.DataFrame):
        raise TypeError(f"runs must be a pandas DataFrame, got {type(runs).__name__}")
    cols = [c for c in (speed, feed, depth, coolant, coating, life) if c is not None]
    missing = [c for c in cols if c not in runs.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; available columns: {list(runs.columns)}")
    num = {}
    for c in (speed, feed, depth, life):
        try:
            v = runs[c].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"column {c!r} must be numeric (natural units)") from None
        bad = ~(np.isfinite(v) & (v > 0))
        if bad.any():
            raise ValueError(f"column {c!r} must be positive and finite for the log-log fit; {int(bad.sum())} bad value(s)")
        num[c] = v
    n = len(runs)
    X = np.empty((n, _P))
    X[:, 0] = 1.0
    X[:, 1] = np.log(num[speed])
    X[:, 2] = np.log(num[feed])
    X[:, 3] = np.log(num[depth])
    X[:, 4] = _indicator(runs[coolant], coolant_level, coolant) if coolant is not None else 0.0
    X[:, 5] = _indicator(runs[coating], coating_level, coating) if coating is not None else 0.0
    return X, np.log(num[life])


def taylor_core(X: np.ndarray, y: np.ndarray, starts: np.ndarray) -> Dict[str, np.ndarray]:
    """Batched OLS + delta method; rows of group g are ``starts[g]:starts[g+1]`` (contiguous).

    Regressors constant within a group are dropped from that group's fit; if ln V, ln f or
    ln d is constant (or the fit is singular) every Taylor quantity of the group is NaN, a
    constant indicator only makes its own multiplier NaN (C then refers to the level present).
    """
    G = len(starts)
    counts = np.diff(np.append(starts, len(y)))
    gid = np.repeat(np.arange(G), counts)
    mx = np.maximum.reduceat(X, starts, axis=0)
    mn = np.minimum.reduceat(X, starts, axis=0)
    active = mx > mn
    active[:, 0] = True
    Xm = X * active[gid]
    XtX = np.add.reduceat(Xm[:, :, None] * Xm[:, None, :], starts, axis=0)
    XtX[:, np.arange(_P), np.arange(_P)] += ~active   # 1 on the diagonal of dropped columns
    Xty = np.add.reduceat(Xm * y[:, None], starts, axis=0)
    p_eff = active.sum(axis=1)
    rank = np.linalg.matrix_rank(XtX)
    ok = (rank == _P) & (counts >= p_eff) & active[:, 1:4].all(axis=1)
    XtX[~ok] = np.eye(_P)
    inv = np.linalg.inv(XtX)
    beta = np.einsum("gij,gj->gi", inv, Xty)
    resid = y - (Xm * beta[gid]).sum(axis=1)
    sse = np.add.reduceat(resid ** 2, starts)
    ybar = np.add.reduceat(y, starts) / counts
    sst = np.add.reduceat((y - ybar[gid]) ** 2, starts)
    df = counts - p_eff
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = np.where(df > 0, sse / np.where(df > 0, df, 1), np.nan)
        cov = mse[:, None, None] * inv
        b0, b1, b2, b3, g1, g2 = (beta[:, i] for i in range(_P))

        def se(grad: np.ndarray) -> np.ndarray:
            return np.sqrt(np.einsum("gi,gij,gj->g", grad, cov, grad))

        z = np.zeros(G)
        n = -1.0 / b1
        n_se = se(np.column_stack([z, 1.0 / b1 ** 2, z, z, z, z]))
        a = b2 / b1
        a_se = se(np.column_stack([z, -b2 / b1 ** 2, 1.0 / b1, z, z, z]))
        b = b3 / b1
        b_se = se(np.column_stack([z, -b3 / b1 ** 2, z, 1.0 / b1, z, z]))
        lnC = -b0 / b1
        C = np.exp(lnC)
        C_se = C * se(np.column_stack([-1.0 / b1, b0 / b1 ** 2, z, z, z, z]))
        m1 = np.exp(-g1 / b1)
        m1_se = m1 * se(np.column_stack([z, g1 / b1 ** 2, z, z, -1.0 / b1, z]))
        m2 = np.exp(-g2 / b1)
        m2_se = m2 * se(np.column_stack([z, g2 / b1 ** 2, z, z, z, -1.0 / b1]))
        r2 = 1.0 - sse / sst
    nan = np.full(G, np.nan)
    out = {
        "n": n, "n_se": n_se, "a": a, "a_se": a_se, "b": b, "b_se": b_se, "C": C, "C_se": C_se,
        "coolant_multiplier": np.where(active[:, 4], m1, nan),
        "coolant_multiplier_se": np.where(active[:, 4], m1_se, nan),
        "coating_multiplier": np.where(active[:, 5], m2, nan),
        "coating_multiplier_se": np.where(active[:, 5], m2_se, nan),
        "r_squared": r2, "sigma": np.sqrt(mse),
    }
    out = {key: np.where(ok, v, np.nan).astype(float) for key, v in out.items()}
    out["df_resid"] = df.astype(np.int64)
    out["n_runs"] = counts.astype(np.int64)
    return out


def fit_taylor(
    runs: pd.DataFrame,
    *,
    speed: str = "cutting_speed",
    feed: str = "feed",
    depth: str = "depth_of_cut",
    coolant: Optional[str] = "coolant",
    coating: Optional[str] = "coating",
    life: str = "tool_life_min",
    coolant_level: str = "flood",
    coating_level: str = "TiAlN",
) -> dict:
    """Fit the extended Taylor equation to runs in natural units by OLS on ln T.

    ``coolant``/``coating`` columns may be strings (``coolant_level``/``coating_level`` mean
    "on"), booleans, 0/1 or coded -1/+1; pass ``None`` to leave a factor out.

    Returns a dict with :data:`TAYLOR_KEYS`: n, a, b, C and the coolant/coating multipliers
    on C, each with a delta-method standard error (``*_se``), plus r_squared and sigma (residual
    standard deviation of ln T), df_resid and n_runs. Standard errors are NaN with no residual df.
    Raises ``ValueError`` if speed, feed or depth does not vary (the exponent is not estimable).
    """
    X, y = taylor_matrix(runs, speed, feed, depth, coolant, coating, life, coolant_level, coating_level)
    if len(y) == 0:
        raise ValueError("no runs to fit")
    for j, c in ((1, speed), (2, feed), (3, depth)):
        if np.ptp(X[:, j]) == 0:
            raise ValueError(f"column {c!r} does not vary, so its Taylor exponent cannot be estimated")
    if len(y) < _P:
        raise ValueError(f"too few runs ({len(y)}) for the Taylor fit")
    res = taylor_core(X, y, np.array([0]))
    if np.isnan(res["n"][0]):
        raise ValueError("the Taylor fit is singular (speed, feed, depth and indicators are confounded)")
    return {key: (int(v[0]) if key in ("df_resid", "n_runs") else float(v[0])) for key, v in res.items()}


# --------------------------------------------------------------------------- cost model
@dataclass(frozen=True)
class MachiningCost:
    """Cost parameters of one operation (money per minute / per edge, times in minutes, mm)."""

    machine_rate: float          # C_m: machine + labour cost per minute
    tool_cost: float             # C_t: cost per cutting edge
    tool_change_time: float      # t_c: minutes per tool change
    handling_time: float         # t_h: minutes of loading/unloading per part
    diameter: float              # D: workpiece diameter, mm
    length: float                # L: cut length, mm


CostLike = Union[MachiningCost, Mapping[str, float]]


def as_machining_cost(cost: CostLike) -> MachiningCost:
    if isinstance(cost, MachiningCost):
        return cost
    fields = MachiningCost.__dataclass_fields__
    missing = [f for f in fields if f not in cost]
    if missing:
        raise ValueError(f"cost parameters missing {missing}")
    return MachiningCost(**{f: float(cost[f]) for f in fields})


def _c_eff(taylor: Mapping[str, float], coolant: bool, coating: bool) -> float:
    c = float(taylor["C"])
    if coolant:
        c *= float(taylor["coolant_multiplier"])
    if coating:
        c *= float(taylor["coating_multiplier"])
    return c


def taylor_life(V, f, d, taylor: Mapping[str, float], *, coolant: bool = False, coating: bool = False):
    """Tool life T = (C' / (V f^a d^b))^(1/n) in minutes, C' = C times the chosen multipliers."""
    c = _c_eff(taylor, coolant, coating)
    n, a, b = float(taylor["n"]), float(taylor["a"]), float(taylor["b"])
    return (c / (np.asarray(V, dtype=float) * f ** a * d ** b)) ** (1.0 / n)


def cost_per_part_at_life(V, f, T, cost: CostLike) -> np.ndarray:
    """Cost per part C_m (t_h + t_m) + (t_m / T)(C_m t_c + C_t), t_m = pi D L / (1000 V f), for a
    given tool life T (vectorised): the Taylor law's T in :func:`cost_per_part`, a run's observed
    life when costing the runs of an experiment. NaN where V, f or T is not positive."""
    c = as_machining_cost(cost)
    V, f, T = (np.asarray(x, dtype=float) for x in (V, f, T))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_m = np.pi * c.diameter * c.length / (1000.0 * V * f)
        out = c.machine_rate * (c.handling_time + t_m) + (t_m / T) * (c.machine_rate * c.tool_change_time + c.tool_cost)
    return np.where((V > 0) & (f > 0) & (T > 0), out, np.nan)


def cost_per_part(
    V: float,
    f: float,
    d: float,
    taylor: Mapping[str, float],
    *,
    machine_rate: float,
    tool_cost: float,
    tool_change_time: float,
    handling_time: float,
    diameter: float,
    length: float,
    coolant: bool = False,
    coating: bool = False,
) -> float:
    """Cost per part  C_m (t_h + t_m) + (t_m / T)(C_m t_c + C_t),  t_m = pi D L / (1000 V f).

    The second term is the share of a tool change (downtime + edge) each part consumes.
    """
    V = float(V)
    if V <= 0 or f <= 0:
        raise ValueError("cutting speed and feed must be positive")
    T = float(taylor_life(V, f, d, taylor, coolant=coolant, coating=coating))
    cost = MachiningCost(machine_rate, tool_cost, tool_change_time, handling_time, diameter, length)
    return float(cost_per_part_at_life(V, f, T, cost))


def cost_optimal_conditions(
    taylor: Mapping[str, float],
    f: float,
    d: float,
    cost: CostLike,
    *,
    current_speed: Optional[float] = None,
    coolant: bool = False,
    coating: bool = False,
) -> dict:
    """Minimum-cost tool life and speed at feed ``f`` and depth ``d``.

    T_opt = (1/n - 1)(t_c + C_t/C_m) and V_opt = C'/(T_opt^n f^a d^b). Returns T_opt, V_opt,
    cost_per_part_current (at ``current_speed``; NaN if not given), cost_per_part_optimal and
    savings (current - optimal per part).
    """
    c = as_machining_cost(cost)
    n, a, b = float(taylor["n"]), float(taylor["a"]), float(taylor["b"])
    if not 0 < n < 1:
        raise ValueError(f"Taylor exponent n must be in (0, 1) for a finite cost optimum, got {n}")
    T_opt = (1.0 / n - 1.0) * (c.tool_change_time + c.tool_cost / c.machine_rate)
    V_opt = _c_eff(taylor, coolant, coating) / (T_opt ** n * f ** a * d ** b)
    kw = dict(asdict(c), coolant=coolant, coating=coating)
    optimal = cost_per_part(V_opt, f, d, taylor, **kw)
    current = cost_per_part(current_speed, f, d, taylor, **kw) if current_speed is not None else float("nan")
    return {
        "T_opt": float(T_opt),
        "V_opt": float(V_opt),
        "cost_per_part_current": current,
        "cost_per_part_optimal": optimal,
        "savings": current - optimal,
    }


def cost_optimal_speed(
    runs: pd.DataFrame,
    cost: CostLike,
    baseline: Mapping[str, object],
    *,
    alpha: float = 0.05,
    life: str = "tool_life_min",
    completed: Optional[np.ndarray] = None,
    on_levels: Optional[Mapping[str, str]] = None,
) -> Optional[dict]:
    """Cost-optimal cutting speed from the extended Taylor law fitted to runs' observed tool life,
    with a delta-method 1-alpha confidence interval.

    ln T = b0 + b1 ln V (+ b2 ln f + b3 ln d + indicators of coolant / coating at their 'on'
    level, ``on_levels``, default flood / TiAlN; each only when the runs vary it) by least squares
    on the ``completed`` runs (default all) with a positive life; n = -1/b1,
    T_opt = (1/n - 1)(t_c + C_t/C_m), and at the ``baseline`` feed/depth/coolant/coating V_opt
    solves ln T_opt = c0 + b1 ln V_opt: the closed form of :func:`cost_optimal_conditions`. The
    interval is exp of ln V_opt +/- t se (se from the gradient of ln V_opt in the coefficients).
    Returns ``speed, ci_low, ci_high, taylor_n, n_runs``; None when the speed does not vary, the
    fit has no residual df or n is not in (0, 1)."""
    on_levels = {"coolant": "flood", "coating": "TiAlN", **dict(on_levels or {})}
    life_v = pd.to_numeric(runs[life], errors="coerce").to_numpy(float)
    done = np.ones(len(runs), dtype=bool) if completed is None else np.asarray(completed, dtype=bool)
    ok = done & np.isfinite(life_v) & (life_v > 0)
    if "cutting_speed" not in runs.columns:
        return None
    r = runs[ok]
    y = np.log(life_v[ok])
    cols, base = [np.ones(len(r))], [1.0]
    V = pd.to_numeric(r["cutting_speed"], errors="coerce").to_numpy(float)
    if not (np.isfinite(V).all() and (V > 0).all()) or np.ptp(np.log(V)) == 0:
        return None
    cols.append(np.log(V))
    base.append(np.nan)                                   # the unknown: ln V_opt
    for f in ("feed", "depth_of_cut"):
        if f in r.columns:
            x = pd.to_numeric(r[f], errors="coerce").to_numpy(float)
            if np.isfinite(x).all() and (x > 0).all() and np.ptp(np.log(x)) > 0:
                cols.append(np.log(x))
                base.append(np.log(float(baseline[f])))
    for f in ("coolant", "coating"):
        if f in r.columns:
            on = on_levels[f]
            x = (r[f].astype(object).to_numpy() == on).astype(float)
            if np.ptp(x) > 0:
                cols.append(x)
                base.append(1.0 if str(baseline.get(f)) == on else 0.0)
    X = np.column_stack(cols)
    df = len(y) - X.shape[1]
    if df < 1 or np.linalg.matrix_rank(X) < X.shape[1]:
        return None
    XtX_inv = np.linalg.inv(X.T @ X)
    beta = XtX_inv @ X.T @ y
    resid = y - X @ beta
    cov = float(resid @ resid) / df * XtX_inv
    c = as_machining_cost(cost)
    K = c.tool_change_time + c.tool_cost / c.machine_rate
    z = np.array(base)

    def ln_v(b):
        n = -1.0 / b[1]
        if not 0 < n < 1:
            return np.nan
        c0 = b[0] + sum(b[j] * z[j] for j in range(2, len(b)))
        return (np.log((1.0 / n - 1.0) * K) - c0) / b[1]

    lv = ln_v(beta)
    if not np.isfinite(lv):
        return None
    g = numeric_gradient(ln_v, beta)
    se = float(np.sqrt(g @ cov @ g))
    t = float(stats.t.ppf(1 - alpha / 2, df))
    return {"speed": float(np.exp(lv)), "ci_low": float(np.exp(lv - t * se)), "ci_high": float(np.exp(lv + t * se)),
            "taylor_n": float(-1.0 / beta[1]), "n_runs": int(len(y))}
