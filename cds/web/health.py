"""Liveness, readiness and metrics.

GET /healthz: the process serves requests (no dependency is checked).
GET /readyz: the rule base is loaded and its self-test encounter (rulebase.yaml, `self_test`)
evaluates to the answer the rule base states; a failure is a 503 problem.
GET /metrics: Prometheus text format, merged across gunicorn workers.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app

from cds.problems import NOT_READY
from cds.triage import RuleBaseError, Triage
from cds.triage.rulebase import MANIFEST, RuleError
from cds.web import metrics
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
    return json_response({"status": "ready", "rulebase": triage.rulebase.summary(), "self_test": "passed"})


@bp.get("/metrics")
def prometheus() -> Response:
    body, content_type = metrics.render(current_app.config["CDS_SETTINGS"].metrics_dir)
    return Response(body, mimetype=content_type.split(";")[0], content_type=content_type)
