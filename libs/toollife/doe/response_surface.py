"""Second-order response surfaces and the path of steepest ascent (Montgomery ch. 11).

Second-order model, fitted by least squares in coded units:

    y = b0 + sum_i b_i x_i + sum_{i<j} b_ij x_i x_j + sum_i b_ii x_i^2 + e

Canonical analysis (§11.3): with b = (b_1..b_k) and the symmetric B (B_ii = b_ii,
B_ij = b_ij / 2), the stationary point is x_s = -B^-1 b / 2, the predicted response there
y_s = b0 + x_s'b / 2, and the eigenvalues of B tell its nature: all negative, a maximum; all
positive, a minimum; mixed signs, a saddle point.

Steepest ascent (§11.2): from the centre of a first-order design, move along the gradient of
the fitted first-order model, the factor with the largest |b_j| by one coded unit per step and
every other factor by b_i / |b_j| per step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy import stats

from .kernel import check_inputs, numeric_gradient, sequential_independent

__all__ = ["ResponseSurface", "fit_response_surface", "steepest_ascent"]

INTERCEPT = "Intercept"
ANOVA_COLUMNS = ["df", "sum_sq", "mean_sq", "f_value", "p_value"]


# --------------------------------------------------------------------------- inputs
def _check_runs(runs: pd.DataFrame, factors: Sequence[str], response: str) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """(factors, (n, k) float coded levels, (n,) float response), validated."""
    factors = check_inputs(runs, factors, response)
    try:
        X = runs[factors].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"factor columns {factors} must be numeric coded levels") from None
    if not np.isfinite(X).all():
        raise ValueError(f"factor columns {factors} have missing/non-finite levels")
    try:
        y = runs[response].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"response column {response!r} must be numeric") from None
    if not np.isfinite(y).all():
        raise ValueError(f"response column {response!r} has {int((~np.isfinite(y)).sum())} missing/non-finite value(s)")
    return factors, X, y


def quadratic_terms(factors: Sequence[str]) -> List[str]:
    """Term names of the full second-order model: 'Intercept', 'A', ..., 'A:B', ..., 'A^2', ..."""
    k = len(factors)
    return ([INTERCEPT, *factors]
            + [f"{factors[i]}:{factors[j]}" for i, j in combinations(range(k), 2)]
            + [f"{f}^2" for f in factors])


def quadratic_matrix(X: np.ndarray) -> np.ndarray:
    """Model matrix of :func:`quadratic_terms` (same column order)."""
    n, k = X.shape
    cols = [np.ones(n)] + [X[:, i] for i in range(k)]
    cols += [X[:, i] * X[:, j] for i, j in combinations(range(k), 2)]
    cols += [X[:, i] ** 2 for i in range(k)]
    return np.column_stack(cols)


def _n_interactions(k: int) -> int:
    return k * (k - 1) // 2


def non_estimable_quadratic_terms(X: np.ndarray, factors: Sequence[str]) -> List[str]:
    """Second-order terms a set of coded points cannot estimate (in model order)."""
    keep = sequential_independent(quadratic_matrix(np.asarray(X, dtype=float)))
    return [t for t, kp in zip(quadratic_terms(factors), keep) if not kp]


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class ResponseSurface:
    """A fitted second-order model and its canonical analysis (see :func:`fit_response_surface`)."""

    factors: Tuple[str, ...]
    response: str
    coefficients: pd.Series
    std_errors: pd.Series
    anova: pd.DataFrame
    stationary_point: pd.Series
    predicted_at_stationary: float
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    nature: str
    df_resid: int
    mse: float
    r_squared: float
    n_runs: int
    xtx_inv: np.ndarray = field(repr=False)

    @property
    def first_order(self) -> pd.Series:
        return self.coefficients[list(self.factors)]

    @property
    def B(self) -> np.ndarray:
        """Symmetric matrix of the second-order part: B_ii = b_ii, B_ij = b_ij / 2."""
        return _b_matrix(self.coefficients.to_numpy(), len(self.factors))

    def _points(self, points) -> np.ndarray:
        if isinstance(points, pd.DataFrame):
            P = points[list(self.factors)].to_numpy(dtype=float)
        elif isinstance(points, (pd.Series, dict)):
            P = np.array([[float(points[f]) for f in self.factors]])
        else:
            P = np.atleast_2d(np.asarray(points, dtype=float))
        if P.shape[1] != len(self.factors):
            raise ValueError(f"points need {len(self.factors)} coded levels ({list(self.factors)}), got {P.shape[1]}")
        return P

    def predict(self, points) -> np.ndarray:
        """Predicted mean response at coded ``points`` (DataFrame with the factor columns, a
        mapping/Series of one point, or an (n, k) array)."""
        return quadratic_matrix(self._points(points)) @ self.coefficients.to_numpy()

    def prediction_interval(self, points, *, alpha: float = 0.05, mean: bool = False) -> pd.DataFrame:
        """``predicted, low, high`` at ``points``: the 1-alpha prediction interval of one new run
        (``mean=True``: the confidence interval of the mean). NaN without residual df."""
        Xp = quadratic_matrix(self._points(points))
        pred = Xp @ self.coefficients.to_numpy()
        h = np.einsum("ij,jk,ik->i", Xp, self.xtx_inv, Xp)
        if self.df_resid > 0:
            half = stats.t.ppf(1 - alpha / 2, self.df_resid) * np.sqrt(self.mse * (h + (0.0 if mean else 1.0)))
        else:
            half = np.full(len(pred), np.nan)
        return pd.DataFrame({"predicted": pred, "low": pred - half, "high": pred + half})

    def stationary_interval(self, *, alpha: float = 0.05) -> Optional[np.ndarray]:
        """Half-width per factor of the 1-alpha confidence interval of the stationary point (coded):
        t * se, se by the delta method from the gradient of x_s = -B^-1 b / 2 in the coefficients.
        None when the stationary point is not finite or there is no residual df."""
        k = len(self.factors)
        beta = self.coefficients.to_numpy(float)
        x0 = self.stationary_point.to_numpy(float)
        if not (np.all(np.isfinite(x0)) and self.df_resid > 0):
            return None

        def stationary(b):
            return -0.5 * np.linalg.solve(_b_matrix(b, k), b[1:1 + k])

        J = numeric_gradient(stationary, beta)
        se = np.sqrt(np.einsum("ij,jk,ik->i", J, self.mse * self.xtx_inv, J))
        return stats.t.ppf(1 - alpha / 2, self.df_resid) * se


def _b_matrix(beta: np.ndarray, k: int) -> np.ndarray:
    B = np.diag(beta[1 + k + _n_interactions(k):])
    for (i, j), v in zip(combinations(range(k), 2), beta[1 + k: 1 + k + _n_interactions(k)]):
        B[i, j] = B[j, i] = v / 2.0
    return B


def _nature(eig: np.ndarray) -> str:
    if np.all(eig < 0):
        return "maximum"
    if np.all(eig > 0):
        return "minimum"
    return "saddle"


def _design_point_ids(X: np.ndarray) -> np.ndarray:
    _, inv = np.unique(np.round(X, 9), axis=0, return_inverse=True)
    return inv.reshape(-1)


def _sse(X: np.ndarray, y: np.ndarray) -> float:
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ beta
    return float(r @ r)


def _anova(X: np.ndarray, Xq: np.ndarray, y: np.ndarray, k: int, sse: float, df_resid: int) -> pd.DataFrame:
    n = len(y)
    sst = float(((y - y.mean()) ** 2).sum())
    n_int = _n_interactions(k)
    blocks = [("linear", 1 + k)]
    if n_int:
        blocks.append(("interaction", 1 + k + n_int))
    blocks.append(("square", Xq.shape[1]))
    rows, prev_sse, prev_p = [], sst, 1
    for name, upto in blocks:
        s = _sse(Xq[:, :upto], y)
        rows.append((name, upto - prev_p, prev_sse - s))
        prev_sse, prev_p = s, upto
    mse = sse / df_resid if df_resid > 0 else np.nan
    table = [("model", Xq.shape[1] - 1, sst - sse)] + rows
    out = []
    for name, df, ss in table:
        ms = ss / df if df else np.nan
        f = ms / mse if df_resid > 0 else np.nan
        p = float(stats.f.sf(f, df, df_resid)) if df_resid > 0 and df else np.nan
        out.append((name, df, ss, ms, f, p))
    out.append(("residual", df_resid, sse, mse, np.nan, np.nan))
    ids = _design_point_ids(X)
    n_distinct = int(ids.max()) + 1
    df_pe = n - n_distinct
    df_lof = df_resid - df_pe
    if df_pe > 0 and df_lof > 0:
        means = np.bincount(ids, weights=y) / np.bincount(ids)
        ss_pe = float(((y - means[ids]) ** 2).sum())
        ss_lof = sse - ss_pe
        ms_pe, ms_lof = ss_pe / df_pe, ss_lof / df_lof
        f = ms_lof / ms_pe if ms_pe > 0 else np.nan
        out.append(("lack_of_fit", df_lof, ss_lof, ms_lof, f, float(stats.f.sf(f, df_lof, df_pe)) if ms_pe > 0 else np.nan))
        out.append(("pure_error", df_pe, ss_pe, ms_pe, np.nan, np.nan))
    out.append(("total", n - 1, sst, np.nan, np.nan, np.nan))
    df = pd.DataFrame(out, columns=["source", *ANOVA_COLUMNS]).set_index("source")
    df["df"] = df["df"].astype(np.int64)
    return df


# --------------------------------------------------------------------------- public API
def fit_response_surface(runs: pd.DataFrame, factors: Sequence[str], response: str) -> ResponseSurface:
    """Least-squares fit of the full second-order model and its canonical analysis.

    ``runs``: one row per run, factor columns in coded units (any values: factorial, axial and
    centre points of a central composite design, a Box-Behnken, ...) and the response.

    Returns a :class:`ResponseSurface`:

    * ``coefficients`` / ``std_errors``: pandas Series indexed 'Intercept', the factors
      (first order), 'A:B' for each pair in factor order, then 'A^2' for each factor (the factor
      names as given);
    * ``anova``: rows 'model', 'linear', 'interaction' (k >= 2), 'square' (sequential sums of
      squares, in that order), 'residual', and 'lack_of_fit' and 'pure_error' when replicated
      points leave pure-error df and the model leaves lack-of-fit df, then 'total'; columns
      ``df, sum_sq, mean_sq, f_value, p_value`` (F against the residual mean square; lack of fit
      against pure error);
    * ``stationary_point`` (Series of coded levels), ``predicted_at_stationary``,
      ``eigenvalues`` (of B, ascending) with ``eigenvectors`` (columns), ``nature``
      ('maximum' | 'minimum' | 'saddle'; a zero eigenvalue, a stationary ridge, counts as
      'saddle'); when B is singular there is no unique stationary point and it is NaN;
    * ``mse``, ``df_resid``, ``r_squared``, ``n_runs``, and ``predict`` /
      ``prediction_interval`` methods.

    Raises ``ValueError`` when the points cannot estimate every second-order term (naming the
    terms: a 2-level factorial with centre points cannot separate the pure quadratic terms, add
    axial points with :func:`central_composite`). A saturated fit (as many distinct runs as
    parameters) is allowed; its tests, standard errors and intervals are then NaN.
    """
    factors, X, y = _check_runs(runs, factors, response)
    k = len(factors)
    Xq = quadratic_matrix(X)
    names = quadratic_terms(factors)
    keep = sequential_independent(Xq)
    if not keep.all():
        lost = [t for t, kp in zip(names, keep) if not kp]
        raise ValueError(
            f"the {len(X)} runs cannot estimate the full second-order model: {lost} not estimable "
            "(a 2-level factorial with centre points cannot separate the quadratic terms: add axial points)"
        )
    XtX_inv = np.linalg.inv(Xq.T @ Xq)
    beta = XtX_inv @ (Xq.T @ y)
    resid = y - Xq @ beta
    sse = float(resid @ resid)
    df_resid = len(y) - Xq.shape[1]
    mse = sse / df_resid if df_resid > 0 else np.nan
    se = np.sqrt(mse * np.diag(XtX_inv)) if df_resid > 0 else np.full(len(beta), np.nan)
    B = _b_matrix(beta, k)
    b = beta[1:1 + k]
    eig, vec = np.linalg.eigh(B)
    try:
        if np.min(np.abs(eig)) <= 1e-12 * max(1.0, np.max(np.abs(eig))):
            raise np.linalg.LinAlgError
        xs = -0.5 * np.linalg.solve(B, b)
        ys = float(beta[0] + 0.5 * xs @ b)
    except np.linalg.LinAlgError:
        xs = np.full(k, np.nan)
        ys = float("nan")
    sst = float(((y - y.mean()) ** 2).sum())
    return ResponseSurface(
        factors=tuple(factors),
        response=response,
        coefficients=pd.Series(beta, index=names, name="coefficient"),
        std_errors=pd.Series(se, index=names, name="std_error"),
        anova=_anova(X, Xq, y, k, sse, df_resid),
        stationary_point=pd.Series(xs, index=factors, name="stationary_point"),
        predicted_at_stationary=ys,
        eigenvalues=eig,
        eigenvectors=vec,
        nature=_nature(eig),
        df_resid=int(df_resid),
        mse=float(mse),
        r_squared=float(1.0 - sse / sst) if sst > 0 else float("nan"),
        n_runs=int(len(y)),
        xtx_inv=XtX_inv,
    )


def first_order_coefficients(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """b_1..b_k of the first-order model y = b0 + sum b_i x_i (least squares)."""
    n, k = X.shape
    X1 = np.column_stack([np.ones(n), X])
    keep = sequential_independent(X1)
    if not keep.all():
        raise ValueError("the runs cannot estimate a first-order model (a factor does not vary)")
    beta = np.linalg.solve(X1.T @ X1, X1.T @ y)
    return beta[1:]


def ascent_path(b: np.ndarray, factors: Sequence[str], *, n_steps: int = 5, step_factor: Optional[str] = None,
                maximize: bool = True) -> pd.DataFrame:
    """The steepest-ascent table for first-order coefficients ``b`` (see :func:`steepest_ascent`)."""
    factors = list(factors)
    b = np.asarray(b, dtype=float)
    n_steps = int(n_steps)
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    g = b if maximize else -b
    if step_factor is None:
        if not np.any(g != 0):
            raise ValueError("every first-order coefficient is zero: there is no direction of ascent")
        j = int(np.argmax(np.abs(g)))
    else:
        if step_factor not in factors:
            raise ValueError(f"step_factor {step_factor!r} not in factors {factors}")
        j = factors.index(step_factor)
        if g[j] == 0:
            raise ValueError(f"the first-order coefficient of step_factor {step_factor!r} is zero")
    delta = g / abs(g[j])
    steps = np.arange(n_steps + 1)
    out = pd.DataFrame({"step": steps})
    for i, f in enumerate(factors):
        out[f] = steps * delta[i] + 0.0
    return out


def steepest_ascent(
    runs: pd.DataFrame,
    factors: Sequence[str],
    response: str,
    *,
    n_steps: int = 5,
    step_factor: Optional[str] = None,
    maximize: bool = True,
) -> pd.DataFrame:
    """Points on the path of steepest ascent (``maximize=False``: descent), in coded units.

    The first-order model y = b0 + sum b_i x_i is fitted by least squares to every run
    (factorial and centre points; for an orthogonal 2-level design b_i = effect_i / 2). The path
    starts at the design centre (coded 0) and follows the gradient: the factor with the largest
    |b_j| (or ``step_factor``) moves one coded unit per step, every other factor b_i / |b_j| per
    step (signs reversed when minimising).

    Returns a DataFrame with column ``step`` (0 = the design centre, then 1..n_steps) and one
    coded column per factor. Convert to natural units with :func:`toollife.doe.to_natural`
    (Montgomery Example 11.1: a step of 5 min in time moves temperature 0.42 x 5 = 2.1 °F).
    """
    factors, X, y = _check_runs(runs, factors, response)
    return ascent_path(first_order_coefficients(X, y), factors, n_steps=n_steps, step_factor=step_factor,
                       maximize=maximize)
