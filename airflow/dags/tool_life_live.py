"""When silver has new validated data (the `toollife_silver_validated` asset): live remaining life.

`score_live` runs jobs/score_live.py with `--trigger available_now`: it scores the runs that
received readings since its checkpoint with `models:/tool_rul@champion` (resolved per batch, so
a promotion is picked up by the next run), MERGEs gold.tool_life_live, raises each alert once
(gold.tool_alerts and the Kafka topic tool-alerts), and exits. It follows the ingestion, so the
tools cutting are scored every 15 minutes; for seconds, run the same job as a service
(`spark-submit jobs/score_live.py`, processing-time trigger) instead of this DAG.

Its own DAG, not a task of sensor_ingestion: a scorer that fails (no champion before the first
`tool_life_model` run, a model that does not load) must not fail the ingestion or hold back the
asset that schedules `doe_analysis`.
"""

import sys
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toollife_dags.py beside this file
from toollife_dags import SILVER_VALIDATED, dag_kwargs, submit

with DAG(dag_id="tool_life_live", **dag_kwargs(__doc__, [SILVER_VALIDATED], dagrun_timeout=timedelta(minutes=45))) as dag:
    submit("score_live", "score_live.py", "--trigger", "available_now", timeout=timedelta(minutes=30),
           doc="spark-submit jobs/score_live.py --trigger available_now: gold.tool_life_live, gold.tool_alerts, "
               "topic tool-alerts; then exit")
