"""The lakehouse in object storage (issue 32): Kafka -> bronze -> silver -> gold.experiment_runs ->
DOE effects with every table and every streaming checkpoint under s3a:// on the session's S3
server, through the S3A client a cluster uses; the same messages into a lakehouse on local disk
give the same gold rows; the readers without Spark read the bucket; running again changes nothing;
the models train, register and score with their artifacts in the bucket; a wrong secret or a
missing bucket is one line before any JVM."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from toollife import cli
from toollife.gold import experiment_runs as er
from toollife.gold.experiment_runs import EXPERIMENT_RUNS, RUN_KEY
from toollife.gold.simulated import silver_frames
from toollife.ingestion.schemas import SOURCES
from toollife.lakehouse import reader, storage, tables
from toollife.runtime.chain import run_jobs
from toollife.simulation import manifest, simulate
from toollife.simulation.publisher import publish

REPO = Path(__file__).resolve().parents[2]
JOBS = REPO / "jobs"
SMALL = {"machines": 1, "tools": 2, "replicates": 1, "seed": 21, "sensors": {"sample_interval_s": 120.0}}
# the smallest simulation the models train on (a grouped holdout and 3 folds of design points),
# and one-fit grids: this test is about where the artifacts live, not about the models
TRAIN_SIM = {"seed": 21, "machines": 1, "tools": 2, "replicates": 2, "sensors": {"sample_interval_s": 60.0},
             "in_progress": {"per_machine": 1}}
ONE_FIT = {"random_forest": {"n_estimators": [5], "max_depth": [2]},
           "gradient_boosting": {"max_iter": [5], "max_depth": [2], "learning_rate": [0.1]}}
CHAIN = ["ingest_sensors --trigger available_now", "aggregate_experiments", "compute_doe_effects"]


def conf_sets(config) -> list[str]:
    """The test's conf as a user gives it on the command line."""
    pairs = {"lakehouse.root": config["lakehouse"]["root"],
             "lakehouse.checkpoint_root": config["lakehouse"]["checkpoint_root"],
             "s3.endpoint": config["s3"]["endpoint"],
             "kafka.bootstrap_servers": config["kafka"]["bootstrap_servers"],
             "ml.store_dir": config["ml"]["store_dir"]}
    pairs.update({f"kafka.topics.{k}": v for k, v in config["kafka"]["topics"].items()})
    return [x for k, v in pairs.items() for x in ("--set", f"{k}={v}")]


def effects(spark, config):
    rows = tables.read(spark, config, tables.Table("gold", "doe_effects"))
    return sorted((r.machine_id, r.tool_id, r.fit, r.term, None if r.effect is None else round(r.effect, 9),
                   r.significant)
                  for r in rows.select("machine_id", "tool_id", "fit", "term", "effect", "significant").collect())


@pytest.mark.slow
def test_the_chain_on_object_storage_equals_the_local_run(spark, kafka_config, s3_lakehouse_config, tmp_path):
    result = simulate(kafka_config, overrides=SMALL)
    assert publish(result.messages, kafka_config, progress=False).ok
    on_s3 = {**kafka_config, "lakehouse": s3_lakehouse_config["lakehouse"]}
    assert storage.is_object_store(on_s3["lakehouse"]["root"]) and storage.is_object_store(
        on_s3["lakehouse"]["checkpoint_root"])

    assert run_jobs(JOBS, check_command=cli.parse, argv=[*conf_sets(on_s3), *CHAIN]) == 0
    assert run_jobs(JOBS, check_command=cli.parse, argv=[*conf_sets(kafka_config), *CHAIN]) == 0

    # every table of the chain is in the bucket, found there without Spark, none on local disk
    found = {t.qualified for t in tables.existing_tables(on_s3)}
    assert {"bronze.sensor_readings_raw", "silver.sensor_readings", "silver.tool_events", "gold.experiment_runs",
            "gold.doe_effects", "gold.doe_optimal_settings", "meta.job_runs"} <= found
    assert not Path(on_s3["lakehouse"]["root"]).exists()
    silver = tables.Table("silver", "sensor_readings")
    assert tables.read(spark, on_s3, silver).count() == tables.read(spark, kafka_config, silver).count() > 0
    assert effects(spark, on_s3) == effects(spark, kafka_config) != []

    # the readers without Spark (dashboard, demo summary, notebook) read the bucket with delta-rs
    read = reader.read(on_s3, "gold.doe_effects")
    assert read.ok and len(read.frame) == len(effects(spark, on_s3))
    assert reader.count(on_s3, "silver.sensor_readings") == tables.read(spark, on_s3, silver).count()

    # again: the checkpoints in the bucket say everything was read; silver and gold do not change
    before = tables.read(spark, on_s3, silver).count()
    runs_before = tables.read(spark, on_s3, EXPERIMENT_RUNS).toPandas().sort_values(RUN_KEY, ignore_index=True)
    assert run_jobs(JOBS, check_command=cli.parse, argv=[*conf_sets(on_s3), *CHAIN[:2]]) == 0
    assert tables.read(spark, on_s3, silver).count() == before
    runs_after = tables.read(spark, on_s3, EXPERIMENT_RUNS).toPandas().sort_values(RUN_KEY, ignore_index=True)
    assert runs_after.equals(runs_before)
    runs = tables.read(spark, on_s3, tables.Table("meta", "job_runs"))
    assert runs.where(F.col("status") == "succeeded").count() == len(CHAIN) + 2


def bucket_keys(server, prefix: str) -> set[str]:
    """Every object key under ``prefix`` in the server's bucket, listed with boto3 (credentials
    from the environment, as every client here)."""
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))
    keys = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=server.bucket, Prefix=prefix):
        keys.update(o["Key"] for o in page.get("Contents", []))
    return keys


@pytest.mark.slow
def test_models_train_register_and_score_with_their_artifacts_in_the_bucket(spark, s3_lakehouse_config, s3_server,
                                                                              tmp_path, monkeypatch):
    from toollife.live.scorer import LiveBatchScorer
    from toollife.ml import datasets, models, tracking
    from toollife.ml import jobs as ml_jobs
    from toollife.ml.specs import SPECS

    config = copy.deepcopy(s3_lakehouse_config)
    config["ml"].update(store_dir=str(tmp_path / "mlflow"), search_time_s=5, cv_folds=3, rul_fractions=[0.25, 0.5])
    sim = simulate(overrides=TRAIN_SIM)
    for key, frame in silver_frames(spark, sim).items():
        tables.overwrite(frame, config, SOURCES[key].silver)
    er.merge_runs(spark, config, er.build_experiment_runs(*er.read_silver(spark, config), config))
    manifest.write_table(config, manifest.build_manifest(sim, target="test"))
    for name in tracking.MODEL_NAMES:
        monkeypatch.setitem(models.PARAM_GRIDS, name, ONE_FIT)
    for name in storage.mlflow_environment(config):
        monkeypatch.delenv(name, raising=False)   # configure() sets them from conf, not the test

    trained = ml_jobs.train(spark, config)

    # the experiments, and so every run's and model's artifacts, live beside the tables in the bucket
    bucket, tables_key = storage.bucket_and_key(config["lakehouse"]["root"])
    artifacts = f"s3://{bucket}/{tables_key.rsplit('/', 1)[0]}/mlflow"
    assert tracking.artifact_root(config) == artifacts
    client = tracking.configure(config)
    assert os.environ["MLFLOW_S3_ENDPOINT_URL"] == s3_server.endpoint
    for name in tracking.MODEL_NAMES:
        champion = client.get_model_version_by_alias(name, tracking.CHAMPION)
        assert str(champion.version) == trained[name]["champion"]
        assert client.get_experiment_by_name(f"toollife/{name}").artifact_location == f"{artifacts}/{name}"
        source = client.get_model_version_download_uri(name, champion.version)
        assert source.startswith(f"{artifacts}/{name}/"), source
        keys = bucket_keys(s3_server, source.removeprefix(f"s3://{bucket}/"))
        assert {"MLmodel", "model.skops"} <= {k.rsplit("/", 1)[-1] for k in keys}, keys
    assert not (tmp_path / "mlflow" / "artifacts").exists()   # nothing beside the local tracking store

    # Spark scoring (mlflow.pyfunc.spark_udf) and the live scorer load the champions from the bucket
    summary = ml_jobs.score(spark, config)
    assert summary["models"] == {n: trained[n]["champion"] for n in tracking.MODEL_NAMES}
    predictions = tables.read(spark, config, datasets.PREDICTIONS)
    life = predictions.where(F.col("model_name") == "tool_life")
    assert life.count() == tables.read(spark, config, EXPERIMENT_RUNS).count() > 0
    assert life.where(F.col("predicted_life_min") > 0).count() == life.count()
    assert summary["tools_cutting"] == 1 and summary["tools_cutting_scored"] <= 1
    version, model, _ = LiveBatchScorer(config, client).model()
    assert version == trained[config["live"]["model_name"]]["champion"]
    assert model.metadata.get_input_schema().input_names() == list(SPECS[config["live"]["model_name"]].features)


def test_a_wrong_secret_or_a_missing_bucket_is_one_line_before_any_jvm(s3_lakehouse_config):
    sets = ["--set", f"lakehouse.root={s3_lakehouse_config['lakehouse']['root']}",
            "--set", f"lakehouse.checkpoint_root={s3_lakehouse_config['lakehouse']['checkpoint_root']}",
            "--set", f"s3.endpoint={s3_lakehouse_config['s3']['endpoint']}"]
    job = [sys.executable, str(JOBS / "aggregate_experiments.py"), *sets]
    wrong = subprocess.run(job, env={**os.environ, "AWS_SECRET_ACCESS_KEY": "not-the-secret"},
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2, wrong.stderr
    lines = wrong.stderr.strip().splitlines()
    assert len(lines) == 1 and "refuses the credentials" in lines[0] and "toollife" in lines[0], lines

    bucket_root = s3_lakehouse_config["lakehouse"]["root"].replace("s3a://toollife/", "s3a://no-such-bucket/")
    missing = subprocess.run([*job, "--set", f"lakehouse.root={bucket_root}"], capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 2, missing.stderr
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "no bucket no-such-bucket at http://127.0.0.1:" in lines[0], lines
