"""Where a reading's latency goes, from the tables and checkpoints afterwards (pure pandas/numpy).

A reading crosses three hops: Kafka -> bronze (the bronze query), bronze -> silver (the silver
query), silver -> ``gold.tool_life_live`` (the scorer). Each hop is a wait (until a batch of the
hop's query starts that includes it) and the work of that batch (until its Delta commit). The
commit times come from the change data feed (``_commit_timestamp``), the batch starts from each
query's offset log (``batchTimestampMs``). ``benchmarks/live_goals.py`` uses these functions.
"""

from __future__ import annotations

import json
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

HOPS = (("kafka_ts", "bronze_start", "bronze_commit"), ("bronze_commit", "silver_start", "silver_commit"),
        ("silver_commit", "score_start", "gold_commit"))


def first_covering(readings: pd.DataFrame, versions: pd.DataFrame, key: Sequence[str], *, at: str,
                   ts: str = "ts", newest: str = "last_reading_ts") -> pd.Series:
    """For each reading (``key`` + ``ts``): the ``at`` of the first version of its run's row (in
    ``at`` order) whose newest reading so far is at least as new as the reading; NaT when no
    version covers it (the run ended before it was scored, or the scorer had not got there)."""
    out = pd.Series(pd.NaT, index=readings.index, dtype="datetime64[ns]")
    if versions.empty or readings.empty:
        return out
    by_run = {k: g.sort_values(at, kind="mergesort") for k, g in versions.groupby(list(key))}
    for k, g in readings.groupby(list(key)):
        v = by_run.get(k)
        if v is None:
            continue
        cummax = np.maximum.accumulate(pd.to_datetime(v[newest]).to_numpy())
        i = np.searchsorted(cummax, pd.to_datetime(g[ts]).to_numpy(), side="left")
        times = pd.to_datetime(v[at]).to_numpy()
        found = i < len(times)
        out.loc[g.index[found]] = times[i[found]]
    return out


def batch_start(times: pd.Series, starts: Iterable) -> pd.Series:
    """The start of the batch each time (a commit) belongs to: the latest batch start at or
    before it (NaT before the first)."""
    starts = np.sort(pd.to_datetime(pd.Series(list(starts), dtype="datetime64[ns]")).to_numpy())
    t = pd.to_datetime(times).to_numpy()
    i = np.searchsorted(starts, t, side="right") - 1
    out = np.full(len(t), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = (i >= 0) & ~pd.isna(t)
    out[ok] = starts[i[ok]]
    return pd.Series(out, index=times.index)


def offset_log_start(text: str) -> pd.Timestamp | None:
    """A Structured Streaming offset-log entry (``<checkpoint>/offsets/<batch id>``) -> its batch's
    start (``batchTimestampMs``, UTC, naive), or None for an entry without one."""
    for line in text.splitlines()[1:]:
        try:
            meta = json.loads(line)
        except ValueError:
            continue
        if isinstance(meta, dict) and "batchTimestampMs" in meta:
            return pd.Timestamp(int(meta["batchTimestampMs"]), unit="ms")
    return None


def hop_seconds(frame: pd.DataFrame) -> pd.DataFrame:
    """Per reading (a frame with the columns of :data:`HOPS`): the wait and the work of each hop
    and the total, in seconds."""
    def sec(a: str, b: str) -> pd.Series:
        return (pd.to_datetime(frame[b]) - pd.to_datetime(frame[a])).dt.total_seconds()

    out = {}
    for n, (before, start, commit) in enumerate(HOPS, 1):
        out[f"hop{n}_wait"] = sec(before, start)
        out[f"hop{n}_work"] = sec(start, commit)
    out["total"] = sec(HOPS[0][0], HOPS[-1][2])
    return pd.DataFrame(out, index=frame.index)


def summary(seconds: pd.DataFrame, quantiles: Mapping[str, float] = {"p50": 50, "p95": 95}) -> dict:
    """{column: {"mean": s, "p50": s, "p95": s}} over the rows where the column is known."""
    out = {}
    for col in seconds.columns:
        s = seconds[col].dropna().to_numpy()
        if not s.size:
            continue
        out[col] = {"mean": round(float(s.mean()), 2),
                    **{name: round(float(np.percentile(s, q)), 2) for name, q in quantiles.items()}}
    return out
