"""Many groups (machine x tool) in one call -- the path a Spark ``applyInPandas`` uses.

A Python loop of :func:`analyze_factorial` over thousands of groups spends its time in pandas
overhead. Here every group is analysed by the same batched numpy code the single-group
functions use (``analyze_core``/``optimal_core``/``taylor_core``), so results are equal to
the per-group functions by construction, only computed for a whole block at once:

1. rows are sorted by (group, design point) and each group gets a *design signature* -- its
   sorted sequence of design-point codes (padded to the longest group);
2. groups with the same signature (same layout, same replication, same centre points) form a
   bucket; each bucket's responses become a ``(n_groups, n_runs)`` matrix, so effects for all
   of them are a single matrix product ``Y @ X (X'X)^-1``, Lenth's PSE a row-wise median, and
   t quantiles/p-values one vectorised scipy call.

Groups with different designs in one call are fine (one bucket each). Output is ordered like
``runs.groupby(group_cols, sort=True)`` and, within a group, like the single-group function.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
import pandas as pd

from .factorial import RESULT_COLUMNS, effect_row_labels
from .kernel import (
    analyze_core,
    check_alpha,
    check_inputs,
    coded_levels,
    design_layout,
    identical_rows,
    point_codes,
    response_values,
)
from .optimize import OPTIMAL_KEYS, finish_optimal, kept_from_significance, optimal_core
from .taylor import TAYLOR_KEYS, taylor_core, taylor_matrix

__all__ = ["analyze_factorial_groups", "optimal_settings_groups", "fit_taylor_groups"]


def _group_index(runs: pd.DataFrame, group_cols: Sequence[str]) -> Tuple[np.ndarray, pd.DataFrame]:
    """Group id per row (in sorted-key order) and the key frame (one row per group)."""
    if isinstance(group_cols, str):
        group_cols = [group_cols]
    group_cols = list(group_cols)
    if not group_cols:
        raise ValueError("group_cols must name at least one column")
    missing = [c for c in group_cols if c not in runs.columns]
    if missing:
        raise ValueError(f"missing group column(s) {missing}; available columns: {list(runs.columns)}")
    gid = runs.groupby(group_cols, sort=True, dropna=False, observed=True).ngroup().to_numpy(dtype=np.int64)
    G = int(gid.max()) + 1 if len(gid) else 0
    first = np.full(G, len(gid), dtype=np.int64)
    np.minimum.at(first, gid, np.arange(len(gid)))
    keys = runs[group_cols].iloc[first].reset_index(drop=True)
    return gid, keys


def _key_text(keys: pd.DataFrame, g: int) -> str:
    return ", ".join(f"{c}={keys.iloc[g][c]!r}" for c in keys.columns)


class _Buckets:
    """Rows sorted by (group, design point) and groups bucketed by design signature."""

    def __init__(self, levels: np.ndarray, y: np.ndarray, gid: np.ndarray, n_groups: int):
        code = point_codes(levels)
        base = 3 ** levels.shape[1]                     # codes are < 3^k
        order = np.argsort(gid * base + code, kind="stable")   # ties keep input order
        self.levels = levels[order]
        self.y = y[order]
        gs = gid[order]
        self.counts = np.bincount(gs, minlength=n_groups)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        pos = np.arange(len(gs)) - self.starts[gs]
        sig = np.full((n_groups, int(self.counts.max())), -1, dtype=np.int64)
        sig[gs, pos] = code[order]
        self.buckets: List[np.ndarray] = identical_rows(sig)

    def block(self, groups: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(levels of the shared layout, (G_b, n) response matrix) of one bucket."""
        n = int(self.counts[groups[0]])
        s0 = int(self.starts[groups[0]])
        idx = self.starts[groups][:, None] + np.arange(n)
        return self.levels[s0:s0 + n], self.y[idx]


def _prepare(runs, group_cols, factors, response, log_response):
    factors = check_inputs(runs, factors, response, extra=list(group_cols) if not isinstance(group_cols, str) else [group_cols])
    gid, keys = _group_index(runs, group_cols)
    levels = coded_levels(runs, factors)
    y = response_values(runs, response, log_response)
    return factors, gid, keys, _Buckets(levels, y, gid, len(keys)) if len(keys) else None


def _bucket_layout(lv, factors, keys, groups):
    try:
        return design_layout(lv, factors)
    except ValueError as err:
        raise ValueError(f"group {_key_text(keys, int(groups[0]))} ({len(groups)} group(s) with this design): {err}") from None


def _assemble(keys: pd.DataFrame, gid: np.ndarray, cols: Dict[str, np.ndarray], order_cols: Sequence[str]) -> pd.DataFrame:
    out = keys.take(gid).reset_index(drop=True)
    for c in order_cols:
        out[c] = cols[c]
    return out


def analyze_factorial_groups(
    runs: pd.DataFrame,
    group_cols: Sequence[str],
    factors: Sequence[str],
    response: str,
    *,
    alpha: float = 0.05,
    log_response: bool = False,
) -> pd.DataFrame:
    """:func:`analyze_factorial` for every group of ``runs`` at once.

    Returns the group columns followed by :data:`RESULT_COLUMNS`, one row per group x term,
    equal to applying :func:`analyze_factorial` to each group (groups in sorted key order).
    Input errors raise ``ValueError`` naming a group with the offending design.
    """
    alpha = check_alpha(alpha)
    group_cols = [group_cols] if isinstance(group_cols, str) else list(group_cols)
    factors, gid, keys, bk = _prepare(runs, group_cols, factors, response, log_response)
    if bk is None:
        return pd.DataFrame(columns=[*group_cols, *RESULT_COLUMNS])
    G = len(keys)
    blocks = []
    rows_per_group = np.zeros(G, dtype=np.int64)
    for groups in bk.buckets:
        lv, Y = bk.block(groups)
        lay = _bucket_layout(lv, factors, keys, groups)
        terms, aliases = effect_row_labels(lay)
        rows_per_group[groups] = len(terms)
        blocks.append((groups, lay, terms, aliases, analyze_core(lay, Y, alpha)))
    # place every bucket's (G_b, r) block straight into its rows of the output (group-major)
    offsets = np.concatenate([[0], np.cumsum(rows_per_group)[:-1]])
    total = int(rows_per_group.sum())
    cols: Dict[str, np.ndarray] = {key: np.empty(total) for key in ("effect", "coefficient", "std_error", "t_value", "p_value")}
    cols["significant"] = np.empty(total, dtype=bool)
    labels: Dict[str, List[str]] = {"term": [], "aliases": [], "method": []}
    codes = {key: np.empty(total, dtype=np.int64) for key in labels}
    for groups, lay, terms, aliases, res in blocks:
        r = len(terms)
        pos = (offsets[groups][:, None] + np.arange(r)).ravel()
        for key in ("effect", "coefficient", "std_error", "t_value", "p_value", "significant"):
            cols[key][pos] = res[key].ravel()
        for key, vals in (("term", terms), ("aliases", aliases), ("method", [lay.method] * r)):
            base = len(labels[key])
            labels[key].extend(vals)
            codes[key][pos] = np.tile(np.arange(base, base + r), len(groups))
    for key in labels:
        cols[key] = np.array(labels[key], dtype=object)[codes[key]]
    return _assemble(keys, np.repeat(np.arange(G), rows_per_group), cols, RESULT_COLUMNS)


def optimal_settings_groups(
    runs: pd.DataFrame,
    group_cols: Sequence[str],
    factors: Sequence[str],
    response: str,
    *,
    maximize: bool = True,
    alpha: float = 0.05,
    log_response: bool = False,
) -> pd.DataFrame:
    """:func:`optimal_settings` (effects computed internally) for every group at once.

    One row per group: the group columns, ``terms`` (kept terms joined by ``', '``), one
    ``coded_<factor>`` column per factor (-1.0/+1.0, NaN where the single-group dict has
    None), then ``predicted, ci_low, ci_high, pi_low, pi_high, method, df_resid``.
    """
    alpha = check_alpha(alpha)
    group_cols = [group_cols] if isinstance(group_cols, str) else list(group_cols)
    factors, gid, keys, bk = _prepare(runs, group_cols, factors, response, log_response)
    coded_cols = [f"coded_{f}" for f in factors]
    columns = ["terms", *coded_cols, *OPTIMAL_KEYS]
    if bk is None:
        return pd.DataFrame(columns=[*group_cols, *columns])
    G = len(keys)
    res: Dict[str, np.ndarray] = {
        "terms": np.empty(G, dtype=object), "coded": np.full((G, len(factors)), np.nan),
        "method": np.empty(G, dtype=object), "df_resid": np.zeros(G, dtype=np.int64),
        **{key: np.full(G, np.nan) for key in ("predicted", "ci_low", "ci_high", "pi_low", "pi_high")},
    }
    for groups in bk.buckets:
        lv, Y = bk.block(groups)
        lay = _bucket_layout(lv, factors, keys, groups)
        sig = analyze_core(lay, Y, alpha)["significant"][:, : lay.m]
        keep = kept_from_significance(lay, sig)
        patterns, pinv = np.unique(keep, axis=0, return_inverse=True)
        pinv = pinv.reshape(-1)
        Yf = Y[:, lay.is_factorial]
        for p, pattern in enumerate(patterns):
            sel = np.flatnonzero(pinv == p)
            out = optimal_core(lay, Yf[sel], pattern, maximize, alpha)
            finish_optimal(lay, out, log_response)
            g = groups[sel]
            res["terms"][g] = ", ".join(t for t, kp in zip(lay.terms, pattern) if kp)
            res["method"][g] = lay.method
            res["coded"][g] = out["coded"]
            for key in ("predicted", "ci_low", "ci_high", "pi_low", "pi_high", "df_resid"):
                res[key][g] = out[key]
    cols = {"terms": res["terms"], "method": res["method"], "df_resid": res["df_resid"]}
    cols.update({c: res["coded"][:, j] for j, c in enumerate(coded_cols)})
    cols.update({key: res[key] for key in ("predicted", "ci_low", "ci_high", "pi_low", "pi_high")})
    return _assemble(keys, np.arange(G), cols, columns)


def fit_taylor_groups(
    runs: pd.DataFrame,
    group_cols: Sequence[str],
    *,
    speed: str = "cutting_speed",
    feed: str = "feed",
    depth: str = "depth_of_cut",
    coolant: str | None = "coolant",
    coating: str | None = "coating",
    life: str = "tool_life_min",
    coolant_level: str = "flood",
    coating_level: str = "TiAlN",
) -> pd.DataFrame:
    """:func:`fit_taylor` for every group at once: group columns + :data:`TAYLOR_KEYS`.

    Batched normal equations (per-group X'X via ``np.add.reduceat``). Unlike the single-group
    function, a group whose fit is impossible (speed/feed/depth constant, too few runs) does
    not fail the batch: its row is NaN.
    """
    gid, keys = _group_index(runs, group_cols)
    X, y = taylor_matrix(runs, speed, feed, depth, coolant, coating, life, coolant_level, coating_level)
    if not len(keys):
        return pd.DataFrame(columns=[*keys.columns, *TAYLOR_KEYS])
    order = np.argsort(gid, kind="stable")
    counts = np.bincount(gid, minlength=len(keys))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    res = taylor_core(X[order], y[order], starts)
    return _assemble(keys, np.arange(len(keys)), res, TAYLOR_KEYS)
