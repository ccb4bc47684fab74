"""spark-submit jobs/score_live.py [--trigger processing_time|available_now] [--interval "1 second"]

silver.sensor_readings + silver.tool_events (Delta streams) -> models:/tool_rul@champion, resolved
every micro-batch -> gold.tool_life_live (one row per run cutting: minutes cut, predicted life with
its interval, remaining useful life, model version; closed with the true life when the run ends),
gold.tool_alerts and the Kafka topic tool-alerts (contract tool-alert/v1, once per run and
threshold of live.alert_thresholds_min).

Its own application and checkpoint, not a query of jobs/ingest_sensors.py: a scorer that fails
(no champion, a model that does not load, Kafka refusing alerts) must not stop the ingestion, and
restarting it to recover must not replay the ingestion; it loads MLflow models the ingestion has
no business with; and it runs at its own trigger, or scheduled with --trigger available_now.
Exit 0 when drained (available_now) or stopped by SIGTERM/SIGINT after the running batch; 1 when
there is no champion, Kafka cannot be reached or the query fails; 3 when silver does not exist yet.
"""

import sys

from toollife.runtime.job import run_job


def effective_config(config, args):
    import copy

    config = copy.deepcopy(config)
    if args.trigger:
        config["live"]["trigger"]["mode"] = args.trigger
    if args.interval:
        config["live"]["trigger"]["interval"] = args.interval
    return config


def preflight(config, args):
    """Before the SparkSession: Kafka settings complete and the broker reachable (alerts go there)."""
    from toollife.ingestion import kafka_options

    kafka_options.security_options(config)
    kafka_options.check_reachable(config)


def main(spark, config, args):
    from toollife.live.scorer import LiveScorerApp
    from toollife.ml import tracking

    app = LiveScorerApp(spark, effective_config(config, args), tracking.configure(config))
    app.install_signal_handlers()
    return app.run()


def add_arguments(parser):
    parser.add_argument("--trigger", choices=["processing_time", "available_now"], default=None,
                        help="processing_time: a service until SIGTERM; available_now: score what silver holds, "
                             "then exit (conf: live.trigger.mode)")
    parser.add_argument("--interval", default=None,
                        help='processing-time trigger interval, e.g. "1 second" (conf: live.trigger.interval)')


if __name__ == "__main__":
    sys.exit(run_job("score_live", main, description=__doc__, add_arguments=add_arguments, preflight=preflight))
