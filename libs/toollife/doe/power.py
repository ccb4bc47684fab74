"""Power of the t test of a main effect in a 2-level design, and the replicates it needs.

With N factorial runs (half at each level of the factor) the estimated effect has standard error
2 sigma / sqrt(N). The two-sided t test at level alpha rejects when |t| > t_{1-alpha/2, df}; under
a true effect of size ``effect`` the statistic is noncentral t with noncentrality

    delta = effect / (2 sigma / sqrt(N)) = effect sqrt(N) / (2 sigma),

so power = P(T > t_crit) + P(T < -t_crit), T ~ nct(df, delta) (Montgomery §6.6, the method behind
Minitab's power for 2-level factorials).

Error degrees of freedom, unless ``df`` is given: the full model's when the runs allow it,
``N - 2^k`` for N > 2^k (the pure error of a replicated full factorial); otherwise the
main-effects model's, ``N - 1 - k`` (an unreplicated full factorial or a fraction analysed with
its interactions pooled into error). Centre points add error df without changing delta: pass
``df`` to count them, or any other model's residual df.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy import stats

__all__ = ["power_two_level", "replicates_for_power", "default_error_df"]


def default_error_df(k: int, runs: int) -> int:
    """Error df used by :func:`power_two_level` when ``df`` is not given (see module docstring)."""
    k, runs = int(k), int(runs)
    full = 1 << k
    return runs - full if runs > full else runs - 1 - k


def _check(k, runs, effect, sigma, alpha):
    k, runs = int(k), int(runs)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if runs < 2:
        raise ValueError(f"runs must be >= 2, got {runs}")
    effect, sigma, alpha = float(effect), float(sigma), float(alpha)
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a positive number, got {sigma}")
    if not np.isfinite(effect):
        raise ValueError(f"effect must be finite, got {effect}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return k, runs, effect, sigma, alpha


def power_two_level(k: int, runs: int, effect: float, sigma: float, *, alpha: float = 0.05,
                    df: Optional[float] = None) -> float:
    """Probability that the two-sided t test at level ``alpha`` detects a main effect of size
    ``effect`` (difference of the means at the high and low level, response units) in a 2-level
    design of ``k`` factors with ``runs`` factorial runs and error sd ``sigma``.

    ``df``: error degrees of freedom of the analysis (may be fractional, e.g. Lenth's m/3);
    default :func:`default_error_df`
    (``runs - 2^k`` when runs > 2^k, else ``runs - 1 - k``). Raises ``ValueError`` when it is < 1
    (a saturated design has no t test: replicate it or add centre points and pass ``df``).
    """
    k, runs, effect, sigma, alpha = _check(k, runs, effect, sigma, alpha)
    dof = default_error_df(k, runs) if df is None else float(df)
    if dof < 1:
        raise ValueError(
            f"{runs} runs of a {k}-factor design leave {dof} error df: no t test; pass df= "
            "(e.g. with centre points) or use more runs"
        )
    delta = abs(effect) * np.sqrt(runs) / (2.0 * sigma)
    tcrit = stats.t.ppf(1.0 - alpha / 2.0, dof)
    upper = stats.nct.sf(tcrit, dof, delta)
    if not np.isfinite(upper):
        upper = 1.0 - stats.nct.cdf(tcrit, dof, delta)
    # P(T < -t | delta) = P(T > t | -delta); scipy's nct.cdf gives NaN far in the tail (large delta),
    # where this term is below P(T < t | delta), i.e. negligible
    lower = stats.nct.sf(tcrit, dof, -delta)
    if not np.isfinite(lower):
        lower = 0.0
    return float(min(1.0, upper + lower))


def replicates_for_power(k: int, effect: float, sigma: float, *, power: float = 0.8, alpha: float = 0.05,
                         runs_per_replicate: Optional[int] = None, max_replicates: int = 1000) -> int:
    """Smallest number of replicates r (total, >= 1) of a 2-level design with
    ``runs_per_replicate`` factorial runs (default 2^k, the full factorial) whose main-effect test
    has at least ``power`` for an effect of size ``effect`` (:func:`power_two_level` with
    ``runs = r * runs_per_replicate`` and its default error df; replicate counts leaving no error
    df are skipped). Raises ``ValueError`` if ``max_replicates`` are not enough.
    """
    k = int(k)
    n1 = (1 << k) if runs_per_replicate is None else int(runs_per_replicate)
    if n1 < 2:
        raise ValueError(f"runs_per_replicate must be >= 2, got {n1}")
    power = float(power)
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    _check(k, n1, effect, sigma, alpha)
    for r in range(1, int(max_replicates) + 1):
        if default_error_df(k, r * n1) < 1:
            continue
        if power_two_level(k, r * n1, effect, sigma, alpha=alpha) >= power:
            return r
    raise ValueError(f"{max_replicates} replicates of {n1} runs do not reach power {power} for effect {effect}")
