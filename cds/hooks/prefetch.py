"""The FHIR data the back-pain-triage service needs: its prefetch templates, and how each is
satisfied for a call, from prefetch or, failing that, from the client's FHIR server.

A key sent as null means "the client has no such data": that is an answer (the fields stay
unknown). A key left out, or answered with an OperationOutcome, is not: it is fetched when
the client gave a FHIR server and token, and otherwise the call cannot be served (412).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds.hooks import fhir_client
from cds.problems import FHIR_FETCH_FAILED, PREFETCH_MISSING

# Template queries use only {{context.patientId}}, which the request schema restricts to a
# FHIR id, so a rendered query cannot carry anything but what is written here.
TEMPLATES: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "vitals": "Observation?patient={{context.patientId}}&category=vital-signs&_sort=-date&_count=100",
    "conditions": "Condition?patient={{context.patientId}}&_count=200",
    "findings": "Observation?patient={{context.patientId}}&category=exam,survey,social-history&_sort=-date&_count=100",
    "labs": (
        "Observation?patient={{context.patientId}}&category=laboratory"
        "&code=http://loinc.org|5802-4,http://loinc.org|5799-2,http://loinc.org|2524-7,"
        "http://loinc.org|14118-4,http://loinc.org|6690-2,http://loinc.org|1988-5&_sort=-date&_count=50"
    ),
}


@dataclass
class Gathered:
    documents: dict[str, Any]
    prefetched: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)


def render(template: str, context: dict[str, Any]) -> str:
    return template.replace("{{context.patientId}}", str(context["patientId"]))


def _unusable(document: Any) -> bool:
    return isinstance(document, dict) and document.get("resourceType") == "OperationOutcome"


def gather(request: dict[str, Any], timeout: float, max_bytes: int) -> Gathered:
    prefetch = request.get("prefetch") or {}
    gathered = Gathered(documents={})
    missing = []
    for key in TEMPLATES:
        if key in prefetch and not _unusable(prefetch[key]):
            if prefetch[key] is None:
                gathered.empty.append(key)
            else:
                gathered.documents[key] = prefetch[key]
                gathered.prefetched.append(key)
        else:
            missing.append(key)
    if not missing:
        return gathered
    server, auth = request.get("fhirServer"), request.get("fhirAuthorization")
    if not server or not auth:
        raise PREFETCH_MISSING(
            "Prefetch data is missing for: " + ", ".join(missing) + "; and no fhirServer with fhirAuthorization was "
            "given to fetch it."
        )
    for key in missing:
        query = render(TEMPLATES[key], request["context"])
        try:
            document = fhir_client.fetch(server, query, auth["access_token"], timeout, max_bytes)
        except fhir_client.FhirFetchError as err:
            raise FHIR_FETCH_FAILED(f"The FHIR server could not provide '{key}' ({err.reason}).") from None
        if _unusable(document):
            raise FHIR_FETCH_FAILED(f"The FHIR server answered '{key}' with an OperationOutcome.")
        gathered.documents[key] = document
        gathered.fetched.append(key)
    return gathered
