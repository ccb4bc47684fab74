"""Each kind of expectation seen to fail on a small table made to break it, and to pass on good
data; results land in meta.data_quality with their version range, and a second run checks only
the new versions. Tables are written directly (not through the ingestion) so that each defect is
exactly the one planted; the broken ones use nullable copies of the declared schemas, as a
drifted table would."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone

from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from toollife import quality
from toollife.lakehouse import tables
from toollife.gold import doe_effects as de
from toollife.gold import experiment_runs as er
from toollife.ingestion import schemas
from toollife.quality import core

NOW = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
OLD = NOW - timedelta(days=2)


def nullable(schema: StructType) -> StructType:
    return StructType([StructField(f.name, f.dataType, True) for f in schema.fields])


def write(spark, config, tbl, rows, schema, *, cdf=True):
    path = tbl.path(config)
    df = spark.createDataFrame([tuple(r.get(f.name) for f in schema.fields) for r in rows], nullable(schema))
    writer = df.write.format("delta").mode("append")
    if cdf:
        writer = writer.option("delta.enableChangeDataFeed", "true")
    writer.save(path)
    tables.register(spark, config, tbl)


def reading(i, **over):
    row = dict(event_id=f"r{i}", ts=OLD, event_date=OLD.date(), machine_id="M01", tool_id="T01",
               experiment_id="exp-1", run_id=1, replicate=1, sensor="spindle_power", value=10.0, unit="kW",
               kafka_topic="readings", kafka_partition=0, kafka_offset=i, kafka_timestamp=OLD, ingest_time=OLD)
    row.update(over)
    return row


def bronze_row(i, topic="readings", ingest_time=OLD):
    return dict(key=b"M01", value=b"{}", topic=topic, partition=0, offset=i, kafka_timestamp=OLD,
                kafka_timestamp_type=0, ingest_time=ingest_time, ingest_date=ingest_time.date())


def by_check(outcome):
    return {(r.table, r.check): r for r in outcome.results}


def test_each_expectation_kind_fails_on_a_table_broken_for_it(spark, lakehouse_config, tmp_path):
    config = copy.deepcopy(lakehouse_config)
    config["ingestion"]["sources"] = ["sensor_readings"]
    config["kafka"]["topics"]["sensor_readings"] = "readings"
    config["quality"]["gx_root"] = str(tmp_path / "gx")
    src = schemas.SOURCES["sensor_readings"]

    # bronze: 4 records, one from a foreign topic, all ingested two days ago (stale)
    write(spark, config, src.bronze, [bronze_row(i) for i in range(3)] + [bronze_row(3, topic="elsewhere")],
          schemas.BRONZE)
    # silver: a duplicate event_id, a value out of its physical range, a null key, an unknown sensor
    write(spark, config, src.silver, [
        reading(0), reading(1, event_id="r0"), reading(2, value=999.0), reading(3, machine_id=None),
        reading(4, sensor="laser")], schemas.SILVER_SENSOR_READINGS)
    write(spark, config, schemas.QUARANTINE_TABLE, [], schemas.QUARANTINE)
    write(spark, config, schemas.BATCH_STATS_TABLE, [], schemas.BATCH_STATS, cdf=False)
    write(spark, config, schemas.SOURCES["tool_events"].silver,
          [dict(reading(0, event_id="e1"), event="run_started", run_id=2)], schemas.SILVER_TOOL_EVENTS)

    # gold: a duplicated run key, an unknown status, a run without run_started, an effect of no run
    run_schema = er.experiment_runs_schema(config)
    run = {f.name: None for f in run_schema.fields}
    run.update(experiment_id="exp-1", machine_id="M01", tool_id="T01", run_id=2, replicate=1, status="completed",
               design_factors=[], n_readings=1, row_hash="h", updated_at=NOW, tool_life_min=20.0)
    write(spark, config, er.EXPERIMENT_RUNS, [run, run, dict(run, run_id=3, status="bogus")], run_schema)
    effect = {f.name: None for f in de.effects_schema().fields}
    effect.update(experiment_id="exp-1", machine_id="M01", tool_id="T01", fit="least_squares", term="A", method="ols",
                  response="t",
                  n_runs=2, computed_at=NOW)
    write(spark, config, de.EFFECTS, [effect, dict(effect, tool_id="T09")], de.effects_schema())

    outcome = quality.validate(spark, config, layers=["bronze", "silver"],
                               tables=["gold.experiment_runs", "gold.doe_effects"])
    got = by_check(outcome)
    bronze, silver = src.bronze.qualified, src.silver.qualified
    failed = {key for key, r in got.items() if not r.success}
    assert failed == {
        (bronze, "topic_configured"), (bronze, "fresh_ingest"),
        (silver, "keys_not_null"), (silver, "sensor_in_contract"), (silver, "value_in_physical_range"),
        (silver, "event_id_unique"), (silver, "fresh_ingest"), (silver, "volume_reconciles"),
        ("gold.experiment_runs", "run_key_unique"), ("gold.experiment_runs", "status_known"),
        ("gold.experiment_runs", "run_has_run_started"), ("gold.doe_effects", "effect_has_experiment_run"),
    }, sorted(failed)
    for key in [(bronze, "schema"), (silver, "schema"), (bronze, "keys_not_null"), ("gold.experiment_runs", "schema"),
                ("gold.experiment_runs", "keys_not_null"), ("gold.doe_effects", "keys_not_null")]:
        assert got[key].success, got[key]
    assert got[(silver, "value_in_physical_range")].unexpected_count == 1
    assert got[(silver, "value_in_physical_range")].examples[0]["value"] == 999.0
    assert got[(silver, "event_id_unique")].examples == ["r0", "r0"]
    assert got[(bronze, "fresh_ingest")].severity == "warning"
    assert got[("gold.experiment_runs", "run_has_run_started")].severity == "warning"
    assert got[(silver, "volume_reconciles")].severity == "critical"
    assert "critical" in {r.severity for r in outcome.critical_failures}
    assert outcome.counts()["gold"] == {"passed": 4, "warned": 1, "failed": 3}

    rows = tables.read(spark, config, core.DATA_QUALITY).where(F.col("run_id") == outcome.run_id).collect()
    assert len(rows) == len(outcome.results)
    row = next(r for r in rows if r.table == silver and r.check == "value_in_physical_range")
    assert (row.from_version, row.to_version, row.checked, row.rows_checked) == (0, 0, "changes", 5)
    assert row.expectation == "unexpected_rows_with_examples" and not row.success and row.unexpected_count == 1
    assert json.loads(row.unexpected_examples)[0]["event_id"] == "r2"
    assert core.data_docs_index(config).is_file()

    # conf turns a critical check into a warning; the next run checks only the new version
    config["quality"]["severity"] = {"silver.sensor_readings.value_in_physical_range": "warning",
                                     "keys_not_null": "warning", "sensor_in_contract": "warning",
                                     "event_id_unique": "warning", "volume_reconciles": "warning"}
    write(spark, config, src.silver, [reading(7, ingest_time=NOW)], schemas.SILVER_SENSOR_READINGS)
    again = quality.validate(spark, config, tables=[silver])
    assert again.ranges[silver] == (0, 1, "changes")        # the failed range is checked again
    assert not again.critical_failures
    assert again.counts()["silver"]["failed"] == 0
    third = quality.validate(spark, config, tables=[silver])
    assert third.results == [] and "no new version" in third.skipped[silver]
    write(spark, config, src.silver, [reading(8, ingest_time=NOW)], schemas.SILVER_SENSOR_READINGS)
    fourth = quality.validate(spark, config, tables=[silver])
    assert fourth.ranges[silver] == (2, 2, "changes")
    rows_checked = tables.read(spark, config, core.DATA_QUALITY).where(F.col("run_id") == fourth.run_id)
    assert {r.rows_checked for r in rows_checked.where(F.col("checked") == "changes").collect()} == {1}
    assert {r.check for r in fourth.results if not r.success} == {"volume_reconciles"}
