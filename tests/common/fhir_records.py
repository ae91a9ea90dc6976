"""Test helper: single FHIR records as EHRs send them (a Condition, an Observation), and the
mapping run over them as of TODAY's end, for the unit tests of the FHIR mapping."""

from __future__ import annotations

from typing import Any

from cds.fhir import map_resources, resources_from
from cds.fhir.readings import MappingResult
from tests.common.fhir_builders import CLINICAL, TODAY, VERIFICATION, flatten

LOINC, SNOMED, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"
NOW = "2025-01-15T10:00:00Z"


def run(*resources: dict[str, Any], **options: Any) -> MappingResult:
    return map_resources(resources_from(list(resources)), TODAY, **options)


def values(*resources: dict[str, Any]) -> dict[str, Any]:
    return flatten(run(*resources).encounter)


def coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def condition(
    code: str, when: str | None, clinical: str = "active", verification: str = "confirmed", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"c-{code}-{(when or 'undated')[:4]}",
        "code": coding(SNOMED, code),
        "clinicalStatus": coding(CLINICAL, clinical),
        "verificationStatus": coding(VERIFICATION, verification),
        **({"onsetDateTime": when} if when else {}),
        **extra,
    }


def observation(code: str, system: str = SNOMED, when: str = NOW, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"o-{code}",
        "status": "final",
        "code": coding(system, code),
        "effectiveDateTime": when,
        **value,
    }
