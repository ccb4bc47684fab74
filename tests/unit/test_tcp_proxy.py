"""The pausable TCP forwarder of the S3 fault test and benchmark: it forwards, counts HTTP
requests whatever their bodies' framing, refuses while paused and forwards again on the same port."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from toollife.services.tcp_proxy import HttpRequestCounter, TcpProxy


def test_requests_are_counted_across_pieces_and_bodies():
    counts = Counter()
    counter = HttpRequestCounter(counts, threading.Lock())
    stream = (b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n" + b"GET / HTTP/1.1\r\n\r\nXY"
              + b"POST /b/k?uploads HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
              + b"5\r\nHEAD \r\n3;ext=1\r\nabc\r\n0\r\n\r\n"
              + b"HEAD /b/k HTTP/1.1\r\nHost: x\r\n\r\n" + b"GET /b?list-type=2 HTTP/1.1\r\n\r\n")
    for i in range(0, len(stream), 7):      # in 7-byte pieces, as TCP may deliver them
        counter.feed(stream[i:i + 7])
    assert counts == {"PUT": 1, "POST": 1, "HEAD": 1, "GET": 1}   # nothing counted inside a body


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_forwards_refuses_while_paused_and_comes_back_on_the_same_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with TcpProxy("127.0.0.1", server.server_address[1]) as proxy:
            kept = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
            for _ in range(2):                                  # two requests on one kept-alive connection
                kept.request("GET", "/")
                assert kept.getresponse().read() == b"ok"
            port = proxy.port
            assert proxy.requests == {"GET": 2}
            proxy.pause()
            assert proxy.connections_reset == 1
            with pytest.raises(OSError):                        # the open connection was reset
                kept.request("GET", "/")
                kept.getresponse().read()
            with pytest.raises(ConnectionRefusedError):         # and nothing listens
                http.client.HTTPConnection("127.0.0.1", port, timeout=5).request("GET", "/")
            proxy.resume()
            assert proxy.port == port
            before = proxy.request_count()
            again = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            again.request("GET", "/")
            assert again.getresponse().read() == b"ok"
            assert proxy.request_count() == before + 1
    finally:
        server.shutdown()
