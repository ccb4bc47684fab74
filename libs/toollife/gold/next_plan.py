"""The next experiment of every machine x tool, and what a follow-up experiment resolved: the
planning of one batch of combinations (pure pandas; :mod:`toollife.gold.next_experiments` runs it
on Spark).

**Lineage.** An experiment may follow another one (``toollife simulate --plan-from`` runs the
recommended runs as ``<parent>-F1``, and records the parent in ``meta.simulation_runs``; without
that table the id convention ``X-F1`` -> ``X``, ``X-F2`` -> ``X-F1`` is used). The runs of an
experiment are analysed together with those of its ancestors, all coded in the *root*
experiment's coding (numeric factors: its low/high, -1/+1; categorical: ``doe.categorical_levels``):
a fold-over is analysed with the original fraction, axial + centre points with the factorial (a
central composite design, :func:`toollife.doe.fit_response_surface`).

**Per combination** (:func:`plan_combination`) the lineage is replayed generation by generation,
one :func:`toollife.doe.recommend_next` call per generation (its part-1 rule), with one loop rule
on top: after a *steepest-ascent* follow-up (the step points), the best observed step becomes the
centre of a new region, and the recommendation is ``kind='new_factorial'``: the root's design
points (with ``next_experiment.center_points`` centre points when every factor is numeric) around
it, with the root's half-ranges. The analysis after that restarts in the new region.

**Natural levels** are decoded from the current coding and clipped to
``doe.next_experiment.limits`` (machine limits, natural units; the coded limits are also passed
to ``recommend_next``, so axial and step points are clipped before they are planned).
**Categorical factors** have only the natural levels -1 and +1: a recommended run with a
categorical factor at 0 (a centre point of the other factors, an axial point on another axis, a
confirmation run for a categorical factor without effect) is planned once at *each* level
(Minitab's convention for centre points with categorical factors), so the plan stays balanced
over the categorical levels; a categorical level beyond +/-1 (a step or axial point on its axis)
is clipped to +/-1.

**Responses** (``next_experiment.response``): ``ln_tool_life`` / ``tool_life`` (maximised), or
``cost_per_part`` (minimised), derived for every completed run from its observed tool life with
the cost model of ``doe.cost`` (:func:`toollife.doe.cost_per_part_at_life`, the cost model of
:func:`toollife.doe.cost_per_part` with T the observed life) at the run's speed and feed (the
baseline where the experiment does not vary them). Lost runs (aborted, still running) enter
``recommend_next`` as missing responses, so rule 0 re-runs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from toollife.gold.next_coding import (COMPLETED, GEN, KEY, LIFE, NEW_FACTORIAL, SKIPPED, Coding, NextParams, Skip,
                                       dumps, responses, root_coding)


# --------------------------------------------------------------------------- one combination
@dataclass
class _Step:
    kind: str
    reason: str
    runs: pd.DataFrame            # coded, current coding: factor columns, point_type[, step]
    details: dict
    coding: Coding

def _recommend(X: np.ndarray, y: np.ndarray, coding: Coding, params: NextParams):
    from toollife.doe import recommend_next

    frame = pd.DataFrame(X, columns=coding.factors)
    frame["_y"] = y
    if params.response == "cost_per_part" and np.nanmin(y) <= 0:
        raise Skip("non-positive cost per part")
    return recommend_next(
        frame, coding.factors, "_y", alpha=params.alpha, maximize=params.maximize,
        log_response=params.log_response, relevant_effect=params.relevant_effect,
        target_power=params.target_power, n_steps=params.n_steps, axial_alpha=params.axial_alpha,
        center_points=params.center_points, n_confirm=params.n_confirm,
        limits=coding.coded_limits(params.limits))

def _new_region(steps_X: np.ndarray, steps_y: np.ndarray, region_X: np.ndarray, coding: Coding,
                params: NextParams) -> _Step:
    """After a steepest-ascent follow-up: a new factorial around the best step point."""
    ok = np.isfinite(steps_y)
    if not ok.any():
        raise Skip("every step point of the steepest-ascent follow-up was lost")
    idx = np.flatnonzero(ok)
    best = idx[int(np.argmax(steps_y[ok]) if params.maximize else np.argmin(steps_y[ok]))]
    centre, half = dict(coding.centre), dict(coding.half)
    moved = []
    for j, f in enumerate(coding.factors):
        if f in coding.levels:
            continue
        c = float(coding.natural(f, steps_X[best, j]))
        if f in params.limits:                     # keep the whole new region within the limits
            lo, hi = params.limits[f]
            c = float(np.clip(c, lo + half[f], hi - half[f])) if hi - lo >= 2 * half[f] else (lo + hi) / 2
        centre[f] = c
        moved.append(f"{f} = {c:.4g}")
    new = Coding(coding.factors, centre, half, coding.levels)
    corners = np.unique(region_X[(np.abs(region_X) == 1).all(axis=1)], axis=0)
    pts = [pd.DataFrame(corners, columns=coding.factors).assign(point_type="factorial")]
    if not coding.levels and params.center_points:
        pts.append(pd.DataFrame(np.zeros((params.center_points, len(coding.factors))), columns=coding.factors)
                   .assign(point_type="center"))
    runs = pd.concat(pts, ignore_index=True)
    what = "highest" if params.maximize else "lowest"
    at = ", ".join(f"{f} = {float(coding.natural(f, steps_X[best, j])):.4g}" for j, f in enumerate(coding.factors)
                   if f not in coding.levels)
    reason = (f"The response stopped improving along the path of steepest {'ascent' if params.maximize else 'descent'}"
              f"; the {what} observed response was at step point {int(best) + 1} ({at}): run the "
              f"{len(corners)}-point factorial again centred there ({', '.join(moved)}, kept inside the machine "
              "limits), with the same ranges"
              + (f" and {params.center_points} centre points" if len(pts) > 1 else "")
              + ", to fit a new first-order model there.")
    return _Step(NEW_FACTORIAL, reason, runs, {"centre": centre, "best_step": int(best) + 1,
                                               "best_step_response": float(steps_y[best])}, new)

def _effects_json(X: np.ndarray, y: np.ndarray, coding: Coding, params: NextParams) -> tuple[str | None, Any]:
    """Effects of a 2-level family (analyze_factorial / analyze_incomplete), as JSON."""
    from toollife.doe import analyze_factorial, analyze_incomplete

    ok = np.isfinite(y)
    frame = pd.DataFrame(X[ok], columns=coding.factors).assign(_y=y[ok])
    try:
        eff = analyze_factorial(frame, coding.factors, "_y", alpha=params.alpha, log_response=params.log_response)
    except ValueError:
        try:
            eff = analyze_incomplete(pd.DataFrame(X, columns=coding.factors).assign(_y=y), coding.factors, "_y",
                                     alpha=params.alpha, log_response=params.log_response).effects
        except ValueError:
            return None, None
    table = {r["term"]: {"effect": r["effect"], "std_error": r["std_error"], "p_value": r["p_value"],
                         "significant": r["significant"], "aliases": r["aliases"] or None}
             for r in eff.to_dict("records")}
    return dumps(table), eff

def _second_order_summary(X: np.ndarray, y: np.ndarray, coding: Coding, params: NextParams) -> dict | None:
    """Canonical analysis of a second-order family (a CCD): stationary point in natural units
    with a delta-method confidence interval per numeric factor, its nature, prediction there."""
    from toollife.doe import fit_response_surface

    ok = np.isfinite(y)
    yy = np.log(y[ok]) if params.log_response else y[ok]
    if coding.levels:
        return None                    # no quadratic term for a 2-level categorical factor
    frame = pd.DataFrame(X[ok], columns=coding.factors).assign(_y=yy)
    try:
        rs = fit_response_surface(frame, coding.factors, "_y")
    except ValueError:
        return None
    x0 = rs.stationary_point.to_numpy(float)
    half = rs.stationary_interval(alpha=params.alpha)
    ci = {}
    if half is not None:
        for j, f in enumerate(coding.factors):
            lo, hi = coding.natural(f, x0[j] - half[j]), coding.natural(f, x0[j] + half[j])
            ci[f] = [float(min(lo, hi)), float(max(lo, hi))]
    back = math.exp if params.log_response else (lambda v: v)
    pred = rs.predicted_at_stationary
    return {"nature": rs.nature,
            "stationary": {f: float(coding.natural(f, x0[j])) for j, f in enumerate(coding.factors)},
            "stationary_coded": {f: float(x0[j]) for j, f in enumerate(coding.factors)},
            "ci": ci, "predicted": back(pred) if np.isfinite(pred) else float("nan"),
            "eigenvalues": rs.eigenvalues.tolist()}

def _aliases_text(ambiguous: Mapping[str, Sequence[str]] | None) -> str | None:
    if not ambiguous:
        return None
    return "; ".join(f"{t} = {' = '.join(a)}" for t, a in ambiguous.items())

def _resolved(ambiguous: Mapping[str, Sequence[str]], eff: pd.DataFrame) -> str | None:
    """For each aliasing the parent could not resolve: the terms the combined analysis now
    estimates separately, with their effects ('A:B +12.3 (significant)')."""
    e = eff.set_index("term")
    parts = []
    for t, als in ambiguous.items():
        group = [t, *[a.lstrip("-") for a in als]]
        for name in group:
            if name not in e.index:
                continue
            still = set((e.loc[name, "aliases"] or "").replace("-", "").split(", ")) & set(group)
            if not still:
                parts.append(f"{name} {e.loc[name, 'effect']:+.4g} "
                             f"({'significant' if e.loc[name, 'significant'] else 'not significant'})")
    return "; ".join(dict.fromkeys(parts)) or None

def plan_combination(runs: pd.DataFrame, params: NextParams) -> tuple[_Step, dict, list[_Step]]:
    """Replay one machine x tool's lineage (``runs`` with a ``_gen`` column: 0 = the root
    experiment) and return (the recommendation for the last generation, the follow-up summary
    of the last generation, every generation's recommendation)."""
    from toollife.doe import cost_optimal_speed

    gens = runs[GEN].to_numpy(np.int64)
    last = int(gens.max())
    root = runs[gens == 0]
    if root.empty:
        raise Skip("the lineage's root experiment has no runs for this machine x tool")
    coding = root_coding(root, params)
    y_all = responses(runs, params)
    region_start = 0
    history: list[_Step] = []
    X_region = None
    for g in range(last + 1):
        if history and history[-1].kind == "steepest_ascent":
            sel = gens == g
            X_steps = coding.code(runs[sel])
            corners_from = coding.code(runs[gens == region_start])
            step = _new_region(X_steps, y_all[sel], corners_from, coding, params)
            coding = step.coding
            region_start = g + 1
            history.append(step)
            continue
        sel = (gens >= region_start) & (gens <= g)
        X_region = coding.code(runs[sel])
        if not np.isfinite(X_region).all():
            raise Skip("run(s) without a level for every factor of the design (or a categorical level not in "
                       "doe.categorical_levels)")
        try:
            rec = _recommend(X_region, y_all[sel], coding, params)
        except ValueError as err:
            raise Skip(f"recommend_next: {err}") from None
        history.append(_Step(rec.kind, rec.reason, rec.runs, dict(rec.details), coding))
    summary: dict[str, Any] = {}
    if last >= 1:
        opt = cost_optimal_speed(runs, params.cost, params.baseline, alpha=params.alpha, life=LIFE,
                                 completed=runs[COMPLETED].to_numpy(bool),
                                 on_levels={f: lh[1] for f, lh in params.categorical.items()})
        if opt:
            summary["cost_optimal_speed"] = opt["speed"]
            summary["cost_optimal_speed_ci_low"] = opt["ci_low"]
            summary["cost_optimal_speed_ci_high"] = opt["ci_high"]
        before = history[-2]
        summary["parent_kind"] = before.kind
        summary["aliases_before"] = _aliases_text(before.details.get("ambiguous")) if before.kind == "fold_over" else None
        now = history[-1]
        summary["aliases_after"] = _aliases_text(now.details.get("ambiguous")) if now.kind == "fold_over" else None
        sel = (gens >= region_start) & (gens <= last)
        if X_region is not None and region_start <= last:
            X = coding.code(runs[sel])
            y = y_all[sel]
            summary["n_runs"] = int(np.isfinite(y).sum())
            two_level = bool(((np.abs(X) == 1).all(axis=1) | (X == 0).all(axis=1))[np.isfinite(y)].all())
            if two_level:
                summary["model"] = "two_level"
                summary["effects_json"], eff = _effects_json(X, y, coding, params)
                if summary["aliases_before"] and eff is not None:
                    summary["resolved"] = _resolved(before.details.get("ambiguous") or {}, eff)
            else:
                so = _second_order_summary(X, y, coding, params)
                summary["model"] = "second_order" if so else None
                if so:
                    summary["nature"] = so["nature"]
                    summary["stationary_json"] = dumps(so["stationary"])
                    summary["stationary_ci_json"] = dumps(so["ci"])
                    summary["predicted_at_stationary"] = so["predicted"]
                    summary["eigenvalues_json"] = dumps(so["eigenvalues"])
    return history[-1], summary, history


# --------------------------------------------------------------------------- batch (pandas)
FOLLOW_UP_COLUMNS = [("parent_kind", "s"), ("model", "s"), ("n_runs", "l"), ("aliases_before", "s"),
                     ("aliases_after", "s"), ("resolved", "s"), ("effects_json", "s"), ("nature", "s"),
                     ("stationary_json", "s"), ("stationary_ci_json", "s"), ("predicted_at_stationary", "d"),
                     ("eigenvalues_json", "s"), ("cost_optimal_speed", "d"), ("cost_optimal_speed_ci_low", "d"),
                     ("cost_optimal_speed_ci_high", "d")]

def output_columns(params: NextParams) -> list[tuple[str, str]]:
    """(name, kind s/d/l) of the UDF's rows: the plan row, then ``fu_*`` follow-up summary
    columns (set on the first row of a combination that has a parent, else null)."""
    cols = [(c, "s") for c in KEY] + [("run_no", "l"), ("root_experiment_id", "s"), ("parent_experiment_id", "s"),
                                      ("generation", "l"), ("response", "s"), ("kind", "s"), ("reason", "s"),
                                      ("point_type", "s"), ("step", "l")]
    cols += [(f"coded_{f}", "d") for f in params.factors]
    cols += [(f, "s" if params.is_categorical(f) else "d") for f in params.factors]
    cols += [("details_json", "s")]
    cols += [(f"fu_{c}", k) for c, k in FOLLOW_UP_COLUMNS]
    return cols

def _plan_rows(step: _Step, params: NextParams) -> pd.DataFrame:
    """The recommended runs in natural units (clipped to the limits), categorical 0 expanded."""
    coding = step.coding
    runs = step.runs.reset_index(drop=True)
    X = runs[coding.factors].to_numpy(float)
    rows = []
    for i in range(len(runs)):
        variants = [X[i].copy()]
        for j, f in enumerate(coding.factors):
            if f in coding.levels:
                nxt = []
                for v in variants:
                    if v[j] == 0:
                        lo, hi = v.copy(), v.copy()
                        lo[j], hi[j] = -1.0, 1.0
                        nxt += [lo, hi]
                    else:
                        v[j] = float(np.clip(np.sign(v[j]), -1.0, 1.0))
                        nxt.append(v)
                variants = nxt
        for v in variants:
            rows.append((i, v))
    out = pd.DataFrame({"point_type": [runs.loc[i, "point_type"] for i, _ in rows]})
    out["step"] = [int(runs.loc[i, "step"]) if "step" in runs.columns else None for i, _ in rows]
    V = np.array([v for _, v in rows]).reshape(len(rows), len(coding.factors))
    for j, f in enumerate(coding.factors):
        nat = coding.natural(f, V[:, j])
        if f not in coding.levels and f in params.limits:
            nat = np.clip(nat, *params.limits[f])
            V[:, j] = (nat - coding.centre[f]) / coding.half[f]
        out[f] = nat
        out[f"coded_{f}"] = V[:, j] + 0.0
    return out

def next_experiments_frame(pdf: pd.DataFrame, params: NextParams, groups=None) -> pd.DataFrame:
    """Plan rows for every combination in ``pdf`` (one batch: runs of many lineage x machine x
    tool combinations; ``groups`` = (combination index per run, key frame with ``_key`` and
    ``root_experiment_id`` / ``parent_experiment_id``), else grouped by :data:`KEY`)."""
    if groups is None:
        gid = pdf.groupby(KEY, sort=True).ngroup().to_numpy(np.int64)
        keys = pdf[KEY].drop_duplicates().sort_values(KEY).reset_index(drop=True)
        keys["_key"] = np.arange(len(keys))
    else:
        gid, keys = groups
    names = [n for n, _ in output_columns(params)]
    out = []
    order = np.argsort(gid, kind="stable")
    bounds = np.flatnonzero(np.diff(gid[order])) + 1
    for idx in np.split(order, bounds) if len(order) else []:
        g = int(gid[idx[0]])
        runs = pdf.iloc[idx]
        base: dict[str, Any] = {"_key": g, "response": params.response,
                                "generation": int(runs[GEN].max())}
        for c in ("root_experiment_id", "parent_experiment_id"):
            if c in runs.columns:
                base[c] = runs[c].iloc[0]
        p, why_life = _combination_params(runs, params)
        base["response"] = p.response
        try:
            step, summary, _ = plan_combination(runs, p)
        except Skip as why:
            out.append(pd.DataFrame([{**base, "run_no": 0, "kind": SKIPPED, "reason": str(why)}]))
            continue
        rows = _plan_rows(step, params)
        rows.insert(0, "run_no", np.arange(1, len(rows) + 1))
        for c, v in base.items():
            rows[c] = v
        rows["kind"], rows["reason"] = step.kind, step.reason + why_life
        rows["details_json"] = dumps({k: v for k, v in step.details.items()})
        if summary:
            for c, _ in FOLLOW_UP_COLUMNS:
                rows[f"fu_{c}"] = [summary.get(c)] + [None] * (len(rows) - 1)
        out.append(rows)
    out = [o.dropna(axis=1, how="all") for o in out]
    res = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["_key"])
    for n in names:
        if n not in res.columns and n not in KEY:
            res[n] = None
    return res[["_key", *[n for n in names if n not in KEY]]]


def _combination_params(runs: pd.DataFrame, params: NextParams) -> tuple[NextParams, str]:
    """cost_per_part trades tool life against machining time, which only cutting_speed and feed
    change (the others at conf doe.baseline): an experiment that varies neither (an imported one with
    the user's own factors) would only maximise life under another name, so it is planned on its
    tool life, and the reason says so."""
    from dataclasses import replace

    if params.response != "cost_per_part" or any(
            f"coded_{f}" in runs.columns and runs[f"coded_{f}"].notna().any() for f in ("cutting_speed", "feed")):
        return params, ""
    p = replace(params, response=params.life_response, maximize=params.life_maximize)
    return p, (f" (Planned on {p.response}, not cost_per_part: the cost per part needs cutting_speed or feed "
               "among the design factors.)")


# --------------------------------------------------------------------------- lineage
def lineages(experiments: Sequence[str], parents: Mapping[str, str]) -> dict[str, list[str]]:
    """{experiment: [root, ..., experiment]} over the known experiments; a parent link
    pointing at an unknown experiment (or a cycle) ends the lineage there."""
    from toollife.simulation.follow_up import parent_by_name

    known = set(experiments)
    out = {}
    for e in experiments:
        chain = [e]
        while True:
            p = parents.get(chain[-1]) or parent_by_name(chain[-1])
            if p is None or p not in known or p in chain:
                break
            chain.append(p)
        out[e] = chain[::-1]
    return out
