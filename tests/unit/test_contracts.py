"""The packaged contracts are the team's shared contracts, unchanged."""

from pathlib import Path

import pytest

from toollife.contracts import SENSOR_READING, TOOL_EVENT, load_schema, sensor_ranges, validator

SHARED = Path(__file__).resolve().parents[3] / "shared" / "contracts"


@pytest.mark.parametrize("name", [SENSOR_READING, TOOL_EVENT])
def test_packaged_copy_matches_shared(name):
    shared = SHARED / f"{name}.schema.json"
    if not shared.exists():
        pytest.skip("shared/ is not checked out beside this clone")
    packaged = Path(__import__("toollife.contracts", fromlist=["x"]).__file__).parent / f"{name}.schema.json"
    assert packaged.read_bytes() == shared.read_bytes()


def test_date_time_format_is_enforced():
    good = {"event_id": "e1", "ts": "2026-11-21T08:00:01.250Z", "machine_id": "M01", "tool_id": "T01",
            "experiment_id": "x", "run_id": 1, "sensor": "temperature", "value": 20.5}
    assert not list(validator(SENSOR_READING).iter_errors(good))
    assert list(validator(SENSOR_READING).iter_errors({**good, "ts": "2026-11-21 08:00"}))


def test_ranges_come_from_the_contract():
    assert sensor_ranges()["flank_wear"] == {"unit": "mm", "min": 0, "max": 2}
    assert load_schema(TOOL_EVENT)["properties"]["event"]["enum"] == ["run_started", "tool_worn_out", "run_aborted"]
