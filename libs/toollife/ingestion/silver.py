"""Bronze -> silver + quarantine + batch counters: one idempotent foreachBatch writer per source.

Per micro-batch (the bronze rows a Delta stream hands over):

1. validate every row (:mod:`.validate`) once and cache the result;
2. append the rejected rows to ``silver.quarantine``;
3. keep one row per event_id inside the batch (the first by Kafka coordinates), then look every
   event_id up in silver and append only the absent ones: global insert-if-absent dedupe, the
   MERGE ``WHEN NOT MATCHED THEN INSERT`` semantics, done as anti-join + append because this query
   is silver's only writer. A re-sent message keeps its ts, so the lookup reads only the batch's
   event dates and, within them, only the files whose ts min/max meets the batch's event times
   (``ingestion.silver.dedupe_lookup``), cut to the batch's event_ids before any shuffle; the
   lookup, the classification and its counts run in the append's own pass;
4. append one counter row to ``meta.ingest_batch_stats`` (rows in, silver rows, quarantined,
   duplicates dropped, late rows, watermark).

A batch re-run after a crash writes nothing twice, and its counts are the first run's:

* silver: an event_id found in silver *with this row's own Kafka coordinates* is this batch's
  earlier, committed insert (``own``): kept and counted, not inserted again;
* the stats row: only the first batch after a (re)start can be a re-run (a query logs batch N + 1's
  offsets only after N committed), so that batch looks its (query id, batch id) up in
  ``meta.ingest_batch_stats`` and skips the append if it is there; later batches need no look-up;
* quarantine carries ``txnAppId`` = the query's id (kept in its checkpoint) and ``txnVersion`` = the
  batch id, so Delta skips it if it already committed.

Silver and the stats row do without ``txnAppId`` because Delta 4.4 answers "has this app id
committed?" by computing the table's whole snapshot state (two or three Spark jobs over its log)
before every such write, a third of a small batch's time (``benchmarks.silver_batch_cost``).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from functools import reduce
from typing import Any, Iterable, Mapping

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from toollife.lakehouse import tables
from toollife.config import ConfigError
from toollife.ingestion import schemas, validate
from toollife.runtime.phases import PhaseClock

log = logging.getLogger(__name__)


def ensure_tables(spark: SparkSession, config: Mapping[str, Any], source: schemas.Source) -> None:
    props = config["ingestion"]["table_properties"]
    tables.create_if_missing(
        spark, config, source.silver, source.silver_schema, partition_by=["event_date"],
        properties=props["silver"], comment=f"valid, unique {source.key} (contract {source.contract}/v1)")
    tables.create_if_missing(
        spark, config, schemas.QUARANTINE_TABLE, schemas.QUARANTINE, partition_by=["ingest_date"],
        properties=props["quarantine"], comment="every rejected Kafka record with its reason")
    tables.create_if_missing(
        spark, config, schemas.BATCH_STATS_TABLE, schemas.BATCH_STATS, properties=props["meta"],
        comment="one row per silver micro-batch: counts of rows in/out, duplicates, late rows")


_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def parse_interval(text: str) -> timedelta:
    """'1 hour', '90 seconds', '2 days' -> timedelta (what conf's watermark_delay takes)."""
    parts = str(text).split()
    if len(parts) != 2 or parts[1].lower().rstrip("s") not in _UNITS:
        raise ValueError(f"interval {text!r} must look like '<number> <second|minute|hour|day|week>[s]'")
    return timedelta(seconds=float(parts[0]) * _UNITS[parts[1].lower().rstrip("s")])


# ingestion.silver.dedupe_lookup: which silver rows a batch's event_ids are looked up in
LOOKUPS = ("event_time", "event_date")
LOOKUP_BUCKET_S = 60      # the batch's event times are bucketed by the minute before they become ranges
MAX_LOOKUP_RANGES = 16    # a few ORed ranges: Delta's skipping and the row filter stay cheap


def event_time_spans(valid: DataFrame, bucket_seconds: int = 60) -> DataFrame:
    """The batch's event times, coarsely (pure): one row per event date and ``bucket_seconds``
    bucket of ``ts`` with ``lo`` / ``hi``, the bucket's earliest and latest ts in epoch
    microseconds (as longs: a timestamp collected to Python becomes a naive local datetime, which a
    daylight-saving change makes ambiguous)."""
    micros = F.unix_micros("ts")
    return (valid.groupBy("event_date", F.floor(micros / (bucket_seconds * 1_000_000)).alias("_bucket"))
            .agg(F.min(micros).alias("lo"), F.max(micros).alias("hi"))
            .drop("_bucket"))


def lookup_ranges(spans: Iterable[tuple[int, int]], join_gap: int, max_ranges: int) -> list[tuple[int, int]]:
    """(lo, hi) spans -> at most ``max_ranges`` sorted, disjoint (lo, hi) ranges that cover them all.

    Spans at most ``join_gap`` apart are joined; then, while there are too many ranges, the
    smallest gaps are closed (a range may cover time without events: the lookup reads a little
    more, never less).
    """
    merged: list[list[int]] = []
    for lo, hi in sorted(spans):
        if merged and lo - merged[-1][1] <= join_gap:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    if len(merged) > max_ranges:
        # the (max_ranges - 1) widest gaps stay as cuts between ranges; the others are closed
        widest = sorted(range(1, len(merged)), key=lambda j: merged[j][0] - merged[j - 1][1], reverse=True)
        bounds = [0, *sorted(widest[:max_ranges - 1]), len(merged)]
        merged = [[merged[a][0], merged[b - 1][1]] for a, b in zip(bounds, bounds[1:])]
    return [(lo, hi) for lo, hi in merged]


def lookup_bounds(valid: DataFrame, lookup: str) -> tuple[list, list[tuple[int, int]] | None]:
    """(the batch's event dates, its ts ranges or None for ``event_date``): what :func:`classify`
    looks up in silver. One hash aggregate of the batch; the ranges are built on the driver."""
    spans = event_time_spans(valid, LOOKUP_BUCKET_S).collect()
    dates = sorted({r.event_date for r in spans})
    if lookup == "event_date":
        return dates, None
    return dates, lookup_ranges([(r.lo, r.hi) for r in spans], LOOKUP_BUCKET_S * 1_000_000, MAX_LOOKUP_RANGES)


def short_span_bounds(first_date, last_date, lo: int | None, hi: int | None,
                      max_span: int = LOOKUP_BUCKET_S * MAX_LOOKUP_RANGES * 1_000_000
                      ) -> tuple[list, list[tuple[int, int]]] | None:
    """The ``event_time`` lookup bounds of a batch from its valid events' first and last event
    date and ts (epoch microseconds) alone, when those lie at most ``max_span`` apart: every date
    from the first to the last and one range (pure). The minute buckets of :func:`lookup_bounds`
    could leave out only gaps inside that span; a live batch's events are seconds apart, so this
    saves a pass over the batch. None when the span is longer (or the batch has no valid event)."""
    if lo is None or hi is None or hi - lo > max_span:
        return None
    return [first_date + timedelta(days=d) for d in range((last_date - first_date).days + 1)], [(lo, hi)]


def lookup_filter(dates: list, ts_ranges: list[tuple[int, int]] | None) -> Column:
    """The silver rows a batch is looked up in: its event dates (partition pruning) and, unless
    None, its ts ranges, as literal comparisons that Delta's data skipping turns into a test on each
    file's ts min/max (it widens the max stat by the 1 ms its JSON stats truncate)."""
    lookup = F.col("event_date").isin(dates)
    if ts_ranges is None:
        return lookup
    ts = F.col("ts")
    in_ranges = [ts.between(F.timestamp_micros(F.lit(lo)), F.timestamp_micros(F.lit(hi))) for lo, hi in ts_ranges]
    return lookup & (reduce(lambda a, b: a | b, in_ranges) if in_ranges else F.lit(False))


def classify(valid: DataFrame, silver_table: DataFrame, dates: list,
             ts_ranges: list[tuple[int, int]] | None = None) -> DataFrame:
    """Valid silver-shaped batch rows + ``_class``: new | own | duplicate (pure).

    One row per event_id is kept inside the batch (the first by Kafka coordinates); it is ``new``
    when silver lacks the event_id, ``own`` when silver holds it with this row's own coordinates
    (this batch already committed it: a re-run), otherwise a ``duplicate``.

    The lookup reads only the silver partitions of the batch's event ``dates`` and, with
    ``ts_ranges`` ((lo, hi) epoch microseconds, :func:`lookup_ranges`), only silver rows whose ts
    lies in one of them: a re-sent message keeps its ts, and Delta skips every file whose ts
    min/max misses all ranges, so a time-clustered silver is read only where the batch's events
    lie. What is read is cut to the batch's event_ids by a semi-join with the broadcast ids before
    any shuffle; the window runs on the join's partitioning by event_id, so one shuffle of the
    batch does both.
    """
    existing = silver_table.where(lookup_filter(dates, ts_ranges)).join(
        F.broadcast(valid.select("event_id")), "event_id", "left_semi")
    return classify_against(valid, existing)


def classify_against(valid: DataFrame, existing: DataFrame) -> DataFrame:
    """:func:`classify` with the silver rows to look up already chosen (``existing``: silver rows,
    at least event_id and the Kafka coordinates), pure."""
    from pyspark.sql import Window

    existing = existing.select("event_id",
                               F.col("kafka_topic").alias("_s_topic"),
                               F.col("kafka_partition").alias("_s_partition"),
                               F.col("kafka_offset").alias("_s_offset"))
    own = ((F.col("_s_topic") == F.col("kafka_topic"))
           & (F.col("_s_partition") == F.col("kafka_partition"))
           & (F.col("_s_offset") == F.col("kafka_offset")))
    first = Window.partitionBy("event_id").orderBy("kafka_topic", "kafka_partition", "kafka_offset")
    return (valid.join(existing, "event_id", "left")
            .withColumn("_class", F.when(own, "own")
                        .when(F.col("_s_topic").isNull() & (F.row_number().over(first) == 1), "new")
                        .otherwise("duplicate"))
            .drop("_s_topic", "_s_partition", "_s_offset"))


def _append(df: DataFrame, path: str, app_id: str | None = None, version: int | None = None) -> None:
    """Delta append; with ``app_id`` Delta skips it if (app_id, version) already committed."""
    write = df.write.format("delta").mode("append")
    if app_id is not None:
        write = write.option("txnAppId", app_id).option("txnVersion", str(version))
    write.save(path)


class SilverBatchWriter:
    """The ``foreachBatch`` function of one source's silver query."""

    def __init__(self, config: Mapping[str, Any], source: schemas.Source):
        self.config = config
        self.source = source
        self.rules = validate.Rules.from_config(config)
        self.watermark_delay = parse_interval(config["ingestion"]["silver"]["watermark_delay"])
        self.lookup = config["ingestion"]["silver"]["dedupe_lookup"]
        if self.lookup not in LOOKUPS:
            raise ConfigError(f"ingestion.silver.dedupe_lookup {self.lookup!r} is not one of {', '.join(LOOKUPS)}",
                              key="ingestion.silver.dedupe_lookup")
        self.log_batches = config["ingestion"]["progress"]["log_batches"]
        self._query_id: str | None = None
        self._ready = threading.Event()
        self.last_stats: dict[str, Any] | None = None
        # (last batch id this writer committed, max event ts so far); None after a (re)start or
        # while a stats row is being written
        self._memo: tuple[int, Any] | None = None
        # called with (stats, {reason_code: count}) after every committed batch, e.g. the Prometheus metrics
        self.observers: list = []

    def set_query_id(self, query_id: str) -> None:
        """Called right after ``start()``: the id Spark keeps in the checkpoint, stable across restarts."""
        self._query_id = query_id
        self._ready.set()

    def _resume(self, spark: SparkSession, app_id: str, batch_id: int) -> tuple[Any, bool]:
        """(max event ts of all earlier committed batches, whether this batch's stats row is
        already committed), deterministic on re-runs. Carried in memory from the batch before;
        read from meta.ingest_batch_stats for the first batch after a (re)start, the only one that
        can be a re-run."""
        if self._memo is not None and self._memo[0] == batch_id - 1:
            return self._memo[1], False
        mine = F.col("query_id") == app_id   # within this source's rows
        row = (tables.read(spark, self.config, schemas.BATCH_STATS_TABLE)
               .where(F.col("source") == self.source.key)
               .agg(F.max(F.when(~(mine & (F.col("batch_id") >= batch_id)), F.col("max_event_ts"))).alias("m"),
                    F.count_if(mine & (F.col("batch_id") == batch_id)).alias("committed"))
               .first())
        return row.m, row.committed > 0

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        if not self._ready.wait(timeout=300):
            raise RuntimeError("silver writer never got its query id")
        app_id = self._query_id
        spark = batch.sparkSession
        cfg, src = self.config, self.source
        prior_max, stats_committed = self._resume(spark, app_id, batch_id)
        watermark = prior_max - self.watermark_delay if prior_max is not None else None
        wm_lit = F.lit(watermark).cast("timestamp")

        clock = PhaseClock()
        # the bronze rows are read and parsed once (cached); the validated rows are computed from
        # that cache by each step below (the rows the fast path leaves to the exact engine are few).
        # Compressing the short-lived cache cost more than the parse saved (3.2 of 13 CPU-s per 1M
        # rows, docs/ingestion.md); this is the query's own session, so nothing else is affected.
        spark.conf.set("spark.sql.inMemoryColumnarStorage.compressed", "false")
        parsed = validate.parse(src.key, batch, self.rules).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            validated = validate.finish(src.key, parsed, self.rules, exact=validate.needs_exact(parsed))
            valid = validate.to_silver(validated, src.key)
            valid_ts = F.when(F.col("reason_code").isNull(), F.col("ts"))
            head = validated.agg(
                F.count(F.lit(1)).alias("rows_in"),
                F.count_if(F.col("reason_code").isNull()).alias("valid"),
                F.count_if(F.col("reason_code").isNull() & (F.col("ts") < wm_lit)).alias("valid_late"),
                F.max(valid_ts).alias("max_event_ts"),
                F.min(F.to_date(valid_ts)).alias("first_date"), F.max(F.to_date(valid_ts)).alias("last_date"),
                F.min(F.unix_micros(valid_ts)).alias("lo"), F.max(F.unix_micros(valid_ts)).alias("hi"),
            ).first()
            clock.lap("validate")
            if head.rows_in == 0:
                return
            quarantined = head.rows_in - head.valid
            if quarantined:
                _append(validate.to_quarantine(validated, src.key),
                        schemas.QUARANTINE_TABLE.path(cfg), app_id, batch_id)
                clock.lap("quarantine")

            silver_rows = late_rows = 0
            if head.valid:
                short = (short_span_bounds(head.first_date, head.last_date, head.lo, head.hi)
                         if self.lookup == "event_time" else None)
                # else a hash aggregate over the cache: collect_set in the agg above was an object
                # aggregate (0.1-1.4 CPU-s per 1M rows warm, more under load)
                dates, ts_ranges = short or lookup_bounds(valid, self.lookup)
                silver_rows, late_rows = self._insert_new(spark, valid, dates, ts_ranges, wm_lit, batch_id)
                clock.lap("silver")
            duplicates = head.valid - silver_rows
            stats = {
                "source": src.key, "query_id": app_id, "batch_id": batch_id,
                "rows_in": head.rows_in, "silver_rows": silver_rows, "quarantined": quarantined,
                "duplicates_dropped": duplicates, "late_rows": late_rows,
                "late_duplicates": head.valid_late - late_rows,
                "max_event_ts": head.max_event_ts, "watermark": watermark,
            }
            stats["written_at"] = datetime.now()
            stats_df = spark.createDataFrame(
                [tuple(stats[f.name] for f in schemas.BATCH_STATS.fields)], schemas.BATCH_STATS)
            self._memo = None  # if the append fails after its commit, the re-run must look
            if not stats_committed:
                _append(stats_df, schemas.BATCH_STATS_TABLE.path(cfg))
            clock.lap("stats")
            self.last_stats = stats
            if self.observers:
                self._notify(validated, stats)
            self._memo = (batch_id, max((t for t in (prior_max, head.max_event_ts) if t is not None), default=None))
            if self.log_batches:
                log.info("silver %s batch %d: in=%d silver=%d quarantined=%d duplicates=%d late=%d watermark=%s (%s)",
                         src.key, batch_id, head.rows_in, silver_rows, quarantined, duplicates, late_rows, watermark,
                         clock)
        finally:
            parsed.unpersist()


    def _insert_new(self, spark: SparkSession, valid: DataFrame, dates: list,
                    ts_ranges: list[tuple[int, int]] | None, wm_lit: Column, batch_id: int,
                    attempts: int = 3) -> tuple[int, int]:
        """Append the batch's new rows to silver; (rows kept, of which late).

        The counts are observed while the new rows are written: one pass over the lookup, and no
        cached plan over silver for the write to re-plan (Spark re-caches every cached plan that
        reads a table it writes to). Because the append reads silver in its own transaction, a
        concurrent OPTIMIZE that rewrote the files it read makes Delta refuse the commit; nothing
        was written then, so the lookup and append run again on the new snapshot."""
        from delta.exceptions import ConcurrentAppendException, ConcurrentDeleteReadException

        src, cfg = self.source, self.config
        attempt = 1
        while True:
            counted = Observation(f"silver-{src.key}-{batch_id}-{attempt}")
            classified = classify(valid, tables.read(spark, cfg, src.silver), dates, ts_ranges).observe(
                counted,
                F.count_if(F.col("_class") != "duplicate").alias("kept"),
                F.count_if((F.col("_class") != "duplicate") & (F.col("ts") < wm_lit)).alias("late"))
            # a batch of duplicates only appends no rows: Delta records no empty commit
            to_insert = classified.where(F.col("_class") == "new").select(*[f.name for f in src.silver_schema.fields])
            try:
                _append(to_insert, src.silver.path(cfg))  # a re-run finds these rows as its own
            except (ConcurrentAppendException, ConcurrentDeleteReadException) as conflict:
                if attempt == attempts:
                    raise
                log.warning("silver %s batch %d: %s; looking up again (attempt %d of %d)",
                            src.key, batch_id, str(conflict).split("\n")[0][:200], attempt + 1, attempts)
                attempt += 1
                continue
            return counted.get["kept"], counted.get["late"]

    def _notify(self, validated: DataFrame, stats: dict[str, Any]) -> None:
        """Hand the batch's counters and its quarantine per reason (one small aggregate of the cached
        batch, only when something was quarantined) to the observers; never fails the batch."""
        try:
            by_reason = {r.reason_code: r["count"] for r in validated.where("reason_code IS NOT NULL")
                         .groupBy("reason_code").count().collect()} if stats["quarantined"] else {}
            for observe in self.observers:
                observe(stats, by_reason)
        except Exception:
            log.exception("a batch observer failed (the batch itself committed)")


def writer(spark: SparkSession, config: Mapping[str, Any], source: schemas.Source):
    """(stream writer, its batch function) reading bronze as a Delta stream."""
    fn = SilverBatchWriter(config, source)
    stream = (
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", int(config["ingestion"]["silver"]["max_files_per_trigger"]))
        .load(source.bronze.path(config))
        .writeStream.queryName(f"silver_{source.key}")
        .option("checkpointLocation", source.silver.checkpoint(config))
        .foreachBatch(fn)
    )
    return stream, fn
