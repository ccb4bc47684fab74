"""spark-submit jobs/score_tool_life.py [--experiment-id ID ...] [--env cluster]

models:/tool_life@champion and models:/tool_rul@champion -> gold.tool_life_predictions: the life
of every run at its settings, and for the tools still cutting their remaining useful life, each
with an interval. MERGE on (run key, model name): scoring again changes nothing.
Exits 1 with "train first" when a model has no champion.
"""

import sys

from toollife.gold.options import add_experiment_option
from toollife.runtime.job import run_job


def main(spark, config, args):
    from toollife.ml import jobs   # scikit-learn and MLflow: not needed to check the options

    return jobs.score(spark, config, experiments=args.experiment_id)


def add_arguments(parser):
    add_experiment_option(parser, default="every run in gold.experiment_runs")


if __name__ == "__main__":
    sys.exit(run_job("score_tool_life", main, description=__doc__, add_arguments=add_arguments))
