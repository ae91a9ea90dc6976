"""Liveness, readiness and metrics.

GET /healthz: the process serves requests (no dependency is checked).
GET /readyz: the rule base is loaded and its self-test encounter (rulebase.yaml, `self_test`)
evaluates to the answer the rule base states; a failure is a 503 problem. It also says whether
the JWT replay store answers: when it does not, CDS Hooks calls fail closed (503) but
/v1/evaluate keeps serving, so the instance stays ready ("degraded") and says why, rather than
being taken out of service for a channel it does not need.
GET /metrics: Prometheus text format, merged across gunicorn workers; only with the metrics
token, or from this machine when none is configured (cds.web.api_keys).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, request

from cds.problems import NOT_READY
from cds.triage import RuleBaseError, Triage
from cds.triage.rulebase import MANIFEST, RuleError
from cds.web import metrics
from cds.web.api_keys import require_metrics_access
from cds.web.body import json_response

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def self_test_passes(triage: Triage) -> bool:
    test = triage.rulebase.self_test
    try:
        result: Any = triage.evaluate_document(test["encounter"])
    except Exception:
        log.exception("readiness self-test failed")
        return False
    return bool({k: result.get(k) for k in test["expect"]} == test["expect"])


def check_self_test(triage: Triage) -> None:
    """At start-up: a rule base that fails its own self-test is not served."""
    if not self_test_passes(triage):
        message = f"the self-test ({triage.rulebase.self_test['title']}) did not give the expected answer"
        raise RuleBaseError([RuleError(MANIFEST, None, "self_test", message)])


@bp.get("/healthz")
def healthz() -> Response:
    rb = current_app.extensions["cds.triage"].rulebase
    return json_response({"status": "ok", "rulebase": rb.summary()})


@bp.get("/readyz")
def readyz() -> Response:
    triage = current_app.extensions["cds.triage"]
    if not self_test_passes(triage):
        raise NOT_READY("The self-test evaluation did not give the expected answer.")
    replays = current_app.extensions["cds.replays"]
    problem = replays.problem()
    store: dict[str, str] = {"kind": replays.kind, "status": "ok" if problem is None else "unavailable"}
    if problem is not None:
        store["reason"] = problem
        store["effect"] = "CDS Hooks calls are refused (503) until it answers; /v1/evaluate is unaffected"
    return json_response(
        {
            "status": "ready" if problem is None else "degraded",
            "rulebase": triage.rulebase.summary(),
            "self_test": "passed",
            "replay_store": store,
        }
    )


@bp.get("/metrics")
def prometheus() -> Response:
    settings = current_app.config["CDS_SETTINGS"]
    require_metrics_access(request, settings)
    body, content_type = metrics.render(settings.metrics_dir)
    return Response(body, mimetype=content_type.split(";")[0], content_type=content_type)
