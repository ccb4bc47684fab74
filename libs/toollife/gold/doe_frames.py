"""gold.doe_effects and gold.doe_optimal_settings rows of one batch of combinations (pure pandas).

:func:`effects_frame` and :func:`optimal_frame` take the runs of many machine x tool combinations
and return their rows with the vectorised ``toollife.doe.*_groups`` functions, equal to the
per-combination functions (:func:`toollife.doe.analyze_factorial` etc.) by construction. They run
without Spark (tests, the dashboard fixture); :mod:`toollife.gold.doe_effects` wires them into
Spark. Analysable combinations get ``status='ok'``; those screened out
(:mod:`toollife.gold.doe_screen`) no effect rows and one ``status='skipped'`` row with the reason
in gold.doe_optimal_settings -- except one screened out only for its design: its effect rows come
from the least-squares analysis of what remains, its optimal-settings row has
``status='incomplete'`` with what was lost and which terms are no longer estimable or now
correlated in ``skip_reason`` (no best settings or Taylor fit: re-run the lost points first).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from toollife.gold.doe_censored import LEAST_SQUARES, censored_frame
from toollife.gold.doe_screen import (FACTOR_MASK, GID, GROUP_COLS, INCOMPLETE, LIFE, DoeParams, factor_sets,
                                      incomplete_analyses, incomplete_reason, runs_of, screen)

EFFECT_VALUE_COLUMNS = ["term", "effect", "coefficient", "std_error", "t_value", "p_value", "significant",
                        "method", "aliases", "n_runs"]
TAYLOR_COLUMNS = ["taylor_n", "taylor_n_se", "taylor_a", "taylor_a_se", "taylor_b", "taylor_b_se",
                  "taylor_C", "taylor_C_se", "taylor_coolant_multiplier", "taylor_coolant_multiplier_se",
                  "taylor_coating_multiplier", "taylor_coating_multiplier_se", "taylor_r_squared", "taylor_sigma"]
_TAYLOR_KEYS = ["n", "n_se", "a", "a_se", "b", "b_se", "C", "C_se", "coolant_multiplier",
                "coolant_multiplier_se", "coating_multiplier", "coating_multiplier_se", "r_squared", "sigma"]
COST_COLUMNS = ["cost_optimal_tool_life_min", "cost_optimal_cutting_speed", "cost_per_part_baseline",
                "cost_per_part_optimal", "savings_per_part"]
INTERVAL_COLUMNS = ["predicted_tool_life_min", "ci_low", "ci_high", "pi_low", "pi_high"]
TAYLOR_FACTORS = ("cutting_speed", "feed", "depth_of_cut")   # the Taylor/cost analyses need all three varied


def optimal_columns(params: DoeParams) -> list[tuple[str, str]]:
    """(name, kind) of the optimal-settings columns the UDF returns (kind: s, d, l)."""
    cols = [(c, "s") for c in GROUP_COLS] + [
        ("status", "s"), ("skip_reason", "s"), ("n_runs", "l"), ("n_runs_not_completed", "l"),
        ("method", "s"), ("terms", "s"), ("df_resid", "l"),
    ]
    cols += [(f"best_coded_{f}", "d") for f in params.factors]
    cols += [(f"best_{f}", "s" if params.is_categorical(f) else "d") for f in params.factors]
    cols += [(c, "d") for c in INTERVAL_COLUMNS + TAYLOR_COLUMNS + COST_COLUMNS]
    cols += [("taylor_note", "s")]       # why there is no Taylor fit / cost optimum (null when there is)
    return cols


# --------------------------------------------------------------------------- effects
def effects_frame(pdf: pd.DataFrame, params: DoeParams, groups=None) -> pd.DataFrame:
    """Effect rows of every analysable combination in ``pdf`` (one batch of combinations).

    Columns: group columns (or the key columns of ``groups``, see :func:`screen`) + ``fit`` +
    :data:`EFFECT_VALUE_COLUMNS` + ``note``; the ``fit='least_squares'`` rows equal
    :func:`toollife.doe.analyze_factorial` of each combination's completed runs, combinations with
    censored runs also get ``fit='censored_mle'`` rows (:mod:`toollife.gold.doe_censored`).
    """
    from toollife.doe import analyze_factorial_groups

    runs, keys, skipped = screen(pdf, params, groups)
    key_cols = [c for c in keys.columns if c not in ("n_runs", "n_runs_not_completed", FACTOR_MASK)]
    G = len(keys)
    parts = []
    lost = []
    for i, analysis in incomplete_analyses(pdf, params, skipped, groups):
        rows = skipped.iloc[[i] * len(analysis.effects)][key_cols].reset_index(drop=True)
        eff = analysis.effects.reset_index(drop=True)
        lost.append(rows.assign(**{c: eff[c].to_numpy() for c in EFFECT_VALUE_COLUMNS if c != "n_runs"},
                                n_runs=analysis.n_runs))
    for factors, gids in factor_sets(keys, params):
        sub = runs_of(runs, gids, G)
        res = analyze_factorial_groups(sub, [GID], [f"coded_{f}" for f in factors], LIFE,
                                       alpha=params.alpha, log_response=params.log_response)
        parts.append(res)
    columns = [*key_cols, "fit", *EFFECT_VALUE_COLUMNS, "note"]
    censored = censored_frame(pdf, params, groups)
    extra = [x.assign(fit=LEAST_SQUARES, note=None) for x in lost] + ([censored] if len(censored) else [])
    if not parts:
        if extra:
            return pd.concat(extra, ignore_index=True)[columns]
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    res = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    g = res[GID].to_numpy(np.int64)
    out = keys[key_cols].take(g).reset_index(drop=True)
    prefix = "coded_"
    for c in ("term", "aliases"):
        out[c] = strip_prefix(res[c], prefix)
    for c in ("effect", "coefficient", "std_error", "t_value", "p_value", "significant", "method"):
        out[c] = res[c].to_numpy()
    out["n_runs"] = keys["n_runs"].to_numpy(np.int64)[g]
    out["fit"], out["note"] = LEAST_SQUARES, None
    return pd.concat([out[columns], *[x[columns] for x in extra]], ignore_index=True) if extra else out[columns]

def strip_prefix(col: pd.Series, prefix: str) -> np.ndarray:
    """'coded_feed:coded_coolant' -> 'feed:coolant' (on the few distinct labels only)."""
    import re

    pattern = re.compile(r"(^|[:,\s-])" + re.escape(prefix))
    codes, uniques = pd.factorize(col, sort=False)
    clean = np.array([pattern.sub(r"\1", str(u)) for u in uniques], dtype=object)
    return clean[codes]


# --------------------------------------------------------------------------- optimal settings
def optimal_frame(pdf: pd.DataFrame, params: DoeParams, groups=None) -> pd.DataFrame:
    """One row per combination in ``pdf``: best settings, intervals, Taylor fit, cost optimum.

    Analysable combinations get ``status='ok'``; screened-out ones ``status='skipped'`` with
    ``skip_reason`` and nulls elsewhere, or ``status='incomplete'`` (see the module docstring).
    """
    from toollife.doe import fit_taylor_groups, optimal_settings_groups

    runs, keys, skipped = screen(pdf, params, groups)
    key_cols = [c for c in keys.columns if c not in ("n_runs", "n_runs_not_completed", FACTOR_MASK)]
    G = len(keys)
    out = keys[key_cols + ["n_runs", "n_runs_not_completed"]].copy()
    out["status"] = "ok"
    out["skip_reason"] = None
    cols: dict[str, np.ndarray] = {
        "method": np.full(G, None, dtype=object), "terms": np.full(G, None, dtype=object),
        "df_resid": np.zeros(G, dtype=np.int64),
    }
    for f in params.factors:
        cols[f"best_coded_{f}"] = np.full(G, np.nan)
    for c in INTERVAL_COLUMNS:
        cols[c] = np.full(G, np.nan)
    for factors, gids in factor_sets(keys, params):
        sub = runs_of(runs, gids, G)
        res = optimal_settings_groups(sub, [GID], [f"coded_{f}" for f in factors], LIFE,
                                      maximize=params.maximize, alpha=params.alpha,
                                      log_response=params.log_response)
        g = res[GID].to_numpy(np.int64)
        cols["method"][g] = res["method"].to_numpy()
        cols["terms"][g] = strip_prefix(res["terms"].fillna(""), "coded_")
        cols["df_resid"][g] = res["df_resid"].to_numpy(np.int64)
        for f in factors:
            cols[f"best_coded_{f}"][g] = res[f"coded_coded_{f}"].to_numpy(float)
        for c, src in zip(INTERVAL_COLUMNS, ("predicted", "ci_low", "ci_high", "pi_low", "pi_high")):
            cols[c][g] = res[src].to_numpy(float)
    for key, value in cols.items():
        out[key] = value
    for f in params.factors:
        out[f"best_{f}"] = _natural_best(runs, f, cols[f"best_coded_{f}"], params, G)
    gated, note = taylor_gate(keys[FACTOR_MASK].to_numpy(np.int64), params)
    taylor = _taylor(runs, G, params, fit_taylor_groups, gated)
    for c, k in zip(TAYLOR_COLUMNS, _TAYLOR_KEYS):
        out[c] = taylor[k]
    for c, v in cost_optimum(taylor, params).items():
        out[c] = v
    usable = np.isfinite(out["cost_optimal_cutting_speed"].to_numpy(float))
    out["taylor_note"] = np.where(gated, np.where(usable, None, "no usable Taylor fit (a non-positive speed, feed, "
                                                  "depth or life, or Taylor n outside (0, 1)): no cost optimum"),
                                  note).astype(object)
    if len(skipped):
        sk = skipped[key_cols + ["n_runs", "n_runs_not_completed", "skip_reason"]].copy()
        sk["status"] = "skipped"
        for i, analysis in incomplete_analyses(pdf, params, skipped, groups):
            sk.loc[i, ["status", "skip_reason", "method", "df_resid"]] = [
                INCOMPLETE, incomplete_reason(analysis), analysis.method, analysis.df_resid]
        out = pd.concat([out, sk], ignore_index=True)
    names = [n for n, _ in optimal_columns(params)]
    return out.reindex(columns=key_cols + names[len(GROUP_COLS):])

def _natural_best(runs: pd.DataFrame, factor: str, coded: np.ndarray, params: DoeParams, G: int) -> np.ndarray:
    """Natural level of each group's best coded level (NaN/None where the factor is free)."""
    if factor in params.categorical:
        low, high = params.categorical[factor]
        out = np.full(G, None, dtype=object)
        out[coded == -1] = low
        out[coded == 1] = high
        return out
    text = params.is_categorical(factor)       # a user's categorical factor: its levels are in the rows
    out = np.full(G, None, dtype=object) if text else np.full(G, np.nan)
    if factor not in runs.columns or not len(runs):
        return out
    c = runs[f"coded_{factor}"].to_numpy(float)
    x = runs[factor].to_numpy(object if text else float)
    g = runs[GID].to_numpy(np.int64)
    low, high = (np.full(G, None, dtype=object), np.full(G, None, dtype=object)) if text else (
        np.full(G, np.nan), np.full(G, np.nan))
    low[g[c == -1]] = x[c == -1]
    high[g[c == 1]] = x[c == 1]
    out[coded == -1] = low[coded == -1]
    out[coded == 1] = high[coded == 1]
    return out

def taylor_gate(masks: np.ndarray, params: DoeParams) -> tuple[np.ndarray, np.ndarray]:
    """(per combination: are cutting_speed, feed and depth_of_cut all among its design factors,
    the reason when not). The Taylor equation and the cost optimum are about those three."""
    need = 0
    for f in TAYLOR_FACTORS:
        need = need | (1 << params.factors.index(f)) if f in params.factors else -1
        if need < 0:
            break
    masks = np.asarray(masks, dtype=np.int64)
    ok = (masks & need) == need if need >= 0 else np.zeros(len(masks), dtype=bool)
    notes = np.full(len(masks), None, dtype=object)
    for m in np.unique(masks[~ok]):
        varied = [f for j, f in enumerate(params.factors) if int(m) >> j & 1]
        notes[masks == m] = (f"no Taylor/cost analysis: it needs cutting_speed, feed and depth_of_cut among the "
                             f"design factors; this experiment varies {', '.join(varied) or 'none'}")
    return ok, notes

def _taylor(runs: pd.DataFrame, G: int, params: DoeParams, fit_taylor_groups,
            gated: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Taylor fit per group on natural units; NaN for groups whose speed/feed/depth are unusable
    or not all design factors (``gated`` False)."""
    nan = {k: np.full(G, np.nan) for k in _TAYLOR_KEYS}
    needed = list(TAYLOR_FACTORS)
    if G == 0 or any(c not in runs.columns for c in needed):
        return nan
    X = runs[needed + [LIFE]].to_numpy(dtype=float)
    row_ok = (np.isfinite(X) & (X > 0)).all(axis=1)
    g = runs[GID].to_numpy(np.int64)
    group_ok = np.ones(G, dtype=bool) if gated is None else np.asarray(gated, dtype=bool).copy()
    group_ok[g[~row_ok]] = False
    sub = runs[group_ok[g]]
    if not len(sub):
        return nan
    kw = {}
    for name in ("coolant", "coating"):
        # 0/1 indicator of the 'high' level from the coded column: the same regressor the string
        # column gives fit_taylor (flood/TiAlN -> 1), without shipping strings to the workers
        if params.is_categorical(name) and f"coded_{name}" in sub.columns:
            ind = f"_on_{name}"
            sub = sub.assign(**{ind: (sub[f"coded_{name}"].to_numpy(float) > 0).astype(float)})
            kw[name] = ind
        else:
            kw[name] = None
    res = fit_taylor_groups(sub, [GID], **kw)
    idx = res[GID].to_numpy(np.int64)
    for k in _TAYLOR_KEYS:
        nan[k][idx] = res[k].to_numpy(float)
    return nan

def cost_optimum(taylor: Mapping[str, np.ndarray], params: DoeParams) -> dict[str, np.ndarray]:
    """Vectorised :func:`toollife.doe.cost_optimal_conditions` at the baseline feed/depth/coolant/coating.

    Equal to the scalar function for every group with 0 < n < 1 (NaN otherwise). A coolant or
    coating multiplier the group could not estimate (the factor was not varied) counts as 1:
    C then already refers to the level that was run.
    """
    from toollife.doe import cost_per_part_at_life

    cost, base = params.cost or {}, params.baseline or {}
    n, a, b, C = (np.asarray(taylor[k], dtype=float) for k in ("n", "a", "b", "C"))
    Cm, Ct, tc = cost["machine_rate"], cost["tool_cost"], cost["tool_change_time"]
    f, d, V0 = float(base["feed"]), float(base["depth_of_cut"]), float(base["cutting_speed"])
    c_eff = C.copy()
    for name in ("coolant", "coating"):
        on = params.categorical.get(name, (None, None))[1]
        if on is not None and str(base.get(name)) == on:
            m = np.asarray(taylor[f"{name}_multiplier"], dtype=float)
            c_eff = c_eff * np.where(np.isfinite(m), m, 1.0)
    ok = (n > 0) & (n < 1) & np.isfinite(c_eff) & np.isfinite(a) & np.isfinite(b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        T_opt = (1.0 / n - 1.0) * (tc + Ct / Cm)
        V_opt = c_eff / (T_opt ** n * f ** a * d ** b)

        def per_part(V):
            return cost_per_part_at_life(V, f, (c_eff / (V * f ** a * d ** b)) ** (1.0 / n), cost)

        opt = per_part(V_opt)
        cur = per_part(np.full_like(n, V0))
    nan = np.nan
    return {
        "cost_optimal_tool_life_min": np.where(ok, T_opt, nan),
        "cost_optimal_cutting_speed": np.where(ok, V_opt, nan),
        "cost_per_part_baseline": np.where(ok, cur, nan),
        "cost_per_part_optimal": np.where(ok, opt, nan),
        "savings_per_part": np.where(ok, cur - opt, nan),
    }
