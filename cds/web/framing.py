"""Whether the bytes received so far hold one whole HTTP/1.1 request (RFC 9112 section 6).

cds.web.worker buffers each request before a worker touches it, as a buffering proxy would,
and asks this module when to stop reading. It does not parse the request for the application:
gunicorn's parser does that, from the buffered bytes. So every doubtful case answers "whole"
(hand it over, and let gunicorn's parser accept or refuse it) rather than "wait": a mistake
here can only cost time, never a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

_HEAD_END = b"\r\n\r\n"
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
# a Host field's value: a registered name, an IPv4 or a bracketed IPv6 literal, and a port
_HOST = re.compile(rb"[a-z0-9._~%!$&'()*+,;=-]*(?::[0-9]*)?|\[[0-9a-f:.]+\](?::[0-9]*)?")
# the bytes a request's method (a token, RFC 9110 section 5.6.2) can begin with
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


class Progress(Enum):
    WAIT = "wait"  # more bytes are needed
    WHOLE = "whole"  # hand the request over
    TOO_LARGE = "too_large"  # a chunked body already declared past the limit: refuse it, 413
    INVALID = "invalid"  # no HTTP/1.1 request this service serves (a TLS hello, no Host): refuse it, 400


@dataclass(frozen=True)
class Limits:
    max_head_bytes: int  # request line and header fields together
    max_body_bytes: int  # a larger declared body is handed over at once, for the app to refuse


@dataclass(frozen=True)
class Head:
    """What the request's head says about its body."""

    length: int | None  # Content-Length, when given and valid
    chunked: bool
    expects_continue: bool
    malformed: bool  # framing the parser will refuse: hand over at once
    refused: bool = False  # what gunicorn's parser lets through and RFC 9112 refuses: refuse it here


def read_head(head: bytes) -> Head:
    length: int | None = None
    chunked = expects = malformed = False
    lines = head.split(b"\r\n")
    hosts: list[bytes] = []
    codings: list[bytes] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            if not value.isdigit() or (length is not None and int(value) != length):
                malformed = True
            else:
                length = int(value)
        elif name == b"transfer-encoding":
            codings.append(value)
            chunked = chunked or value.split(b",")[-1].strip() == b"chunked"
            malformed = malformed or not chunked
        elif name == b"host":
            hosts.append(value)
        elif name == b"expect":
            expects = value == b"100-continue"
    # RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host, and it is a host; section
    # 6.1: this server decodes chunked alone (a body in gzip would reach the app undecoded)
    bad_host = (lines[0].endswith(b"HTTP/1.1") and len(hosts) != 1) or any(not _HOST.fullmatch(h) for h in hosts)
    bad_coding = bool(codings) and codings != [b"chunked"]
    return Head(length, chunked, expects, malformed or (chunked and length is not None), refused=bad_host or bad_coding)


def progress(data: bytes, limits: Limits) -> tuple[Progress, Head | None]:
    """How far `data` (everything received on the connection) is from a whole request, and
    its head once the head is complete."""
    first = data.lstrip(b"\r\n")[:1]  # RFC 9112 section 2.2: empty lines before a request are ignored
    if first and first[0] not in _TOKEN:
        return Progress.INVALID, None
    end = data.find(_HEAD_END)
    if end < 0:
        # a head ended by bare line feeds will never be followed by a proper one: hand it over
        # for the parser to refuse now, rather than wait for the read timeout
        return (Progress.WHOLE if b"\n\n" in data or len(data) > limits.max_head_bytes else Progress.WAIT), None
    head = read_head(data[:end])
    if head.refused:
        return Progress.INVALID, head
    if head.malformed:
        return Progress.WHOLE, head
    body = memoryview(data)[end + len(_HEAD_END) :]
    if head.chunked:
        return _chunked_progress(body, limits), head
    if head.length is None or head.length > limits.max_body_bytes:
        return Progress.WHOLE, head
    return (Progress.WHOLE if len(body) >= head.length else Progress.WAIT), head


def _chunked_progress(body: memoryview, limits: Limits) -> Progress:
    """Walks the chunks received so far: WHOLE after the last chunk and its trailer section."""
    at, total = 0, 0
    while True:
        window = bytes(body[at : at + 4096])
        line_feed = window.find(b"\n")
        if line_feed < 0:
            return Progress.WHOLE if len(body) - at > 4096 else Progress.WAIT
        if not window[:line_feed].endswith(b"\r"):
            return Progress.WHOLE  # a line ended by a bare line feed: refused now, not at the read timeout
        line_end = line_feed - 1
        size_text = bytes(body[at : at + line_end]).split(b";", 1)[0].strip()
        if not _CHUNK_SIZE.fullmatch(size_text):
            return Progress.WHOLE
        size = int(size_text, 16)
        at += line_end + 2
        if size == 0:
            return _trailer_progress(body, at, limits)
        total += size
        if total > limits.max_body_bytes:
            return Progress.TOO_LARGE
        at += size + 2  # the chunk and its CRLF
        if at > len(body):
            return Progress.WAIT


def _trailer_progress(body: memoryview, at: int, limits: Limits) -> Progress:
    rest = bytes(body[at:])
    if rest.startswith(b"\r\n") or _HEAD_END in rest or rest.count(b"\n") != rest.count(b"\r\n"):
        return Progress.WHOLE
    return Progress.WHOLE if len(rest) > limits.max_head_bytes else Progress.WAIT
