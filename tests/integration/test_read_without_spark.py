"""The gold tables read without Spark, with delta-rs (deltalake) and with DuckDB's delta
extension, equal the frames written; and the dashboard's figures use the gold numbers."""

from __future__ import annotations

import math
import subprocess
import sys

import pandas as pd
import pytest

from toollife.dashboard import data
from toollife.lakehouse import reader
from toollife.doe import cost_optimal_conditions
from dashboard_lakehouse import filled_lakehouse  # noqa: F401 (fixture)

GOLD = ["gold.experiment_runs", "gold.doe_effects", "gold.doe_optimal_settings"]
KEYS = {"gold.experiment_runs": data.RUN_KEY, "gold.doe_effects": [*data.COMBINATION, "term"],
        "gold.doe_optimal_settings": data.COMBINATION}


def _sorted(frame: pd.DataFrame, keys) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists (design_factors) as tuples, timestamps as UTC microseconds: equal values compare equal
    whichever reader produced them."""
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            s = pd.to_datetime(out[c], utc=True)
            out[c] = s.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        elif out[c].dtype == object and out[c].map(lambda v: hasattr(v, "__len__") and not isinstance(v, str)).any():
            out[c] = out[c].map(lambda v: tuple(v) if v is not None else None)
    return out


@pytest.mark.parametrize("name", GOLD)
def test_deltalake_reads_the_gold_tables_as_written(filled_lakehouse, name):
    config, written = filled_lakehouse
    read = reader.read(config, name)
    assert read.ok and read.version == 0
    assert list(read.frame.columns) == list(written[name].columns)
    pd.testing.assert_frame_equal(_comparable(_sorted(read.frame, KEYS[name])),
                                  _comparable(_sorted(written[name], KEYS[name])))


def test_deltalake_columns_filters_and_missing(filled_lakehouse, tmp_path):
    config, written = filled_lakehouse
    part = reader.read(config, "gold.doe_effects", columns=["machine_id", "term", "effect", "no_such_column"],
                       filters=[("experiment_id", "=", "EXP-1"), ("machine_id", "=", "M02")])
    assert list(part.frame.columns) == ["machine_id", "term", "effect"]
    assert set(part.frame["machine_id"]) == {"M02"}
    assert len(part.frame) == (written["gold.doe_effects"]["machine_id"] == "M02").sum()
    nothing = reader.read(config, "gold.doe_effects", filters=[("experiment_id", "=", "NOPE")])
    assert nothing.status == reader.EMPTY and "jobs/compute_doe_effects.py" in nothing.message()
    missing = reader.read({"lakehouse": {"root": str(tmp_path)}}, "gold.tool_life_predictions")
    assert missing.status == reader.MISSING and missing.frame is None
    assert "jobs/score_tool_life.py" in missing.message()
    # the row count from the Delta log's statistics, without reading a data file
    assert reader.count(config, "gold.doe_effects") == len(written["gold.doe_effects"])
    assert reader.count({"lakehouse": {"root": str(tmp_path)}}, "gold.tool_life_predictions") is None


@pytest.mark.parametrize("name", GOLD)
def test_duckdb_delta_extension_reads_the_gold_tables_as_written(filled_lakehouse, name):
    config, written = filled_lakehouse
    con = reader.duckdb_connect(config)
    got = con.sql(f"select * from {name}").df()
    assert sorted(got.columns) == sorted(written[name].columns)
    got = got[list(written[name].columns)]
    expected = _comparable(_sorted(written[name], KEYS[name]))
    got = _comparable(_sorted(got, KEYS[name]))
    for c in expected.columns:               # DuckDB hands ints back as pandas nullable ints, NaN as NA, ...
        if pd.api.types.is_numeric_dtype(expected[c]) and not pd.api.types.is_bool_dtype(expected[c]):
            pd.testing.assert_series_equal(got[c].astype(float), expected[c].astype(float), check_names=False)
        else:
            assert got[c].where(got[c].notna(), None).tolist() == expected[c].where(expected[c].notna(), None).tolist(), c


def test_duckdb_sql_over_the_lakehouse(filled_lakehouse):
    config, written = filled_lakehouse
    con = reader.duckdb_connect(config)
    got = con.sql("select machine_id, tool_id, count(*) as n from gold.doe_effects where significant "
                  "group by all order by all").df()
    eff = written["gold.doe_effects"]
    expected = (eff[eff["significant"]].groupby(["machine_id", "tool_id"]).size().rename("n").reset_index())
    assert got["n"].tolist() == expected["n"].tolist()


def test_dashboard_cost_curve_reproduces_the_gold_optimum(filled_lakehouse):
    """The figures take the gold Taylor fit and toollife.doe.taylor's maths: their optimum is the
    one the DOE job stored."""
    config, written = filled_lakehouse
    base = data.baseline_conditions(config)
    ok = written["gold.doe_optimal_settings"].query("status == 'ok'")
    assert len(ok) == 3                         # M01/T02 lost runs (incomplete), M03/T01 skipped
    for row in ok.to_dict("records"):
        taylor = data.taylor_params(row)
        opt = cost_optimal_conditions(taylor, base["f"], base["d"], config["doe"]["cost"],
                                      current_speed=base["current_speed"], coolant=base["coolant"],
                                      coating=base["coating"])
        assert opt["V_opt"] == pytest.approx(row["cost_optimal_cutting_speed"], rel=1e-9)
        assert opt["cost_per_part_optimal"] == pytest.approx(row["cost_per_part_optimal"], rel=1e-9)
        assert opt["savings"] == pytest.approx(row["savings_per_part"], rel=1e-9)
    skipped = written["gold.doe_optimal_settings"].query("status == 'skipped'").iloc[0].to_dict()
    assert data.taylor_params(skipped) is None


def test_data_helpers():
    assert data.human_duration(12.54) == "12.5 min"
    assert data.human_duration(135) == "2 h 15 min"
    assert data.human_duration(472749) == "328 d 7 h"
    assert data.human_duration(float("nan")) == "-"
    effects = pd.DataFrame({"term": ["A", "A:B", "A:C", "B:C"], "effect": [1.0, 0.1, 0.5, 0.2],
                            "p_value": [0.001, 0.5, 0.01, 0.5]})
    assert data.interaction_pairs(effects, ["A", "B", "C", "D"])[:3] == [("A", "C"), ("B", "C"), ("A", "B")]
    row = {"taylor_n": 0.25, "taylor_a": 0.6, "taylor_b": 0.15, "taylor_C": 200.0,
           "taylor_coolant_multiplier": math.nan, "taylor_coating_multiplier": 1.2}
    assert data.taylor_params(row)["coolant_multiplier"] == 1.0        # not estimated: counts as 1, as in gold
    assert data.taylor_params({**row, "taylor_n": 1.2}) is None


def test_reader_needs_no_jvm(filled_lakehouse):
    config, written = filled_lakehouse
    code = ("import sys; from toollife.lakehouse import reader; "
            f"r = reader.read({{'lakehouse': {{'root': {config['lakehouse']['root']!r}}}}}, 'gold.doe_effects'); "
            "c = reader.duckdb_connect({'lakehouse': {'root': " + repr(config["lakehouse"]["root"]) + "}}); "
            "n = c.sql('select count(*) from gold.doe_effects').fetchone()[0]; "
            "assert 'pyspark' not in sys.modules; print(len(r.frame), n)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(len(written["gold.doe_effects"]))] * 2


def test_reading_without_spark_exits_cleanly_on_a_loaded_machine(filled_lakehouse):
    """The README's snippet, run again and again beside two busy cores: every process exits 0. With
    delta-rs's Python filesystem handler, Arrow's I/O threads still pre-fetching at interpreter exit
    aborted some runs (exit 134) after correct output; the reader gives Arrow a native filesystem."""
    config, written = filled_lakehouse
    code = ("from toollife.lakehouse import reader; "
            f"config = {{'lakehouse': {{'root': {config['lakehouse']['root']!r}}}}}; "
            f"print(*[len(reader.read(config, t).frame) for t in {GOLD!r}], reader.count(config, 'gold.doe_effects'))")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
                for _ in range(15)]
    finally:
        for burner in burners:
            burner.kill()
    assert [r.returncode for r in runs] == [0] * len(runs), [r.stderr[-300:] for r in runs if r.returncode]
    expected = [str(len(written[t])) for t in GOLD] + [str(len(written["gold.doe_effects"]))]
    assert all(r.stdout.split() == expected for r in runs)


def test_tables_spark_writes_read_without_spark(spark, filled_lakehouse, lakehouse_config):
    """What Spark 4.2 + Delta 4.4 write (overwrite, then a replaceWhere rerun: a second version
    with removed files; an append-only table with properties) delta-rs and DuckDB read alike."""
    from pyspark.sql import functions as F

    from toollife.lakehouse import lineage, tables
    from toollife.gold.doe_effects import EFFECTS, effects_schema, replace_experiments

    _, written = filled_lakehouse
    config = lakehouse_config
    effects = written["gold.doe_effects"]
    df = spark.createDataFrame(effects, effects_schema())
    tables.overwrite(df, config, EFFECTS, partition_by=["experiment_id"])
    rerun = df.withColumn("effect", F.col("effect") * 2)
    replace_experiments(rerun, config, EFFECTS, ["EXP-1"])
    lineage.record_job_run(spark, config, {"run_id": "r1", "job": "dash-test", "status": "succeeded",
                                           "started_at": effects["computed_at"].iloc[0].to_pydatetime()})

    expected = _sorted(rerun.toPandas(), KEYS["gold.doe_effects"])
    read = reader.read(config, "gold.doe_effects")
    assert read.version == 1
    got = _sorted(read.frame, KEYS["gold.doe_effects"])
    pd.testing.assert_series_equal(got["effect"], expected["effect"])
    assert got["term"].tolist() == expected["term"].tolist()
    assert (got["computed_at"] == pd.to_datetime(expected["computed_at"]).dt.tz_localize(
        spark.conf.get("spark.sql.session.timeZone")).dt.tz_convert("UTC")).all()
    assert reader.read(config, "gold.doe_effects", as_of=0).frame["effect"].abs().sum() == pytest.approx(
        effects["effect"].abs().sum())

    con = reader.duckdb_connect(config)
    duck = con.sql("select * from gold.doe_effects").df()
    duck = _sorted(duck, KEYS["gold.doe_effects"])
    pd.testing.assert_series_equal(duck["effect"], expected["effect"], check_names=False)
    assert con.sql("select job from meta.job_runs").fetchall() == [("dash-test",)]
    assert reader.read(config, "meta.job_runs").frame["job"].tolist() == ["dash-test"]


def test_follow_up_summary_reads_like_a_finding():
    row = {"parent_experiment_id": "SIM-7", "parent_kind": "fold_over", "n_runs": 32, "model": "first_order",
           "aliases_before": "A = B:C", "aliases_after": None, "resolved": "A (not B:C)", "nature": None,
           "cost_optimal_speed": 231.4, "cost_optimal_speed_ci_low": 214.9, "cost_optimal_speed_ci_high": math.nan}
    found = data.follow_up_summary(row, alpha=0.1).set_index("about")["finding"]
    assert found["follow-up of"] == "SIM-7 (fold_over), 32 runs analysed together, model: first_order"
    assert found["aliases"] == "before: A = B:C; after: none"
    assert found["resolved"] == "A (not B:C)"
    assert found["cost-optimal speed"] == "231 m/min"                 # no interval without both ends
    assert "stationary point" not in found
    row.update(cost_optimal_speed_ci_high=250.2, nature="maximum", stationary_json='{"cutting_speed": 0.4}',
               predicted_at_stationary=3.21)
    found = data.follow_up_summary(row, alpha=0.1).set_index("about")["finding"]
    assert found["cost-optimal speed"] == "231 m/min (90% CI 215-250)"
    assert found["stationary point"] == 'maximum at {"cutting_speed": 0.4}, predicted response 3.210'
