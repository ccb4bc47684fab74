"""spark-submit jobs/ingest_sensors.py [--trigger processing_time|available_now] [--env cluster]

Kafka (sensor-readings, tool-events) -> bronze -> silver + quarantine, one Structured Streaming
application. Options given here override conf (conf/<env>.yaml, TOOLLIFE__INGESTION__* env
vars, --set ingestion.key=value). Before anything is created the Kafka bootstrap servers must
answer (within ingestion.kafka.connect_timeout_s); a broker that goes away later is waited for
up to ingestion.kafka.outage_tolerance_s. Exit code 0 when drained (available_now) or stopped by
SIGTERM/SIGINT after the running micro-batches; 1 when Kafka cannot be reached (at the start, or
for longer than the tolerance) or a query fails; 2 on invalid options or conf. The run is
recorded in meta.job_runs when it ends.
"""

import sys

from toollife.runtime.job import run_job


def effective_config(config, args):
    """conf with this run's options applied (what both the pre-flight check and the run use)."""
    from toollife.ingestion.streaming import with_overrides

    return with_overrides(
        config, trigger=args.trigger, interval=args.interval,
        max_offsets_per_trigger=args.max_offsets_per_trigger, starting_offsets=args.starting_offsets,
        fail_on_data_loss=None if args.fail_on_data_loss is None else args.fail_on_data_loss == "true",
        sources=args.sources.split(",") if args.sources else None,
    )


def preflight(config, args):
    """Before the SparkSession: Kafka settings complete and the broker reachable."""
    from toollife.ingestion import kafka_options

    config = effective_config(config, args)
    kafka_options.security_options(config)
    kafka_options.check_reachable(config)


def main(spark, config, args):
    from toollife.ingestion.streaming import IngestionApp

    app = IngestionApp(spark, effective_config(config, args))
    app.install_signal_handlers()
    app.run()
    return app.summary()


def add_arguments(parser):
    parser.add_argument("--trigger", choices=["processing_time", "available_now"], default=None,
                        help="processing_time: a service until SIGTERM; available_now: drain what Kafka holds, "
                             "then exit (conf: ingestion.trigger.mode)")
    parser.add_argument("--interval", default=None,
                        help='processing-time trigger interval, e.g. "20 seconds" (conf: ingestion.trigger.interval)')
    parser.add_argument("--max-offsets-per-trigger", type=int, default=None, metavar="N",
                        help="at most N Kafka records per query and micro-batch; also splits an available_now "
                             "run into batches (conf: ingestion.kafka.max_offsets_per_trigger)")
    parser.add_argument("--starting-offsets", default=None,
                        help="earliest | latest | JSON, only for new checkpoints (conf: ingestion.kafka.starting_offsets)")
    parser.add_argument("--fail-on-data-loss", choices=["true", "false"], default=None,
                        help="true: stop when offsets vanished from Kafka (retention, deleted topic); false: skip "
                             "them and go on, see docs/ingestion.md (conf: ingestion.kafka.fail_on_data_loss)")
    parser.add_argument("--sources", default=None,
                        help="comma-separated: sensor_readings,tool_events (conf: ingestion.sources)")


if __name__ == "__main__":
    sys.exit(run_job("ingest_sensors", main, description=__doc__, add_arguments=add_arguments,
                     preflight=preflight))
