"""spark-submit jobs/validate_tables.py --layer bronze|silver|gold ... | --table LAYER.TABLE ... [--env cluster]

Great Expectations suites (libs/toollife/quality/) over the Delta versions each table gained
since its last passing validation (--full: the whole table). One row per expectation result
goes to meta.data_quality; a short summary is printed; the data docs are updated under
quality.gx_root. Exit code 1 when a critical expectation failed (the line names the
expectation and the table), 0 otherwise (warnings are printed, not fatal).
"""

import sys
from datetime import datetime, timezone

from toollife.errors import MissingInputError
from toollife.runtime.job import run_job

NAME = "validate_tables"


def main(spark, config, args):
    from toollife import quality
    from toollife.quality import core

    outcome = quality.validate(spark, config, layers=args.layer or (), tables=args.table or (),
                               as_of=args.as_of, full=args.full)
    if not outcome.results and outcome.skipped and all(why == core.NOT_YET for why in outcome.skipped.values()):
        raise MissingInputError(f"no table to validate yet under {config['lakehouse']['root']} (lakehouse.root): "
                                f"{', '.join(sorted(outcome.skipped))} do not exist; run "
                                "`toollife submit jobs/ingest_sensors.py` (and the gold jobs) first")
    for line in outcome.summary_lines():
        print(f"{NAME}: {line}", flush=True)
    print(f"{NAME}: data docs {core.data_docs_index(config)}", flush=True)
    metrics = {"quality_run_id": outcome.run_id, "counts": outcome.counts(),
               "ranges": {t: list(r) for t, r in outcome.ranges.items()}}
    failed = outcome.critical_failures
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more critical failure(s), see meta.data_quality)" if len(failed) > 1 else ""
        raise core.QualityGateFailed(f"critical expectation {first.check} failed on {first.table}: "
                                     f"{first.line().split(': ', 1)[-1]}{more}", metrics=metrics)
    return metrics


def _timestamp(text):
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def add_arguments(parser):
    parser.add_argument("--layer", action="append", choices=["bronze", "silver", "gold"], default=None,
                        help="validate every table of this layer (repeatable)")
    parser.add_argument("--table", action="append", default=None, metavar="LAYER.TABLE",
                        help="validate only this table (repeatable), e.g. gold.experiment_runs")
    parser.add_argument("--as-of", type=_timestamp, default=None, metavar="ISO_TIMESTAMP",
                        help="reference time of the freshness checks (a DAG passes its data-interval end; default now)")
    parser.add_argument("--full", action="store_true",
                        help="check every version, not only those since the last passing validation")


if __name__ == "__main__":
    sys.exit(run_job(NAME, main, description=__doc__, add_arguments=add_arguments))
