"""What the live scorer keeps between micro-batches (toollife.live.memory): which runs a batch
touched, when a run's events and readings are read from silver, how batches extend them, forgetting."""

import pandas as pd

from toollife.live import memory

T = pd.Timestamp("2026-12-01 10:00:00")
RUN = {"experiment_id": "SIM-7", "machine_id": "M01", "tool_id": "T02", "run_id": 4, "replicate": 1}
KEY = tuple(RUN.values())
OTHER = {**RUN, "run_id": 5}
ENDS = ("tool_worn_out", "run_aborted")


def row(run, seconds, kind="reading", event_id=None, sensor="flank_wear", value=0.1):
    return {**run, "ts": T + pd.Timedelta(seconds=seconds), "kafka_timestamp": T + pd.Timedelta(seconds=seconds + 1),
            "kind": kind, "event_id": event_id or f"{run['run_id']}-{kind}-{seconds}",
            "sensor": sensor if kind == "reading" else None, "value": value if kind == "reading" else None}


def test_touched_runs_newest_reading_events_and_ends():
    batch = pd.DataFrame([row(RUN, 10), row(RUN, 30), row(RUN, 20), row(OTHER, 5, kind="run_started")])
    out = memory.touched_runs(batch, ENDS).set_index("run_id")
    assert out.loc[4, "newest_reading"] == T + pd.Timedelta(seconds=30) and not out.loc[4, "has_event"]
    assert pd.isna(out.loc[5, "newest_reading"]) and out.loc[5, "has_event"] and not out.loc[5, "has_end"]
    assert memory.touched_runs(pd.DataFrame([row(RUN, 40, kind="tool_worn_out")]), ENDS)["has_end"].all()


def test_events_are_read_when_needed_and_again_only_after_an_event_of_the_run():
    mem = memory.RunMemory()
    # a batch with only a run_started: nothing to score or close yet, so nothing is read
    assert mem.events_to_read(memory.touched_runs(pd.DataFrame([row(RUN, 0, kind="run_started")]), ENDS)) == []
    touched = memory.touched_runs(pd.DataFrame([row(RUN, 10), row(OTHER, 10)]), ENDS)
    assert mem.events_to_read(touched) == [KEY, tuple(OTHER.values())]
    # run 4 has its run_started in silver, run 5 not yet (a reading can overtake its run_started)
    mem.set_events(mem.events_to_read(touched), pd.DataFrame([{**RUN, "status": "running", "started_at": T}]))
    assert mem.events_to_read(touched) == []
    got = mem.events([KEY, tuple(OTHER.values())])
    assert got["started_at"].iloc[0] == T and pd.isna(got["started_at"].iloc[1]) and pd.isna(got["status"].iloc[1])
    # run 5's run_started comes alone, then its readings: read again with them
    assert mem.events_to_read(memory.touched_runs(pd.DataFrame([row(OTHER, 0, kind="run_started")]), ENDS)) == []
    assert mem.events_to_read(memory.touched_runs(pd.DataFrame([row(RUN, 20), row(OTHER, 20)]), ENDS)) == [
        tuple(OTHER.values())]
    # an end is read at once, readings or not
    assert mem.events_to_read(memory.touched_runs(pd.DataFrame([row(RUN, 30, kind="run_aborted")]), ENDS)) == [KEY]
    assert mem.events([("SIM-9", "M09", "T09", 1, 1)])["status"].isna().all()    # never read: its key only


def test_readings_load_once_then_batches_extend_them_each_reading_once():
    mem = memory.RunMemory()
    assert mem.readings_to_read([KEY]) == [KEY]
    # a batch before the load is not kept for an unloaded run: the load reads it whole
    mem.extend(pd.DataFrame([row(RUN, 10)]))
    assert mem.readings([KEY]).empty
    # the first read already holds a reading a later batch hands over again (silver moved on meanwhile)
    mem.load([KEY, tuple(OTHER.values())], pd.DataFrame([row(RUN, 10), row(RUN, 20)]))
    assert mem.readings_to_read([KEY, tuple(OTHER.values())]) == []
    mem.extend(pd.DataFrame([row(RUN, 20), row(RUN, 30), row(OTHER, 40)]))
    got = mem.readings([KEY])
    assert sorted(got["ts"]) == [T + pd.Timedelta(seconds=s) for s in (10, 20, 30)]
    assert list(got.columns) == memory.READING_COLUMNS
    assert len(mem.readings([tuple(OTHER.values())])) == 1


def test_ended_and_idle_runs_are_forgotten_and_read_again_when_met():
    mem = memory.RunMemory(idle_s=60)
    mem.load([KEY, tuple(OTHER.values())], pd.DataFrame([row(RUN, 10), row(OTHER, 10)]))
    mem.set_events([KEY, tuple(OTHER.values())], pd.DataFrame([RUN, OTHER]))
    mem.touch([KEY, tuple(OTHER.values())], now=0.0)
    mem.forget([KEY])
    assert mem.readings_to_read([KEY]) == [KEY] and len(mem) == 1
    mem.touch([tuple(OTHER.values())], now=30.0)
    assert mem.forget_idle(now=80.0) == [] and len(mem) == 1
    assert mem.forget_idle(now=100.0) == [tuple(OTHER.values())] and len(mem) == 0


def test_a_batch_before_any_summary_was_read_still_has_every_event_column():
    # a first batch with only run_started reads no summary; the scorer still selects ended_at, status, ...
    mem = memory.RunMemory()
    mem.know_event_columns(["experiment_id", "status", "started_at", "ended_at", "tool_life_min"])
    out = mem.events([KEY])
    assert list(out.columns) == [*RUN, "status", "started_at", "ended_at", "tool_life_min"]
    assert out.loc[0, "run_id"] == 4 and out[["status", "ended_at"]].isna().all().all()
