"""GET /fhir/Questionnaire/back-pain-triage: the triage form as a FHIR R4 Questionnaire
(cds/fhir/questionnaire_form.py), generated from the question catalogue the service runs.

No access control: the form holds no patient data, like GET /v1/questions. The ETag is the
catalogue's digest (the form is a function of the catalogue and the configured public base URL,
which is fixed for a process), so a form filler revalidates cheaply.
"""

from __future__ import annotations

from functools import lru_cache

import orjson
from flask import Blueprint, Response, current_app, request

from cds.fhir.questionnaire_form import FORM_ID, questionnaire
from cds.triage.interview import Interview
from cds.triage.questions import Catalogue

bp = Blueprint("fhir_form", __name__, url_prefix="/fhir")
FHIR_JSON = "application/fhir+json"


@lru_cache(maxsize=8)
def _form(catalogue: Catalogue, base_url: str) -> bytes:
    return orjson.dumps(questionnaire(catalogue, base_url))


@bp.get(f"/Questionnaire/{FORM_ID}")
def back_pain_triage() -> Response:
    interview: Interview = current_app.extensions["cds.interview"]
    catalogue = interview.catalogue
    etag = f'"{catalogue.digest}"'
    if request.if_none_match.contains(catalogue.digest):
        return Response(status=304, headers={"ETag": etag})
    body = _form(catalogue, current_app.config["CDS_SETTINGS"].public_base_url)
    return Response(body, mimetype=FHIR_JSON, headers={"ETag": etag})
