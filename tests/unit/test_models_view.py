"""The Models page's remaining life over time, from gold.tool_life_live's change feed rows."""

import pandas as pd
import pytest

from toollife.dashboard.models_view import remaining_life_figure, remaining_life_history

T = pd.Timestamp("2026-12-01 08:00", tz="UTC")


def _row(run_id, version, minutes, predicted, lower, upper, status="running"):
    return {"experiment_id": "E", "machine_id": "M01", "tool_id": "T01", "run_id": run_id, "replicate": 1,
            "status": status, "last_reading_ts": T + pd.Timedelta(minutes=minutes), "minutes_cut": minutes,
            "predicted_life_min": predicted, "predicted_life_lower_min": lower, "predicted_life_upper_min": upper,
            "remaining_life_min": None if predicted is None else max(predicted - minutes, 0.0),
            "model_version": "1", "_commit_version": version}


def test_history_of_the_runs_cutting_with_the_interval_clipped_at_zero():
    changes = pd.DataFrame([
        _row(1, 0, 10.0, 40.0, 30.0, 50.0),
        _row(2, 0, 5.0, None, None, None),         # no prediction yet (too few readings): not drawn
        _row(1, 1, 20.0, 36.0, 18.0, 44.0),
        _row(1, 2, 20.0, 35.0, 17.0, 43.0),        # the same newest reading re-scored: the last commit counts
        _row(3, 1, 30.0, 32.0, 25.0, 40.0),        # run 3 has ended: not cutting now
        _row(1, 3, 30.0, 34.0, 28.0, 41.0),
    ])
    cutting = pd.DataFrame([_row(1, 3, 30.0, 34.0, 28.0, 41.0), _row(2, 0, 5.0, None, None, None)])
    history = remaining_life_history(changes, cutting)
    assert list(history["run_id"]) == [1, 1, 1]
    assert list(history["minutes_cut"]) == [10.0, 20.0, 30.0]
    assert list(history["remaining_life_min"]) == [30.0, 15.0, 4.0]
    assert list(history["remaining_lower_min"]) == [20.0, 0.0, 0.0]     # 17 - 20 and 28 - 30 clip at 0
    assert list(history["remaining_upper_min"]) == [40.0, 23.0, 11.0]
    assert history["tool"].unique().tolist() == ["M01/T01 run 1"]


def test_the_figure_draws_a_line_per_tool_and_each_threshold():
    changes = pd.DataFrame([_row(1, 0, 10.0, 40.0, 30.0, 50.0), _row(1, 1, 20.0, 36.0, 18.0, 44.0)])
    history = remaining_life_history(changes, changes)
    fig = remaining_life_figure(history, [5.0, 10.0, 5.0])
    ax = fig.axes[0]
    tool, *thresholds = ax.get_lines()
    assert tool.get_label() == "M01/T01 run 1" and tool.get_ydata().tolist() == pytest.approx([30.0, 16.0])
    assert [line.get_ydata()[0] for line in thresholds] == [5.0, 10.0]     # each threshold once
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["M01/T01 run 1", "alert threshold"]
