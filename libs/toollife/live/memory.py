"""What the live scorer keeps between micro-batches (pure pandas): per run, its tool-event summary
and its readings so far.

Scoring a run needs its whole history, not just the batch. Reading that back from silver every
batch is a scan that grows with the table (all of silver's files for a semi-join on the runs),
and the tool events of every touched run with it. Instead a run's history and events are read from
silver once, when the scorer first meets the run (so after every start or restart), and then:

* its readings are extended with the ones each micro-batch hands over (silver's event_ids are
  unique, so a reading both the first read and a later batch carry is kept once);
* its event summary is read again only when a tool event of the run came since, and only once
  the scorer needs it: for a batch with readings of the run, or with its end (a batch that only
  brings a run_started reads nothing: the run's first readings will).

A run that ends is forgotten, and so is one no batch has touched for ``idle_s``: meeting it again
reads it again. The memory is a cache of silver, never the truth: losing it (a restart) costs one
read per run. What silver loses after the first read (a delete; maintenance commits are skipped by
the stream) stays in the memory until the run is read again.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from toollife.ml import features as feat

READING = "reading"
READING_COLUMNS = [*feat.RUN_KEY, "ts", "kafka_timestamp", "event_id", "sensor", "value"]

Key = tuple


def keys_of(frame: pd.DataFrame) -> list[Key]:
    return [tuple(r) for r in frame[feat.RUN_KEY].itertuples(index=False, name=None)]


def touched_runs(batch: pd.DataFrame, ends: Iterable[str]) -> pd.DataFrame:
    """A micro-batch's rows (run key, ``ts``, ``kind``: ``reading`` or the tool event's name) ->
    one row per run: ``newest_reading`` (NaT when only events came), ``has_event`` and ``has_end``
    (one of the events ``ends``)."""
    reading = batch["kind"] == READING
    out = (batch.assign(_r=batch["ts"].where(reading), _e=~reading, _x=batch["kind"].isin(list(ends)))
           .groupby(feat.RUN_KEY, sort=True, dropna=False)
           .agg(newest_reading=("_r", "max"), has_event=("_e", "any"), has_end=("_x", "any")).reset_index())
    out["newest_reading"] = pd.to_datetime(out["newest_reading"])
    return out


class RunMemory:
    """Run key -> tool-event summary and readings so far, with the bookkeeping above."""

    def __init__(self, idle_s: float = 3600.0):
        self.idle_s = float(idle_s)
        self._events: dict[Key, dict[str, Any]] = {}
        self._stale: set[Key] = set()     # runs with a tool event since their summary was read
        self._readings: dict[Key, pd.DataFrame] = {}
        self._touched: dict[Key, float] = {}
        self._columns: list[str] = list(feat.RUN_KEY)   # run_events' columns, from its first answer

    def __len__(self) -> int:
        return len(set(self._events) | set(self._readings))

    # -- tool events -------------------------------------------------------------------------------
    def events_to_read(self, touched: pd.DataFrame) -> list[Key]:
        """Runs whose event summary is needed now (readings or an end in the batch) and unknown, or
        changed since it was read (an event of the run came, in this batch or an earlier one)."""
        keys = keys_of(touched)
        self._stale.update(k for k, ev in zip(keys, touched["has_event"]) if ev)
        need = touched["newest_reading"].notna() | touched["has_end"]
        return [k for k, n in zip(keys, need) if n and (k not in self._events or k in self._stale)]

    def know_event_columns(self, columns: Iterable[str]) -> None:
        """``run_events``' columns, so that a batch before any summary was read (e.g. one that only
        brings run_started events) still has them all (empty) rather than the run key alone."""
        self._columns += [c for c in columns if c not in self._columns]

    def set_events(self, keys: Iterable[Key], summary: pd.DataFrame) -> None:
        """``summary``: the runs' rows of ``run_events``; a run without a row has no events yet
        (a reading can reach silver before its run_started does): an empty summary, read again
        when its first event arrives."""
        self._columns += [c for c in summary.columns if c not in self._columns]
        rows = {k: r for k, r in zip(keys_of(summary), summary.to_dict("records"))}
        for k in keys:
            self._events[k] = rows.get(k, dict(zip(feat.RUN_KEY, k)))
            self._stale.discard(k)

    def events(self, keys: Iterable[Key]) -> pd.DataFrame:
        """The summaries (a run not read yet: its key only, i.e. running, not started)."""
        return pd.DataFrame([self._events.get(k, dict(zip(feat.RUN_KEY, k))) for k in keys], columns=self._columns)

    # -- readings ----------------------------------------------------------------------------------
    def readings_to_read(self, keys: Iterable[Key]) -> list[Key]:
        return [k for k in keys if k not in self._readings]

    def load(self, keys: Iterable[Key], history: pd.DataFrame) -> None:
        """The runs' whole history as read from silver (a run without readings gets an empty one)."""
        by_run = {k: g for k, g in history.groupby(feat.RUN_KEY, sort=False)} if len(history) else {}
        for k in keys:
            self._readings[k] = by_run.get(k, history.iloc[0:0])[READING_COLUMNS].reset_index(drop=True)

    def extend(self, readings: pd.DataFrame) -> None:
        """A batch's readings, added to the runs whose history is loaded (others are read whole later)."""
        if readings.empty:
            return
        for k, new in readings.groupby(feat.RUN_KEY, sort=False):
            if k in self._readings:
                both = pd.concat([self._readings[k], new[READING_COLUMNS]], ignore_index=True)
                self._readings[k] = both.drop_duplicates("event_id", keep="first", ignore_index=True)

    def readings(self, keys: Iterable[Key]) -> pd.DataFrame:
        parts = [self._readings[k] for k in keys if k in self._readings]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=READING_COLUMNS)

    # -- forgetting --------------------------------------------------------------------------------
    def touch(self, keys: Iterable[Key], now: float) -> None:
        for k in keys:
            self._touched[k] = now

    def forget(self, keys: Iterable[Key]) -> None:
        for k in keys:
            self._events.pop(k, None)
            self._stale.discard(k)
            self._readings.pop(k, None)
            self._touched.pop(k, None)

    def forget_idle(self, now: float) -> list[Key]:
        idle = [k for k, t in self._touched.items() if now - t > self.idle_s]
        self.forget(idle)
        return idle
