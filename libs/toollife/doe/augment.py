"""Augmenting a design: fold-overs and central composite designs (coded units).

Fold-over (Montgomery §8.5-8.6). Reversing the signs of a set S of factors in every run of a
regular fraction changes the sign of each defining word with an odd number of letters in S. The
original fraction plus its fold-over keeps only the words with an even number of letters in S,
so every word with an odd number of letters in S is broken, and with it the aliasing it caused:

* full fold-over (S = all factors): the odd-length words go. A resolution III fraction becomes
  resolution IV: no main effect is aliased with a two-factor interaction any more.
* single-factor fold-over (S = {A}): the words containing A go, so A and every two-factor
  interaction involving A are de-aliased from the other main effects and two-factor interactions.

Central composite design (Montgomery §11.4): the 2^k factorial points, 2k axial points at
distance alpha on each axis and n_c centre points; ``alpha = (n_F)^(1/4)`` makes it rotatable
(n_F factorial points), ``alpha = 1`` puts the axial points on the faces of the cube.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from .design import check_factor_names, fractional_factorial, full_factorial
from .kernel import mask_bits

__all__ = ["fold_over", "central_composite", "axial_points", "rotatable_alpha"]


def _fold_factors(factors: Sequence[str], on) -> List[str]:
    if on is None:
        return list(factors)
    names = [on] if isinstance(on, str) else list(on)
    if not names:
        raise ValueError("on must name at least one factor (or be None for a full fold-over)")
    unknown = [f for f in names if f not in factors]
    if unknown:
        raise ValueError(f"fold-over factor(s) {unknown} not in factors {list(factors)}")
    return [f for f in factors if f in names]


def fold_over(design: pd.DataFrame, factors: Sequence[str], *, on: Union[None, str, Sequence[str]] = None) -> pd.DataFrame:
    """The runs of the fold-over of ``design``: every sign reversed (``on=None``, full
    fold-over), or only factor ``on`` (single-factor fold-over; a list of factors folds those).

    Returns a new DataFrame with exactly the factor columns, one row per row of ``design`` in
    the same order, the folded factors negated (centre runs stay centre runs). Run it together
    with the original runs (as a second block) to de-alias what the fold breaks, see the module
    docstring.
    """
    if not isinstance(design, pd.DataFrame):
        raise TypeError(f"design must be a pandas DataFrame, got {type(design).__name__}")
    factors = check_factor_names(factors)
    missing = [f for f in factors if f not in design.columns]
    if missing:
        raise ValueError(f"factor column(s) {missing} not in design")
    folded = set(_fold_factors(factors, on))
    out = design[factors].copy().reset_index(drop=True)
    for f in folded:
        out[f] = -out[f]
        if out[f].dtype.kind == "f":
            out[f] = out[f] + 0.0                    # no -0.0 in the output
    return out


def rotatable_alpha(n_factorial: int) -> float:
    """Axial distance of a rotatable CCD with ``n_factorial`` factorial points: n_F^(1/4)."""
    n_factorial = int(n_factorial)
    if n_factorial < 1:
        raise ValueError(f"n_factorial must be >= 1, got {n_factorial}")
    return float(n_factorial) ** 0.25


def axial_alpha_value(alpha, n_factorial: int) -> float:
    if isinstance(alpha, str):
        a = alpha.lower()
        if a == "rotatable":
            return rotatable_alpha(n_factorial)
        if a in ("face", "face-centred", "face-centered", "face_centered"):
            return 1.0
        raise ValueError(f"alpha must be 'rotatable', 'face' or a positive number, got {alpha!r}")
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be 'rotatable', 'face' or a positive number, got {alpha!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    return value


def axial_points(factors: Sequence[str], alpha: float) -> pd.DataFrame:
    """The 2k axial (star) points: for each factor in order, (-alpha, 0, ...) then (+alpha, 0, ...)."""
    factors = check_factor_names(factors)
    alpha = axial_alpha_value(alpha, 1)
    k = len(factors)
    pts = np.zeros((2 * k, k))
    for i in range(k):
        pts[2 * i, i] = -alpha
        pts[2 * i + 1, i] = alpha
    return pd.DataFrame(pts, columns=factors)


def central_composite(
    factors: Sequence[str],
    *,
    alpha: Union[str, float] = "rotatable",
    center_points: int = 5,
    generators: Optional[Sequence[str]] = None,
) -> pd.DataFrame:
    """A central composite design in coded units.

    Rows: the factorial portion in standard order (the full 2^k, or the regular fraction of
    ``generators``, e.g. ``['E=ABCD']`` for the usual 2^(5-1) portion of a 5-factor CCD), then the
    2k axial points (factor by factor, -alpha before +alpha), then ``center_points`` centre runs.
    ``alpha``: ``'rotatable'`` (n_F^(1/4): 1.414 for k = 2, 1.682 for k = 3), ``'face'`` (1) or a
    positive number. Columns are the factors only (float).
    """
    factors = check_factor_names(factors)
    center_points = int(center_points)
    if center_points < 0:
        raise ValueError(f"center_points must be >= 0, got {center_points}")
    cube = fractional_factorial(factors, generators) if generators else full_factorial(factors)
    a = axial_alpha_value(alpha, len(cube))
    parts = [cube.astype(float), axial_points(factors, a), pd.DataFrame(np.zeros((center_points, len(factors))), columns=factors)]
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- choosing a fold
def _popcount(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64).copy()
    out = np.zeros(x.shape, dtype=np.int64)
    while np.any(x):
        out += x & 1
        x >>= 1
    return out


def choose_fold(k: int, words: Iterable[int], weight: Optional[Sequence[float]] = None,
                max_search_factors: int = 12) -> Tuple[int, int]:
    """Factors to fold (bit mask S) breaking the most of ``words`` (defining-word bit masks).

    A word is broken when it has an odd number of letters in S. Preference among the folds that
    break the most words: a single factor (the one with the largest ``weight``, then the first),
    then the full fold-over, then the fewest factors. Every S is tried for k <= 12; beyond, only
    single factors and the full fold-over. Returns ``(S, number of words broken)``.
    """
    words = np.array(sorted(set(int(w) for w in words)), dtype=np.int64)
    full = (1 << k) - 1
    if len(words) == 0:
        return full, 0
    if k <= max_search_factors:
        cands = np.arange(1, 1 << k, dtype=np.int64)
    else:
        cands = np.array([1 << i for i in range(k)] + [full], dtype=np.int64)
    broken = np.zeros(len(cands), dtype=np.int64)
    for w in words:
        broken += _popcount(cands & w) & 1
    best = broken.max()
    top = cands[broken == best]
    singles = [int(s) for s in top if s & (s - 1) == 0]
    if singles:
        wts = np.asarray(weight, dtype=float) if weight is not None else np.zeros(k)
        singles.sort(key=lambda s: (-wts[mask_bits(s)[0]], mask_bits(s)[0]))
        return singles[0], int(best)
    if full in set(int(s) for s in top):
        return full, int(best)
    size = _popcount(top)
    return int(top[np.lexsort((top, size))][0]), int(best)
