"""spark-submit jobs/compute_savings.py [--experiment-id ID ...] [--env cluster]

gold.experiment_runs -> gold.doe_savings: per experiment x machine x tool, the cost per part at
today's settings (conf doe.baseline, doe.production.per_combination) and at the cost-optimal speed
of the fitted Taylor law, the saving per part and per year (doe.production.parts_per_year), each
with its 1 - doe.alpha interval from the fit's uncertainty, tool changes per year now and after,
what the experiment's runs cost and the payback in days. Each analysed experiment is replaced as a
whole (idempotent). A combination whose experiment does not vary the cutting speed is kept with
status 'skipped' and the reason.

Exit code 0 when written; 3 when gold.experiment_runs does not exist or holds no runs (run
jobs/aggregate_experiments.py first); 2 on invalid options or conf; 1 on failure.
"""

import sys

from toollife.gold.options import add_experiment_option
from toollife.runtime.job import run_job

NAME = "compute_savings"


def preflight(config, args):
    """Before the SparkSession: the conf's production section and gold.experiment_runs."""
    from toollife.gold.experiment_runs import AGGREGATE_JOB, EXPERIMENT_RUNS
    from toollife.gold.savings_frames import SavingsParams
    from toollife.lakehouse import tables

    SavingsParams.from_config(config)
    tables.require(None, config, [EXPERIMENT_RUNS], AGGREGATE_JOB)


def main(spark, config, args):
    from toollife.gold import doe_savings

    m = doe_savings.run(spark, config, experiments=args.experiment_id)
    print(f"{NAME}: annual saving {m['annual_saving']:,.0f} (interval {m['annual_saving_low']:,.0f} to "
               f"{m['annual_saving_high']:,.0f}) over {m['combinations_significant']} of {m['combinations']} "
               f"machine x tool combination(s); experiments cost {m['experiment_cost']:,.0f}, "
               f"payback {m['payback_days']:.0f} days (gold.doe_savings)", flush=True)
    return m


def add_arguments(parser):
    add_experiment_option(parser)


if __name__ == "__main__":
    sys.exit(run_job(NAME, main, description=__doc__, add_arguments=add_arguments, preflight=preflight))
