"""gunicorn's sync worker with the request buffering of a proxy built in.

gunicorn's documentation says of its sync workers: they "assume that your application is
resource-bound in terms of CPU and network bandwidth", so they must run behind a buffering
proxy; without one, a client that sends part of a request and waits holds a whole worker
until the worker timeout. This worker is that proxy's buffering, in the worker: a connection
is accepted, read without blocking until its request is whole (cds.web.framing), and only
then handed to the unchanged sync machinery (gunicorn's parser, the WSGI app, one request per
connection). A client that stalls holds a socket and a few bytes of buffer, never the worker,
and is answered 408 when CDS_REQUEST_READ_TIMEOUT passes. A request that arrives whole at once,
as almost every request does, is handled at once, as by the sync worker.

docs/decisions/0008-buffering-sync-worker.md says why this and not gevent, gthread or nginx.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

from cds.problems import MALFORMED_REQUEST, PROBLEM_MEDIA_TYPE, Problem, payload_too_large
from cds.settings import ServerSettings, Settings
from cds.web.framing import Limits, Progress, progress
from cds.web.observability import REQUEST_ID_HEADER

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# What gunicorn answers itself, before the application, says what it refuses and quotes nothing
# of the request, as every other error of this service (cds.problems).
_REFUSED = {
    400: "The request is not valid HTTP/1.1 (request line, header fields, body framing, or a transfer coding "
    "other than chunked); nothing was processed.",
    403: "The request was refused before it reached the service; nothing was processed.",
    408: "The request did not arrive whole in time; nothing was processed.",
    414: "The request line is too long; nothing was processed.",
    431: "The request's header fields are too many or too long; nothing was processed.",
}
# A worker holds at most this many unfinished requests, and this many bytes of them; past
# either, the oldest is dropped: it is the slowest, and the likeliest attacker.
MAX_PENDING = 512
MAX_PENDING_BYTES = 64 * 1024 * 1024
_RECV = 65536


@dataclass(eq=False)
class _Pending:
    listener: socket.socket
    client: socket.socket
    addr: Any
    deadline: float
    data: bytearray = field(default_factory=bytearray)
    continued: bool = False  # a 100 Continue was sent


class BufferedSocket:
    """The client socket as gunicorn sees it: the buffered request first, then the socket.

    Two differences from a socket: gunicorn's own 100 Continue is not sent again when this
    worker already sent one, and once the response is finished (the write side shut), the
    linger that drains unread input does not wait for the client: it takes what has arrived."""

    def __init__(self, sock: socket.socket, data: bytes, continued: bool) -> None:
        self._sock = sock
        self._data = memoryview(data)
        self._continued = continued
        self._closing = False

    def recv(self, size: int, flags: int = 0) -> bytes:
        if self._data:
            out, self._data = bytes(self._data[:size]), self._data[size:]
            return out
        if self._closing:
            try:
                self._sock.setblocking(False)
                return self._sock.recv(size)
            except (BlockingIOError, OSError):
                return b""
        # Past the buffered request, gunicorn reads on only for a request the framing handed
        # over in doubt (two Transfer-Encoding lines, an endless chunk extension): waiting there
        # would hold the worker for the read timeout, and a few such clients would starve it
        # until the arbiter kills it. What has arrived is all there is: the parser refuses it.
        timeout = self._sock.gettimeout()
        try:
            self._sock.setblocking(False)
            return self._sock.recv(size)
        except (BlockingIOError, InterruptedError):
            return b""
        finally:
            self._sock.settimeout(timeout)

    def send(self, data: bytes, flags: int = 0) -> int:
        if self._continued and data == CONTINUE:
            self._continued = False
            return len(data)
        return self._sock.send(data, flags)

    def shutdown(self, how: int) -> None:
        self._closing = how in (socket.SHUT_WR, socket.SHUT_RDWR)
        self._sock.shutdown(how)

    def settimeout(self, value: float | None) -> None:
        if not self._closing:
            self._sock.settimeout(value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedSyncWorker(SyncWorker):  # type: ignore[misc]
    """The default worker of gunicorn.conf.py (CDS_THREADS=1)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg, settings = self.cfg, Settings.from_env()
        self.read_timeout = ServerSettings.from_env().request_read_timeout
        head = cfg.limit_request_line + 4 + cfg.limit_request_fields * (cfg.limit_request_field_size + 2)
        self.limits = Limits(head, max(settings.max_body_bytes, settings.hooks_max_body_bytes))
        self.pending: OrderedDict[socket.socket, _Pending] = OrderedDict()
        self.pending_bytes = 0
        self.selector: selectors.BaseSelector | None = None

    def run(self) -> None:
        if self.cfg.is_ssl:  # TLS is terminated in front of this service; no buffering of ciphertext
            super().run()
            return
        self.selector = selectors.DefaultSelector()
        for listener in self.sockets:
            listener.setblocking(False)
            if listener.family in (socket.AF_INET, socket.AF_INET6) and hasattr(socket, "TCP_DEFER_ACCEPT"):
                # accept() only once the first bytes are in: a request is then usually whole
                # at accept, handled at once, never parked
                listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
            self.selector.register(listener, selectors.EVENT_READ, listener)
        self.selector.register(self.PIPE[0], selectors.EVENT_READ, None)
        try:
            self._loop(self.timeout or 0.5)
        finally:
            for conn in list(self.pending.values()):
                self._drop(conn)
            self.selector.close()

    def _loop(self, timeout: float) -> None:
        assert self.selector is not None
        draining = False
        # after SIGTERM, no new connection is taken, and the requests already arriving are
        # still served (within the graceful timeout), as the sync worker finishes its one
        while self.alive or self.pending:
            if not self.alive and not draining:
                draining = True
                self._stop_listening()
            self.notify()
            wait = timeout
            if self.pending:
                first = next(iter(self.pending.values()))
                wait = max(0.0, min(wait, first.deadline - time.monotonic()))
            try:
                events = self.selector.select(wait)
            except OSError as err:
                if err.errno == errno.EBADF:
                    return
                raise
            for key, _ in events:
                if key.data is None:
                    self._wake()
                elif isinstance(key.data, _Pending):
                    self._receive(key.data)
                elif self.alive:
                    self._accept(key.data)
            self._expire()
            if not self.is_parent_alive():
                return

    def _stop_listening(self) -> None:
        assert self.selector is not None
        cap = time.monotonic() + max(1.0, self.cfg.graceful_timeout - 2.0)
        for listener in self.sockets:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(listener)
        for conn in self.pending.values():
            conn.deadline = min(conn.deadline, cap)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.PIPE[0], 1)

    def _accept(self, listener: socket.socket) -> None:
        # Like the sync worker, keep taking connections while they are served at once; stop at
        # one that has to wait, so that a worker does not gather connections others could serve.
        while self.alive:
            try:
                client, addr = listener.accept()
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    return
                raise
            client.setblocking(False)
            util.close_on_exec(client)
            conn = _Pending(listener, client, addr, time.monotonic() + self.read_timeout)
            self._receive(conn)
            if conn.client in self.pending:
                return

    def _receive(self, conn: _Pending) -> None:
        ended, parked, before = False, conn.client in self.pending, len(conn.data)
        while True:
            try:
                chunk = conn.client.recv(_RECV)
            except BlockingIOError:
                break
            except OSError:
                self._drop(conn)
                return
            if not chunk:
                ended = True
                break
            conn.data += chunk
            if len(conn.data) > self.limits.max_head_bytes + self.limits.max_body_bytes:
                break
        if parked:
            self.pending_bytes += len(conn.data) - before
        state, head = progress(bytes(conn.data), self.limits)
        if state is Progress.WHOLE:
            self._serve(conn)
        elif state is Progress.INVALID:
            self._drop(conn, lambda: problem_message(400))
        elif state is Progress.TOO_LARGE:
            self._drop(conn, lambda: problem_message(413, payload_too_large(self.limits.max_body_bytes)))
        elif ended and conn.data:
            # the client closed its side before the request was whole: what arrived is not the
            # request it meant (a form cut before its last answer), so nothing of it is used
            self._drop(conn, _truncated)
        elif ended:
            self._drop(conn)
        else:
            if head is not None and head.expects_continue and not conn.continued:
                conn.continued = True
                _send_quietly(conn.client, CONTINUE)
            self._park(conn)

    def _park(self, conn: _Pending) -> None:
        assert self.selector is not None
        if conn.client not in self.pending:
            self.pending[conn.client] = conn
            self.pending_bytes += len(conn.data)
            self.selector.register(conn.client, selectors.EVENT_READ, conn)
        while len(self.pending) > MAX_PENDING or self.pending_bytes > MAX_PENDING_BYTES:
            self._drop(next(iter(self.pending.values())), _timed_out)

    def _unpark(self, conn: _Pending) -> None:
        if self.pending.pop(conn.client, None) is not None:
            self.pending_bytes -= len(conn.data)
            assert self.selector is not None
            self.selector.unregister(conn.client)

    def _serve(self, conn: _Pending) -> None:
        self._unpark(conn)
        conn.client.setblocking(True)
        # the request is here; what is left is writing the answer, bounded the same way
        conn.client.settimeout(self.read_timeout)
        self.handle(conn.listener, BufferedSocket(conn.client, bytes(conn.data), conn.continued), conn.addr)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # gunicorn chooses the status; what changes is what quotes the request: its HTML page
        # and its warning (a header line can hold a bearer token) become a problem and a
        # warning that name the kind of error only
        capture, worker = _ErrorCapture(), cast(Any, self)
        log = worker.log
        worker.log = _QuotingNothing(log, exc)
        try:
            super().handle_error(req, capture, addr, exc)
        finally:
            worker.log = log
        version, _, rest = capture.status_line.partition(b" ")
        code = rest.partition(b" ")[0]
        if version.startswith(b"HTTP/") and code.isdigit() and int(code) in _KNOWN_STATUSES:
            _send_quietly(client, problem_message(int(code)))

    def _expire(self) -> None:
        now = time.monotonic()
        while self.pending:
            oldest = next(iter(self.pending.values()))
            if oldest.deadline > now:
                return
            self._drop(oldest, _timed_out)

    def _drop(self, conn: _Pending, answer: Callable[[], bytes] | None = None) -> None:
        self._unpark(conn)
        if answer:
            _send_quietly(conn.client, answer())
        util.close(conn.client)


def problem_message(status: int, problem: Problem | None = None) -> bytes:
    """A whole HTTP/1.1 response carrying the problem for a request refused before the app.
    gunicorn answers an unknown transfer coding 501 (RFC 9112's SHOULD); it is the client's
    error, and a 5xx here means a fault of the service, so it is a 400."""
    status = 400 if status == 501 else status
    if problem is None:
        detail = _REFUSED.get(status, "The request was refused before it reached the service; nothing was processed.")
        problem = MALFORMED_REQUEST(detail) if status == 400 else Problem(status, detail)
    body = json.dumps(problem.to_dict(), separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nConnection: close\r\n"
        f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\nContent-Length: {len(body)}\r\nCache-Control: no-store\r\n"
        f"X-Content-Type-Options: nosniff\r\n{REQUEST_ID_HEADER}: {uuid.uuid4().hex}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _ErrorCapture:
    """Stands for the client while gunicorn writes its error page: keeps the status line and
    sends nothing (gunicorn's util.write_error asks for the timeout, then calls sendall)."""

    def __init__(self) -> None:
        self.status_line = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.status_line = bytes(data).split(b"\r\n", 1)[0]


class _QuotingNothing:
    """gunicorn's logger with its warning about a refused request reduced to the error's kind."""

    def __init__(self, log: Any, exc: BaseException) -> None:
        self._log, self._kind = log, type(exc).__name__

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log.warning("refused a request that is not valid HTTP/1.1: %s", self._kind)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


def _timed_out() -> bytes:
    return problem_message(408)


def _truncated() -> bytes:
    detail = (
        "The request ended before it was whole (a body shorter than its Content-Length, or no last chunk); "
        "nothing was processed."
    )
    return problem_message(400, MALFORMED_REQUEST(detail))


_KNOWN_STATUSES = frozenset(int(s) for s in HTTPStatus)


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the client is gone or not reading: nothing to tell it
        sock.send(data)
