"""spark-submit jobs/init_lakehouse.py [--env cluster]

Creates the bronze/silver/gold/meta schemas and registers every Delta table found under the
lakehouse root in the catalog (a no-op for tables a shared metastore already knows). Also proves
the wiring: the library imports on the driver and on the executors, Delta reads and writes.
"""

import sys

from toollife.lakehouse import bootstrap
from toollife.runtime.job import run_job


def main(spark, config, args):
    result = bootstrap.init_lakehouse(spark, config)
    if args.check_executors:
        result["executor_check"] = check_executors(spark)
    return result


def check_executors(spark) -> dict:
    """Run library code inside executor Python workers: proves --py-files / the wheel reached them."""

    def where(_):
        import toollife
        from toollife.config import embedded_defaults

        yield (toollife.__file__, sorted(embedded_defaults()))

    files, sections = zip(*spark.sparkContext.parallelize(range(4), 2).mapPartitions(where).collect())
    import toollife

    return {"driver_module": toollife.__file__, "executor_modules": sorted(set(files)),
            "config_sections": sections[0]}


def add_arguments(parser):
    parser.add_argument("--check-executors", action="store_true",
                        help="also import the library on the executors and report where it came from")


if __name__ == "__main__":
    sys.exit(run_job("init_lakehouse", main, description=__doc__, add_arguments=add_arguments))
