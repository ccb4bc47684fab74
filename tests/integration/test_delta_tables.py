"""Real Delta tables on disk: write, read, time travel, catalog registration."""

from chispa import assert_df_equality

from toollife.lakehouse import tables


def test_write_read_and_time_travel(spark, lakehouse_config):
    tbl = tables.Table("gold", "smoke")
    v0 = spark.createDataFrame([(1, "a"), (2, "b")], "id int, label string")
    v1 = spark.createDataFrame([(3, "c")], "id int, label string")

    tables.overwrite(v0, lakehouse_config, tbl)
    tables.overwrite(v1, lakehouse_config, tbl)

    assert_df_equality(tables.read(spark, lakehouse_config, tbl), v1, ignore_row_order=True)
    assert_df_equality(tables.read(spark, lakehouse_config, tbl, version=0), v0, ignore_row_order=True)
    assert_df_equality(spark.sql("select * from gold.smoke VERSION AS OF 0"), v0, ignore_row_order=True)
    history = spark.sql("DESCRIBE HISTORY gold.smoke").collect()
    assert [h.version for h in history] == [1, 0]


def test_tables_on_disk_are_registered_in_a_new_catalog(spark, lakehouse_config):
    tbl = tables.Table("silver", "registered")
    tables.overwrite(spark.range(3), lakehouse_config, tbl)
    spark.sql("DROP TABLE silver.registered")  # as after a restart of the in-memory catalog
    assert not spark.catalog.tableExists("silver.registered")

    found = tables.register_existing(spark, lakehouse_config)

    assert tbl in found
    assert spark.table("silver.registered").count() == 3


def test_registration_follows_the_lakehouse_root(spark, lakehouse_config, tmp_path):
    tbl = tables.Table("meta", "moving")
    tables.overwrite(spark.range(2), lakehouse_config, tbl)
    other = {**lakehouse_config, "lakehouse": {**lakehouse_config["lakehouse"], "root": str(tmp_path / "other")}}
    tables.overwrite(spark.range(5), other, tbl)
    assert spark.table("meta.moving").count() == 5


def test_create_if_missing_is_idempotent(spark, lakehouse_config):
    tbl = tables.Table("meta", "idempotent")
    schema = spark.range(1).schema
    tables.create_if_missing(spark, lakehouse_config, tbl, schema, properties={"delta.appendOnly": "true"})
    tables.create_if_missing(spark, lakehouse_config, tbl, schema, properties={"delta.appendOnly": "true"})
    detail = spark.sql("DESCRIBE DETAIL meta.idempotent").first()
    assert detail.properties["delta.appendOnly"] == "true"
    assert spark.sql("DESCRIBE HISTORY meta.idempotent").count() == 1


def test_create_if_missing_brings_an_existing_table_to_the_configured_properties(spark, lakehouse_config):
    from toollife.config import load_config

    tbl = tables.Table("meta", "props")
    schema = spark.range(1).schema
    tables.create_if_missing(spark, lakehouse_config, tbl, schema, properties={"delta.checkpointInterval": "10"})
    every = {**load_config()["ingestion"]["table_properties"]["silver"], "delta.checkpointInterval": "20",
             "delta.dataSkippingNumIndexedCols": "0"}
    tables.create_if_missing(spark, lakehouse_config, tbl, schema, properties=every)
    props = spark.sql("DESCRIBE DETAIL meta.props").first().properties
    assert {k: props[k] for k in every} == {k: str(v) for k, v in every.items()}
    tables.create_if_missing(spark, lakehouse_config, tbl, schema, properties=every)   # in place: no new version
    assert spark.sql("DESCRIBE HISTORY meta.props").count() == 2


def test_create_if_missing_follows_the_lakehouse_root(spark, lakehouse_config, tmp_path):
    tbl = tables.Table("meta", "created_twice")
    schema = spark.range(1).schema
    tables.create_if_missing(spark, lakehouse_config, tbl, schema)
    other = {**lakehouse_config, "lakehouse": {**lakehouse_config["lakehouse"], "root": str(tmp_path / "other")}}
    tables.create_if_missing(spark, other, tbl, schema)
    assert (tmp_path / "other" / "meta" / "created_twice" / "_delta_log").is_dir()
