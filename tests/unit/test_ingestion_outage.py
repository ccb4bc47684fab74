"""The ingestion's broker-outage bookkeeping and error classification (pure; no broker, no Spark)."""

from __future__ import annotations

from toollife.ingestion.kafka_outage import OutageClock, kafka_unreachable_cause


def test_outage_clock_says_down_once_up_once_and_exceeded_past_the_tolerance():
    clock = OutageClock(tolerance_s=60)
    assert clock.observe(True, 0) is None
    assert clock.observe(False, 10) == "down"
    assert clock.observe(False, 15) is None
    assert clock.observe(False, 70) is None            # 60 s down: not longer than the tolerance
    assert clock.down_for(70) == 60
    assert clock.observe(True, 75) == "up"
    assert (clock.last_outage_s, clock.unreachable_s, clock.down_for(80)) == (65, 65, 0)
    assert clock.observe(True, 80) is None
    assert clock.observe(False, 100) == "down"
    assert clock.observe(False, 161) == "exceeded"
    assert clock.outages == 2
    assert clock.unreachable_s == 65                    # the open outage is not counted until it ends


# shaped like a failed query's errors: the driver's offset look-up with the broker stopped (its Kafka line as
# logged in that case) and an executor's fetch timing out (InternalKafkaConsumer.fetch)
DRIVER = ("[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: "
          "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment. Call: listNodes\n"
          "=== Streaming Query ===\nIdentifier: bronze_sensor_readings")
EXECUTOR = ("Job aborted due to stage failure: Task 0 in stage 3.0 failed 1 times, most recent failure: "
            "java.util.concurrent.TimeoutException: Cannot fetch record for offset 1200 in 360000 milliseconds\n"
            "\tat org.apache.spark.sql.kafka010.consumer.InternalKafkaConsumer.fetch")


def test_kafka_unreachable_cause_finds_the_kafka_line_and_ignores_other_failures():
    assert kafka_unreachable_cause(DRIVER) == (
        "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment. Call: listNodes")
    assert kafka_unreachable_cause(EXECUTOR) == "Cannot fetch record for offset 1200 in 360000 milliseconds"
    assert kafka_unreachable_cause("org.apache.kafka.common.errors.DisconnectException: x\nmore") == (
        "org.apache.kafka.common.errors.DisconnectException: x")
    for other in ("", None, "[DELTA_CONCURRENT_APPEND] Files were added", "java.lang.IllegalStateException: "
                  "Cannot fetch offset 7 (GroupId: g). Some data may have been lost",
                  "org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized"):
        assert kafka_unreachable_cause(other) is None
