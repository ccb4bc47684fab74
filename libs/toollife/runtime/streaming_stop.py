"""Stopping a Structured Streaming application without losing or repeating a micro-batch.

A stop is asked for by SIGTERM/SIGINT (once :meth:`StopRequest.install_signal_handlers` ran in
the main thread) or by code (:meth:`StopRequest.request`); the application's main loop sees it
and calls :func:`stop_gracefully`: every query's running micro-batch commits, then the query
stops, so the next run starts exactly after it. :func:`stop_all` is the clean-up in a
``finally``: whatever is still running is stopped, without masking the error being raised.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any, Iterable

log = logging.getLogger(__name__)


class StopRequest:
    """A graceful stop that was asked for: what SIGTERM/SIGINT set and a main loop watches."""

    def __init__(self, finishing: str = "the running micro-batches"):
        self.finishing = finishing  # what the stop waits for, in the one log line it writes
        self._event = threading.Event()

    def request(self, *_: Any) -> None:
        """Ask for a graceful stop (signal-handler compatible)."""
        if not self._event.is_set():
            log.warning("stop requested: finishing %s, then stopping", self.finishing)
        self._event.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT -> :meth:`request` (main thread only)."""
        signal.signal(signal.SIGTERM, self.request)
        signal.signal(signal.SIGINT, self.request)

    @property
    def requested(self) -> bool:
        return self._event.is_set()


def stop_gracefully(queries: Iterable[Any], timeout_s: float) -> None:
    """Let each query's running micro-batch finish, then stop the query; a batch still running
    ``timeout_s`` after the call is interrupted (its checkpoint then repeats it next run)."""
    deadline = time.monotonic() + float(timeout_s)
    for q in queries:
        while q.isActive and q.status.get("isTriggerActive") and time.monotonic() < deadline:
            time.sleep(0.2)
        if q.isActive:
            q.stop()
            log.info("query %s stopped after batch %s", q.name, (q.lastProgress or {}).get("batchId"))


def stop_all(queries: Iterable[Any]) -> None:
    """Stop every query still active; an error while stopping is logged, not raised (the
    application is already ending, maybe on an error of its own that must stay the one reported)."""
    for q in queries:
        if q.isActive:
            try:
                q.stop()
            except Exception:  # noqa: BLE001
                log.exception("stopping %s", q.name)
