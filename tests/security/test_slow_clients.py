"""Finding: a few slow TCP clients took the whole service down (sync workers, no buffering
proxy). Property, on the real server in its default configuration: while 50 connections hold a
partial request and stall, /healthz and /v1/evaluate answer within a second; a stalled request
is answered 408 once CDS_REQUEST_READ_TIMEOUT passes; a slow but honest client is served."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.common.servers import gunicorn, request
from tests.common.vignettes import VIGNETTES

pytestmark = pytest.mark.slow
STALLED = 50
BODY = json.dumps(VIGNETTES["D05"]["encounter"]).encode()


def head(length: int) -> bytes:
    return (
        f"POST /v1/evaluate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


@contextmanager
def stalled(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections: half send the head and one byte of body, half stop inside the head."""
    socks = []
    try:
        for i in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(head(len(BODY)) + BODY[:1] if i % 2 else head(len(BODY))[:40])
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def timed(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, float]:
    started = time.monotonic()
    status, _ = request(port, method, path, body, timeout=5)
    return status, time.monotonic() - started


def test_fifty_stalled_requests_leave_healthz_and_evaluate_answering_within_a_second(tmp_path):
    with gunicorn(tmp_path, workers=None) as (_proc, port), stalled(port, STALLED):
        time.sleep(1.0)  # every stalled connection has been taken by a worker by now
        for _ in range(5):
            status, seconds = timed(port, "GET", "/healthz")
            assert status == 200 and seconds < 1.0, seconds
            status, seconds = timed(port, "POST", "/v1/evaluate", VIGNETTES["D05"]["encounter"])
            assert status == 200 and seconds < 1.0, seconds


def test_a_stalled_request_is_answered_408_after_the_read_timeout(tmp_path):
    with gunicorn(tmp_path, workers=1, env={"CDS_REQUEST_READ_TIMEOUT": "1"}) as (_proc, port):
        with stalled(port, 2) as (headless, partial):
            for sock in (headless, partial):
                sock.settimeout(5)
                started = time.monotonic()
                answer = sock.recv(1024)
                assert answer.startswith(b"HTTP/1.1 408"), answer
                assert b"Content-Type: application/problem+json" in answer and b'"status":408' in answer
                assert time.monotonic() - started < 3
        assert request(port, "GET", "/healthz")[0] == 200


def test_a_slow_honest_client_is_served(tmp_path):
    with gunicorn(tmp_path, workers=1) as (_proc, port):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        data = head(len(BODY)) + BODY
        for i in range(0, len(data), 97):
            sock.sendall(data[i : i + 97])
            time.sleep(0.005)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        sock.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["risk_level"] == VIGNETTES["D05"]["expect"]["risk_level"]


def test_expect_100_continue_is_answered_before_the_body(tmp_path):
    # curl sends Expect: 100-continue for larger bodies and waits for the 100 before sending it
    with gunicorn(tmp_path, workers=1) as (_proc, port):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(head(len(BODY)).replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(BODY)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        sock.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
        assert answer.count(b"100 Continue") == 0  # sent once, before the body, not again
