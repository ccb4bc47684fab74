"""spark-submit jobs/ingest_sensors.py [--trigger processing_time|available_now] [--env cluster]

Kafka (sensor-readings, tool-events) -> bronze -> silver + quarantine, one Structured Streaming
application. Options given here override conf (conf/<env>.yaml, TOOLLIFE__INGESTION__* env
vars, --set ingestion.key=value). Exit code 0 when drained (available_now) or stopped by
SIGTERM/SIGINT after the running micro-batches; 1 when a query fails or the ingestion settings
are invalid; 2 on unreadable conf. The run is recorded in meta.job_runs when it ends.
"""

import sys

from toollife.job import run_job


def main(spark, config, args):
    from toollife.ingestion.streaming import IngestionApp, with_overrides

    config = with_overrides(
        config, trigger=args.trigger, interval=args.interval,
        max_offsets_per_trigger=args.max_offsets_per_trigger, starting_offsets=args.starting_offsets,
        fail_on_data_loss=None if args.fail_on_data_loss is None else args.fail_on_data_loss == "true",
        sources=args.sources.split(",") if args.sources else None,
    )
    app = IngestionApp(spark, config)
    app.install_signal_handlers()
    app.run()
    return app.summary()


def add_arguments(parser):
    parser.add_argument("--trigger", choices=["processing_time", "available_now"], default=None,
                        help="default: ingestion.trigger.mode")
    parser.add_argument("--interval", default=None, help='processing-time trigger interval, e.g. "10 seconds"')
    parser.add_argument("--max-offsets-per-trigger", type=int, default=None)
    parser.add_argument("--starting-offsets", default=None, help="earliest | latest | JSON (new checkpoints only)")
    parser.add_argument("--fail-on-data-loss", choices=["true", "false"], default=None)
    parser.add_argument("--sources", default=None, help="comma-separated: sensor_readings,tool_events")


if __name__ == "__main__":
    sys.exit(run_job("ingest_sensors", main, description=__doc__, add_arguments=add_arguments))
