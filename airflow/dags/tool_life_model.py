"""The tool-life models: weekly training (`tool_life_model`), daily scoring (`tool_life_scoring`).

Two DAGs rather than one with two schedules: one DAG would need a branch on the logical date to
skip training six days out of seven, hiding the schedule in code and mixing a long training and
a short scoring in one run history, timeout and retry policy. Two DAGs keep each schedule
visible in the UI with its own timeout; both end by validating gold.tool_life_predictions.

* `tool_life_model` (weekly): train (MLflow: candidates, registry, champion / challenger) ->
  score with the champions -> validate the predictions.
* `tool_life_scoring` (daily): score -> validate the predictions.
"""

import sys
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toollife_dags.py beside this file
from toollife_dags import dag_kwargs, submit, validate


def score():
    return submit("score_tool_life", "score_tool_life.py", timeout=timedelta(minutes=30),
                  doc="spark-submit jobs/score_tool_life.py: gold.tool_life_predictions from the champions")


with DAG(dag_id="tool_life_model", **dag_kwargs(__doc__, "@weekly", dagrun_timeout=timedelta(hours=4))) as dag:
    train = submit("train_tool_life", "train_tool_life.py", timeout=timedelta(hours=2),
                   doc="spark-submit jobs/train_tool_life.py: candidates in MLflow, registered, promoted")
    train >> score() >> validate("validate_predictions", "--table", "gold.tool_life_predictions")

with DAG(dag_id="tool_life_scoring", **dag_kwargs(__doc__, "@daily", dagrun_timeout=timedelta(hours=1))) as scoring:
    score() >> validate("validate_predictions", "--table", "gold.tool_life_predictions")
