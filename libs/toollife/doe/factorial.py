"""Effects, ANOVA t-tests, Lenth's method and the centre-point curvature test for 2-level
factorial designs (Montgomery, *Design and Analysis of Experiments*, ch. 6 and 8;
Lenth 1989, "Quick and easy analysis of unreplicated factorials", Technometrics 31:469-473).

Effects are least-squares estimates on the +/-1 model matrix, effect = 2 * coefficient. For a
balanced design this is exactly Yates's algorithm (contrast / (N/2)); with unequal replication it
is the unweighted mean of the cell means, with standard errors from the general (X'X)^-1 form.

The single-group function and the many-groups path (:mod:`toollife.doe.vectorized`) share
:func:`design_layout` and :func:`analyze_core`, which work on a ``(n_groups, n_runs)`` response
matrix for one design layout, so the two cannot drift apart.
"""
from __future__ import annotations

from typing import List, Mapping, Sequence, Tuple

import numpy as np
import pandas as pd

from .kernel import (
    Layout,
    analyze_core,
    check_alpha,
    check_inputs,
    coded_levels,
    design_layout,
    response_values,
    snap_levels,
    sorted_runs,
)

__all__ = ["analyze_factorial", "code_levels", "RESULT_COLUMNS", "CURVATURE_TERM"]

RESULT_COLUMNS = [
    "term", "effect", "coefficient", "std_error", "t_value", "p_value", "significant", "method", "aliases",
]
CURVATURE_TERM = "curvature"


# --------------------------------------------------------------------------- shared with optimize and vectorized
def effect_row_labels(lay: Layout) -> Tuple[List[str], List[str]]:
    terms, aliases = list(lay.terms), list(lay.aliases)
    if lay.has_center:
        terms.append(CURVATURE_TERM)
        aliases.append("")
    return terms, aliases


def prepare_design(runs: pd.DataFrame, factors: Sequence[str], response: str, alpha: float,
                   log_response: bool) -> Tuple[List[str], float, Layout, np.ndarray]:
    """Validated inputs of one design: (factors, alpha, layout, response sorted by design point)."""
    factors = check_inputs(runs, factors, response)
    alpha = check_alpha(alpha)
    levels = coded_levels(runs, factors)
    y = response_values(runs, response, log_response)
    levels, y = sorted_runs(levels, y)
    return factors, alpha, design_layout(levels, factors), y


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
    factors, alpha, lay, y = prepare_design(runs, factors, response, alpha, log_response)
    res = analyze_core(lay, y[None, :], alpha)
    terms, aliases = effect_row_labels(lay)
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
