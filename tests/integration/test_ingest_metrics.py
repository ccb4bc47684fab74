"""Prometheus metrics of a running ingestion: jobs/ingest_sensors.py under spark-submit, as a
service (processing_time) with conf metrics.enabled, reading the session's real broker. Scraping
both endpoints finds Spark's streaming input rate (PrometheusServlet on the UI port) and the
quarantine counter per reason and the event-time lag (the ingestion's own /metrics)."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from toollife.services.kafka_local import free_port
from toollife.runtime.prometheus import SPARK_PATH, parse
from toollife.runtime.submit import build_command

from ingest_messages import BAD_READINGS, keyed, send, valid_reading

REPO = Path(__file__).resolve().parents[2]
# three reasons, five quarantined records
BAD = [case for case in BAD_READINGS if case[1] in ("malformed_json", "out_of_range", "unknown_sensor")][:5]


def _scrape(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode()
    except OSError:
        return None


def test_running_ingestion_exposes_input_rate_and_quarantine(kafka_config, tmp_path):
    config = copy.deepcopy(kafka_config)
    metrics_port, ui_port = free_port(), free_port()
    config["metrics"].update(enabled=True, port=metrics_port)
    config["spark"]["shuffle_partitions"] = 1        # a few dozen rows
    config["spark"]["extra_conf"].update({"spark.ui.enabled": "true", "spark.ui.port": str(ui_port)})
    send(config, "sensor_readings", keyed([valid_reading(i, prefix="m") for i in range(40)])
         + [(key, value) for _, _, key, value in BAD])
    expected = {}
    for _, reason, _, _ in BAD:
        expected[reason] = expected.get(reason, 0) + 1

    topics = config["kafka"]["topics"]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYSPARK_PYTHON=sys.executable, TOOLLIFE_CONF_DIR=str(REPO / "conf"),
               TOOLLIFE__LAKEHOUSE__ROOT=config["lakehouse"]["root"],
               TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=config["lakehouse"]["checkpoint_root"],
               TOOLLIFE__KAFKA__BOOTSTRAP_SERVERS=config["kafka"]["bootstrap_servers"],
               TOOLLIFE__KAFKA__TOPICS__SENSOR_READINGS=topics["sensor_readings"],
               TOOLLIFE__KAFKA__TOPICS__TOOL_EVENTS=topics["tool_events"],
               TOOLLIFE__SPARK__SHUFFLE_PARTITIONS="1",
               TOOLLIFE__METRICS__ENABLED="true", TOOLLIFE__METRICS__PORT=str(metrics_port))
    cmd = build_command(config, str(REPO / "jobs" / "ingest_sensors.py"),
                        ["--trigger", "processing_time", "--interval", "2 seconds", "--sources", "sensor_readings"],
                        master="local[2]")
    assert "spark.sql.streaming.metricsEnabled=true" in cmd and f"spark.ui.port={ui_port}" in cmd
    log = tmp_path / "ingest.log"
    with open(log, "wb") as out:
        job = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
    ours_url, spark_url = f"http://127.0.0.1:{metrics_port}/metrics", f"http://127.0.0.1:{ui_port}{SPARK_PATH}"
    try:
        deadline, ours, spark_text = time.monotonic() + 300, {}, ""
        while True:
            assert job.poll() is None, f"ingestion exited with {job.returncode}:\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"metrics never complete; last scrape:\n{ours}\n{log.read_text()[-3000:]}"
            ours = parse(_scrape(ours_url) or "")
            quarantined = {labels["reason"]: v for labels, v in ours.get("toollife_ingest_quarantined_total", [])
                           if labels["source"] == "sensor_readings" and v}
            spark_text = _scrape(spark_url) or ""
            rate_lines = [line for line in spark_text.splitlines()
                          if "silver_sensor_readings_inputRate_total" in line and not line.startswith("#")]
            if quarantined == expected and rate_lines and ours.get("toollife_ingest_event_time_lag_seconds"):
                break
            time.sleep(2)
    finally:
        os.killpg(job.pid, signal.SIGTERM)     # a service: stopped, not drained (graceful stops are tested elsewhere)
        job.wait(180)

    # Spark's own: the streaming query's gauges, named by the fixed namespace (not the app id)
    # (docker/prometheus relabels them to spark_streaming_<gauge>{query=...}, tests/unit/test_docker_monitoring.py)
    spark_metrics = parse(spark_text)
    for name in ("metrics_toollife_driver_spark_streaming_silver_sensor_readings_inputRate_total_Value",
                 "metrics_toollife_driver_spark_streaming_bronze_sensor_readings_latency_Value",
                 "metrics_toollife_driver_jvm_heap_used_Value"):
        assert spark_metrics[name][0][0] == {"type": "gauges"}, name
    # ours: every reason has its series from the start; the lag is the batch's written time - its newest event
    reasons = {labels["reason"] for labels, _ in ours["toollife_ingest_quarantined_total"]}
    assert {"malformed_json", "key_mismatch", "timestamp_in_future"} <= reasons
    rows = {labels["outcome"]: v for labels, v in ours["toollife_ingest_rows_total"] if labels["source"] == "sensor_readings"}
    assert rows["silver"] == 40 and rows["quarantined"] == len(BAD)
    (lag_labels, lag), = ours["toollife_ingest_event_time_lag_seconds"]
    assert lag_labels == {"source": "sensor_readings"} and lag > 3600      # the messages are from yesterday
    inputs = {labels["query"]: v for labels, v in ours["toollife_ingest_input_rows_total"]}
    assert inputs["bronze_sensor_readings"] == 40 + len(BAD)
