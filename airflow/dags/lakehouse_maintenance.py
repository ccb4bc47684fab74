"""Weekly table maintenance: OPTIMIZE every table, then VACUUM.

OPTIMIZE compacts (and Z-orders silver.sensor_readings by machine and tool); VACUUM uses the
retention from conf, raised to keep every Delta version a training run recorded in meta.job_runs
readable. Both are safe while the streaming ingestion runs (libs/toollife/lakehouse/maintenance.py).
"""

import sys
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toollife_dags.py beside this file
from toollife_dags import dag_kwargs, submit

with DAG(dag_id="lakehouse_maintenance", **dag_kwargs(__doc__, "@weekly", dagrun_timeout=timedelta(hours=4))) as dag:
    optimize = submit("optimize_tables", "maintain_tables.py", "--optimize", timeout=timedelta(hours=2),
                      doc="spark-submit jobs/maintain_tables.py --optimize")
    vacuum = submit("vacuum_tables", "maintain_tables.py", "--vacuum", timeout=timedelta(hours=1),
                    doc="spark-submit jobs/maintain_tables.py --vacuum")
    optimize >> vacuum
