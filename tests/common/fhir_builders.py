"""Test helper: a contract encounter as the FHIR R4 resources an EHR would hold.

Built from the same terminology file the adapter reads, so a round trip tests the adapter's
reading of FHIR, not a second copy of the codes. Reused by the CDS Hooks tests to post vignettes:

    resources = encounter_to_resources(vignette["encounter"], today)
    prefetch(vignette["encounter"], today)   # {"patient": ..., "observations": ..., "conditions": ...}

What the terminology cannot carry (e.g. pain.distribution, or generalised myalgia = true) is
left out; `unexpressible(encounter)` names those fields, which the adapter reports as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from cds.fhir.terminology import UCUM, CodedQuantity, Finding, Key, Terminology, terminology
from cds.triage.fields import BY_PATH, FIELDS

PATIENT_ID = "vignette-patient"
TODAY = date(2025, 1, 15)
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
LOINC = "http://loinc.org"

CATEGORIES = {
    "patient": "social-history",
    "history": "social-history",
    "vitals": "vital-signs",
    "pain": "survey",
    "symptoms": "survey",
    "exam": "exam",
    "labs": "laboratory",
}

FindingsAs = Literal["observation", "condition"]


@dataclass(frozen=True)
class _Plan:
    """How one field's value is written: a number for a quantity, or a finding's answer."""

    entry: CodedQuantity | Finding
    number: float | None = None
    present: bool | None = None
    answer: Key | None = None  # a coded answer (valueCodeableConcept) or a severity grade


def flatten(encounter: dict[str, Any]) -> dict[str, Any]:
    """{"section.name": value} for every known (non-null) field."""
    flat: dict[str, Any] = {}
    for key, value in encounter.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{name}": v for name, v in value.items() if v is not None})
        elif value is not None:
            flat[key] = value
    return flat


def _plan(path: str, value: Any, term: Terminology) -> _Plan | None:
    spec = BY_PATH[path]
    if spec.numeric:
        for q in term.quantities:
            if q.field.path == path and not q.bands:
                return _Plan(q, number=value)
        return None
    banded = _banded(path, value, term)
    if banded is not None:  # oxygen as a flow, consciousness as a GCS: as EHRs send them
        return banded
    for f in term.findings:
        if f.field.path != path or spec.kind == "enum_list":
            continue
        if f.coded:
            for key, presence in term.answer_sets[f.answers].codes.items():
                if presence is not None and (f.present if presence else f.absent) == value:
                    return _Plan(f, present=presence, answer=key)
        elif f.present is not None and f.present == value:
            return _Plan(f, present=True)
        elif f.absent is not None and f.absent == value:
            return _Plan(f, present=False)
        elif f.grades is not None:
            for key, grade in term.answer_sets[f.grades].codes.items():
                if grade == value:
                    return _Plan(f, present=True, answer=key)
    return None


def _banded(path: str, value: Any, term: Terminology) -> _Plan | None:
    for q in (q for q in term.quantities if q.field.path == path):
        for band in q.bands:
            if band.value == value:
                if band.min is not None:
                    number = band.min
                elif band.max is not None:
                    number = band.max
                else:
                    number = band.above + 1 if band.above is not None else band.below - 1  # type: ignore[operator]
                return _Plan(q, number=number)
    return None


def expressible(path: str, value: Any) -> bool:
    """Can the terminology carry this value of this field? (patient age and sex always can.)"""
    return path in ("patient.age_years", "patient.sex") or _plan(path, value, terminology()) is not None


def unexpressible(encounter: dict[str, Any]) -> dict[str, Any]:
    """The fields (flat paths) whose values the terminology cannot carry."""
    return {path: value for path, value in flatten(encounter).items() if not expressible(path, value)}


def _concept(term: Terminology, *keys: Key) -> dict[str, Any]:
    return {"coding": [{"system": s, "code": c, "display": term.displays[(s, c)]} for s, c in keys]}


def _category(system: str, code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": system, "code": code}]}]


def birth_date(age: int, today: date) -> str:
    """A birthDate that makes the patient exactly `age` on `today`."""
    day = today.day if (today.month, today.day) != (2, 29) else 28
    return date(today.year - age, today.month, day).isoformat()


def recorded_at(today: date) -> str:
    """When the resources of `today` were recorded: noon, or a minute ago while noon is still
    to come. The service refuses a record dated after its own clock, so a test run in the
    morning (UTC) must not date today's readings at noon."""
    noon = datetime.combine(today, time(12), tzinfo=UTC)
    at = min(noon, datetime.now(UTC) - timedelta(minutes=1))
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def encounter_to_resources(
    encounter: dict[str, Any],
    today: date = TODAY,
    *,
    findings_as: FindingsAs = "observation",
    patient_id: str = PATIENT_ID,
) -> list[dict[str, Any]]:
    """Patient, Observations and Conditions for every field the terminology can carry.

    Numbers are written in the field's own unit (Cel, /min, mm[Hg], %, mmol/L, 10*9/L), the
    systolic pressure inside an 85354-9 panel, oxygen as a 3151-8 flow (1 L/min when on oxygen,
    0 when not) inside the pulse-oximetry observation. Findings are Observations with
    valueBoolean or, with findings_as="condition", Conditions (active and confirmed, or refuted;
    consciousness stays an Observation). Coded results (dipsticks, pregnancy status) and graded
    findings (headache severity) carry a coded answer.
    """
    term = terminology()
    subject = {"reference": f"Patient/{patient_id}"}
    when = recorded_at(today)
    flat = flatten(encounter)
    patient: dict[str, Any] = {"resourceType": "Patient", "id": patient_id}
    if "patient.sex" in flat:
        patient["gender"] = flat["patient.sex"]
    if "patient.age_years" in flat:
        patient["birthDate"] = birth_date(flat["patient.age_years"], today)
    out: list[dict[str, Any]] = [patient]
    by_field: dict[str, dict[str, Any]] = {}
    for spec in FIELDS:
        if spec.path not in flat or spec.path in ("patient.age_years", "patient.sex"):
            continue
        plan = _plan(spec.path, flat[spec.path], term)
        if plan is None:
            continue
        rid = spec.path.replace(".", "-").replace("_", "-")
        entry = plan.entry
        if isinstance(entry, CodedQuantity):
            unit = next(u for u in entry.units.values() if u.identity)
            quantity = {"value": plan.number, "unit": unit.code, "system": UCUM, "code": unit.code}
            resource: dict[str, Any] = {
                "resourceType": "Observation",
                "id": rid,
                "status": "final",
                "category": _category(OBS_CATEGORY, CATEGORIES[spec.section]),
                "code": _concept(term, *entry.codes),
                "subject": subject,
                "effectiveDateTime": when,
                "valueQuantity": quantity,
            }
            if spec.path == "vitals.systolic_bp":  # as EHRs send it: a component of a BP panel
                panel = next(k for k in term.panels if k[0] == LOINC and k[1] == "85354-9")
                component = {"code": resource.pop("code"), "valueQuantity": resource.pop("valueQuantity")}
                resource.update(code=_concept(term, panel), component=[component])
        elif entry.coded or findings_as == "observation" or spec.section == "vitals":
            resource = {
                "resourceType": "Observation",
                "id": rid,
                "status": "final",
                "category": _category(OBS_CATEGORY, CATEGORIES[spec.section]),
                "code": _concept(term, entry.key),
                "subject": subject,
                "effectiveDateTime": when,
            }
            if plan.answer is not None:
                resource["valueCodeableConcept"] = _concept(term, plan.answer)
            else:
                resource["valueBoolean"] = plan.present
        else:
            resource = {
                "resourceType": "Condition",
                "id": rid,
                "clinicalStatus": _concept_plain(CLINICAL, "active" if plan.present else "inactive"),
                "verificationStatus": _concept_plain(VERIFICATION, "confirmed" if plan.present else "refuted"),
                "category": _category(COND_CATEGORY, "problem-list-item"),
                "code": _concept(term, entry.key),
                "subject": subject,
                "recordedDate": when,
            }
            if plan.answer is not None:
                resource["severity"] = _concept(term, plan.answer)
        by_field[spec.path] = resource
        out.append(resource)
    oxygen, spo2 = by_field.get("vitals.on_oxygen"), by_field.get("vitals.spo2")
    if oxygen is not None and spo2 is not None:  # US Core: the flow is a pulse-oximetry component
        out.remove(oxygen)
        spo2["component"] = [{"code": oxygen["code"], "valueQuantity": oxygen["valueQuantity"]}]
    return out


def _concept_plain(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def bundle(resources: list[dict[str, Any]], kind: str = "searchset") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "total": len(resources),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def prefetch(encounter: dict[str, Any], today: date = TODAY, **options: Any) -> dict[str, Any]:
    """A CDS Hooks prefetch: the Patient, and searchset Bundles of Observations and Conditions."""
    resources = encounter_to_resources(encounter, today, **options)
    return {
        "patient": resources[0],
        "observations": bundle([r for r in resources if r["resourceType"] == "Observation"]),
        "conditions": bundle([r for r in resources if r["resourceType"] == "Condition"]),
    }
