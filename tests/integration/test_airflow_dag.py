"""Real Airflow DAG runs: `airflow dags test` in the Airflow venv executes every task of
sensor_ingestion and doe_analysis, i.e. real spark-submits of the jobs (SparkSubmitOperator ->
spark-submit -> jobs/X.py), against the test broker and one temp lakehouse shared by the runs.
Then a table broken on purpose makes doe_analysis stop at its validation: the effects task does
not run, and the task log names the failed expectation and its table in one line. The jobs get
their conf from TOOLLIFE__* variables, which SparkSubmitOperator passes through to spark-submit.

The other DAGs take the same path with other job files: their wiring (order, schedules, launch
conf, every task's arguments accepted by its job's parser) is checked without Spark in
tests/unit/test_airflow_dags.py, and their jobs run through spark-submit in the demo and the
integration tests (test_live_scoring, test_maintenance, test_models). Running them here as well
cost ~9 of this test's ~20 minutes on a loaded 2-core machine and tested no other path."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from toollife.lakehouse import tables
from toollife.gold.experiment_runs import EXPERIMENT_RUNS
from toollife.quality.core import DATA_QUALITY
from toollife.simulation import simulate
from toollife.simulation.publisher import publish

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = REPO / ".venv-airflow" / "bin" / "airflow"
SMALL = {"machines": 1, "tools": 2, "replicates": 2, "seed": 5, "sensors": {"sample_interval_s": 120.0},
         "in_progress": {"per_machine": 1}}
DATE = "2026-11-22T00:00:00+00:00"


def airflow_env(config, home: Path) -> dict[str, str]:
    topics = config["kafka"]["topics"]
    return dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "airflow" / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_SPARK_DEFAULT='{"conn_type": "spark", "host": "local[2]"}',
        TOOLLIFE_HOME=str(REPO),
        TOOLLIFE_AIRFLOW_RETRIES="0",           # a failing check fails now, not after a backoff
        TOOLLIFE__LAKEHOUSE__ROOT=config["lakehouse"]["root"],
        TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=config["lakehouse"]["checkpoint_root"],
        TOOLLIFE__KAFKA__BOOTSTRAP_SERVERS=config["kafka"]["bootstrap_servers"],
        TOOLLIFE__KAFKA__TOPICS__SENSOR_READINGS=topics["sensor_readings"],
        TOOLLIFE__KAFKA__TOPICS__TOOL_EVENTS=topics["tool_events"],
        TOOLLIFE__KAFKA__TOPICS__TOOL_ALERTS=topics["tool_alerts"],
        TOOLLIFE__QUALITY__GX_ROOT=str(home.parent / "gx"),
        TOOLLIFE__ML__STORE_DIR=str(home.parent / "mlflow"),
        TOOLLIFE__ML__SEARCH_TIME_S="2",
    )


def dags_test(env, dag_id: str, *options: str) -> tuple[int, str]:
    run = subprocess.run([str(AIRFLOW), "dags", "test", dag_id, DATE, *options], env=env, capture_output=True,
                         text=True, timeout=1500)
    return run.returncode, run.stdout + run.stderr


def ok(env, dag_id: str) -> str:
    code, log = dags_test(env, dag_id)
    assert code == 0, log[-5000:]
    assert "state=failed" not in log.replace(" ", ""), log[-5000:]
    return log


def quality_rows(spark, config):
    return tables.read(spark, config, DATA_QUALITY)


@pytest.mark.slow
@pytest.mark.timeout(2400)  # 9 spark-submits in three DAG runs: past pytest.ini's 900 s per test on a loaded machine
def test_the_ingestion_and_doe_dags_run_their_jobs_validate_each_layer_and_a_critical_failure_stops_the_dag(
        spark, kafka_config, tmp_path):
    result = simulate(kafka_config, overrides=SMALL)
    assert publish(result.messages, kafka_config, progress=False).ok
    env = airflow_env(kafka_config, tmp_path / "airflow")
    migrate = subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stderr[-2000:]

    ok(env, "sensor_ingestion")
    dq = quality_rows(spark, kafka_config)
    checked = {r.table for r in dq.select("table").distinct().collect()}
    assert checked >= {"bronze.sensor_readings_raw", "bronze.tool_events_raw", "silver.sensor_readings",
                       "silver.tool_events", "silver.quarantine"}
    assert dq.where(~F.col("success") & (F.col("severity") == "critical")).count() == 0
    volume = dq.where(F.col("check") == "volume_reconciles").collect()
    assert len(volume) == 2 and all(r.success for r in volume)

    ok(env, "doe_analysis")
    runs = tables.read(spark, kafka_config, EXPERIMENT_RUNS)
    assert runs.count() == result.counts["runs"]
    optimal = tables.read(spark, kafka_config, tables.Table("gold", "doe_optimal_settings"))
    assert optimal.count() == SMALL["machines"] * SMALL["tools"]
    gold = quality_rows(spark, kafka_config).where(F.col("layer") == "gold")
    assert {r.table for r in gold.select("table").distinct().collect()} == {
        "gold.experiment_runs", "gold.doe_effects", "gold.doe_optimal_settings"}
    unique = gold.where(F.col("check") == "run_key_unique").collect()
    assert len(unique) == 1 and unique[0].success and unique[0].rows_checked == result.counts["runs"]

    job_runs = tables.read(spark, kafka_config, tables.Table("meta", "job_runs"))
    by_job = {r.job: r["count"] for r in job_runs.where(F.col("status") == "succeeded").groupBy("job").count().collect()}
    assert by_job == {"ingest_sensors": 1, "validate_tables": 3, "aggregate_experiments": 1, "compute_doe_effects": 1,
                      "plan_next_experiments": 1, "compute_savings": 1}
    assert tables.read(spark, kafka_config, tables.Table("gold", "doe_savings")).count() == \
        SMALL["machines"] * SMALL["tools"]

    # a run key stored twice: the validation after aggregate fails, the effects never run (aggregate, which
    # ran above, is marked successful instead of run again: a MERGE with nothing new to merge)
    runs.limit(1).write.format("delta").mode("append").save(EXPERIMENT_RUNS.path(kafka_config))
    code, log = dags_test(env, "doe_analysis", "--mark-success-pattern", "^aggregate_experiments$")
    assert code != 0
    line = re.search(r"validate_tables: quality gate failed: critical expectation run_key_unique failed on "
                     r"gold\.experiment_runs: [^\n]+", log)
    assert line, log[-5000:]
    job_runs = tables.read(spark, kafka_config, tables.Table("meta", "job_runs"))
    assert job_runs.where(F.col("job") == "compute_doe_effects").count() == 1        # not run again
    assert job_runs.where(F.col("job") == "aggregate_experiments").count() == 1      # marked, not run
    assert job_runs.where((F.col("job") == "validate_tables") & (F.col("status") == "failed")).count() == 1
