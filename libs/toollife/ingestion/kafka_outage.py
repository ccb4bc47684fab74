"""Kafka going away while the ingestion runs: the outage clock and the failures it explains. Pure
(no pyspark, no sockets): the application probes the broker and hands the answers in."""

from __future__ import annotations

import re
from dataclasses import dataclass

PROBE_INTERVAL_S = 5.0  # how often the running application checks that a bootstrap server answers

# What Kafka's clients and Spark's Kafka source throw when no broker answers: the driver's offset
# look-ups ("Timed out waiting for a node assignment. Call: listNodes"), an executor's fetch
# ("Cannot fetch record for offset ... in ... milliseconds"), a connection dropped mid-request.
_KAFKA_UNREACHABLE = re.compile(
    r"org\.apache\.kafka\.common\.errors\.(?:TimeoutException|DisconnectException|NetworkException)[^\n]*"
    r"|Timed out waiting for a node assignment[^\n]*|Cannot fetch record for offset[^\n]*")


def kafka_unreachable_cause(error: str) -> str | None:
    """The line of a failed query's error that says Kafka did not answer, or None for other failures."""
    match = _KAFKA_UNREACHABLE.search(error or "")
    return match.group(0).strip() if match else None


@dataclass
class OutageClock:
    """When Kafka went away, for how long, and when that is longer than the tolerance.

    Pure bookkeeping over the caller's probes: :meth:`observe` returns ``"down"`` on the first
    failed probe, ``"up"`` on the first good one after it, ``"exceeded"`` while a probe fails more
    than ``tolerance_s`` after the first failed one, else None."""

    tolerance_s: float
    down_since: float | None = None
    outages: int = 0
    unreachable_s: float = 0.0    # all outages that ended
    last_outage_s: float = 0.0

    def observe(self, reachable: bool, now: float) -> str | None:
        if reachable:
            if self.down_since is None:
                return None
            self.last_outage_s = now - self.down_since
            self.unreachable_s += self.last_outage_s
            self.down_since = None
            return "up"
        if self.down_since is None:
            self.down_since = now
            self.outages += 1
            return "down"
        return "exceeded" if now - self.down_since > self.tolerance_s else None

    def down_for(self, now: float) -> float:
        return 0.0 if self.down_since is None else now - self.down_since
