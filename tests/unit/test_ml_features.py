"""The model features and metrics on small hand-checked data (pure pandas, no Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from toollife.ml import features as feat
from toollife.ml import models, tracking

START = pd.Timestamp("2026-01-05T06:00:00Z")
KEY = {"experiment_id": "E", "machine_id": "M01", "tool_id": "T01", "run_id": 1, "replicate": 1}
SETTINGS = {"cutting_speed": 240.0, "feed": 0.2, "depth_of_cut": 2.0, "coolant": "flood", "coating": "TiAlN"}


def readings(minutes, wear, power=None):
    rows = []
    for i, (t, vb) in enumerate(zip(minutes, wear)):
        ts = START + pd.Timedelta(minutes=t)
        rows.append({**KEY, "ts": ts, "sensor": "flank_wear", "value": vb})
        rows.append({**KEY, "ts": ts, "sensor": "spindle_power", "value": (power or 10.0) + i})
    return pd.DataFrame(rows)


def test_sensor_features_by_hand():
    # wear 0, 0.05, 0.1, 0.15, 0.2 at minutes 0..4; cut off at 3 minutes: four readings count
    out = feat.sensor_features(readings([0, 1, 2, 3, 4], [0.0, 0.05, 0.1, 0.15, 0.2]), START, 3.0)
    assert out["minutes_cut"] == 3.0
    assert out["n_flank_wear_readings"] == 4
    assert out["flank_wear_last"] == pytest.approx(0.15)
    assert out["flank_wear_slope"] == pytest.approx(0.05)
    assert out["flank_wear_mean"] == pytest.approx(0.075)
    # recent slope over minutes >= 0.75 (readings at 1, 2, 3): 0.05 / min; 0.15 mm to go -> 3 min more
    assert out["flank_wear_recent_slope"] == pytest.approx(0.05)
    assert out["wear_life_min"] == pytest.approx(6.0)
    assert out["spindle_power_last"] == 13.0 and out["spindle_power_slope"] == pytest.approx(1.0)
    assert np.isnan(out["vibration_rms_last"]) and np.isnan(out["vibration_rms_slope"])


def test_naive_spark_timestamps_and_aware_ones_give_the_same_features():
    r = readings([0, 1, 2], [0.0, 0.1, 0.2])
    naive = r.assign(ts=r["ts"].dt.tz_convert("UTC").dt.tz_localize(None))
    pd.testing.assert_series_equal(pd.Series(feat.sensor_features(r, START, 2.0)),
                                   pd.Series(feat.sensor_features(naive, START.tz_localize(None), 2.0)))


def test_rul_samples_never_see_readings_after_their_cut_off():
    """Changing or adding readings after a cut-off changes no feature of that sample."""
    minutes = np.arange(0, 21, 1.0)
    wear = 0.07 * (1 - np.exp(-minutes / 1.0)) + 0.006 * minutes
    run = pd.DataFrame([{**KEY, **SETTINGS, "started_at": START, "tool_life_min": 20.0}])
    fractions = [0.1, 0.25, 0.5, 0.75]
    before = feat.rul_samples(run, readings(minutes, wear), fractions)
    assert list(before.columns) == feat.SAMPLE_COLUMNS and len(before) == 4
    assert before["minutes_cut"].tolist() == [2.0, 5.0, 10.0, 15.0]
    for frac, cut in zip(fractions, [2.0, 5.0, 10.0, 15.0]):
        tampered = readings(minutes, np.where(minutes > cut, wear * 5 + 1.0, wear), power=99.0)
        late = readings(np.array([cut + 0.5]), np.array([9.9]))
        changed = feat.rul_samples(run, pd.concat([tampered, late]), fractions)
        mine = changed["fraction"] == frac
        sensor_cols = [c for c in feat.SENSOR_FEATURES if not c.startswith("spindle")]
        pd.testing.assert_frame_equal(changed.loc[mine, sensor_cols].reset_index(drop=True),
                                      before.loc[before["fraction"] == frac, sensor_cols].reset_index(drop=True))
    with pytest.raises(ValueError, match="fractions"):
        feat.rul_samples(run, readings(minutes, wear), [0.5, 1.0])


def test_features_now_takes_everything_cut_so_far_and_keeps_runs_without_readings():
    runs = pd.DataFrame([{**KEY, **SETTINGS, "started_at": START, "minutes_cut": 2.0},
                         {**KEY, "run_id": 2, **SETTINGS, "started_at": START, "minutes_cut": None}])
    now = feat.features_now(runs, readings([0, 1, 2], [0.0, 0.1, 0.2]))
    assert list(now.columns) == feat.NOW_COLUMNS
    assert now.loc[0, "flank_wear_last"] == pytest.approx(0.2) and now.loc[0, "n_flank_wear_readings"] == 3
    assert now.loc[1, "run_id"] == 2 and np.isnan(now.loc[1, "flank_wear_last"])


def test_metrics_by_hand():
    m = models.regression_metrics(np.log([10.0, 20.0]), np.log([10.0, 40.0]))
    assert m["rmse_ln_t"] == pytest.approx(np.log(2) / np.sqrt(2))
    assert m["mae_t"] == pytest.approx(10.0)
    rul = models.rul_metrics(np.array([10.0, 20.0]), np.array([12.0, 5.0]), np.array([5.0, 10.0]),
                             np.array([0.5, 0.5]))
    # remaining 5 vs 7 -> 2; remaining 10 vs 0 (past its predicted life: none left) -> 10
    assert rul["mae_rul_min"] == pytest.approx(6.0) and rul["mae_rul_min_at_50"] == pytest.approx(6.0)


def test_holdout_keeps_replicates_of_a_design_point_together():
    frame = pd.DataFrame([{**KEY, "run_id": r, "replicate": rep} for r in range(1, 9) for rep in (1, 2)])
    train, test = models.holdout_split(frame, 0.25, seed=3)
    points = lambda idx: set(frame.iloc[idx]["run_id"])  # noqa: E731
    assert points(train).isdisjoint(points(test)) and len(points(test)) == 2


def test_oracle_is_the_taylor_law_with_the_true_constants():
    runs = pd.DataFrame([{**KEY, **SETTINGS}])
    taylor = pd.DataFrame([{"machine_id": "M01", "tool_id": "T01", "n": 0.25, "a": 0.6, "b": 0.15, "C": 185.0}])
    ln_t = models.oracle_ln_life(runs, taylor, {"TiN": 1.0, "TiAlN": 1.15}, {"dry": 1.0, "flood": 1.1})
    expected = (np.log(185.0 * 1.15 * 1.1) - np.log(240.0) - 0.6 * np.log(0.2) - 0.15 * np.log(2.0)) / 0.25
    assert ln_t[0] == pytest.approx(expected)


def test_promotion_rule():
    assert tracking.decide(0.2, None) == "champion"              # no champion yet
    assert tracking.decide(0.2, 0.3) == "champion"               # strictly better on the same holdout
    assert tracking.decide(0.3, 0.3) == "challenger"             # a tie keeps the champion
    assert tracking.decide(0.4, 0.3) == "challenger"
    assert tracking.decide(0.4, float("nan")) == "champion"      # a champion that could not be scored


def test_search_respects_its_time_bound_and_keeps_the_best():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({**{c: rng.uniform(1, 2, 40) for c in feat.NUMERIC_SETTINGS},
                      "coolant": "dry", "coating": "TiN", "machine_id": "M01", "tool_id": "T01"})
    y = np.log(X["cutting_speed"].to_numpy()) + rng.normal(0, 0.01, 40)
    groups = np.arange(40) // 2
    ticks = iter(range(0, 1000, 10))          # every clock reading advances 10 s
    found = models.search("random_forest", X, y, groups, feat.NUMERIC_SETTINGS, seed=0, folds=2,
                          grid={"n_estimators": [5, 10, 15, 20, 25]},
                          time_bound_s=75, clock=lambda: next(ticks))
    assert found.tried == 3                    # 3 x 30 s of fake clock; a fourth would end past 75 s
    assert found.cv_rmse_ln_t == min(r for _, r in found.history)


def test_grid_order_visits_every_value_of_the_first_parameter_first():
    grid = {"max_leaf_nodes": [2, 3, 7], "max_iter": [10, 20], "l2_regularization": [0.0, 1.0]}
    order = models._grid(grid, seed=1)
    assert len(order) == 12 and {o["max_leaf_nodes"] for o in order[:3]} == {2, 3, 7}
    assert models._grid(grid, seed=1) == order
