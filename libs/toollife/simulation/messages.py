"""Contract-v1 JSON messages of a simulated plan, anomalies, and bad-message injection.

Values are built as compact JSON with a fixed key order and values rounded to 4 decimals, and the
timestamps come from the simulated clock only, so the same plan gives byte-identical messages.

:func:`check_message` is the producer-side reference of what "conforms" means: the JSON parses
strictly (no NaN/Infinity tokens), is an object, validates against the JSON schema (with the
date-time format), the sensor value lies in its contract range, and the payload is not larger
than ``oversize_bytes``. Every injected bad message fails it; a duplicate passes it (it is a
valid re-send with the same event_id that the ingestion dedupes).
"""

from __future__ import annotations

import heapq
import json
import math
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from toollife import contracts
from toollife.simulation import physics
from toollife.simulation.plan import STREAM_INJECT, STREAM_SENSOR, Plan, rng, run_keys

SENSOR_READINGS = "sensor_readings"  # logical topic names = keys of config kafka.topics
TOOL_EVENTS = "tool_events"
TOPICS = (SENSOR_READINGS, TOOL_EVENTS)
SCHEMA_OF_TOPIC = {SENSOR_READINGS: contracts.SENSOR_READING, TOOL_EVENTS: contracts.TOOL_EVENT}

VALID = "valid"
BAD_KINDS = ("malformed_json", "missing_field", "unknown_sensor", "out_of_range", "non_finite",
             "bad_timestamp", "wrong_type", "oversize", "duplicate")
SENSOR_ONLY_KINDS = {"unknown_sensor", "out_of_range", "non_finite"}
KIND_CODE = {"malformed_json": "mj", "missing_field": "mf", "unknown_sensor": "us", "out_of_range": "or",
             "non_finite": "nf", "bad_timestamp": "bt", "wrong_type": "wt", "oversize": "os"}
SENSOR_CODE = {"spindle_power": "sp", "vibration_rms": "vb", "temperature": "tc",
               "acoustic_emission": "ae", "flank_wear": "fw"}
DECIMALS = 4


class Message(NamedTuple):
    topic: str  # logical topic: sensor_readings | tool_events
    key: bytes  # machine_id, UTF-8
    value: bytes  # the JSON payload, UTF-8
    kind: str = VALID  # valid, or the injected kind (duplicate is a valid re-send)


# --------------------------------------------------------------------------- clock
def parse_start(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"simulation.sensors.start_time {text!r} is not ISO-8601: {exc}") from None
    if dt.tzinfo is None:
        raise ValueError(f"simulation.sensors.start_time {text!r} needs an offset (e.g. Z or +01:00)")
    return dt


class Clock:
    """Formats simulated-clock offsets (ms) as ISO-8601 with the start instant's offset."""

    def __init__(self, start: datetime):
        self.start = start
        offset = start.utcoffset() or timedelta(0)
        if offset == timedelta(0):
            self.suffix = "Z"
        else:
            sign = "-" if offset < timedelta(0) else "+"
            minutes = abs(int(offset.total_seconds())) // 60
            self.suffix = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"

    def iso(self, offset_ms: int) -> str:
        dt = self.start + timedelta(milliseconds=int(offset_ms))
        return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}{self.suffix}"


# --------------------------------------------------------------------------- conformance
class _NonFinite(ValueError):
    pass


def _reject_constant(token: str):
    raise _NonFinite(token)


_VALIDATORS: dict[str, Any] = {}


def _validator(topic: str):
    if topic not in _VALIDATORS:
        _VALIDATORS[topic] = contracts.validator(SCHEMA_OF_TOPIC[topic])
    return _VALIDATORS[topic]


def check_message(topic: str, value: bytes, *, oversize_bytes: int = 65536) -> str | None:
    """``None`` if the payload conforms to contract v1, else a short reason."""
    if len(value) > oversize_bytes:
        return f"oversize: {len(value)} bytes > {oversize_bytes}"
    try:
        obj = json.loads(value, parse_constant=_reject_constant)
    except _NonFinite as exc:
        return f"non_finite: bare {exc} token"
    except (ValueError, UnicodeDecodeError) as exc:
        return f"malformed_json: {exc}"
    if not isinstance(obj, dict):
        return "malformed_json: not a JSON object"
    error = next(iter(_validator(topic).iter_errors(obj)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"schema: {where}: {error.message}"
    if topic == SENSOR_READINGS:
        rng_ = contracts.sensor_ranges()[obj["sensor"]]
        v = obj["value"]
        if not (math.isfinite(v) and rng_["min"] <= v <= rng_["max"]):
            return f"out_of_range: {obj['sensor']}={v} not in [{rng_['min']}, {rng_['max']}]"
    return None


# --------------------------------------------------------------------------- valid messages
def _num(x: float) -> float:
    return round(float(x), DECIMALS)


def _dumps(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def run_messages(run: Mapping[str, Any], plan: Plan, sim: Mapping[str, Any], *, prefix: str,
                 experiment_id: str, clock: Clock, anomaly_counts: Counter) -> list[tuple[int, Message]]:
    """All valid messages of one run as (clock offset ms, Message), in time order."""
    seed = int(sim["seed"])
    phys, sensors_cfg, anomalies = sim["physics"], sim["sensors"], sim["anomalies"]
    ranges = contracts.sensor_ranges()
    wear = physics.WearCurve.from_config(phys)
    mid, tid = run["machine_id"], run["tool_id"]
    rid, rep = int(run["run_id"]), int(run["replicate"])
    key = mid.encode()
    T, end = float(run["true_tool_life_min"]), float(run["end_min"])
    start_ms, end_ms = int(run["start_ms"]), int(run["end_ms"])
    chipped = bool(run["chipped"])
    base_id = f"{prefix}-{mid}-{tid}-{rid}-{rep}"
    common = {"machine_id": mid, "tool_id": tid, "experiment_id": experiment_id, "run_id": rid, "replicate": rep}
    out: list[tuple[int, Message]] = []

    factors = {}
    for f in plan.factors:
        v = run[f.name]
        factors[f.name] = v if f.categorical else float(v)
    started = {"event_id": f"{base_id}-start", "ts": clock.iso(start_ms), **common,
               "event": "run_started", "run_order": int(run["run_order"]), "factors": factors}
    out.append((start_ms, Message(TOOL_EVENTS, key, _dumps(started))))

    # sample times: every interval of cutting time, plus the end (T, or the chipping instant)
    interval_ms = max(int(round(sensors_cfg["sample_interval_s"] * 1000)), 1)
    dur_ms = end_ms - start_ms
    offsets = np.arange(0, dur_ms, interval_ms, dtype=np.int64)
    offsets = np.append(offsets, dur_ms)
    t_min = offsets / 60000.0
    t_min[-1] = end
    k = t_min.size
    vb = wear.vb(t_min, T)
    cond = physics.Conditions(float(run["V"]), float(run["f"]), float(run["d"]),
                              str(run["coolant_eff"]), str(run["coating_eff"]))
    g = rng(seed, STREAM_SENSOR, *run_keys(run))
    sig = physics.sensor_signals(t_min, T, vb, cond, sensors_cfg, wear.criterion_mm, g)
    chip_mm = 0.0
    if chipped:  # the edge breaks: wear, vibration and AE jump at the last reading
        chip_mm = float(g.uniform(0.05, 0.25))
        sig["flank_wear"][-1] += chip_mm
        sig["vibration_rms"][-1] *= float(g.uniform(1.8, 3.0))
        sig["acoustic_emission"][-1] += float(g.uniform(5.0, 12.0))
        anomaly_counts["chipping"] += 1
    if run["drift_sensor"]:
        name = run["drift_sensor"]
        slope = run["drift_sign"] * anomalies["drift_per_min_frac"] * physics.sensor_level(sig[name])
        sig[name] = physics.apply_drift(sig[name], t_min, run["drift_start_frac"] * T, slope)
        anomaly_counts["drift"] += 1
    spikes = g.random(k) < anomalies["vibration_spike_rate"]
    sig["vibration_rms"] = physics.apply_spikes(sig["vibration_rms"], spikes, g.uniform(3.0, 6.0, k))
    anomaly_counts["vibration_spike"] += int(spikes.sum())
    sig = physics.clip_to_ranges(sig, ranges)

    # dropouts: a sensor goes silent for a geometric number of readings
    present = {}
    p_len = 1.0 / max(anomalies["dropout_mean_samples"], 1.0)
    for name in physics.SENSORS:
        starts = np.flatnonzero(g.random(k) < anomalies["dropout_rate"])
        lengths = g.geometric(p_len, starts.size)
        mask = np.ones(k, dtype=bool)
        for s0, n in zip(starts, lengths):
            mask[s0:s0 + n] = False
        present[name] = mask
        anomaly_counts["dropped_readings"] += int(k - mask.sum())

    head = {}
    for name in physics.SENSORS:
        head[name] = (f'","machine_id":"{mid}","tool_id":"{tid}","experiment_id":{json.dumps(experiment_id)},'
                      f'"run_id":{rid},"replicate":{rep},"sensor":"{name}","value":')
    tails = {name: f',"unit":{json.dumps(ranges[name]["unit"])}}}' for name in physics.SENSORS}
    values = {name: np.round(sig[name], DECIMALS).tolist() for name in physics.SENSORS}
    codes = SENSOR_CODE
    for i in range(k):
        off = start_ms + int(offsets[i])
        ts = clock.iso(off)
        for name in physics.SENSORS:
            if not present[name][i]:
                continue
            payload = (f'{{"event_id":"{base_id}-{i}{codes[name]}","ts":"{ts}{head[name]}'
                       f'{values[name][i]!r}{tails[name]}')
            out.append((off, Message(SENSOR_READINGS, key, payload.encode())))

    if run["status"] == "in_progress":  # still cutting: no end event yet
        return out
    if chipped:
        final = {"event_id": f"{base_id}-end", "ts": clock.iso(end_ms), **common, "event": "run_aborted",
                 "reason": "chipping", "cutting_time_min": _num(end),
                 "flank_wear_mm": _num(min(float(vb[-1]) + chip_mm, ranges["flank_wear"]["max"]))}
    else:
        final = {"event_id": f"{base_id}-end", "ts": clock.iso(end_ms), **common, "event": "tool_worn_out",
                 "tool_life_min": _num(T), "flank_wear_mm": _num(wear.vb(T, T))}
    out.append((end_ms, Message(TOOL_EVENTS, key, _dumps(final))))
    return out


def valid_messages(plan: Plan, sim: Mapping[str, Any], *, prefix: str, experiment_id: str,
                   anomaly_counts: Counter) -> list[Message]:
    """All valid messages of the plan, machines merged in simulated-time order."""
    clock = Clock(parse_start(sim["sensors"]["start_time"]))
    per_machine: dict[int, list[tuple[int, Message]]] = {}
    for run in plan.runs.to_dict("records"):
        per_machine.setdefault(int(run["machine_idx"]), []).extend(
            run_messages(run, plan, sim, prefix=prefix, experiment_id=experiment_id, clock=clock,
                         anomaly_counts=anomaly_counts))
    streams = [per_machine[m] for m in sorted(per_machine)]
    return [m for _, m in heapq.merge(*streams, key=lambda item: item[0])]


# --------------------------------------------------------------------------- bad messages
BAD_TIMESTAMPS = ("2026-13-45T25:61:00Z", "21/11/2026 08:00:01", "2026-11-21T08:00:01.250",
                  "not-a-timestamp", "")
UNKNOWN_SENSORS = ("spindle_torque", "coolant_pressure", "Spindle_Power")


def _bad_payload(kind: str, msg: Message, g: np.random.Generator, oversize_bytes: int, idx: int) -> bytes:
    obj = json.loads(msg.value)
    obj["event_id"] = f"{obj['event_id']}-x{KIND_CODE[kind]}{idx}"
    sensor = msg.topic == SENSOR_READINGS
    if kind == "malformed_json":
        text = _dumps(obj)
        variant = int(g.integers(3))
        if variant == 0:
            return text[: max(1, len(text) // 2)]  # truncated
        if variant == 1:
            return text[:-1] + b",}"  # trailing comma
        return text.replace(b'"', b"'")  # single quotes
    if kind == "missing_field":
        required = contracts.load_schema(SCHEMA_OF_TOPIC[msg.topic])["required"]
        del obj[required[int(g.integers(len(required)))]]
        return _dumps(obj)
    if kind == "unknown_sensor":
        obj["sensor"] = UNKNOWN_SENSORS[int(g.integers(len(UNKNOWN_SENSORS)))]
        return _dumps(obj)
    if kind == "out_of_range":
        lim = contracts.sensor_ranges()[obj["sensor"]]
        span = lim["max"] - lim["min"]
        obj["value"] = _num(lim["max"] + span * g.uniform(0.01, 1.0) if g.random() < 0.5
                            else lim["min"] - span * g.uniform(0.01, 1.0))
        return _dumps(obj)
    if kind == "non_finite":
        obj["value"] = (math.nan, math.inf, -math.inf)[int(g.integers(3))]
        return json.dumps(obj, separators=(",", ":"), allow_nan=True).encode()  # bare NaN / Infinity
    if kind == "bad_timestamp":
        obj["ts"] = BAD_TIMESTAMPS[int(g.integers(len(BAD_TIMESTAMPS)))]
        return _dumps(obj)
    if kind == "wrong_type":
        choices = ["run_id", "machine_id", "replicate"] + (["value"] if sensor else [])
        field = choices[int(g.integers(len(choices)))]
        if field == "machine_id":
            obj[field] = int(obj[field][1:])  # number instead of "M01"
        else:
            obj[field] = str(obj[field])  # "7" instead of 7
        return _dumps(obj)
    if kind == "oversize":
        base = len(_dumps(obj))
        obj["padding"] = "x" * max(oversize_bytes - base + 16, 1)
        return _dumps(obj)
    raise ValueError(f"unknown bad-message kind {kind!r}")


def inject_bad(messages: Sequence[Message], bad_cfg: Mapping[str, Any], seed: int,
               max_request_size: int | None = None) -> tuple[list[Message], dict[str, int]]:
    """Insert the configured bad messages (and duplicates) right after randomly chosen templates.

    Per kind: ``counts[kind]`` exact plus ``Binomial(eligible, rates[kind])``. Templates of
    sensor-only kinds are sensor readings; the other kinds use either topic.
    """
    counts, rates, oversize = bad_cfg["counts"], bad_cfg["rates"], int(bad_cfg["oversize_bytes"])
    unknown = (set(counts) | set(rates)) - set(BAD_KINDS)
    if unknown:
        raise ValueError(f"unknown bad-message kinds {sorted(unknown)} (known: {', '.join(BAD_KINDS)})")
    sensor_idx = np.array([i for i, m in enumerate(messages) if m.topic == SENSOR_READINGS], dtype=np.int64)
    all_idx = np.arange(len(messages), dtype=np.int64)
    after: dict[int, list[Message]] = {}
    injected: dict[str, int] = {}
    for kind_no, kind in enumerate(BAD_KINDS):
        count, rate = int(counts.get(kind, 0) or 0), float(rates.get(kind, 0.0) or 0.0)
        if count < 0 or not 0.0 <= rate <= 1.0:
            raise ValueError(f"bad_messages.{kind}: count must be >= 0 and rate in [0, 1]")
        g = rng(seed, STREAM_INJECT, kind_no)
        pool = sensor_idx if kind in SENSOR_ONLY_KINDS else all_idx
        n = count + (int(g.binomial(pool.size, rate)) if rate > 0 and pool.size else 0)
        injected[kind] = n
        if n == 0:
            continue
        if pool.size == 0:
            raise ValueError(f"no template messages for bad-message kind {kind!r}")
        if kind == "oversize" and max_request_size is not None and oversize + 4096 > max_request_size:
            raise ValueError(f"bad_messages.oversize_bytes={oversize} does not fit under "
                             f"publish.max_request_size={max_request_size}")
        templates = np.sort(g.choice(pool, size=n, replace=n > pool.size))
        for j, t in enumerate(templates):
            src = messages[int(t)]
            value = src.value if kind == "duplicate" else _bad_payload(kind, src, g, oversize, j)
            after.setdefault(int(t), []).append(Message(src.topic, src.key, value, kind))
    if not after:
        return list(messages), injected
    out: list[Message] = []
    for i, m in enumerate(messages):
        out.append(m)
        if i in after:
            out.extend(after[i])
    return out, injected


def count_by_topic(messages: Iterable[Message]) -> dict[str, int]:
    c = Counter(m.topic for m in messages)
    return {t: c.get(t, 0) for t in TOPICS}
