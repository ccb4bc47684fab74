"""What the local servers share about their processes: a free loopback port, and a stop that asks
first (SIGTERM: Kafka's controlled shutdown, S3Proxy's clean exit) and insists after a bound."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def terminate(pid: int, *, process: subprocess.Popen | None = None, group: bool = False,
              timeout_s: float = 30.0) -> None:
    """SIGTERM ``pid`` (its process group with ``group``), wait until it has exited, SIGKILL after
    ``timeout_s``. ``process``, when it is this pid's Popen, is polled: a child of ours that has
    exited stays a zombie that ``kill(pid, 0)`` still finds until it is reaped."""
    send = os.killpg if group else os.kill
    try:
        send(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.pid == pid:
            if process.poll() is not None:
                return
        else:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    try:
        send(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
