"""Spark Kafka source options from conf + environment, with secrets kept out of logs.

Conf names the *environment variables* that hold secrets (``kafka.security.username_env``,
``password_env``, ``truststore_password_env``); the values are read here, at start-up, and only
handed to Spark's reader. :class:`KafkaOptions` behaves like a dict for Spark but its ``repr``/
``str``/:meth:`redacted` mask every secret, so logging the options never leaks one. Spark's own
plan strings are covered by ``spark.sql.redaction.options.regex`` (see :data:`REDACTION_REGEX`).
"""

from __future__ import annotations

import os
import re
import socket
import time
from typing import Any, Mapping

from toollife.config import ConfigError
from toollife.errors import UnreachableError

# option keys whose values are secret (also what streaming.py gives spark.sql.redaction.options.regex)
REDACTION_REGEX = r"(?i)url|password|secret|token|jaas|sasl\.jaas\.config|truststore\.password|keystore\.password|key\.password"
_SECRET_KEY = re.compile(REDACTION_REGEX.replace("url|", ""))
MASK = "*********(redacted)"

LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


class KafkaConfigError(ConfigError):
    """Security settings incomplete; names the setting or environment variable, never a secret."""


def _host_port(server: str) -> tuple[str, int]:
    host, sep, port = server.strip().rpartition(":")
    if not sep or not port.isdigit():
        raise KafkaConfigError(f"kafka.bootstrap_servers: {server.strip()!r} is not host:port")
    return host.strip("[]"), int(port)


def bootstrap_addresses(config: Mapping[str, Any]) -> list[tuple[str, int]]:
    """``kafka.bootstrap_servers`` as (host, port) pairs; a one-line conf error when malformed."""
    servers = [s for s in str(config["kafka"]["bootstrap_servers"]).split(",") if s.strip()]
    if not servers:
        raise KafkaConfigError("kafka.bootstrap_servers is empty")
    return [_host_port(s) for s in servers]


def servers_text(config: Mapping[str, Any]) -> str:
    """The bootstrap servers as the user wrote them, for messages."""
    return ",".join(s.strip() for s in str(config["kafka"]["bootstrap_servers"]).split(",") if s.strip())


def probe(addresses: list[tuple[str, int]], timeout_s: float = 2.0) -> tuple[str | None, str]:
    """One TCP connect per bootstrap server: (the first that accepted, "") or (None, why the last
    one did not). Only a connection, whatever the security protocol: cheap enough to repeat."""
    reason = ""
    for host, port in addresses:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return f"{host}:{port}", ""
        except OSError as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
    return None, reason


def check_reachable(config: Mapping[str, Any], timeout_s: float | None = None) -> str:
    """Fail fast, in one line, when no bootstrap server accepts a connection.

    A TCP connect per server (whatever the security protocol), retried until ``timeout_s``
    (``ingestion.kafka.connect_timeout_s``). Without it Spark's Kafka source retries for minutes
    and its error (``Timed out waiting for a node assignment``) never says the broker is down.
    Returns the server that answered.
    """
    addresses = bootstrap_addresses(config)
    timeout_s = float(config["ingestion"]["kafka"]["connect_timeout_s"] if timeout_s is None else timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        server, reason = probe(addresses, timeout_s=min(2.0, max(timeout_s, 0.1)))
        if server is not None:
            return server
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    raise UnreachableError(
        f"cannot reach Kafka at {servers_text(config)} ({reason}, for {timeout_s:g} s); "
        "is the broker running? `toollife kafka up` starts the local one, or set kafka.bootstrap_servers "
        "(TOOLLIFE__KAFKA__BOOTSTRAP_SERVERS)")


KAFKA_API_TIMEOUT_MS = 60_000      # Kafka's default.api.timeout.ms
SPARK_POLL_TIMEOUT_MS = 120_000    # Spark's kafkaConsumer.pollTimeoutMs (spark.network.timeout)


def outage_options(tolerance_s: float) -> dict[str, str]:
    """Spark Kafka source options under which no Kafka client call gives up during a broker outage
    of ``tolerance_s`` (``ingestion.kafka.outage_tolerance_s``): the application's own watchdog
    (:mod:`toollife.ingestion.streaming`) decides when an outage is too long, with a message that
    names the broker.

    With the broker gone every blocking client call waits ``kafka.default.api.timeout.ms`` (60 s):
    the driver's offset look-up (Spark retries it ``fetchOffset.numRetries``, 3, times, then fails
    the query), and an executor's consumer looking up its position or the partition's offsets
    (the task fails at once, and under local[N] the query with it). A record fetch waits up to
    ``kafkaConsumer.pollTimeoutMs`` (120 s). Both become the tolerance plus a minute.
    """
    timeout_ms = max(0, int(tolerance_s * 1000)) + KAFKA_API_TIMEOUT_MS
    return {
        "kafka.default.api.timeout.ms": str(timeout_ms),
        "kafkaConsumer.pollTimeoutMs": str(max(SPARK_POLL_TIMEOUT_MS, timeout_ms)),
    }


class KafkaOptions(dict):
    """A plain ``dict`` of options whose printable forms hide the secret values."""

    def redacted(self) -> dict[str, str]:
        return {k: (MASK if _SECRET_KEY.search(k) else v) for k, v in self.items()}

    def __repr__(self) -> str:
        return f"KafkaOptions({self.redacted()!r})"

    __str__ = __repr__


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _secret(environ: Mapping[str, str], env_name: str | None, what: str) -> str:
    if not env_name:
        raise KafkaConfigError(f"kafka.security.{what} names no environment variable")
    value = environ.get(env_name)
    if not value:
        raise KafkaConfigError(f"environment variable {env_name} (kafka.security.{what}) is not set")
    return value


def security_options(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``kafka.*`` client security settings for the Spark Kafka source/sink."""
    environ = os.environ if environ is None else environ
    sec = config["kafka"]["security"]
    protocol = (sec.get("protocol") or "PLAINTEXT").upper()
    if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        raise KafkaConfigError(f"kafka.security.protocol {protocol!r} is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL")
    opts: dict[str, str] = {"kafka.security.protocol": protocol}
    if protocol.startswith("SASL"):
        mechanism = (sec.get("sasl_mechanism") or "").upper()
        if mechanism not in LOGIN_MODULES:
            raise KafkaConfigError(
                f"kafka.security.sasl_mechanism must be one of {', '.join(LOGIN_MODULES)} for {protocol}, "
                f"got {sec.get('sasl_mechanism')!r}")
        user = _secret(environ, sec.get("username_env"), "username_env")
        password = _secret(environ, sec.get("password_env"), "password_env")
        opts["kafka.sasl.mechanism"] = mechanism
        opts["kafka.sasl.jaas.config"] = (
            f"{LOGIN_MODULES[mechanism]} required username={_jaas_quote(user)} password={_jaas_quote(password)};")
    if protocol in ("SSL", "SASL_SSL") and sec.get("truststore_location"):
        location = sec["truststore_location"]
        opts["kafka.ssl.truststore.location"] = location
        lower = location.lower()
        if lower.endswith((".pem", ".crt")):
            opts["kafka.ssl.truststore.type"] = "PEM"
        else:
            if lower.endswith((".p12", ".pfx")):
                opts["kafka.ssl.truststore.type"] = "PKCS12"
            opts["kafka.ssl.truststore.password"] = _secret(
                environ, sec.get("truststore_password_env"), "truststore_password_env")
    return opts


def source_options(
    config: Mapping[str, Any],
    topic: str,
    *,
    environ: Mapping[str, str] | None = None,
    max_offsets_per_trigger: int | None = -1,
) -> KafkaOptions:
    """Everything ``spark.readStream.format("kafka").options(**opts)`` needs for one topic.

    ``max_offsets_per_trigger=-1`` (default) takes the conf value; ``None`` means unlimited.
    """
    ing = config["ingestion"]["kafka"]
    opts = KafkaOptions({
        "kafka.bootstrap.servers": config["kafka"]["bootstrap_servers"],
        "subscribe": topic,
        "startingOffsets": str(ing["starting_offsets"]),
        "failOnDataLoss": str(bool(ing["fail_on_data_loss"])).lower(),
        "groupIdPrefix": str(ing["group_id_prefix"]),
        "includeHeaders": "false",
    })
    limit = ing["max_offsets_per_trigger"] if max_offsets_per_trigger == -1 else max_offsets_per_trigger
    if limit:
        opts["maxOffsetsPerTrigger"] = str(int(limit))
    if ing["min_partitions"]:
        opts["minPartitions"] = str(int(ing["min_partitions"]))
    opts.update(outage_options(float(ing["outage_tolerance_s"])))
    opts.update(security_options(config, environ))
    return opts
