"""The learned wear curve, the life it reads off readings, and the split-conformal intervals, by hand."""

import numpy as np
import pandas as pd
import pytest

from toollife.ml import features as feat
from toollife.ml import intervals, wear_curve
from toollife.ml.serving import Serving

KEY = {"experiment_id": "E", "machine_id": "M01", "tool_id": "T01", "replicate": 1}


def test_the_curve_is_the_pooled_non_decreasing_wear_over_the_fraction_of_life():
    # two runs of 10 and 20 min, wear linear in t / T (0.3 mm at the end) with +-0.01 of reading noise
    s = np.tile(np.linspace(0, 1, 51), 2)
    noise = np.tile([0.01, -0.01], 51)
    curve = wear_curve.learn(s, 0.3 * s + noise)
    assert len(curve.fraction) == wear_curve.KNOTS and curve.fraction[0] == 0 and curve.fraction[-1] == 1
    assert np.all(np.diff(curve.wear_mm) >= 0)
    assert np.interp(0.5, curve.fraction, curve.wear_mm) == pytest.approx(0.15, abs=0.011)
    assert curve.wear_at(np.array([1.5]))[0] > curve.wear_mm[-1]        # past the end: the last slope goes on
    assert wear_curve.WearCurve.from_json(curve.to_json()).wear_mm == pytest.approx(curve.wear_mm, abs=1e-6)


def test_the_life_read_off_a_tools_readings_is_where_its_curve_would_reach_them():
    curve = wear_curve.WearCurve(tuple(np.linspace(0, 1, 11)), tuple(0.3 * np.linspace(0, 1, 11)))
    t = np.array([0.0, 5.0, 10.0, 15.0, 20.0, 40.0])        # a 50-minute tool: VB = 0.3 t / 50
    v = 0.3 * t / 50
    assert wear_curve.estimate_life(t, v, 20.0, curve) == pytest.approx(50.0, rel=0.004)   # the 40 min reading unseen
    assert np.isnan(wear_curve.estimate_life(t[:1], v[:1], 20.0, curve))            # one reading says nothing
    assert wear_curve.estimate_life(t, v * 2, 20.0, curve) == pytest.approx(25.0, rel=0.004)


def test_samples_get_the_curve_life_from_their_own_run_up_to_their_cut():
    curve = wear_curve.WearCurve(tuple(np.linspace(0, 1, 11)), tuple(0.3 * np.linspace(0, 1, 11)))
    wear = pd.DataFrame({**{k: [v] * 5 for k, v in KEY.items()}, "run_id": [1] * 5,
                         "minutes": [0.0, 10, 20, 30, 40], "value": [0.0, 0.06, 0.12, 0.3, 0.3]})
    samples = pd.DataFrame({**{k: [v] * 2 for k, v in KEY.items()}, "run_id": [1, 2], "minutes_cut": [20.0, 20.0]})
    out = feat.with_wear_curve_life(samples, wear, curve)
    assert out[feat.WEAR_CURVE_LIFE].iloc[0] == pytest.approx(50.0, rel=0.004)     # the jump at 30 min unseen
    assert np.isnan(out[feat.WEAR_CURVE_LIFE].iloc[1])                              # run 2 has no readings


def test_conformal_bounds_are_the_order_statistics_of_the_level():
    r = np.arange(1.0, 20.0)            # n = 19: at 0.8, the floor(0.1 * 20) = 2nd and ceil(0.9 * 20) = 18th
    assert intervals.conformal_bounds(r, 0.8) == (2.0, 18.0)
    assert intervals.conformal_bounds(r[:3], 0.8) == (1.0, 3.0)           # too few: the extremes


def test_calibration_per_estimated_fraction_with_a_pooled_fallback():
    rng = np.random.default_rng(0)
    early, late = rng.normal(0, 0.5, 400), rng.normal(0, 0.05, 400)
    fraction = np.r_[np.full(400, 0.2), np.full(400, 0.7), ]
    interval = intervals.calibrate(np.r_[early, late, [9.0] * 5], 0.8, np.r_[fraction, [0.99] * 5], (0.5, 0.9))
    assert interval.low[0] == pytest.approx(-0.5 * 1.2816, rel=0.15) and interval.high[1] == pytest.approx(0.05 * 1.2816, rel=0.15)
    assert interval.low[2] == intervals.conformal_bounds(np.r_[early, late, [9.0] * 5], 0.8)[0]   # 5 < MIN_PER_BIN
    lo, hi = interval.bounds(np.log([10.0, 10.0]), np.array([2.0, 7.0]))   # estimated fractions 0.2 and 0.7
    assert np.exp(hi - lo).tolist() == pytest.approx([np.exp(interval.high[0] - interval.low[0]),
                                                      np.exp(interval.high[1] - interval.low[1])])
    back = Serving.from_tags(Serving(interval).to_tags())
    assert back.interval == intervals.Interval.from_json(interval.to_json()) and back.curve is None


def test_an_older_version_reads_as_one_bin_from_its_residual_quantiles():
    old = Serving.from_tags({"interval": "0.9", "residual_q_low": "-0.2", "residual_q_high": "0.3"})
    assert old.interval == intervals.Interval(0.9, (), (-0.2,), (0.3,)) and old.offset is None


def test_coverage_of_an_80_percent_interval_on_new_draws_is_near_80():
    rng = np.random.default_rng(1)
    interval = intervals.calibrate(rng.normal(0, 0.3, 2000), 0.8)
    new = rng.normal(0, 0.3, 20000)
    lo, hi = interval.bounds(np.zeros_like(new))
    assert intervals.covered(new, lo, hi).mean() == pytest.approx(0.8, abs=0.02)
