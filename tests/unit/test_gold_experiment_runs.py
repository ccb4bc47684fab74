"""silver -> gold.experiment_runs as pure DataFrame transforms, on a handful of hand-made rows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pytest

from toollife.gold.experiment_runs import build_experiment_runs, experiment_runs_schema
from toollife.ingestion.schemas import SILVER_SENSOR_READINGS, SILVER_TOOL_EVENTS

T0 = datetime(2026, 11, 21, 8, 0, 0)
KEY = {"experiment_id": "E1", "machine_id": "M01", "tool_id": "T01"}


def event(run_id, event, minute, factors=None, life=None, wear=None, experiment="E1"):
    ts = T0 + timedelta(minutes=minute)
    struct = None
    if factors is not None:
        struct = (factors["cutting_speed"], factors["feed"], factors["depth_of_cut"], factors["coolant"],
                  factors["coating"])
    return (f"{experiment}-{run_id}-{event}", ts, ts.date(), "M01", "T01", experiment, run_id, 1, event, struct,
            json.dumps(factors) if factors else None, life, wear, "tool_events", 0, 0, ts, ts)


def reading(run_id, sensor, minute, value, experiment="E1"):
    ts = T0 + timedelta(minutes=minute)
    return (f"{experiment}-{run_id}-{sensor}-{minute}", ts, ts.date(), "M01", "T01", experiment, run_id, 1,
            sensor, float(value), None, "sensor_readings", 0, 0, ts, ts)


def factors(v, f, d, coolant, coating):
    return {"cutting_speed": v, "feed": f, "depth_of_cut": d, "coolant": coolant, "coating": coating}


@pytest.fixture(scope="module")
def gold(spark, base_config):
    events = [
        event(1, "run_started", 0, factors(180.0, 0.15, 1.0, "dry", "TiN")),
        event(1, "tool_worn_out", 20, life=20.0, wear=0.3),
        event(2, "run_started", 30, factors(300.0, 0.30, 3.0, "flood", "TiAlN")),
        event(2, "run_aborted", 35, wear=0.2),
        event(3, "run_started", 40, factors(240.0, 0.15, 2.0, "flood", "TiN")),   # speed at the centre
        # experiment E2 holds coating constant: not a design factor there
        event(1, "run_started", 0, factors(200.0, 0.1, 1.0, "dry", "TiN"), experiment="E2"),
        event(2, "run_started", 0, factors(250.0, 0.2, 2.0, "flood", "TiN"), experiment="E2"),
    ]
    minutes = np.array([0.0, 5.0, 10.0, 20.0])
    power = np.array([3.0, 3.1, 3.3, 3.8])
    wear = np.array([0.0, 0.1, 0.15, 0.3])
    readings = [reading(1, "spindle_power", m, p) for m, p in zip(minutes, power)]
    readings += [reading(1, "flank_wear", m, w) for m, w in zip(minutes, wear)]
    readings += [reading(3, "flank_wear", 40 + m, w) for m, w in ((0, 0.0), (6, 0.12))]
    readings += [reading(4, "spindle_power", 50, 2.0)]                # a run with readings only, so far
    te = spark.createDataFrame(events, SILVER_TOOL_EVENTS)
    sr = spark.createDataFrame(readings, SILVER_SENSOR_READINGS)
    df = build_experiment_runs(te, sr, base_config)
    rows = {(r["experiment_id"], r["run_id"]): r.asDict() for r in df.collect()}
    return df, rows, (minutes, power)


def test_schema_is_the_declared_one(gold, base_config):
    df, _, _ = gold
    assert [f.name for f in df.schema] == [f.name for f in experiment_runs_schema(base_config)]
    assert [f.dataType for f in df.schema] == [f.dataType for f in experiment_runs_schema(base_config)]


def test_one_row_per_run_with_status(gold):
    _, rows, _ = gold
    assert sorted(rows) == [("E1", 1), ("E1", 2), ("E1", 3), ("E1", 4), ("E2", 1), ("E2", 2)]
    assert [rows[("E1", i)]["status"] for i in (1, 2, 3, 4)] == ["completed", "aborted", "running", "running"]
    assert rows[("E1", 1)]["tool_life_min"] == 20.0
    assert rows[("E1", 2)]["tool_life_min"] is None                       # censored, not a life
    assert rows[("E1", 2)]["cutting_time_min"] == pytest.approx(5.0)
    assert rows[("E1", 4)]["started_at"] == T0 + timedelta(minutes=50)     # first reading


def test_coded_levels_from_the_experiments_own_low_high(gold):
    _, rows, _ = gold
    r1, r2, r3 = rows[("E1", 1)], rows[("E1", 2)], rows[("E1", 3)]
    assert [r1[f"coded_{f}"] for f in ("cutting_speed", "feed", "depth_of_cut", "coolant", "coating")] == [-1, -1, -1, -1, -1]
    assert [r2[f"coded_{f}"] for f in ("cutting_speed", "feed", "depth_of_cut", "coolant", "coating")] == [1, 1, 1, 1, 1]
    assert r3["coded_cutting_speed"] == 0.0 and r3["coded_depth_of_cut"] == 0.0
    assert r1["design_factors"] == ["cutting_speed", "feed", "depth_of_cut", "coolant", "coating"]
    e2 = rows[("E2", 1)]
    assert e2["coded_coating"] is None and "coating" not in e2["design_factors"]
    assert e2["coded_cutting_speed"] == -1.0 and e2["cutting_speed"] == 200.0 and e2["coating"] == "TiN"


def test_doe_factor_mask_from_coded_levels_matches_design_factors(gold, base_config):
    """The DOE job reads which factors an experiment varies from the non-null coded levels (not
    from the design_factors array): both must agree, also with a readings-only run (all null)."""
    from toollife.gold.doe_effects import FACTOR_MASK, DoeParams, combination_runs

    df, rows, _ = gold
    params = DoeParams.from_config(base_config)
    masks = {r["experiment_id"]: r[FACTOR_MASK] for r in combination_runs(df, params, naturals=False).collect()}
    for (exp, _run), row in rows.items():
        assert [f for j, f in enumerate(params.factors) if masks[exp] >> j & 1] == row["design_factors"]


def test_sensor_features_and_wear_rate(gold):
    _, rows, (minutes, power) = gold
    r1 = rows[("E1", 1)]
    assert r1["spindle_power_mean"] == pytest.approx(power.mean())
    assert r1["spindle_power_max"] == pytest.approx(power.max())
    assert r1["spindle_power_slope"] == pytest.approx(np.polyfit(minutes, power, 1)[0], rel=1e-9)
    assert r1["n_readings"] == 8
    assert r1["flank_wear_mm"] == 0.3 and r1["wear_rate_mm_per_min"] == pytest.approx(0.3 / 20.0)
    r3 = rows[("E1", 3)]                                   # running: last reading / time so far
    assert r3["flank_wear_mm"] == pytest.approx(0.12) and r3["wear_rate_mm_per_min"] == pytest.approx(0.02)
    assert r3["spindle_power_mean"] is None


def test_row_hash_is_deterministic(gold, spark, base_config):
    df, rows, _ = gold
    again = {(r["experiment_id"], r["run_id"]): r["row_hash"] for r in df.collect()}
    assert again == {k: v["row_hash"] for k, v in rows.items()}
    assert len(set(again.values())) == len(again)
