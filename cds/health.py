"""Liveness, readiness and metrics.

GET /healthz: the process serves requests (no dependency is checked).
GET /readyz: the rule base is loaded and a built-in self-test encounter evaluates to the
answer the clinical specification requires; a failure is a 503 problem.
GET /metrics: Prometheus text format, merged across gunicorn workers.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from cds import metrics
from cds.problems import Problem
from cds.schema import load_encounter
from cds.web import json_response

bp = Blueprint("health", __name__)

# Saddle anaesthesia with new urinary retention in an afebrile adult (vignette D07's core):
# an emergency for suspected cauda equina syndrome whatever else is unknown.
SELF_TEST = {
    "patient": {"age_years": 50},
    "symptoms": {"saddle_anaesthesia": True, "urinary_retention": True},
}
SELF_TEST_EXPECT = {"risk_level": "emergency", "primary": "cord_compression"}


@bp.get("/healthz")
def healthz() -> Response:
    rb = current_app.extensions["cds.decider"].rulebase
    return json_response({"status": "ok", "rulebase": rb.summary()})


@bp.get("/readyz")
def readyz() -> Response:
    decider = current_app.extensions["cds.decider"]
    try:
        result = decider.evaluate(load_encounter(SELF_TEST))
    except Exception:
        current_app.logger.exception("readiness self-test failed")
        result = {}
    got = {k: result.get(k) for k in SELF_TEST_EXPECT}
    if got != SELF_TEST_EXPECT:
        raise Problem(503, "The self-test evaluation did not give the expected answer.", slug="not-ready")
    return json_response({"status": "ready", "rulebase": decider.rulebase.summary(), "self_test": "passed"})


@bp.get("/metrics")
def prometheus() -> Response:
    body, content_type = metrics.render()
    return Response(body, mimetype=content_type.split(";")[0], content_type=content_type)
