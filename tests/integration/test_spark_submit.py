"""spark-submit of a job from jobs/ with the packaged library, on local[2] and on a real Spark
standalone cluster (a Master and two Workers from pyspark's own launcher, on 127.0.0.1, sharing
no disk: the lakehouse is in the session's S3 bucket)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from toollife.services.kafka_local import free_port
from toollife.runtime.submit import build_command

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def submit_env(config, **extra):
    env = dict(os.environ)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}",
        PYSPARK_PYTHON=sys.executable,
        TOOLLIFE_CONF_DIR=str(REPO / "conf"),
        TOOLLIFE__LAKEHOUSE__ROOT=config["lakehouse"]["root"],
        TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=config["lakehouse"]["checkpoint_root"],
        **extra,
    )
    return env


def last_json_line(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """`make package` equivalent: the wheel, the wheel installed in a site dir, and the zip."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(REPO)], check=True, cwd=dist)
    wheel = next(dist.glob("toollife-*.whl"))
    site = dist / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True)
    zip_base = dist / "toollife"
    subprocess.run([sys.executable, "-c", "import shutil,sys; shutil.make_archive(sys.argv[1], 'zip', sys.argv[2], 'toollife')",
                    str(zip_base), str(site)], check=True)
    return {"wheel": wheel, "site": site, "zip": Path(f"{zip_base}.zip")}


def test_wheel_ships_defaults_and_contracts(packaged):
    import zipfile

    names = zipfile.ZipFile(packaged["wheel"]).namelist()
    assert "toollife/defaults/spark.yaml" in names
    assert "toollife/contracts/sensor-reading.schema.json" in names
    assert any(n.endswith("entry_points.txt") for n in names)


def test_spark_submit_local_with_installed_wheel(lakehouse_config, packaged):
    cmd = build_command(lakehouse_config, str(REPO / "jobs" / "init_lakehouse.py"), ["--check-executors"],
                        master="local[2]")
    env = submit_env(lakehouse_config, PYTHONPATH=str(packaged["site"]))
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=packaged["site"].parent)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = last_json_line(result.stdout)
    assert summary["status"] == "succeeded"
    site = str(packaged["site"])
    assert summary["executor_check"]["driver_module"].startswith(site)
    assert all(m.startswith(site) for m in summary["executor_check"]["executor_modules"])
    assert (Path(lakehouse_config["lakehouse"]["root"]) / "meta" / "job_runs" / "_delta_log").is_dir()


def wait_for(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout_s}s")


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as resp:
            return int(json.load(resp).get("aliveworkers", 0))
    except (OSError, ValueError):  # not listening yet, or the UI answers before its JSON is ready
        return 0


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A Spark standalone Master and two Workers (pyspark's own spark-class), each Worker with
    its own work and scratch directories and without the bucket's credentials in its environment:
    the nodes share no disk, and what they share is the S3 server the driver hands them."""
    base = tmp_path_factory.mktemp("standalone")
    port, ui = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", SPARK_LOCAL_IP="127.0.0.1",
               PYSPARK_PYTHON=sys.executable)
    spark_class = str(VENV_BIN / "spark-class")
    master = f"spark://127.0.0.1:{port}"
    procs = []
    try:
        procs.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(ui)],
            env=env, stdout=open(base / "master.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True))
        for n in (1, 2):
            node = base / f"worker{n}"
            (node / "work").mkdir(parents=True)
            (node / "local").mkdir()
            procs.append(subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", master, "--host", "127.0.0.1",
                 "--cores", "1", "--memory", "1g", "--webui-port", str(free_port())],
                env=dict(env, SPARK_WORKER_DIR=str(node / "work"), SPARK_LOCAL_DIRS=str(node / "local")),
                stdout=open(base / f"worker{n}.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True))
        wait_for(lambda: _alive_workers(ui) >= 2, 180, "standalone master with two workers")
        yield {"master": master, "workers": [base / "worker1", base / "worker2"]}
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


CLUSTER_SIM = {"machines": 1, "tools": 2, "replicates": 1, "seed": 23, "sensors": {"sample_interval_s": 120.0}}
CHAIN = ["ingest_sensors --trigger available_now", "aggregate_experiments", "compute_doe_effects"]


def _sets(config) -> list[str]:
    pairs = {"lakehouse.root": config["lakehouse"]["root"],
             "lakehouse.checkpoint_root": config["lakehouse"]["checkpoint_root"],
             "s3.endpoint": config["s3"]["endpoint"],
             "kafka.bootstrap_servers": config["kafka"]["bootstrap_servers"],
             "spark.shuffle_partitions": config["spark"]["shuffle_partitions"]}
    pairs.update({f"kafka.topics.{k}": v for k, v in config["kafka"]["topics"].items()})
    return [x for k, v in pairs.items() for x in ("--set", f"{k}={v}")]


def _gold(spark, config):
    from toollife.gold.experiment_runs import EXPERIMENT_RUNS, RUN_KEY
    from toollife.lakehouse import tables

    # when each run wrote it, and a hash of floats whose last bits follow the summation order
    runs = tables.read(spark, config, EXPERIMENT_RUNS).drop("updated_at", "row_hash")
    frame = runs.toPandas().sort_values(list(RUN_KEY), ignore_index=True)
    effects = tables.read(spark, config, tables.Table("gold", "doe_effects"))
    # both fits; a censored fit that is not identifiable has no effect (None)
    rows = sorted((r.machine_id, r.tool_id, r.fit, r.term, None if r.effect is None else round(r.effect, 9),
                   r.significant)
                  for r in effects.select("machine_id", "tool_id", "fit", "term", "effect", "significant").collect())
    return frame, rows


@pytest.mark.slow
@pytest.mark.timeout(1800)   # two spark-submit-sized chains; ~15 min when 4 test runs share 2 cores
def test_a_cluster_that_shares_nothing_but_the_bucket_equals_a_local_run(
        spark, kafka_config, s3_lakehouse_config, packaged, standalone_cluster):
    """ingest -> aggregate -> effects through `toollife submit --master spark://...` on two Workers
    that share no disk, every table and checkpoint in the session's S3 bucket, equals the same
    messages run locally into a lakehouse on disk. The chain stops at the DOE effects for time: this
    chain and its local twin already take ~3 min on an idle 2-core machine (15 min with four test
    runs beside it), and train + score on the S3 lakehouse cost another 40 s in-process (280 s
    shared), more through spark-submit on one-core Workers. Their path through the bucket is
    test_lakehouse_s3's model test; spark_udf ships the model to executors with addFile, so a
    cluster adds nothing there that the gold tables do not show."""
    from toollife import cli
    from toollife.lakehouse import storage, tables
    from toollife.runtime.chain import run_jobs
    from toollife.simulation import simulate
    from toollife.simulation.publisher import publish

    result = simulate(kafka_config, overrides=CLUSTER_SIM)
    assert publish(result.messages, kafka_config, progress=False).ok
    on_s3 = {**kafka_config, "lakehouse": s3_lakehouse_config["lakehouse"]}
    assert storage.is_object_store(on_s3["lakehouse"]["root"])

    cmd = [sys.executable, "-m", "toollife.cli", "submit", "--master", standalone_cluster["master"],
           "--py-files", str(packaged["zip"]), str(REPO / "jobs" / "run_jobs.py"), *_sets(on_s3),
           "init_lakehouse --check-executors", *CHAIN]
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", PYSPARK_PYTHON=sys.executable,
               TOOLLIFE_CONF_DIR=str(REPO / "conf"), PYTHONPATH=str(REPO / "libs"))
    submitted = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert submitted.returncode == 0, submitted.stderr[-4000:]
    summaries = [json.loads(line) for line in submitted.stdout.splitlines() if line.startswith("{")]
    assert [s["status"] for s in summaries[-len(CHAIN) - 1:]] == ["succeeded"] * (len(CHAIN) + 1)
    # executors are separate JVMs of the Workers: they imported the library from the shipped zip
    check = next(s["executor_check"] for s in summaries if "executor_check" in s)
    assert check["executor_modules"] and all("toollife.zip" in m for m in check["executor_modules"])
    assert f"--master {standalone_cluster['master']}" in submitted.stderr

    # the executors ran on both Workers (their own work dirs), and no lakehouse path is on a disk
    for node in standalone_cluster["workers"]:
        assert any((node / "work").glob("app-*/*/stderr")), f"no executor ran on {node.name}"
        assert not any(node.rglob("_delta_log")) and not any(node.rglob("offsets"))
    assert not Path(on_s3["lakehouse"]["root"]).exists()

    assert run_jobs(REPO / "jobs", check_command=cli.parse, argv=[*_sets(kafka_config), *CHAIN]) == 0
    runs_s3, effects_s3 = _gold(spark, on_s3)
    runs_local, effects_local = _gold(spark, kafka_config)
    assert len(runs_s3) > 0 and effects_s3 != []
    assert effects_s3 == effects_local
    pd.testing.assert_frame_equal(runs_s3, runs_local, check_exact=False, rtol=1e-9)
    silver = tables.Table("silver", "sensor_readings")
    assert tables.read(spark, on_s3, silver).count() == tables.read(spark, kafka_config, silver).count()
