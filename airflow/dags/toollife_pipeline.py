"""Hourly tool-life DOE pipeline: ingest what arrived on Kafka, then refresh the gold tables.

Each task is one spark-submit of a job in jobs/ (the same command a user runs by hand); the DAG
only describes the schedule. Airflow runs in its own venv (.venv-airflow); spark_binary points at
the jobs venv's spark-submit, which brings pyspark, the library and the Python workers' packages.

Environment (all optional):
  TOOLLIFE_HOME         repo / image root (default: two levels above this file)
  TOOLLIFE_ENV          conf/<env>.yaml the jobs load (default: local)
  TOOLLIFE_SPARK_SUBMIT spark-submit to use (default: $TOOLLIFE_HOME/.venv/bin/spark-submit)
  TOOLLIFE_SPARK_PACKAGES  Maven coordinates instead of the local jar cache (clusters)
The Spark master comes from the Airflow connection `spark_default` (e.g. spark://host:7077,
yarn, or local[2]).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

HOME = Path(os.environ.get("TOOLLIFE_HOME", Path(__file__).resolve().parents[2]))
ENV = os.environ.get("TOOLLIFE_ENV", "local")
SPARK_SUBMIT = os.environ.get("TOOLLIFE_SPARK_SUBMIT", str(HOME / ".venv" / "bin" / "spark-submit"))
PACKAGES = os.environ.get("TOOLLIFE_SPARK_PACKAGES") or None
JARS = None if PACKAGES else (",".join(sorted(str(p) for p in (HOME / "var" / "jars" / "spark").glob("*.jar"))) or None)

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.pyspark.python": str(Path(SPARK_SUBMIT).parent / "python"),
    # as spark.java_options in conf: JIT-compile the large generated methods (toollife.session)
    "spark.driver.extraJavaOptions": "-XX:-DontCompileHugeMethods",
    "spark.executor.extraJavaOptions": "-XX:-DontCompileHugeMethods",
}
JOB_ENV = {
    "TOOLLIFE_ENV": ENV,
    "TOOLLIFE_CONF_DIR": str(HOME / "conf"),
    "PYSPARK_PYTHON": str(Path(SPARK_SUBMIT).parent / "python"),
    "PATH": f"{Path(SPARK_SUBMIT).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
}


def submit(task_id: str, job: str, *args: str) -> SparkSubmitOperator:
    return SparkSubmitOperator(
        task_id=task_id,
        application=str(HOME / "jobs" / job),
        application_args=list(args),
        name=f"toollife-{task_id}",
        conn_id="spark_default",
        spark_binary=SPARK_SUBMIT,
        jars=JARS,
        packages=PACKAGES,
        conf=DELTA_CONF,
        env_vars=JOB_ENV,
    )


with DAG(
    dag_id="toollife_doe_pipeline",
    description="Kafka -> bronze/silver (availableNow) -> gold.experiment_runs -> DOE effects",
    schedule="@hourly",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # the jobs are idempotent, but overlapping runs would only queue work
    default_args={"owner": "toollife", "retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["toollife", "spark"],
) as dag:
    ingest = submit("ingest_sensors", "ingest_sensors.py", "--trigger", "available_now")
    aggregate = submit("aggregate_experiments", "aggregate_experiments.py")
    effects = submit("compute_doe_effects", "compute_doe_effects.py")
    ingest >> aggregate >> effects
