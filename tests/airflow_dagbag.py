"""Run with the Airflow venv's python: load airflow/dags into a DagBag and print, on one line
prefixed DAGBAG_JSON, the import errors and what the DAG integrity test checks (schedule,
catch-up, max active runs, and per task its operator, application, upstream tasks, retries)."""
import json, sys
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v)[:500] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    tasks = {}
    for t in dag.tasks:
        tasks[t.task_id] = {"spark_submit": isinstance(t, SparkSubmitOperator), "application": getattr(t, "application", None),
                            "conn_id": getattr(t, "_conn_id", None), "upstream": sorted(t.upstream_task_ids),
                            "retries": t.retries, "backoff": t.retry_exponential_backoff, "timeout": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                            "args": list(getattr(t, "application_args", []) or []), "doc": bool(t.doc_md),
                            "outlets": [getattr(o, "name", str(o)) for o in t.outlets],
                            "conf": dict(getattr(t, "conf", None) or {})}
    out["dags"][dag_id] = {"schedule": str(getattr(dag.timetable, "description", "")), "raw_schedule": repr(dag.schedule), "timetable": type(dag.timetable).__name__,
                           "catchup": dag.catchup, "max_active_runs": dag.max_active_runs, "doc": bool(dag.doc_md),
                           "tasks": tasks}
print("DAGBAG_JSON " + json.dumps(out, default=str))
