"""spark-submit of a job from jobs/ with the packaged library, on local[2] and on a real Spark
standalone cluster (Master + Worker from pyspark's own launcher, on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A Spark standalone Master and one Worker, started with pyspark's own spark-class."""
    logs = tmp_path_factory.mktemp("standalone")
    port, ui, worker_ui = free_port(), free_port(), free_port()
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", SPARK_LOCAL_IP="127.0.0.1",
               SPARK_WORKER_DIR=str(logs / "work"), PYSPARK_PYTHON=sys.executable)
    spark_class = str(VENV_BIN / "spark-class")
    procs = []
    try:
        procs.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(ui)],
            env=env, stdout=open(logs / "master.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True))
        master = f"spark://127.0.0.1:{port}"
        procs.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", master, "--host", "127.0.0.1",
             "--cores", "2", "--memory", "2g", "--webui-port", str(worker_ui)],
            env=env, stdout=open(logs / "worker.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True))

        def worker_alive():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as resp:
                    return json.load(resp).get("aliveworkers", 0) >= 1
            except (OSError, ValueError):  # not listening yet, or the UI answers before its JSON is ready
                return False

        wait_for(worker_alive, 120, "standalone master with one worker")
        yield master
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_spark_submit_to_standalone_cluster_with_py_files(lakehouse_config, packaged, standalone_cluster):
    cmd = build_command(lakehouse_config, str(REPO / "jobs" / "init_lakehouse.py"), ["--check-executors"],
                        master=standalone_cluster, py_files=str(packaged["zip"]))
    result = subprocess.run(cmd, env=submit_env(lakehouse_config), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = last_json_line(result.stdout)
    assert summary["status"] == "succeeded"
    # executors are separate JVMs of the Worker: they imported the library from the shipped zip
    assert all("toollife.zip" in m for m in summary["executor_check"]["executor_modules"])
    assert summary["executor_check"]["config_sections"]
