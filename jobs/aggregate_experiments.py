"""spark-submit jobs/aggregate_experiments.py [--experiment-id ID ...] [--env cluster]

silver.tool_events + silver.sensor_readings -> gold.experiment_runs: one row per machine, tool,
experiment, run and replicate (factors natural and coded, status, observed tool life, sensor
features, wear rate). A Delta MERGE on the run key: reruns change nothing, late events update
their run's row, nothing is ever duplicated.

Exit code 0 when merged (a warning says so when silver held no runs); 3 when a silver table does
not exist yet (run jobs/ingest_sensors.py first); 2 on invalid options or conf; 1 on failure.
"""

import sys

from toollife.errors import warn
from toollife.gold import experiment_runs as er
from toollife.gold.options import add_experiment_option
from toollife.runtime.job import run_job

NAME = "aggregate_experiments"


def preflight(config, args):
    """Before the SparkSession: the silver tables exist (checked on local lakehouse roots)."""
    from toollife.lakehouse import tables
    from toollife.ingestion.schemas import SOURCES

    tables.require(None, config, [SOURCES[k].silver for k in ("tool_events", "sensor_readings")], er.INGEST_JOB)


def main(spark, config, args):
    tool_events, sensor_readings = er.read_silver(spark, config, args.experiment_id)    # extract
    runs = er.build_experiment_runs(tool_events, sensor_readings, config)                # transform
    metrics = er.merge_runs(spark, config, runs)                                         # load
    if not metrics.get("numSourceRows"):
        which = f" of experiment(s) {', '.join(args.experiment_id)}" if args.experiment_id else ""
        warn(NAME, f"silver.tool_events holds no runs{which}; gold.experiment_runs is unchanged")
    return metrics


def add_arguments(parser):
    add_experiment_option(parser, default="all in silver")


if __name__ == "__main__":
    sys.exit(run_job(NAME, main, description=__doc__, add_arguments=add_arguments, preflight=preflight))
