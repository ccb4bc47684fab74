"""The next experiment: what to run after this one, and why (issue 14, part 1).

:func:`recommend_next` applies the sequential strategy of response-surface methodology
(Montgomery ch. 8 and 11; Box, Hunter & Hunter ch. 6 and 12) -- what Minitab's Assistant or JMP's
design augmentation walk an engineer through by hand -- to one experiment, as a fixed rule whose
first matching case wins. See :func:`recommend_next` for the rule and its reasons.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy import optimize as sopt

from .augment import axial_alpha_value, axial_points, choose_fold, fold_over
from .incomplete import analyze_incomplete
from .kernel import (
    affine_hull,
    analyze_core,
    bits_to_levels,
    check_alpha,
    check_inputs,
    design_layout,
    mask_bits,
    point_bits,
    response_values,
    sorted_runs,
    term_name,
)
from .optimize import kept_from_significance, optimal_settings
from .power import default_error_df, power_two_level, replicates_for_power
from .response_surface import ascent_path, fit_response_surface, non_estimable_quadratic_terms

__all__ = ["recommend_next", "Recommendation", "RECOMMENDATION_KINDS"]

#: every value :attr:`Recommendation.kind` takes, in the order of the rule
RECOMMENDATION_KINDS = ("rerun", "fold_over", "augment_axial", "steepest_ascent", "replicate", "confirm")
POINT_TYPE = "point_type"
_TOL = 1e-9


@dataclass(frozen=True)
class Recommendation:
    """What to run next.

    kind    one of :data:`RECOMMENDATION_KINDS`
    reason  one sentence for a process engineer: what the experiment left open and what the runs do
    runs    the runs to make, coded: one float column per factor and ``point_type`` ('rerun',
            'fold_over', 'axial', 'center', 'step', 'replicate' or 'confirm'); steepest ascent
            also has a leading ``step`` column (1 = one step from the design centre). Convert with
            :func:`toollife.doe.to_natural` (and clip to the machine's limits).
    details kind-specific numbers behind the reason (see :func:`recommend_next`)
    """

    kind: str
    reason: str
    runs: pd.DataFrame
    details: Dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- formatting
def _num(v: float) -> str:
    if abs(v - round(v)) < 1e-9:
        return f"{int(round(v)):+d}" if round(v) != 0 else "0"
    return f"{v:+.2f}"


def _settings_text(point: Mapping[str, float], factors: Sequence[str]) -> str:
    return ", ".join(f"{f} = {_num(float(point[f]))}" for f in factors)


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _val(v: float) -> str:
    return f"{v:.4g}"


def _runs_frame(points: np.ndarray, factors: Sequence[str], point_type) -> pd.DataFrame:
    out = pd.DataFrame(np.asarray(points, dtype=float).reshape(-1, len(factors)) + 0.0, columns=list(factors))
    out[POINT_TYPE] = point_type
    return out


# --------------------------------------------------------------------------- inputs
def _levels(runs: pd.DataFrame, factors: Sequence[str]) -> np.ndarray:
    try:
        X = runs[list(factors)].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"factor columns {list(factors)} must be numeric coded levels") from None
    if not np.isfinite(X).all():
        raise ValueError(f"factor columns {list(factors)} have missing/non-finite levels")
    return X


def _check_limits(limits, factors) -> Dict[str, Tuple[float, float]]:
    if limits is None:
        return {}
    out = {}
    for f, lh in dict(limits).items():
        if f not in factors:
            raise ValueError(f"limits given for {f!r}, which is not a factor {list(factors)}")
        try:
            lo, hi = (float(v) for v in lh)
        except (TypeError, ValueError):
            raise ValueError(f"limits[{f!r}] must be a (low, high) pair of coded levels, got {lh!r}") from None
        if not lo <= hi:
            raise ValueError(f"limits[{f!r}]: low {lo} > high {hi}")
        out[f] = (lo, hi)
    return out


def _bounds(limits, factors) -> Tuple[np.ndarray, np.ndarray]:
    lo = np.array([limits.get(f, (-np.inf, np.inf))[0] for f in factors])
    hi = np.array([limits.get(f, (-np.inf, np.inf))[1] for f in factors])
    return lo, hi


# --------------------------------------------------------------------------- rule 0
def _missing_points(X_all: np.ndarray, completed: np.ndarray, design_X: Optional[np.ndarray], k: int) -> pd.DataFrame:
    """Planned points with no completed run (any design): from ``design``, from lost rows, and
    the regular fraction (affine hull) spanned by the corner points."""
    planned = design_X if design_X is not None else X_all
    done = np.round(X_all[completed], 9)
    done_set = {tuple(r) for r in done}
    counts: Dict[Tuple[float, ...], int] = {}
    order: List[Tuple[float, ...]] = []
    src = planned if design_X is not None else X_all[~completed]
    for r in np.round(src, 9):
        t = tuple(r)
        if t in done_set:
            continue
        if t not in counts:
            order.append(t)
            counts[t] = 0
        counts[t] += 1
    corners = np.round(planned, 9)
    corners = corners[(np.abs(corners) == 1).all(axis=1)]
    if len(corners):
        hull_pts, _ = affine_hull(point_bits(corners), k)
        for r in bits_to_levels(hull_pts, k).astype(float):
            t = tuple(r)
            if t not in done_set and t not in counts:
                order.append(t)
                counts[t] = 1
    rows = np.array(order, dtype=float).reshape(-1, k)
    df = pd.DataFrame(rows)
    df["n_lost"] = [counts[t] for t in order]
    return df


def _rule_rerun(runs_c, X_all, completed, factors, response, design, alpha, log_response):
    k = len(factors)
    design_X = _levels(design, factors) if design is not None else None
    miss = _missing_points(X_all, completed, design_X, k)
    if miss.empty:
        return None
    rows = np.repeat(miss[list(range(k))].to_numpy(float), miss["n_lost"].to_numpy(), axis=0)
    two_level = _is_two_level(X_all) and (design_X is None or _is_two_level(design_X))
    lost_terms: List[str] = []
    max_corr = 0.0
    if two_level:
        try:
            inc = analyze_incomplete(pd.concat([runs_c, _nan_rows(rows, factors, response)], ignore_index=True),
                                     factors, response, alpha=alpha, log_response=log_response, design=design)
            lost_terms = inc.non_estimable
            max_corr = float(inc.correlations["correlation"].abs().max()) if len(inc.correlations) else 0.0
        except ValueError:
            lost_terms = []
    n_pts = len(miss)
    what = f"{n_pts} design point{'s' if n_pts > 1 else ''}"
    if lost_terms:
        consequence = (f"so {_join(lost_terms)} can no longer be estimated"
                       + (" and the remaining estimates are correlated" if max_corr > 1e-9 else ""))
    elif two_level and (rows == 0).all(axis=1).all():
        consequence = "so curvature can no longer be tested"
    else:
        consequence = "so the design is unbalanced and its estimates are correlated"
    reason = (f"{what} of the plan {'have' if n_pts > 1 else 'has'} no completed run (a run aborted, e.g. by chipping, "
              f"or never finished), {consequence}: re-run the {len(rows)} lost run{'s' if len(rows) > 1 else ''} "
              "to restore the design before deciding anything else.")
    details = {"missing_points": pd.DataFrame(miss[list(range(k))].to_numpy(float), columns=list(factors)).assign(
        n_lost=miss["n_lost"].to_numpy()), "non_estimable": lost_terms, "max_abs_correlation": max_corr}
    return Recommendation("rerun", reason, _runs_frame(rows, factors, "rerun"), details)


def _nan_rows(rows: np.ndarray, factors, response) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=list(factors))
    out[response] = np.nan
    return out


def _is_two_level(X: np.ndarray) -> bool:
    corner = (np.abs(X) == 1).all(axis=1)
    centre = (X == 0).all(axis=1)
    return bool((corner | centre).all())


# --------------------------------------------------------------------------- two-level rules
def _distinct_corners(lay) -> np.ndarray:
    pts = np.unique(lay.levels[lay.is_factorial], axis=0)
    # standard (Yates) order: the first factor alternates fastest
    code = ((pts > 0).astype(np.int64) * (1 << np.arange(pts.shape[1]))).sum(axis=1)
    return pts[np.argsort(code)].astype(float)


def _fold_recommendation(lay, factors, S: int, n_broken: int, n_words: int, corners: np.ndarray,
                         n_center: int, why: str, details: Dict[str, Any]) -> Recommendation:
    k = len(factors)
    on = [factors[i] for i in mask_bits(S)]
    fold_on = None if len(on) == k else (on[0] if len(on) == 1 else on)
    new = fold_over(pd.DataFrame(corners, columns=factors), factors, on=fold_on).to_numpy(float)
    runs = pd.concat([_runs_frame(new, factors, "fold_over"),
                      _runs_frame(np.zeros((n_center, k)), factors, "center")], ignore_index=True)
    if fold_on is None:
        how = (f"run the {len(new)} factorial points again with every sign reversed (a full fold-over), "
               "which separates every main effect from the two-factor interactions")
    elif len(on) == 1:
        how = (f"run the {len(new)} factorial points again with {on[0]} reversed (a single-factor fold-over), "
               f"which separates {on[0]} and its two-factor interactions from the other effects")
    else:
        how = f"run the {len(new)} factorial points again with the signs of {_join(on)} reversed"
    if n_center:
        how += f", with {n_center} centre point{'s' if n_center > 1 else ''} to check for a shift between the blocks"
    if n_broken < n_words:
        how += f" (this resolves {n_broken} of the {n_words} aliasings; a further fold may be needed)"
    details = dict(details, on=on, words_broken=n_broken, words=n_words)
    return Recommendation("fold_over", f"{why}: {how}.", runs, details)


def _rule_fold(lay, res, factors, corners) -> Optional[Recommendation]:
    k = len(factors)
    m = lay.m
    sig = res["significant"][0][:m]
    words, ambiguous = [], {}
    weight = np.zeros(k)
    for j in np.flatnonzero(sig):
        rep = lay.rep_masks[j]
        for b in mask_bits(rep):
            weight[b] += 1
        al = []
        for w in lay.group:
            if w == 0:
                continue
            other = rep ^ w
            if len(mask_bits(other)) <= 2:
                words.append(w)
                al.append(("-" if lay.group[w] < 0 else "") + term_name(other, factors))
        if al:
            ambiguous[lay.terms[j]] = al
    if not words:
        return None
    S, n_broken = choose_fold(k, words, weight)
    n_words = len(set(words))
    parts = [f"{t} (aliased with {_join(a)})" for t, a in ambiguous.items()]
    plural = len(parts) > 1
    why = (f"The significant effect{'s' if plural else ''} {_join(parts)} cannot be told apart from "
           f"the interaction{'s' if plural or len(next(iter(ambiguous.values()))) > 1 else ''} "
           f"{'they are' if plural else 'it is'} aliased with")
    return _fold_recommendation(lay, factors, S, n_broken, n_words, corners, lay.n_center, why,
                                {"ambiguous": ambiguous})


def _rule_axial(lay, res, factors, X_done, corners, alpha_axial, center_points, limits, p_curv, curv_eff):
    k = len(factors)
    a = axial_alpha_value(alpha_axial, len(corners))
    ax = axial_points(factors, a).to_numpy(float)
    lo, hi = _bounds(limits, factors)
    ax = np.clip(ax, lo, hi)
    centre = np.zeros((int(center_points), k))
    planned = np.vstack([X_done, ax, centre])
    lost = non_estimable_quadratic_terms(planned, factors)
    if lost:
        # 2FIs aliased with each other (words of length 4) make the quadratic model inestimable
        words = [w for w in lay.group if w and len(mask_bits(w)) == 4] or [w for w in lay.group if w and len(mask_bits(w)) <= 4]
        if words:
            S, n_broken = choose_fold(k, words)
            why = (f"The centre points show significant curvature (p = {p_curv:.2g}), but the two-factor "
                   "interactions of this fraction are aliased with each other, so axial points alone cannot "
                   "fit a second-order model; first separate them")
            return _fold_recommendation(lay, factors, S, n_broken, len(words), corners, lay.n_center, why,
                                        {"curvature_p_value": p_curv, "non_estimable_after_axial": lost})
    runs = pd.concat([_runs_frame(ax, factors, "axial"), _runs_frame(centre, factors, "center")], ignore_index=True)
    clipped = bool(np.any(np.abs(np.abs(ax[ax != 0]) - a) > _TOL))
    reason = (f"The centre points show significant curvature (centre mean {'above' if curv_eff < 0 else 'below'} "
              f"the factorial mean, p = {p_curv:.2g}), so the best settings are probably inside the region: add "
              f"the {2 * k} axial points at {'+/-' + format(a, '.3g') if not clipped else 'the limits'} and "
              f"{int(center_points)} centre points, turning the design into a central composite design that "
              "can fit a second-order model.")
    return Recommendation("augment_axial", reason, runs,
                          {"alpha": a, "curvature_effect": curv_eff, "curvature_p_value": p_curv,
                           "clipped_to_limits": clipped})


def _best_corner_gradient(masks, coef, k: int, maximize: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Best corner of a 2-level model (factors not in it at 0) and the model's gradient there."""
    bits = sorted({b for mk in masks for b in mask_bits(mk)})
    idx = np.arange(1 << len(bits))
    cand = np.zeros((len(idx), k))
    for j, bt in enumerate(bits):
        cand[:, bt] = np.where((idx >> j) & 1, 1.0, -1.0)
    pred = np.array([sum(c * np.prod(p[mask_bits(mk)]) for mk, c in zip(masks, coef)) for p in cand])
    x = cand[int(np.argmax(pred) if maximize else np.argmin(pred))]
    grad = np.zeros(k)
    for mk, c in zip(masks, coef):
        for i in mask_bits(mk):
            grad[i] += c * np.prod([x[o] for o in mask_bits(mk) if o != i])
    return x, grad


def _path_runs(b: np.ndarray, factors, n_steps, maximize, limits, region_ok, *,
               origin=None) -> Tuple[Optional[pd.DataFrame], Dict[str, Any]]:
    """Steps 1..n of the path of steepest ascent along ``b`` (from ``origin``, default the
    centre), clipped to ``limits``; None when no step leaves the region (``region_ok(point)`` is
    True inside it) -- the limits leave nowhere to go."""
    k = len(factors)
    origin = np.zeros(k) if origin is None else np.asarray(origin, dtype=float)
    path = ascent_path(b, factors, n_steps=n_steps, maximize=maximize)
    P = path[list(factors)].to_numpy(float) + origin
    lo, hi = _bounds(limits, factors)
    P = np.clip(P, lo, hi)
    keep = [i for i in range(1, len(P)) if not np.allclose(P[i], P[i - 1], atol=_TOL)]
    P, steps = P[keep], path["step"].to_numpy()[keep]
    if not len(P) or all(region_ok(p) for p in P):
        return None, {}
    g = b if maximize else -b
    j = int(np.argmax(np.abs(g)))
    out = pd.DataFrame({"step": steps.astype(np.int64)})
    for i, f in enumerate(factors):
        out[f] = P[:, i] + 0.0
    out[POINT_TYPE] = "step"
    return out, {"step_factor": factors[j], "delta": dict(zip(factors, (g / abs(g[j])).tolist())),
                 "gradient": dict(zip(factors, b.tolist())), "origin": dict(zip(factors, origin.tolist()))}


def _path_text(delta: Mapping[str, float], step_factor: str) -> str:
    others = [f"{f} by {_num(v)}" for f, v in delta.items() if f != step_factor and v != 0]
    text = f"{step_factor} by {_num(delta[step_factor])} coded unit per step"
    if others:
        text += " and " + _join(others)
    return text


def _confirm(point: Mapping[str, float], factors, pred, lo, hi, alpha, n_confirm, why: str, extra) -> Recommendation:
    P = np.repeat(np.array([[float(point[f]) for f in factors]]), int(n_confirm), axis=0)
    if np.isfinite(lo) and np.isfinite(hi):
        interval = (f"each should fall within {_val(lo)} to {_val(hi)} (the {100 * (1 - alpha):.0f}% prediction "
                    "interval); one outside it means the model does not hold there")
    else:
        interval = "the analysis leaves no error degrees of freedom for a prediction interval"
    reason = (f"{why}: make {int(n_confirm)} confirmation run{'s' if n_confirm > 1 else ''} at "
              f"{_settings_text(point, factors)}, where the model predicts {_val(pred)}; {interval}.")
    details = dict(extra, settings={f: float(point[f]) for f in factors}, predicted=float(pred),
                   pi_low=float(lo), pi_high=float(hi))
    return Recommendation("confirm", reason, _runs_frame(P, factors, "confirm"), details)


def _two_level(runs_c, factors, response, *, alpha, maximize, log_response, relevant_effect, target_power,
               n_steps, axial_alpha, center_points, n_confirm, limits) -> Recommendation:
    k = len(factors)
    levels = runs_c[factors].to_numpy(float).astype(np.int8)
    y = response_values(runs_c, response, log_response, missing_ok=True)
    levels, y = sorted_runs(levels, y)
    lay = design_layout(levels, factors)
    res = analyze_core(lay, y[None, :], alpha)
    m = lay.m
    corners = _distinct_corners(lay)
    X_done = lay.levels.astype(float)

    # rule 1: significant effects aliased with a main effect or two-factor interaction
    rec = _rule_fold(lay, res, factors, corners)
    if rec is not None:
        return rec

    # rule 2: significant curvature at the centre points
    curv_sig = lay.has_center and bool(res["significant"][0][m])
    if curv_sig:
        return _rule_axial(lay, res, factors, X_done, corners, axial_alpha, center_points, limits,
                           float(res["p_value"][0][m]), float(res["effect"][0][m]))

    # rule 3: no curvature, best settings on the boundary -> steepest ascent
    keep = kept_from_significance(lay, res["significant"][:, :m])[0]
    kept_masks = [lay.rep_masks[j] for j in np.flatnonzero(keep)]
    kept_coef = np.array([res["coefficient"][0][j] for j in np.flatnonzero(keep)])
    b = np.zeros(k)
    for mk, c in zip(kept_masks, kept_coef):
        if len(mask_bits(mk)) == 1:
            b[mask_bits(mk)[0]] = c
    if np.any(b != 0):
        origin, g = _best_corner_gradient(kept_masks, kept_coef, k, maximize)
        interactions = any(len(mask_bits(mk)) > 1 for mk in kept_masks)
        if not interactions:
            origin = np.zeros(k)            # the textbook path: from the centre, along b
            g = b
        inside = lambda p: bool(np.all(np.abs(p) <= 1 + _TOL))  # noqa: E731
        path, info = _path_runs(g, factors, n_steps, maximize, limits, inside, origin=origin)
        if path is not None:
            corner = np.sign(g if maximize else -g) if not interactions else origin
            moved = [f"{f} {'high' if v > 0 else 'low'}" for f, v in zip(factors, corner) if v != 0]
            curv_txt = "There is no curvature" if lay.has_center else "There are no centre points to show curvature"
            word = "ascent" if maximize else "descent"
            start = ("from the centre" if not interactions else
                     f"from the best corner (the interactions turn the direction of steepest {word} across the region)")
            reason = (f"{curv_txt} and the best settings lie on the edge of the region "
                      f"({_join(moved)}), so better ones probably lie beyond it: move along the path of steepest "
                      f"{word} {start}, {_path_text(info['delta'], info['step_factor'])}, "
                      f"and run the {len(path)} step point{'s' if len(path) > 1 else ''} until the response "
                      "stops improving.")
            return Recommendation("steepest_ascent", reason, path, info)

    # rule 4: too little power for the relevant effect
    n_f = lay.n_factorial
    if lay.method == "anova":
        B = y @ (lay.X @ lay.XtX_inv)
        resid = y - lay.X @ B
        sigma = float(np.sqrt((resid ** 2).sum() / lay.df_resid))
    else:
        sigma = float(res["std_error"][0][0]) * np.sqrt(n_f) / 2.0
    n_sig = int(res["significant"][0][:m].sum())
    if relevant_effect is not None and sigma > 0:
        df = default_error_df(k, n_f)
        if df < 1:
            df = lay.df_resid if lay.df_resid > 0 else m / 3.0
        pw = power_two_level(k, n_f, relevant_effect, sigma, alpha=alpha, df=df)
        if pw < target_power:
            n_pts = len(corners)
            r_now = max(1, n_f // n_pts)
            r_need = replicates_for_power(k, relevant_effect, sigma, power=target_power, alpha=alpha,
                                          runs_per_replicate=n_pts)
            extra = max(1, r_need - r_now)
            rows = np.tile(corners, (extra, 1))
            lead = ("No effect is significant" if n_sig == 0 else
                    "The significant effects leave no direction to move in within the limits")
            reason = (f"{lead}, and with the error sd estimated at {_val(sigma)} this design has only "
                      f"{100 * pw:.0f}% power to detect an effect of {_val(relevant_effect)}: run {extra} more "
                      f"replicate{'s' if extra > 1 else ''} of the {n_pts} factorial points ({len(rows)} runs) to "
                      f"reach {100 * target_power:.0f}%.")
            return Recommendation("replicate", reason, _runs_frame(rows, factors, "replicate"),
                                  {"power": pw, "sigma": sigma, "relevant_effect": float(relevant_effect),
                                   "replicates_now": r_now, "replicates_needed": r_need, "n_replicates": extra,
                                   "target_power": float(target_power)})

    # rule 5: confirm
    best = optimal_settings(runs_c, factors, response, maximize=maximize, alpha=alpha, log_response=log_response)
    point = {f: (0.0 if v is None else float(v)) for f, v in best["coded"].items()}
    lo, hi = _bounds(limits, factors)
    point = {f: float(np.clip(point[f], lo[i], hi[i])) for i, f in enumerate(factors)}
    if n_sig == 0:
        why = "No effect is significant and the design has the power to have seen one of the relevant size"
        if relevant_effect is None:
            why = "No effect is significant (no relevant effect size was given to check the power against)"
    else:
        why = ("The effects are resolved and the best settings are at the limits of what can be run"
               if np.any(b != 0) else "The effects are resolved")
    free = [f for f, v in best["coded"].items() if v is None]
    extra = {"terms": best["terms"], "free_factors": free, "ci_low": best["ci_low"], "ci_high": best["ci_high"]}
    return _confirm(point, factors, best["predicted"], best["pi_low"], best["pi_high"], alpha, n_confirm, why, extra)


# --------------------------------------------------------------------------- second-order rules
def _second_order(runs_c, factors, response, *, alpha, maximize, log_response, n_steps, n_confirm,
                  limits) -> Recommendation:
    k = len(factors)
    X = _levels(runs_c, factors)
    y = response_values(runs_c, response, log_response, missing_ok=True)
    fit_runs = pd.DataFrame(X, columns=factors).assign(**{"__y": y})
    rs = fit_response_surface(fit_runs, factors, "__y")
    a = np.abs(X).max(axis=0)
    R = float(np.sqrt((X ** 2).sum(axis=1)).max())
    lo, hi = _bounds(limits, factors)

    def inside(p, tol=1e-6):
        return bool(np.all(np.abs(p) <= a + tol) and np.linalg.norm(p) <= R + tol and np.all(p >= lo - tol)
                    and np.all(p <= hi + tol))

    want = "maximum" if maximize else "minimum"
    xs = rs.stationary_point.to_numpy(float)
    back = np.exp if log_response else (lambda v: v)
    extra = {"nature": rs.nature, "stationary_point": dict(zip(factors, xs.tolist())),
             "eigenvalues": rs.eigenvalues.tolist()}
    if rs.nature == want and np.all(np.isfinite(xs)) and inside(xs):
        pi = rs.prediction_interval(xs, alpha=alpha).iloc[0]
        why = (f"The fitted second-order surface has its {want} inside the region "
               f"(eigenvalues {_join([format(v, '.3g') for v in rs.eigenvalues])})")
        return _confirm(dict(zip(factors, xs)), factors, back(pi["predicted"]), back(pi["low"]), back(pi["high"]),
                        alpha, n_confirm, why, extra)
    # best point of the fitted surface within the region (and limits)
    sgn = -1.0 if maximize else 1.0
    beta = rs.coefficients.to_numpy()
    Bm = rs.B
    bl = beta[1:1 + k]

    def obj(p):
        return sgn * (beta[0] + p @ bl + p @ Bm @ p)

    def grad(p):
        return sgn * (bl + 2.0 * Bm @ p)

    box = [(max(-a[i], lo[i]), min(a[i], hi[i])) for i in range(k)]
    cons = [{"type": "ineq", "fun": lambda p: R ** 2 - p @ p, "jac": lambda p: -2.0 * p}]
    starts = [np.zeros(k)] + [np.clip(x, [b[0] for b in box], [b[1] for b in box]) for x in X]
    best_p, best_v = None, np.inf
    for s in starts:
        r = sopt.minimize(obj, s, jac=grad, bounds=box, constraints=cons, method="SLSQP")
        if r.success and r.fun < best_v and inside(r.x, 1e-4):
            best_p, best_v = r.x, r.fun
    if best_p is None:
        best_p = X[np.argmin([obj(x) for x in X])]
    what = (f"a {rs.nature} point" if rs.nature == "saddle" else
            f"a {rs.nature}, not a {want}" if rs.nature != want else f"its {want} outside the region")
    path, info = _path_runs(bl, factors, n_steps, maximize, limits, inside)
    if path is not None:
        reason = (f"The fitted second-order surface has {what}, so the best settings within the region are on its "
                  f"boundary: move along the path of steepest {'ascent' if maximize else 'descent'} from the centre "
                  f"({_path_text(info['delta'], info['step_factor'])}) and run the {len(path)} step "
                  f"point{'s' if len(path) > 1 else ''}.")
        return Recommendation("steepest_ascent", reason, path, dict(info, **extra))
    pi = rs.prediction_interval(best_p, alpha=alpha).iloc[0]
    why = f"The fitted second-order surface has {what} and the limits leave no room to move beyond the region"
    return _confirm(dict(zip(factors, best_p)), factors, back(pi["predicted"]), back(pi["low"]), back(pi["high"]),
                    alpha, n_confirm, why, extra)


# --------------------------------------------------------------------------- public API
def recommend_next(
    runs: pd.DataFrame,
    factors: Sequence[str],
    response: str,
    *,
    alpha: float = 0.05,
    maximize: bool = True,
    log_response: bool = False,
    design: Optional[pd.DataFrame] = None,
    relevant_effect: Optional[float] = None,
    target_power: float = 0.8,
    n_steps: int = 5,
    axial_alpha="rotatable",
    center_points: int = 3,
    n_confirm: int = 3,
    limits: Optional[Mapping[str, Tuple[float, float]]] = None,
) -> Recommendation:
    """Recommend the next experiment for one machine x tool, with its reason and its runs.

    ``runs``: one row per run, coded factor columns and the response; a row whose response is
    missing (NaN) is a run that was planned and lost. Either a 2-level design (factorial points,
    all-zero centre points) or a second-order design (a central composite design built from one,
    or any points a full quadratic can be fitted to).

    The rule, first match wins, and why it is in this order:

    0. **rerun** -- a planned design point has no completed run (a run aborted by chipping, a run
       never finished; known from NaN rows, from ``design``, or because the corner points no
       longer form a full or regular fractional factorial). Everything else depends on a design
       that estimates what it was planned to, and the lost points are the cheapest runs to restore
       it (:func:`analyze_incomplete` tells which terms are lost meanwhile). A lost replicate of a
       point that still has a completed run is not re-run: the analysis handles unequal
       replication. details: ``missing_points``, ``non_estimable``, ``max_abs_correlation``.
    1. **fold_over** -- a significant effect is aliased with a main effect or a two-factor
       interaction (a resolution III or IV ambiguity that matters; aliases of order 3 and up are
       neglected, the sparsity-of-effects principle). Until it is resolved, neither the direction
       to move nor a curvature model can be trusted. The fold is the one that breaks the most of
       the defining words causing those aliasings: single-factor when one factor is in all of
       them (that factor; the significant one first), full when that breaks them all (resolution
       III to IV), else the fewest factors. Runs: the distinct factorial points folded, plus as many
       centre points as the parent had. details: ``on``, ``ambiguous``, ``words_broken``, ``words``.
    2. **augment_axial** -- the centre points show significant curvature (the curvature row of
       :func:`analyze_factorial`): the optimum is probably inside the region, where a first-order
       model is wrong, so moving would be a mistake; axial points (at ``axial_alpha``: rotatable
       n_F^(1/4) by default, clipped to ``limits``) and ``center_points`` more centre points
       complete a central composite design for a second-order model. If the fraction's
       two-factor interactions are aliased with each other, axial points cannot separate them and
       a fold-over is recommended first (kind 'fold_over'). details: ``alpha``,
       ``curvature_effect``, ``curvature_p_value``.
    3. **steepest_ascent** -- no curvature (or no centre points to test it) and the model has main
       effects, so the best settings are a corner: on the boundary of the region, and better ones
       probably lie beyond it. Runs: steps 1..``n_steps`` of :func:`steepest_ascent` on the main
       effects of the reduced (significant + hierarchy) model -- a factor with no detectable effect
       is not moved -- clipped to ``limits``; skipped when the limits leave no step outside the
       region. details: ``step_factor``, ``delta``, ``first_order``.
    4. **replicate** -- only with ``relevant_effect`` (the effect size worth detecting, in the
       analysed response's units, ln units with ``log_response``): if the design's power to detect
       it (:func:`power_two_level` with the error sd estimated from the analysis: the ANOVA's
       residual mean square, or Lenth's PSE x sqrt(N)/2) is below ``target_power``, a negative
       answer would mean nothing: replicate the factorial points, as many times more as
       :func:`replicates_for_power` says. details: ``power``, ``sigma``, ``n_replicates`` (more),
       ``replicates_now``, ``replicates_needed``.
    5. **confirm** -- nothing left to resolve: ``n_confirm`` runs at the best settings
       (:func:`optimal_settings`; factors not in the model at the centre), with the prediction
       interval each should fall in. details: ``settings``, ``predicted``, ``pi_low``, ``pi_high``.

    For a second-order design, rules 1, 2 and 4 do not apply (the model already has curvature);
    rule 3 becomes: if the fitted surface's stationary point is the wanted optimum (maximum when
    maximising) and lies in the region (within each factor's largest |level| and the largest
    distance of a run from the centre), **confirm** there; otherwise the best settings are on the
    region's boundary (a saddle, the wrong kind of optimum, or one outside the region): **steepest
    ascent** from the centre along the fitted surface's gradient there (its first-order
    coefficients), or, when the limits leave no room, **confirm** at the best point of the fitted
    surface within the region. Raises ``ValueError`` if the second-order model cannot be fitted.

    ``limits``: optional {factor: (low, high)} in coded units, what the machine can run; used to
    clip axial and step points and to see whether moving is possible. ``log_response``: analyse
    ln(response) (tool life); predictions and intervals are back-transformed.
    """
    factors = check_inputs(runs, factors, response)
    alpha = check_alpha(alpha)
    target_power = float(target_power)
    if not 0.0 < target_power < 1.0:
        raise ValueError(f"target_power must be in (0, 1), got {target_power}")
    if relevant_effect is not None:
        relevant_effect = float(relevant_effect)
        if not np.isfinite(relevant_effect) or relevant_effect == 0:
            raise ValueError(f"relevant_effect must be a non-zero number, got {relevant_effect}")
    if int(n_confirm) < 1:
        raise ValueError(f"n_confirm must be >= 1, got {n_confirm}")
    limits = _check_limits(limits, factors)
    X_all = _levels(runs, factors)
    y_all = response_values(runs, response, False, missing_ok=True)
    completed = np.isfinite(y_all)
    if not completed.any():
        raise ValueError("no completed run (every response is missing)")
    if design is not None:
        if not isinstance(design, pd.DataFrame):
            raise TypeError(f"design must be a pandas DataFrame, got {type(design).__name__}")
        miss = [f for f in factors if f not in design.columns]
        if miss:
            raise ValueError(f"design lacks factor column(s) {miss}")
    runs_c = runs.loc[completed, [*factors, response]].reset_index(drop=True)

    rec = _rule_rerun(runs_c, X_all, completed, factors, response, design, alpha, log_response)
    if rec is not None:
        return rec
    common = dict(alpha=alpha, maximize=bool(maximize), log_response=log_response, n_steps=n_steps,
                  n_confirm=int(n_confirm), limits=limits)
    if _is_two_level(X_all[completed]):
        return _two_level(runs_c, factors, response, relevant_effect=relevant_effect, target_power=target_power,
                          axial_alpha=axial_alpha, center_points=center_points, **common)
    return _second_order(runs_c, factors, response, **common)
