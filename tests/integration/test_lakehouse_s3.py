"""The lakehouse in object storage (issue 32): Kafka -> bronze -> silver -> gold.experiment_runs ->
DOE effects with every table and every streaming checkpoint under s3a:// on the session's S3
server, through the S3A client a cluster uses; the same messages into a lakehouse on local disk
give the same gold rows; the readers without Spark read the bucket; running again changes nothing;
a wrong secret or a missing bucket is one line before any JVM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from toollife import cli
from toollife.gold.experiment_runs import EXPERIMENT_RUNS, RUN_KEY
from toollife.lakehouse import reader, storage, tables
from toollife.runtime.chain import run_jobs
from toollife.simulation import simulate
from toollife.simulation.publisher import publish

REPO = Path(__file__).resolve().parents[2]
JOBS = REPO / "jobs"
SMALL = {"machines": 1, "tools": 2, "replicates": 1, "seed": 21, "sensors": {"sample_interval_s": 120.0}}
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
    return sorted((r.machine_id, r.tool_id, r.term, round(r.effect, 9), r.significant)
                  for r in rows.select("machine_id", "tool_id", "term", "effect", "significant").collect())


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
