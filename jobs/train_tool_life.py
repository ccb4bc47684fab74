"""spark-submit jobs/train_tool_life.py [--model tool_life|tool_rul] [--env cluster]

gold.experiment_runs + silver.sensor_readings (one Delta version each) -> MLflow: a Random Forest
and a gradient-boosting candidate per registered model (tool_life, tool_rul), each logged with
its holdout figures beside the oracle and the physics baseline and registered; the aliases
champion / challenger move by the promotion rule, and every move lands in meta.model_promotions.
"""

import sys

from toollife.runtime.job import run_job
from toollife.ml import tracking


def main(spark, config, args):
    from toollife.ml import jobs   # scikit-learn and MLflow: not needed to check the options

    return jobs.train(spark, config, models=args.model or tracking.MODEL_NAMES)


def add_arguments(parser):
    parser.add_argument("--model", action="append", choices=tracking.MODEL_NAMES, default=None,
                        help="train only this registered model (repeatable; default: both, tool_life first)")


if __name__ == "__main__":
    sys.exit(run_job("train_tool_life", main, description=__doc__, add_arguments=add_arguments))
