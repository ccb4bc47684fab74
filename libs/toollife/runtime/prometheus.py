"""Prometheus metrics: Spark's own servlet, and a small labelled registry served over HTTP.

Two endpoints per streaming application (conf ``metrics``, off by default):

* Spark's :class:`PrometheusServlet` on the driver's UI port, ``/metrics/prometheus``, switched on
  by :func:`spark_conf` (the metrics system's sink, ``spark.sql.streaming.metricsEnabled`` for the
  streaming queries' gauges, ``spark.ui.prometheus.enabled`` for the executors' endpoint, and a
  fixed ``spark.metrics.namespace`` so names do not carry the application id). Its names encode
  everything (``metrics_toollife_driver_spark_streaming_<query>_inputRate_total``) and it has no
  labels.
* :class:`Registry` served by :func:`serve` at ``http://<metrics.host>:<metrics.port>/metrics``:
  what Spark does not know (quarantine per reason, event-time lag) with labels, in Prometheus'
  text exposition format 0.0.4, from the standard library only.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SPARK_PATH = "/metrics/prometheus"


def enabled(config: Mapping[str, Any]) -> bool:
    return bool(config.get("metrics", {}).get("enabled"))


def spark_conf(config: Mapping[str, Any]) -> dict[str, str]:
    """Spark settings of the PrometheusServlet and the streaming metrics; empty when metrics are off.
    Static: they must reach the driver at start (spark-submit --conf, or the session builder)."""
    if not enabled(config):
        return {}
    return {
        "spark.metrics.conf.*.sink.prometheusServlet.class": "org.apache.spark.metrics.sink.PrometheusServlet",
        "spark.metrics.conf.*.sink.prometheusServlet.path": SPARK_PATH,
        "spark.metrics.conf.*.source.jvm.class": "org.apache.spark.metrics.source.JvmSource",   # heap, GC
        "spark.metrics.namespace": str(config["metrics"]["namespace"]),
        "spark.ui.prometheus.enabled": "true",
        "spark.sql.streaming.metricsEnabled": "true",
        "spark.ui.enabled": "true",      # the servlet lives on the UI's port
    }


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Registry:
    """Counters and gauges with labels; thread-safe (Spark's listener and batch threads write,
    the HTTP thread reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._meta: dict[str, tuple[str, str]] = {}               # name -> (type, help)
        self._values: dict[str, dict[tuple, float]] = {}          # name -> {label items: value}

    def describe(self, name: str, kind: str, help_text: str) -> None:
        with self._lock:
            self._meta[name] = (kind, help_text)
            self._values.setdefault(name, {})

    def inc(self, name: str, amount: float = 1.0, **labels: Any) -> None:
        key = tuple(sorted((k, str(v)) for k, v in labels.items()))
        with self._lock:
            series = self._values.setdefault(name, {})
            series[key] = series.get(key, 0.0) + float(amount)

    def set(self, name: str, value: float, **labels: Any) -> None:
        key = tuple(sorted((k, str(v)) for k, v in labels.items()))
        with self._lock:
            self._values.setdefault(name, {})[key] = float(value)

    def names(self) -> list[str]:
        """Every metric described or set so far."""
        with self._lock:
            return sorted(set(self._meta) | set(self._values))

    def render(self) -> str:
        """The text exposition format: HELP and TYPE per metric, one line per labelled series."""
        lines = []
        with self._lock:
            for name in sorted(self._values):
                kind, help_text = self._meta.get(name, ("untyped", ""))
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
                for key, value in sorted(self._values[name].items()):
                    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
                    lines.append(f"{name}{{{labels}}} {_number(value)}" if labels else f"{name} {_number(value)}")
        return "\n".join(lines) + "\n"


def serve(registry: Registry | Any, host: str, port: int) -> ThreadingHTTPServer:
    """Serve ``registry`` (anything with ``render() -> str``) at http://host:port/metrics from a daemon
    thread; ``.shutdown()`` stops it. ``port`` 0 takes a free one (``server.server_address[1]``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404, "only /metrics here")
                return
            try:
                body = registry.render().encode()
            except Exception as exc:  # a scrape error, not a dead exporter
                log.exception("rendering metrics")
                self.send_error(500, f"could not render the metrics: {exc}")
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # scrapes every 15 s are not news
            pass

    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="toollife-metrics", daemon=True).start()
    log.info("metrics at http://%s:%d/metrics", host, server.server_address[1])
    return server


_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text -> {name: [(labels, value)]} (label values unescaped): for tests and checks."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, rest = series.partition("{")
        labels = {k: re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)
                  for k, v in _LABEL.findall(rest)}
        out.setdefault(name, []).append((labels, float(value)))
    return out
