"""Session-scoped fixtures shared by every test: one local SparkSession (Delta-enabled, few
shuffle partitions) and, for integration tests, one real KRaft Kafka broker on a free port.

Per-test isolation comes from per-test lakehouse roots (``lakehouse_config``), not new sessions.
"""

from __future__ import annotations

import copy
import os
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TOOLLIFE_CONF_DIR", str(REPO / "conf"))


@pytest.fixture(scope="session")
def base_config(tmp_path_factory):
    """conf/local.yaml with the lakehouse moved to a temp dir and test-sized Spark settings."""
    from toollife.config import load_config

    root = tmp_path_factory.mktemp("lakehouse")
    return load_config(
        "local",
        overrides={
            "lakehouse": {"root": str(root / "tables"), "checkpoint_root": str(root / "checkpoints")},
            "spark": {
                "shuffle_partitions": 2,
                "app_name": "toollife-tests",
                "extra_conf": {
                    "spark.ui.enabled": "false",
                    "spark.databricks.delta.snapshotPartitions": "2",
                    "spark.sql.adaptive.enabled": "true",
                },
            },
        },
    )


@pytest.fixture(scope="session")
def spark(base_config):
    from toollife.runtime.session import get_spark

    session = get_spark(base_config)
    yield session
    session.stop()


@pytest.fixture
def lakehouse_config(base_config, tmp_path):
    """A config whose lakehouse and checkpoints live in this test's own temp dir."""
    config = copy.deepcopy(base_config)
    config["lakehouse"]["root"] = str(tmp_path / "tables")
    config["lakehouse"]["checkpoint_root"] = str(tmp_path / "checkpoints")
    return config


@pytest.fixture(scope="session")
def kafka_broker(base_config, tmp_path_factory):
    """A real single-node KRaft broker on a free port, for the whole test session."""
    from toollife.services.kafka_local import start_on_free_port

    broker = start_on_free_port(base_config, lambda _: str(tmp_path_factory.mktemp("kafka") / "data"))
    yield broker
    broker.stop()


@pytest.fixture
def kafka_config(lakehouse_config, kafka_broker):
    """``lakehouse_config`` pointed at the session's broker, with topics of this test's own."""
    config = copy.deepcopy(lakehouse_config)
    config["kafka"]["bootstrap_servers"] = kafka_broker.bootstrap_servers
    suffix = uuid.uuid4().hex[:8]
    config["kafka"]["topics"] = {key: f"{name}-{suffix}" for key, name in config["kafka"]["topics"].items()}
    kafka_broker.create_topics(config["kafka"]["topics"].values(), config["kafka"]["partitions"])
    return config
