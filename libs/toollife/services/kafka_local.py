"""A real single-node Apache Kafka (KRaft: broker + controller in one JVM) for development,
tests, the demo and the benchmarks. Never used on a cluster, where Kafka is run by its operators.

The broker runs from the jars `make setup` resolved with Maven (conf/maven/kafka-broker.pom.xml);
no Kafka distribution is downloaded. Usage::

    toollife kafka up      # format storage (once), start, wait, create topics; runs until `down`
    toollife kafka down    # stop by PID

``toollife kafka up`` (``make kafka-up``) detaches the broker: it runs until ``toollife kafka down``.
A broker the library starts for a run (``LocalKafkaBroker(...).start()``: tests, the demo, the
benchmarks) is tied to the process that started it: a small watchdog between that process and
the JVM stops the broker when the process ends, however it ends (SIGTERM, SIGKILL, a crash), so
no broker is left running with nobody to stop it.

``stop()`` then ``start()`` on the same object restarts the broker on the same ports and data
dir: same cluster id, topics and offsets, as a broker restarted by its operators (the ports of
``port=0`` are chosen once, when the object is made).
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from string import Template
from typing import Any, Callable, Iterable, Mapping

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from toollife.errors import UserError
from toollife.services.processes import free_port, terminate

log = logging.getLogger(__name__)

# Runs between the process that starts a broker and the broker's JVM: stops the JVM when its
# stdin (a pipe whose only writer is that process) reaches EOF, i.e. when that process is gone.
_WATCHDOG = """
import signal, subprocess, sys, threading
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
def stop(*_):
    if child.poll() is None:
        child.terminate()
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, signal.SIG_IGN)
def watch():
    try:
        sys.stdin.buffer.read()
    except Exception:
        pass
    stop()
threading.Thread(target=watch, daemon=True).start()
sys.exit(child.wait())
"""
_WATCHED: dict[int, Any] = {}  # watchdog pid -> write end of its stdin pipe, open while we live


class BrokerError(UserError, RuntimeError):
    """The local broker could not be started or reached; the message says why and where to look."""


def stop_command() -> str:
    """How the user who started this command stops a broker: the form they typed."""
    return "make kafka-down" if os.environ.get("MAKELEVEL") else "toollife kafka down"


def _cluster_id() -> str:
    # Kafka's cluster ids are 16 random bytes, URL-safe base64 without padding; like
    # Uuid.randomUuid() never one starting with "-", which kafka-storage's argparse reads as an option.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class LocalKafkaBroker:
    """Formats, starts, waits for, and stops one local KRaft node."""

    def __init__(self, config: Mapping[str, Any], *, port: int | None = None, data_dir: str | None = None):
        broker = config["kafka"]["broker"]
        self.host = broker["host"]
        self.port = free_port(self.host) if port == 0 else (port or broker["port"])
        self.controller_port = free_port(self.host) if port == 0 else broker["controller_port"]
        self.data_dir = Path(data_dir or broker["data_dir"])
        self.log_dir = self.data_dir.parent / "logs" if data_dir else Path(broker["log_dir"])
        self.jars_dir = Path(broker["jars_dir"])
        self.heap = broker["heap"]
        self.start_timeout_s = broker["start_timeout_s"]
        self.properties_template = Path(broker["properties_path"])
        self.log4j_config = Path(broker["log4j_path"])
        self.partitions = config["kafka"]["partitions"]
        self.topics = list(config["kafka"]["topics"].values())
        self.pid_file = self.data_dir.parent / "broker.pid"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------------

    def _java(self, main_class: str, *args: str) -> list[str]:
        if not any(self.jars_dir.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"no Kafka jars in {self.jars_dir}: run `make setup` first")
        return [
            "java", f"-Xmx{self.heap}", "-Xms128m",
            f"-Dlog4j2.configurationFile={self.log4j_config.resolve()}",
            f"-Dkafka.logs.dir={self.log_dir.resolve()}",
            "-cp", f"{self.jars_dir.resolve()}/*",
            main_class, *args,
        ]

    def _write_properties(self) -> Path:
        if not self.properties_template.is_file():
            raise BrokerError(f"Kafka properties template {self.properties_template} not found")
        rendered = Template(self.properties_template.read_text()).substitute(
            host=self.host, port=self.port, controller_port=self.controller_port,
            data_dir=self.data_dir.resolve(), partitions=self.partitions,
        )
        path = self.data_dir.parent / "server.properties"
        path.write_text(rendered)
        return path

    def format_storage(self, properties: Path) -> None:
        """Format the KRaft log dir once; an already formatted dir is reused (same cluster id)."""
        if (self.data_dir / "meta.properties").exists():
            return
        cmd = self._java("kafka.tools.StorageTool", "format", "--standalone",
                         "-t", _cluster_id(), "-c", str(properties))
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed:\n{result.stdout}\n{result.stderr}")

    def start(self, *, detach: bool = False) -> "LocalKafkaBroker":
        """Start and wait until ready. ``detach=True`` (``toollife kafka up``): the broker outlives
        this process; otherwise it stops when this process ends, however it ends."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        pid = self.running_pid()
        if pid is not None:
            raise BrokerError(f"a Kafka broker is already running (pid {pid}, {self.pid_file}); "
                              f"use it, or stop it first with `{stop_command()}`")
        for port in (self.port, self.controller_port):
            self._require_free(port)
        properties = self._write_properties()
        self.format_storage(properties)
        cmd = self._java("kafka.Kafka", str(properties))
        if not detach:
            cmd = [sys.executable, "-c", _WATCHDOG, *cmd]
        out = open(self.log_dir / "server.out", "ab")
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL if detach else subprocess.PIPE,
            start_new_session=True,  # its own process group: stopped by PID (killpg), not by our Ctrl-C
        )
        out.close()
        if not detach:
            _WATCHED[proc.pid] = proc.stdin
        self.pid_file.write_text(f"{proc.pid} {self.port}\n")
        self._proc = proc
        self.wait_ready(proc)
        self.create_topics(self.topics, self.partitions)
        log.info("Kafka broker up at %s (pid %s, logs %s)", self.bootstrap_servers, proc.pid, self.log_dir)
        return self

    def _require_free(self, port: int) -> None:
        # Otherwise the new JVM dies on bind while wait_ready happily talks to whatever holds the port.
        with socket.socket() as sock:
            # As the JVM's listener does: connections of a broker just stopped, lingering in TIME_WAIT,
            # do not keep it from binding again (a restart on the same port); a live listener still does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, port))
            except OSError as exc:
                raise BrokerError(f"{self.host}:{port} is already in use ({exc.strerror}); another broker? "
                                  f"stop it (`{stop_command()}`) or configure kafka.broker.port") from exc

    def wait_ready(self, proc: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        # refused connections are expected while the JVM starts: keep kafka-python quiet meanwhile
        kafka_logger = logging.getLogger("kafka")
        previous_level = kafka_logger.level
        kafka_logger.setLevel(logging.CRITICAL)
        try:
            self._poll_until_ready(proc, deadline)
        finally:
            kafka_logger.setLevel(previous_level)

    def _poll_until_ready(self, proc: subprocess.Popen | None, deadline: float) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise BrokerError(f"Kafka exited with code {proc.returncode}; last log lines:\n{self.log_tail()}")
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers,
                                         request_timeout_ms=3000, client_id="toollife-wait")
                try:
                    admin.list_topics()
                    return
                finally:
                    admin.close()
            except (KafkaError, OSError) as exc:
                last_error = exc
                time.sleep(0.5)
        self.stop()
        raise BrokerError(
            f"Kafka at {self.bootstrap_servers} not ready within {self.start_timeout_s}s "
            f"({last_error!r}); last log lines:\n{self.log_tail()}"
        )

    def create_topics(self, names: Iterable[str], partitions: int) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id="toollife-admin")
        try:
            for name in names:
                try:
                    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
                except TopicAlreadyExistsError:
                    pass
        finally:
            admin.close()

    def running_pid(self) -> int | None:
        if not self.pid_file.exists():
            return None
        pid = int(self.pid_file.read_text().split()[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def stop(self, timeout_s: float = 30) -> bool:
        """Stop the broker of the pid file; False when none was running."""
        pid = self.running_pid()
        if pid is None:
            return False
        terminate(pid, process=getattr(self, "_proc", None), group=True, timeout_s=timeout_s)  # controlled shutdown
        self.pid_file.unlink(missing_ok=True)
        pipe = _WATCHED.pop(pid, None)
        if pipe is not None:
            pipe.close()
        return True

    def log_tail(self, lines: int = 30) -> str:
        text = []
        for name in ("server.out", "server.log"):
            path = self.log_dir / name
            if path.exists():
                text += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text[-lines:])

    def __enter__(self) -> "LocalKafkaBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_on_free_port(config: Mapping[str, Any], data_dir: Callable[[int], str], attempts: int = 2) -> LocalKafkaBroker:
    """A started broker on a free port (``port=0``), its data in ``data_dir(attempt)``: a free port
    can be taken by another process between the probe and the broker's bind, so it tries again."""
    for attempt in range(1, attempts + 1):
        broker = LocalKafkaBroker(config, port=0, data_dir=data_dir(attempt))
        try:
            broker.start()
            return broker
        except BrokerError:
            if attempt == attempts:
                raise
    raise ValueError("attempts must be at least 1")


def add_arguments(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    parser.add_argument("action", choices=["up", "down", "status"],
                        help="up: format (once), start in the background, wait, create topics (nothing when one is running); "
                             "down: stop by PID; "
                             "status: exit 0 when running, 1 when not")


def run(args: argparse.Namespace) -> int:
    from toollife.config import load_config

    broker = LocalKafkaBroker(load_config(args.env))
    if args.action == "up":
        pid = broker.running_pid()
        if pid is not None:  # idempotent, like `down`: the broker the user wants is there
            print(f"a Kafka broker is already running (pid {pid}, {broker.pid_file}); nothing to start; "
                  f"stop it with `{stop_command()}`")
            return 0
        broker.start(detach=True)
        print(f"Kafka broker running at {broker.bootstrap_servers}; logs in {broker.log_dir}; "
              f"stop it with `{stop_command()}`")
    elif args.action == "down":
        if broker.stop():
            print("Kafka broker stopped")
        else:
            print(f"no Kafka broker was running (no live pid in {broker.pid_file}); nothing to stop")
    else:
        pid = broker.running_pid()
        print(f"running, pid {pid}" if pid else "not running")
        return 0 if pid else 1
    return 0
