"""Effects, ANOVA t-tests, Lenth's method and the centre-point curvature test for 2-level
factorial designs (Montgomery, *Design and Analysis of Experiments*, ch. 6 and 8;
Lenth 1989, "Quick and easy analysis of unreplicated factorials", Technometrics 31:469-473).

Effects are least-squares estimates on the +/-1 model matrix, effect = 2 * coefficient. For a
balanced design this is exactly Yates's algorithm (contrast / (N/2)); with unequal replication it
is the unweighted mean of the cell means, with standard errors from the general (X'X)^-1 form.

The single-group function and the many-groups path (:mod:`toollife.doe.vectorized`) share
:func:`_layout` and :func:`_analyze_core`, which work on a ``(n_groups, n_runs)`` response
matrix for one design layout, so the two cannot drift apart.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy import stats

from .design import _alias_classes, _bits, _format_aliases, _term_name

__all__ = ["analyze_factorial", "code_levels", "RESULT_COLUMNS", "CURVATURE_TERM"]

RESULT_COLUMNS = [
    "term", "effect", "coefficient", "std_error", "t_value", "p_value", "significant", "method", "aliases",
]
CURVATURE_TERM = "curvature"
MAX_FACTORS = 15
LEVEL_TOLERANCE = 1e-9   # a coded level this close to -1, 0 or +1 is that level


# --------------------------------------------------------------------------- input checks
def _check_inputs(runs: pd.DataFrame, factors: Sequence[str], response: str, extra: Sequence[str] = ()) -> List[str]:
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


def snap_levels(x: np.ndarray, tol: float = LEVEL_TOLERANCE) -> np.ndarray:
    """``x`` with every value within ``tol`` of an integer set to that integer (others, NaN kept)."""
    x = np.asarray(x, dtype=float)
    r = np.round(x)
    return np.where(np.abs(x - r) <= tol, r, x) + 0.0      # + 0.0: -0.0 -> 0.0


def _coded_levels(runs: pd.DataFrame, factors: Sequence[str]) -> np.ndarray:
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


def _response_values(runs: pd.DataFrame, response: str, log_response: bool) -> np.ndarray:
    try:
        y = runs[response].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"response column {response!r} must be numeric") from None
    if not np.isfinite(y).all():
        raise ValueError(f"response column {response!r} has {int((~np.isfinite(y)).sum())} missing/non-finite value(s)")
    if log_response:
        bad = y <= 0
        if bad.any():
            raise ValueError(
                f"log_response=True needs a strictly positive response, but {response!r} has "
                f"{int(bad.sum())} value(s) <= 0 (min {y.min():g})"
            )
        y = np.log(y)
    return y


# --------------------------------------------------------------------------- design layout
def _term_columns(levels: np.ndarray, masks: Sequence[int]) -> np.ndarray:
    out = np.ones((levels.shape[0], len(masks)))
    for j, m in enumerate(masks):
        for i in _bits(m):
            out[:, j] *= levels[:, i]
    return out


def _all_products(points: np.ndarray) -> np.ndarray:
    """Column ``mask`` = product of the factors in ``mask`` (doubling construction)."""
    nd, k = points.shape
    p = np.ones((nd, 1 << k))
    for i in range(k):
        p[:, 1 << i: 1 << (i + 1)] = p[:, : 1 << i] * points[:, [i]]
    return p


@dataclass(frozen=True)
class _Layout:
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


def _layout(levels: np.ndarray, factors: Sequence[str]) -> _Layout:
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
    prods = _all_products(distinct.astype(float))
    const = np.flatnonzero((prods == prods[:1]).all(axis=0))
    group = {int(w): int(prods[0, w]) for w in const}
    if nd * len(group) != (1 << k):
        raise ValueError(
            f"the {nd} distinct factorial points do not form a full 2^{k} design or a regular 2^({k}-p) "
            "fraction (runs missing?)"
        )
    classes = _alias_classes(k, group)
    masks = tuple(rep for rep, _ in classes)
    terms = tuple(_term_name(rep, factors) for rep in masks)
    aliases = tuple(_format_aliases(others, factors) for _, others in classes)
    X = np.column_stack([np.ones(len(levels)), _term_columns(levels, masks)])
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
    return _Layout(
        factors=factors, levels=levels, is_factorial=is_fact, n_factorial=int(is_fact.sum()),
        n_center=n_center, rep_masks=masks, terms=terms, aliases=aliases, group=group, X=X,
        XtX_inv=XtX_inv, df_resid=int(df), method="anova" if df > 0 else "lenth",
    )


# --------------------------------------------------------------------------- core maths
def _lenth(effects: np.ndarray, alpha: float) -> Tuple[np.ndarray, np.ndarray, float]:
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


def _analyze_core(lay: _Layout, Y: np.ndarray, alpha: float) -> Dict[str, np.ndarray]:
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
            pse, me, d = _lenth(eff, alpha)
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


def _row_labels(lay: _Layout) -> Tuple[List[str], List[str]]:
    terms, aliases = list(lay.terms), list(lay.aliases)
    if lay.has_center:
        terms.append(CURVATURE_TERM)
        aliases.append("")
    return terms, aliases


def _prepare_single(runs: pd.DataFrame, factors: Sequence[str], response: str, alpha: float,
                    log_response: bool) -> Tuple[List[str], float, _Layout, np.ndarray]:
    """Validated inputs of one design: (factors, alpha, layout, response sorted by design point)."""
    factors = _check_inputs(runs, factors, response)
    alpha = _check_alpha(alpha)
    levels = _coded_levels(runs, factors)
    y = _response_values(runs, response, log_response)
    levels, y = _sorted_runs(levels, y)
    return factors, alpha, _layout(levels, factors), y


def _sorted_runs(levels: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Canonical row order (by design point, stable) so identical layouts line up."""
    code = _point_codes(levels)
    order = np.argsort(code, kind="stable")
    return levels[order], y[order]


def _point_codes(levels: np.ndarray) -> np.ndarray:
    """Integer code of each run's design point (base-3 digits of level + 1)."""
    w = 3 ** np.arange(levels.shape[1], dtype=np.int64)
    return (levels.astype(np.int64) + 1) @ w


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return alpha


# --------------------------------------------------------------------------- public API
def analyze_factorial(
    runs: pd.DataFrame,
    factors: Sequence[str],
    response: str,
    *,
    alpha: float = 0.05,
    log_response: bool = False,
) -> pd.DataFrame:
    """Estimate and test the effects of a 2-level full or regular fractional factorial.

    Parameters
    ----------
    runs : one row per run; one column per factor in coded units (-1/+1, 0 for centre runs)
        and the response column. Replicated points and unequal replication are allowed.
    factors : factor column names; their order defines term names and row order.
    response : response column.
    alpha : significance level of the tests (and of Lenth's margin of error).
    log_response : analyse ln(response) -- right for tool life, whose Taylor effects are
        multiplicative (main effects exact on ln T, interactions vanish).

    Returns
    -------
    DataFrame with columns ``term, effect, coefficient, std_error, t_value, p_value,
    significant, method, aliases``; rows are estimable terms ordered by interaction order and
    then factor order (A, B, C, A:B, A:C, B:C, A:B:C, ...), followed by a ``'curvature'`` row
    when centre points are present.

    * ``method='anova'`` when replicates or centre points leave error degrees of freedom:
      std_error is the effect's standard error from MSE (X'X)^-1 (2 sqrt(MSE/N) when
      balanced), t and p on the residual (pure-error) df; centre runs pool into pure error.
    * ``method='lenth'`` for unreplicated designs: std_error = Lenth's PSE,
      t = effect/PSE with m/3 df; ``significant`` is |effect| > ME = t_{1-alpha/2, m/3} PSE.
    * fractional designs: the defining relation is detected from the data (term columns that
      are constant over the factorial points); each alias set is reported once, under its
      lowest-order member, the others listed in ``aliases`` (``', '``-separated, ``'-'`` prefix
      for a negative alias).
    * ``'curvature'``: effect = ybar_F - ybar_C (coefficient = effect); its t test is the
      single-df curvature F test (F = t^2, SS = n_F n_C (ybar_F - ybar_C)^2/(n_F + n_C),
      Montgomery §6.8). With a single centre run and no replicates it cannot be tested (NaN).

    Raises ``ValueError`` on missing columns, levels outside {-1, 0, 1}, partial centre
    points, incomplete designs, too few runs or a non-positive response with ``log_response``.
    """
    factors, alpha, lay, y = _prepare_single(runs, factors, response, alpha, log_response)
    res = _analyze_core(lay, y[None, :], alpha)
    terms, aliases = _row_labels(lay)
    cols = {"term": np.array(terms, dtype=object)}
    cols.update({key: res[key][0].astype(float) for key in ("effect", "coefficient", "std_error", "t_value", "p_value")})
    cols["significant"] = res["significant"][0].astype(bool)
    cols["method"] = np.full(len(terms), lay.method, dtype=object)
    cols["aliases"] = np.array(aliases, dtype=object)
    return pd.DataFrame(cols, columns=RESULT_COLUMNS)


def code_levels(runs: pd.DataFrame, factors: Sequence[str],
                levels: Mapping[str, Tuple[object, object]] | None = None) -> pd.DataFrame:
    """Code factors given in natural units, the inverse of :func:`toollife.doe.to_natural`: low -> -1, high -> +1,
    the midpoint -> 0, other values x -> (x - mid) / half-range (axial points).

    ``levels``: optional {factor: (low, high)}; a numeric factor without an entry takes the lowest
    and highest value in ``runs``, a non-numeric one (coolant, coating) must have one: its values
    must be ``low`` or ``high``. Coded values within 1e-9 of -1, 0 or +1 are set to exactly that,
    so the result feeds :func:`analyze_factorial` as is. Returns a copy of ``runs``
    with the factor columns replaced by float coded levels.
    """
    if isinstance(factors, str):
        raise ValueError("factors must be a sequence of column names, not a single string")
    levels = dict(levels or {})
    missing = [f for f in [*factors, *levels] if f not in runs.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; available columns: {list(runs.columns)}")
    out = runs.copy()
    for f in factors:
        col = runs[f]
        low, high = levels.get(f, (None, None))
        if f in levels and (isinstance(low, str) or isinstance(high, str)) or not pd.api.types.is_numeric_dtype(col):
            if f not in levels:
                raise ValueError(f"factor {f!r} is not numeric: give its (low, high) levels")
            v = col.astype(object).to_numpy()
            bad = ~np.isin(v, [low, high])
            if bad.any():
                raise ValueError(f"factor {f!r} has level(s) {list(pd.unique(v[bad]))[:5]} that are neither "
                                 f"{low!r} nor {high!r}")
            out[f] = np.where(v == high, 1.0, -1.0)
            continue
        x = col.to_numpy(dtype=float)
        if f not in levels:
            low, high = np.nanmin(x), np.nanmax(x)
        low, high = float(low), float(high)
        if not high > low:
            raise ValueError(f"factor {f!r}: high {high:g} must be above low {low:g} (a factor run at one "
                             "level cannot be coded)")
        out[f] = snap_levels((x - (low + high) / 2.0) / ((high - low) / 2.0))
    return out
