"""Simulated messages: contract conformance, bad-message injection per kind, determinism."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from toollife.contracts import validator
from toollife.simulation import BAD_KINDS, SENSOR_READINGS, TOOL_EVENTS, check_message, simulate
from toollife.simulation.messages import SCHEMA_OF_TOPIC

SMALL = {"machines": 2, "tools": 1, "replicates": 1, "seed": 11,
         "sensors": {"sample_interval_s": 120.0},
         # anomalies at high rates so clipping, drift, spikes, chipping and dropouts are all exercised
         "anomalies": {"drift_rate": 0.5, "vibration_spike_rate": 0.05, "chipping_rate": 0.2, "dropout_rate": 0.02}}
BAD_COUNTS = {"malformed_json": 4, "missing_field": 5, "unknown_sensor": 3, "out_of_range": 4, "non_finite": 3,
              "bad_timestamp": 5, "wrong_type": 6, "oversize": 2, "duplicate": 7}
EXPECTED_REASON = {"malformed_json": "malformed_json", "missing_field": "schema", "unknown_sensor": "schema",
                   "out_of_range": "out_of_range", "non_finite": "non_finite", "bad_timestamp": "schema",
                   "wrong_type": "schema", "oversize": "oversize"}


@pytest.fixture(scope="module")
def clean():
    return simulate(overrides=SMALL)


@pytest.fixture(scope="module")
def dirty():
    return simulate(overrides={**SMALL, "bad_messages": {"counts": BAD_COUNTS, "oversize_bytes": 4096}})


def test_every_valid_message_conforms_to_the_contracts(clean):
    validators = {t: validator(s) for t, s in SCHEMA_OF_TOPIC.items()}
    assert clean.counts["anomalies"]["chipping"] > 0 and clean.counts["anomalies"]["drift"] > 0
    assert clean.counts["anomalies"]["dropped_readings"] > 0 and clean.counts["anomalies"]["vibration_spike"] > 0
    for m in clean.messages:
        assert m.kind == "valid"
        obj = json.loads(m.value)
        errors = list(validators[m.topic].iter_errors(obj))
        assert not errors, (m.value, errors[0].message)
        assert check_message(m.topic, m.value) is None, m.value
        assert m.key == obj["machine_id"].encode()


def test_event_ids_unique_and_tool_events_complete(clean):
    ids = [json.loads(m.value)["event_id"] for m in clean.messages]
    assert len(ids) == len(set(ids))
    events = [json.loads(v) for _, v in clean.tool_events]
    per_run = Counter((e["machine_id"], e["tool_id"], e["run_id"], e["replicate"]) for e in events)
    assert set(per_run.values()) == {2} and len(per_run) == clean.counts["runs"]
    for e in events:
        if e["event"] == "run_started":
            assert set(e["factors"]) == {"cutting_speed", "feed", "depth_of_cut", "coolant", "coating"}
        elif e["event"] == "tool_worn_out":
            assert e["tool_life_min"] > 0 and e["flank_wear_mm"] == 0.3
        else:
            assert e["event"] == "run_aborted" and e["reason"] == "chipping"
    assert Counter(e["event"] for e in events)["run_aborted"] == clean.counts["runs_aborted"] > 0


def test_timestamps_follow_the_simulated_clock(clean):
    per_machine: dict[str, list[str]] = {}
    for m in clean.messages:
        obj = json.loads(m.value)
        per_machine.setdefault(obj["machine_id"], []).append(obj["ts"])
    for stamps in per_machine.values():
        assert stamps[0] == "2026-01-05T06:00:00.000Z"
        assert stamps == sorted(stamps)  # same offset and format: lexical order = time order
    shifted = simulate(overrides={**SMALL, "sensors": {"start_time": "2026-11-21T09:30:00.125+01:00"}})
    first = json.loads(shifted.messages[0].value)
    assert first["ts"] == "2026-11-21T09:30:00.125+01:00"


def test_same_seed_gives_identical_messages_different_seed_differs(clean):
    again = simulate(overrides=SMALL)
    assert again.messages == clean.messages
    assert again.simulation_id == clean.simulation_id and again.config_hash == clean.config_hash
    other = simulate(overrides={**SMALL, "seed": 12})
    assert other.messages != clean.messages
    assert other.config_hash == clean.config_hash and other.simulation_id != clean.simulation_id
    # delivery settings do not change the messages
    assert simulate(overrides={**SMALL, "publish": {"linger_ms": 1}}).messages == clean.messages


def test_injected_counts_match_the_request(dirty, clean):
    assert dirty.counts["injected"] == BAD_COUNTS
    kinds = Counter(m.kind for m in dirty.messages)
    assert {k: kinds.get(k, 0) for k in BAD_KINDS} == BAD_COUNTS
    assert kinds["valid"] == len(clean.messages)
    assert [m for m in dirty.messages if m.kind == "valid"] == clean.messages  # injection only adds
    assert dirty.counts["messages"] == len(clean.messages) + sum(BAD_COUNTS.values())


@pytest.mark.parametrize("kind", [k for k in BAD_KINDS if k != "duplicate"])
def test_every_injected_bad_message_does_not_conform(dirty, kind):
    bad = [m for m in dirty.messages if m.kind == kind]
    assert len(bad) == BAD_COUNTS[kind]
    for m in bad:
        reason = check_message(m.topic, m.value, oversize_bytes=4096)
        assert reason is not None and reason.startswith(EXPECTED_REASON[kind]), (kind, reason, m.value[:200])
        if EXPECTED_REASON[kind] == "schema":  # the JSON schema itself rejects these
            assert list(validator(SCHEMA_OF_TOPIC[m.topic]).iter_errors(json.loads(m.value)))
    if kind == "non_finite":
        assert all(any(tok in m.value for tok in (b"NaN", b"Infinity")) for m in bad)
    if kind == "oversize":
        assert all(len(m.value) > 4096 for m in bad)
    if kind in ("unknown_sensor", "out_of_range", "non_finite"):
        assert all(m.topic == SENSOR_READINGS for m in bad)


def test_duplicates_are_identical_valid_resends(dirty):
    dups = [m for m in dirty.messages if m.kind == "duplicate"]
    originals = {(m.topic, m.key, m.value) for m in dirty.messages if m.kind == "valid"}
    assert len(dups) == BAD_COUNTS["duplicate"]
    for m in dups:
        assert (m.topic, m.key, m.value) in originals
        assert check_message(m.topic, m.value) is None


def test_rates_inject_about_rate_times_messages():
    n_valid = len(simulate(overrides=SMALL).messages)
    result = simulate(overrides={**SMALL, "bad_messages": {"rates": {"wrong_type": 0.01, "duplicate": 0.02},
                                                           "counts": {"wrong_type": 2}}})
    inj = result.counts["injected"]
    assert Counter(m.kind for m in result.messages)["wrong_type"] == inj["wrong_type"]
    assert abs(inj["wrong_type"] - 2 - 0.01 * n_valid) < 5 * (0.01 * n_valid) ** 0.5 + 1
    assert abs(inj["duplicate"] - 0.02 * n_valid) < 5 * (0.02 * n_valid) ** 0.5 + 1


def test_unknown_bad_kind_is_rejected():
    from toollife.config import ConfigError

    with pytest.raises(ConfigError, match="bogus"):
        simulate(overrides={**SMALL, "bad_messages": {"counts": {"bogus": 1}}})


def test_topics_and_keys(dirty):
    assert len(dirty.sensor_readings) == dirty.counts["by_topic"][SENSOR_READINGS]
    assert len(dirty.tool_events) == dirty.counts["by_topic"][TOOL_EVENTS]
    assert {k for k, _ in dirty.sensor_readings} == {b"M01", b"M02"}
