"""spark-submit jobs/run_jobs.py [--env cluster] [--set K=V ...] 'JOB [OPTIONS]' ['JOB [OPTIONS]' ...]

Several jobs of jobs/, one after the other, in ONE Spark application, e.g.

    toollife submit jobs/run_jobs.py aggregate_experiments compute_doe_effects \\
        'train_tool_life --set ml.search_time_s=10' score_tool_life

Each job runs exactly as its own spark-submit would: its options (checked for every job before
the session starts), its preflight, its row in meta.job_runs and its summary line. The first job
that fails stops the chain with that job's exit code. Options before the jobs apply to every job;
a job's own --set spark.* is refused (the jobs share one session). A step 'toollife simulate
[OPTIONS]' runs that command between two jobs (a child process, its own options and the
environment), e.g. the experiment loop's follow-up from the plan the job before it wrote:

    toollife submit jobs/run_jobs.py plan_next_experiments \
        'toollife simulate --plan-from gold.doe_next_experiments --parent SIM-7' \
        'ingest_sensors --trigger available_now' aggregate_experiments plan_next_experiments

Why: on a laptop each spark-submit pays a JVM start, a session and a JIT warm-up that cost as much
as a small job's work; a chain pays them once. Schedulers (the Airflow DAGs) keep one job per task,
so that each is retried on its own.
"""

import sys
from pathlib import Path

from toollife import cli
from toollife.runtime.chain import run_jobs

if __name__ == "__main__":
    sys.exit(run_jobs(Path(__file__).resolve().parent, check_command=cli.parse, description=__doc__))
