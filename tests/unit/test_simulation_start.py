"""Where a new simulated experiment's clock starts (toollife.simulation.manifest.choose_start):
after the last recorded one, so the ingestion's "late" counter means something, and at its
recorded start for a rerun, so the same seed publishes byte-identical messages."""

from __future__ import annotations

import json

from toollife.config import load_config
from toollife.simulation import manifest as mf
from toollife.simulation import simulate

CONF = "2026-01-05T06:00:00.000Z"
TINY = {"machines": 1, "tools": 1, "replicates": 1, "sensors": {"sample_interval_s": 3600.0}}


def test_nothing_recorded_starts_at_the_configured_time():
    assert mf.choose_start(CONF, "sim-1-x", {}, 180.0) == CONF


def test_a_new_simulation_starts_a_tool_change_after_the_latest_end_rounded_up_to_the_second():
    recorded = {"sim-1-x": {"start": CONF, "end": "2026-01-05T15:29:11.146Z"},
                "sim-2-x": {"start": "2026-01-05T15:32:12.000Z", "end": "2026-01-06T07:33:18.286Z"},
                "old": {"start": CONF, "end": None}}      # a manifest from before the clock was recorded
    assert mf.choose_start(CONF, "sim-3-x", recorded, 180.0) == "2026-01-06T07:36:19.000Z"
    assert mf.choose_start(CONF, "sim-3-x", recorded, 0.0) == "2026-01-06T07:33:19.000Z"


def test_a_recorded_simulation_keeps_its_start_even_after_later_ones():
    recorded = {"sim-1-x": {"start": CONF, "end": "2026-01-05T15:29:11.146Z"},
                "sim-2-x": {"start": "2026-01-05T15:32:12.000Z", "end": "2026-01-06T07:33:18.286Z"}}
    assert mf.choose_start(CONF, "sim-1-x", recorded, 180.0) == CONF
    assert mf.choose_start(CONF, "old", {"old": {"start": CONF, "end": None}}, 180.0) == CONF


def test_a_configured_start_later_than_every_end_wins_and_keeps_its_offset():
    recorded = {"sim-1-x": {"start": CONF, "end": "2026-01-05T15:29:11.146Z"}}
    later = "2026-03-01T08:00:00.000+01:00"
    assert mf.choose_start(later, "sim-2-x", recorded, 180.0) == later
    assert mf.choose_start("2026-01-05T09:00:00.000+01:00", "sim-2-x", recorded, 180.0) == \
        "2026-01-05T16:32:12.000+01:00"


def test_next_start_chains_experiments_and_a_rerun_is_byte_identical(tmp_path):
    config = load_config()
    config["simulation"]["manifest_dir"] = str(tmp_path)
    first = simulate(config, overrides={**TINY, "seed": 4}, start_for=mf.NextStart(config))
    mf.record(config, mf.build_manifest(first, target="jsonl"), table=False)
    second = simulate(config, overrides={**TINY, "seed": 5}, start_for=mf.NextStart(config))
    mf.record(config, mf.build_manifest(second, target="jsonl"), table=False)

    first_clock = json.loads(mf.manifest_path(config, first.simulation_id).read_text())["clock"]
    assert first_clock["start"] == CONF
    stamps = sorted(json.loads(m.value)["ts"] for m in second.messages)
    assert stamps[0] > first_clock["end"]                 # nothing of the second is older than the first
    assert second.config_hash == simulate(config, overrides={**TINY, "seed": 5}).config_hash  # same id

    again = simulate(config, overrides={**TINY, "seed": 4}, start_for=mf.NextStart(config))
    assert again.simulation_id == first.simulation_id and again.messages == first.messages
