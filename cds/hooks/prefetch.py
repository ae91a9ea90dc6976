"""The FHIR data the back-pain-triage service needs: its prefetch templates, and how each is
satisfied for a call, from prefetch or, failing that, from the client's FHIR server.

A key sent as null means "the client has no such data": that is an answer (the fields stay
unknown). A key left out, or answered with an OperationOutcome, is not: it is fetched when
the client gave a FHIR server and token, and otherwise the call cannot be served (412).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from cds.fhir.terminology import terminology
from cds.hooks.fhir_client import FhirFetchError, FhirReader
from cds.hooks.fhir_servers import FhirTarget
from cds.problems import FHIR_FETCH_FAILED, FHIR_SERVER_NOT_ALLOWED, PREFETCH_MISSING

log = structlog.get_logger("cds.hooks")
# the FHIR server a call names, if the configuration allows it (fhir_servers.fhir_target)
TargetFor = Callable[[str], FhirTarget | None]


def _lab_codes() -> str:
    """Every LOINC code terminology.yaml reads from a laboratory result, and the panels whose
    components it reads (the urinalysis panels; the vital-signs ones match no laboratory
    result and cost nothing): the labs query asks for what the mapping understands (a code
    added there is fetched too)."""
    term = terminology()
    loinc = "http://loinc.org"
    keys = [q.codes for q in term.quantities if q.field.section == "labs"]
    keys += [(f.key,) for f in term.findings if f.field.section == "labs" or f.key == (loinc, "32167-9")]
    keys += [tuple(sorted(term.panels))]  # a urinalysis panel holds the strip results as components
    codes = dict.fromkeys(code for group in keys for system, code in group if system == loinc)
    return ",".join(f"{loinc}|{code}" for code in codes)


_LAB_CODES = _lab_codes()
# Template queries use only {{context.patientId}}, which the request schema restricts to a
# FHIR id, so a rendered query cannot carry anything but what is written here.
TEMPLATES: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "vitals": "Observation?patient={{context.patientId}}&category=vital-signs&_sort=-date&_count=100",
    "conditions": "Condition?patient={{context.patientId}}&_count=200",
    "findings": "Observation?patient={{context.patientId}}&category=exam,survey,social-history&_sort=-date&_count=100",
    "labs": (
        "Observation?patient={{context.patientId}}&category=laboratory&code=" + _LAB_CODES + "&_sort=-date&_count=50"
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


def gather(request: dict[str, Any], target_for: TargetFor, reader: Callable[[FhirTarget, str], FhirReader]) -> Gathered:
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
    target = target_for(server)
    if target is None:
        # nothing about the server is looked up or told: it is simply not one of this client's
        raise FHIR_SERVER_NOT_ALLOWED(
            "Prefetch data is missing for: " + ", ".join(missing) + "; and fhirServer is not a FHIR server "
            "configured for this CDS client, so it is not read."
        )
    fhir = reader(target, auth["access_token"])
    for key in missing:
        try:
            document = fhir.read(render(TEMPLATES[key], request["context"]))
        except FhirFetchError as err:
            log.warning("fhir_fetch_failed", key=key, reason=err.reason)
            raise FHIR_FETCH_FAILED(f"The FHIR server did not provide '{key}'.") from None
        if _unusable(document):
            raise FHIR_FETCH_FAILED(f"The FHIR server answered '{key}' with an OperationOutcome.")
        gathered.documents[key] = document
        gathered.fetched.append(key)
    return gathered
