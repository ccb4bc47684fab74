"""Silver-shaped DataFrames straight from the simulator, without Kafka.

Used by tests, benchmarks and demos of the gold jobs. The simulator's contract-v1 messages (all
valid unless bad-message injection is configured) are parsed with ``json`` and typed exactly per
:mod:`toollife.ingestion.schemas` (``SILVER_TOOL_EVENTS``, ``SILVER_SENSOR_READINGS``), with
synthetic Kafka coordinates (partition 0, offset = position in the topic). Messages that are not
valid JSON objects, or duplicates of an earlier ``event_id``, are left out, as silver would; this
module does not re-implement the full contract validation (that is the ingestion's job).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from toollife.ingestion.schemas import FACTORS, SILVER_SENSOR_READINGS, SILVER_TOOL_EVENTS

INGEST_TIME = datetime(2100, 1, 1, tzinfo=timezone.utc)
_COMMON = ["event_id", "machine_id", "tool_id", "experiment_id"]


def _parse(pairs, topic: str) -> pd.DataFrame:
    rows = []
    for offset, (_key, value) in enumerate(pairs):
        try:
            msg = json.loads(value)
        except ValueError:
            continue
        if isinstance(msg, dict):
            msg["_offset"] = offset
            rows.append(msg)
    pdf = pd.DataFrame(rows)
    if pdf.empty:
        return pdf
    pdf = pdf.drop_duplicates("event_id", keep="first").reset_index(drop=True)
    pdf["ts"] = pd.to_datetime(pdf["ts"], utc=True, format="ISO8601")
    pdf["event_date"] = pdf["ts"].dt.date
    pdf["replicate"] = pdf.get("replicate", pd.Series(1, index=pdf.index)).fillna(1).astype("int64")
    pdf["run_id"] = pdf["run_id"].astype("int64")
    pdf["kafka_topic"] = topic
    pdf["kafka_partition"] = 0
    pdf["kafka_offset"] = pdf["_offset"].astype("int64")
    pdf["kafka_timestamp"] = pdf["ts"]
    pdf["ingest_time"] = pd.Timestamp(INGEST_TIME)
    return pdf


def _frame(spark: SparkSession, pdf: pd.DataFrame, fields) -> DataFrame:
    """pandas -> Spark with an explicit flat schema (NaN/None become null)."""
    from pyspark.sql.types import StructType

    for f in fields:
        if f.name not in pdf.columns:
            pdf[f.name] = None
    return spark.createDataFrame(pdf[[f.name for f in fields]], StructType(fields))


def tool_events_frame(spark: SparkSession, pairs) -> DataFrame:
    pdf = _parse(pairs, "tool_events")
    if pdf.empty:
        return spark.createDataFrame([], SILVER_TOOL_EVENTS)
    for f in FACTORS.fieldNames():
        pdf[f"_factor_{f}"] = [fa.get(f) if isinstance(fa, dict) else None for fa in pdf.get("factors", [None] * len(pdf))]
    pdf["factors_json"] = [json.dumps(fa, sort_keys=True, separators=(",", ":")) if isinstance(fa, dict) else None
                           for fa in pdf.get("factors", [None] * len(pdf))]
    pdf["_has_factors"] = pdf["factors_json"].notna()
    for c in ("tool_life_min", "flank_wear_mm"):
        pdf[c] = pd.to_numeric(pdf[c], errors="coerce") if c in pdf.columns else float("nan")
    from pyspark.sql.types import BooleanType, StructField

    fields = [StructField(f.name, f.dataType) for f in SILVER_TOOL_EVENTS.fields if f.name != "factors"]
    fields += [StructField(f"_factor_{f.name}", f.dataType) for f in FACTORS.fields]
    fields += [StructField("_has_factors", BooleanType())]
    for f in FACTORS.fields:
        if f.dataType.typeName() == "double":
            pdf[f"_factor_{f.name}"] = pd.to_numeric(pdf[f"_factor_{f.name}"], errors="coerce")
    sdf = _frame(spark, pdf, fields)
    factors = F.when(F.col("_has_factors"), F.struct(*[
        F.col(f"_factor_{f.name}").cast(f.dataType).alias(f.name) for f in FACTORS.fields]))
    return sdf.select(*[(factors if f.name == "factors" else F.col(f.name)).cast(f.dataType).alias(f.name)
                        for f in SILVER_TOOL_EVENTS.fields])


def sensor_readings_frame(spark: SparkSession, pairs) -> DataFrame:
    pdf = _parse(pairs, "sensor_readings")
    if pdf.empty:
        return spark.createDataFrame([], SILVER_SENSOR_READINGS)
    if "unit" not in pdf.columns:
        pdf["unit"] = None
    pdf["value"] = pdf["value"].astype(float)
    return _frame(spark, pdf, list(SILVER_SENSOR_READINGS.fields))


def silver_frames(spark: SparkSession, result: Any) -> dict[str, DataFrame]:
    """{'tool_events': df, 'sensor_readings': df} silver rows from a ``SimulationResult``."""
    return {"tool_events": tool_events_frame(spark, result.tool_events),
            "sensor_readings": sensor_readings_frame(spark, result.sensor_readings)}
