"""jobs/import_measurements.py on the real data of ../shared/realdata (beside the repository),
run in-process on the session's SparkSession, checked against an independent numpy computation;
re-imports, a corrected file, a bad file, a missing column, the simulated runs beside, and one
`toollife import` under spark-submit."""

from __future__ import annotations

import copy
import csv
import importlib.util
import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toollife.gold import experiment_runs as er
from toollife.lakehouse import tables

REPO = Path(__file__).resolve().parents[2]
REALDATA = REPO.parent / "shared" / "realdata"
NASA = REALDATA / "nasa_mill_runs.csv"
MONTGOMERY = REALDATA / "montgomery_dae_problem6_5_toollife.csv"
PHM = {c: REALDATA / f"phm2010_{c}_wear.csv" for c in ("c1", "c4", "c6")}
pytestmark = pytest.mark.skipif(not NASA.is_file(), reason=f"no real data at {REALDATA} (../shared/realdata of the repo)")

NASA_ARGS = ["wear", str(NASA), "--experiment-id", "nasa_mill", "--run-column", "case", "--time-column", "time",
             "--time-unit", "min", "--wear-column", "VB", "--wear-unit", "mm", "--factors", "DOC=depth_of_cut,feed,material"]
MONTGOMERY_ARGS = ["runs", str(MONTGOMERY), "--experiment-id", "montgomery_6_5", "--life", "LifeHours",
                   "--life-unit", "h", "--factors", "CuttingSpeed,ToolGeometry,CuttingAngle"]


def phm_args(cutter):
    return ["wear", str(PHM[cutter]), "--experiment-id", "phm2010", "--tool", cutter, "--time-column", "cut",
            "--time-unit", "cuts", "--wear-column", "flute_1,flute_2,flute_3", "--wear-unit", "um",
            "--criterion", "0.15"]


def _job():
    spec = importlib.util.spec_from_file_location("import_measurements", REPO / "jobs" / "import_measurements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


JOB = _job()


def run_import(spark, config, argv):
    """The job as spark-submit runs it (parse, preflight, main), on this session: (code, summary)."""
    from toollife.errors import UserError, report
    from toollife.runtime.job import base_parser, execute

    parser = base_parser(JOB.NAME)
    JOB.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        JOB.preflight(config, args)
    except UserError as exc:
        return report(JOB.NAME, exc), None
    out = io.StringIO()
    with redirect_stdout(out):
        code = execute(spark, config, JOB.NAME, JOB.main, args, record=False)
    return code, json.loads([ln for ln in out.getvalue().splitlines() if ln.startswith("{")][-1])


def runs_of(spark, config, experiment):
    pdf = tables.read(spark, config, er.EXPERIMENT_RUNS).where(f"experiment_id = '{experiment}'").toPandas()
    return pdf.sort_values(["tool_id", "run_id"]).reset_index(drop=True)


def life_numpy(t, w, c):
    """Independent: first crossing by linear interpolation, or None."""
    for i in range(len(w)):
        if w[i] >= c:
            return t[i] if i == 0 else t[i - 1] + (c - w[i - 1]) * (t[i] - t[i - 1]) / (w[i] - w[i - 1])
    return None


@pytest.fixture(scope="module")
def lake(spark, base_config, tmp_path_factory):
    config = copy.deepcopy(base_config)
    root = tmp_path_factory.mktemp("imports")
    config["lakehouse"]["root"] = str(root / "tables")
    config["lakehouse"]["checkpoint_root"] = str(root / "checkpoints")
    return config


def phm_maps(folder):
    """The landing folder form: one YAML map per PHM cutter (the data stays in ../shared/realdata)."""
    folder.mkdir(exist_ok=True)
    for cutter, path in PHM.items():
        (folder / f"phm2010_{cutter}.yaml").write_text(
            f"kind: wear\nfile: {path}\nexperiment_id: phm2010\ntool: {cutter}\ntime_column: cut\n"
            "time_unit: cuts\nwear_column: [flute_1, flute_2, flute_3]\nwear_unit: um\ncriterion: 0.15\n")
    return folder


@pytest.fixture(scope="module")
def imported(spark, lake, tmp_path_factory):
    landing = phm_maps(tmp_path_factory.mktemp("landing"))
    out = {name: run_import(spark, lake, argv) for name, argv in
           [("nasa", NASA_ARGS), ("montgomery", MONTGOMERY_ARGS), ("phm", ["landing", "--landing-dir", str(landing)])]}
    out["snapshot"] = tables.read(spark, lake, er.EXPERIMENT_RUNS).toPandas().sort_values(er.RUN_KEY).reset_index(drop=True)
    out["again"] = {name: run_import(spark, lake, argv) for name, argv in
                    [("nasa", NASA_ARGS), ("montgomery", MONTGOMERY_ARGS)]}
    return out


def test_nasa_lives_at_0_3_mm_equal_numpy_and_case_6_has_none(spark, lake, imported):
    code, summary = imported["nasa"]
    assert code == 0 and summary["runs"] == 16 and summary["readings"] == 146 and summary["no_life"] == 1
    with NASA.open(newline="") as f:
        rows = [r for r in csv.DictReader(f)]
    got = runs_of(spark, lake, "nasa_mill").set_index("run_id")
    for case in sorted({int(r["case"]) for r in rows}):
        mine = [r for r in rows if int(r["case"]) == case and r["VB"] != ""]
        t = np.array([float(r["time"]) for r in mine])
        w = np.array([float(r["VB"]) for r in mine])
        row = got.loc[case]
        if case == 6:
            assert row.status == "no_life" and pd.isna(row.tool_life) and pd.isna(row.censored_life)
            continue
        expected = life_numpy(t, w, 0.3)
        if expected is None:
            assert row.status == "censored" and row.censored_life == pytest.approx(t.max())
        else:
            assert row.status == "completed" and row.tool_life == pytest.approx(expected, rel=1e-12)
            assert row.tool_life_min == pytest.approx(expected, rel=1e-12)
        assert row.life_unit == "min" and row.source == str(NASA) and row.n_readings == len(mine)
        assert row.depth_of_cut == float(mine[0]["DOC"])      # DOC=depth_of_cut fills the standard column
        assert row.coded_depth_of_cut == (1.0 if mine[0]["DOC"] == "1.5" else -1.0)
        assert row.coded_material == (1.0 if mine[0]["material"] == "2" else -1.0)
        assert row.feed == float(mine[0]["feed"]) and row.coded_feed == (1.0 if mine[0]["feed"] == "0.5" else -1.0)
    assert sorted(got["design_factors"].iloc[0]) == ["depth_of_cut", "feed", "material"]
    wear = tables.read(spark, lake, tables.table("silver.wear_measurements")).where("experiment_id = 'nasa_mill'")
    assert wear.count() == 146


def test_montgomery_rows_land_with_coded_levels(spark, lake, imported):
    code, summary = imported["montgomery"]
    assert code == 0 and summary["runs"] == 24 and summary["quarantined"] == 0
    got = runs_of(spark, lake, "montgomery_6_5")
    raw = pd.read_csv(MONTGOMERY)
    assert len(got) == 24 and (got["status"] == "completed").all() and (got["life_unit"] == "min").all()
    np.testing.assert_allclose(got["tool_life"], raw["LifeHours"] * 60.0)
    for f in ("CuttingSpeed", "ToolGeometry", "CuttingAngle"):
        np.testing.assert_array_equal(got[f"coded_{f}"], raw[f].astype(float))
    assert sorted(got.groupby(["coded_CuttingSpeed", "coded_ToolGeometry", "coded_CuttingAngle"])["replicate"]
                  .max().unique()) == [3]


@pytest.mark.parametrize("cutter", list(PHM))
def test_phm_lives_max_over_flutes_equal_numpy(spark, lake, imported, cutter):
    code, summary = imported["phm"]
    assert code == 0 and summary["runs"] == 3 and summary["readings"] == 3 * 315
    raw = np.genfromtxt(PHM[cutter], delimiter=",", skip_header=1)
    expected = life_numpy(raw[:, 0], raw[:, 1:].max(axis=1) / 1000.0, 0.15)
    row = runs_of(spark, lake, "phm2010").set_index("tool_id").loc[cutter]
    assert row.status == "completed" and row.life_unit == "cuts" and pd.isna(row.tool_life_min)
    assert row.tool_life == pytest.approx(expected, rel=1e-12)


def test_importing_the_same_files_again_changes_nothing(spark, lake, imported):
    for name, (code, summary) in imported["again"].items():
        assert code == 0
        for table, counts in summary["merged"].items():
            assert counts["numTargetRowsInserted"] == counts["numTargetRowsUpdated"] == \
                counts["numTargetRowsDeleted"] == 0, (name, table)
    now = tables.read(spark, lake, er.EXPERIMENT_RUNS).toPandas().sort_values(er.RUN_KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(now, imported["snapshot"])


def test_a_corrected_file_updates_what_changed_and_drops_what_is_gone(spark, lake, imported, tmp_path):
    path = tmp_path / "sheet.csv"
    argv = ["runs", str(path), "--experiment-id", "sheet", "--life", "life", "--life-unit", "min",
            "--factors", "speed,coat", "--censored-column", "stopped"]
    path.write_text("speed,coat,life,stopped\n100,A,10,0\n200,A,8,0\n100,B,12,1\n200,B,9,0\n")
    assert run_import(spark, lake, argv)[0] == 0
    path.write_text("speed,coat,life,stopped\n100,A,11,0\n200,A,8,0\n100,B,12,1\n")
    code, summary = run_import(spark, lake, argv)
    merged = summary["merged"]["experiment_runs"]
    assert code == 0 and merged["numTargetRowsUpdated"] == 1 and merged["numTargetRowsDeleted"] == 1
    got = runs_of(spark, lake, "sheet")
    assert list(got["tool_life"].fillna(-1)) == [11.0, 8.0, -1]
    assert got.loc[2, "status"] == "censored" and got.loc[2, "censored_life"] == 12.0
    assert list(got["coat"]) == ["A", "A", "B"] and list(got["coded_coat"]) == [-1.0, -1.0, 1.0]


def test_a_bad_file_gives_quarantine_rows_and_the_summary(spark, lake, imported, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("tool,t,vb,f\n1,0,0.0,a\n1,5,x,a\n1,10,0.2,a\n1,8,0.25,a\n1,15,0.4,a\n"
                    "2,0,0.0,b\n2,5,-0.1,b\n2,10,0.1,b\n3,0,0,a\n3,5,0.1,b\n")
    argv = ["wear", str(path), "--experiment-id", "bad", "--run-column", "tool", "--time-column", "t",
            "--time-unit", "min", "--wear-column", "vb", "--wear-unit", "mm", "--factors", "f"]
    code, summary = run_import(spark, lake, argv)
    assert code == 0
    assert summary["quarantined"] == 5 and summary["runs"] == 2 and summary["censored"] == 1
    q = tables.read(spark, lake, tables.table("silver.import_quarantine")).where("experiment_id = 'bad'").toPandas()
    assert sorted(zip(q["source_line"], q["reason"])) == [
        (3, "not_a_number"), (5, "time_backwards"), (8, "negative_wear"), (10, "conflicting_factors"),
        (11, "conflicting_factors")]
    assert json.loads(q.set_index("source_line").loc[3, "raw_json"]) == {"tool": "1", "t": "5", "vb": "x", "f": "a"}


def test_a_missing_column_is_one_line_and_exit_2_before_spark(capsys):
    from toollife.runtime.job import run_job

    code = run_job(JOB.NAME, JOB.main, add_arguments=JOB.add_arguments, preflight=JOB.preflight,
                   argv=[*NASA_ARGS[:-1], "DOC,feed,materials"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "no column 'materials'" in err[0] and "the columns are: case, run, VB, time, DOC, feed, material" in err[0]


def test_aggregating_simulated_runs_leaves_imported_ones_alone(spark, base_config, tmp_path):
    from toollife.gold.simulated import silver_frames
    from toollife.ingestion.schemas import SOURCES
    from toollife.simulation import simulate

    lake = copy.deepcopy(base_config)
    lake["lakehouse"].update(root=str(tmp_path / "tables"), checkpoint_root=str(tmp_path / "checkpoints"))
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("DOC,coat,life\n1,A,10\n2,A,8\n1,B,12\n2,B,9\n")
    assert run_import(spark, lake, ["runs", str(sheet), "--experiment-id", "sheet", "--life", "life",
                                    "--life-unit", "min", "--factors", "DOC,coat"])[0] == 0
    before = tables.read(spark, lake, er.EXPERIMENT_RUNS).toPandas()
    sim = simulate(overrides={"seed": 3, "machines": 1, "tools": 1, "replicates": 1})
    for key, df in silver_frames(spark, sim).items():
        tables.overwrite(df, lake, SOURCES[key].silver)
    te, sr = er.read_silver(spark, lake)
    merged = er.merge_runs(spark, lake, er.build_experiment_runs(te, sr, lake))
    assert merged["numTargetRowsInserted"] > 0 and merged["numTargetRowsDeleted"] == 0
    runs = tables.read(spark, lake, er.EXPERIMENT_RUNS)
    simulated = runs.where("source = 'simulation'").toPandas()
    assert (simulated["life_unit"] == "min").all() and simulated["coded_DOC"].isna().all()
    done = simulated[simulated["status"] == "completed"]
    np.testing.assert_array_equal(done["tool_life"], done["tool_life_min"])
    after = runs.where("source <> 'simulation'").toPandas()
    key = er.RUN_KEY
    pd.testing.assert_frame_equal(after.sort_values(key).reset_index(drop=True)[before.columns],
                                  before.sort_values(key).reset_index(drop=True))


def test_toollife_import_under_spark_submit(tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYSPARK_PYTHON=sys.executable, TOOLLIFE_CONF_DIR=str(REPO / "conf"),
               TOOLLIFE__LAKEHOUSE__ROOT=str(tmp_path / "tables"),
               TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=str(tmp_path / "checkpoints"),
               TOOLLIFE__SPARK__SHUFFLE_PARTITIONS="2", PYTHONPATH=str(REPO / "libs"))
    proc = subprocess.run([sys.executable, "-m", "toollife.cli", "import", *MONTGOMERY_ARGS], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "spark-submit" in proc.stderr.splitlines()[0] and "import_measurements.py runs" in proc.stderr
    summary = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    assert summary["status"] == "succeeded" and summary["runs"] == 24 and summary["quarantined"] == 0
    assert summary["merged"]["experiment_runs"]["numTargetRowsInserted"] == 24


# --------------------------------------------------------------------------- the analysis of imported data
def _terms_matrix(runs: pd.DataFrame, terms) -> np.ndarray:
    """Intercept + one column per term ('a', 'a:b', ...) from the runs' coded levels."""
    cols = [np.ones(len(runs))]
    for term in terms:
        cols.append(np.prod([runs[f"coded_{f}"].to_numpy(float) for f in term.split(":")], axis=0))
    return np.column_stack(cols)


def _ols(X, y):
    from scipy import stats

    beta, rss = np.linalg.lstsq(X, y, rcond=None)[:2]
    df = len(y) - X.shape[1]
    se = np.sqrt(rss[0] / df * np.diag(np.linalg.inv(X.T @ X)))
    return beta, se, 2 * stats.t.sf(np.abs(beta / se), df)


@pytest.fixture(scope="module")
def analysed(spark, lake, imported):
    """NASA imported again at 0.6 and 0.7 mm (most tools never reach 0.7), then the DOE job once."""
    import argparse

    for c in ("0.6", "0.7"):
        argv = [*NASA_ARGS, "--criterion", c]
        argv[argv.index("nasa_mill")] = f"nasa_mill_{c.replace('.', '_')}"
        assert run_import(spark, lake, argv)[0] == 0
    spec = importlib.util.spec_from_file_location("compute_doe_effects", REPO / "jobs" / "compute_doe_effects.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    metrics = job.main(spark, lake, argparse.Namespace(experiment_id=None))
    read = lambda name: tables.read(spark, lake, tables.table(name)).toPandas()      # noqa: E731
    return {"metrics": metrics, "effects": read("gold.doe_effects"), "runs": read("gold.experiment_runs"),
            "optimal": read("gold.doe_optimal_settings")}


def _least_squares_rows(analysed, experiment):
    e = analysed["effects"]
    return e[(e["experiment_id"] == experiment) & (e["fit"] == "least_squares")].set_index("term")


def test_montgomery_effects_and_p_values_are_numpy_least_squares_and_the_textbooks(analysed):
    sheet = pd.read_csv(MONTGOMERY)
    got = _least_squares_rows(analysed, "montgomery_6_5")
    terms = list(got.index)
    runs = analysed["runs"].query("experiment_id == 'montgomery_6_5'")
    assert sorted(runs["coded_CuttingSpeed"].unique()) == [-1.0, 1.0]
    # independent: the worksheet's own coded columns, ln of the life in minutes
    X = _terms_matrix(sheet.rename(columns=lambda c: f"coded_{c}"), terms)
    beta, se, p = _ols(X, np.log(sheet["LifeHours"].to_numpy(float) * 60))
    np.testing.assert_allclose(got["effect"], 2 * beta[1:], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["p_value"], p[1:], rtol=1e-6, atol=1e-12)
    significant = set(got.index[got["significant"].astype(bool)])
    assert significant == {t for t, pv in zip(terms, p[1:]) if pv < 0.05}
    # Montgomery's conclusion (Exercise 6.5): geometry, angle and the speed x angle interaction
    assert {"ToolGeometry", "CuttingAngle"} <= significant
    assert any(set(t.split(":")) == {"CuttingSpeed", "CuttingAngle"} for t in significant)
    note = analysed["optimal"].set_index("experiment_id").loc["montgomery_6_5", "taylor_note"]
    assert "no Taylor/cost analysis" in note


def test_nasa_2x3_on_ln_life_is_numpy_least_squares_with_one_tool_in_a_cell(analysed):
    data = pd.read_csv(NASA)
    lives, levels = [], []
    for case, g in data.groupby("case"):
        g = g.dropna(subset=["VB"])
        life = life_numpy(g["time"].to_numpy(float), g["VB"].to_numpy(float), 0.3)
        if life is not None:
            lives.append(life)
            levels.append({f"coded_{f}": 1.0 if g[col].iloc[0] == hi else -1.0
                           for f, col, hi in (("depth_of_cut", "DOC", 1.5), ("feed", "feed", 0.5), ("material", "material", 2))})
    assert len(lives) == 15                                           # case 6 has no life
    got = _least_squares_rows(analysed, "nasa_mill")
    X = _terms_matrix(pd.DataFrame(levels), list(got.index))
    beta, se, p = _ols(X, np.log(lives))
    np.testing.assert_allclose(got["effect"], 2 * beta[1:], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got["std_error"], 2 * se[1:], rtol=1e-8)
    np.testing.assert_allclose(got["p_value"], p[1:], rtol=1e-6, atol=1e-12)
    assert (got["n_runs"] == 15).all()


def test_nasa_at_0_6_mm_censored_fit_equals_an_independent_likelihood(analysed):
    from censored_likelihood import censored_mle

    e = analysed["effects"]
    mle = e[(e["experiment_id"] == "nasa_mill_0_6") & (e["fit"] == "censored_mle")].set_index("term")
    kept = mle[mle["method"] == "censored_mle"]
    assert len(kept) >= 3 and mle["note"].iloc[0].startswith("5 of 15 lives censored")
    runs = analysed["runs"].query("experiment_id == 'nasa_mill_0_6' and status != 'no_life'")
    observed = (runs["status"] == "completed").to_numpy()
    time = np.where(observed, runs["tool_life"], runs["censored_life"]).astype(float)
    beta, se = censored_mle(_terms_matrix(runs, list(kept.index)), time, observed)
    np.testing.assert_allclose(kept["effect"], 2 * beta[1:], atol=2e-3)
    np.testing.assert_allclose(kept["std_error"], 2 * se[1:], rtol=1e-2)


def test_nasa_at_0_7_mm_says_the_full_model_is_not_identifiable(analysed):
    e = analysed["effects"]
    mle = e[(e["experiment_id"] == "nasa_mill_0_7") & (e["fit"] == "censored_mle")]
    assert len(mle) and (mle["method"] == "not_identifiable").any()
    assert mle.loc[mle["method"] == "not_identifiable", "effect"].isna().all()
    assert "identifiable" in " ".join(mle["note"].dropna())
