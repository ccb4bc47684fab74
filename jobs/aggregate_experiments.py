"""spark-submit jobs/aggregate_experiments.py [--experiment-id ID ...] [--env cluster]

silver.tool_events + silver.sensor_readings -> gold.experiment_runs: one row per machine, tool,
experiment, run and replicate (factors natural and coded, status, observed tool life, sensor
features, wear rate). A Delta MERGE on the run key: reruns change nothing, late events update
their run's row, nothing is ever duplicated.
"""

import sys

from toollife.gold import experiment_runs as er
from toollife.job import run_job


def main(spark, config, args):
    tool_events, sensor_readings = er.read_silver(spark, config, args.experiment_id)    # extract
    runs = er.build_experiment_runs(tool_events, sensor_readings, config)                # transform
    return er.merge_runs(spark, config, runs)                                            # load


def add_arguments(parser):
    parser.add_argument("--experiment-id", action="append", default=None,
                        help="only these experiments (repeatable; default: all in silver)")


if __name__ == "__main__":
    sys.exit(run_job("aggregate_experiments", main, description=__doc__, add_arguments=add_arguments))
