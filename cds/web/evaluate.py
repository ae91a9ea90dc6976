"""POST /v1/evaluate: one encounter in, one explained triage out."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from cds.web.api_keys import require_api_key
from cds.web.body import json_body, json_response
from cds.web.metrics import count_evaluation

bp = Blueprint("api", __name__, url_prefix="/v1")


@bp.post("/evaluate")
def evaluate() -> Response:
    settings = current_app.config["CDS_SETTINGS"]
    require_api_key(request, settings)
    result = current_app.extensions["cds.triage"].evaluate_document(json_body(request, settings.evaluate_limits))
    g.risk_level = result["risk_level"]
    count_evaluation(result, "v1")
    return json_response(result)
