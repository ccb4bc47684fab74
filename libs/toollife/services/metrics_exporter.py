"""`toollife metrics`: the lakehouse's job runs (meta.job_runs) as Prometheus metrics.

Batch jobs end before any scrape, so their record in the lakehouse is what Prometheus sees: read
afresh with delta-rs (no Spark) at every scrape and served with :mod:`toollife.runtime.prometheus`.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Mapping

import pandas as pd

from toollife.config import job_config
from toollife.lakehouse import reader
from toollife.runtime.prometheus import Registry, serve


def job_runs_registry(config: Mapping[str, Any]) -> Registry:
    """meta.job_runs as metrics, read now with delta-rs (no Spark): per job the runs by status, when
    each status last happened, and the duration and outcome of the latest run. Batch jobs end before
    any scrape, so their record in the lakehouse is what Prometheus sees."""
    r = Registry()
    r.describe("toollife_job_runs_total", "counter", "runs recorded in meta.job_runs, by job and status")
    r.describe("toollife_job_last_finished_timestamp_seconds", "gauge", "when a run of this job last ended with this status")
    r.describe("toollife_job_last_duration_seconds", "gauge", "duration of the job's latest run")
    r.describe("toollife_job_last_run_succeeded", "gauge", "1 if the job's latest run succeeded, else 0")
    r.describe("toollife_job_runs_readable", "gauge", "1 if meta.job_runs could be read (0: missing or unreadable)")
    read = reader.read(config, "meta.job_runs", columns=["job", "status", "started_at", "finished_at", "duration_s"])
    r.set("toollife_job_runs_readable", 1.0 if read.frame is not None else 0.0)
    if read.frame is None or read.frame.empty:
        return r
    runs = read.frame.assign(finished_at=pd.to_datetime(read.frame["finished_at"], utc=True),
                             started_at=pd.to_datetime(read.frame["started_at"], utc=True))
    for (job, status), g in runs.groupby(["job", "status"], sort=True):
        r.inc("toollife_job_runs_total", len(g), job=job, status=status)
        last = g["finished_at"].max()
        if pd.notna(last):
            r.set("toollife_job_last_finished_timestamp_seconds", last.timestamp(), job=job, status=status)
    for job, g in runs.sort_values("started_at").groupby("job", sort=True):
        latest = g.iloc[-1]
        if pd.notna(latest["duration_s"]):
            r.set("toollife_job_last_duration_seconds", float(latest["duration_s"]), job=job)
        r.set("toollife_job_last_run_succeeded", 1.0 if latest["status"] == "succeeded" else 0.0, job=job)
    return r


class JobRunsExporter:
    """Renders :func:`job_runs_registry` afresh at every scrape."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = config

    def render(self) -> str:
        return job_runs_registry(self.config).render()


def add_arguments(parser, env: str | None = None) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9109, help="port of /metrics")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one conf value, e.g. lakehouse.root=/data/lakehouse (repeatable)")


def run(args) -> int:
    """`toollife metrics`: serve meta.job_runs as Prometheus metrics until Ctrl-C / SIGTERM."""
    config = job_config(args.env, None, args.overrides)
    server = serve(JobRunsExporter(config), args.host, args.port)
    print(f"toollife metrics: job runs of {config['lakehouse']['root']} at "
          f"http://{args.host}:{server.server_address[1]}/metrics; Ctrl-C stops it", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    return 0
