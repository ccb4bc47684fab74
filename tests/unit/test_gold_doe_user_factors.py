"""The DOE job on an imported experiment: factors discovered from the table's coded_ columns,
categorical levels from the rows, the Taylor/cost gate, unequal replication by least squares and
censored_mle rows only where lives are censored (pure pandas, no Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from toollife.config import load_config
from toollife.doe import analyze_factorial
from toollife.gold.doe_frames import effects_frame, optimal_frame, taylor_gate
from toollife.gold.doe_screen import CENSORED, DoeParams, discover_factors
from toollife.gold.next_coding import NextParams, root_coding

CONF = ["cutting_speed", "feed", "depth_of_cut", "coolant", "coating"]
COLUMNS = {"experiment_id": "string", "cutting_speed": "double", "coded_cutting_speed": "double",
           "coded_feed": "double", "coded_depth_of_cut": "double", "coded_coolant": "double",
           "coded_coating": "double", "Insert": "string", "coded_Insert": "double",
           "NoseRadius": "double", "coded_NoseRadius": "double", "tool_life": "double"}


def test_factors_are_the_configured_ones_then_every_coded_column_of_the_table():
    assert discover_factors(CONF, list(COLUMNS)) == (*CONF, "Insert", "NoseRadius")
    assert discover_factors(CONF, ["coded_feed", "coded_A"]) == ("feed", "A")     # no coded_ column: not a factor
    params = DoeParams.from_config(load_config(), COLUMNS)
    assert params.factors == (*CONF, "Insert", "NoseRadius")
    assert params.is_categorical("Insert") and not params.is_categorical("NoseRadius")
    assert params.is_categorical("coolant") and params.natural_factors() == [
        "cutting_speed", "feed", "depth_of_cut", "Insert", "NoseRadius"]
    assert NextParams.from_config(load_config(), COLUMNS).string_factors == {"Insert"}


def _imported(cells, factors=("Insert", "NoseRadius")):
    """One combination of a 2^2 worksheet: cells = {(a, b): [lives]}; Insert is categorical."""
    rows = []
    for (a, b), lives in cells.items():
        for life in lives:
            rows.append({"experiment_id": "W1", "machine_id": "M1", "tool_id": "T1",
                         "coded_Insert": float(a), "Insert": "K10" if a < 0 else "P25",
                         "coded_NoseRadius": float(b), "NoseRadius": 0.4 if b < 0 else 0.8,
                         "tool_life_min": life, "_completed": True})
    pdf = pd.DataFrame(rows)
    params = DoeParams.from_config(load_config(), {**{f"coded_{f}": "double" for f in factors},
                                                   "Insert": "string", "NoseRadius": "double"})
    pdf["_factor_mask"] = (1 << len(params.factors)) - 1
    return pdf, params


def test_unequal_replication_is_least_squares_with_n_minus_p_residual_df():
    # cell means 11, 20, 32, 50 (replicated 2, 1, 2, 1): hand-checked below
    pdf, params = _imported({(-1, -1): [10.0, 12.0], (1, -1): [20.0], (-1, 1): [30.0, 34.0], (1, 1): [50.0]})
    params = DoeParams(**{**params.__dict__, "log_response": False})
    eff = effects_frame(pdf, params).set_index("term")
    assert list(eff.index) == ["Insert", "NoseRadius", "Insert:NoseRadius"]
    # effect = mean of the high cells' means - mean of the low cells' means
    assert eff["effect"].tolist() == pytest.approx([13.5, 25.5, 4.5])
    # SSE = 2 + 8 = 10 on 6 - 4 = 2 df; Var(coef) = MSE/16 * sum(1/n_cell) = 5/16 * 3
    se = 2 * np.sqrt(5 / 16 * 3)
    assert eff["std_error"].tolist() == pytest.approx([se] * 3)
    assert eff.loc["Insert", "p_value"] == pytest.approx(2 * stats.t.sf(13.5 / se, 2))
    assert (eff["method"] == "anova").all() and (eff["fit"] == "least_squares").all()
    runs = pdf.rename(columns={"coded_Insert": "A", "coded_NoseRadius": "B"})
    want = analyze_factorial(runs, ["A", "B"], "tool_life_min")
    assert eff["effect"].tolist() == pytest.approx(want["effect"].tolist())


def test_no_taylor_or_cost_analysis_without_speed_feed_and_depth_and_levels_from_the_rows():
    pdf, params = _imported({(-1, -1): [10.0, 12.0], (1, -1): [20.0, 22.0], (-1, 1): [30.0, 34.0],
                             (1, 1): [50.0, 47.0]})
    row = optimal_frame(pdf, params).iloc[0]
    assert row["status"] == "ok"
    assert row["best_Insert"] == "P25" and row["best_NoseRadius"] == 0.8      # not from conf: from the rows
    assert "no Taylor/cost analysis" in row["taylor_note"] and "varies Insert, NoseRadius" in row["taylor_note"]
    assert np.isnan(row["taylor_n"]) and np.isnan(row["cost_optimal_cutting_speed"])
    ok, notes = taylor_gate(np.array([0b00111, 0b00011]), DoeParams.from_config(load_config()))
    assert ok.tolist() == [True, False] and notes[0] is None and "varies cutting_speed, feed" in notes[1]


def test_the_planner_codes_a_users_categorical_factor_from_the_root_rows():
    pdf, _ = _imported({(-1, -1): [10.0], (1, -1): [20.0], (-1, 1): [30.0], (1, 1): [50.0]})
    params = NextParams.from_config(load_config(), {"coded_Insert": "double", "coded_NoseRadius": "double",
                                                    "Insert": "string", "NoseRadius": "double"})
    coding = root_coding(pdf, params)
    assert coding.levels == {"Insert": ("K10", "P25")} and coding.half == {"NoseRadius": pytest.approx(0.2)}


def test_censored_rows_only_for_the_combination_with_censored_lives():
    cells = {(-1, -1): [10.0, 12.0, 11.0], (1, -1): [20.0, 22.0, 19.0], (-1, 1): [30.0, 34.0, 31.0],
             (1, 1): [50.0, 47.0, 52.0]}
    one, params = _imported(cells)
    two = one.assign(tool_id="T2")
    pdf = pd.concat([one, two], ignore_index=True)
    pdf[CENSORED] = np.nan
    cut = pdf.index[(pdf["tool_id"] == "T2")][[2, 5]]
    pdf.loc[cut, "_completed"] = False
    pdf.loc[cut, CENSORED] = pdf.loc[cut, "tool_life_min"] * 0.9
    pdf.loc[cut, "tool_life_min"] = np.nan
    eff = effects_frame(pdf, params)
    mle = eff[eff["fit"] == "censored_mle"]
    assert set(mle["tool_id"]) == {"T2"} and len(mle) == 3
    assert (mle["method"] == "censored_mle").all() and mle["note"].str.startswith("2 of 12 lives censored").all()
    ls = eff[(eff["fit"] == "least_squares") & (eff["tool_id"] == "T2")]
    assert len(ls) == 3 and (ls["n_runs"] == 10).all()          # complete-case least squares beside it
