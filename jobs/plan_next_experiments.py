"""spark-submit jobs/plan_next_experiments.py [--experiment-id ID ...] [--env cluster]

gold.experiment_runs (+ the follow-up links in meta.simulation_runs) -> gold.doe_next_experiments
(one row per machine x tool x recommended run: kind, reason, coded and natural levels clipped to
doe.next_experiment.limits) and gold.doe_follow_up (one row per follow-up experiment x machine x
tool: what it resolved -- aliases, the stationary point and its nature, the cost-optimal speed).
A follow-up is analysed together with its ancestors (fold-over + fraction, CCD). MERGE by key:
re-running on the same runs leaves both tables unchanged; run `toollife simulate --plan-from
gold.doe_next_experiments` to run the plan.

Exit code 0 when planned; 3 when gold.experiment_runs does not exist yet (run
jobs/aggregate_experiments.py first); 2 on invalid options or conf; 1 on failure.
"""

import sys

from toollife.gold import next_experiments
from toollife.gold.options import add_experiment_option
from toollife.runtime.job import run_job


def preflight(config, args):
    """Before the SparkSession: gold.experiment_runs exists (checked on local lakehouse roots)."""
    from toollife.lakehouse import tables
    from toollife.gold.experiment_runs import AGGREGATE_JOB, EXPERIMENT_RUNS

    tables.require(None, config, [EXPERIMENT_RUNS], AGGREGATE_JOB)


def main(spark, config, args):
    return next_experiments.run(spark, config, experiments=args.experiment_id)


def add_arguments(parser):
    add_experiment_option(parser, what="plan only the next experiment of these experiments", default="all")


if __name__ == "__main__":
    sys.exit(run_job("plan_next_experiments", main, description=__doc__, add_arguments=add_arguments,
                     preflight=preflight))
