"""Finding: a chunked body with broken framing was a 500 on every POST endpoint, with gunicorn's
message (which quotes the request's bytes) in the log; gunicorn's own refusals were HTML pages
quoting the offending bytes. Property, on the real server in its default worker: a request that
is not valid HTTP/1.1 is answered 4xx with a problem document that quotes nothing of it, nothing
of its bytes reaches the log, and the server goes on serving."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.common.servers import gunicorn, request
from tests.common.vignettes import VIGNETTES

pytestmark = pytest.mark.slow
MARK = b"QQZX7"  # bytes no answer or log line may quote


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), fields, body


def chunked_post(path: str, content_type: str, framed_body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode() + framed_body


BROKEN_CHUNKS = {
    "chunk size not a number": b"zz" + MARK + b"\r\n{}\r\n0\r\n\r\n",
    "chunk without its CRLF": b"2\r\n{}" + MARK + b"\r\n0\r\n\r\n",
}
ENDPOINTS = {
    "/v1/evaluate": "application/json",
    "/v1/interview": "application/json",
    "/triage/evaluate": "application/x-www-form-urlencoded",
}
BAD_HEADS = {
    "request line": b"GET /healthz" + MARK + b" HTTP/9.9\r\nHost: x\r\n\r\n",
    "header field name": b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name" + MARK + b": 1\r\n\r\n",
}


def assert_problem(status: int, fields: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, body
    assert fields["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == expected and problem["detail"]
    assert MARK not in body


def test_malformed_requests_are_problems_that_quote_nothing_and_log_nothing_of_the_request(tmp_path):
    with gunicorn(tmp_path, workers=1) as (_proc, port):
        for path, content_type in ENDPOINTS.items():
            for case, framed in BROKEN_CHUNKS.items():
                status, fields, body = exchange(port, chunked_post(path, content_type, framed))
                assert_problem(status, fields, body, 400)
                assert json.loads(body)["type"].endswith("/malformed-request"), (path, case)
        for raw in BAD_HEADS.values():
            status, fields, body = exchange(port, raw)
            assert_problem(status, fields, body, 400)
        status, fields, body = exchange(port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert_problem(status, fields, body, 414)
        assert request(port, "POST", "/v1/evaluate", VIGNETTES["D05"]["encounter"])[0] == 200
        time.sleep(0.3)
    log = next(tmp_path.glob("gunicorn-*.log")).read_bytes()
    assert b"Traceback" not in log and b"unhandled error" not in log
    assert MARK not in log
    assert log.count(b"refused a request that is not valid HTTP/1.1") == len(BAD_HEADS) + 1
