"""Lakehouse bootstrap: the schemas exist and every table on disk is visible in the catalog."""

from __future__ import annotations

from typing import Any, Mapping

from pyspark.sql import SparkSession

from toollife.lakehouse import tables


def init_lakehouse(spark: SparkSession, config: Mapping[str, Any]) -> dict[str, Any]:
    for layer in tables.LAYERS:
        tables.ensure_schema(spark, layer)
    registered = tables.register_existing(spark, config)
    return {"schemas": list(tables.LAYERS), "tables": [t.qualified for t in registered]}
