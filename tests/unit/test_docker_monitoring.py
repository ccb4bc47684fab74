"""docker/'s Prometheus and Grafana, checked statically (no Docker engine here): every scrape target
is a compose service on the port the platform's conf and commands give it, the relabelling turns
Spark's PrometheusServlet names into the ones the dashboard queries, and every metric the Grafana
dashboard uses is one the platform exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from toollife.config import load_config
from toollife.ingestion.metrics import IngestionMetrics
from toollife.services.metrics_exporter import job_runs_registry

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
PROMETHEUS = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
DASHBOARDS = sorted((DOCKER / "grafana" / "dashboards").glob("*.json"))
CONF = load_config("docker", environ={"TOOLLIFE_CONF_DIR": str(REPO / "conf")})


def _mounts(service: str) -> dict[str, str]:
    """container path -> host path (relative to docker/) of a service's bind mounts."""
    out = {}
    for volume in COMPOSE["services"][service].get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith("./"):
            out[container] = host
    return out


def test_monitoring_services_and_their_files():
    services = COMPOSE["services"]
    assert {"prometheus", "grafana", "metrics"} <= set(services)
    for name in ("prometheus", "grafana"):
        for container, host in _mounts(name).items():
            assert (DOCKER / host).exists(), f"{name}: {host} (mounted at {container}) does not exist"
    assert _mounts("prometheus")["/etc/prometheus/prometheus.yml"] == "./prometheus/prometheus.yml"
    command = services["metrics"]["command"]
    assert command[:2] == ["toollife", "metrics"]
    import argparse

    from toollife.services import metrics_exporter as metrics

    parser = argparse.ArgumentParser()
    metrics.add_arguments(parser)
    assert parser.parse_args(command[2:]).host == "0.0.0.0"


def test_scrape_targets_are_services_on_their_configured_ports():
    assert CONF["metrics"]["enabled"] and CONF["metrics"]["host"] == "0.0.0.0"
    metrics_port = str(CONF["metrics"]["port"])
    ui_port = str(CONF["spark"]["extra_conf"].get("spark.ui.port", 4040))
    exporter = COMPOSE["services"]["metrics"]["command"]
    expected = {"toollife-ingest": ("ingest", metrics_port, "/metrics"),
                "spark-ingest-driver": ("ingest", ui_port, "/metrics/prometheus"),
                "spark-ingest-executors": ("ingest", ui_port, "/metrics/executors/prometheus"),
                "toollife-job-runs": ("metrics", exporter[exporter.index("--port") + 1], "/metrics")}
    jobs = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}
    assert set(jobs) == set(expected)
    for name, (service, port, path) in expected.items():
        (target,) = [t for sc in jobs[name]["static_configs"] for t in sc["targets"]]
        assert target == f"{service}:{port}" and jobs[name]["metrics_path"] == path, name
        assert service in COMPOSE["services"]
    from toollife.runtime.prometheus import SPARK_PATH

    assert SPARK_PATH == "/metrics/prometheus"
    assert f"{metrics_port}:{metrics_port}" in COMPOSE["services"]["ingest"]["ports"]


def _relabel(name: str, labels: dict[str, str], rules) -> tuple[str, dict[str, str]]:
    """Prometheus' replace action: anchored regex on the joined source labels, $n groups."""
    labels = dict(labels, __name__=name)
    for rule in rules:
        value = ";".join(labels.get(s, "") for s in rule["source_labels"])
        m = re.fullmatch(rule["regex"], value)
        if m:
            labels[rule["target_label"]] = re.sub(r"\$(\d+)", lambda g: m.group(int(g.group(1))), rule["replacement"])
    return labels.pop("__name__"), labels


def _servlet_name(key: str) -> str:
    """How Spark's PrometheusServlet names a gauge (normalizeKey + "Value")."""
    return "metrics_" + re.sub("[^a-zA-Z0-9]", "_", key) + "_Value"


def test_relabelling_names_the_spark_streaming_gauges():
    rules = {j["job_name"]: j for j in PROMETHEUS["scrape_configs"]}["spark-ingest-driver"]["metric_relabel_configs"]
    ns = CONF["metrics"]["namespace"]
    for gauge, wanted in (("inputRate-total", "spark_streaming_inputRate_total"), ("latency", "spark_streaming_latency")):
        name, labels = _relabel(_servlet_name(f"{ns}.driver.spark.streaming.silver_sensor_readings.{gauge}"),
                                {"type": "gauges"}, rules)
        assert (name, labels) == (wanted, {"type": "gauges", "query": "silver_sensor_readings"})
    other = _servlet_name(f"{ns}.driver.jvm.heap.used")
    assert _relabel(other, {}, rules) == (other, {})


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:toollife|spark_streaming|metrics)_[A-Za-z0-9_]+)", expr))


def test_grafana_dashboard_queries_exposed_metrics_through_the_provisioned_datasource():
    datasource = yaml.safe_load((DOCKER / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and datasource["type"] == "prometheus"
    provider = yaml.safe_load((DOCKER / "grafana/provisioning/dashboards/toollife.yml").read_text())["providers"][0]
    assert _mounts("grafana")[provider["options"]["path"]] == "./grafana/dashboards"
    ours = set(IngestionMetrics(CONF, ["sensor_readings"]).registry.names())
    ours |= set(job_runs_registry({"lakehouse": {"root": "/nonexistent"}}).names())
    spark = {"spark_streaming_inputRate_total", "spark_streaming_latency", "spark_streaming_processingRate_total"}
    assert DASHBOARDS
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        panels = [p for p in dash["panels"] if p["type"] != "row"]
        titles = {p["title"] for p in panels}
        assert {"Input rate", "Batch duration", "Event-time lag", "Quarantine by reason", "Latest run succeeded"} <= titles
        for p in panels:
            assert p["datasource"]["uid"] == datasource["uid"], p["title"]
            for target in p["targets"]:
                assert target["datasource"]["uid"] == datasource["uid"]
                names = _metric_names(target["expr"])
                assert names, target["expr"]
                for name in names:
                    assert (name in ours or name in spark
                            or name.startswith(f"metrics_{CONF['metrics']['namespace']}_driver_jvm_")), \
                        f"{path.name} / {p['title']}: {name} is not exposed by the platform"
