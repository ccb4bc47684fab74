"""`toollife metrics`: the job-runs exporter over the test lakehouse, scraped over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from toollife.services.kafka_local import free_port
from toollife.runtime.prometheus import parse

from dashboard_lakehouse import filled_lakehouse  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]


def test_toollife_metrics_serves_the_job_runs(filled_lakehouse):
    config, written = filled_lakehouse
    port = free_port()
    env = dict(os.environ, TOOLLIFE_CONF_DIR=str(REPO / "conf"))
    proc = subprocess.Popen([sys.executable, "-m", "toollife.cli", "metrics", "--port", str(port),
                             "--set", f"lakehouse.root={config['lakehouse']['root']}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, text = time.monotonic() + 60, None
        while text is None:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else "no answer"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                    text = resp.read().decode()
            except OSError:
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(30)
    metrics = parse(text)
    runs = written["meta.job_runs"]
    expected = runs.groupby(["job", "status"]).size().to_dict()
    assert {(l["job"], l["status"]): v for l, v in metrics["toollife_job_runs_total"]} == expected
    latest = {l["job"]: v for l, v in metrics["toollife_job_last_run_succeeded"]}
    assert latest == {"aggregate_experiments": 1.0, "compute_doe_effects": 1.0, "ingest_sensors": 1.0}
    assert metrics["toollife_job_runs_readable"] == [({}, 1.0)]
    assert proc.returncode == 0 and "job runs of" in proc.stdout.read()
