"""The per-batch pandas maths of gold.doe_effects / gold.doe_optimal_settings (no Spark).

A batch holds many machine x tool combinations; the results must equal the single-combination
functions of toollife.doe, and bad combinations must be skipped with a reason, not fail the batch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from toollife.config import load_config
from toollife.doe import (analyze_factorial, analyze_factorial_groups, analyze_incomplete, cost_optimal_conditions, fit_taylor, fractional_factorial,
                          full_factorial, optimal_settings)
from toollife.gold.doe_frames import COST_COLUMNS, cost_optimum, effects_frame, optimal_columns, optimal_frame
from toollife.gold.doe_screen import GROUP_COLS, DoeParams, screen

FACTORS = ["cutting_speed", "feed", "depth_of_cut", "coolant", "coating"]
NATURAL = {"cutting_speed": (180.0, 300.0), "feed": (0.15, 0.30), "depth_of_cut": (1.0, 3.0),
           "coolant": ("dry", "flood"), "coating": ("TiN", "TiAlN")}


@pytest.fixture(scope="module")
def params():
    return DoeParams.from_config(load_config())


def bucket(n_groups=6, replicates=2, seed=1, fraction=True) -> pd.DataFrame:
    """experiment_runs-like rows: a 2^(5-1) (or 2^5) design per machine x tool, Taylor-like life."""
    rng = np.random.default_rng(seed)
    design = fractional_factorial(FACTORS, ["E=ABCD"]) if fraction else full_factorial(FACTORS)
    frames = []
    for g in range(n_groups):
        d = pd.concat([design] * replicates, ignore_index=True)
        coded = d[FACTORS].to_numpy(float)
        ln_t = (3.0 - 1.0 * coded[:, 0] - 0.8 * coded[:, 1] - 0.3 * coded[:, 2] + 0.2 * coded[:, 3]
                + 0.25 * coded[:, 4] + rng.normal(0, 0.1, len(d)) + 0.05 * g)
        frame = pd.DataFrame({"experiment_id": "E1", "machine_id": f"M{g // 2 + 1:02d}", "tool_id": f"T{g % 2 + 1:02d}"},
                             index=range(len(d)))
        for j, f in enumerate(FACTORS):
            frame[f"coded_{f}"] = coded[:, j]
            lo, hi = NATURAL[f]
            frame[f] = np.where(coded[:, j] > 0, hi, lo)
        frame["tool_life_min"] = np.exp(ln_t)
        frame["_completed"] = True
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def per_group(pdf):
    for key, g in pdf[pdf["_completed"]].groupby(GROUP_COLS, sort=True):
        yield key, g


def same(mine: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal up to the last bits of a matrix-vs-vector BLAS product (labels and flags exactly)."""
    pd.testing.assert_frame_equal(mine[want.columns], want, check_exact=False, rtol=1e-12, atol=1e-14)
    for c in ("term", "significant", "method", "aliases"):
        assert mine[c].tolist() == want[c].tolist()


def test_effects_equal_analyze_factorial_per_combination(params):
    pdf = bucket()
    got = effects_frame(pdf, params)
    assert len(got) == 6 * 15
    for key, g in per_group(pdf):
        runs = g[[f"coded_{f}" for f in FACTORS] + ["tool_life_min"]].rename(columns=lambda c: c.removeprefix("coded_"))
        want = analyze_factorial(runs, FACTORS, "tool_life_min", alpha=params.alpha, log_response=True)
        mine = got[(got[GROUP_COLS] == list(key)).all(axis=1)].reset_index(drop=True)
        same(mine, want)
        assert (mine["n_runs"] == len(g)).all()


def test_effects_are_bit_identical_to_the_vectorised_function_on_the_whole_bucket(params):
    pdf = bucket()
    got = effects_frame(pdf, params)
    runs = pdf.drop(columns=FACTORS).rename(columns=lambda c: c.removeprefix("coded_"))
    want = analyze_factorial_groups(runs, GROUP_COLS, FACTORS, "tool_life_min", alpha=params.alpha,
                                    log_response=True)
    pd.testing.assert_frame_equal(got[want.columns], want, check_exact=True)


def test_optimal_settings_taylor_and_cost_equal_the_single_group_functions(params):
    pdf = bucket(n_groups=4)
    got = optimal_frame(pdf, params).set_index(GROUP_COLS)
    assert list(got.reset_index().columns) == [n for n, _ in optimal_columns(params)]
    assert (got["status"] == "ok").all()
    for key, g in per_group(pdf):
        row = got.loc[key]
        coded = g[[f"coded_{f}" for f in FACTORS] + ["tool_life_min"]].rename(columns=lambda c: c.removeprefix("coded_"))
        want = optimal_settings(coded, FACTORS, "tool_life_min", alpha=params.alpha, log_response=True)
        assert row["terms"] == ", ".join(want["terms"])
        for f in FACTORS:
            assert row[f"best_coded_{f}"] == want["coded"][f]
            lo, hi = NATURAL[f]
            assert row[f"best_{f}"] == (hi if want["coded"][f] == 1 else lo)
        for k in ("predicted", "ci_low", "ci_high", "pi_low", "pi_high"):
            col = "predicted_tool_life_min" if k == "predicted" else k
            assert row[col] == pytest.approx(want[k], rel=1e-12)
        taylor = fit_taylor(g)
        for k in ("n", "a", "b", "C", "coolant_multiplier", "coating_multiplier"):
            assert row[f"taylor_{k}"] == pytest.approx(taylor[k], rel=1e-10)
        base = params.baseline
        cost = cost_optimal_conditions(taylor, base["feed"], base["depth_of_cut"], params.cost,
                                       current_speed=base["cutting_speed"], coolant=True, coating=True)
        assert row["cost_optimal_tool_life_min"] == pytest.approx(cost["T_opt"], rel=1e-12)
        assert row["cost_optimal_cutting_speed"] == pytest.approx(cost["V_opt"], rel=1e-12)
        assert row["cost_per_part_baseline"] == pytest.approx(cost["cost_per_part_current"], rel=1e-12)
        assert row["cost_per_part_optimal"] == pytest.approx(cost["cost_per_part_optimal"], rel=1e-12)
        assert row["savings_per_part"] == pytest.approx(cost["savings"], rel=1e-9, abs=1e-12)


def test_bad_combinations_are_skipped_with_a_reason_and_the_rest_still_analysed(params):
    pdf = bucket(n_groups=6)
    keys = pdf[GROUP_COLS].drop_duplicates().sort_values(GROUP_COLS).to_numpy().tolist()

    def rows_of(i):
        return (pdf[GROUP_COLS] == keys[i]).all(axis=1)

    # 0: one design point lost entirely (both replicates) -> incomplete fraction
    first = pdf[rows_of(0)].iloc[0]
    point = (pdf[[f"coded_{f}" for f in FACTORS]] == first[[f"coded_{f}" for f in FACTORS]].to_numpy()).all(axis=1)
    pdf = pdf[~(rows_of(0) & point)]
    # 1: a completed run without factor levels (run_started not ingested yet)
    pdf.loc[pdf.index[rows_of(1)][0], "coded_feed"] = np.nan
    # 2: a zero tool life cannot be log-transformed
    pdf.loc[pdf.index[rows_of(2)][0], "tool_life_min"] = 0.0
    # 3: nothing completed yet
    pdf.loc[rows_of(3), "_completed"] = False
    # 4: a run at an off-design level
    pdf.loc[pdf.index[rows_of(4)][0], "coded_depth_of_cut"] = 0.4

    runs, good, skipped = screen(pdf, params)
    reasons = dict(zip(map(tuple, skipped[GROUP_COLS].to_numpy().tolist()), skipped["skip_reason"]))
    assert "do not form a full" in reasons[tuple(keys[0])]
    assert "without coded" in reasons[tuple(keys[1])]
    assert "log" in reasons[tuple(keys[2])]
    assert reasons[tuple(keys[3])] == "no completed runs"
    assert "without coded" in reasons[tuple(keys[4])]
    assert good[GROUP_COLS].to_numpy().tolist() == [keys[5]]

    # the lost design point leaves a design least squares still analyses (the others stay skipped)
    effects = effects_frame(pdf, params)
    assert sorted(effects[GROUP_COLS].drop_duplicates().to_numpy().tolist()) == [keys[0], keys[5]]
    lost = pdf.loc[rows_of(0), [f"coded_{f}" for f in FACTORS] + ["tool_life_min"]]
    want = analyze_incomplete(lost.rename(columns={f"coded_{f}": f for f in FACTORS}), FACTORS, "tool_life_min",
                              alpha=params.alpha, log_response=params.log_response)
    mine = effects[(effects[GROUP_COLS] == keys[0]).all(axis=1)].reset_index(drop=True)
    assert want.non_estimable == ["coolant:coating"]      # 15 points of 16: the last term is lost
    pd.testing.assert_frame_equal(mine[["effect", "std_error", "p_value"]], want.effects[["effect", "std_error", "p_value"]])
    assert mine["term"].tolist() == want.effects["term"].tolist() and (mine["n_runs"] == 30).all()
    opt = optimal_frame(pdf, params)
    assert sorted(opt["status"]) == ["incomplete", "ok"] + ["skipped"] * 4
    assert opt.loc[opt["status"] == "skipped", "taylor_n"].isna().all()
    row0 = opt[(opt[GROUP_COLS] == keys[0]).all(axis=1)].iloc[0]
    assert row0["status"] == "incomplete" and row0["method"] == want.method and row0["df_resid"] == want.df_resid
    assert row0["skip_reason"].startswith("1 planned run(s) lost at 1 design point(s)")   # rows gone: at least 1
    assert "no longer estimable: coolant:coating" in row0["skip_reason"]
    row3 = opt[(opt[GROUP_COLS] == keys[3]).all(axis=1)].iloc[0]
    assert row3["n_runs"] == 0 and row3["n_runs_not_completed"] == 32


def test_unequal_replication_and_a_full_factorial_in_one_bucket(params):
    """Aborted runs leave unequal replication (still analysable); designs may differ per bucket."""
    a = bucket(n_groups=2, fraction=True)
    b = bucket(n_groups=2, fraction=False, seed=3).assign(experiment_id="E2")
    pdf = pd.concat([a, b], ignore_index=True)
    pdf.loc[pdf.index[0], "_completed"] = False
    got = effects_frame(pdf, params)
    counts = got.groupby("experiment_id")["term"].nunique()
    assert counts["E1"] == 15 and counts["E2"] == 31
    for key, g in per_group(pdf):
        runs = g[[f"coded_{f}" for f in FACTORS] + ["tool_life_min"]].rename(columns=lambda c: c.removeprefix("coded_"))
        want = analyze_factorial(runs, FACTORS, "tool_life_min", log_response=True)
        mine = got[(got[GROUP_COLS] == list(key)).all(axis=1)].reset_index(drop=True)
        same(mine, want)


def test_only_the_factors_an_experiment_varies_are_analysed(params):
    pdf = bucket(n_groups=2, fraction=False)
    pdf = pdf[pdf["coded_coating"] == 1].copy()         # coating held at TiAlN: a 2^4 design
    pdf["coded_coating"] = np.nan
    pdf["_factor_mask"] = 0b01111
    got = effects_frame(pdf, params)
    assert not got["term"].str.contains("coating").any()
    assert got.groupby(GROUP_COLS).size().tolist() == [15, 15]
    opt = optimal_frame(pdf, params)
    assert (opt["status"] == "ok").all() and opt["best_coating"].isna().all()
    assert opt["taylor_coating_multiplier"].isna().all() and opt["cost_optimal_cutting_speed"].notna().all()


def test_cost_optimum_is_nan_outside_0_lt_n_lt_1(params):
    taylor = {"n": np.array([0.25, 1.2]), "a": np.array([0.6, 0.6]), "b": np.array([0.15, 0.15]),
              "C": np.array([185.0, 185.0]), "coolant_multiplier": np.array([1.1, 1.1]),
              "coating_multiplier": np.array([np.nan, 1.0])}
    out = cost_optimum(taylor, params)
    assert set(out) == set(COST_COLUMNS)
    want = cost_optimal_conditions({"n": 0.25, "a": 0.6, "b": 0.15, "C": 185.0, "coolant_multiplier": 1.1,
                                    "coating_multiplier": 1.0}, 0.2, 2.0, params.cost, current_speed=240.0,
                                   coolant=True, coating=True)
    assert out["cost_optimal_cutting_speed"][0] == pytest.approx(want["V_opt"], rel=1e-12)
    assert np.isnan(out["cost_optimal_cutting_speed"][1])


def combination_batches(pdf: pd.DataFrame, run_cols: list[str], mask: int):
    """What combination_runs hands mapInArrow: one row per combination, its runs as a list of structs."""
    import pyarrow as pa

    pdf = pdf.sort_values(GROUP_COLS, kind="stable")
    sizes = pdf.groupby(GROUP_COLS, sort=True).size()
    t = pa.Table.from_pandas(pdf[run_cols], preserve_index=False)
    runs = pa.StructArray.from_arrays([t.column(c).combine_chunks() for c in run_cols], names=run_cols)
    offsets = pa.array(np.concatenate([[0], np.cumsum(sizes.to_numpy())]).astype(np.int32))
    keys = sizes.index.to_frame(index=False)
    agg = pa.table({**{c: pa.array(keys[c]) for c in GROUP_COLS},
                    "_factor_mask": pa.array(np.full(len(keys), mask, np.int32)),
                    "_runs": pa.ListArray.from_arrays(offsets, runs)})
    return agg.to_batches(max_chunksize=2)             # several batches, as maxRecordsPerBatch gives


def test_arrow_udfs_return_the_pandas_results_in_the_spark_schema(params):
    """The functions mapInArrow calls: keys stay Arrow strings, values equal the pandas path."""
    import pyarrow as pa

    from toollife.gold.doe_effects import _effects_udf_schema, _optimal_udf_schema, effects_udf, optimal_udf

    pdf = bucket(n_groups=5)
    pdf.loc[pdf.index[0], "tool_life_min"] = -1.0            # one skipped combination
    pdf.loc[pdf.index[1], "coded_feed"] = np.nan             # a null coded level: skipped too
    run_cols = ["_completed"] + [f"coded_{f}" for f in FACTORS] + ["tool_life_min", "cutting_speed", "feed",
                                                                    "depth_of_cut"]
    cols = GROUP_COLS + run_cols
    batches = combination_batches(pdf, run_cols, mask=(1 << len(FACTORS)) - 1)
    got = pa.Table.from_batches(list(effects_udf(params)(iter(batches))))
    assert got.column_names == [f.name for f in _effects_udf_schema().fields]
    want = effects_frame(pdf[cols], params)
    assert want[GROUP_COLS].drop_duplicates().shape[0] == 3
    key = GROUP_COLS + ["term"]
    pd.testing.assert_frame_equal(got.to_pandas().sort_values(key).reset_index(drop=True),
                                  want.sort_values(key).reset_index(drop=True), check_dtype=False)
    got = pa.Table.from_batches(list(optimal_udf(params)(iter(batches))))
    assert got.column_names == [f.name for f in _optimal_udf_schema(params).fields]
    assert got.schema.field("df_resid").type == pa.int64() and got.schema.field("best_coolant").type == pa.string()
    assert sorted(got.column("status").to_pylist()) == ["ok"] * 3 + ["skipped"] * 2
    want = optimal_frame(pdf[cols], params)

    def norm(df):
        df = df.sort_values(GROUP_COLS).reset_index(drop=True).astype(object)
        return df.where(df.notna(), None)
    pd.testing.assert_frame_equal(norm(got.to_pandas()), norm(want))
