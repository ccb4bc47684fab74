"""A real S3 API server on loopback for development, the tests and the demo: S3Proxy (Java, from
Maven Central: conf/maven/s3proxy.pom.xml) with its in-memory store.

Spark's S3A, delta-rs, pyarrow and MLflow talk to it over HTTP exactly as they talk to MinIO,
RustFS or AWS S3 on a cluster (endpoint, path-style addressing, SigV4 with an access key and secret).
The in-memory ("transient") store keeps S3's semantics for directory markers, on which Spark's
streaming checkpoints rely; S3Proxy's filesystem stores hide an empty ``dir/`` marker from a listing
inside it, so a new checkpoint's ``offsets/`` looks missing (see the pom). The data lives as long as
the server: `toollife s3 down` (or the end of a test session) forgets it.

``toollife s3 up`` starts it in the background with the credentials of the environment
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or a local default pair it then prints the exports
for), creates conf's bucket and writes a pid file; ``toollife s3 down`` stops it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

from toollife.errors import UserError
from toollife.services.processes import free_port, terminate

# the local server's own credentials when the environment has none (a laptop's throw-away store)
LOCAL_ACCESS_KEY = "toollife"
LOCAL_SECRET_KEY = "toollife-local-secret"

_LOGBACK = """<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender"><file>{log}</file>
    <encoder><pattern>%d{{HH:mm:ss.SSS}} %-5level %logger{{0}} - %msg%n</pattern></encoder></appender>
  <root level="WARN"><appender-ref ref="FILE"/></root>
</configuration>
"""


class S3ServerError(UserError, RuntimeError):
    """The local S3 server could not start or be reached."""


class LocalS3Server:
    """Starts, waits for, and stops one S3Proxy; creates the bucket conf names."""

    def __init__(self, config: Mapping[str, Any], *, port: int | None = None, data_dir: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None):
        server = config["s3"]["server"]
        self.host = server["host"]
        self.port = free_port(self.host) if port == 0 else (port or server["port"])
        self.data_dir = Path(data_dir or server["data_dir"])
        self.jars_dir = Path(server["jars_dir"])
        self.heap = server["heap"]
        self.bucket = server["bucket"]
        self.start_timeout_s = server["start_timeout_s"]
        self.access_key = access_key or os.environ.get("AWS_ACCESS_KEY_ID") or LOCAL_ACCESS_KEY
        self.secret_key = secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY") or LOCAL_SECRET_KEY
        self.pid_file = self.data_dir / "s3proxy.pid"
        self.log_file = self.data_dir / "s3proxy.log"
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def credentials_env(self) -> dict[str, str]:
        """The environment a client of this server needs (the credentials it was started with)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def config_overrides(self, lakehouse_prefix: str = "lakehouse") -> dict[str, Any]:
        """Conf that puts a lakehouse (tables and checkpoints) into this server's bucket."""
        base = f"s3a://{self.bucket}/{lakehouse_prefix.strip('/')}"
        return {"s3": {"endpoint": self.endpoint},
                "lakehouse": {"root": f"{base}/tables", "checkpoint_root": f"{base}/checkpoints"}}

    def _command(self, properties: Path, logback: Path) -> list[str]:
        if not any(self.jars_dir.glob("s3proxy-*.jar")):
            raise S3ServerError(f"no S3Proxy jars in {self.jars_dir}: run `make setup` first")
        return ["java", f"-Xmx{self.heap}", "-Xms64m", f"-Dlogback.configurationFile={logback}",
                "-cp", f"{self.jars_dir.resolve()}/*", "org.gaul.s3proxy.Main", "--properties", str(properties)]

    def _write_files(self) -> tuple[Path, Path]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        properties = self.data_dir / "s3proxy.properties"
        properties.write_text("\n".join([
            f"s3proxy.endpoint={self.endpoint}",
            "s3proxy.authorization=aws-v2-or-v4",
            f"s3proxy.identity={self.access_key}",
            f"s3proxy.credential={self.secret_key}",
            "jclouds.provider=transient",
            "jclouds.identity=local", "jclouds.credential=local", ""]))
        os.chmod(properties, 0o600)  # it holds the secret
        logback = self.data_dir / "logback.xml"
        logback.write_text(_LOGBACK.format(log=self.log_file.resolve()))
        return properties, logback

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=2)
        except urllib.error.HTTPError:
            return True   # 403 for an unsigned request: the S3 API is up
        except OSError:
            return False
        return True

    def start(self, *, detach: bool = False) -> "LocalS3Server":
        if self._answers():
            raise S3ServerError(f"something already answers at {self.endpoint}; stop it or choose another port")
        properties, logback = self._write_files()
        self.process = subprocess.Popen(self._command(properties, logback), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=detach)
        deadline = time.monotonic() + self.start_timeout_s
        while not self._answers():
            if self.process.poll() is not None:
                raise S3ServerError(f"S3Proxy exited with {self.process.returncode} before answering at "
                                    f"{self.endpoint}; its log: {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise S3ServerError(f"S3Proxy did not answer at {self.endpoint} within {self.start_timeout_s} s; "
                                    f"its log: {self.log_file}")
            time.sleep(0.2)
        self.pid_file.write_text(str(self.process.pid))
        self.create_bucket(self.bucket)
        return self

    def create_bucket(self, bucket: str) -> None:
        from pyarrow import fs as pafs

        s3 = pafs.S3FileSystem(endpoint_override=f"{self.host}:{self.port}", scheme="http", region="us-east-1",
                               access_key=self.access_key, secret_key=self.secret_key, allow_bucket_creation=True)
        if s3.get_file_info(bucket).type == pafs.FileType.NotFound:
            s3.create_dir(bucket)

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def stop(self) -> bool:
        """Stop the server (this object's process, or the one of the pid file); True if one ran."""
        pid = self.process.pid if self.process and self.process.poll() is None else self.running_pid()
        if pid is None:
            return False
        terminate(pid, process=self.process, timeout_s=15)
        self.pid_file.unlink(missing_ok=True)
        return True

    def __enter__(self) -> "LocalS3Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def add_arguments(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    parser.add_argument("action", choices=["up", "down", "status"],
                        help="up: start in the background on s3.server.host:port and create s3.server.bucket; "
                             "down: stop by PID; status: exit 0 when running, 1 when not")


def run(args: argparse.Namespace) -> int:
    from toollife.config import load_config

    server = LocalS3Server(load_config(args.env))
    if args.action == "up":
        if server.running_pid():
            print(f"the local S3 server is already running at {server.endpoint} (pid {server.running_pid()})")
            return 0
        server.start(detach=True)
        print(f"S3 API at {server.endpoint}, bucket {server.bucket} (in memory: `toollife s3 down` forgets it).\n"
              f"Point the platform at it:\n  export AWS_ACCESS_KEY_ID={server.access_key} "
              f"AWS_SECRET_ACCESS_KEY=<the secret it was started with>\n"
              f"  export TOOLLIFE__S3__ENDPOINT={server.endpoint} "
              f"TOOLLIFE__LAKEHOUSE__ROOT=s3a://{server.bucket}/lakehouse/tables "
              f"TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=s3a://{server.bucket}/lakehouse/checkpoints")
    elif args.action == "down":
        print("local S3 server stopped" if server.stop() else "no local S3 server was running; nothing to stop")
    else:
        pid = server.running_pid()
        print(f"running, pid {pid}" if pid else "not running")
        return 0 if pid else 1
    return 0
