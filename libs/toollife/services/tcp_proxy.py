"""A pausable TCP forwarder on loopback, for the fault tests and the S3 benchmark (pure Python).

Put in front of a server (the local S3 server), it forwards every connection as it is. ``pause()``
makes the server look gone without losing its data: the listening socket closes (new connections
are refused) and every open connection is reset, as when a node or its network goes away;
``resume()`` listens again on the same port. It also counts the HTTP requests that pass through
it, by method (the request line and headers of each request; the body skipped by
``Content-Length`` or chunked framing), which is how the benchmark counts S3 requests per
micro-batch whatever the client.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import Counter

_METHODS = (b"GET", b"PUT", b"POST", b"HEAD", b"DELETE")


class HttpRequestCounter:
    """Counts HTTP/1.1 requests in one client-to-server byte stream, fed in arbitrary pieces."""

    def __init__(self, counts: Counter, lock: threading.Lock):
        self.counts, self.lock = counts, lock
        self.buffer = b""
        self.body_left = 0          # bytes of a Content-Length body still to skip
        self.chunked = False        # inside a chunked body
        self.broken = False         # framing not understood: stop counting this connection

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        self.buffer += data
        while self.buffer and not self.broken:
            if self.body_left:
                skip = min(self.body_left, len(self.buffer))
                self.buffer, self.body_left = self.buffer[skip:], self.body_left - skip
                continue
            if self.chunked:
                end = self.buffer.find(b"\r\n")
                if end < 0:
                    return
                size = int(self.buffer[:end].split(b";")[0] or b"0", 16)
                if size == 0:   # last chunk: no trailers from the clients here, just the empty line
                    if len(self.buffer) < end + 4:
                        return
                    self.buffer, self.chunked = self.buffer[end + 4:], False
                else:
                    self.buffer, self.body_left = self.buffer[end + 2:], size + 2   # the chunk and its CRLF
                continue
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
            method = head.split(b" ", 1)[0]
            if method not in _METHODS:
                self.broken = True
                return
            with self.lock:
                self.counts[method.decode()] += 1
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    self.body_left = int(value.strip())
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    self.chunked = True


class TcpProxy:
    """Forwards ``host:port`` to ``target``; :meth:`pause` / :meth:`resume` take it away and back."""

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0):
        self.target = (target_host, target_port)
        self.host, self.port = host, port
        self.requests: Counter = Counter()
        self.connections_reset = 0      # open connections pause() reset
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "TcpProxy":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="tcp-proxy-accept").start()
        return self

    def pause(self) -> None:
        """Refuse new connections and reset the open ones (the server looks gone)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            try:   # wakes the blocked accept() and stops listening (close() alone does neither on Linux)
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._lock:
            sockets, self._open = list(self._open), set()
        self.connections_reset += len(sockets) // 2
        for sock in sockets:
            _reset(sock)

    def resume(self) -> None:
        """Listen again on the same port."""
        if self._listener is None:
            self.start()

    def stop(self) -> None:
        self.pause()

    def request_count(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:    # closed by pause() / stop()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._open.update((client, upstream))
            counter = HttpRequestCounter(self.requests, self._lock)
            threading.Thread(target=self._pipe, args=(client, upstream, counter), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, counter: HttpRequestCounter | None) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if counter is not None:
                    counter.feed(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a peer that vanished, not a polite FIN. SHUT_RD first: it
    wakes a thread blocked in recv() on it, which close() from another thread does not."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    sock.close()
