"""The request body as the application reads it: a read the server fails is the client's 400.

A chunked body is decoded by the server while a view reads it, so a chunk size that is no
number or a chunk without its CRLF surfaces as whatever the server raises mid-read, inside the
view, where it would be an unhandled error: a 500, with the server's message (which quotes the
request's bytes) in the log. Here every such failure becomes one problem that quotes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from cds.problems import MALFORMED_REQUEST

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_DETAIL = "The request body could not be read as HTTP/1.1 framed it (a malformed chunk?); nothing was processed."


class _GuardedInput:
    __slots__ = ("_raw",)

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def read(self, *args: Any) -> bytes:
        data: bytes = self._through(self._raw.read, args)
        return data

    def readline(self, *args: Any) -> bytes:
        line: bytes = self._through(self._raw.readline, args)
        return line

    def readlines(self, *args: Any) -> list[bytes]:
        lines: list[bytes] = self._through(self._raw.readlines, args)
        return lines

    @staticmethod
    def _through(method: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        try:
            return method(*args)
        except Exception:  # noqa: BLE001 - the server's reader fails in its own classes, all framing
            raise MALFORMED_REQUEST(_DETAIL) from None

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


def guard_body_reads(app: WsgiApp) -> WsgiApp:
    """`app` with its request body read through the guard."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["wsgi.input"] = _GuardedInput(environ["wsgi.input"])
        return app(environ, start_response)

    return guarded
