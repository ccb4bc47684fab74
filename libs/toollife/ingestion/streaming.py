"""The ingestion application: wires the four queries, runs them, reports progress, stops cleanly.

Per source (topic) two queries, each with its own checkpoint::

    Kafka topic --bronze_<source>--> bronze.<source>_raw --silver_<source>--> silver.<source>
                                                                        \\-> silver.quarantine
                                                                        \\-> meta.ingest_batch_stats

Trigger modes (``ingestion.trigger.mode``):

* ``processing_time``: all queries run concurrently until SIGTERM/SIGINT (or
  :meth:`IngestionApp.request_stop`), a continuous service: the bronze queries pull Kafka every
  ``interval``, the silver queries look for new bronze commits every ``silver_poll_interval``;
* ``available_now``: a scheduled run: the bronze queries drain what Kafka holds now, then the
  silver queries drain bronze, then the application exits.

Every micro-batch's progress (rows/s in and processed, duration, watermark) is logged and appended
to ``meta.stream_progress`` (:mod:`.progress`: a listener queues it, the main loop writes it, and
at the end the batches the listener had not delivered yet are recorded too).
On SIGTERM the application lets the running micro-batch of every query finish, then stops.

Before any table or checkpoint is created, the Kafka bootstrap servers must accept a connection
(:func:`toollife.ingestion.kafka_options.check_reachable`): a broker that is down fails the run in
seconds, in one line, leaving nothing behind.

A broker that goes away while the queries run is waited for, up to ``ingestion.kafka.outage_tolerance_s``:
the Kafka source's own timeouts are set to outlast it (:func:`kafka_options.outage_options`), and a
watchdog probes the bootstrap servers every few seconds, says once that Kafka is unreachable and
once that it is back, and past the tolerance (:class:`.kafka_outage.OutageClock`) stops the
queries and fails the run with one line naming the broker (:class:`toollife.errors.UnreachableError`, exit 1). A query that fails on a
Kafka error anyway is reported the same way. The next run resumes from the checkpoints.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from toollife.lakehouse import tables
from toollife.errors import UnreachableError
from toollife.ingestion import bronze, kafka_options, schemas, silver
from toollife.ingestion.kafka_outage import PROBE_INTERVAL_S, OutageClock, kafka_unreachable_cause
from toollife.ingestion.progress import ProgressListener, ProgressRecorder
from toollife.runtime.prometheus import SPARK_PATH as SPARK_METRICS_PATH
from toollife.runtime.prometheus import enabled as metrics_enabled
from toollife.runtime.streaming_stop import StopRequest, stop_all, stop_gracefully

log = logging.getLogger(__name__)

TRIGGER_MODES = ("processing_time", "available_now")


class IngestionError(RuntimeError):
    """A streaming query failed; the message names it and Spark's error."""


class IngestionApp:
    """One Structured Streaming application for the configured sources.

    A small class given ``spark`` and a config dict (tests inject both); :meth:`run` blocks.
    """

    def __init__(self, spark: SparkSession, config: Mapping[str, Any]):
        self.spark = spark
        self.config = config
        ing = config["ingestion"]
        self.mode = ing["trigger"]["mode"]
        if self.mode not in TRIGGER_MODES:
            raise ValueError(f"ingestion.trigger.mode must be one of {', '.join(TRIGGER_MODES)}, got {self.mode!r}")
        unknown = [s for s in ing["sources"] if s not in schemas.SOURCES]
        if unknown:
            raise ValueError(f"ingestion.sources: unknown source(s) {unknown} (known: {', '.join(schemas.SOURCES)})")
        self.sources = [schemas.SOURCES[s] for s in ing["sources"]]
        self.queries: list[StreamingQuery] = []
        self.silver_writers: dict[str, silver.SilverBatchWriter] = {}
        self.stop_request = StopRequest()
        names = [f"{layer}_{s.key}" for s in self.sources for layer in ("bronze", "silver")]
        self.listener = ProgressListener(names, ing["progress"]["log_batches"])
        self.metrics = None  # Prometheus metrics (conf metrics.enabled), served while run() runs
        if metrics_enabled(config):
            from toollife.ingestion.metrics import IngestionMetrics

            self.metrics = IngestionMetrics(config, [s.key for s in self.sources])
            self.listener.observers.append(self.metrics.observe_progress)
        self.progress = ProgressRecorder(spark, config, self.listener)
        self.outage = OutageClock(float(ing["kafka"]["outage_tolerance_s"]))
        self._next_probe = 0.0

    # -- set-up ----------------------------------------------------------------------------------

    def check_brokers(self) -> None:
        """Kafka settings complete and a bootstrap server answering, or a one-line error (nothing created)."""
        kafka_options.security_options(self.config)
        server = kafka_options.check_reachable(self.config)
        log.debug("Kafka reachable at %s", server)

    def prepare(self) -> None:
        """Session settings and every table (idempotent)."""
        conf = self.spark.conf
        conf.set("spark.sql.redaction.options.regex", kafka_options.REDACTION_REGEX)
        conf.set("spark.sql.variant.allowDuplicateKeys",
                 str(bool(self.config["ingestion"]["silver"]["allow_duplicate_json_keys"])).lower())
        # No spark.sql.codegen.hugeMethodLimit=8000 here: with spark.java_options' -XX:-DontCompileHugeMethods
        # the JIT compiles the validation's huge method, and falling back from whole-stage code made
        # validating 1M rows 1.6x slower warm and 1.4x slower on the first pass (docs/ingestion.md).
        for src in self.sources:
            bronze.ensure_table(self.spark, self.config, src)
            silver.ensure_tables(self.spark, self.config, src)
        tables.create_if_missing(
            self.spark, self.config, schemas.STREAM_PROGRESS_TABLE, schemas.STREAM_PROGRESS,
            properties=self.config["ingestion"]["table_properties"]["meta"],
            comment="progress of every micro-batch of every ingestion query")

    def _trigger(self, reads_bronze: bool = False) -> dict[str, Any]:
        if self.mode == "available_now":
            return {"availableNow": True}
        trigger = self.config["ingestion"]["trigger"]
        # absent (a trigger section written whole, without it) or null: silver runs on the bronze interval
        poll = trigger.get("silver_poll_interval")
        if reads_bronze and poll:
            # equal processing-time triggers fire at the same aligned instants, so a silver batch would
            # start before bronze commits and the rows wait a whole interval: poll bronze instead
            return {"processingTime": poll}
        return {"processingTime": trigger["interval"]}

    def _start_bronze(self, src: schemas.Source) -> StreamingQuery:
        q = (bronze.writer(self.spark, self.config, src).partitionBy("ingest_date")
             .trigger(**self._trigger()).start(src.bronze.path(self.config)))
        self.queries.append(q)
        return q

    def _start_silver(self, src: schemas.Source) -> StreamingQuery:
        stream, fn = silver.writer(self.spark, self.config, src)
        q = stream.trigger(**self._trigger(reads_bronze=True)).start()
        fn.set_query_id(str(q.id))
        if self.metrics is not None:
            fn.observers.append(self.metrics.observe_batch)
        self.silver_writers[src.key] = fn
        self.queries.append(q)
        return q

    # -- running ---------------------------------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        """Ask for a graceful stop (signal-handler compatible)."""
        self.stop_request.request()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT -> graceful stop (main thread only)."""
        self.stop_request.install_signal_handlers()

    @property
    def stopping(self) -> bool:
        return self.stop_request.requested

    def run(self) -> int:
        """Run until drained (available_now) or stopped (processing_time). Raises IngestionError,
        or :class:`toollife.errors.UnreachableError` (before creating anything, or after Kafka has
        been unreachable for longer than ``ingestion.kafka.outage_tolerance_s``)."""
        self.check_brokers()
        self.prepare()
        self.spark.streams.addListener(self.listener)
        if self.metrics is not None:
            self.spark.conf.set("spark.sql.streaming.metricsEnabled", "true")  # Spark's gauges per query
            log.info("metrics: %s (and Spark's at its UI port, %s)", self.metrics.start(), SPARK_METRICS_PATH)
        try:
            try:
                log.info("ingestion starting: sources=%s mode=%s", [s.key for s in self.sources], self.mode)
                if self.mode == "available_now":
                    self._wait([self._start_bronze(s) for s in self.sources], kafka=True)
                    if not self.stopping:
                        self._wait([self._start_silver(s) for s in self.sources], kafka=False)
                else:
                    self._wait([self._start_bronze(s) for s in self.sources]
                               + [self._start_silver(s) for s in self.sources], kafka=True)
            finally:
                stop_all(self.queries)
                self.spark.streams.removeListener(self.listener)
                if self.metrics is not None:
                    self.metrics.stop()
                self._flush_progress(force=True, final=True)
        except UnreachableError as exc:
            exc.metrics = self.summary()  # what was ingested before Kafka went away, for meta.job_runs
            raise
        log.info("ingestion stopped cleanly")
        return 0

    def summary(self) -> dict[str, Any]:
        """What this run did, per query (the metrics of its meta.job_runs row)."""
        return {"mode": self.mode, "sources": [s.key for s in self.sources], "stopped_by_signal": self.stopping,
                "micro_batches": dict(self.progress.batches), "input_rows": dict(self.progress.input_rows),
                "kafka_outages": self.outage.outages,
                "kafka_unreachable_s": round(self.outage.unreachable_s + self.outage.down_for(time.monotonic()), 1)}

    def _wait(self, queries: list[StreamingQuery], *, kafka: bool) -> None:
        """Until the queries end or a stop is requested; ``kafka``: they read Kafka, so watch the broker."""
        flush_every = float(self.config["ingestion"]["progress"]["flush_interval_s"])
        while True:
            failed = [q for q in queries if not q.isActive and q.exception() is not None]
            if failed:
                q = failed[0]
                self._raise_if_kafka_failure(q)
                raise IngestionError(f"query {q.name} failed: {q.exception()}")
            if self.stopping:
                stop_gracefully(queries, self.config["ingestion"]["stop"]["graceful_timeout_s"])
                return
            if not any(q.isActive for q in queries):
                return
            if kafka:
                self._watch_kafka(time.monotonic())
            if queries[0].isActive:
                try:
                    queries[0].awaitTermination(0.5)
                except StreamingQueryException:
                    pass  # it failed: the check above reports it, naming the query (and Kafka when it is the cause)
            else:
                time.sleep(0.5)
            self._flush_progress(force=False, every=flush_every)

    def _watch_kafka(self, now: float) -> None:
        """Probe the bootstrap servers every PROBE_INTERVAL_S: one line when Kafka goes away and one
        when it is back; UnreachableError once it has been away for longer than the tolerance."""
        if now < self._next_probe:
            return
        self._next_probe = now + PROBE_INTERVAL_S
        server, reason = kafka_options.probe(kafka_options.bootstrap_addresses(self.config))
        servers = kafka_options.servers_text(self.config)
        event = self.outage.observe(server is not None, now)
        if event == "down":
            log.warning("Kafka at %s is unreachable (%s); the queries wait for it up to %g s "
                        "(ingestion.kafka.outage_tolerance_s)", servers, reason, self.outage.tolerance_s)
        elif event == "up":
            log.warning("Kafka at %s is reachable again after %.0f s; the queries go on where they stopped",
                        servers, self.outage.last_outage_s)
        elif event == "exceeded":
            raise UnreachableError(
                f"cannot reach Kafka at {servers} ({reason}) for {self.outage.down_for(now):.0f} s while ingesting, "
                f"longer than ingestion.kafka.outage_tolerance_s ({self.outage.tolerance_s:g} s); "
                "is the broker running? once it is, start the ingestion again: it resumes from its checkpoints")

    def _raise_if_kafka_failure(self, q: StreamingQuery) -> None:
        """A query that failed because Kafka did not answer: one line naming the broker, exit 1."""
        cause = kafka_unreachable_cause(str(q.exception()))
        if cause is None:
            return
        servers = kafka_options.servers_text(self.config)
        server, reason = kafka_options.probe(kafka_options.bootstrap_addresses(self.config))
        state = f"unreachable now: {reason}" if server is None else "it accepts connections now"
        raise UnreachableError(
            f"query {q.name} failed because Kafka at {servers} did not answer ({cause}; {state}); "
            "is the broker running and healthy? once it is, start the ingestion again: it resumes from its checkpoints")

    def _flush_progress(self, force: bool, every: float = 0.0, final: bool = False) -> None:
        self.progress.flush(self.queries, force=force, every=every, final=final)


def with_overrides(config: Mapping[str, Any], **ingestion: Any) -> dict[str, Any]:
    """A copy of ``config`` with ``ingestion`` settings replaced (None values are ignored)."""
    import copy

    out = copy.deepcopy(dict(config))
    ing = out["ingestion"]
    mapping = {
        "trigger": ("trigger", "mode"), "interval": ("trigger", "interval"),
        "max_offsets_per_trigger": ("kafka", "max_offsets_per_trigger"),
        "starting_offsets": ("kafka", "starting_offsets"), "fail_on_data_loss": ("kafka", "fail_on_data_loss"),
    }
    for key, value in ingestion.items():
        if value is None:
            continue
        if key == "sources":
            ing["sources"] = list(value)
            continue
        section, name = mapping[key]
        ing[section][name] = value
    return out
