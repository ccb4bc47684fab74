"""The ingestion's own Prometheus metrics (conf ``metrics.enabled``), fed by the two hooks the
application already has: every silver batch's counters (:class:`.silver.SilverBatchWriter`'s
observers) and every query's progress (:class:`.progress.ProgressListener`'s observers).

Served at ``http://<metrics.host>:<metrics.port>/metrics`` beside Spark's own PrometheusServlet
(``toollife.runtime.prometheus``). Counters start at 0 with the process, as Prometheus expects (``rate()`` and
``increase()`` handle restarts); the lasting record stays meta.ingest_batch_stats / silver.quarantine.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Mapping

from toollife.ingestion.contract_rules import REASON_CODES
from toollife.runtime.prometheus import Registry, serve

P = "toollife_ingest_"


def _epoch(ts: datetime | None) -> float | None:
    if ts is None:
        return None
    # Spark hands timestamps to Python as naive local datetimes of the session time zone (UTC here)
    return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).timestamp()


class IngestionMetrics:
    """Collects and serves the metrics of one ingestion application."""

    def __init__(self, config: Mapping[str, Any], sources: list[str]):
        self.config = config
        self.registry = r = Registry()
        r.describe(P + "quarantined_total", "counter", "records sent to silver.quarantine, by source and reason code")
        r.describe(P + "rows_total", "counter", "bronze rows a silver batch read, by source and outcome "
                   "(silver, quarantined, duplicate, late = accepted but older than the watermark)")
        r.describe(P + "silver_batches_total", "counter", "silver micro-batches committed, by source")
        r.describe(P + "event_time_lag_seconds", "gauge", "written time of the last silver batch minus the newest "
                   "event time it held, by source (how far behind the machines the tables are)")
        r.describe(P + "last_event_timestamp_seconds", "gauge", "newest event time ingested so far, by source")
        r.describe(P + "last_batch_timestamp_seconds", "gauge", "when the last silver batch was written, by source")
        r.describe(P + "input_rows_per_second", "gauge", "input rate of the last micro-batch, by query")
        r.describe(P + "processed_rows_per_second", "gauge", "processing rate of the last micro-batch, by query")
        r.describe(P + "batch_duration_seconds", "gauge", "duration of the last micro-batch, by query")
        r.describe(P + "input_rows_total", "counter", "rows read by the micro-batches, by query")
        for source in sources:   # every series from the start, so rate() has a 0 to begin with
            for reason in REASON_CODES:
                r.inc(P + "quarantined_total", 0, source=source, reason=reason)
            for outcome in ("silver", "quarantined", "duplicate", "late"):
                r.inc(P + "rows_total", 0, source=source, outcome=outcome)
            r.inc(P + "silver_batches_total", 0, source=source)
        self.server = None

    # -- hooks -----------------------------------------------------------------------------------
    def observe_batch(self, stats: Mapping[str, Any], quarantined_by_reason: Mapping[str, int]) -> None:
        """A committed silver batch: its meta.ingest_batch_stats row and its quarantine counts per reason."""
        r, source = self.registry, stats["source"]
        for reason, n in quarantined_by_reason.items():
            r.inc(P + "quarantined_total", n, source=source, reason=reason)
        r.inc(P + "rows_total", stats["silver_rows"], source=source, outcome="silver")
        r.inc(P + "rows_total", stats["quarantined"], source=source, outcome="quarantined")
        r.inc(P + "rows_total", stats["duplicates_dropped"], source=source, outcome="duplicate")
        r.inc(P + "rows_total", stats["late_rows"], source=source, outcome="late")
        r.inc(P + "silver_batches_total", 1, source=source)
        written = _epoch(stats.get("written_at")) or time.time()
        r.set(P + "last_batch_timestamp_seconds", written, source=source)
        newest = _epoch(stats.get("max_event_ts"))
        if newest is not None:
            r.set(P + "last_event_timestamp_seconds", newest, source=source)
            r.set(P + "event_time_lag_seconds", written - newest, source=source)

    def observe_progress(self, row: Mapping[str, Any]) -> None:
        """A meta.stream_progress row (toollife.ingestion.progress.progress_row)."""
        if not row.get("executed"):
            return
        r, query = self.registry, row["query_name"]
        r.set(P + "input_rows_per_second", row["input_rows_per_second"], query=query)
        r.set(P + "processed_rows_per_second", row["processed_rows_per_second"], query=query)
        if row.get("batch_duration_ms") is not None:
            r.set(P + "batch_duration_seconds", row["batch_duration_ms"] / 1000.0, query=query)
        r.inc(P + "input_rows_total", row["num_input_rows"], query=query)

    # -- serving ---------------------------------------------------------------------------------
    def start(self) -> str:
        cfg = self.config["metrics"]
        self.server = serve(self.registry, cfg["host"], int(cfg["port"]))
        return f"http://{cfg['host']}:{self.server.server_address[1]}/metrics"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
