"""spark-submit entry point: Kafka (sensor-readings, tool-events) -> bronze -> silver + quarantine.

    spark-submit --master local[2] jobs/ingest_sensors.py [--env local] [--conf-file F]
        [--trigger processing_time|available_now] [--interval "10 seconds"]
        [--max-offsets-per-trigger N] [--starting-offsets earliest|latest|JSON]
        [--fail-on-data-loss true|false] [--sources sensor_readings,tool_events]

Options given here override conf (conf/<env>.yaml, TOOLLIFE__INGESTION__* env vars). Exit code 0
when drained (available_now) or stopped by SIGTERM/SIGINT; 1 when a query fails; 2 on bad conf.
"""

from __future__ import annotations

import argparse
import logging
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default=None, help="conf/<env>.yaml (default: TOOLLIFE_ENV or local)")
    p.add_argument("--conf-file", default=None, help="explicit conf file (e.g. shipped with --files)")
    p.add_argument("--trigger", choices=["processing_time", "available_now"], default=None)
    p.add_argument("--interval", default=None, help='processing-time trigger interval, e.g. "10 seconds"')
    p.add_argument("--max-offsets-per-trigger", type=int, default=None)
    p.add_argument("--starting-offsets", default=None, help="earliest | latest | JSON (new checkpoints only)")
    p.add_argument("--fail-on-data-loss", choices=["true", "false"], default=None)
    p.add_argument("--sources", default=None, help="comma-separated: sensor_readings,tool_events")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("ingest_sensors")

    from toollife.config import ConfigError, load_config
    from toollife.ingestion.kafka_options import KafkaConfigError
    from toollife.ingestion.streaming import IngestionApp, IngestionError, with_overrides

    try:
        config = with_overrides(
            load_config(args.env, conf_file=args.conf_file),
            trigger=args.trigger, interval=args.interval,
            max_offsets_per_trigger=args.max_offsets_per_trigger,
            starting_offsets=args.starting_offsets,
            fail_on_data_loss=None if args.fail_on_data_loss is None else args.fail_on_data_loss == "true",
            sources=args.sources.split(",") if args.sources else None,
        )
    except (ConfigError, ValueError) as exc:
        log.error("bad configuration: %s", exc)
        return 2

    from toollife.session import get_spark

    spark = get_spark(config, app_name="toollife-ingest-sensors")
    try:
        app = IngestionApp(spark, config)
        app.install_signal_handlers()
        return app.run()
    except (IngestionError, KafkaConfigError, ValueError) as exc:
        log.error("ingestion failed: %s", exc)
        return 1
    except Exception:
        log.exception("ingestion failed")
        return 1
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
