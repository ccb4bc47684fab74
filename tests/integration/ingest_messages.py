"""Contract-v1 messages for the ingestion tests, produced with kafka-python (no simulator).

``valid_reading(i)`` / ``valid_event(i, kind)`` build conforming payloads; ``BAD_READINGS`` and
``BAD_EVENTS`` are (kind, expected reason code, key, raw value bytes) cases that must be quarantined;
``EDGE_READINGS`` conform to the contract in unusual ways and must be accepted.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from kafka import KafkaProducer

# yesterday 08:00 UTC: in the past (not "in the future") whatever the machine's clock says
BASE_TS = (datetime.now(timezone.utc) - timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)


def iso(ts) -> str:
    if isinstance(ts, str):
        return ts
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def valid_reading(i: int, *, machine: str = "M01", prefix: str = "r", ts=None, **over) -> dict:
    msg = {
        "event_id": f"{prefix}{i}", "ts": iso(ts or BASE_TS + timedelta(seconds=i)), "machine_id": machine,
        "tool_id": "T01", "experiment_id": "exp-1", "run_id": 1 + i % 8, "replicate": 1,
        "sensor": "spindle_power", "value": 10.0 + (i % 50) / 10, "unit": "kW",
    }
    msg.update(over)
    return msg


def valid_event(i: int, kind: str = "run_started", *, machine: str = "M01", prefix: str = "ev", **over) -> dict:
    msg = {
        "event_id": f"{prefix}{i}", "ts": iso(BASE_TS + timedelta(seconds=i)), "machine_id": machine,
        "tool_id": "T02", "experiment_id": "exp-1", "run_id": 1 + i % 8, "event": kind,
    }
    if kind == "run_started":
        msg["factors"] = {"cutting_speed": 200.0, "feed": 0.2, "depth_of_cut": 1.5, "coolant": "flood",
                          "coating": "TiAlN"}
    if kind == "tool_worn_out":
        msg.update(tool_life_min=23.5, flank_wear_mm=0.31)
    msg.update(over)
    return msg


def enc(msg) -> bytes:
    return msg if isinstance(msg, bytes) else json.dumps(msg).encode()


def _without(msg: dict, *keys: str) -> dict:
    return {k: v for k, v in msg.items() if k not in keys}


R = valid_reading
# (kind, expected reason_code, key, value)
BAD_READINGS = [
    ("malformed json", "malformed_json", b"M01", b'{"event_id": "b1", "ts": '),
    ("json array, not an object", "malformed_json", b"M01", b"[1, 2, 3]"),
    ("empty value", "empty_value", b"M01", b""),
    ("null value (tombstone)", "empty_value", b"M01", None),
    ("run_id as a string", "wrong_type", b"M01", enc(R(1, prefix="b", run_id="3"))),
    ("value as a string", "wrong_type", b"M01", enc(R(2, prefix="b", value="12.5"))),
    ("machine_id as a number", "wrong_type", b"M01", enc(R(3, prefix="b", machine_id=1))),
    ("run_id not integral", "wrong_type", b"M01", enc(R(4, prefix="b", run_id=2.5))),
    ("event_id null", "wrong_type", b"M01", enc(R(5, prefix="b", event_id=None))),
    ("missing value", "missing_field", b"M01", enc(_without(R(6, prefix="b"), "value"))),
    ("missing ts", "missing_field", b"M01", enc(_without(R(7, prefix="b"), "ts"))),
    ("unknown sensor", "unknown_sensor", b"M01", enc(R(8, prefix="b", sensor="humidity"))),
    ("NaN value", "non_finite_value", b"M01", enc(R(9, prefix="b", value=float("nan")))),
    ("Infinity value", "non_finite_value", b"M01", enc(R(10, prefix="b", value=float("inf")))),
    ("overflowing number 1e400", "non_finite_value", b"M01",
     enc(R(11, prefix="b", value=1.5)).replace(b'"value": 1.5', b'"value": 1e400')),
    ("value above the sensor range", "out_of_range", b"M01", enc(R(12, prefix="b", value=200.5))),
    ("negative value", "out_of_range", b"M01", enc(R(13, prefix="b", value=-0.1))),
    ("run_id 0", "out_of_range", b"M01", enc(R(14, prefix="b", run_id=0))),
    ("replicate 0", "out_of_range", b"M01", enc(R(15, prefix="b", replicate=0))),
    ("ts without offset", "invalid_timestamp", b"M01", enc(R(16, prefix="b", ts="2026-11-21T08:00:00"))),
    ("ts not a date", "invalid_timestamp", b"M01", enc(R(17, prefix="b", ts="yesterday"))),
    ("ts impossible date", "invalid_timestamp", b"M01", enc(R(18, prefix="b", ts="2026-02-30T08:00:00Z"))),
    ("ts far in the future", "timestamp_in_future", b"M01", enc(R(19, prefix="b", ts="2099-01-01T00:00:00Z"))),
    ("bad machine_id pattern", "invalid_id", b"X1", enc(R(20, prefix="b", machine="X1"))),
    ("bad tool_id pattern", "invalid_id", b"M01", enc(R(21, prefix="b", tool_id="T1"))),
    ("event_id too long", "invalid_id", b"M01", enc(R(22, prefix="b", event_id="e" * 65))),
    ("empty experiment_id", "invalid_id", b"M01", enc(R(23, prefix="b", experiment_id=""))),
    ("oversize payload", "payload_too_large", b"M01", enc(R(24, prefix="b", blob="x" * 70_000))),
    ("key differs from machine_id", "key_mismatch", b"M02", enc(R(25, prefix="b"))),
    ("no key", "key_mismatch", None, enc(R(26, prefix="b"))),
    ("invalid UTF-8", "invalid_utf8", b"M01", b'{"event_id": "\xff\xfe"}'),
]

E = valid_event
BAD_EVENTS = [
    ("run_started without factors", "missing_factors", b"M01", enc(_without(E(1, prefix="be"), "factors"))),
    ("tool_worn_out without tool_life_min", "missing_tool_life", b"M01",
     enc(_without(E(2, "tool_worn_out", prefix="be"), "tool_life_min"))),
    ("unknown event", "unknown_event", b"M01", enc(E(3, "run_paused", prefix="be"))),
    ("factor cutting_speed 0", "invalid_factor", b"M01",
     enc(E(4, prefix="be", factors={"cutting_speed": 0, "feed": 0.2}))),
    ("factor coolant not in enum", "invalid_factor", b"M01", enc(E(5, prefix="be", factors={"coolant": "mist"}))),
    ("factor feed as string", "invalid_factor", b"M01", enc(E(6, prefix="be", factors={"feed": "0.2"}))),
    ("factors not an object", "wrong_type", b"M01", enc(E(7, prefix="be", factors=[1, 2]))),
    ("tool_life_min 0", "out_of_range", b"M01", enc(E(8, "tool_worn_out", prefix="be", tool_life_min=0))),
    ("negative flank wear", "out_of_range", b"M01", enc(E(9, "tool_worn_out", prefix="be", flank_wear_mm=-0.1))),
    ("run_id as a string", "wrong_type", b"M01", enc(E(10, "run_aborted", prefix="be", run_id="3"))),
]

# conforming in unusual ways: all must land in silver
EDGE_READINGS = [
    ("extra unknown fields", R(1, prefix="edge", firmware="1.2.3", nested={"a": [1, None]})),
    ("replicate omitted", _without(R(2, prefix="edge"), "replicate")),
    ("unit omitted", _without(R(3, prefix="edge"), "unit")),
    ("value at the lower bound", R(4, prefix="edge", sensor="temperature", value=-40)),
    ("value at the upper bound", R(5, prefix="edge", sensor="flank_wear", value=2)),
    ("ts with +02:00 offset", R(6, prefix="edge", ts=(BASE_TS + timedelta(hours=2, seconds=6)).strftime("%Y-%m-%dT%H:%M:%S+02:00"))),
    ("integer-valued value", R(7, prefix="edge", value=5)),
    ("run_id written as 3.0", R(8, prefix="edge", run_id=3.0)),
    ("ts lower-case t/z, microseconds", R(9, prefix="edge", ts=BASE_TS.strftime("%Y-%m-%dt%H:%M:09.123456z"))),
    ("unicode event_id", R(10, prefix="edge", event_id="edge-ü-10")),
]
EDGE_EVENTS = [
    ("non-standard factor", E(1, prefix="edgeev", factors={"cutting_speed": 150, "insert_grade": "P25"})),
    ("run_aborted without extras", E(2, "run_aborted", prefix="edgeev")),
    ("tool_worn_out with integer life", E(3, "tool_worn_out", prefix="edgeev", tool_life_min=20)),
]


def producer(config) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=config["kafka"]["bootstrap_servers"], acks="all",
                         linger_ms=20, max_request_size=1_048_576)


def send(config, source: str, records, *, flush: bool = True, prod: KafkaProducer | None = None) -> int:
    """records: iterable of (key bytes|None, value dict|bytes|None). Returns the count sent."""
    own = prod is None
    prod = prod or producer(config)
    topic = config["kafka"]["topics"][source]
    n = 0
    for key, value in records:
        prod.send(topic, key=key, value=None if value is None else enc(value))
        n += 1
    if flush:
        prod.flush()
    if own:
        prod.close()
    return n


def keyed(messages) -> list[tuple[bytes, dict]]:
    return [(m["machine_id"].encode(), m) for m in messages]
