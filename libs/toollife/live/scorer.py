"""The live scorer at Spark scale: one Structured Streaming query, its own application and checkpoint.

Source: ``silver.sensor_readings`` and ``silver.tool_events`` as Delta streams, reduced to (run
key, event time, Kafka arrival time, kind) and unioned, so one micro-batch sees both. Per
micro-batch (:class:`LiveBatchScorer`):

1. the runs the batch touched; their tool events (whole history) -> start, settings, status
   (:func:`toollife.gold.experiment_runs.run_events`, the batch aggregation's own rule);
2. the runs still cutting that received readings: their full reading history from silver,
   summarised by :func:`toollife.ml.features.features_now`, the function training's samples
   come from, and scored by the version ``models:/<live.model_name>@<live.alias>`` points at
   *now* (resolved every batch, each version loaded once and cached: moving the alias swaps the
   model on the next batch, without a restart);
3. one MERGE into ``gold.tool_life_live`` on the run key: scored runs are inserted / updated;
   runs that ended (tool_worn_out, run_aborted) are closed with their true life beside the last
   prediction, and never scored again;
4. alerts: every (run, threshold) whose remaining life fell below the threshold is MERGEd into
   ``gold.tool_alerts`` by its deterministic ``alert_id`` (insert if absent: once per run and
   threshold, whatever the batches and restarts); then every alert not yet marked published is
   sent to Kafka (:mod:`.alerts`) and marked.

A re-run batch (after a crash the checkpoint hands the same offsets again) recomputes the same
rows: both MERGEs are idempotent, and an alert is sent only while its row is unmarked.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType

from toollife.lakehouse import tables
from toollife.gold import experiment_runs as er
from toollife.gold.writes import add_missing_columns
from toollife.ingestion.schemas import SOURCES
from toollife.live import alerts as alerts_mod
from toollife.live import frames, memory
from toollife.ml import features as feat
from toollife.ml import tracking
from toollife.ml.serving import Serving
from toollife.ml.specs import SPECS
from toollife.runtime.phases import PhaseClock
from toollife.runtime.streaming_stop import StopRequest, stop_all, stop_gracefully

log = logging.getLogger(__name__)

LIVE = tables.Table("gold", "tool_life_live")
ALERTS = tables.Table("gold", "tool_alerts")
TRIGGER_MODES = ("processing_time", "available_now")
QUERY_NAME = "score_live"


def _f(name: str, dtype, nullable: bool = True, comment: str | None = None) -> StructField:
    return StructField(name, dtype, nullable, {"comment": comment} if comment else {})


_KEY = [_f("experiment_id", StringType(), False), _f("machine_id", StringType(), False),
        _f("tool_id", StringType(), False), _f("run_id", LongType(), False), _f("replicate", LongType(), False)]
_PREDICTION = [
    _f("predicted_life_min", DoubleType(), comment="tool life T predicted from the settings and the readings so far"),
    _f("predicted_life_lower_min", DoubleType(), comment="lower end of the interval (ml.interval)"),
    _f("predicted_life_upper_min", DoubleType()),
    _f("remaining_life_min", DoubleType(), comment="predicted T - minutes_cut, >= 0"),
    _f("minutes_cut", DoubleType(), comment="cutting minutes so far: newest reading - run_started"),
]

LIVE_SCHEMA = StructType([
    *_KEY,
    _f("status", StringType(), False, "running | completed | aborted (closed rows keep their last prediction)"),
    _f("started_at", TimestampType()),
    *_PREDICTION,
    _f("n_flank_wear_readings", DoubleType()),
    _f("reason", StringType(), comment="why there is no prediction (e.g. too few readings)"),
    _f("model_name", StringType()),
    _f("model_version", StringType(), comment="the version the alias pointed at when this row was scored"),
    _f("last_reading_ts", TimestampType(), comment="event time of the newest reading scored"),
    _f("last_reading_kafka_ts", TimestampType(), comment="when that reading arrived in Kafka"),
    _f("scored_at", TimestampType()),
    _f("ended_at", TimestampType(), comment="closed rows: ts of tool_worn_out / run_aborted"),
    _f("true_life_min", DoubleType(), comment="closed by tool_worn_out: the observed tool life"),
    _f("closed_at", TimestampType()),
])

ALERTS_SCHEMA = StructType([
    _f("alert_id", StringType(), False, "sha256 of run key + threshold (32 hex): one per run and threshold"),
    *_KEY,
    _f("threshold_min", DoubleType(), False),
    _f("bound", StringType(), comment="which remaining life crossed the threshold: lower = the interval's lower end "
                                      "(ml.interval), point = the estimate (a version without an interval)"),
    _f("bound_remaining_life_min", DoubleType(), comment="the remaining life by that bound, >= 0"),
    *_PREDICTION,
    _f("model_name", StringType(), False),
    _f("model_version", StringType(), False),
    _f("last_reading_ts", TimestampType(), False),
    _f("raised_at", TimestampType(), False),
    _f("published_at", TimestampType(), comment="when Kafka acknowledged it on tool-alerts; null = pending"),
])


def ensure_tables(spark: SparkSession, config: Mapping[str, Any]):
    live = tables.create_if_missing(
        spark, config, LIVE, LIVE_SCHEMA,
        # the change feed keeps every scored version of a row: the live predictions' history (accuracy)
        properties={"delta.enableChangeDataFeed": "true"},
        comment="remaining useful life of every tool cutting now, by the champion tool_rul (jobs/score_live.py)")
    alerts = tables.create_if_missing(
        spark, config, ALERTS, ALERTS_SCHEMA,
        comment="remaining-life alerts, one per run and threshold, and whether Kafka has them")
    add_missing_columns(spark, ALERTS, alerts, ALERTS_SCHEMA)      # bound: a table from before alerts had one
    return live, alerts


def _to_spark(spark: SparkSession, frame: pd.DataFrame, schema: StructType) -> DataFrame:
    """Small driver frames -> Spark with real nulls (NaN/NaT -> null)."""
    def plain(v):
        if v is None or v is pd.NaT or (isinstance(v, float) and v != v):
            return None
        if isinstance(v, pd.Timestamp):
            return v.to_pydatetime()
        return v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) and getattr(v, "ndim", 1) == 0 else v

    cols = [f.name for f in schema.fields]
    records = [tuple(plain(v) for v in row) for row in frame.reindex(columns=cols).itertuples(index=False, name=None)]
    return spark.createDataFrame(records, schema)


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def source_stream(spark: SparkSession, config: Mapping[str, Any]) -> DataFrame:
    """silver readings + events as one stream of (run key, ts, kafka_timestamp, kind, event_id,
    sensor, value): the readings themselves extend the runs' histories the scorer keeps in memory."""
    files = int(config["live"]["max_files_per_trigger"])

    def one(key: str, kind, *reading) -> DataFrame:
        # skipChangeCommits: a maintenance commit that rewrites or deletes silver rows (retention) is not new data
        return (spark.readStream.format("delta").option("maxFilesPerTrigger", files)
                .option("skipChangeCommits", "true")
                .load(SOURCES[key].silver.path(config))
                .select(*feat.RUN_KEY, "ts", "kafka_timestamp", kind.alias("kind"), "event_id", *reading))

    return one("sensor_readings", F.lit("reading"), "sensor", "value").unionByName(
        one("tool_events", F.col("event"), F.lit(None).cast(StringType()).alias("sensor"),
            F.lit(None).cast(DoubleType()).alias("value")))


class LiveBatchScorer:
    """The ``foreachBatch`` function; keeps the loaded model versions, the runs' histories
    (:class:`~toollife.live.memory.RunMemory`), the alert ids stored, and this run's counters."""

    def __init__(self, config: Mapping[str, Any], client):
        self.config = config
        self.client = client
        self.live_conf = config["live"]
        self.model_name = self.live_conf["model_name"]
        self.columns = list(SPECS[self.model_name].features)
        self.publisher = alerts_mod.AlertPublisher(config)
        self.memory = memory.RunMemory()
        self._models: dict[str, tuple[Any, tuple[float, float]]] = {}
        self._tables_ready = False
        self._event_columns_known = False
        self._stored_alerts: set[str] = set()   # alert ids known to be in gold.tool_alerts (they are never removed)
        self._maybe_pending = True   # the first batch of a process looks for alerts a crash left unpublished
        self.stats = {"batches": 0, "rows_scored": 0, "rows_closed": 0, "alerts_raised": 0, "alerts_published": 0,
                      "alerts_found_on_topic": 0, "model_versions": []}

    def table(self, spark: SparkSession, tbl: tables.Table):
        """The DeltaTable of ``tbl``; both are created (and their properties checked) once per process."""
        from delta.tables import DeltaTable

        if not self._tables_ready:
            ensure_tables(spark, self.config)
            self._tables_ready = True
        return DeltaTable.forPath(spark, tbl.path(self.config))

    # -- the model ---------------------------------------------------------------------------------
    def model(self) -> tuple[str, Any, Serving]:
        """(version, pyfunc model, its interval, curve and offset) of what the alias points at now."""
        alias = self.live_conf["alias"]
        version = tracking.alias_version(self.client, self.model_name, alias)
        if version is None:
            raise tracking.NoChampionError(
                f"no '{alias}' alias on the registered model '{self.model_name}' in {self.client.tracking_uri}; "
                "train first: toollife submit jobs/train_tool_life.py")
        if version not in self._models:
            import mlflow.pyfunc

            log.info("loading %s version %s (%s)", self.model_name, version, alias)
            model = mlflow.pyfunc.load_model(f"models:/{self.model_name}/{version}")
            self._models[version] = (model, tracking.serving(self.client, self.model_name, version))
        if version not in self.stats["model_versions"]:
            self.stats["model_versions"].append(version)
        return (version, *self._models[version])

    # -- one micro-batch ---------------------------------------------------------------------------
    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        clock = PhaseClock()
        spark = batch.sparkSession
        rows = batch.toPandas()       # the new rows only: a few seconds of readings and events
        clock.lap("batch")
        if rows.empty:
            return
        if not self._event_columns_known:   # analysis only: no rows are read
            silver_events = tables.read(spark, self.config, SOURCES["tool_events"].silver)
            self.memory.know_event_columns(er.run_events(silver_events, self.config).columns)
            self._event_columns_known = True
        touched = memory.touched_runs(rows, er.TERMINAL_EVENTS)
        keys = memory.keys_of(touched)
        self.memory.touch(keys, time.monotonic())
        stale = self.memory.events_to_read(touched)
        if stale:
            events = (tables.read(spark, self.config, SOURCES["tool_events"].silver)
                      .join(F.broadcast(self._keys(spark, stale)), feat.RUN_KEY, "left_semi"))
            self.memory.set_events(stale, er.run_events(events, self.config).toPandas())
        runs = touched.merge(self.memory.events(keys), on=feat.RUN_KEY, how="left")
        runs["status"] = runs["status"].fillna(frames.RUNNING)
        cutting = runs[(runs["status"] == frames.RUNNING) & runs["newest_reading"].notna()]
        ended = runs[runs["status"] != frames.RUNNING]
        clock.lap(f"runs({len(stale)} read)")

        cutting_keys = memory.keys_of(cutting)
        unread = self.memory.readings_to_read(cutting_keys)
        self.memory.extend(rows[(rows["kind"] == memory.READING) & rows["sensor"].isin(feat.SENSORS)])
        if unread:   # their whole history, this batch's readings included
            history = (tables.read(spark, self.config, SOURCES["sensor_readings"].silver)
                       .where(F.col("sensor").isin(*feat.SENSORS)))
            new = set(unread)
            starts = pd.to_datetime(cutting["started_at"][[k in new for k in cutting_keys]])
            if starts.notna().all():   # features start at run_started: skip older dates and, by file stats, files
                since = starts.min()   # (the string is read in the session's time zone, as toPandas wrote it)
                history = history.where((F.col("event_date") >= F.lit(since.strftime("%Y-%m-%d")).cast("date"))
                                        & (F.col("ts") >= F.lit(since.isoformat(sep=" ")).cast("timestamp")))
            self.memory.load(unread, history.join(F.broadcast(self._keys(spark, unread)), feat.RUN_KEY, "left_semi")
                             .select(*memory.READING_COLUMNS).toPandas())
        clock.lap(f"history({len(unread)} read)")

        version, model, serving = self.model()
        scored = self._score(cutting, self.memory.readings(cutting_keys), model, serving, version)
        now = _now()
        closing = ended[feat.RUN_KEY + ["status", "ended_at"]].assign(
            true_life_min=ended["tool_life_min"].where(ended["status"] == frames.COMPLETED), closed_at=now)
        parts = [f for f in (scored.assign(scored_at=now), closing) if not f.empty]
        out = pd.concat(parts, ignore_index=True) if parts else scored
        clock.lap("score")
        self._merge_live(spark, out)
        clock.lap("merge")
        raised, published, found = self._alerts(spark, scored, now)
        clock.lap("alerts")
        self.memory.forget(memory.keys_of(ended))
        self.memory.forget_idle(time.monotonic())
        self.stats["batches"] += 1
        self.stats["rows_scored"] += len(scored)
        self.stats["rows_closed"] += len(closing)
        self.stats["alerts_raised"] += raised
        self.stats["alerts_published"] += published
        self.stats["alerts_found_on_topic"] += found
        log.info("score_live batch %d: %d run(s) scored by %s v%s, %d closed, %d alert(s) raised, %d published "
                 "(%s)", batch_id, len(scored), self.model_name, version, len(closing), raised, published, clock)

    @staticmethod
    def _keys(spark: SparkSession, keys: list) -> DataFrame:
        return spark.createDataFrame(pd.DataFrame(keys, columns=feat.RUN_KEY))

    def _score(self, cutting: pd.DataFrame, history: pd.DataFrame, model, serving: Serving,
               version: str) -> pd.DataFrame:
        if cutting.empty:
            return pd.DataFrame(columns=[f.name for f in LIVE_SCHEMA.fields])
        newest = history.sort_values("ts", kind="mergesort").groupby(feat.RUN_KEY, sort=False).tail(1)
        newest = newest[[*feat.RUN_KEY, "ts", "kafka_timestamp"]].rename(
            columns={"ts": "last_reading_ts", "kafka_timestamp": "last_reading_kafka_ts"})
        runs = (cutting.drop(columns=["newest_reading", "has_event", "has_end"])
                .merge(newest, on=feat.RUN_KEY, how="left"))
        start = pd.to_datetime(runs["started_at"])
        runs["minutes_cut"] = (pd.to_datetime(runs["last_reading_ts"]) - start).dt.total_seconds() / 60.0
        features = feat.features_now(runs, history, serving.curve)   # the same function as training's samples
        predicted = frames.predict(features, model.predict, self.columns, serving,
                                   int(self.config["ml"]["min_readings"]))
        extra = runs[[*feat.RUN_KEY, "status", "started_at", "last_reading_ts", "last_reading_kafka_ts"]]
        return predicted.merge(extra, on=feat.RUN_KEY).assign(model_name=self.model_name, model_version=version)

    def _merge_live(self, spark: SparkSession, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        source = _to_spark(spark, rows, LIVE_SCHEMA)
        target = self.table(spark, LIVE)
        cond = " AND ".join(f"t.{k} = s.{k}" for k in feat.RUN_KEY)
        close = {c: f"s.{c}" for c in ("status", "ended_at", "true_life_min", "closed_at")}
        (target.alias("t").merge(source.alias("s"), cond)
         .whenMatchedUpdate(condition="t.status = 'running' AND s.status <> 'running'", set=close)
         .whenMatchedUpdateAll(condition="t.status = 'running' AND s.status = 'running'")
         .whenNotMatchedInsertAll(condition="s.status = 'running'")
         .execute())

    def _alerts(self, spark: SparkSession, scored: pd.DataFrame, now: pd.Timestamp) -> tuple[int, int, int]:
        """(raised now, published now, found already on the topic)."""
        target = self.table(spark, ALERTS)
        raised = 0
        due = frames.due_alerts(scored, self.live_conf["alert_thresholds_min"]) if not scored.empty else pd.DataFrame()
        # a run stays below its thresholds for every batch until it ends: only ids not known to be stored
        # go to the insert-if-absent MERGE (the first batch of a process checks them all once)
        new = due[~due["alert_id"].isin(self._stored_alerts)] if not due.empty else due
        if not new.empty:
            (target.alias("t").merge(_to_spark(spark, new.assign(raised_at=now), ALERTS_SCHEMA).alias("s"),
                                     "t.alert_id = s.alert_id")
             .whenNotMatchedInsertAll().execute())
            raised = int((target.history(1).select("operationMetrics").first()[0] or {})
                         .get("numTargetRowsInserted", 0))
            self._stored_alerts.update(new["alert_id"])
        if not raised and not self._maybe_pending:
            return raised, 0, 0        # nothing new, and nothing left pending by this or an earlier process
        if raised == len(new) and not self._maybe_pending:
            # this MERGE inserted every new id and nothing older is pending: they are the pending rows
            pending = new.assign(raised_at=now, published_at=None)
        else:
            pending = tables.read(spark, self.config, ALERTS).where(F.col("published_at").isNull()).toPandas()
        self._maybe_pending = False
        if pending.empty:
            return raised, 0, 0
        found = self.publisher.already_sent(pending["alert_id"])
        to_send = pending[~pending["alert_id"].isin(found)].sort_values(["raised_at", "alert_id"])
        self._maybe_pending = True     # until the mark below commits
        self.publisher.send(to_send.to_dict("records"))
        # an UPDATE, not a MERGE: no source to join (the string is read in the session's time zone)
        target.update(F.col("alert_id").isin(sorted(set(pending["alert_id"]))) & F.col("published_at").isNull(),
                      {"published_at": F.lit(_now().isoformat(sep=" ")).cast("timestamp")})
        self._maybe_pending = False
        return raised, len(to_send), len(found)


class LiveScorerApp:
    """The scorer application: checks, tables, the query; :meth:`run` blocks until drained or stopped."""

    def __init__(self, spark: SparkSession, config: Mapping[str, Any], client):
        self.spark = spark
        self.config = config
        self.mode = config["live"]["trigger"]["mode"]
        if self.mode not in TRIGGER_MODES:
            raise ValueError(f"live.trigger.mode must be one of {', '.join(TRIGGER_MODES)}, got {self.mode!r}")
        self.scorer = LiveBatchScorer(config, client)
        self.stop_request = StopRequest("the running micro-batch")

    def request_stop(self, *_: Any) -> None:
        self.stop_request.request()

    def install_signal_handlers(self) -> None:
        self.stop_request.install_signal_handlers()

    def run(self) -> dict[str, Any]:
        cfg = self.config
        tables.require(self.spark, cfg, [SOURCES[k].silver for k in ("sensor_readings", "tool_events")],
                       er.INGEST_JOB)
        self.scorer.model()                       # no champion: fail before anything starts
        self.scorer.table(self.spark, LIVE)      # both tables, once
        trigger = ({"availableNow": True} if self.mode == "available_now"
                   else {"processingTime": cfg["live"]["trigger"]["interval"]})
        query = (source_stream(self.spark, cfg).writeStream.queryName(QUERY_NAME)
                 .option("checkpointLocation", LIVE.checkpoint(cfg)).foreachBatch(self.scorer)
                 .trigger(**trigger).start())
        log.info("live scorer started: %s@%s, trigger %s, alerts on %s below %s min", self.scorer.model_name,
                 cfg["live"]["alias"], trigger, alerts_mod.topic(cfg), cfg["live"]["alert_thresholds_min"])
        try:
            while query.isActive and not self.stop_request.requested:
                query.awaitTermination(0.5)
            if self.stop_request.requested:
                stop_gracefully([query], cfg["live"]["stop"]["graceful_timeout_s"])
            if query.exception() is not None:
                raise RuntimeError(f"query {QUERY_NAME} failed: {query.exception()}")
        finally:
            stop_all([query])
            self.scorer.publisher.close()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        live = tables.read(self.spark, self.config, LIVE)
        counts = live.groupBy("status").count().collect()
        return {"mode": self.mode, "stopped_by_signal": self.stop_request.requested, **self.scorer.stats,
                "gold.tool_life_live": {r["status"]: int(r["count"]) for r in counts},
                "gold.tool_alerts": tables.read(self.spark, self.config, ALERTS).count()}
