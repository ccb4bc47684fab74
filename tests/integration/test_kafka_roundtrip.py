"""A real broker (started by the test session) round-trips messages with kafka-python."""

import json

from kafka import KafkaConsumer, KafkaProducer


def test_produce_consume_round_trip(kafka_config):
    servers = kafka_config["kafka"]["bootstrap_servers"]
    topic = kafka_config["kafka"]["topics"]["sensor_readings"]
    sent = [{"event_id": f"e{i}", "machine_id": f"M0{i % 3 + 1}", "value": i * 1.5} for i in range(50)]

    producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5)
    for message in sent:
        producer.send(topic, key=message["machine_id"].encode(), value=json.dumps(message).encode())
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(topic, bootstrap_servers=servers, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=10_000)
    received = []
    for record in consumer:
        received.append((record.key.decode(), record.partition, json.loads(record.value)))
        if len(received) == len(sent):
            break
    consumer.close()

    assert sorted(m["event_id"] for _, _, m in received) == sorted(m["event_id"] for m in sent)
    assert all(key == message["machine_id"] for key, _, message in received)
    # keyed by machine: all readings of one machine stay in one partition, in order
    partitions_per_key = {}
    for key, partition, _ in received:
        partitions_per_key.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions_per_key.values())


def test_topics_created_with_configured_partitions(kafka_broker, kafka_config):
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        for topic in kafka_config["kafka"]["topics"].values():
            assert len(consumer.partitions_for_topic(topic)) == kafka_config["kafka"]["partitions"]
    finally:
        consumer.close()


def test_a_second_broker_on_a_taken_port_fails_clearly(kafka_broker, base_config, tmp_path):
    import pytest

    from toollife.services.kafka_local import BrokerError, LocalKafkaBroker

    second = LocalKafkaBroker(base_config, port=kafka_broker.port, data_dir=str(tmp_path / "data"))
    with pytest.raises(BrokerError, match="already in use"):
        second.start()
