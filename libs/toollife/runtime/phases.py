"""Seconds per phase of a micro-batch, for the one log line a batch writes (silver writer, live scorer)."""

from __future__ import annotations

import time


class PhaseClock:
    """``lap(name)`` closes the phase that began at the previous lap (or at creation);
    ``str()`` is ``name=1.2s name=0.4s ...``."""

    def __init__(self):
        self.t = time.perf_counter()
        self.laps: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps.append((name, now - self.t))
        self.t = now

    def __str__(self) -> str:
        return " ".join(f"{n}={s:.1f}s" for n, s in self.laps)
