"""Peers on 127.0.0.1 for tests that need a real one, each shut down and joined when its `with`
block ends. `serve`: a tiny HTTP (or HTTPS) server that answers GETs with whatever
`respond(path, headers)` returns, (status, content type, body) or the same with a dict of extra
headers. `raw_peer`: a listener that hands every connection to `answer(conn, stop)` on a thread
of its own, for peers that misbehave below HTTP (trickle, stall, record)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (status, content type, body) or (status, content type, body, extra headers)
Responder = Callable[[str, Any], tuple[Any, ...]]


@contextmanager
def serve(respond: Responder, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Yields the server's base URL, http://127.0.0.1:<port> (https with `tls`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body, *extra = respond(self.path, self.headers)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in (extra[0] if extra else {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 5
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


Answer = Callable[[socket.socket, threading.Event], None]


@contextmanager
def raw_peer(answer: Answer) -> Iterator[str]:
    """Yields the listener's address, 127.0.0.1:<port>. When the block ends `stop` is set and
    every answering thread joined, so what an answer recorded is complete."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()
    answering: list[threading.Thread] = []

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            worker = threading.Thread(target=answer, args=(conn, stop), daemon=True)
            answering.append(worker)
            worker.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for worker in answering:
            worker.join(timeout=5)
        server.close()
