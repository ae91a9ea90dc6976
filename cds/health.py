"""GET /healthz: the process is up and serving (liveness; no dependencies checked)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from cds.web import json_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    rb = current_app.extensions["cds.decider"].rulebase
    return json_response({"status": "ok", "rulebase": rb.summary()})
