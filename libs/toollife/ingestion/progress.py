"""Every micro-batch's progress: one meta.stream_progress row per report, heard by a listener and
written by the application's main loop.

The listener hears of a batch asynchronously, so the event of a query's last batch can arrive
while the application stops: :meth:`ProgressRecorder.flush` ``final`` compares every query's own
``recentProgress`` with what the listener delivered and records any batch it missed (once: rows
are keyed by run id, batch id and trigger timestamp). So meta.stream_progress and the run's
metrics hold every batch of every query.
"""

from __future__ import annotations

import json
import logging
import queue
import time
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery, StreamingQueryListener

from toollife.ingestion import schemas

log = logging.getLogger(__name__)


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)


def progress_row(p: Any) -> dict[str, Any]:
    """A ``StreamingQueryProgress`` -> one meta.stream_progress row (plain values)."""
    durations = p.durationMs or {}
    event_time = p.eventTime or {}
    sources = [json.loads(s.json) for s in (p.sources or [])]
    return {
        "query_name": p.name,
        "query_id": str(p.id),
        "run_id": str(p.runId),
        "batch_id": int(p.batchId),
        "timestamp": _ts(p.timestamp),
        "num_input_rows": int(p.numInputRows),
        "input_rows_per_second": float(p.inputRowsPerSecond or 0.0),
        "processed_rows_per_second": float(p.processedRowsPerSecond or 0.0),
        "batch_duration_ms": int(p.batchDuration) if p.batchDuration is not None else None,
        "trigger_execution_ms": int(durations.get("triggerExecution", 0)),
        "watermark": event_time.get("watermark"),
        "sources_json": json.dumps(sources),
        "sink": p.sink.description if p.sink is not None else None,
        # not a column: False for the progress Spark reports every noDataProgressEventInterval while
        # a query waits for data (same batch id as the next batch, no rows; not a micro-batch)
        "executed": "addBatch" in durations,
    }


def progress_key(row: Mapping[str, Any]) -> tuple:
    """One progress report: a batch id repeats in the no-data reports while a query waits."""
    return row["run_id"], row["batch_id"], row["timestamp"]


class ProgressListener(StreamingQueryListener):
    """Logs every batch of the application's queries and queues it for meta.stream_progress."""

    def __init__(self, names: Sequence[str], log_batches: bool = True):
        self.names = set(names)
        self.log_batches = log_batches
        self.rows: "queue.Queue[dict[str, Any]]" = queue.Queue()
        self.observers: list = []  # called with every progress row, e.g. the Prometheus metrics

    def onQueryStarted(self, event):  # noqa: N802 (Spark's names)
        if event.name in self.names:
            log.info("query %s started (id %s, run %s)", event.name, event.id, event.runId)

    def onQueryProgress(self, event):  # noqa: N802
        try:
            p = event.progress
            if p.name not in self.names:
                return
            row = progress_row(p)
            self.rows.put(row)
            for observe in self.observers:
                observe(row)
            if self.log_batches:
                log.info("progress %s batch %d: %d rows, %.1f rows/s in, %.1f rows/s processed, %s ms, watermark %s",
                         row["query_name"], row["batch_id"], row["num_input_rows"], row["input_rows_per_second"],
                         row["processed_rows_per_second"], row["batch_duration_ms"], row["watermark"])
        except Exception:  # never break Spark's listener bus
            log.exception("could not record streaming progress")

    def onQueryIdle(self, event):  # noqa: N802
        pass

    def onQueryTerminated(self, event):  # noqa: N802
        if event.exception:
            log.error("query %s terminated with error: %s", event.id, event.exception.splitlines()[0])

    def drain(self) -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                out.append(self.rows.get_nowait())
            except queue.Empty:
                return out


class ProgressRecorder:
    """Appends the listener's rows to meta.stream_progress, each once, and counts this run's
    micro-batches and input rows per query (the run's metrics)."""

    def __init__(self, spark: SparkSession, config: Mapping[str, Any], listener: ProgressListener):
        self.spark = spark
        self.config = config
        self.listener = listener
        self._last_flush = time.monotonic()
        self._recorded: set[tuple] = set()  # progress_key() of the rows already in meta.stream_progress
        self.batches: dict[str, int] = {n: 0 for n in sorted(listener.names)}
        self.input_rows: dict[str, int] = {n: 0 for n in sorted(listener.names)}

    def _missed(self, queries: Iterable[StreamingQuery]) -> list[dict[str, Any]]:
        """Batches of this run's queries the listener has not delivered (yet): from each query's
        own recentProgress, which Spark fills synchronously, before the listener hears of a batch."""
        missed = []
        for q in queries:
            for p in q.recentProgress:
                row = progress_row(p)
                if progress_key(row) not in self._recorded:
                    missed.append(row)
                    if self.listener.log_batches:
                        log.info("progress %s batch %d: %d rows (the listener had not delivered it yet)",
                                 row["query_name"], row["batch_id"], row["num_input_rows"])
        return missed

    def flush(self, queries: Iterable[StreamingQuery], *, force: bool, every: float = 0.0,
              final: bool = False) -> None:
        """Write what the listener delivered (at most every ``every`` s unless ``force``);
        ``final``: also the batches it missed, once the queries have stopped."""
        if not force and time.monotonic() - self._last_flush < every:
            return
        self._last_flush = time.monotonic()
        rows = []
        for r in self.listener.drain():
            if progress_key(r) not in self._recorded:  # a batch recovered at the end may still be delivered
                self._recorded.add(progress_key(r))
                rows.append(r)
        if final:
            missed = self._missed(queries)
            self._recorded.update(progress_key(r) for r in missed)
            rows += missed
        if not rows:
            return
        for r in rows:
            self.batches[r["query_name"]] += int(r["executed"])
            self.input_rows[r["query_name"]] += r["num_input_rows"]
        df = self.spark.createDataFrame(
            [tuple(r[f.name] for f in schemas.STREAM_PROGRESS.fields) for r in rows], schemas.STREAM_PROGRESS)
        df.write.format("delta").mode("append").save(schemas.STREAM_PROGRESS_TABLE.path(self.config))
