"""Where a reading's latency goes: the first row version covering a reading, the batch a commit
belongs to, offset-log entries, and the hop arithmetic (toollife.live.latency)."""

import pandas as pd
import pytest

from toollife.live import latency

KEY = ["run_id"]
T = pd.Timestamp("2026-12-01 10:00:00")


def s(seconds: float) -> pd.Timestamp:
    return T + pd.Timedelta(seconds=seconds)


def test_first_covering_is_the_first_version_whose_newest_reading_so_far_is_as_new():
    versions = pd.DataFrame({"run_id": [1, 1, 1, 2], "last_reading_ts": [s(10), s(5), s(30), s(10)],
                             "committed": [s(100), s(90), s(120), s(95)]})
    readings = pd.DataFrame({"run_id": [1, 1, 1, 1, 2, 3], "ts": [s(3), s(7), s(10), s(31), s(10), s(1)]})
    got = latency.first_covering(readings, versions, KEY, at="committed")
    # run 1 in commit order: newest 5 (at 90), 10 (100), 30 (120); a reading newer than every version: NaT
    assert got.tolist()[:3] == [s(90), s(100), s(100)]
    assert pd.isna(got.iloc[3]) and pd.isna(got.iloc[5])
    assert got.iloc[4] == s(95)


def test_first_covering_keeps_the_newest_so_far_when_a_later_version_is_older():
    versions = pd.DataFrame({"run_id": [1, 1], "last_reading_ts": [s(20), s(15)], "committed": [s(100), s(110)]})
    got = latency.first_covering(pd.DataFrame({"run_id": [1], "ts": [s(18)]}), versions, KEY, at="committed")
    assert got.tolist() == [s(100)]


def test_batch_start_is_the_latest_start_at_or_before_the_commit():
    commits = pd.Series([s(5), s(10), s(25), s(-1), pd.NaT])
    got = latency.batch_start(commits, [s(20), s(0), s(10)])
    assert got.iloc[:3].tolist() == [s(0), s(10), s(20)]
    assert pd.isna(got.iloc[3]) and pd.isna(got.iloc[4])


def test_offset_log_start():
    entry = 'v1\n{"batchWatermarkMs":0,"batchTimestampMs":1764583200000,"conf":{}}\n{"sourceVersion":1}\n'
    assert latency.offset_log_start(entry) == pd.Timestamp("2025-12-01 10:00:00")
    assert latency.offset_log_start("v1\n") is None


def test_hop_seconds_and_summary():
    frame = pd.DataFrame([{"kafka_ts": s(0), "bronze_start": s(4), "bronze_commit": s(6), "silver_start": s(7),
                           "silver_commit": s(10), "score_start": s(11), "gold_commit": s(13)}])
    hops = latency.hop_seconds(frame)
    assert hops.iloc[0].to_dict() == {"hop1_wait": 4.0, "hop1_work": 2.0, "hop2_wait": 1.0, "hop2_work": 3.0,
                                      "hop3_wait": 1.0, "hop3_work": 2.0, "total": 13.0}
    out = latency.summary(pd.DataFrame({"x": [1.0, 2.0, 3.0, None]}))
    assert out["x"]["mean"] == 2.0 and out["x"]["p50"] == 2.0
    assert out["x"]["p95"] == pytest.approx(2.9)
