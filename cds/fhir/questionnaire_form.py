"""The triage form as a FHIR R4 Questionnaire (GET /fhir/Questionnaire/back-pain-triage),
generated from the question catalogue (rules/questions.yaml) so that it cannot drift from it.

One `group` item per section, in the catalogue's order, holding its questions in catalogue order.
A question's linkId is its field's path, the key the service reads a QuestionnaireResponse back
by (cds/fhir/questionnaire.py), and its answers are the ones that reader takes:

- true/false: `choice` bound to the contained value set `#yes-no-unknown` (LOINC LA33-6 Yes,
  LA32-8 No, LA4489-6 Unknown): an Unknown answer is asked-unknown, never No;
- one of a list: `choice` with an answerOption per value (system ANSWERS, the code is the value,
  the display its words) and LOINC Unknown for "Don't know", which the reader takes as asked,
  not known (tests/service/test_fhir_form.py); pain sites repeat, one per site, and offer no
  "Don't know" (a site not selected is recorded as not hurting: an unanswered item is unknown);
- a number: `integer` or `decimal`, with its UCUM unit and the contract's range.

`enableWhen` mirrors the catalogue's `enable_when` (operators `=`, `!=` and `exists`; a Coding
for a true/false or a list parent). `!=` is "no answer equals" (R4's garbled definition as R5 words
it), so an unanswered or Don't-know parent shows the question, as the catalogue does; but a
FHIR `=` hides its question until the parent is answered, where the catalogue would show it (no
question uses `=` today). The help is a child `display` item with the itemControl `help`; the short
label is SDC's shortText. The catalogue's version is the form's version and its digest an
identifier, so a form filler can tell two forms apart.

Deterministic: the same catalogue and base URL give the same resource (no date, no clock).

Extension and code-system URLs, each checked against its definition:
- questionnaire-unit (valueCoding; integer and decimal items):
  https://hl7.org/fhir/R4/extension-questionnaire-unit.html
- minValue / maxValue (the item's own type: valueInteger or valueDecimal):
  https://hl7.org/fhir/R4/extension-minvalue.html, https://hl7.org/fhir/R4/extension-maxvalue.html
- questionnaire-itemControl (valueCodeableConcept) and its code system, code `help`:
  https://hl7.org/fhir/R4/extension-questionnaire-itemcontrol.html,
  https://hl7.org/fhir/R4/codesystem-questionnaire-item-control.html
- SDC shortText (valueString): https://hl7.org/fhir/uv/sdc/StructureDefinition-sdc-questionnaire-shortText.html
"""

from __future__ import annotations

from typing import Any

from cds.fhir.questionnaire import ANSWERS
from cds.triage.questions import LOINC, NO, UNKNOWN, YES, Answer, Catalogue, EnableWhen, Question

FORM_ID = "back-pain-triage"
CANONICAL_BASE = "https://cds.invalid"
YES_NO_UNKNOWN = "yes-no-unknown"
UCUM = "http://unitsofmeasure.org"
DIGEST_SYSTEM = "https://cds.invalid/fhir/NamingSystem/question-catalogue-digest"

QUESTIONNAIRE_UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
ITEM_CONTROL_CODES = "http://hl7.org/fhir/questionnaire-item-control"
SHORT_TEXT = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-shortText"

ITEM_TYPES = {"bool": "choice", "enum": "choice", "enum_list": "choice", "int": "integer", "number": "decimal"}


def form_url(base_url: str) -> str:
    """The form's canonical URL under the service's public base URL (the placeholder without one)."""
    return f"{base_url.rstrip('/') or CANONICAL_BASE}/fhir/Questionnaire/{FORM_ID}"


def questionnaire(catalogue: Catalogue, base_url: str) -> dict[str, Any]:
    """The catalogue as an R4 Questionnaire resource (a JSON-ready dict)."""
    groups = []
    for section, title in catalogue.sections:
        items = [_question(q, catalogue) for q in catalogue.questions if q.section == section]
        if items:  # a group holds items (que-1)
            groups.append({"linkId": section, "text": title, "type": "group", "item": items})
    return {
        "resourceType": "Questionnaire",
        "id": FORM_ID,
        "contained": [_yes_no_unknown()],
        "url": form_url(base_url),
        "identifier": [{"system": DIGEST_SYSTEM, "value": catalogue.digest}],
        "version": catalogue.version,
        "name": "BackPainTriage",
        "title": catalogue.title,
        "status": "active",
        "subjectType": ["Patient"],
        "item": groups,
    }


def _yes_no_unknown() -> dict[str, Any]:
    concepts = [{"code": a.code["code"], "display": a.code["display"]} for a in (YES, NO, UNKNOWN) if a.code]
    return {
        "resourceType": "ValueSet",
        "id": YES_NO_UNKNOWN,
        "name": "YesNoUnknown",
        "status": "active",
        "compose": {"include": [{"system": LOINC, "concept": concepts}]},
    }


def _question(q: Question, catalogue: Catalogue) -> dict[str, Any]:
    kind = q.field.kind
    item: dict[str, Any] = {"extension": [{"url": SHORT_TEXT, "valueString": q.short}]}
    item["linkId"] = q.link_id
    if q.code is not None:
        item["code"] = [dict(q.code)]
    item["text"] = q.text
    item["type"] = ITEM_TYPES[kind]
    if q.enable_when:
        item["enableWhen"] = [_enable_when(e, catalogue) for e in q.enable_when]
        if len(q.enable_when) > 1:  # que-12
            item["enableBehavior"] = "all"
    if q.field.required:
        item["required"] = True
    if q.multiple:
        item["repeats"] = True
    if kind == "bool":
        item["answerValueSet"] = f"#{YES_NO_UNKNOWN}"
    elif q.answers:
        item["answerOption"] = [{"valueCoding": _coding(a)} for a in q.answers]
    else:
        item["extension"] += _number_extensions(q)
    item["item"] = [
        {
            "extension": [
                {
                    "url": ITEM_CONTROL,
                    "valueCodeableConcept": {"coding": [{"system": ITEM_CONTROL_CODES, "code": "help"}]},
                }
            ],
            "linkId": f"{q.link_id}.help",
            "text": q.help,
            "type": "display",
        }
    ]
    return item


def _coding(answer: Answer) -> dict[str, str]:
    """An answer's Coding: its LOINC code where it has one (Yes, No, Unknown), else the form's own."""
    if answer.code is not None:
        return dict(answer.code)
    return {"system": ANSWERS, "code": str(answer.value), "display": answer.label}


def _number_extensions(q: Question) -> list[dict[str, Any]]:
    """The unit, and the contract's range in the item's own type (minValue/maxValue)."""
    integer = q.field.kind == "int"
    value = "valueInteger" if integer else "valueDecimal"
    out: list[dict[str, Any]] = []
    if q.unit is not None:
        unit = {"system": UCUM, "code": q.unit["code"], "display": q.unit["display"]}
        out.append({"url": QUESTIONNAIRE_UNIT, "valueCoding": unit})
    for url, bound in ((MIN_VALUE, q.field.low), (MAX_VALUE, q.field.high)):
        if bound is not None:
            out.append({"url": url, value: int(bound) if integer else bound})
    return out


def _enable_when(e: EnableWhen, catalogue: Catalogue) -> dict[str, Any]:
    out: dict[str, Any] = {"question": e.field, "operator": e.operator}
    parent = catalogue.by_path[e.field]
    if e.operator == "exists":
        out["answerBoolean"] = bool(e.value)
    elif parent.field.kind == "bool":
        out["answerCoding"] = _coding(YES if e.value else NO)
    elif parent.field.kind in ("enum", "enum_list"):
        words = {a.value: a for a in parent.answers}
        out["answerCoding"] = _coding(words.get(e.value, Answer(e.value, str(e.value))))
    else:  # the catalogue refuses enable_when on a number (cds/triage/questions.py)
        raise ValueError(f"{e.field}: enable_when on a {parent.field.kind} cannot be expressed")
    return out
