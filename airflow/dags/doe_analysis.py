"""When silver has new validated data (the `toollife_silver_validated` asset): DOE analysis.

aggregate (silver -> gold.experiment_runs, MERGE) -> validate gold.experiment_runs -> effects
(gold.doe_effects, gold.doe_optimal_settings) -> validate them -> plan the next experiment of every
machine x tool (gold.doe_next_experiments, gold.doe_follow_up) and, beside it, what the
recommendations are worth (gold.doe_savings). Each validation stops the DAG on
a critical failure, so effects are never computed from a broken runs table.
"""

import sys
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toollife_dags.py beside this file
from toollife_dags import SILVER_VALIDATED, dag_kwargs, submit, validate

with DAG(dag_id="doe_analysis", **dag_kwargs(__doc__, [SILVER_VALIDATED], dagrun_timeout=timedelta(hours=2))) as dag:
    aggregate = submit("aggregate_experiments", "aggregate_experiments.py", timeout=timedelta(minutes=30),
                       doc="spark-submit jobs/aggregate_experiments.py: silver -> gold.experiment_runs (MERGE)")
    check_runs = validate("validate_experiment_runs", "--table", "gold.experiment_runs")
    effects = submit("compute_doe_effects", "compute_doe_effects.py", timeout=timedelta(minutes=30),
                     doc="spark-submit jobs/compute_doe_effects.py: gold.doe_effects, gold.doe_optimal_settings")
    check_effects = validate("validate_doe_effects", "--table", "gold.doe_effects", "--table", "gold.doe_optimal_settings")
    plan = submit("plan_next_experiments", "plan_next_experiments.py", timeout=timedelta(minutes=30),
                  doc="spark-submit jobs/plan_next_experiments.py: gold.doe_next_experiments, gold.doe_follow_up")
    savings = submit("compute_savings", "compute_savings.py", timeout=timedelta(minutes=30),
                     doc="spark-submit jobs/compute_savings.py: gold.doe_savings (annual saving, payback)")
    aggregate >> check_runs >> effects >> check_effects >> [plan, savings]
