"""Prediction intervals that mean what they say: split-conformal, per estimated fraction of life (numpy).

The residuals of ln T that calibrate an interval are out-of-fold ones: each comes from a model of
the grouped cross-validation that did not see that run's design point, so they are as large as
the errors on an unseen tool, and the holdout is left to check the coverage, never to set it.
A tool's remaining life is much better known late in its life than early, so ``tool_rul``'s
residuals are calibrated per bin of the *estimated* fraction of life cut (minutes cut /
predicted life: what is known when scoring), a Mondrian conformal interval; ``tool_life`` has one bin.

The bounds of each bin are the conformal order statistics of its residuals: at level 0.8 the
``floor(0.1 (n + 1))``-th smallest and the ``ceil(0.9 (n + 1))``-th, which cover a new residual
with probability at least 0.8 when the new tool is exchangeable with the calibrating ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

MIN_PER_BIN = 20        # a bin with fewer calibrating residuals takes the pooled bounds


def bin_of(edges: Sequence[float], fraction: np.ndarray) -> np.ndarray:
    """The bin of each estimated fraction of life (NaN: the first bin)."""
    return np.searchsorted(np.asarray(edges, float), np.nan_to_num(np.asarray(fraction, float)), side="right")


@dataclass(frozen=True)
class Interval:
    level: float
    edges: tuple[float, ...]          # estimated-fraction bin edges (empty: one bin)
    low: tuple[float, ...]            # ln T offsets of the lower end, one per bin
    high: tuple[float, ...]

    def to_json(self) -> str:
        return json.dumps({"level": self.level, "edges": list(self.edges),
                           "low": [round(x, 6) for x in self.low], "high": [round(x, 6) for x in self.high]})

    @classmethod
    def from_json(cls, text: str) -> "Interval":
        d = json.loads(text)
        return cls(float(d["level"]), tuple(d["edges"]), tuple(d["low"]), tuple(d["high"]))

    @classmethod
    def one_bin(cls, level: float, low: float, high: float) -> "Interval":
        return cls(level, (), (low,), (high,))

    def bins(self, ln_life: np.ndarray, minutes_cut: np.ndarray | None) -> np.ndarray:
        """The bin of each prediction (a row without minutes cut, or with no edges: bin 0)."""
        ln_life = np.asarray(ln_life, float)
        if not self.edges or minutes_cut is None:
            return np.zeros(ln_life.shape, dtype=int)
        cut = np.asarray(minutes_cut, float)
        fraction = np.where(np.isfinite(cut), cut / np.exp(ln_life), 0.0)
        return bin_of(self.edges, fraction)

    def bounds(self, ln_life: np.ndarray, minutes_cut: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """ln T of the interval's ends for predictions ``ln_life`` (of tools that cut ``minutes_cut``)."""
        ln_life = np.asarray(ln_life, float)
        b = self.bins(ln_life, minutes_cut)
        return ln_life + np.asarray(self.low)[b], ln_life + np.asarray(self.high)[b]


def conformal_bounds(residuals: np.ndarray, level: float) -> tuple[float, float]:
    r = np.sort(np.asarray(residuals, float)[np.isfinite(residuals)])
    n = r.size
    if n == 0:
        return float("nan"), float("nan")
    # the 1e-9 keeps (1 - 0.8) / 2 * 20 = 1.9999999999999996 from flooring to 1
    lo = max(math.floor((1 - level) / 2 * (n + 1) + 1e-9), 1)
    hi = min(math.ceil((1 + level) / 2 * (n + 1) - 1e-9), n)
    return float(r[lo - 1]), float(r[hi - 1])


def calibrate(residuals: np.ndarray, level: float, estimated_fraction: np.ndarray | None = None,
              edges: Sequence[float] = ()) -> Interval:
    """The interval at ``level`` from calibrating residuals (ln T true - predicted), per bin of
    ``estimated_fraction`` when ``edges`` are given."""
    if not 0 < level < 1:
        raise ValueError(f"interval level must lie in (0, 1), got {level}")
    residuals = np.asarray(residuals, float)
    pooled = conformal_bounds(residuals, level)
    if not edges or estimated_fraction is None:
        return Interval.one_bin(level, *pooled)
    which = bin_of(edges, estimated_fraction)
    low, high = [], []
    for b in range(len(edges) + 1):
        mine = residuals[which == b]
        lo, hi = conformal_bounds(mine, level) if np.isfinite(mine).sum() >= MIN_PER_BIN else pooled
        low.append(lo)
        high.append(hi)
    return Interval(level, tuple(float(e) for e in edges), tuple(low), tuple(high))


def bin_edges(fractions: Sequence[float]) -> tuple[float, ...]:
    """Bins around the training cut-offs: the midpoints between consecutive fractions."""
    f = sorted(float(x) for x in fractions)
    return tuple((a + b) / 2 for a, b in zip(f, f[1:]))


def covered(ln_true: np.ndarray, ln_low: np.ndarray, ln_high: np.ndarray) -> np.ndarray:
    ln_true = np.asarray(ln_true, float)
    return (ln_true >= ln_low) & (ln_true <= ln_high)
