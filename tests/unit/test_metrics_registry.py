"""toollife.runtime.prometheus: the registry's Prometheus text format, and the Spark settings conf implies."""

from __future__ import annotations

from toollife.runtime.prometheus import Registry, parse, spark_conf


def test_registry_renders_the_exposition_format():
    r = Registry()
    r.describe("x_total", "counter", "things")
    r.inc("x_total", 2, reason='say "hi"', source="a")
    r.inc("x_total", 1, reason='say "hi"', source="a")
    r.set("y", float("nan"))
    text = r.render()
    assert '# TYPE x_total counter\nx_total{reason="say \\"hi\\"",source="a"} 3\n' in text
    assert "\ny NaN\n" in text
    assert parse(text)["x_total"] == [({"reason": 'say "hi"', "source": "a"}, 3.0)]


def test_spark_conf_only_when_enabled():
    assert spark_conf({"metrics": {"enabled": False, "namespace": "toollife"}}) == {}
    conf = spark_conf({"metrics": {"enabled": True, "namespace": "toollife"}})
    assert conf["spark.metrics.conf.*.sink.prometheusServlet.class"] == "org.apache.spark.metrics.sink.PrometheusServlet"
    assert conf["spark.sql.streaming.metricsEnabled"] == "true" and conf["spark.metrics.namespace"] == "toollife"
