"""Session-scoped fixtures shared by every test: one local SparkSession (Delta-enabled, few
shuffle partitions), one real S3 API server (S3Proxy, in memory) and, for integration tests, one
real KRaft Kafka broker, each on a free port.

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
def s3_server(tmp_path_factory):
    """A real S3 API server on a free port for the whole session. Its credentials are exported
    before the session's JVM starts, as a deployment exports them: S3A, delta-rs and MLflow read
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the environment, never from conf."""
    from toollife.config import load_config
    from toollife.services.s3_local import LocalS3Server

    server = LocalS3Server(load_config("local"), port=0, data_dir=str(tmp_path_factory.mktemp("s3")))
    server.start()
    os.environ.update(server.credentials_env())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_config(tmp_path_factory, s3_server):
    """conf/local.yaml with the lakehouse moved to a temp dir, test-sized Spark settings and the
    session's S3 server as conf's endpoint (used only by tests whose root is s3a://)."""
    from toollife.config import load_config

    root = tmp_path_factory.mktemp("lakehouse")
    return load_config(
        "local",
        overrides={
            "s3": {"endpoint": s3_server.endpoint},
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


@pytest.fixture
def s3_lakehouse_config(base_config, s3_server):
    """A config whose tables and checkpoints live under this test's own prefix of the S3 bucket."""
    config = copy.deepcopy(base_config)
    overrides = s3_server.config_overrides(f"tests/{uuid.uuid4().hex[:12]}")
    config["lakehouse"].update(overrides["lakehouse"])
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
