"""The DOE jobs on an imported worksheet: Montgomery, Design and Analysis of Experiments, problem
6.5 (tool life in hours, a 2^3 in CuttingSpeed, ToolGeometry, CuttingAngle with 3 replicates).

gold.experiment_runs is written as the import writes it (the contract of issue 30: the user's
factor names as natural + coded_ columns, tool_life / censored_life / life_unit / source); a second
tool holds the same worksheet with three lives censored. Both jobs run in-process; the effects are
checked against numpy least squares and a censored likelihood maximised here with scipy.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from censored_likelihood import censored_mle
from scipy import stats

from toollife.lakehouse import tables
from toollife.gold import doe_effects as de
from toollife.gold import experiment_runs as er
from toollife.gold import next_experiments as ne

REPO = Path(__file__).resolve().parents[2]
WORKSHEET = REPO.parent / "shared" / "realdata" / "montgomery_dae_problem6_5_toollife.csv"
FACTORS = ["CuttingSpeed", "ToolGeometry", "CuttingAngle"]
TERMS = ["CuttingSpeed", "ToolGeometry", "CuttingAngle", "CuttingSpeed:ToolGeometry", "CuttingSpeed:CuttingAngle",
         "ToolGeometry:CuttingAngle", "CuttingSpeed:ToolGeometry:CuttingAngle"]
CENSORED_ROWS = (1, 10, 20)          # tool T2: these runs stopped (censored) at 80 % of their life


def _job(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model_matrix(coded: np.ndarray) -> np.ndarray:
    a, b, c = coded.T
    return np.column_stack([np.ones(len(a)), a, b, c, a * b, a * c, b * c, a * b * c])


def _runs_table(spark, config, sheet: pd.DataFrame):
    schema = er.experiment_runs_schema(config)
    from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

    extra = [StructField(c, DoubleType()) for c in ("tool_life", "censored_life")]
    extra += [StructField("life_unit", StringType()), StructField("source", StringType())]
    for f in FACTORS:
        extra += [StructField(f, DoubleType()), StructField(f"coded_{f}", DoubleType())]
    have = set(schema.fieldNames())
    full = StructType(schema.fields + [f for f in extra if f.name not in have])
    rows = []
    for tool in ("T1", "T2"):
        for i, r in sheet.iterrows():
            life = float(r["LifeHours"]) * 60.0
            censored = tool == "T2" and i in CENSORED_ROWS
            row = {f.name: None for f in full.fields}
            row.update(experiment_id="MONTGOMERY-6.5", machine_id="M1", tool_id=tool, run_id=int(i), replicate=0,
                       status="censored" if censored else "completed", design_factors=list(FACTORS),
                       tool_life=None if censored else life, tool_life_min=None if censored else life,
                       censored_life=0.8 * life if censored else None, life_unit="min",
                       source="montgomery_dae_problem6_5_toollife.csv", n_readings=0, row_hash=f"{tool}-{i}",
                       updated_at=datetime(2026, 1, 1))
            for f in FACTORS:
                row[f] = row[f"coded_{f}"] = float(r[f])
            rows.append(row)
    assert isinstance(full["design_factors"].dataType, ArrayType)
    df = spark.createDataFrame(rows, full)
    tables.overwrite(df, config, er.EXPERIMENT_RUNS)


@pytest.fixture(scope="module")
def analysed(spark, base_config, tmp_path_factory):
    if not WORKSHEET.exists():
        pytest.skip(f"{WORKSHEET} not present")
    config = copy.deepcopy(base_config)
    root = tmp_path_factory.mktemp("doe_user_factors")
    config["lakehouse"]["root"] = str(root / "tables")
    config["lakehouse"]["checkpoint_root"] = str(root / "checkpoints")
    sheet = pd.read_csv(WORKSHEET)
    _runs_table(spark, config, sheet)
    args = argparse.Namespace(experiment_id=None)
    metrics = _job("compute_doe_effects").main(spark, config, args)
    plan = _job("plan_next_experiments").main(spark, config, args)
    read = lambda t: tables.read(spark, config, t).toPandas()      # noqa: E731
    return {"config": config, "sheet": sheet, "metrics": metrics, "plan_metrics": plan,
            "effects": read(de.EFFECTS), "optimal": read(de.OPTIMAL), "next": read(ne.NEXT)}


def test_effects_and_p_values_are_least_squares_on_the_users_factors(analysed):
    sheet, effects, config = analysed["sheet"], analysed["effects"], analysed["config"]
    log = bool(config["doe"]["log_response"])
    assert analysed["metrics"]["factors"][-3:] == FACTORS
    X = _model_matrix(sheet[FACTORS].to_numpy(float))
    life = sheet["LifeHours"].to_numpy(float) * 60.0
    y = np.log(life) if log else life
    beta, rss = np.linalg.lstsq(X, y, rcond=None)[:2]
    df = len(y) - X.shape[1]
    se = np.sqrt(rss[0] / df * np.diag(np.linalg.inv(X.T @ X)))
    p = 2 * stats.t.sf(np.abs(beta / se), df)
    got = effects.query("tool_id == 'T1' and fit == 'least_squares'").set_index("term").loc[TERMS]
    np.testing.assert_allclose(got["effect"], 2 * beta[1:], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["std_error"], 2 * se[1:], rtol=1e-9)
    np.testing.assert_allclose(got["p_value"], p[1:], rtol=1e-7, atol=1e-12)
    assert (got["method"] == "anova").all() and (got["n_runs"] == 24).all()
    assert (got["response"] == ("ln_tool_life" if log else "tool_life")).all()
    alpha = float(config["doe"]["alpha"])
    significant = {t for t, pv in zip(TERMS, p[1:]) if pv < alpha}
    assert set(got.index[got["significant"]]) == significant
    # the textbook's conclusion: tool geometry, cutting angle and the speed x angle interaction matter
    assert {"ToolGeometry", "CuttingAngle", "CuttingSpeed:CuttingAngle"} <= significant


def test_no_taylor_or_cost_analysis_and_the_plan_uses_the_users_factors(analysed):
    opt = analysed["optimal"].set_index("tool_id")
    for tool in ("T1", "T2"):
        row = opt.loc[tool]
        assert row["status"] == "ok"
        assert "no Taylor/cost analysis" in row["taylor_note"]
        assert np.isnan(row["taylor_n"]) and np.isnan(row["cost_optimal_cutting_speed"])
        assert row["best_coded_ToolGeometry"] in (-1.0, 1.0)
    assert analysed["metrics"]["combinations_without_taylor"] == 2
    nxt = analysed["next"].query("tool_id == 'T1'")
    assert len(nxt) and (nxt["response"] != "cost_per_part").all()
    assert "not cost_per_part" in nxt["reason"].iloc[0] or nxt["kind"].iloc[0] == "skipped"


def test_censored_lives_get_maximum_likelihood_rows_beside_least_squares(analysed):
    sheet, effects = analysed["sheet"], analysed["effects"]
    assert analysed["metrics"]["combinations_censored_fit"] == 1
    mle = effects.query("tool_id == 'T2' and fit == 'censored_mle'").set_index("term").loc[TERMS]
    assert (mle["method"] == "censored_mle").all() and (mle["response"] == "ln_tool_life").all()
    assert mle["note"].iloc[0].startswith("3 of 24 lives censored")
    life = sheet["LifeHours"].to_numpy(float) * 60.0
    observed = ~np.isin(np.arange(len(life)), CENSORED_ROWS)
    time = np.where(observed, life, 0.8 * life)
    beta, se = censored_mle(_model_matrix(sheet[FACTORS].to_numpy(float)), time, observed)
    np.testing.assert_allclose(mle["effect"], 2 * beta[1:], atol=1e-3)
    np.testing.assert_allclose(mle["std_error"], 2 * se[1:], rtol=5e-3)
    ls = effects.query("tool_id == 'T2' and fit == 'least_squares'")
    assert len(ls) == 7 and (ls["n_runs"] == 21).all()        # complete-case least squares, unequal replication
    assert not len(effects.query("tool_id == 'T1' and fit == 'censored_mle'"))
