"""Finding: a chunked body with broken framing was a 500 on every POST endpoint, with gunicorn's
message (which quotes the request's bytes) in the log; gunicorn's own refusals were HTML pages
quoting the offending bytes. Property, on the real server in its default worker: a request that
is not valid HTTP/1.1 is answered 4xx with a problem document that quotes nothing of it, nothing
of its bytes reaches the log, and the server goes on serving."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest

from tests.common.servers import gunicorn, request
from tests.common.vignettes import VIGNETTES

pytestmark = pytest.mark.slow
MARK = b"QQZX7"  # bytes no answer or log line may quote


def exchange(port: int, raw: bytes, half_close: bool = False) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
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
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", fields["x-request-id"])
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


def timed_exchange(port: int, raw: bytes, half_close: bool = False) -> tuple[int, dict[str, str], bytes, float]:
    started = time.monotonic()
    status, fields, body = exchange(port, raw, half_close)
    return status, fields, body, time.monotonic() - started


HEAD = b"POST /v1/evaluate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
# requests that will never be whole, answered at once (the read timeout is 10 s by default):
# each would otherwise hold the worker, and a few of them would starve it
NEVER_WHOLE = {
    "a chunk declared past the body limit": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n10000000\r\n{", 413),
    "two transfer codings, chunked last": (
        HEAD + b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{",
        400,
    ),
    "a chunk extension without its line end": (
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n2;" + b"x" * 5000,
        400,
    ),
    "a transfer coding other than chunked": (HEAD + b"Transfer-Encoding: foo\r\nContent-Length: 2\r\n\r\n{}", 400),
    "a head ended by bare line feeds": (b"GET /healthz HTTP/1.1\nHost: x\n\n", 400),
    "chunks framed by bare line feeds": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\n{}\n0\n\n", 400),
    "a last chunk whose trailer ends in a bare line feed": (
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\n",
        400,
    ),
    "an HTTP/1.1 request without a Host": (b"GET /healthz HTTP/1.1\r\n\r\n", 400),
    "a Host that is no host": (b"GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    "gzip, then chunked": (HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400),
    "a TLS client hello": (bytes.fromhex("16030100a5010000a10303") + bytes(40), 400),
}


def test_a_request_that_can_never_be_whole_is_refused_at_once_and_the_worker_keeps_serving(tmp_path):
    with gunicorn(tmp_path, workers=1) as (_proc, port):
        for case, (raw, expected) in NEVER_WHOLE.items():
            status, fields, body, seconds = timed_exchange(port, raw)
            assert_problem(status, fields, body, expected)
            assert seconds < 3, (case, seconds)
        started = time.monotonic()
        assert request(port, "GET", "/healthz")[0] == 200
        assert time.monotonic() - started < 1


def test_a_body_cut_short_by_the_client_is_refused_not_evaluated(tmp_path):
    """Finding: a client that closed its side early had what arrived evaluated as the whole
    request: a form cut before its last answer (saddle anaesthesia) gave routine, not emergency."""
    form = b"patient.age_years=52&symptoms.reported_fever=yes&symptoms.saddle_anaesthesia=yes"
    head = (
        b"POST /triage/evaluate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(form)
    )
    body = json.dumps(VIGNETTES["D05"]["encounter"]).encode()
    evaluate = HEAD + b"Content-Length: %d\r\n\r\n" % len(body)
    with gunicorn(tmp_path, workers=1) as (_proc, port):
        for raw in (
            head + form[:48],
            evaluate + body[: len(body) // 2],
            HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n",
        ):
            status, fields, answer, seconds = timed_exchange(port, raw, half_close=True)
            assert_problem(status, fields, answer, 400)
            assert seconds < 3
        status, _, answer, _ = timed_exchange(port, evaluate + body, half_close=True)
        assert status == 200 and json.loads(answer)["risk_level"] == VIGNETTES["D05"]["expect"]["risk_level"]
