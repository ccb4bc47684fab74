"""Kafka source options: conf + environment -> Spark options; secrets never in printable forms."""

from __future__ import annotations

import copy
import logging

import pytest

from toollife.config import load_config
from toollife.ingestion.kafka_options import KafkaConfigError, source_options

SECRET_PW = "s3cr3t-Pa55"
SECRET_TS = "trust-me-123"


@pytest.fixture
def config():
    return load_config("local", environ={})


def sasl_ssl(config, mechanism="SCRAM-SHA-512", truststore="/etc/kafka/truststore.jks"):
    cfg = copy.deepcopy(config)
    cfg["kafka"]["security"].update(protocol="SASL_SSL", sasl_mechanism=mechanism, truststore_location=truststore)
    return cfg


ENV = {"TOOLLIFE_KAFKA_USERNAME": "ingest", "TOOLLIFE_KAFKA_PASSWORD": SECRET_PW,
       "TOOLLIFE_KAFKA_TRUSTSTORE_PASSWORD": SECRET_TS}


def test_plaintext_defaults(config):
    opts = source_options(config, "sensor-readings", environ={})
    assert opts["subscribe"] == "sensor-readings"
    assert opts["kafka.security.protocol"] == "PLAINTEXT"
    assert opts["startingOffsets"] == "earliest" and opts["failOnDataLoss"] == "true"
    assert opts["maxOffsetsPerTrigger"] == str(config["ingestion"]["kafka"]["max_offsets_per_trigger"])
    assert "kafka.sasl.jaas.config" not in opts
    assert "maxOffsetsPerTrigger" not in source_options(config, "t", environ={}, max_offsets_per_trigger=None)


def test_sasl_ssl_scram_with_truststore_secrets_only_in_the_options(config, caplog):
    opts = source_options(sasl_ssl(config), "sensor-readings", environ=ENV)
    assert opts["kafka.security.protocol"] == "SASL_SSL"
    assert opts["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert opts["kafka.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="ingest" '
        f'password="{SECRET_PW}";')
    assert opts["kafka.ssl.truststore.location"] == "/etc/kafka/truststore.jks"
    assert opts["kafka.ssl.truststore.password"] == SECRET_TS
    # every printable form is redacted
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("options: %s", opts)
        logging.getLogger("test").info("options: %r", opts)
    for text in (repr(opts), str(opts), str(opts.redacted()), f"{opts}", caplog.text):
        assert SECRET_PW not in text and SECRET_TS not in text
        assert "redacted" in text
    assert "/etc/kafka/truststore.jks" in repr(opts)  # non-secrets stay readable
    assert dict(opts)["kafka.ssl.truststore.password"] == SECRET_TS  # what Spark gets


def test_pem_truststore_needs_no_password_and_plain_mechanism(config):
    opts = source_options(sasl_ssl(config, "PLAIN", "/etc/kafka/ca.pem"), "t",
                          environ={"TOOLLIFE_KAFKA_USERNAME": "u", "TOOLLIFE_KAFKA_PASSWORD": 'p"w'})
    assert opts["kafka.ssl.truststore.type"] == "PEM"
    assert "kafka.ssl.truststore.password" not in opts
    assert opts["kafka.sasl.jaas.config"].startswith("org.apache.kafka.common.security.plain.PlainLoginModule")
    assert 'password="p\\"w"' in opts["kafka.sasl.jaas.config"]


def test_missing_secret_names_the_variable_not_a_value(config):
    with pytest.raises(KafkaConfigError, match="TOOLLIFE_KAFKA_PASSWORD"):
        source_options(sasl_ssl(config), "t", environ={"TOOLLIFE_KAFKA_USERNAME": "u"})
    with pytest.raises(KafkaConfigError, match="sasl_mechanism"):
        source_options(sasl_ssl(config, mechanism=None), "t", environ=ENV)


def test_env_overrides_reach_ingestion_options():
    cfg = load_config("local", environ={"TOOLLIFE__INGESTION__KAFKA__MAX_OFFSETS_PER_TRIGGER": "500",
                                        "TOOLLIFE__INGESTION__TRIGGER__MODE": "available_now",
                                        "TOOLLIFE__INGESTION__SOURCES": "[tool_events]"})
    assert cfg["ingestion"]["kafka"]["max_offsets_per_trigger"] == 500
    assert cfg["ingestion"]["trigger"]["mode"] == "available_now"
    assert cfg["ingestion"]["sources"] == ["tool_events"]


def test_outage_options_let_every_kafka_call_outlast_the_tolerance(config):
    from toollife.ingestion.kafka_options import outage_options

    for tolerance_s in (0, 20, 300, 1800):
        opts = outage_options(tolerance_s)
        # the driver's offset look-ups and the executors' position look-ups: one call outlasts it
        assert int(opts["kafka.default.api.timeout.ms"]) >= tolerance_s * 1000 + 60_000
        assert int(opts["kafkaConsumer.pollTimeoutMs"]) >= tolerance_s * 1000 + 60_000   # a record fetch too
        assert "fetchOffset.numRetries" not in opts     # Spark's 3 stay, for its other transient errors
    assert outage_options(0) == {"kafka.default.api.timeout.ms": "60000", "kafkaConsumer.pollTimeoutMs": "120000"}
    opts = source_options(config, "t", environ={})
    assert opts["kafka.default.api.timeout.ms"] == str((config["ingestion"]["kafka"]["outage_tolerance_s"] + 60) * 1000)


def test_bootstrap_servers_are_parsed_and_shown_as_written(config):
    from toollife.ingestion.kafka_options import bootstrap_addresses, servers_text

    cfg = copy.deepcopy(config)
    cfg["kafka"]["bootstrap_servers"] = "b1:9092, [::1]:9093,"
    assert bootstrap_addresses(cfg) == [("b1", 9092), ("::1", 9093)]
    assert servers_text(cfg) == "b1:9092,[::1]:9093"
    cfg["kafka"]["bootstrap_servers"] = "b1"
    with pytest.raises(KafkaConfigError, match="not host:port"):
        bootstrap_addresses(cfg)
