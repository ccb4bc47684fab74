"""MLflow: where the tracking store is, one experiment per registered model, and the registry's
champion / challenger aliases. Nothing here knows Spark.

The local default is an absolute sqlite store under ``ml.store_dir`` with the artifacts beside
it. Every experiment is created with an explicit artifact location, because with only a sqlite
tracking URI set MLflow writes artifacts to ``./mlruns`` in whatever directory a job runs from.

When the lakehouse is in object storage the artifacts (the models among them) go to its bucket,
``s3://BUCKET/<the root's parent>/mlflow`` (``toollife.lakehouse.storage.mlflow_artifact_root``),
unless ``ml.artifact_root`` says otherwise: registration, the aliases, Spark scoring and the live
scorer then load the champion from there. MLflow's boto3 client gets conf's endpoint, addressing
and region from :func:`configure` and its credentials from the environment (AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY), never from conf.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

from toollife.errors import UserError
from toollife.lakehouse import storage
from toollife.ml.serving import Serving

CHAMPION, CHALLENGER = "champion", "challenger"
MODEL_NAMES = ("tool_life", "tool_rul")


class NoChampionError(UserError):
    """The registered model has no champion yet (exit code 1: train first)."""

    label = "no champion"


def tracking_uri(config: Mapping[str, Any]) -> str:
    ml = config["ml"]
    if ml["tracking_uri"]:
        return str(ml["tracking_uri"])
    return f"sqlite:///{Path(ml['store_dir']).resolve() / 'mlflow.db'}"


def artifact_root(config: Mapping[str, Any]) -> str | None:
    """Where new experiments keep artifacts: conf's (``s3a://`` spelled ``s3://`` for boto3), else
    the lakehouse's bucket when it is in object storage, else beside the local store; None with a
    tracking server and neither (the server's own default, e.g. its artifact proxy)."""
    ml = config["ml"]
    if ml["artifact_root"]:
        return storage.boto_uri(str(ml["artifact_root"]).rstrip("/"))
    beside_tables = storage.mlflow_artifact_root(config)
    if beside_tables:
        return beside_tables
    if ml["tracking_uri"]:
        return None
    return (Path(ml["store_dir"]).resolve() / "artifacts").as_uri()


def configure(config: Mapping[str, Any]):
    """Point this process's MLflow at conf's store; returns an ``MlflowClient``."""
    import mlflow
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.update(storage.mlflow_environment(config))  # endpoint, addressing, region; no secrets
    uri = tracking_uri(config)
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # a new SQLite store logs "Creating initial MLflow database tables..." and each migration at INFO
        for name in ("mlflow.store.db.utils", "alembic.runtime.migration"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(client, config: Mapping[str, Any], model_name: str) -> str:
    """The experiment of one registered model (created with its artifact location on first use)."""
    name = f"toollife/{model_name}"
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    root = artifact_root(config)
    return client.create_experiment(name, artifact_location=f"{root}/{model_name}" if root else None)


def alias_version(client, model_name: str, alias: str) -> str | None:
    """The version an alias points at, or None (no such model or alias)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def champion_uri(client, model_name: str) -> tuple[str, str]:
    """(``models:/<name>/<version>``, version) of the champion; raises NoChampionError."""
    version = alias_version(client, model_name, CHAMPION)
    if version is None:
        raise NoChampionError(
            f"no champion of the registered model '{model_name}' in {client.tracking_uri}; "
            "train first: toollife submit jobs/train_tool_life.py")
    return f"models:/{model_name}/{version}", version


def serving(client, model_name: str, version: str) -> Serving:
    """The interval, wear curve and prediction offset training stored on the version's tags."""
    tags = client.get_model_version(model_name, version).tags
    return Serving.from_tags(tags)


def decide(candidate_metric: float, champion_metric: float | None) -> str:
    """The promotion rule (lower is better): no champion, or strictly better on the same holdout,
    takes ``champion``; anything else is a ``challenger``."""
    if champion_metric is None or not (champion_metric == champion_metric):  # none, or NaN
        return CHAMPION
    return CHAMPION if candidate_metric < champion_metric else CHALLENGER
