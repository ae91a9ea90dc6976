"""cds.web.framing: when the bytes received hold one whole HTTP/1.1 request."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds.web.framing import Limits, Progress, progress, read_head

LIMITS = Limits(max_head_bytes=8192, max_body_bytes=4096)
HEAD = b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def state(data: bytes) -> Progress:
    return progress(data, LIMITS)[0]


def with_length(body: bytes) -> bytes:
    return HEAD + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def chunked(body: bytes, size: int, trailer: bytes = b"") -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    encoded = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces)
    return HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + encoded + b"0\r\n" + trailer + b"\r\n"


@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=700))
def test_every_proper_prefix_waits_and_the_whole_request_is_whole(body, size):
    for request in (with_length(body), chunked(body, size), chunked(body, size, b"X-Trailer: 1\r\n")):
        assert state(request) is Progress.WHOLE
        for cut in range(0, len(request), max(1, len(request) // 40)):
            assert state(request[:cut]) is Progress.WAIT, cut


def test_a_request_without_a_body_is_whole_at_the_end_of_its_head():
    assert state(b"GET /healthz HTTP/1.1\r\nHost: x\r\n") is Progress.WAIT
    assert state(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") is Progress.WHOLE


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 5000\r\n",  # larger than any body served: refused by the app at once
        b"Content-Length: -1\r\n",
        b"Content-Length: 1e3\r\n",
        b"Content-Length: 3\r\nContent-Length: 4\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
    ],
)
def test_doubtful_framing_is_handed_over_at_once_for_the_parser_to_judge(head):
    assert state(HEAD + head + b"\r\n") is Progress.WHOLE


def test_a_transfer_coding_other_than_chunked_is_refused_at_once():
    assert state(HEAD + b"Transfer-Encoding: gzip\r\n\r\n") is Progress.INVALID


def test_a_head_that_never_ends_is_handed_over_past_the_limit():
    assert state(HEAD + b"X: " + b"a" * 8000) is Progress.WAIT
    assert state(HEAD + b"X: " + b"a" * 9000) is Progress.WHOLE


def test_a_bad_chunk_size_is_handed_over():
    assert state(HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n") is Progress.WHOLE


def test_expect_continue_is_read():
    head = read_head(HEAD + b"Expect: 100-Continue\r\nContent-Length: 3")
    assert head.expects_continue and head.length == 3 and not head.chunked and not head.malformed


def test_bytes_no_request_begins_with_are_not_http_at_once():
    assert state(bytes.fromhex("160301")) is Progress.INVALID  # a TLS client hello
    assert state(b"\r\n\x16\x03") is Progress.INVALID
    assert state(b"\r\nGET / HTTP/1.1") is Progress.WAIT  # empty lines before a request are ignored
    assert state(b"G") is Progress.WAIT


def test_a_head_ended_by_bare_line_feeds_is_handed_over_for_the_parser_to_refuse():
    assert state(b"GET /healthz HTTP/1.1\nHost: x\n\n") is Progress.WHOLE
    assert state(b"GET /healthz HTTP/1.1\nHost: x\n") is Progress.WAIT


def test_chunks_framed_by_bare_line_feeds_are_handed_over_for_the_parser_to_refuse():
    chunked = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    assert state(chunked + b"2\n{}\n0\n\n") is Progress.WHOLE
    assert state(chunked + b"\n") is Progress.WHOLE
    assert state(chunked + b"2\r\n{}\r\n0\r\n\n") is Progress.WHOLE  # the trailer section's end
    assert state(chunked + b"2\r\n{}\r\n0\r\nX-A: 1\n") is Progress.WHOLE
    assert state(chunked + b"2\r\n{}\r\n0\r\nX-A: 1\r\n") is Progress.WAIT
    assert state(chunked + b"2\r") is Progress.WAIT  # its line feed is on its way
    assert state(chunked + b"2\r\n{}\r\n0\r\n\r\n") is Progress.WHOLE


def test_chunks_declared_past_the_body_limit_are_too_large_before_they_arrive():
    assert state(HEAD + b"Transfer-Encoding: chunked\r\n\r\n1001\r\n{") is Progress.TOO_LARGE
    assert (
        state(HEAD + b"Transfer-Encoding: chunked\r\n\r\n800\r\n" + b"a" * 2048 + b"\r\n801\r\n") is Progress.TOO_LARGE
    )
    assert state(HEAD + b"Transfer-Encoding: chunked\r\n\r\n1000\r\n{") is Progress.WAIT


@pytest.mark.parametrize(
    "fields",
    [
        b"",  # no Host
        b"Host: a\r\nHost: b\r\n",
        b"Host: a b\r\n",
        b"Host: x\r\nTransfer-Encoding: gzip, chunked\r\n",
        b"Host: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ],
)
def test_heads_rfc_9112_refuses_are_refused_here(fields):
    assert state(b"POST /v1/evaluate HTTP/1.1\r\n" + fields + b"Content-Length: 2\r\n\r\n{}") is Progress.INVALID


@pytest.mark.parametrize("host", [b"127.0.0.1:8000", b"[::1]:8000", b"cds.example.org", b"CDS.Example.ORG", b""])
def test_a_proper_host_passes(host):
    assert state(b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\n\r\n") is Progress.WHOLE
    assert state(b"GET /healthz HTTP/1.0\r\n\r\n") is Progress.WHOLE  # HTTP/1.0 may leave Host out
