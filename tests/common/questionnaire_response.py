"""Test helper: an encounter as the QuestionnaireResponse a form filler would send after
answering the service's own triage form (GET /fhir/Questionnaire/back-pain-triage):

    qr = questionnaire_response(catalogue, vignette["encounter"])
    client.post("/v1/interview", data=json.dumps(qr), content_type="application/fhir+json")

Answers are written as the form offers them (cds/fhir/questionnaire_form.py): true/false as the
LOINC Yes/No coding, a list value as the form's own coding (system ANSWERS, the code is the
value), numbers as valueInteger/valueDecimal, pain sites one answer per site; every question's
item nested under its section's group item. An `asked_unknown` field of true/false or a list is
the LOINC Unknown answer. A field that is absent, null or an empty list is not answered.

A form has no question for a non-clinical field (encounter_id, pain.sites_partial): those are
left out, and `carried(encounter)` is the encounter less them, to compare results with. A value
the form has no answer for raises NotExpressible naming it, rather than being dropped.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from cds.fhir.questionnaire import ANSWERS
from cds.fhir.questionnaire_form import form_url
from cds.triage.fields import BY_PATH
from cds.triage.questions import NO, UNKNOWN, YES, Catalogue, Question

ASKED_UNKNOWN = "asked_unknown"


class NotExpressible(ValueError):
    """An encounter value the triage form has no answer for."""


def carried(encounter: dict[str, Any]) -> dict[str, Any]:
    """The encounter less the non-clinical fields, which no form question carries."""
    out: dict[str, Any] = {}
    for key, value in encounter.items():
        if isinstance(value, dict):
            out[key] = {n: copy.deepcopy(v) for n, v in value.items() if _clinical(f"{key}.{n}")}
        elif key == ASKED_UNKNOWN:
            out[key] = list(value)
        elif key != "encounter_id":  # not clinical, no question
            raise NotExpressible(f"{key}: not a part of the encounter the form asks about")
    return out


def _clinical(path: str) -> bool:
    spec = BY_PATH.get(path)
    return spec is None or spec.clinical  # a field the contract lacks is kept, to be refused


def answers_of(catalogue: Catalogue, encounter: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each answered question's answers, by linkId (the field path)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for section, fields in carried(encounter).items():
        if section == ASKED_UNKNOWN:
            continue
        for name, value in fields.items():
            path = f"{section}.{name}"
            if value is None or value == []:
                continue  # unknown: not answered
            question = catalogue.by_path.get(path)
            if question is None:
                raise NotExpressible(f"{path}: the form has no question for it")
            out[path] = _answers(question, value)
    for path in encounter.get(ASKED_UNKNOWN, ()):
        question = catalogue.by_path.get(path)
        if question is None or UNKNOWN not in question.answers:
            raise NotExpressible(f"{path}: asked and not known, but the question has no Unknown answer")
        out[path] = [{"valueCoding": dict(UNKNOWN.code or {})}]
    return out


def _answers(question: Question, value: Any) -> list[dict[str, Any]]:
    spec = question.field
    if spec.kind == "bool" and isinstance(value, bool):
        return [{"valueCoding": dict((YES if value else NO).code or {})}]
    if spec.kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return [{"valueInteger": value}]
    if spec.kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return [{"valueDecimal": value}]
    words = {a.value: a.label for a in question.answers if a.value is not None}
    if spec.kind == "enum" and value in words:
        return [{"valueCoding": _coding(value, words[value])}]
    if spec.kind == "enum_list" and isinstance(value, list) and all(v in words for v in value):
        return [{"valueCoding": _coding(v, words[v])} for v in value]
    raise NotExpressible(f"{spec.path}: {value!r} is not one of the form's answers")


def _coding(value: str, label: str) -> dict[str, str]:
    return {"system": ANSWERS, "code": value, "display": label}


def questionnaire_response(
    catalogue: Catalogue, encounter: dict[str, Any], authored: datetime | None = None, status: str = "completed"
) -> dict[str, Any]:
    """The QuestionnaireResponse answering the form from `encounter`, authored now (UTC)."""
    answers = answers_of(catalogue, encounter)
    groups = []
    for section, title in catalogue.sections:
        items = [
            {"linkId": q.link_id, "text": q.text, "answer": answers[q.link_id]}
            for q in catalogue.questions
            if q.section == section and q.link_id in answers
        ]
        if items:
            groups.append({"linkId": section, "text": title, "item": items})
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{form_url('')}|{catalogue.version}",
        "status": status,
        "authored": (authored or datetime.now(UTC)).isoformat(),
        "item": groups,
    }
