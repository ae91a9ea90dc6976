"""POST /v1/evaluate: one encounter in, one explained triage out."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from cds.schema import load_encounter
from cds.web import json_body, json_response

bp = Blueprint("api", __name__, url_prefix="/v1")


@bp.post("/evaluate")
def evaluate() -> Response:
    encounter = load_encounter(json_body(request))
    result = current_app.extensions["cds.decider"].evaluate(encounter)
    return json_response(result)
