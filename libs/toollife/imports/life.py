"""Tool life from a wear curve: where flank wear first reaches the criterion (ISO 3685: 0.3 mm).

* the first reading with wear >= criterion ends the life; the life is interpolated linearly
  between it and the reading before (which is below the criterion); a reading exactly at the
  criterion is the life; when the very first reading is already at or above it, its time is the
  life (nothing earlier is known);
* readings that never reach it: right-censored at the last reading (``censored``,
  ``censored_life`` = the last reading's time);
* fewer than two readings at distinct times (nothing beyond the start): ``no_life``;
* blank wear (NaN) is a time with no measurement: skipped.

Readings are taken in time order (the import quarantines a tool whose time runs backwards).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMPLETED, CENSORED, NO_LIFE = "completed", "censored", "no_life"


@dataclass(frozen=True)
class Life:
    status: str
    tool_life: float | None          # completed
    censored_life: float | None      # censored: the last reading's time
    final_wear: float | None         # the last measured wear (mm)
    n_readings: int                  # measured readings


def life_from_wear(times, wear, criterion: float) -> Life:
    t = np.asarray(times, dtype=float)
    w = np.asarray(wear, dtype=float)
    keep = ~np.isnan(w) & ~np.isnan(t)
    t, w = t[keep], w[keep]
    order = np.argsort(t, kind="stable")
    t, w = t[order], w[order]
    n = int(len(t))
    final = float(w[-1]) if n else None
    if n < 2 or t[-1] <= t[0]:
        return Life(NO_LIFE, None, None, final, n)
    hit = np.flatnonzero(w >= criterion)
    if len(hit) == 0:
        return Life(CENSORED, None, float(t[-1]), final, n)
    i = int(hit[0])
    if i == 0 or w[i] == criterion:
        return Life(COMPLETED, float(t[i]), None, final, n)
    t0, t1, w0, w1 = t[i - 1], t[i], w[i - 1], w[i]
    return Life(COMPLETED, float(t0 + (criterion - w0) * (t1 - t0) / (w1 - w0)), None, final, n)
