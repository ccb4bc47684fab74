"""spark-submit jobs/compute_doe_effects.py [--experiment-id ID ...] [--env cluster]

gold.experiment_runs (completed runs) -> gold.doe_effects (one row per machine x tool x term)
and gold.doe_optimal_settings (one row per machine x tool: best settings with intervals, Taylor
n/a/b/C, cost-optimal speed and tool life, savings). Vectorised pandas over Arrow batches (mapInArrow)
of many combinations; each analysed experiment is replaced as a whole (idempotent).
"""

import sys

from toollife.gold import doe_effects
from toollife.job import run_job


def main(spark, config, args):
    return doe_effects.run(spark, config, experiments=args.experiment_id)


def add_arguments(parser):
    parser.add_argument("--experiment-id", action="append", default=None,
                        help="only these experiments (repeatable; default: all in gold.experiment_runs)")


if __name__ == "__main__":
    sys.exit(run_job("compute_doe_effects", main, description=__doc__, add_arguments=add_arguments))
