"""A tiny HTTP server on 127.0.0.1 for tests that need a real peer (a JWKS endpoint, a FHIR
server): it answers GETs with whatever `respond(path, headers)` returns, (status, content type,
body) or the same with a dict of extra headers, and is shut down and joined when the `with`
block ends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (status, content type, body) or (status, content type, body, extra headers)
Responder = Callable[[str, Any], tuple[Any, ...]]


@contextmanager
def serve(respond: Responder) -> Iterator[str]:
    """Yields the server's base URL, http://127.0.0.1:<port>."""

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
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
