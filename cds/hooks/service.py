"""The back-pain-triage CDS service behind the views: a validated call -> the FHIR data it
needs (prefetched or fetched) -> the same patient as the context -> the encounter -> the
age policy -> the triage -> cards. No Flask here: the view hands the call over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from cds.fhir.mapping import MappingResult, map_resources, resources_from
from cds.hooks.cards import age_unknown_card, build_cards, data_problem_card, diagnosis_card
from cds.hooks.fhir_client import FhirReader
from cds.hooks.fhir_servers import FhirTarget, fhir_target
from cds.hooks.prefetch import TEMPLATES, gather
from cds.hooks.triage_form import TriageForm, form_answers
from cds.problems import INVALID_CDS_HOOKS_REQUEST, Problem
from cds.settings import Settings
from cds.triage import Result, Triage
from cds.triage.answers import left_unknown
from cds.triage.fields import ADULT_AGE, BY_PATH
from cds.triage.questions import Catalogue

SERVICE_ID = "back-pain-triage"
HOOKS = ("patient-view", "encounter-start")
log = structlog.get_logger("cds.hooks")

_DESCRIPTION = (
    "Triage of back pain during an acute illness (flu, a cold, COVID or another infection): tells systemic "
    "myalgia from sepsis, bacterial meningitis, cord or cauda equina compression, spinal infection, acute "
    "pyelonephritis and the other serious causes that present the same way, with the reasons, the guideline "
    "behind each and the questions still worth asking."
)


def _discovery_document() -> dict[str, Any]:
    service = {
        "title": "Back pain during an acute illness: triage",
        "description": _DESCRIPTION,
        "id": SERVICE_ID,
        "prefetch": dict(TEMPLATES),
        "usageRequirements": f"Adults ({ADULT_AGE} and over) with back pain. Reads Patient, vital signs, Conditions, "
        "findings (Observations) and urinalysis, lactate, white cell count and CRP results.",
    }
    return {"services": [{"hook": hook, **service} for hook in HOOKS]}


DISCOVERY = _discovery_document()


@dataclass(frozen=True)
class Answer:
    cards: list[dict[str, Any]]
    result: Result | None  # None when the triage did not run (age unknown, or a child)


def _same_patient(call: dict[str, Any], documents: dict[str, Any]) -> None:
    patient = documents.get("patient")
    if patient is None:
        return
    # data about another patient must never be triaged as this one's, and a Patient that does
    # not say who it is cannot be shown to be this one
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        problem = "must be a Patient resource"
    elif "id" not in patient:
        problem = "has no id, so it cannot be matched to context.patientId"
    elif patient["id"] != call["context"]["patientId"]:
        problem = "id differs from context.patientId"
    else:
        return
    raise INVALID_CDS_HOOKS_REQUEST(
        "The Patient is not shown to be the patient of the context.",
        [{"field": "prefetch.patient", "message": problem}],
    )


def _evaluate(triage: Triage, mapping: MappingResult) -> Result:
    """The triage of the mapped encounter. Records the specification says cannot both be true
    (no leg numbness, yet numbness in both legs) come from the EHR, not from the caller, so they
    are not the call's error: the "no" of the pair is left unknown and the "yes" kept (it is the
    one that can raise a flag, and it implies the other), both named on the data-problem card,
    and every card still comes."""
    try:
        return triage.evaluate_document(mapping.encounter)
    except Problem as problem:
        refused = {e.get("field", ""): e.get("message", "") for e in problem.errors}
        if problem.status != 422 or not refused or not all(path in BY_PATH for path in refused):
            raise

    def value(path: str) -> Any:
        section, name = path.split(".", 1)
        return mapping.encounter.get(section, {}).get(name)

    unknown = left_unknown(refused, value)
    for path in sorted(unknown):
        section, name = path.split(".", 1)
        mapping.encounter.get(section, {}).pop(name, None)
    for path, message in sorted(refused.items()):
        kept = "left unknown" if path in unknown else "kept"
        mapping.errors.append({"field": path, "message": f"{message}; this one {kept}"})
    return triage.evaluate_document(mapping.encounter)


def _about_patient(error: dict[str, str]) -> bool:
    return error.get("field") in ("patient", "patient.age_years") or error.get("message", "").startswith("Patient/")


def answer(
    call: dict[str, Any], settings: Settings, triage: Triage, issuer: str | None, catalogue: Catalogue, base_url: str
) -> Answer:
    """The cards for one validated CDS Hooks call from `issuer` (None: JWTs are not checked,
    which only a test's settings allow, and any configured FHIR server may be read); the "ask
    next" card words its questions from `catalogue` and links to the form at `base_url`."""
    trusted = settings.trusted_issuers
    issuers = list(trusted.values()) if issuer is None else [trusted[issuer]] if issuer in trusted else []

    def target_for(server: str) -> FhirTarget | None:
        return fhir_target(server, issuers)

    def reader(target: FhirTarget, token: str) -> FhirReader:
        return FhirReader(target, token, settings)

    gathered = gather(call, target_for, reader)
    _same_patient(call, gathered.documents)
    now = datetime.now(UTC)
    mapping = map_resources(
        resources_from(list(gathered.documents.values())),
        now.date(),
        now=now,
        measured_hours=settings.fhir_observation_window_hours,
        current_hours=settings.fhir_finding_window_hours,
        cuts=triage.cuts,
    )
    log.info(
        "cds_hooks_call",
        hook=call["hook"],
        prefetched=gathered.prefetched,
        fetched=gathered.fetched,
        empty=gathered.empty,
        mapped=len(mapping.used),
        ignored=mapping.ignored,
        mapping_errors=len(mapping.errors),
    )
    instance, rb = call["hookInstance"], triage.rulebase
    age = mapping.encounter.get("patient", {}).get("age_years")
    if age is None:
        # No triage without an age, but a recorded diagnosis still stands, and what could not be
        # read is named: a Patient set aside (a null gender, two Patients, a birth date past the
        # contract's range) is why the triage did not run, not an absent birth date.
        patient_problem = any(_about_patient(e) for e in mapping.errors)
        cards = [
            age_unknown_card(instance, rb, unreadable=patient_problem),
            data_problem_card(mapping.errors, instance),
            diagnosis_card(mapping.diagnoses, instance, rb),
        ]
        return Answer([card for card in cards if card], None)
    if age < ADULT_AGE:
        return Answer([], None)  # out of scope: an adult service says nothing about children
    result = _evaluate(triage, mapping)
    # the form gets the clinical values only: nothing of the call (patient, user, hookInstance)
    form = TriageForm(
        catalogue, base_url, settings.form_link_key, settings.form_link_ttl_seconds, form_answers(mapping.encounter)
    )
    bounds = {u["field"]: u["recorded"] for u in mapping.used if "recorded" in u and "field" in u}
    return Answer(build_cards(result, mapping.errors, instance, rb, form, bounds, mapping.diagnoses), result)
