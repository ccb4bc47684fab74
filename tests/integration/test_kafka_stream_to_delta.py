"""Structured Streaming reads the real Kafka topic (availableNow) into a Delta table."""

import json

from kafka import KafkaProducer

from toollife.lakehouse import tables


def produce(config, count, start=0):
    producer = KafkaProducer(bootstrap_servers=config["kafka"]["bootstrap_servers"], acks="all")
    topic = config["kafka"]["topics"]["sensor_readings"]
    for i in range(start, start + count):
        producer.send(topic, key=b"M01", value=json.dumps({"event_id": f"e{i}"}).encode())
    producer.flush()
    producer.close()


def ingest_available(spark, config, tbl):
    query = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", config["kafka"]["bootstrap_servers"])
        .option("subscribe", config["kafka"]["topics"]["sensor_readings"])
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr("CAST(key AS STRING) AS key", "CAST(value AS STRING) AS value", "partition", "offset")
        .writeStream.format("delta")
        .option("checkpointLocation", tbl.checkpoint(config))
        .trigger(availableNow=True)
        .start(tbl.path(config))
    )
    query.awaitTermination(300)
    assert query.exception() is None


def test_available_now_lands_exactly_what_was_produced(spark, kafka_config):
    tbl = tables.Table("bronze", "stream_smoke")
    produce(kafka_config, 120)
    ingest_available(spark, kafka_config, tbl)
    landed = tables.read(spark, kafka_config, tbl)
    assert landed.count() == 120
    assert landed.select("partition", "offset").distinct().count() == 120

    # the checkpoint remembers the offsets: a second run adds only the new messages
    produce(kafka_config, 30, start=120)
    ingest_available(spark, kafka_config, tbl)
    landed = tables.read(spark, kafka_config, tbl)
    assert landed.count() == 150
    assert landed.select("value").distinct().count() == 150
