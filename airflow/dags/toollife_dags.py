"""What the toollife DAGs share: one spark-submit task factory, retries, timeouts, the asset.

Every job task is a spark-submit of a file in jobs/ (the same command a user runs by hand), with
the conf of conf/<TOOLLIFE_ENV>.yaml; the DAG files only describe schedules and order. Airflow
runs in its own venv (.venv-airflow); ``spark_binary`` is the jobs venv's spark-submit, which
brings pyspark, the library and the Python workers' packages.

The Spark master comes from the Airflow connection ``spark_default`` (conn type spark, host
``local[2]``, ``spark://host:7077`` or ``yarn``), e.g.
``AIRFLOW_CONN_SPARK_DEFAULT='{"conn_type": "spark", "host": "local[2]"}'`` (``make airflow``
sets it). A missing connection fails the task with a line saying so: the provider itself would
log a warning and submit to yarn.

Environment (all optional):
  TOOLLIFE_HOME            repo / image root (default: two levels above this file)
  TOOLLIFE_ENV             conf/<env>.yaml the jobs load (default: local)
  TOOLLIFE_SPARK_SUBMIT    spark-submit to use (default: $TOOLLIFE_HOME/.venv/bin/spark-submit)
  TOOLLIFE_SPARK_PACKAGES  Maven coordinates instead of the local jar cache (clusters)
  TOOLLIFE_AIRFLOW_RETRIES retries per task (default 2; exponential backoff from 2 minutes)
Other TOOLLIFE__SECTION__KEY variables reach the jobs unchanged (conf overrides).
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Asset

HOME = Path(os.environ.get("TOOLLIFE_HOME", Path(__file__).resolve().parents[2]))
JOBS = HOME / "jobs"
ENV = os.environ.get("TOOLLIFE_ENV", "local")
SPARK_SUBMIT = os.environ.get("TOOLLIFE_SPARK_SUBMIT", str(HOME / ".venv" / "bin" / "spark-submit"))
PACKAGES = os.environ.get("TOOLLIFE_SPARK_PACKAGES") or None
JARS = None if PACKAGES else (",".join(sorted(str(p) for p in (HOME / "var" / "jars" / "spark").glob("*.jar"))) or None)
CONN_ID = "spark_default"
START = datetime(2026, 11, 1)

# sensor_ingestion emits it when bronze and silver are ingested and validated; doe_analysis runs on it
SILVER_VALIDATED = Asset(name="toollife_silver_validated", uri="toollife://lakehouse/silver")

# What a driver must have from its launch on (Delta's extension and catalog, the workers' Python,
# the JVM options with the class archive) comes from the function the session factory itself uses,
# so the DAGs cannot drift from it. toollife.config and toollife.runtime.spark_conf are pure (PyYAML
# and the standard library), so they import in Airflow's venv straight from the source tree.
sys.path.insert(0, str(HOME / "libs"))
from toollife.config import load_config  # noqa: E402
from toollife.runtime.spark_conf import launch_conf  # noqa: E402

JOB_PYTHON = str(Path(SPARK_SUBMIT).parent / "python")
LAUNCH_CONF = launch_conf(load_config(ENV, environ={**os.environ, "TOOLLIFE_CONF_DIR": str(HOME / "conf")}),
                          python=JOB_PYTHON)
JOB_ENV = {
    "TOOLLIFE_ENV": ENV,
    "TOOLLIFE_CONF_DIR": str(HOME / "conf"),
    "PYSPARK_PYTHON": JOB_PYTHON,
    "PATH": f"{Path(SPARK_SUBMIT).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
}

# the freshness reference of a validation: the end of the run's data interval (asset-triggered
# runs have none: the time the run was due)
AS_OF = "{{ (data_interval_end or dag_run.run_after).isoformat() }}"


def default_args() -> dict:
    return {
        "owner": "toollife",
        "retries": int(os.environ.get("TOOLLIFE_AIRFLOW_RETRIES", "2")),
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    }


def dag_kwargs(doc: str, schedule, **extra) -> dict:
    """What every toollife DAG sets: no catch-up, one run at a time, tags, its docs."""
    return dict(schedule=schedule, start_date=START, catchup=False, max_active_runs=1,
                default_args=default_args(), tags=["toollife", "spark"], doc_md=doc,
                description=doc.strip().splitlines()[0], **extra)


class ToollifeSparkSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator that refuses to run without its connection (instead of yarn)."""

    def execute(self, context):
        from airflow.sdk import BaseHook

        try:
            BaseHook.get_connection(self._conn_id)
        except Exception as exc:  # noqa: BLE001 - AirflowNotFoundException, or the API's own error
            raise RuntimeError(
                f"Airflow connection '{self._conn_id}' is not defined ({exc}); define it (conn type spark, host "
                f"local[2] | spark://host:7077 | yarn), e.g. AIRFLOW_CONN_SPARK_DEFAULT='{{\"conn_type\": \"spark\", "
                f"\"host\": \"local[2]\"}}' - refusing to fall back to yarn") from None
        return super().execute(context)


def submit(task_id: str, job: str, *args: str, timeout: timedelta, doc: str, **kwargs) -> SparkSubmitOperator:
    """One job task: ``spark-submit jobs/<job> <args>`` on ``spark_default``."""
    return ToollifeSparkSubmitOperator(
        task_id=task_id,
        application=str(JOBS / job),
        application_args=list(args),
        name=f"toollife-{task_id}",
        conn_id=CONN_ID,
        spark_binary=SPARK_SUBMIT,
        jars=JARS,
        packages=PACKAGES,
        conf=LAUNCH_CONF,
        env_vars=JOB_ENV,
        execution_timeout=timeout,
        doc_md=doc,
        **kwargs,
    )


def validate(task_id: str, *selection: str, timeout: timedelta = timedelta(minutes=20), **kwargs) -> SparkSubmitOperator:
    """``validate_tables.py`` over ``selection`` (``--layer X`` / ``--table T`` pairs); exit 1 on a
    critical failure fails the task, so nothing downstream runs."""
    return submit(task_id, "validate_tables.py", *selection, "--as-of", AS_OF, timeout=timeout,
                  doc=f"Great Expectations suites over the new Delta versions of {' '.join(selection[1::2])}; "
                      "results in meta.data_quality; a critical failure stops the DAG here.", **kwargs)
