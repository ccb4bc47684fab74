"""The live scorer's pure parts: predictions from the shared features, which alerts are due, their
ids and tool-alert/v1 messages, and live accuracy from the history of predictions."""

import numpy as np
import pandas as pd
import pytest

from toollife import contracts
from toollife.live import frames
from toollife.ml.intervals import Interval
from toollife.ml.serving import Serving

RUN = {"experiment_id": "SIM-7", "machine_id": "M01", "tool_id": "T02", "run_id": 4, "replicate": 1}


def band(low, high):
    """A version's serving with a one-bin interval of ln T offsets (low, high)."""
    return Serving(Interval.one_bin(0.8, low, high))


def features(**over):
    row = {**RUN, "minutes_cut": 15.0, "n_flank_wear_readings": 10.0, "x": 1.0, **over}
    return pd.DataFrame([row])


def test_predict_life_interval_and_remaining_life():
    out = frames.predict(features(), lambda X: np.log(np.full(len(X), 20.0)), ["x"], band(-0.1, 0.2), 3).iloc[0]
    assert out["reason"] is None
    assert out["predicted_life_min"] == pytest.approx(20.0)
    assert out["predicted_life_lower_min"] == pytest.approx(20.0 * np.exp(-0.1))
    assert out["predicted_life_upper_min"] == pytest.approx(20.0 * np.exp(0.2))
    assert out["remaining_life_min"] == pytest.approx(5.0)
    past = frames.predict(features(minutes_cut=25.0), lambda X: np.log(np.full(len(X), 20.0)), ["x"], band(0, 0), 3)
    assert past.iloc[0]["remaining_life_min"] == 0.0          # never below 0


def test_too_few_readings_or_missing_features_get_no_prediction_and_the_model_is_not_asked():
    asked = []

    def model(X):
        asked.append(len(X))
        return np.zeros(len(X))

    frame = pd.concat([features(n_flank_wear_readings=2.0), features(run_id=5, x=np.nan), features(run_id=6)])
    out = frames.predict(frame.reset_index(drop=True), model, ["x"], band(0, 0), 3)
    assert out["reason"].tolist()[:2] == ["fewer than 3 flank-wear readings so far", "missing x"]
    assert out["remaining_life_min"].isna().tolist() == [True, True, False]
    assert asked == [1]


def test_alerts_due_once_per_threshold_with_deterministic_ids():
    scored = frames.predict(features(), lambda X: np.log(np.full(len(X), 18.0)), ["x"], band(0, 0), 3)  # 3 min left
    due = frames.due_alerts(scored, [10.0, 5.0, 2.0])
    assert due["threshold_min"].tolist() == [5.0, 10.0]
    assert due["alert_id"].tolist() == [frames.alert_id(RUN, 5.0), frames.alert_id(RUN, 10)]
    assert frames.alert_id(RUN, 5.0) != frames.alert_id({**RUN, "replicate": 2}, 5.0)
    none = frames.predict(features(n_flank_wear_readings=0.0), lambda X: np.zeros(len(X)), ["x"], band(0, 0), 3)
    assert frames.due_alerts(none, [10.0]).empty


def test_alerts_use_the_interval_lower_end_and_say_so():
    # 20 min predicted, 12 cut: 8 min left by the estimate, 20*exp(-0.2) - 12 = 4.37 by the lower end
    scored = frames.predict(features(minutes_cut=12.0), lambda X: np.log(np.full(len(X), 20.0)), ["x"],
                            band(-0.2, 0.1), 3)
    due = frames.due_alerts(scored, [10.0, 5.0])
    assert due["threshold_min"].tolist() == [5.0, 10.0]          # 5 is crossed only by the lower end
    assert due["bound"].unique().tolist() == ["lower"]
    assert due["bound_remaining_life_min"].iloc[0] == pytest.approx(20 * np.exp(-0.2) - 12)
    no_interval = frames.predict(features(minutes_cut=12.0), lambda X: np.log(np.full(len(X), 20.0)), ["x"],
                                 band(float("nan"), float("nan")), 3)
    point = frames.due_alerts(no_interval, [10.0, 5.0])
    assert point["threshold_min"].tolist() == [10.0] and point["bound"].tolist() == ["point"]


def test_the_interval_of_a_version_with_fraction_bins_and_an_offset():
    # the trees predict ln(T / wear_curve_life_min); bins by the estimated fraction cut / T
    serving = Serving(Interval(0.8, (0.5,), (-0.5, -0.1), (0.5, 0.1)), offset="wear_curve_life_min")
    frame = pd.concat([features(minutes_cut=5.0, wear_curve_life_min=20.0),
                       features(run_id=5, minutes_cut=15.0, wear_curve_life_min=20.0)]).reset_index(drop=True)
    out = frames.predict(frame, lambda X: np.full(len(X), np.log(1.1)), ["x", "wear_curve_life_min"], serving, 3)
    assert out["predicted_life_min"].tolist() == pytest.approx([22.0, 22.0])
    assert out["predicted_life_lower_min"].tolist() == pytest.approx([22 * np.exp(-0.5), 22 * np.exp(-0.1)])
    assert out["predicted_life_upper_min"].tolist() == pytest.approx([22 * np.exp(0.5), 22 * np.exp(0.1)])


def test_alert_message_conforms_to_its_contract():
    scored = frames.predict(features(), lambda X: np.log(np.full(len(X), 18.0)), ["x"], band(-0.1, 0.1), 3)
    row = frames.due_alerts(scored, [5.0]).iloc[0].to_dict()
    row.update(model_name="tool_rul", model_version="3", last_reading_ts=pd.Timestamp("2026-01-05 06:15:00"),
               raised_at=pd.Timestamp("2026-01-05 06:15:04.5"))
    msg = frames.alert_message(row)
    assert not list(contracts.validator(contracts.TOOL_ALERT).iter_errors(msg))
    assert msg["ts"] == "2026-01-05T06:15:00.000Z" and msg["alert_id"] == frames.alert_id(RUN, 5.0)
    assert list(contracts.validator(contracts.TOOL_ALERT).iter_errors({**msg, "model_version": "v3"}))


def test_accuracy_takes_the_prediction_closest_to_the_fraction_of_true_life():
    # as the change feed of gold.tool_life_live gives them: true_life_min only on the closing version
    history = pd.DataFrame([{**RUN, "minutes_cut": m, "remaining_life_min": r, "true_life_min": t}
                            for m, r, t in [(4.0, 17.0, None), (9.5, 12.5, None), (11.0, 8.0, None),
                                            (19.0, np.nan, 20.0)]])
    closed = pd.DataFrame([{**RUN, "true_life_min": 20.0}, {**RUN, "run_id": 9, "true_life_min": None}])
    out = frames.prediction_at(history, closed, 0.5)
    assert len(out) == 1 and out.iloc[0]["minutes_cut"] == 9.5            # the run without a true life is left out
    assert out.iloc[0]["true_remaining_life_min"] == pytest.approx(10.5)
    assert out.iloc[0]["abs_error_min"] == pytest.approx(2.0)
