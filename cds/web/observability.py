"""One structured JSON log line per request, with a request id, and the request metrics.

A log line holds the route template, never the path (a path or query string can carry an
identifier), and no clinical value or identifier: what an operator needs to see traffic,
errors and latency without a log becoming a patient record.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid
from typing import Any

import orjson
import structlog
from flask import Flask, Response, g, request

from cds.web.metrics import LATENCY, REQUESTS, child

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}\Z")  # \Z: $ would let a final newline through


def _json(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj).decode()


class _Stdout:
    """Whatever sys.stdout is at the time of writing (a logger factory would keep the first)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def configure_logging(level: str) -> None:
    """JSON lines on stdout for our events and for library loggers (gunicorn, werkzeug)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, structlog.processors.JSONRenderer(_json)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.WriteLoggerFactory(file=_Stdout()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(_Stdout())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(_json),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


log = structlog.get_logger("cds.request")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def register_request_logging(app: Flask, rulebase_version: str) -> None:
    pid = os.getpid

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = supplied if _SAFE_REQUEST_ID.match(supplied) else uuid.uuid4().hex

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.get("started")
        elapsed = time.perf_counter() - started if started is not None else 0.0
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers[REQUEST_ID_HEADER] = request_id
        route = _route()
        status = str(response.status_code)
        # a client can send any method name: the metric label takes it only from a fixed set
        method = request.method if request.method in _METHODS else "other"
        child(REQUESTS, route, method, status).inc()
        child(LATENCY, route, method, status).observe(elapsed)
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "latency_ms": round(elapsed * 1000, 3),
            "rulebase_version": rulebase_version,
            "pid": pid(),
        }
        risk_level = g.get("risk_level")
        if risk_level is not None:
            fields["risk_level"] = risk_level
        log.info("request", **fields)
        return response
