"""spark-submit jobs/maintain_tables.py --optimize | --vacuum [--table LAYER.TABLE ...] [--env cluster]

--optimize: compact every lakehouse table (Z-order silver.sensor_readings by machine_id,
tool_id; the choice and its reason per table are in libs/toollife/lakehouse/maintenance.py and in the
printed metrics). --vacuum: VACUUM with quality.maintenance.vacuum_retention_hours, never below
the oldest Delta version a training run recorded in meta.job_runs still reads. Both are safe
while the streaming ingestion runs. Default: every table under lakehouse.root.
"""

import sys

from toollife.errors import UsageError
from toollife.runtime.job import run_job

NAME = "maintain_tables"


def main(spark, config, args):
    from toollife.lakehouse import maintenance

    if not (args.optimize or args.vacuum):
        raise UsageError("give --optimize and/or --vacuum")
    tbls = maintenance.targets(config, args.table or ())
    out = {}
    if args.optimize:
        out["optimize"] = maintenance.optimize(spark, config, tbls)
    if args.vacuum:
        out["vacuum"] = maintenance.vacuum(spark, config, tbls)
    return out


def add_arguments(parser):
    parser.add_argument("--optimize", action="store_true", help="OPTIMIZE (compaction / Z-order)")
    parser.add_argument("--vacuum", action="store_true",
                        help="VACUUM (conf: quality.maintenance.vacuum_retention_hours)")
    parser.add_argument("--table", action="append", default=None, metavar="LAYER.TABLE",
                        help="only this table (repeatable; default: every table under lakehouse.root)")


if __name__ == "__main__":
    sys.exit(run_job(NAME, main, description=__doc__, add_arguments=add_arguments))
