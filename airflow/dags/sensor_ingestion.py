"""Every 15 minutes: Kafka -> bronze -> silver/quarantine (availableNow), then validate.

`ingest_sensors` drains what Kafka holds (`--trigger available_now`) and exits;
`validate_bronze_silver` runs the bronze and silver suites over the Delta versions added since
the last passing validation. Its success emits the asset `toollife_silver_validated`, which
schedules `doe_analysis`. A critical expectation failure fails the task: no asset event, no
analysis of bad data.
"""

import sys
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toollife_dags.py beside this file
from toollife_dags import SILVER_VALIDATED, dag_kwargs, submit, validate

with DAG(dag_id="sensor_ingestion", **dag_kwargs(__doc__, timedelta(minutes=15),
                                                 dagrun_timeout=timedelta(minutes=60))) as dag:
    ingest = submit("ingest_sensors", "ingest_sensors.py", "--trigger", "available_now",
                    timeout=timedelta(minutes=30),
                    doc="spark-submit jobs/ingest_sensors.py --trigger available_now: drain Kafka, then exit")
    check = validate("validate_bronze_silver", "--layer", "bronze", "--layer", "silver", outlets=[SILVER_VALIDATED])
    ingest >> check
