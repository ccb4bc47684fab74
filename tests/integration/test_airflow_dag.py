"""A real Airflow DAG run: `airflow dags test` in the Airflow venv executes every task, i.e. three
spark-submits (ingest availableNow -> aggregate -> DOE effects) against the test broker and a
temp lakehouse. The jobs get their conf from TOOLLIFE__* variables, which SparkSubmitOperator
passes through to spark-submit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from toollife import tables
from toollife.simulation import simulate
from toollife.simulation.publisher import publish

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = REPO / ".venv-airflow" / "bin" / "airflow"
SMALL = {"machines": 1, "tools": 2, "replicates": 2, "seed": 5, "sensors": {"sample_interval_s": 120.0}}


def airflow_env(config, home: Path) -> dict[str, str]:
    topics = config["kafka"]["topics"]
    return dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "airflow" / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_SPARK_DEFAULT='{"conn_type": "spark", "host": "local[2]"}',
        TOOLLIFE_HOME=str(REPO),
        TOOLLIFE__LAKEHOUSE__ROOT=config["lakehouse"]["root"],
        TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=config["lakehouse"]["checkpoint_root"],
        TOOLLIFE__KAFKA__BOOTSTRAP_SERVERS=config["kafka"]["bootstrap_servers"],
        TOOLLIFE__KAFKA__TOPICS__SENSOR_READINGS=topics["sensor_readings"],
        TOOLLIFE__KAFKA__TOPICS__TOOL_EVENTS=topics["tool_events"],
    )


def test_dag_run_submits_every_job_and_fills_gold(spark, kafka_config, tmp_path):
    result = simulate(kafka_config, overrides=SMALL)
    assert publish(result.messages, kafka_config, progress=False).ok
    env = airflow_env(kafka_config, tmp_path / "airflow")

    migrate = subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    run = subprocess.run([str(AIRFLOW), "dags", "test", "toollife_doe_pipeline", "2026-11-22T00:00:00+00:00"],
                         env=env, capture_output=True, text=True, timeout=1500)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    for task in ("ingest_sensors", "aggregate_experiments", "compute_doe_effects"):
        assert f"task_id={task}" in log or task in log
    assert "state=failed" not in log.replace(" ", "")

    runs = tables.read(spark, kafka_config, tables.Table("gold", "experiment_runs"))
    assert runs.count() == result.counts["runs"]
    optimal = tables.read(spark, kafka_config, tables.Table("gold", "doe_optimal_settings"))
    assert optimal.count() == SMALL["machines"] * SMALL["tools"]
    job_runs = tables.read(spark, kafka_config, tables.Table("meta", "job_runs"))
    assert {r.job for r in job_runs.select("job").collect()} >= {"ingest_sensors", "aggregate_experiments", "compute_doe_effects"}
