"""GET /fhir/Questionnaire/back-pain-triage: the triage form as a FHIR R4 Questionnaire
(cds/fhir/questionnaire_form.py), generated from the question catalogue the service runs.

No access control: the form holds no patient data, like GET /v1/questions. The ETag is a digest
of the form's own bytes, so a form filler revalidates cheaply and a cache never keeps a stale
form: the bytes depend on the catalogue, on the configured public base URL (two replicas may
differ) and on this release's generator, not on the catalogue alone.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import orjson
from flask import Blueprint, Response, current_app, request

from cds.fhir.questionnaire_form import FORM_ID, questionnaire
from cds.triage.interview import Interview
from cds.triage.questions import Catalogue

bp = Blueprint("fhir_form", __name__, url_prefix="/fhir")
FHIR_JSON = "application/fhir+json"


@lru_cache(maxsize=8)
def _form(catalogue: Catalogue, base_url: str) -> tuple[bytes, str]:
    """The form's bytes and their digest, the ETag's opaque value."""
    body = orjson.dumps(questionnaire(catalogue, base_url))
    return body, hashlib.sha256(body).hexdigest()[:32]


@bp.get(f"/Questionnaire/{FORM_ID}")
def back_pain_triage() -> Response:
    interview: Interview = current_app.extensions["cds.interview"]
    body, digest = _form(interview.catalogue, current_app.config["CDS_SETTINGS"].public_base_url)
    etag = f'"{digest}"'
    if request.if_none_match.contains_weak(digest):  # RFC 9110 13.1.2: weak comparison
        return Response(status=304, headers={"ETag": etag})
    return Response(body, mimetype=FHIR_JSON, headers={"ETag": etag})
