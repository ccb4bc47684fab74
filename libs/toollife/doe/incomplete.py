"""Least-squares analysis of a 2-level factorial that lost runs (as Minitab does for missing data).

:func:`toollife.doe.analyze_factorial` needs its factorial points to form a full 2^k design or
a regular 2^(k-p) fraction and raises otherwise. When a run aborts (the tool chipped) or never
finished, the remaining points are neither. Here the *planned* design is reconstructed, the terms
it would have estimated are taken as candidates, and the remaining runs are analysed by least
squares with every candidate term they still support:

1. **Planned design.** Either the ``design`` given, or the smallest regular fraction containing
   every point that was run or attempted: a regular 2^(k-p) fraction (with any signs in its
   generators) is an affine subspace of GF(2)^k, so the smallest one containing a set of points
   is their affine hull. Rows whose response is missing (NaN) are attempted runs that were lost.
   A 2^k or 2^(k-p) design that lost one point spans the same hull, so the lost point is found
   without being told.
2. **Candidate terms** are the estimable terms (alias-class representatives, effects-table order)
   of the planned design, with its alias strings.
3. **Estimability.** Candidate columns are taken in effects-table order (main effects, then
   two-factor interactions, ...) and a term is kept when its column is linearly independent of
   the intercept and the terms already kept (Gram-Schmidt). So the highest-order terms are the
   ones lost, as in Minitab ("the following terms cannot be estimated and were removed").
4. **Tests.** With residual degrees of freedom: t tests from MSE (X'X)^-1, exactly as
   ``analyze_factorial``. A saturated fit (no residual df): Lenth's method on the effects
   standardised by their own standard-error factor sqrt((X'X)^-1_jj), which for an orthogonal
   design is Lenth's method itself.

On a complete design the results equal :func:`analyze_factorial` (same rows, same numbers up to
rounding). Non-orthogonality is reported: ``correlations`` (pairs of estimates that are now
correlated), ``vif`` and ``alias_matrix`` (how much each non-estimable term, if real, biases the
estimates that remain).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy import stats

from .factorial import CURVATURE_TERM, RESULT_COLUMNS
from .kernel import (
    affine_hull,
    alias_classes,
    bits_to_levels,
    check_alpha,
    check_inputs,
    coded_levels,
    format_aliases,
    lenth,
    point_bits,
    response_values,
    sequential_independent,
    term_columns,
    term_name,
)

__all__ = ["analyze_incomplete", "IncompleteAnalysis"]


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class IncompleteAnalysis:
    """Result of :func:`analyze_incomplete`.

    effects        the effects table, :data:`RESULT_COLUMNS`, estimable terms only (+ 'curvature')
    non_estimable  candidate terms of the planned design the remaining runs cannot estimate
    correlations   DataFrame ``term_1, term_2, correlation``: pairs of estimated terms whose
                   estimates are now correlated (|r| > 1e-9), largest |r| first; empty for an
                   orthogonal design
    vif            pandas Series: variance inflation factor of each estimated term (1 = orthogonal)
    alias_matrix   DataFrame, rows 'Intercept' and the estimated terms, one column per
                   non-estimable term: the bias of each estimated coefficient per unit of that
                   term's coefficient, (X1'X1)^-1 X1'X2 (effects are biased the same way)
    missing_points DataFrame: one coded row per planned design point with no completed run,
                   columns = factors + ``n_lost`` (planned runs lost there, at least 1)
    n_runs         completed runs analysed
    n_lost         planned runs lost in all: those at the missing points plus lost replicates of
                   points that still have a completed run (which need no re-run to be analysed)
    df_resid, method ('anova' | 'lenth')
    """

    effects: pd.DataFrame
    non_estimable: List[str]
    correlations: pd.DataFrame
    vif: pd.Series
    alias_matrix: pd.DataFrame
    missing_points: pd.DataFrame
    n_runs: int
    n_lost: int
    df_resid: int
    method: str
    factors: Tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        """No design point lost and every candidate term estimable."""
        return not self.non_estimable and self.missing_points.empty


# --------------------------------------------------------------------------- helpers


def _planned_points(levels_all: np.ndarray, design_levels: Optional[np.ndarray], k: int):
    """(planned factorial bit masks, planned-run counts per point code, centre planned?, group)."""
    if design_levels is not None:
        src = design_levels
    else:
        src = levels_all
    fact = (src != 0).all(axis=1)
    fbits = point_bits(src[fact])
    obs_fact = (levels_all != 0).all(axis=1)
    hull_src = fbits if len(fbits) else point_bits(levels_all[obs_fact])
    if len(hull_src) == 0:
        raise ValueError("design has no factorial (+/-1) runs")
    hull_pts, group = affine_hull(np.asarray(hull_src), k)
    planned = np.unique(fbits) if design_levels is not None else hull_pts
    return planned, bool((~fact).any()), group, src


def incomplete_layout(levels_all: np.ndarray, completed: np.ndarray, factors: Sequence[str],
                      design_levels: Optional[np.ndarray] = None) -> Dict[str, object]:
    """Planned design, candidate terms and the missing points; shared with ``recommend_next``."""
    k = len(factors)
    planned, centre_planned, group, src = _planned_points(levels_all, design_levels, k)
    lv = levels_all[completed]
    is_fact = (lv != 0).all(axis=1)
    done_bits = set(int(b) for b in point_bits(lv[is_fact]))
    src_fact = (src != 0).all(axis=1)
    src_bits = point_bits(src[src_fact])
    if design_levels is None:                     # lost attempts (NaN rows) count as planned runs
        lost_bits = point_bits(levels_all[~completed & (levels_all != 0).all(axis=1)])
        count_bits = lost_bits
    else:
        count_bits = src_bits
    missing = [int(b) for b in planned if int(b) not in done_bits]
    n_lost = [max(1, int(np.sum(count_bits == b))) for b in missing]
    rows = bits_to_levels(np.array(missing, dtype=np.int64), k) if missing else np.zeros((0, k), np.int64)
    src_centre = ~src_fact
    if design_levels is None:
        n_c_planned = int(((levels_all == 0).all(axis=1)).sum())
    else:
        n_c_planned = int(src_centre.sum())
    n_c_done = int((~is_fact).sum())
    if centre_planned and n_c_done == 0:
        rows = np.vstack([rows, np.zeros((1, k), np.int64)])
        n_lost.append(max(1, n_c_planned))
    missing_df = pd.DataFrame(rows, columns=list(factors))
    missing_df["n_lost"] = np.array(n_lost, dtype=np.int64)
    # runs lost in all: lost points plus lost replicates of points that still have a completed run
    if design_levels is None:
        extra = int(np.sum(~np.isin(lost_bits, missing)))
        extra += int(((levels_all == 0).all(axis=1) & ~completed).sum()) if n_c_done else 0
    else:
        done_list = list(point_bits(lv[is_fact]))
        extra = 0
        for b in np.unique(src_bits):
            if int(b) in done_bits:
                extra += max(0, int(np.sum(src_bits == b)) - done_list.count(int(b)))
        if n_c_done:
            extra += max(0, n_c_planned - n_c_done)
    n_lost_total = int(sum(n_lost)) + extra
    classes = alias_classes(k, group)
    return {"group": group, "classes": classes, "missing": missing_df, "levels": lv, "is_factorial": is_fact,
            "n_lost": n_lost_total}


# --------------------------------------------------------------------------- public API
def analyze_incomplete(
    runs: pd.DataFrame,
    factors: Sequence[str],
    response: str,
    *,
    alpha: float = 0.05,
    log_response: bool = False,
    design: Optional[pd.DataFrame] = None,
) -> IncompleteAnalysis:
    """Analyse a 2-level factorial (full or regular fraction, centre points allowed) with lost runs.

    Parameters
    ----------
    runs : one row per run, coded factor columns (-1/+1, all-0 centre runs) and the response.
        Rows whose response is missing (NaN) are runs that were attempted and lost.
    factors, response, alpha, log_response : as :func:`analyze_factorial`.
    design : optional planned design (coded factor columns, one row per planned run). Without
        it the planned design is the smallest regular fraction (affine hull) containing every
        point in ``runs``; centre points are known to be planned only through rows in ``runs``.

    Returns an :class:`IncompleteAnalysis`; its ``effects`` has :data:`RESULT_COLUMNS` and the
    estimable terms in effects-table order (then ``'curvature'`` when centre runs were completed),
    ``aliases`` being the planned design's alias sets. Equal to :func:`analyze_factorial` on a
    complete design.

    Raises ``ValueError`` on bad columns or levels (as ``analyze_factorial``), when no factorial
    run was completed, or when the remaining runs leave neither error df nor the >= 3 effects
    Lenth's method needs.
    """
    factors = check_inputs(runs, factors, response)
    alpha = check_alpha(alpha)
    levels_all = coded_levels(runs, factors)
    y_all = response_values(runs, response, log_response, missing_ok=True)
    completed = np.isfinite(y_all)
    design_levels = None
    if design is not None:
        if not isinstance(design, pd.DataFrame):
            raise TypeError(f"design must be a pandas DataFrame, got {type(design).__name__}")
        miss = [f for f in factors if f not in design.columns]
        if miss:
            raise ValueError(f"design lacks factor column(s) {miss}")
        design_levels = coded_levels(design, factors)
    if not completed.any():
        raise ValueError("no completed run (every response is missing)")
    info = incomplete_layout(levels_all, completed, factors, design_levels)
    lv, is_fact = info["levels"], info["is_factorial"]
    y = y_all[completed]
    if not is_fact.any():
        raise ValueError("no completed factorial (+/-1) run")
    classes = info["classes"]
    masks = [rep for rep, _ in classes]
    terms = [term_name(rep, factors) for rep in masks]
    aliases = [format_aliases(others, factors) for _, others in classes]
    has_center = bool((~is_fact).any())
    Xt = term_columns(lv, masks)
    # the centre indicator goes before the terms in the estimability check: centre runs inform
    # only the intercept and curvature, so a term must be estimable from the factorial runs
    lead = [np.ones(len(lv))] + ([(~is_fact).astype(float)] if has_center else [])
    keep = sequential_independent(np.column_stack(lead + [Xt]))[len(lead):]
    kept = np.flatnonzero(keep)
    dropped = np.flatnonzero(~keep)
    X = np.column_stack([np.ones(len(lv)), Xt[:, kept]] + ([(~is_fact).astype(float)] if has_center else []))
    m = len(kept)
    df = len(y) - X.shape[1]
    if df == 0 and m < 3:
        raise ValueError(
            f"too few runs: the {len(y)} remaining runs estimate {m} effect(s) with no error estimate; "
            "re-run the lost points"
        )
    XtX_inv = np.linalg.inv(X.T @ X)
    beta = XtX_inv @ (X.T @ y)
    diag = np.diag(XtX_inv)
    eff = 2.0 * beta[1:1 + m]
    with np.errstate(divide="ignore", invalid="ignore"):
        if df > 0:
            method = "anova"
            mse = float(((y - X @ beta) ** 2).sum() / df)
            se = 2.0 * np.sqrt(mse * diag[1:1 + m])
            tv = eff / se
            pv = 2.0 * stats.t.sf(np.abs(tv), df)
            sig = pv < alpha
        else:
            method = "lenth"
            scale = np.sqrt(diag[1:1 + m])
            z = eff / scale
            pse, me, d = lenth(z[None, :], alpha)
            se = pse[0] * scale
            tv = eff / se
            pv = 2.0 * stats.t.sf(np.abs(tv), d)
            sig = np.abs(z) > me[0]
        cols = {
            "term": [terms[j] for j in kept], "effect": list(eff), "coefficient": list(eff / 2.0),
            "std_error": list(se), "t_value": list(tv), "p_value": list(pv), "significant": list(sig),
            "method": [method] * m, "aliases": [aliases[j] for j in kept],
        }
        if has_center:
            ceff = -beta[-1]
            if method == "anova":
                cse = np.sqrt(mse * diag[-1])
                ct = ceff / cse
                cp = 2.0 * stats.t.sf(abs(ct), df)
            else:
                cse = ct = cp = np.nan
            for key, v in zip(("term", "effect", "coefficient", "std_error", "t_value", "p_value", "significant",
                               "method", "aliases"),
                              (CURVATURE_TERM, ceff, ceff, cse, ct, cp, bool(cp < alpha), method, "")):
                cols[key].append(v)
    effects = pd.DataFrame(cols, columns=RESULT_COLUMNS)
    effects["significant"] = effects["significant"].astype(bool)
    for c in ("effect", "coefficient", "std_error", "t_value", "p_value"):
        effects[c] = effects[c].astype(float)

    kept_terms = [terms[j] for j in kept]
    V = XtX_inv[1:1 + m, 1:1 + m]
    sd = np.sqrt(np.diag(V))
    R = V / np.outer(sd, sd)
    iu = np.triu_indices(m, 1)
    r = R[iu]
    sel = np.abs(r) > 1e-9
    correlations = pd.DataFrame({
        "term_1": [kept_terms[i] for i in iu[0][sel]],
        "term_2": [kept_terms[j] for j in iu[1][sel]],
        "correlation": r[sel],
    })
    correlations = correlations.reindex(correlations["correlation"].abs().sort_values(ascending=False, kind="stable").index)
    correlations = correlations.reset_index(drop=True)
    ss = ((Xt[:, kept] - Xt[:, kept].mean(axis=0)) ** 2).sum(axis=0)
    vif = pd.Series(np.diag(V) * ss, index=kept_terms, name="vif")
    X2 = Xt[:, dropped]
    A = XtX_inv @ (X.T @ X2) if len(dropped) else np.zeros((X.shape[1], 0))
    alias_matrix = pd.DataFrame(A[:1 + m], index=["Intercept", *kept_terms], columns=[terms[j] for j in dropped])
    missing = info["missing"]
    return IncompleteAnalysis(
        effects=effects,
        non_estimable=[terms[j] for j in dropped],
        correlations=correlations,
        vif=vif,
        alias_matrix=alias_matrix,
        missing_points=missing,
        n_runs=int(len(y)),
        n_lost=int(info["n_lost"]),
        df_resid=int(df),
        method=method,
        factors=tuple(factors),
    )
