"""Reading a QuestionnaireResponse into the collector (mapping.py): the answers of a triage form.

An item's `linkId` is the contract field's path (`symptoms.saddle_anaesthesia`), as in the
service's own form; an item whose linkId is not a clinical field is ignored and counted. Items
nest (groups, and items under an answer). The answers are read by the field's kind:

- true/false: valueBoolean; a coded Yes/No (SNOMED 373066001/373067005, LOINC LA33-6/LA32-8);
  Unknown (SNOMED 261665006, LOINC LA4489-6) leaves the field unknown, as the patient said;
- one of a list of values: valueCoding whose code is the value (system ANSWERS), or valueString;
- a number: valueInteger or valueDecimal, in the unit the field's name gives, or valueQuantity in
  a UCUM unit the terminology accepts for the measurement (converted), range-checked;
- pain sites: one answer per site; the answers are the whole list.

An item without an answer was not answered: unknown. An item given twice is read with both its
answers (two that disagree are named and leave it unknown), as is an answer holding two values;
an element FHIR does not define for an item or an answer ("answers") sets the resource aside.
The time is `authored` (a date alone is all of that day, as an Observation's): the field's
episode decides whether the answer still counts (one authored in the future, or not at all, is
named once). Statuses read: completed, amended, in-progress (an answer given is an answer);
entered-in-error (which withdraws any other version of the same id) and stopped are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from cds.fhir.dates import utc_label
from cds.fhir.episodes import SKEW
from cds.fhir.readings import Collector
from cds.fhir.resources import UNDATED, response_latest_time, response_time, response_timed
from cds.fhir.superseded import said_no
from cds.fhir.terminology import UCUM, CodedQuantity, as_field, field_problem, terminology
from cds.numbers import finite_number
from cds.triage.fields import BY_PATH, Field
from cds.triage.questions import Catalogue, QuestionsError

# the code system of the form's own answers for fields with a list of values (a code per value)
ANSWERS = "https://cds.invalid/fhir/CodeSystem/back-pain-triage-answers"
READ = frozenset({"completed", "amended", "in-progress"})


def read_response(c: Collector, response: dict[str, Any]) -> None:
    status = response.get("status")
    if status not in READ:
        c.ignore("entered_in_error" if status == "entered-in-error" else "not_final")
        if status == "entered-in-error":
            c.withdraw(response)
        return
    stamp = response_time(response)
    # authored to the day only ("2025-01-14") is all of that day, as an Observation's date is: read
    # at its first moment alone, yesterday's answers of this morning's vital signs fell out of
    # their window in silence
    latest = response_latest_time(response)
    with c.stated_until(latest if latest > stamp else None, timed=response_timed(response)):
        _read_items(c, response, None if stamp == UNDATED else stamp)


def _read_items(c: Collector, response: dict[str, Any], when: datetime | None) -> None:
    rid = str(response.get("id", ""))
    ref = c.ref({"resource_type": "QuestionnaireResponse", "id": rid})
    if when is None and response.get("item"):
        # every answer would fall outside its episode one by one, with nothing said
        c.error(
            "fhir",
            f"{ref} has no authored time: its answers about this illness and recent "
            "events were not used (only those about any time, such as a history of cancer)",
        )
    elif when is not None and when > c.windows.now + SKEW and response.get("item"):
        # a wrong clock: every answer would be set aside one by one (readings.py names none)
        c.error(
            "fhir",
            f"{ref} is authored in the future{c.dated(utc_label(when))}: its answers were not used",
        )
    for path, answers in _answers_by_link_id(response.get("item") or []).items():
        spec = BY_PATH.get(path)
        if spec is None or not spec.clinical:
            if answers:  # a group only holds items; an answer to no field of ours is counted
                c.ignore("unknown_link_id")
            continue
        if not answers:
            c.ignore("not_answered", path)
            continue
        value, reason = answer(c, spec, answers)
        if reason in ("unrecognised_value", "ambiguous_value"):
            what = "an answer it cannot read" if reason == "unrecognised_value" else "answers that disagree"
            c.error(path, f"{ref}: the item has {what}; left unknown")
        source = {"resource_type": "QuestionnaireResponse", "id": rid, "linkId": path, "field": path}
        negative = said_no(value)
        c.read(path, when, value, source, reason, negative=negative)


def _answers_by_link_id(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Every answer given for each linkId. An item given twice (none of the form's questions
    repeats) is one question answered twice: its answers are read together, so two that
    disagree are named, never one of them kept in silence. An answer holding two values (FHIR
    allows one) is read as two answers, for the same reason."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in _items(items):
        answers = out.setdefault(item["linkId"], [])
        for given in item.get("answer") or []:
            values = [k for k in given if k.startswith("value")]
            answers += [{k: given[k]} for k in values] if len(values) > 1 else [given]
    return out


def _items(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _items(item.get("item") or [])
        for given in item.get("answer") or []:
            yield from _items(given.get("item") or [])


def answer(c: Collector, spec: Field, answers: list[dict[str, Any]]) -> tuple[Any, str | None]:
    """(field value, None), or (None, the reason it says nothing)."""
    if spec.kind != "bool":
        unknown = [_said_unknown(c, a) for a in answers]
        if all(unknown):
            # the form's "Don't know" for a list of values: asked, not known
            return None, "answered_unknown"
        if any(unknown):
            # a value and "Don't know" together: which one the caller meant is not ours to guess,
            # and dropping the value would lose the answer that may raise a flag
            return None, "ambiguous_value"
    if spec.kind == "enum_list":
        values = [_choice(spec, a) for a in answers]
        if any(v is None for v in values) or len(set(values)) != len(values):
            return None, "unrecognised_value"
        return sorted(values, key=spec.choices.index), None
    readings = {repr(r): r for r in (_one(c, spec, a) for a in answers)}
    if len(readings) > 1:
        return None, "ambiguous_value"
    value, reason = next(iter(readings.values()))
    if value is not None and (problem := field_problem(spec, value)):
        c.error(spec.path, f"QuestionnaireResponse answer: {problem}; left unknown")
        return None, "out_of_range"
    return value, reason


def _one(c: Collector, spec: Field, given: dict[str, Any]) -> tuple[Any, str | None]:
    if spec.kind == "bool":
        if "valueBoolean" in given:
            return given["valueBoolean"], None
        state = _presence(c, given)
        if state is _NOT_PRESENCE:
            return None, "unrecognised_value"
        return state, None if state is not None else "answered_unknown"
    if spec.numeric:
        for name in ("valueInteger", "valueDecimal"):
            if name in given:
                return given[name], None
        if "valueQuantity" in given:
            return _quantity(c, spec, given["valueQuantity"])
        return None, "unrecognised_value"
    value = _choice(spec, given)
    return value, None if value is not None else "unrecognised_value"


def _quantity(c: Collector, spec: Field, vq: Any) -> tuple[Any, str | None]:
    """A valueQuantity answer (the FHIR type of a quantity item), in a UCUM unit the
    terminology accepts for the field's measurement, converted to the field's unit as an
    Observation's would be; anything else is not guessed at."""
    units = next(
        (
            e.units
            for e in c.term.by_code.values()
            if isinstance(e, CodedQuantity) and e.field.path == spec.path and not e.bands
        ),
        {},
    )
    if not isinstance(vq, dict) or vq.get("comparator") is not None or vq.get("system") != UCUM:
        return None, "unrecognised_value"
    unit, value = units.get(str(vq.get("code"))), vq.get("value")
    if unit is None or not finite_number(value):
        return None, "unrecognised_value"
    converted = unit.convert(float(value))
    return as_field(spec, converted), None


_NOT_PRESENCE = object()


def _presence(c: Collector, given: dict[str, Any]) -> Any:
    """What a coded Yes / No / Unknown answer says (True, False, None), or _NOT_PRESENCE."""
    coding = given.get("valueCoding")
    if not isinstance(coding, dict):
        return _NOT_PRESENCE
    key = (str(coding.get("system", "")), str(coding.get("code", "")))
    return c.term.answer_sets["presence"].codes.get(key, _NOT_PRESENCE)


def _said_unknown(c: Collector, given: dict[str, Any]) -> bool:
    return _presence(c, given) is None


def _choice(spec: Field, given: dict[str, Any]) -> str | None:
    if "valueCoding" in given:
        coding = given["valueCoding"]
        value = coding.get("code") if coding.get("system") == ANSWERS else None
    else:
        value = given.get("valueString")
    return value if value in spec.choices else None


def require_known_codes(catalogue: Catalogue) -> None:
    """A question's code must be one terminology.yaml already maps to the question's own field
    (verified there, with its source): the catalogue never introduces a code. Checked at start-up."""
    term = terminology()
    problems = []
    for q in catalogue.questions:
        if q.code is None:
            continue
        key = (q.code["system"], q.code["code"])
        entry = term.by_code.get(key) or term.observables.get(key)
        if entry is None or entry.field is None or entry.field.path != q.path:
            problems.append(
                f"questions.yaml: {q.path}: code {q.code['system']}|{q.code['code']} is not mapped to this field "
                "in cds/fhir/terminology.yaml"
            )
    if problems:
        raise QuestionsError(problems)
