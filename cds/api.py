"""POST /v1/evaluate: one encounter in, one explained triage out."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from cds.auth import require_api_key
from cds.metrics import count_evaluation
from cds.schema import load_encounter
from cds.web import json_body, json_response

bp = Blueprint("api", __name__, url_prefix="/v1")


@bp.post("/evaluate")
def evaluate() -> Response:
    settings = current_app.config["CDS_SETTINGS"]
    require_api_key(request, settings)
    encounter = load_encounter(json_body(request, settings.evaluate_limits))
    result = current_app.extensions["cds.decider"].evaluate(encounter)
    g.risk_level = result["risk_level"]
    count_evaluation(result, "v1")
    return json_response(result)
