"""Where the lakehouse's bytes and the models' artifacts live (toollife.lakehouse.storage, and the
artifact root toollife.ml.tracking derives from it): pure conf in, settings out."""

from __future__ import annotations

from toollife.lakehouse import storage
from toollife.ml import tracking


def conf(root, endpoint=None, artifact_root=None, tracking_uri=None, store_dir="/srv/mlflow"):
    return {"lakehouse": {"root": root, "checkpoint_root": root.replace("tables", "checkpoints")},
            "s3": {"endpoint": endpoint, "region": "eu-central-1", "path_style_access": True},
            "ml": {"artifact_root": artifact_root, "tracking_uri": tracking_uri, "store_dir": store_dir}}


def test_the_artifacts_of_an_object_store_lakehouse_go_beside_its_tables():
    on_s3 = conf("s3a://plant/lake/tables", endpoint="http://minio:9000")
    assert storage.lakehouse_base(on_s3) == "s3a://plant/lake"
    assert tracking.artifact_root(on_s3) == "s3://plant/lake/mlflow"          # boto3 spells it s3://
    assert tracking.artifact_root(conf("s3a://plant/tables")) == "s3://plant/mlflow"
    # an explicit root wins, in boto3's spelling; a tracking server does not move the bucket's
    assert tracking.artifact_root({**on_s3, "ml": {**on_s3["ml"], "artifact_root": "s3a://models/x/"}}) == "s3://models/x"
    assert tracking.artifact_root({**on_s3, "ml": {**on_s3["ml"], "tracking_uri": "http://mlflow:5000"}}) == \
        "s3://plant/lake/mlflow"


def test_a_local_lakehouse_keeps_its_artifacts_beside_the_local_store():
    local = conf("/var/lake/tables")
    assert storage.lakehouse_base(local) is None and storage.mlflow_artifact_root(local) is None
    assert tracking.artifact_root(local) == "file:///srv/mlflow/artifacts"
    assert tracking.artifact_root(conf("/var/lake/tables", tracking_uri="http://mlflow:5000")) is None
    assert storage.mlflow_environment(local) == {}


def test_mlflow_gets_the_endpoint_addressing_and_region_but_never_a_secret(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    env = storage.mlflow_environment(conf("s3a://plant/lake/tables", endpoint="http://minio:9000"))
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE"] == "path" and env["AWS_DEFAULT_REGION"] == "eu-central-1"
    assert env["AWS_REQUEST_CHECKSUM_CALCULATION"] == "when_required"   # S3-compatible servers refuse CRC headers
    assert "s3cr3t" not in env.values()
    aws = storage.mlflow_environment(conf("s3a://plant/lake/tables"))   # AWS S3 itself: its own endpoint
    assert "MLFLOW_S3_ENDPOINT_URL" not in aws and "AWS_REQUEST_CHECKSUM_CALCULATION" not in aws
