"""spark-submit jobs/compute_doe_effects.py [--experiment-id ID ...] [--env cluster]

gold.experiment_runs (completed runs) -> gold.doe_effects (one row per machine x tool x fit x term)
and gold.doe_optimal_settings (one row per machine x tool: best settings with intervals, Taylor
n/a/b/C, cost-optimal speed and tool life, savings). The factors are conf doe.factors plus every
coded_<name> column of gold.experiment_runs (an import's own factors), each experiment analysed on
the factors it varies; the life is tool_life (life_unit). The Taylor/cost analysis needs
cutting_speed, feed and depth_of_cut among the design factors (else taylor_note says so).
Combinations with censored lives (status censored/aborted/running, censored_life > 0) also get
fit = 'censored_mle' rows: lognormal AFT maximum likelihood on every run. Vectorised pandas over Arrow batches (mapInArrow)
of many combinations; each analysed experiment is replaced as a whole (idempotent).

A combination that lost a design point is analysed by least squares on what remains (status
'incomplete', with what was lost; warned). One that cannot be analysed (no completed runs, ...) is
skipped: its gold.doe_optimal_settings row has status 'skipped' and the reason, and the run prints
a warning with the count per reason. Exit code 0 when at least one combination was analysed; 4 when there
were runs but none could be analysed; 3 when gold.experiment_runs does not exist or holds no
runs (run jobs/aggregate_experiments.py first); 2 on invalid options or conf; 1 on failure.
"""

import sys

from toollife.errors import NothingAnalysedError, warn
from toollife.gold.options import add_experiment_option
from toollife.runtime.job import run_job

NAME = "compute_doe_effects"


def preflight(config, args):
    """Before the SparkSession: gold.experiment_runs exists (checked on local lakehouse roots)."""
    from toollife.lakehouse import tables
    from toollife.gold.experiment_runs import AGGREGATE_JOB, EXPERIMENT_RUNS

    tables.require(None, config, [EXPERIMENT_RUNS], AGGREGATE_JOB)


def main(spark, config, args):
    from toollife.gold import doe_effects

    metrics = doe_effects.run(spark, config, experiments=args.experiment_id)
    ok, skipped = metrics["combinations_ok"], metrics["combinations_skipped"]
    incomplete = metrics["combinations_incomplete"]
    reasons = "; ".join(f"{reason} ({n})" for reason, n in metrics["skip_reasons"].items())
    if incomplete:
        warn(NAME, f"{incomplete} machine x tool combination(s) lost design points and were analysed by least "
                   "squares on the remaining runs: re-run the lost points (gold.doe_optimal_settings.skip_reason, "
                   "gold.doe_next_experiments)")
    ok += incomplete
    censored, refused = metrics["combinations_censored_fit"], metrics["combinations_censored_not_identifiable"]
    if censored:
        print(f"{NAME}: {censored} machine x tool combination(s) with censored lives: lognormal AFT maximum-"
              "likelihood effects in gold.doe_effects (fit = 'censored_mle'), beside least squares on the completed "
              "runs (fit = 'least_squares')", file=sys.stderr, flush=True)
    if refused:
        warn(NAME, f"{refused} machine x tool combination(s) with censored lives have too few observed lives for a "
                   "censored fit: not identifiable, no censored_mle estimates (gold.doe_effects.note)")
    if metrics["combinations_without_taylor"]:
        print(f"{NAME}: {metrics['combinations_without_taylor']} combination(s) analysed without the Taylor/cost "
              "analysis: cutting_speed, feed and depth_of_cut are not all design factors "
              "(gold.doe_optimal_settings.taylor_note)", file=sys.stderr, flush=True)
    if skipped and not ok:
        raise NothingAnalysedError(
            f"none of the {skipped} machine x tool combination(s) of {', '.join(metrics['experiments'])} "
            f"could be analysed: {reasons}; fix the experiment's runs (gold.experiment_runs), details in "
            "gold.doe_optimal_settings.skip_reason", metrics=metrics)
    if skipped:
        warn(NAME, f"{skipped} of {ok + skipped} machine x tool combination(s) skipped: {reasons} "
                   "(gold.doe_optimal_settings.skip_reason)")
    return metrics


def add_arguments(parser):
    add_experiment_option(parser)


if __name__ == "__main__":
    sys.exit(run_job(NAME, main, description=__doc__, add_arguments=add_arguments, preflight=preflight))
