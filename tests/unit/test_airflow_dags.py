"""DAG integrity, fast (no Spark, no DB): every DAG in airflow/dags imports, has no cycle (the
DagBag refuses cyclic DAGs), runs on the schedule of the design, and every task is a
SparkSubmitOperator on an existing jobs/ file on connection spark_default, with retries,
exponential backoff, a timeout and docs."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_PY = REPO / ".venv-airflow" / "bin" / "python"

SCHEDULES = {
    "sensor_ingestion": ("DeltaTriggerTimetable", "datetime.timedelta(seconds=900)"),
    "doe_analysis": ("AssetTriggeredTimetable", "toollife_silver_validated"),
    "tool_life_model": ("CronTriggerTimetable", "'@weekly'"),
    "tool_life_scoring": ("CronTriggerTimetable", "'@daily'"),
    "tool_life_live": ("AssetTriggeredTimetable", "toollife_silver_validated"),
    "lakehouse_maintenance": ("CronTriggerTimetable", "'@weekly'"),
    "import_measurements": ("CronTriggerTimetable", "'@hourly'"),
}
ORDER = {
    "sensor_ingestion": ["ingest_sensors", "validate_bronze_silver"],
    "doe_analysis": ["aggregate_experiments", "validate_experiment_runs", "compute_doe_effects", "validate_doe_effects",
                     "plan_next_experiments", "compute_savings"],
    "tool_life_model": ["train_tool_life", "score_tool_life", "validate_predictions"],
    "tool_life_scoring": ["score_tool_life", "validate_predictions"],
    "tool_life_live": ["score_live"],
    "lakehouse_maintenance": ["optimize_tables", "vacuum_tables"],
    "import_measurements": ["import_measurements", "validate_experiment_runs", "compute_doe_effects",
                            "validate_doe_effects", "plan_next_experiments"],
}
BRANCHES = {("doe_analysis", "compute_savings"): ["validate_doe_effects"]}   # beside the planner, not after it


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    if not AIRFLOW_PY.exists():
        pytest.skip("no .venv-airflow: run `make airflow-setup`")
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path_factory.mktemp("airflow")),
               AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "airflow" / "dags"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    run = subprocess.run([str(AIRFLOW_PY), str(REPO / "tests" / "airflow_dagbag.py"), str(REPO / "airflow" / "dags")],
                         env=env, capture_output=True, text=True, timeout=300)
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("DAGBAG_JSON ")), None)
    assert line, run.stdout[-2000:] + run.stderr[-3000:]
    return json.loads(line.removeprefix("DAGBAG_JSON "))


def test_every_dag_imports_and_the_old_pipeline_is_gone(dagbag):
    assert dagbag["errors"] == {}
    assert set(dagbag["dags"]) == set(SCHEDULES)


def test_schedules_are_as_designed(dagbag):
    for dag_id, (timetable, schedule) in SCHEDULES.items():
        dag = dagbag["dags"][dag_id]
        assert dag["timetable"] == timetable, dag_id
        assert schedule in dag["raw_schedule"], (dag_id, dag["raw_schedule"])
        assert dag["catchup"] is False and dag["max_active_runs"] == 1 and dag["doc"], dag_id


def test_every_task_is_a_spark_submit_of_an_existing_job_in_order(dagbag):
    for dag_id, order in ORDER.items():
        tasks = dagbag["dags"][dag_id]["tasks"]
        assert list(tasks) == order or set(tasks) == set(order), dag_id
        for i, task_id in enumerate(order):
            task = tasks[task_id]
            assert task["spark_submit"], (dag_id, task_id)
            assert Path(task["application"]).parent == REPO / "jobs" and Path(task["application"]).is_file()
            assert task["conn_id"] == "spark_default"
            upstream = BRANCHES.get((dag_id, task_id), [order[i - 1]] if i else [])
            assert task["upstream"] == upstream, (dag_id, task_id)
            assert task["retries"] >= 1 and task["backoff"] and task["timeout"] and task["doc"], (dag_id, task_id)
            if task_id.startswith("validate"):
                assert "--as-of" in task["args"] and "data_interval_end" in task["args"][-1]


def test_ingestion_emits_the_asset_the_analysis_is_scheduled_on(dagbag):
    assert dagbag["dags"]["sensor_ingestion"]["tasks"]["validate_bronze_silver"]["outlets"] == ["toollife_silver_validated"]


def test_every_task_launches_with_the_session_factorys_own_settings(dagbag):
    """The DAGs take the driver's launch settings from toollife.runtime.spark_conf.launch_conf, the
    function the session is built with: Delta's extension and catalog, the jobs venv's Python for the
    workers, the JVM options (the class archive among them when `make setup` built it)."""
    from toollife.config import load_config
    from toollife.runtime.spark_conf import launch_conf, spark_conf

    config = load_config("local", environ={"TOOLLIFE_CONF_DIR": str(REPO / "conf")})
    expected = launch_conf(config, python=str(REPO / ".venv" / "bin" / "python"))
    assert expected["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert "-XX:-DontCompileHugeMethods" in expected["spark.driver.extraJavaOptions"]
    session = spark_conf(config)
    assert {k: v for k, v in session.items() if k in expected and "python" not in k} == \
        {k: v for k, v in expected.items() if "python" not in k}
    for dag_id, dag in dagbag["dags"].items():
        for task_id, task in dag["tasks"].items():
            assert task["conf"] == expected, (dag_id, task_id)


def test_the_import_dag_imports_the_landing_folder(dagbag):
    task = dagbag["dags"]["import_measurements"]["tasks"]["import_measurements"]
    assert Path(task["application"]).name == "import_measurements.py" and task["args"] == ["landing"]


def test_every_tasks_arguments_are_accepted_by_its_jobs_own_parser(dagbag):
    """What a DAG run would find out only at its spark-submit: an option the job does not take.
    (The path a task takes, SparkSubmitOperator -> spark-submit -> the job, is the same for every
    task; tests/integration/test_airflow_dag.py runs it for real on the ingestion and DOE DAGs.)"""
    from toollife.runtime.chain import load_job
    from toollife.runtime.job import base_parser

    for dag_id, dag in dagbag["dags"].items():
        for task_id, task in dag["tasks"].items():
            spec = load_job(Path(task["application"]))
            parser = base_parser(spec.name, spec.description)
            if spec.add_arguments:
                spec.add_arguments(parser)
            # a Jinja template is rendered by Airflow at run time: here, as the run's date would be
            args = [re.sub(r"\{\{.*?\}\}", "2026-11-22T00:00:00+00:00", a) for a in task["args"]]
            try:
                parser.parse_args(args)
            except SystemExit:
                pytest.fail(f"{dag_id}.{task_id}: jobs/{spec.name}.py refuses {task['args']}")
