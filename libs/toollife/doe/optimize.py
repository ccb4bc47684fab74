"""Reduced (hierarchical) model and best factor settings with confidence/prediction intervals.

After screening, Montgomery (§6.5) refits the model with the significant effects only, keeping
every lower-order term an interaction needs (effect hierarchy: an A:C interaction is
interpreted with A and C in the model). The best settings are the corner of the design space
that maximises (or minimises) the reduced model's prediction; the intervals use the reduced
model's residual MSE, which pools the dropped effects into error.
"""
from __future__ import annotations

from itertools import combinations
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .factorial import CURVATURE_TERM, prepare_design
from .kernel import Layout, analyze_core, mask_bits, term_columns

__all__ = ["reduce_model", "optimal_settings", "OPTIMAL_KEYS"]

#: scalar keys of :func:`optimal_settings` besides ``terms`` and ``coded``
OPTIMAL_KEYS = ["predicted", "ci_low", "ci_high", "pi_low", "pi_high", "method", "df_resid"]


def reduce_model(effects: pd.DataFrame, factors: Sequence[str]) -> List[str]:
    """Significant terms plus every lower-order term they need for hierarchy.

    ``effects`` is an :func:`analyze_factorial` table. A needed sub-term that is aliased in a
    fractional design is represented by the term reported for its alias set. The curvature
    row is ignored. Terms are returned in the effects table's order.
    """
    factors = list(factors)
    missing = [c for c in ("term", "significant") if c not in effects.columns]
    if missing:
        raise ValueError(f"effects table lacks column(s) {missing}")
    rows = effects[effects["term"] != CURVATURE_TERM]
    order = list(rows["term"])
    # every name (term or alias) -> the term that reports its alias set
    rep_of: Dict[str, str] = {t: t for t in order}
    if "aliases" in rows.columns:
        for t, al in zip(rows["term"], rows["aliases"]):
            for a in str(al or "").split(","):
                a = a.strip().lstrip("-")
                if a:
                    rep_of[a] = t
    pos = {f: i for i, f in enumerate(factors)}
    keep = set()
    todo = list(rows.loc[rows["significant"].astype(bool), "term"])
    while todo:                      # closure: a needed term's own sub-terms are needed too
        t = todo.pop()
        if t in keep:
            continue
        keep.add(t)
        parts = t.split(":")
        unknown = [p for p in parts if p not in pos]
        if unknown:
            raise ValueError(f"term {t!r} uses {unknown}, not in factors {factors}")
        parts = sorted(parts, key=pos.__getitem__)
        for r in range(1, len(parts)):
            for sub in combinations(parts, r):
                name = ":".join(sub)
                if name in rep_of and rep_of[name] not in keep:
                    todo.append(rep_of[name])
    return [t for t in order if t in keep]


def _hierarchy_matrix(lay: Layout) -> np.ndarray:
    """H[i, j] = term j is needed (as a lower-order term) by term i."""
    m = lay.m
    cls = {}
    for j, rep in enumerate(lay.rep_masks):
        for w in lay.group:
            cls[rep ^ w] = j
    H = np.zeros((m, m), dtype=bool)
    for i, rep in enumerate(lay.rep_masks):
        bits = mask_bits(rep)
        for r in range(1, len(bits)):
            for sub in combinations(bits, r):
                j = cls.get(sum(1 << b for b in sub))
                if j is not None and j != i:
                    H[i, j] = True
    for j in range(m):               # transitive closure (Warshall): needs of needed terms
        H |= H[:, [j]] & H[[j], :]
    return H


def optimal_core(lay: Layout, Yf: np.ndarray, keep: np.ndarray, maximize: bool, alpha: float) -> Dict[str, np.ndarray]:
    """Batched reduced-model fit for groups sharing the layout and the kept-term pattern.

    ``Yf`` is (G, n_factorial) (factorial runs of ``lay`` in order), ``keep`` a (m,) bool.
    """
    G = Yf.shape[0]
    k = len(lay.factors)
    masks = [mk for mk, kp in zip(lay.rep_masks, keep) if kp]
    lv = lay.levels[lay.is_factorial]
    X = np.column_stack([np.ones(len(lv)), term_columns(lv, masks)])
    XtX_inv = np.linalg.inv(X.T @ X)
    B = Yf @ (X @ XtX_inv)
    df = len(lv) - X.shape[1]
    model_bits = sorted({b for mk in masks for b in mask_bits(mk)})
    q = len(model_bits)
    idx = np.arange(1 << q)
    cand = np.zeros((1 << q, k), dtype=np.int8)
    for j, b in enumerate(model_bits):          # standard order over the model's factors
        cand[:, b] = np.where((idx >> j) & 1, 1, -1)
    Xc = np.column_stack([np.ones(1 << q), term_columns(cand, masks)])
    pred_all = B @ Xc.T
    best = np.argmax(pred_all, axis=1) if maximize else np.argmin(pred_all, axis=1)
    pred = pred_all[np.arange(G), best]
    x0 = Xc[best]
    h = np.einsum("gi,ij,gj->g", x0, XtX_inv, x0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if df > 0:
            mse = ((Yf - B @ X.T) ** 2).sum(axis=1) / df
            tq = stats.t.ppf(1 - alpha / 2, df)
            half_ci = tq * np.sqrt(mse * h)
            half_pi = tq * np.sqrt(mse * (1.0 + h))
        else:
            half_ci = half_pi = np.full(G, np.nan)
    coded = np.full((G, k), np.nan)
    coded[:, model_bits] = cand[best][:, model_bits]
    return {
        "coded": coded, "predicted": pred,
        "ci_low": pred - half_ci, "ci_high": pred + half_ci,
        "pi_low": pred - half_pi, "pi_high": pred + half_pi,
        "df_resid": np.full(G, df),
    }


def kept_from_significance(lay: Layout, sig: np.ndarray) -> np.ndarray:
    """(G, m) significance -> (G, m) kept terms with hierarchy closure."""
    H = _hierarchy_matrix(lay)
    return sig | ((sig.astype(np.int64) @ H.astype(np.int64)) > 0)


def finish_optimal(lay: Layout, res: Dict[str, np.ndarray], log_response: bool) -> None:
    if log_response:
        for key in ("predicted", "ci_low", "ci_high", "pi_low", "pi_high"):
            res[key] = np.exp(res[key])


def optimal_settings(
    runs: pd.DataFrame,
    factors: Sequence[str],
    response: str,
    *,
    effects: Optional[pd.DataFrame] = None,
    maximize: bool = True,
    alpha: float = 0.05,
    log_response: bool = False,
) -> dict:
    """Best coded settings of the reduced model, with predicted mean and intervals.

    The reduced model (:func:`reduce_model` on ``effects``, computed with
    :func:`analyze_factorial` if not given) is refitted by least squares on the factorial runs
    (centre runs are not used). All 2^q corners of the q factors in the model are scored and the
    best one (first in standard order on ties) is returned.

    Returns a dict: ``terms`` (kept terms), ``coded`` {factor: -1/+1, or None when the factor
    is not in the model and may be set freely}, ``predicted``, ``ci_low``/``ci_high``
    (1-alpha confidence interval of the mean), ``pi_low``/``pi_high`` (1-alpha prediction
    interval of one new run), ``method`` (how the effects were screened: 'anova'/'lenth') and
    ``df_resid`` of the reduced model. Intervals are NaN if the reduced model leaves no
    residual df.

    With ``log_response`` the model is fitted to ln(response) and the prediction and interval
    bounds are back-transformed with exp: the prediction is then the *median* (not the mean)
    on the original scale -- the natural summary for lognormal tool life.
    """
    factors, alpha, lay, y = prepare_design(runs, factors, response, alpha, log_response)
    if effects is None:
        res = analyze_core(lay, y[None, :], alpha)
        keep = kept_from_significance(lay, res["significant"][:, : lay.m])[0]
        method = lay.method
    else:
        kept_names = reduce_model(effects, factors)
        unknown = [t for t in kept_names if t not in lay.terms]
        if unknown:
            raise ValueError(f"effects terms {unknown} are not estimable terms of this design {list(lay.terms)}")
        keep = np.array([t in kept_names for t in lay.terms])
        method = str(effects["method"].iloc[0]) if "method" in effects.columns and len(effects) else ""
    out = optimal_core(lay, y[None, lay.is_factorial], keep, maximize, alpha)
    finish_optimal(lay, out, log_response)
    coded = {f: (None if np.isnan(v) else int(v)) for f, v in zip(factors, out["coded"][0])}
    return {
        "terms": [t for t, kp in zip(lay.terms, keep) if kp],
        "coded": coded,
        "predicted": float(out["predicted"][0]),
        "ci_low": float(out["ci_low"][0]),
        "ci_high": float(out["ci_high"][0]),
        "pi_low": float(out["pi_low"][0]),
        "pi_high": float(out["pi_high"][0]),
        "method": method,
        "df_resid": int(out["df_resid"][0]),
    }
