"""Publish simulated messages to Kafka with kafka-python.

acks=all (idempotent producer), batching + linger, gzip compression (the codec kafka-python
supports with no extra library; lz4/zstd/snappy need python packages not installed here), a
progress bar on a TTY, an optional rate limit, and a flush at the end whose outcome is reported
per topic. An unreachable broker fails within ``publish.bootstrap_timeout_ms`` with a clear error
instead of hanging. Security settings come from ``kafka.security``; secrets only from the
environment variables it names, and they are never logged.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from toollife.errors import UserError
from toollife.simulation.messages import TOPICS, Message

log = logging.getLogger(__name__)

SECRET_KEYS = ("sasl_plain_password", "ssl_password")
COMPRESSION_LIBS = {"gzip": None, "lz4": "lz4", "zstd": "zstandard", "snappy": "snappy"}


class PublishError(UserError, RuntimeError):
    """Publishing failed; the message says why (never contains a secret)."""


@dataclass
class PublishReport:
    topics: dict[str, str]  # logical -> Kafka topic name
    sent: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TOPICS})
    delivered: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TOPICS})
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    seconds: float = 0.0

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    @property
    def total_delivered(self) -> int:
        return sum(self.delivered.values())

    @property
    def rate(self) -> float:
        return self.total_delivered / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.total_delivered == self.total_sent

    def as_dict(self) -> dict[str, Any]:
        return {"topics": dict(self.topics), "sent": dict(self.sent), "delivered": dict(self.delivered),
                "failed": self.failed, "errors": list(self.errors[:10]), "bytes_sent": self.bytes_sent,
                "seconds": round(self.seconds, 3), "messages_per_s": round(self.rate, 1)}


def _compression_available(codec: str | None) -> bool:
    if codec in (None, "none", "gzip"):
        return True
    module = COMPRESSION_LIBS.get(codec)
    if module is None:
        return False
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def producer_config(config: Mapping[str, Any], *, bootstrap_servers: str | None = None,
                    environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """kafka-python KafkaProducer settings from ``kafka`` + ``simulation.publish`` (pure)."""
    environ = os.environ if environ is None else environ
    kafka, pub = config["kafka"], config["simulation"]["publish"]
    codec = pub["compression_type"]
    codec = None if codec in (None, "none") else codec
    if not _compression_available(codec):
        raise PublishError(f"compression '{codec}' needs the python package '{COMPRESSION_LIBS.get(codec)}', "
                           "which is not installed: use gzip (simulation.publish.compression_type)")
    settings: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in (bootstrap_servers or kafka["bootstrap_servers"]).split(",") if s.strip()],
        "client_id": pub["client_id"],
        "acks": pub["acks"],
        "compression_type": codec,
        "linger_ms": int(pub["linger_ms"]),
        "batch_size": int(pub["batch_size"]),
        "max_request_size": int(pub["max_request_size"]),
        "max_block_ms": int(pub["max_block_ms"]),
        "request_timeout_ms": int(pub["request_timeout_ms"]),
        "delivery_timeout_ms": int(pub["delivery_timeout_ms"]),
        "bootstrap_timeout_ms": int(pub["bootstrap_timeout_ms"]),
        "reconnect_backoff_max_ms": 1000,
    }
    sec = kafka["security"]
    protocol = (sec["protocol"] or "PLAINTEXT").upper()
    settings["security_protocol"] = protocol
    if protocol in ("SSL", "SASL_SSL") and sec.get("ssl_cafile"):
        settings["ssl_cafile"] = sec["ssl_cafile"]
    if protocol.startswith("SASL"):
        if not sec.get("sasl_mechanism"):
            raise PublishError(f"kafka.security.protocol={protocol} needs kafka.security.sasl_mechanism")
        settings["sasl_mechanism"] = sec["sasl_mechanism"]
        for setting, env_key in (("sasl_plain_username", "username_env"), ("sasl_plain_password", "password_env")):
            var = sec.get(env_key)
            if not var or not environ.get(var):
                raise PublishError(f"kafka.security.{env_key} names environment variable {var!r}, "
                                   f"which is not set (needed for {protocol}/{sec['sasl_mechanism']})")
            settings[setting] = environ[var]
    return settings


def redacted(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in SECRET_KEYS and v else v) for k, v in settings.items()}


def make_producer(settings: Mapping[str, Any]):
    """A connected KafkaProducer, or PublishError quickly if the broker cannot be reached."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    servers = ",".join(settings["bootstrap_servers"])
    log.debug("kafka producer settings: %s", redacted(settings))
    started = time.monotonic()
    try:
        return KafkaProducer(**settings)
    except (KafkaError, OSError) as exc:
        waited = time.monotonic() - started
        raise PublishError(
            f"cannot reach Kafka at {servers} (gave up after {waited:.1f}s: {type(exc).__name__}: {exc}); "
            "is the broker running (`toollife kafka up` / `make kafka-up`) and is "
            "kafka.bootstrap_servers / --bootstrap-servers right?") from None


def _partition_for(producer, topic: str, key: bytes) -> int:
    """The partition Kafka's default partitioner picks for ``key`` (murmur2, as the Java client),
    computed once per key instead of once per message (kafka-python does it in pure Python)."""
    parts = producer.partitions_for(topic)  # waits up to max_block_ms for the topic's metadata
    if not parts:
        from kafka.errors import KafkaTimeoutError

        raise KafkaTimeoutError(f"topic '{topic}' has no partitions (does it exist?)")
    from kafka.partitioner.default import murmur2

    ordered = sorted(parts)
    return ordered[(murmur2(key) & 0x7FFFFFFF) % len(ordered)]


class _Progress:
    def __init__(self, total: int | None, enabled: bool | None):
        self.bar = None
        if enabled is None:
            enabled = sys.stderr.isatty()
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="msg", unit_scale=True, file=sys.stderr, desc="publishing")
        self.pending = 0

    def tick(self, n: int = 1) -> None:
        if self.bar is not None:
            self.pending += n
            if self.pending >= 2000:
                self.bar.update(self.pending)
                self.pending = 0

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.pending)
            self.bar.close()


def publish(messages: Iterable[Message], config: Mapping[str, Any], *, bootstrap_servers: str | None = None,
            total: int | None = None, progress: bool | None = None, rate_limit: float | None = None,
            producer=None) -> PublishReport:
    """Send every message (key = machine_id, value = payload) to its topic, flush, report.

    ``progress``: None = a bar only when stderr is a TTY. ``rate_limit`` messages/s (None: from
    ``simulation.publish.rate_limit``; 0 = unlimited). Raises PublishError if the broker is
    unreachable or the final flush times out; individual delivery failures are counted.
    """
    from kafka.errors import KafkaError

    pub = config["simulation"]["publish"]
    topics = {t: config["kafka"]["topics"][t] for t in TOPICS}
    report = PublishReport(topics=topics)
    rate = float(pub["rate_limit"] if rate_limit is None else rate_limit)
    own_producer = producer is None
    if own_producer:
        producer = make_producer(producer_config(config, bootstrap_servers=bootstrap_servers))

    delivered, failed_errors = report.delivered, report.errors

    def on_error(exc: BaseException) -> None:
        report.failed += 1
        if len(failed_errors) < 10:
            failed_errors.append(f"{type(exc).__name__}: {exc}")

    bar = _Progress(total, progress)
    started = time.monotonic()
    try:
        sent = report.sent
        nbytes = 0
        partitions: dict[tuple[str, bytes], int] = {}
        for i, m in enumerate(messages):
            if rate > 0:
                ahead = started + i / rate - time.monotonic()
                if ahead > 0.001:
                    time.sleep(ahead)
            try:
                partition = partitions.get((m.topic, m.key))
                if partition is None:  # once per topic x machine: the default (murmur2) partitioner's choice
                    partition = partitions[(m.topic, m.key)] = _partition_for(producer, topics[m.topic], m.key)
                future = producer.send(topics[m.topic], key=m.key, value=m.value, partition=partition)
            except KafkaError as exc:
                raise PublishError(f"sending to topic '{topics[m.topic]}' failed after "
                                   f"{pub['max_block_ms']} ms: {type(exc).__name__}: {exc}") from None
            topic = m.topic
            future.add_callback(lambda _md, t=topic: delivered.__setitem__(t, delivered[t] + 1))
            future.add_errback(on_error)
            sent[topic] += 1
            nbytes += len(m.value)
            bar.tick()
        report.bytes_sent = nbytes
        try:
            producer.flush(timeout=float(pub["flush_timeout_s"]))
        except KafkaError as exc:
            raise PublishError(f"flush did not complete within {pub['flush_timeout_s']} s: {exc}") from None
    finally:
        bar.close()
        report.seconds = time.monotonic() - started
        if own_producer:
            producer.close(timeout=5)
    log.info("published %d messages (%s) in %.1f s, %.0f msg/s, %d failed", report.total_delivered,
             ", ".join(f"{topics[t]}={report.delivered[t]}" for t in TOPICS), report.seconds, report.rate,
             report.failed)
    return report
