"""Hourly: import the real tool-life data dropped into the landing folder, then the DOE analysis.

A data file (CSV, .xlsx, .parquet) in the landing folder (conf imports.landing_dir, default
var/landing) is imported when a YAML map file of the same stem lies beside it (the keys of
`toollife import`, see docs/importing.md). import (jobs/import_measurements.py landing: wear
readings, quarantine, gold.experiment_runs; re-importing an unchanged file changes nothing) ->
validate gold.experiment_runs -> effects (gold.doe_effects, gold.doe_optimal_settings) -> validate
them -> plan the next experiments.
"""

import sys
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toollife_dags.py beside this file
from toollife_dags import dag_kwargs, submit, validate

with DAG(dag_id="import_measurements", **dag_kwargs(__doc__, "@hourly", dagrun_timeout=timedelta(hours=2))) as dag:
    imports = submit("import_measurements", "import_measurements.py", "landing", timeout=timedelta(minutes=30),
                     doc="spark-submit jobs/import_measurements.py landing: every mapped file of imports.landing_dir "
                         "-> silver.wear_measurements, silver.import_quarantine, gold.experiment_runs (MERGE)")
    check_runs = validate("validate_experiment_runs", "--table", "gold.experiment_runs")
    effects = submit("compute_doe_effects", "compute_doe_effects.py", timeout=timedelta(minutes=30),
                     doc="spark-submit jobs/compute_doe_effects.py: gold.doe_effects, gold.doe_optimal_settings")
    check_effects = validate("validate_doe_effects", "--table", "gold.doe_effects", "--table", "gold.doe_optimal_settings")
    plan = submit("plan_next_experiments", "plan_next_experiments.py", timeout=timedelta(minutes=30),
                  doc="spark-submit jobs/plan_next_experiments.py: gold.doe_next_experiments, gold.doe_follow_up")
    imports >> check_runs >> effects >> check_effects >> plan
