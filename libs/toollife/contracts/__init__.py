"""Kafka message contracts v1 (JSON Schema 2020-12), shipped inside the package.

The files are byte-for-byte copies of the team's shared contracts (a test keeps them in sync).
Producers and the ingestion validate against the same definitions: the physical sensor ranges,
the enums and id patterns come from here, never from literals elsewhere.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

SENSOR_READING = "sensor-reading"
TOOL_EVENT = "tool-event"
TOOL_ALERT = "tool-alert"   # published by the live scorer (toollife.live), not ingested


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """``load_schema("sensor-reading")`` -> the parsed JSON Schema."""
    return json.loads(resources.files(__package__).joinpath(f"{name}.schema.json").read_text())


def sensor_ranges() -> dict[str, dict[str, Any]]:
    """{sensor: {"unit": ..., "min": ..., "max": ...}} from the sensor-reading contract."""
    return load_schema(SENSOR_READING)["x-sensor-units-and-ranges"]


def validator(name: str):
    """A jsonschema validator that also checks ``format`` (date-time) like the contract intends."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)
