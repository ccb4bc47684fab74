"""Every dashboard page through Streamlit's AppTest, against a lakehouse written without Spark,
against an empty lakehouse and against tables without rows (messages, never an exception)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from toollife.dashboard import APP
from dashboard_lakehouse import empty_tables_lakehouse, filled_lakehouse, point_app_at  # noqa: F401 (fixtures)

PAGES = {"summary": None, "plant": "views/plant.py", "doe": "views/doe.py", "models": "views/models.py", "quality": "views/quality.py"}


def run_page(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    if PAGES[page]:
        at.switch_page(PAGES[page])
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_summary_page(filled_lakehouse, point_app_at):
    from toollife.gold.savings_frames import plant_totals

    config, written = filled_lakehouse
    point_app_at(config)
    at = run_page("summary")
    no_errors(at)
    assert [t.value for t in at.title] == ["Summary"]
    assert [s.value for s in at.subheader] == ["What it is worth", "Where the money is",
                                               "Not yet distinguishable from zero", "Trend across experiment rounds"]
    savings = written["gold.doe_savings"]
    ok = savings[savings["status"] == "ok"]
    assert len(ok) >= 2 and (savings["status"] == "skipped").any()          # M03/T01 ran three runs
    want = plant_totals(savings)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["annual saving"] == f"{want['annual_saving']:,.0f}"
    assert want["annual_saving"] == ok.loc[ok["significant"], "annual_saving"].sum()
    ranked = at.dataframe[0].value
    assert list(ranked["annual_saving"]) == sorted(ok["annual_saving"], reverse=True)
    undecided = at.dataframe[1].value
    assert set(undecided["machine_id"] + "/" + undecided["tool_id"]) >= {"M03/T01"}


def test_plant_page(filled_lakehouse, point_app_at):
    config, written = filled_lakehouse
    point_app_at(config)
    at = run_page("plant")
    no_errors(at)
    assert [t.value for t in at.title] == ["Plant"]
    assert [s.value for s in at.subheader] == ["Experiments", "Machines × tools", "Last ingest",
                                               "Quarantine by reason over time", "Job runs"]
    metrics = {m.label: m.value for m in at.metric}
    runs = written["gold.experiment_runs"]
    assert metrics["experiments"] == "1"
    assert metrics["machines"] == str(runs["machine_id"].nunique()) == "3"
    assert metrics["runs"] == str(len(runs))
    assert metrics["sensor_readings: event-time lag"] == "6.0 min"        # last batch: written - 6 min
    frames = [df.value for df in at.dataframe]
    experiments = frames[0]
    assert experiments.loc[0, "completed"] == (runs["status"] == "completed").sum()
    assert experiments.loc[0, "running"] == 1
    runs_matrix = frames[1]
    assert runs_matrix.loc["M01", "T01"] == 32 and runs_matrix.loc["M03", "T01"] == 3
    combos = frames[3]
    assert combos.set_index(["machine_id", "tool_id"]).loc[("M03", "T01"), "status"] == "skipped"
    by_reason = frames[5]
    assert by_reason["records"].sum() == len(written["silver.quarantine"])
    jobs = frames[6].set_index("job")
    assert jobs.loc["compute_doe_effects", "failed"] == 1 and jobs.loc["compute_doe_effects", "last_status"] == "succeeded"
    assert len(at.get("vega_lite_chart")) == 1         # quarantine by reason over time


def test_doe_page(filled_lakehouse, point_app_at):
    config, written = filled_lakehouse
    point_app_at(config)
    at = run_page("doe")
    no_errors(at)
    assert [s.label for s in at.selectbox][:3] == ["experiment", "machine", "tool"]
    assert (at.selectbox[0].value, at.selectbox[1].value, at.selectbox[2].value) == ("EXP-1", "M01", "T01")
    assert [s.value for s in at.subheader] == ["Effects", "Main effects and interactions", "Best settings",
                                               "Taylor tool life and cost per part", "Next experiment"]
    images = at.get("image")
    assert len(images) == 6                # Pareto, half-normal, main effects, interaction, Taylor, cost
    opt = written["gold.doe_optimal_settings"].set_index(["machine_id", "tool_id"]).loc[("M01", "T01")]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["predicted tool life"] == f"{opt['predicted_tool_life_min']:.1f} min"
    assert metrics["95% prediction interval"] == f"{opt['pi_low']:.1f} – {opt['pi_high']:.1f} min"
    assert metrics["cost-optimal speed"] == f"{opt['cost_optimal_cutting_speed']:.0f} m/min"
    effects = at.dataframe[0].value
    expected = written["gold.doe_effects"].query("machine_id == 'M01' and tool_id == 'T01'")
    assert sorted(effects["term"]) == sorted(expected["term"])
    assert effects["significant"].sum() == expected["significant"].sum()
    best = at.dataframe[1].value.set_index("factor")
    assert best.loc["coolant", "best level"] == opt["best_coolant"]
    assert at.selectbox[3].label == "interaction"
    plan = written["gold.doe_next_experiments"].query("machine_id == 'M01' and tool_id == 'T01'")
    assert f"**{plan['kind'].iloc[0]}**" in texts(at.markdown) and plan["reason"].iloc[0] in texts(at.info)
    steps = at.dataframe[2].value                                        # the runs to make, in natural units
    assert list(steps["run_no"]) == sorted(plan["run_no"]) and list(steps["cutting_speed"]) == list(plan["cutting_speed"])

    # another combination: the figures and numbers follow
    at.selectbox[1].select("M02").run()
    at.selectbox[2].select("T02").run()
    no_errors(at)
    opt = written["gold.doe_optimal_settings"].set_index(["machine_id", "tool_id"]).loc[("M02", "T02")]
    assert {m.label: m.value for m in at.metric}["predicted tool life"] == f"{opt['predicted_tool_life_min']:.1f} min"
    assert len(at.get("image")) == 6
    at.selectbox[3].select(at.selectbox[3].options[-1]).run()          # another interaction plot
    no_errors(at)

    # a combination that lost a design point: its effects by least squares, what was lost, the rerun
    at.selectbox[1].select("M01").run()
    at.selectbox[2].select("T02").run()
    no_errors(at)
    assert "lost runs" in texts(at.warning) and "no longer estimable" in texts(at.warning)
    assert [s.value for s in at.subheader] == ["Effects", "Main effects and interactions", "Next experiment"]
    assert len(at.get("image")) == 4                                     # no best settings, no Taylor fit
    assert "**rerun**" in texts(at.markdown)

    # a combination the DOE job skipped says why, with no figures
    at.selectbox[1].select("M03").run()
    no_errors(at)
    assert "not analysed" in texts(at.warning) and "design cannot be analysed" in texts(at.warning)
    assert len(at.get("image")) == 0
    assert "**skipped**" in texts(at.markdown)                           # and the planner says why it has no plan


def test_models_page(filled_lakehouse, point_app_at):
    config, _ = filled_lakehouse
    point_app_at(config)
    at = run_page("models")
    no_errors(at)
    cutting = at.dataframe[0].value
    # latest score per run and model, tools still cutting only, shortest remaining life first
    assert list(cutting["run_id"]) == [18, 17, 19]
    assert list(cutting["remaining_life_min"]) == sorted(cutting["remaining_life_min"])
    assert cutting.set_index("run_id").loc[17, "model_version"] == "2"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["tool_life @champion"] == "version 1"
    assert metrics["tool_life @challenger"] == "version 2"
    assert metrics["tool_rul @champion"] == "version 2"
    assert len(at.dataframe[2].value) == 4           # the whole promotion history
    live = at.dataframe[3].value                     # gold.tool_life_live: cutting only, shortest RUL first
    assert list(live["run_id"]) == [23, 21, 22]
    # the live table's history (three scorer batches) drawn; no MLflow store here: said, not drawn
    assert len(at.get("image")) == 1
    assert "tool_life: no champion with holdout plots in the MLflow store" in texts(at.info)
    assert "No remaining-life history" not in texts(at.info)


def test_quality_page(filled_lakehouse, point_app_at):
    config, _ = filled_lakehouse
    point_app_at(config)
    at = run_page("quality")
    no_errors(at)
    latest = at.dataframe[0].value.set_index("table_name")
    assert latest.loc["gold.experiment_runs", "failed_warning"] == 1
    assert latest.loc["silver.sensor_readings", "passed"] == 2
    assert len(at.get("vega_lite_chart")) == 1
    failed = at.dataframe[1].value
    assert list(failed["expectation"]) == ["freshness"]


MISSING_JOBS = {
    "summary": ["jobs/compute_savings.py"],
    "plant": ["jobs/aggregate_experiments.py", "jobs/ingest_sensors.py", "every job in jobs/"],
    "doe": ["jobs/compute_doe_effects.py"],
    "models": ["jobs/score_tool_life.py", "jobs/train_tool_life.py", "jobs/score_live.py"],
    "quality": ["jobs/validate_tables.py"],
}


@pytest.mark.parametrize("page", list(PAGES))
def test_empty_lakehouse_says_which_job_fills_each_table(page, tmp_path, point_app_at):
    point_app_at(tmp_path / "no-lakehouse-here")
    at = run_page(page)
    no_errors(at)
    messages = texts(at.info)
    assert "does not exist yet" in messages
    for job in MISSING_JOBS[page]:
        assert job in messages, (job, messages)
    assert not at.get("image") and not at.dataframe


@pytest.mark.parametrize("page", list(PAGES))
def test_tables_without_rows_say_so(page, empty_tables_lakehouse, point_app_at):
    point_app_at(empty_tables_lakehouse)
    at = run_page(page)
    no_errors(at)
    messages = texts(at.info)
    assert "has no rows yet" in messages
    for job in MISSING_JOBS[page]:
        assert job in messages, (job, messages)


def test_dashboard_imports_no_spark():
    code = ("import sys; import toollife.lakehouse.reader, toollife.dashboard.data, toollife.dashboard.ui, "
            "toollife.dashboard.cli, toollife.dashboard.savings_view, toollife.doe.plots; "
            "assert 'pyspark' not in sys.modules and 'py4j' not in sys.modules, 'Spark imported'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_cli_command_and_conf_handover(tmp_path):
    out = subprocess.run([sys.executable, "-m", "toollife.cli", "--env", "local", "dashboard", "--port", "8600",
                          "--set", f"lakehouse.root={tmp_path}", "--print-command"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"TOOLLIFE__LAKEHOUSE__ROOT={tmp_path}" in lines and "TOOLLIFE_ENV=local" in lines
    cmd = lines[-1]
    for flag in ("-m streamlit run", str(APP), "--server.address 127.0.0.1", "--server.port 8600",
                 "--server.headless true", "--browser.gatherUsageStats false"):
        assert flag in cmd, flag
    bad = subprocess.run([sys.executable, "-m", "toollife.cli", "dashboard", "--set", "lakehouse.nope=1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown config key 'lakehouse.nope'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_broken_table_is_one_line_not_a_traceback(tmp_path, point_app_at):
    log = tmp_path / "tables" / "gold" / "doe_optimal_settings" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("this is not a Delta log\n")
    point_app_at(tmp_path / "tables")
    at = run_page("doe")
    assert not at.exception
    assert len(at.error) == 1 and "`gold.doe_optimal_settings`" in at.error[0].value
    assert "could not be read" in at.error[0].value and "Traceback" not in at.error[0].value


def test_doe_page_without_the_effects_table(base_config, tmp_path, point_app_at):
    import copy
    import shutil

    import dashboard_lakehouse
    from toollife.lakehouse import reader

    config = copy.deepcopy(base_config)
    config["lakehouse"]["root"] = str(tmp_path / "tables")
    dashboard_lakehouse.write_lakehouse(config, models=False, quality=False)
    shutil.rmtree(reader.path(config, "gold.doe_effects"))
    point_app_at(config)
    at = run_page("doe")
    no_errors(at)
    assert "`gold.doe_effects` does not exist yet" in texts(at.info)
    assert "jobs/compute_doe_effects.py" in texts(at.info)
    assert len(at.get("image")) == 4        # main effects, interaction, Taylor, cost: they need no effect rows
