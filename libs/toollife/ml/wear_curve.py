"""The learned wear curve and the life it reads off a tool's own flank-wear readings (numpy only).

A tool's flank wear follows a curve that is much the same across tools once time is measured as
the fraction of its life cut (break-in, steady, accelerating; ISO 3685). Training learns that
curve from its completed runs: every flank-wear reading at ``s = t / T`` of its run, pooled, and
an isotonic (non-decreasing) regression of VB on ``s`` read at :data:`KNOTS` points. A tool cutting
now has readings up to its cut ``t``; :func:`estimate_life` finds the life ``T`` whose curve
``VB(t_i / T)`` fits them best (least squares over a fine grid of ``t / T``). That estimate is
what ``tool_rul`` starts from; its trees learn only the correction (docs/models.md).

The curve is part of the model version (tag ``wear_curve``): the readings of a tool are read
against the curve of the model that scores it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

KNOTS = 41
MIN_READINGS = 2                                        # a curve through fewer says nothing of T
# the fraction of life cut so far that the fit may find: 0.5 % .. 100 % (a tool read past the end of
# its curve has no life left); 1500 steps of 0.35 % in T
_FRACTION_GRID = np.geomspace(0.005, 1.0, 1500)


@dataclass(frozen=True)
class WearCurve:
    fraction: tuple[float, ...]     # s = t / T at the knots, 0 .. 1
    wear_mm: tuple[float, ...]      # the pooled, non-decreasing flank wear VB there

    def to_json(self) -> str:
        return json.dumps({"fraction": [round(x, 6) for x in self.fraction],
                           "wear_mm": [round(x, 6) for x in self.wear_mm]})

    @classmethod
    def from_json(cls, text: str) -> "WearCurve":
        data = json.loads(text)
        return cls(tuple(float(x) for x in data["fraction"]), tuple(float(x) for x in data["wear_mm"]))

    def wear_at(self, s: np.ndarray) -> np.ndarray:
        """VB at fractions of life ``s`` (past 1: the last knot's slope carries on)."""
        s = np.asarray(s, float)
        fr, vb = np.asarray(self.fraction), np.asarray(self.wear_mm)
        out = np.interp(s, fr, vb)
        slope = (vb[-1] - vb[-2]) / (fr[-1] - fr[-2])
        return np.where(s > fr[-1], vb[-1] + slope * (s - fr[-1]), out)


def learn(fraction_of_life: np.ndarray, wear_mm: np.ndarray) -> WearCurve:
    """The curve of readings taken at ``fraction_of_life`` (t / T of their completed run)."""
    from sklearn.isotonic import IsotonicRegression

    s, v = np.asarray(fraction_of_life, float), np.asarray(wear_mm, float)
    keep = np.isfinite(s) & np.isfinite(v) & (s >= 0) & (s <= 1)
    if keep.sum() < KNOTS:
        raise ValueError(f"a wear curve needs flank-wear readings of completed runs; got {int(keep.sum())}")
    knots = np.linspace(0.0, 1.0, KNOTS)
    fitted = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(s[keep], v[keep]).predict(knots)
    return WearCurve(tuple(knots.tolist()), tuple(np.maximum.accumulate(fitted).tolist()))


def estimate_life(minutes: np.ndarray, wear_mm: np.ndarray, cutoff_min: float, curve: WearCurve) -> float:
    """The life T (minutes) whose curve best fits the readings at ``minutes`` <= ``cutoff_min``;
    NaN with fewer than :data:`MIN_READINGS` readings or no cut yet."""
    t, v = np.asarray(minutes, float), np.asarray(wear_mm, float)
    keep = np.isfinite(t) & np.isfinite(v) & (t >= 0) & (t <= cutoff_min + 1e-9)
    t, v = t[keep], v[keep]
    if t.size < MIN_READINGS or not cutoff_min > 0:
        return float("nan")
    lives = cutoff_min / _FRACTION_GRID                      # candidate T, each >= the cut so far
    predicted = curve.wear_at(t[None, :] / lives[:, None])
    sse = np.sum((predicted - v[None, :]) ** 2, axis=1)
    return float(lives[int(np.argmin(sse))])
