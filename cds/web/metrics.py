"""Prometheus metrics, correct across gunicorn workers.

Under gunicorn, gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh directory before
the app is imported, each worker writes its samples there, and /metrics merges them; a worker
that exits is marked dead so its gauges go. Without it (tests, the CLI) the process registry
is used. Labels carry routes, statuses, risk levels and rule ids: never patient data.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from cds.triage import Result

REQUESTS = Counter(
    "cds_http_requests_total", "HTTP requests by route, method and status", ["route", "method", "status"]
)
LATENCY = Histogram(
    "cds_http_request_duration_seconds",
    "HTTP request latency by route, method and status",
    ["route", "method", "status"],
    buckets=(0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.0),
)
EVALUATIONS = Counter("cds_evaluations_total", "Evaluations by resulting risk level", ["risk_level", "channel"])
FIRINGS = Counter("cds_rule_firings_total", "Firings of flag-raising rules, by rule id", ["rule"])
CDS_FEEDBACK = Counter("cds_hooks_feedback_total", "CDS Hooks card feedback by outcome", ["outcome"])


def render(multiprocess_dir: str | None) -> tuple[bytes, str]:
    """The metrics: merged from every worker's files under gunicorn (PROMETHEUS_MULTIPROC_DIR,
    which prometheus_client reads itself), else this process's registry."""
    if multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def count_evaluation(result: Result, channel: str) -> None:
    child(EVALUATIONS, result["risk_level"], channel).inc()
    # the rules that raised a flag, read from the flags: each increment of a multiprocess
    # counter is a locked write to a shared file, too dear for every derived finding
    for flag in result["flags"]:
        for rule in flag["rules"]:
            child(FIRINGS, rule).inc()


_CHILDREN: dict[tuple[Any, ...], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """The labelled child of a metric. Every label here comes from a small fixed set."""
    # labels() costs a lookup and a lock per call; each labelled child is made once
    key = (metric, *labels)
    made = _CHILDREN.get(key)
    if made is None:
        made = _CHILDREN[key] = metric.labels(*labels)
    return made
