"""Produce rate of the simulator (kafka-python) against Kafka's own ProducerPerformance (Java).

One run, one broker: a LocalKafkaBroker on a free port in a temp dir; the same number of
messages, the same mean message size, the same producer settings (acks=all, linger.ms,
batch.size, compression gzip). Prints both rates, the ratio and the exact commands.

    .venv/bin/python -m benchmarks.simulator_vs_producer_perf [--messages 200000]

Baselines: (1) ProducerPerformance with ``--record-size <simulator mean size>`` (random A-Z
payloads, as asked), and (2) ProducerPerformance with ``--payload-file`` holding the simulator's
own payloads (same bytes, so gzip sees the same compressibility). The Java tool sends no key;
the simulator keys by machine_id.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULT_RE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")


def simulated_messages(n: int, seed: int):
    """At least ``n`` simulator messages (machines scaled up as needed), cut to exactly ``n``."""
    from toollife.simulation import simulate

    machines = max(1, math.ceil(n / 40_000))
    while True:
        started = time.perf_counter()
        result = simulate(overrides={"machines": machines, "seed": seed})
        seconds = time.perf_counter() - started
        if len(result.messages) >= n:
            return result, result.messages[:n], len(result.messages) / seconds
        machines *= 2


def java_producer_perf(config, servers: str, topic: str, n: int, extra: list[str]) -> tuple[list[str], str, float]:
    pub = config["simulation"]["publish"]
    jars = Path(config["kafka"]["broker"]["jars_dir"])
    cmd = ["java", "-Xmx512m", "-cp", f"{jars}/*", "org.apache.kafka.tools.ProducerPerformance",
           "--topic", topic, "--num-records", str(n), *extra, "--throughput", "-1",
           "--producer-props", f"bootstrap.servers={servers}", "acks=all", f"linger.ms={pub['linger_ms']}",
           f"batch.size={pub['batch_size']}", f"compression.type={pub['compression_type']}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"ProducerPerformance failed:\n{out.stdout}\n{out.stderr}")
    match = None
    for line in out.stdout.splitlines():
        m = RESULT_RE.search(line)
        if m and int(m.group(1)) == n:
            match, summary = m, line.strip()
    if match is None:
        raise RuntimeError(f"no summary line in ProducerPerformance output:\n{out.stdout}")
    return cmd, summary, float(match.group(2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000, help="messages per producer (default 200000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    n = args.messages

    from toollife.config import load_config
    from toollife.services.kafka_local import LocalKafkaBroker
    from toollife.simulation.publisher import publish

    config = load_config("local", environ={"TOOLLIFE_CONF_DIR": str(REPO / "conf")})
    print(f"simulating {n} messages ...", flush=True)
    result, messages, gen_rate = simulated_messages(n, args.seed)
    sizes = [len(m.value) for m in messages]
    mean_size = round(sum(sizes) / len(sizes))
    print(f"  generated {len(result.messages)} messages at {gen_rate:,.0f} msg/s (simulate(), pure Python); "
          f"mean value size {mean_size} B", flush=True)

    with tempfile.TemporaryDirectory(prefix="toollife-bench-") as tmp:
        broker = LocalKafkaBroker(config, port=0, data_dir=str(Path(tmp) / "data"))
        broker.start()
        try:
            servers = broker.bootstrap_servers
            topics = {"sensor_readings": "bench-sensor-readings", "tool_events": "bench-tool-events"}
            broker.create_topics([*topics.values(), "bench-java-size", "bench-java-payload"], config["kafka"]["partitions"])
            config["kafka"]["bootstrap_servers"] = servers
            config["kafka"]["topics"] = topics

            # warm-up (connections, metadata, JIT of the broker) is not measured
            publish(messages[:2000], config, progress=False)

            print("simulator (kafka-python) ...", flush=True)
            report = publish(messages, config, progress=False)
            if not report.ok:
                raise RuntimeError(f"simulator publish failed: {report.as_dict()}")
            sim_rate = report.total_delivered / report.seconds

            payload_file = Path(tmp) / "payloads.txt"
            payload_file.write_bytes(b"\n".join(m.value for m in messages if b"\n" not in m.value))
            print("ProducerPerformance --record-size ...", flush=True)
            cmd1, out1, java_rate = java_producer_perf(config, servers, "bench-java-size", n,
                                                       ["--record-size", str(mean_size)])
            print("ProducerPerformance --payload-file ...", flush=True)
            cmd2, out2, java_payload_rate = java_producer_perf(config, servers, "bench-java-payload", n,
                                                               ["--payload-file", str(payload_file)])
        finally:
            broker.stop()

    pub = config["simulation"]["publish"]
    print()
    print(f"broker: LocalKafkaBroker (KRaft, 1 node, {config['kafka']['partitions']} partitions per topic) at {servers}")
    print(f"messages: {n}, mean size {mean_size} B; producer settings: acks=all linger.ms={pub['linger_ms']} "
          f"batch.size={pub['batch_size']} compression={pub['compression_type']}")
    print(f"simulator: toollife.simulation.publisher.publish (kafka-python, keys=machine_id): "
          f"{report.total_delivered} delivered in {report.seconds:.2f} s = {sim_rate:,.0f} msg/s "
          f"({report.bytes_sent / report.seconds / 2**20:.2f} MB/s)")
    print(f"java --record-size: $ {shlex.join(cmd1)}")
    print(f"  {out1}")
    print(f"java --payload-file (the simulator's payloads): $ {shlex.join(cmd2)}")
    print(f"  {out2}")
    print(f"ratio simulator / ProducerPerformance(--record-size {mean_size}) = {sim_rate / java_rate:.3f}")
    print(f"ratio simulator / ProducerPerformance(--payload-file)       = {sim_rate / java_payload_rate:.3f}")
    print(json.dumps({"messages": n, "mean_size": mean_size, "simulator_msg_s": round(sim_rate),
                      "java_record_size_msg_s": java_rate, "java_payload_file_msg_s": java_payload_rate,
                      "ratio_record_size": round(sim_rate / java_rate, 3),
                      "ratio_payload_file": round(sim_rate / java_payload_rate, 3),
                      "generate_msg_s": round(gen_rate)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
