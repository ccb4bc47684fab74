"""The Kafka edge of the live scorer: publish alerts on ``kafka.topics.tool_alerts``.

Each message is keyed by its deterministic ``alert_id`` and built from its gold.tool_alerts row,
so a re-send is byte-identical. The producer is idempotent (no duplicates from its own retries)
and every send is acknowledged (``acks=all``) before the alert is marked published. The only
window for a duplicate is a crash after Kafka acknowledged and before the mark committed: on its
first publish after a (re)start the scorer reads the topic back (:func:`keys_on_topic`) and marks
the alerts it finds there instead of sending them again.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Iterable, Mapping

from toollife.errors import UserError
from toollife.live import frames

log = logging.getLogger(__name__)


class AlertPublishError(UserError):
    """Kafka did not acknowledge the alerts (exit code 1); they stay pending and are sent on restart."""

    label = "error"


def topic(config: Mapping[str, Any]) -> str:
    return config["kafka"]["topics"]["tool_alerts"]


def producer_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """kafka-python settings: the connection and security of ``kafka`` (as the simulator's
    producer), idempotent, acks=all, no batching delay (an alert should leave at once)."""
    from toollife.simulation.publisher import producer_config

    settings = producer_config(config)
    pub = config["live"]["publish"]
    settings.update(client_id=pub["client_id"], acks=pub["acks"], linger_ms=0, enable_idempotence=True,
                    compression_type=None)
    return settings


def _consumer_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    settings = producer_settings(config)
    keep = ("bootstrap_servers", "security_protocol", "ssl_cafile", "sasl_mechanism", "sasl_plain_username",
            "sasl_plain_password")
    return {k: v for k, v in settings.items() if k in keep}


def keys_on_topic(config: Mapping[str, Any], timeout_s: float | None = None) -> set[str]:
    """Every key on the alerts topic, read from the beginning up to the end offsets of now."""
    from kafka import KafkaConsumer, TopicPartition

    timeout_s = float(config["live"]["publish"]["recovery_scan_timeout_s"] if timeout_s is None else timeout_s)
    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None, **_consumer_settings(config))
    try:
        parts = consumer.partitions_for_topic(topic(config)) or set()
        tps = [TopicPartition(topic(config), p) for p in sorted(parts)]
        if not tps:
            return set()
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        keys: set[str] = set()
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise AlertPublishError(f"could not read topic {topic(config)} back within {timeout_s:.0f}s "
                                        "(live.publish.recovery_scan_timeout_s); pending alerts were not re-sent")
            for records in consumer.poll(timeout_ms=500).values():
                keys.update(r.key.decode() for r in records if r.key is not None)
        return keys
    finally:
        consumer.close()


class AlertPublisher:
    """Sends pending alerts; one producer for the scorer's lifetime."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self._producer = None
        self.recovered = False   # the topic was read back since this process started

    def _get(self):
        if self._producer is None:
            from toollife.simulation.publisher import make_producer

            self._producer = make_producer(producer_settings(self.config))
        return self._producer

    def already_sent(self, alert_ids: Iterable[str]) -> set[str]:
        """Of ``alert_ids`` (pending in the table), those a previous process sent before it died:
        checked once per process, as only a crash leaves a sent alert unmarked."""
        ids = set(alert_ids)
        if self.recovered or not ids:
            return set()
        found = keys_on_topic(self.config) & ids
        self.recovered = True
        if found:
            log.warning("%d alert(s) were on %s but not marked published (a crash between send and mark): "
                        "marking them, not re-sending", len(found), topic(self.config))
        return found

    def send(self, rows: list[Mapping[str, Any]]) -> None:
        """Send and wait for Kafka's acknowledgement of every one; raises AlertPublishError."""
        if not rows:
            return
        from kafka.errors import KafkaError

        producer = self._get()
        name = topic(self.config)
        timeout = float(self.config["live"]["publish"]["timeout_s"])
        try:
            futures = [producer.send(name, key=r["alert_id"].encode(),
                                     value=json.dumps(frames.alert_message(r), sort_keys=True).encode())
                       for r in rows]
            producer.flush(timeout=timeout)
            for f in futures:
                f.get(timeout=timeout)
        except KafkaError as exc:
            raise AlertPublishError(f"publishing {len(rows)} alert(s) to {name} failed: {type(exc).__name__}: {exc}; "
                                    "they stay pending and are sent by the next batch or restart") from None
        self.recovered = True   # after a successful send, only this process's own sends are on the topic unmarked

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None
