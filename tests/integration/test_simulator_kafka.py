"""The simulator against the real broker (session fixture) and the meta.simulation_runs table."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from kafka import KafkaConsumer

from toollife.cli import main
from toollife.simulation import TOPICS, manifest, simulate
from toollife.simulation.publisher import publish

SMALL = {"machines": 2, "tools": 1, "replicates": 1, "seed": 21, "sensors": {"sample_interval_s": 120.0},
         "bad_messages": {"counts": {"malformed_json": 2, "oversize": 1, "non_finite": 2, "duplicate": 3},
                          "oversize_bytes": 4096}}


def consume(servers: str, topic: str, expected: int, timeout_ms: int = 15_000) -> list:
    consumer = KafkaConsumer(topic, bootstrap_servers=servers, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=timeout_ms)
    records = []
    try:
        for record in consumer:
            records.append(record)
            if len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


def test_every_message_round_trips_through_the_broker(kafka_config):
    result = simulate(kafka_config, overrides=SMALL)
    report = publish(result.messages, kafka_config, progress=False)
    assert report.ok and report.failed == 0
    assert report.delivered == result.counts["by_topic"]

    servers = kafka_config["kafka"]["bootstrap_servers"]
    for logical in TOPICS:
        topic = kafka_config["kafka"]["topics"][logical]
        expected = result.topic(logical)
        records = consume(servers, topic, len(expected))
        assert len(records) == len(expected)
        got = [(r.key, r.value) for r in records]
        assert Counter(got) == Counter(expected)  # every payload byte-identical, duplicates included
        # key = machine_id, and each machine's messages keep their order (one partition per key)
        per_key_sent, per_key_got = defaultdict(list), defaultdict(list)
        for k, v in expected:
            per_key_sent[k].append(v)
        for r in records:
            per_key_got[r.key].append(r.value)
        assert per_key_got == per_key_sent
        for r in records[:50]:
            if r.value.startswith(b"{") and b"NaN" not in r.value and b"Infinity" not in r.value:
                try:
                    payload = json.loads(r.value)
                except ValueError:
                    continue  # an injected malformed message
                if isinstance(payload.get("machine_id"), str):
                    assert r.key == payload["machine_id"].encode()


def test_cli_publishes_to_the_broker(kafka_config, tmp_path, capsys):
    servers = kafka_config["kafka"]["bootstrap_servers"]
    topics = kafka_config["kafka"]["topics"]
    rc = main(["simulate", "--machines", "1", "--tools", "1", "--replicates", "1", "--seed", "5",
               "--sample-interval", "600", "--bootstrap-servers", servers,
               "--sensor-topic", topics["sensor_readings"], "--event-topic", topics["tool_events"],
               "--rate-limit", "5000", "--no-progress", "--no-table", "--manifest-dir", str(tmp_path)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["delivered"] == summary["counts"]["by_topic"]
    events = consume(servers, topics["tool_events"], summary["counts"]["by_topic"]["tool_events"])
    assert len(events) == 32
    saved = json.loads((tmp_path / f"{summary['simulation_id']}.json").read_text())
    assert saved["target"] == "kafka" and saved["publish"]["failed"] == 0


def test_manifest_row_in_meta_simulation_runs(spark, lakehouse_config, tmp_path):
    config = dict(lakehouse_config)
    config["simulation"] = {**lakehouse_config["simulation"], "manifest_dir": str(tmp_path)}
    result = simulate(config, overrides={"machines": 2, "tools": 2, "replicates": 1, "seed": 8,
                                         "sensors": {"sample_interval_s": 3600.0}})
    doc = manifest.build_manifest(result, target="jsonl")
    path = manifest.record(config, doc)
    manifest.record(config, doc)  # idempotent: same simulation, same single row
    assert path.exists()
    from toollife.lakehouse import tables

    rows = tables.read(spark, config, tables.Table("meta", "simulation_runs")).collect()
    assert len(rows) == 1
    row = rows[0]
    assert row.simulation_id == result.simulation_id and row.seed == 8
    assert row.config_hash == result.config_hash
    assert dict(row.messages_by_topic) == result.counts["by_topic"]
    assert len(row.taylor) == 4 and len(row.runs) == 2 * 2 * 16
    assert abs(row.taylor[0].C - result.taylor["C"].iloc[0]) < 1e-9
    assert dict(row.coating_multiplier) == {"TiN": 1.0, "TiAlN": 1.15}
