"""The shared kernel of the doe modules: what the designs, the analyses and the recommendation
all build on, in one place so that they cannot drift apart.

* term algebra: a term is a bit mask over the factors (bit i = factor i); names, effects-table
  order and the alias classes of a regular fraction's defining relation {word mask: sign};
* input checks: factor and response columns, alpha, coded levels (snapped to -1/0/+1);
* the 2-level model of one design layout (:class:`Layout`) and its batched least-squares
  analysis (:func:`analyze_core`), shared by ``analyze_factorial`` and the ``*_groups`` path;
* GF(2) geometry: points as bit masks, the affine hull (smallest regular fraction) of a set;
* numerics: Lenth's pseudo standard error, sequential independence of columns, a central-
  difference gradient for delta-method intervals, groups of identical rows.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy import stats

MAX_FACTORS = 15
LEVEL_TOLERANCE = 1e-9   # a coded level this close to -1, 0 or +1 is that level
RANK_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- term algebra
def mask_bits(mask: int) -> List[int]:
    out, i = [], 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return out


def term_order_key(mask: int) -> Tuple[int, List[int]]:
    """Sort key: interaction order first, then factor positions lexicographically.

    This is the row order of every effects table (A, B, C, A:B, A:C, B:C, A:B:C, ...), i.e.
    ``itertools.combinations`` order within each interaction order.
    """
    b = mask_bits(mask)
    return (len(b), b)


def term_name(mask: int, factors: Sequence[str]) -> str:
    return ":".join(factors[i] for i in mask_bits(mask))


def alias_classes(k: int, group: Mapping[int, int]) -> List[Tuple[int, List[Tuple[int, int]]]]:
    """Estimable alias classes of a regular 2^(k-p) design.

    Returns ``[(representative mask, [(alias mask, sign), ...]), ...]`` in :func:`term_order_key`
    order; the representative is the lowest-order member (ties by factor order), which is what
    a fractional design actually lets you interpret (sparsity of effects). ``sign`` is -1 when
    ``rep = -alias``. The class of the identity (the defining words) is not estimable and is
    omitted.
    """
    seen = set()
    classes = []
    for mask in sorted(range(1, 1 << k), key=term_order_key):
        if mask in seen:
            continue
        members = [(mask ^ w, s) for w, s in group.items()]
        seen.update(m for m, _ in members)
        if any(m == 0 for m, _ in members):
            continue
        others = sorted([(m, s) for m, s in members if m != mask], key=lambda ms: term_order_key(ms[0]))
        classes.append((mask, others))
    return classes


def format_aliases(others: Sequence[Tuple[int, int]], factors: Sequence[str]) -> str:
    return ", ".join(("-" if s < 0 else "") + term_name(m, factors) for m, s in others)


# --------------------------------------------------------------------------- input checks
def check_inputs(runs: pd.DataFrame, factors: Sequence[str], response: str, extra: Sequence[str] = ()) -> List[str]:
    if not isinstance(runs, pd.DataFrame):
        raise TypeError(f"runs must be a pandas DataFrame, got {type(runs).__name__}")
    if isinstance(factors, str):
        raise ValueError("factors must be a sequence of column names, not a single string")
    factors = list(factors)
    if not factors:
        raise ValueError("at least one factor is required")
    if len(set(factors)) != len(factors):
        raise ValueError(f"duplicate factor names in {factors}")
    if len(factors) > MAX_FACTORS:
        raise ValueError(f"at most {MAX_FACTORS} factors are supported, got {len(factors)}")
    if response in factors:
        raise ValueError(f"response {response!r} is also listed as a factor")
    missing = [c for c in [*factors, response, *extra] if c not in runs.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; available columns: {list(runs.columns)}")
    return factors


def check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return alpha


def snap_levels(x: np.ndarray, tol: float = LEVEL_TOLERANCE) -> np.ndarray:
    """``x`` with every value within ``tol`` of an integer set to that integer (others, NaN kept)."""
    x = np.asarray(x, dtype=float)
    r = np.round(x)
    return np.where(np.abs(x - r) <= tol, r, x) + 0.0      # + 0.0: -0.0 -> 0.0


def coded_levels(runs: pd.DataFrame, factors: Sequence[str]) -> np.ndarray:
    """(n, k) int8 matrix of coded levels; only -1/+1 runs and all-zero centre runs allowed."""
    try:
        raw = runs[list(factors)].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"factor columns {list(factors)} must be numeric coded levels -1/+1 (0 for centre points); "
            "convert natural units to coded units first"
        ) from None
    # levels computed in floating point (-0.9999999999999998 from (v - centre) / half) are the level
    raw = snap_levels(raw)
    ok = np.isin(raw, (-1.0, 0.0, 1.0))
    if not ok.all():
        bad = pd.unique(raw[~ok])[:5]
        raise ValueError(f"factor levels must be coded -1/+1 (0 for centre points); found {list(bad)}")
    lv = raw.astype(np.int8)
    zero = lv == 0
    partial = zero.any(axis=1) & ~zero.all(axis=1)
    if partial.any():
        i = int(np.flatnonzero(partial)[0])
        raise ValueError(
            f"run {runs.index[i]!r} has some factors at 0 and others at +/-1; only centre points with "
            "every factor at 0 are supported"
        )
    return lv


def response_values(runs: pd.DataFrame, response: str, log_response: bool, *, missing_ok: bool = False) -> np.ndarray:
    """The response as floats (ln of it with ``log_response``). ``missing_ok``: NaN marks a lost
    run and stays NaN (incomplete designs, recommendations), else a missing value raises."""
    try:
        y = runs[response].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"response column {response!r} must be numeric") from None
    fin = np.isfinite(y)
    if not missing_ok and not fin.all():
        raise ValueError(f"response column {response!r} has {int((~fin).sum())} missing/non-finite value(s)")
    if log_response:
        bad = fin & (y <= 0)
        if bad.any():
            raise ValueError(
                f"log_response=True needs a strictly positive response, but {response!r} has "
                f"{int(bad.sum())} value(s) <= 0 (min {y[fin].min():g})"
            )
        y = np.where(fin, np.log(np.where(fin, y, 1.0)), np.nan)
    return y

# --------------------------------------------------------------------------- the 2-level model of one design layout
def term_columns(levels: np.ndarray, masks: Sequence[int]) -> np.ndarray:
    out = np.ones((levels.shape[0], len(masks)))
    for j, m in enumerate(masks):
        for i in mask_bits(m):
            out[:, j] *= levels[:, i]
    return out


def all_products(points: np.ndarray) -> np.ndarray:
    """Column ``mask`` = product of the factors in ``mask`` (doubling construction)."""
    nd, k = points.shape
    p = np.ones((nd, 1 << k))
    for i in range(k):
        p[:, 1 << i: 1 << (i + 1)] = p[:, : 1 << i] * points[:, [i]]
    return p


@dataclass(frozen=True)
class Layout:
    """Everything about a design that does not depend on the response."""

    factors: Tuple[str, ...]
    levels: np.ndarray          # (n, k) coded levels, rows in analysis order
    is_factorial: np.ndarray    # (n,) bool
    n_factorial: int
    n_center: int
    rep_masks: Tuple[int, ...]  # estimable terms (alias-class representatives)
    terms: Tuple[str, ...]
    aliases: Tuple[str, ...]
    group: Dict[int, int]       # defining relation {word mask: sign}, identity included
    X: np.ndarray               # (n, 1 + m [+ 1 centre indicator])
    XtX_inv: np.ndarray
    df_resid: int
    method: str                 # 'anova' or 'lenth'

    @property
    def m(self) -> int:
        return len(self.rep_masks)

    @property
    def has_center(self) -> bool:
        return self.n_center > 0


def design_layout(levels: np.ndarray, factors: Sequence[str]) -> Layout:
    factors = tuple(factors)
    k = len(factors)
    is_fact = (levels != 0).all(axis=1)
    n_center = int((~is_fact).sum())
    fpts = levels[is_fact]
    if fpts.shape[0] == 0:
        raise ValueError("design has no factorial (+/-1) runs")
    distinct = np.unique(fpts, axis=0)
    nd = distinct.shape[0]
    if nd < 2:
        raise ValueError("too few runs: need at least two distinct factorial design points")
    prods = all_products(distinct.astype(float))
    const = np.flatnonzero((prods == prods[:1]).all(axis=0))
    group = {int(w): int(prods[0, w]) for w in const}
    if nd * len(group) != (1 << k):
        raise ValueError(
            f"the {nd} distinct factorial points do not form a full 2^{k} design or a regular 2^({k}-p) "
            "fraction (runs missing?)"
        )
    classes = alias_classes(k, group)
    masks = tuple(rep for rep, _ in classes)
    terms = tuple(term_name(rep, factors) for rep in masks)
    aliases = tuple(format_aliases(others, factors) for _, others in classes)
    X = np.column_stack([np.ones(len(levels)), term_columns(levels, masks)])
    if n_center:
        X = np.column_stack([X, (~is_fact).astype(float)])
    XtX_inv = np.linalg.inv(X.T @ X)
    df = len(levels) - X.shape[1]
    m = len(masks)
    if df == 0 and m < 3:
        raise ValueError(
            f"too few runs: an unreplicated design with {m} effect(s) has no error estimate and too few "
            "effects for Lenth's method; replicate the runs or add centre points"
        )
    return Layout(
        factors=factors, levels=levels, is_factorial=is_fact, n_factorial=int(is_fact.sum()),
        n_center=n_center, rep_masks=masks, terms=terms, aliases=aliases, group=group, X=X,
        XtX_inv=XtX_inv, df_resid=int(df), method="anova" if df > 0 else "lenth",
    )


def lenth(effects: np.ndarray, alpha: float) -> Tuple[np.ndarray, np.ndarray, float]:
    """Lenth's pseudo standard error per row; returns (PSE, ME, d).

    s0 = 1.5 median|c|, PSE = 1.5 median{|c| : |c| < 2.5 s0}, d = m/3, ME = t_{1-alpha/2, d} PSE.
    """
    a = np.abs(effects)
    m = a.shape[1]
    s0 = 1.5 * np.median(a, axis=1)
    trimmed = np.where(a < 2.5 * s0[:, None], a, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN rows only when s0 == 0
        pse = 1.5 * np.nanmedian(trimmed, axis=1)
    pse = np.where(s0 > 0, pse, 0.0)
    d = m / 3.0
    me = stats.t.ppf(1 - alpha / 2, d) * pse
    return pse, me, d


def analyze_core(lay: Layout, Y: np.ndarray, alpha: float) -> Dict[str, np.ndarray]:
    """Batched analysis of ``Y`` (n_groups, n_runs) whose columns follow ``lay.levels``.

    Returns arrays of shape (n_groups, n_rows), n_rows = m (+1 curvature row).
    """
    m = lay.m
    B = Y @ (lay.X @ lay.XtX_inv)                 # least squares for every group at once
    eff = 2.0 * B[:, 1:1 + m]
    diag = np.diag(lay.XtX_inv)
    G = Y.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        if lay.method == "anova":
            resid = Y - B @ lay.X.T
            mse = (resid ** 2).sum(axis=1) / lay.df_resid
            se = 2.0 * np.sqrt(mse[:, None] * diag[None, 1:1 + m])
            tv = eff / se
            pv = 2.0 * stats.t.sf(np.abs(tv), lay.df_resid)
            sig = pv < alpha
        else:
            pse, me, d = lenth(eff, alpha)
            se = np.repeat(pse[:, None], m, axis=1)
            tv = eff / se
            pv = 2.0 * stats.t.sf(np.abs(tv), d)
            sig = np.abs(eff) > me[:, None]
        out = {"effect": eff, "coefficient": eff / 2.0, "std_error": se, "t_value": tv,
               "p_value": pv, "significant": sig}
        if lay.has_center:
            # centre-point indicator coefficient = ybar_C - ybar_F; curvature effect = ybar_F - ybar_C
            ceff = -B[:, -1]
            if lay.method == "anova":
                cse = np.sqrt(mse * diag[-1])
                ct = ceff / cse
                cp = 2.0 * stats.t.sf(np.abs(ct), lay.df_resid)   # = single-df F test, F = t^2
            else:
                cse = ct = cp = np.full(G, np.nan)
            extra = {"effect": ceff, "coefficient": ceff, "std_error": cse, "t_value": ct,
                     "p_value": cp, "significant": cp < alpha}
            out = {key: np.column_stack([out[key], extra[key]]) for key in out}
    return out


def sorted_runs(levels: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Canonical row order (by design point, stable) so identical layouts line up."""
    code = point_codes(levels)
    order = np.argsort(code, kind="stable")
    return levels[order], y[order]


def point_codes(levels: np.ndarray) -> np.ndarray:
    """Integer code of each run's design point (base-3 digits of level + 1)."""
    w = 3 ** np.arange(levels.shape[1], dtype=np.int64)
    return (levels.astype(np.int64) + 1) @ w


# --------------------------------------------------------------------------- GF(2) geometry
def point_bits(levels: np.ndarray) -> np.ndarray:
    """Bit mask of each +/-1 point: bit i set when factor i is at +1."""
    w = (1 << np.arange(levels.shape[1], dtype=np.int64))
    return ((levels > 0).astype(np.int64) * w).sum(axis=1)


def parity(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64).copy()
    out = np.zeros(x.shape, dtype=np.int64)
    while np.any(x):
        out ^= x & 1
        x >>= 1
    return out


def xor_basis(vectors: Sequence[int]) -> List[int]:
    basis: List[int] = []
    for v in vectors:
        v = int(v)
        for b in basis:
            v = min(v, v ^ b)
        if v:
            basis.append(v)
    return basis


def affine_hull(bits: np.ndarray, k: int) -> Tuple[np.ndarray, Dict[int, int]]:
    """Affine hull of +/-1 points (as bit masks): its points (bit masks) and defining relation
    {word mask: sign}, identity included -- the same group ``design_layout`` detects from data."""
    p0 = int(bits[0])
    basis = xor_basis(int(b) ^ p0 for b in np.unique(bits))
    pts = np.array([p0], dtype=np.int64)
    for b in basis:
        pts = np.concatenate([pts, pts ^ b])
    words = np.arange(1 << k, dtype=np.int64)
    ok = np.ones(len(words), dtype=bool)
    for b in basis:
        ok &= parity(words & b) == 0
    words = words[ok]
    low0 = ((1 << k) - 1) & ~p0                      # factors at -1 in p0
    signs = 1 - 2 * parity(words & low0)
    return np.sort(pts), {int(w): int(s) for w, s in zip(words, signs)}


def bits_to_levels(bits: np.ndarray, k: int) -> np.ndarray:
    return np.where((bits[:, None] >> np.arange(k)) & 1, 1, -1).astype(np.int64)


def sequential_independent(X: np.ndarray, tol: float = RANK_TOLERANCE) -> np.ndarray:
    """Columns of X independent of all earlier *kept* columns (modified Gram-Schmidt, twice)."""
    keep = np.zeros(X.shape[1], dtype=bool)
    Q = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        c = X[:, j].astype(float)
        norm = np.linalg.norm(c)
        if norm == 0:
            continue
        r = c.copy()
        for _ in range(2):
            r -= Q @ (Q.T @ r)
        if np.linalg.norm(r) > tol * max(norm, 1.0):
            keep[j] = True
            Q = np.column_stack([Q, r / np.linalg.norm(r)])
    return keep


# --------------------------------------------------------------------------- numerics
def split_by(labels: np.ndarray) -> List[np.ndarray]:
    by = np.argsort(labels, kind="stable")
    return np.split(by, np.flatnonzero(np.diff(labels[by])) + 1)


def identical_rows(sig: np.ndarray) -> List[np.ndarray]:
    """Indices of identical rows of ``sig``, grouped (ascending within a group).

    A 64-bit polynomial hash of each row is bucketed with a 1-D sort (``np.unique(axis=0)`` is
    ~50x slower at 20k rows); every bucket is then verified exactly, falling back to the
    row-wise unique on a (practically impossible) collision.
    """
    if sig.shape[0] == 0:
        return []
    w = np.random.default_rng(12345).integers(1, 2 ** 62, size=sig.shape[1], dtype=np.int64) | 1
    with np.errstate(over="ignore"):
        h = (sig * w).sum(axis=1)                       # wraps modulo 2^64
    buckets = split_by(h)
    if all((sig[b] == sig[b[0]]).all() for b in buckets):
        return buckets
    _, inv = np.unique(sig, axis=0, return_inverse=True)
    return split_by(inv.reshape(-1))


def numeric_gradient(fn: Callable[[np.ndarray], np.ndarray], beta: np.ndarray, rel_step: float = 1e-6) -> np.ndarray:
    """Central differences of ``fn`` at ``beta``, the last axis over the coefficients (the
    Jacobian of a vector ``fn``); for delta-method standard errors of non-linear estimates."""
    beta = np.asarray(beta, dtype=float)
    cols = []
    for i in range(len(beta)):
        h = rel_step * max(1.0, abs(beta[i]))
        bp, bm = beta.copy(), beta.copy()
        bp[i] += h
        bm[i] -= h
        cols.append((np.asarray(fn(bp), dtype=float) - np.asarray(fn(bm), dtype=float)) / (2 * h))
    return np.stack(cols, axis=-1)
