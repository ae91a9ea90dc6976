"""The triage interview over HTTP: GET /v1/questions (the catalogue) and POST /v1/interview (an
encounter, or the QuestionnaireResponse of the form, in; the result, the next questions with
their what-ifs, and whether to stop, out). Same access control as /v1/evaluate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from cds.fhir import map_resources, resources_from
from cds.problems import validation_problem
from cds.triage.encounter import ASKED_UNKNOWN, load_encounter
from cds.triage.interview import Interview
from cds.web.api_keys import require_api_key
from cds.web.body import JSON_MEDIA_TYPE, json_body, json_response
from cds.web.metrics import count_evaluation

bp = Blueprint("interview", __name__, url_prefix="/v1")
FHIR_JSON = "application/fhir+json"
# what the QuestionnaireResponse reader ignored that, in a form posted to us, is a mistake
_REFUSED = {
    "unknown_link_id": "an item's linkId is not a question of this form",
    "unrecognised_value": "an answer is not one of the question's answers",
    "ambiguous_value": "an item has two different answers",
}


def interview_of() -> Interview:
    interview: Interview = current_app.extensions["cds.interview"]
    return interview


@bp.get("/questions")
def questions() -> Response:
    catalogue = interview_of().catalogue
    etag = f'"{catalogue.digest}"'
    if request.if_none_match.contains_weak(catalogue.digest):  # RFC 9110 13.1.2: weak comparison
        return Response(status=304, headers={"ETag": etag})
    return json_response(catalogue.to_json(), headers={"ETag": etag})


@bp.post("/interview")
def interview() -> Response:
    settings = current_app.config["CDS_SETTINGS"]
    require_api_key(request, settings)
    # a QuestionnaireResponse is a FHIR document: nested groups, an item per question
    limits = settings.hooks_limits if request.mimetype == FHIR_JSON else settings.evaluate_limits
    document = json_body(request, limits, (JSON_MEDIA_TYPE, FHIR_JSON))
    if request.mimetype == FHIR_JSON:
        document = encounter_from_response(document)
    out = interview_of().run(load_encounter(document))
    g.risk_level = out["result"]["risk_level"]
    count_evaluation(out["result"], "interview")
    return json_response(out)


def encounter_from_response(document: Any) -> dict[str, Any]:
    """A QuestionnaireResponse's answers as an encounter (answers by linkId, the field path):
    "Unknown" answers become `asked_unknown`; anything the reader could not take is a 422."""
    if not isinstance(document, dict) or document.get("resourceType") != "QuestionnaireResponse":
        raise validation_problem([{"field": "resourceType", "message": "must be QuestionnaireResponse"}])
    resources = resources_from([document])
    if resources.malformed:
        element = resources.malformed[0][1]
        message = f"{element} is not an element FHIR R4 defines there, or not of its datatype"
        raise validation_problem([{"field": "QuestionnaireResponse", "message": message}])
    now = datetime.now(UTC)
    # the problems name the form's fields, not its id or its times: a problem echoes no value sent
    mapped = map_resources(resources, now.date(), now=now, quoting=False)
    errors = [
        {"field": "QuestionnaireResponse" if e["field"] == "fhir" else f"item.{e['field']}", "message": e["message"]}
        for e in mapped.errors
    ]
    # a refused answer is named by its question where the reader knows which one it was
    said = {e["field"] for e in errors}
    named = [(p, r) for p, reasons in mapped.coverage.items() for r in reasons if r in _REFUSED]
    named = [(p, r) for p, r in named if f"item.{p}" not in said]
    errors += [{"field": f"item.{p}", "message": _REFUSED[r]} for p, r in named]
    unnamed = set(_REFUSED) - {r for reasons in mapped.coverage.values() for r in reasons}
    errors += [{"field": "item", "message": m} for r, m in _REFUSED.items() if r in unnamed and mapped.ignored.get(r)]
    if mapped.ignored.get("not_final") or mapped.ignored.get("entered_in_error"):
        # the whole response was set aside: its age "is required" would name the wrong thing
        errors = [{"field": "status", "message": "must be in-progress, completed or amended"}]
    elif mapped.ignored.get("outside_episode"):
        errors.append({"field": "authored", "message": "must be now"})
    if errors:
        raise validation_problem(errors)
    encounter = dict(mapped.encounter)
    asked = [p for p in mapped.unknown if "answered_unknown" in mapped.coverage.get(p, {})]
    if asked:
        encounter[ASKED_UNKNOWN] = asked
    return encounter
