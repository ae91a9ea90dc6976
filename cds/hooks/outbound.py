"""The only way this service reads another server (a CDS client's FHIR server, an issuer's JWK
Set): one GET at a time, to an address checked and pinned, within a deadline and a size.

- The host is resolved once (with the deadline), every address it resolves to is checked
  against the caller's policy, and the connection goes to that checked address: a second
  lookup cannot swap in another (DNS rebinding). TLS still verifies the certificate against
  the host name.
- Redirects are never followed; any status but 200 is a failure.
- The deadline covers resolving, connecting, the answer's head and every read of its body; the
  body is read in pieces and refused past `max_bytes`.
- Why a fetch failed is told to the server log (OutboundError.reason), never to the caller.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from cds.net import IPAddress, literal_address

AddressPolicy = Callable[[IPAddress], bool]
_PIECE = 65536


class OutboundError(Exception):
    """A read of another server failed; `reason` is for the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Endpoint:
    """A base URL, as cds.net.normal_base_url spells it."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, base_url: str) -> Endpoint:
        parts = urlsplit(base_url)
        return cls(parts.scheme, parts.hostname or "", parts.port or 443, parts.path.rstrip("/"))


class Budget:
    """What one caller's reads may still spend, together: seconds and bytes."""

    def __init__(self, seconds: float, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.deadline = clock() + seconds
        self.bytes_left = max_bytes

    def seconds_left(self, cap: float | None = None) -> float:
        left = self.deadline - self._clock()
        if left <= 0:
            raise OutboundError("deadline")
        return left if cap is None else min(left, cap)


@dataclass(frozen=True)
class Answer:
    media_type: str
    body: bytes


_resolver: tuple[int, ThreadPoolExecutor] | None = None


def _resolver_pool() -> ThreadPoolExecutor:
    # getaddrinfo has no timeout of its own: it runs in a thread that is waited for with the
    # deadline. The pool is made in the process that uses it (threads do not survive a fork).
    global _resolver
    if _resolver is None or _resolver[0] != os.getpid():
        _resolver = (os.getpid(), ThreadPoolExecutor(max_workers=4, thread_name_prefix="cds-resolve"))
    return _resolver[1]


def resolve(endpoint: Endpoint, allowed: AddressPolicy, budget: Budget) -> str:
    """The address to connect to: every address of the host must be allowed."""
    literal = literal_address(endpoint.host)
    if literal is not None:
        addresses = [literal]
    else:
        future = _resolver_pool().submit(socket.getaddrinfo, endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
        try:
            infos = future.result(timeout=budget.seconds_left())
        except FutureTimeout:
            raise OutboundError("resolve_deadline") from None
        except OSError:
            raise OutboundError("resolve_failed") from None
        addresses = [_address(str(info[4][0])) for info in infos]
    if not addresses:
        raise OutboundError("resolve_failed")
    if not all(allowed(a) for a in addresses):
        raise OutboundError("address_not_allowed")
    return str(addresses[0])


def _address(text: str) -> IPAddress:
    address = literal_address(text.split("%", 1)[0])
    if address is None:
        raise OutboundError("resolve_failed")
    return address


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to `host` that connects to `address` and nowhere else."""

    def __init__(self, endpoint: Endpoint, address: str, timeout: float, tls: ssl.SSLContext | None) -> None:
        super().__init__(endpoint.host, endpoint.port, timeout=timeout)
        self.default_port = 443 if endpoint.scheme == "https" else 80  # Host: without a default port
        self._address = address
        self._tls = tls
        # http.client lets go of .sock once the answer says it will close; the deadline still
        # has to reach the socket the answer is read from
        self.pinned: socket.socket | None = None
        self.raw: socket.socket | None = None

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.raw = sock
        if self._tls is not None:
            try:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = self.pinned = sock

    def cut(self) -> None:
        """Ends whatever the connection is waiting for, from another thread: a peer that sends
        one byte at a time would otherwise renew every read's timeout."""
        if self.raw is not None:
            with contextlib.suppress(OSError):
                self.raw.shutdown(socket.SHUT_RDWR)


_DEFAULT_TLS: ssl.SSLContext | None = None


def _default_tls() -> ssl.SSLContext:
    global _DEFAULT_TLS
    if _DEFAULT_TLS is None:
        _DEFAULT_TLS = ssl.create_default_context()
    return _DEFAULT_TLS


def get(
    endpoint: Endpoint,
    address: str,
    target: str,
    headers: Mapping[str, str],
    budget: Budget,
    *,
    timeout: float,
    max_bytes: int,
    tls: ssl.SSLContext | None = None,
) -> Answer:
    """GET `target` (a path under the endpoint, with its query) from the pinned address."""
    context = (tls or _default_tls()) if endpoint.scheme == "https" else None
    conn = _PinnedConnection(endpoint, address, budget.seconds_left(timeout), context)
    watchdog = threading.Timer(budget.seconds_left(timeout), conn.cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("GET", target, headers=dict(headers))
        _limit_wait(conn, budget, timeout)
        response = conn.getresponse()
        if response.status != 200:
            raise OutboundError(f"status_{response.status}")
        media_type = response.headers.get_content_type()
        return Answer(media_type, _body(conn, response, budget, timeout, max_bytes))
    except (OSError, http.client.HTTPException, ValueError) as err:
        budget.seconds_left()  # past the deadline: that is the reason
        raise OutboundError(type(err).__name__) from None
    finally:
        watchdog.cancel()
        conn.close()


def _limit_wait(conn: _PinnedConnection, budget: Budget, timeout: float) -> None:
    if conn.pinned is not None:
        conn.pinned.settimeout(budget.seconds_left(timeout))


def _body(
    conn: _PinnedConnection, response: http.client.HTTPResponse, budget: Budget, timeout: float, limit: int
) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > min(limit, budget.bytes_left):
        raise OutboundError("too_large")
    pieces: list[bytes] = []
    size = 0
    while not response.isclosed():  # http.client closes it once the declared body is read
        _limit_wait(conn, budget, timeout)
        piece = response.read1(_PIECE)  # one socket read: the deadline is checked between reads
        if not piece:
            break
        size += len(piece)
        if size > limit or size > budget.bytes_left:
            raise OutboundError("too_large")
        pieces.append(piece)
    budget.bytes_left -= size
    return b"".join(pieces)
