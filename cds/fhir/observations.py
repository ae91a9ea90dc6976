"""Reading an Observation into the collector (mapping.py): the shapes EHRs send.

- A measurement: the code names a quantity; valueQuantity in a listed UCUM unit (converted), or
  valueInteger for a score; one with no value (a dataAbsentReason) is named, as it leaves the
  field unknown. The components of a recognised Observation or of a listed panel are
  read one by one; those of any other Observation are not (named on the data-problem card when
  one names a field).
- A finding: the code names it; valueBoolean, a coded answer (Present/Absent, Yes/No,
  Positive/Negative, Detected/Not detected, Unknown), a listed valueString, or, with no value,
  an interpretation POS/NEG.
- A question whose value is the answer (observables): the UK way of sending ACVPU (code
  1104441000000107, the level in valueCodeableConcept), and the HL7 Symptoms IG (75325-1
  "Symptom" / 111551-8 "Symptom absent", the finding's own code in valueCodeableConcept).

Observation.status: final, amended, corrected and preliminary are read. Preliminary results
count because in acute triage an unverified measurement (a preliminary lactate) is closer to the
truth than "unknown"; `used` carries the status. registered and unknown are ignored as
not_final (a value under them named when nothing else fills its field); cancelled and
entered-in-error are ignored, and an entered-in-error one withdraws any other version of the same
id sent beside it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds.fhir.bounds import COMPARATORS, Bound, reads_as
from cds.fhir.readings import Collector
from cds.fhir.resources import (
    UNDATED,
    concept_keys,
    observation_latest_time,
    observation_time,
    observation_timed,
)
from cds.fhir.terminology import UCUM, CodedQuantity, Finding, Key, Observable, as_field, field_problem
from cds.fhir.unread import ambiguous, no_value
from cds.numbers import finite_number

READ = frozenset({"final", "amended", "corrected", "preliminary"})
SNOMED = "http://snomed.info/sct"
SKIP = {"entered-in-error": "entered_in_error", "cancelled": "cancelled"}
Entry = CodedQuantity | Finding | Observable


def entry_for(c: Collector, concept: Any, panels: bool) -> Entry | str:
    """The one terminology entry a code names; 'panel', or a reason string when none."""
    keys = concept_keys(concept)
    term = c.term
    observable = next((term.observables[k] for k in keys if k in term.observables), None)
    if observable is not None:
        return observable
    entries = {id(e): e for k in keys if (e := term.by_code.get(k)) is not None}
    if not entries:
        # a panel code only where no coding names a measurement: 163020007 beside 8480-6 with
        # its own value 82 is a systolic reading, not an empty panel
        return "panel" if panels and any(k in term.panels for k in keys) else "unrecognised_code"
    if len({e.field.path for e in entries.values()}) > 1:
        return "ambiguous_code"
    return next(iter(entries.values()))


def read_observation(c: Collector, obs: dict[str, Any]) -> None:
    status = obs.get("status")
    if status in SKIP:
        c.ignore(SKIP[status])
        if status == "entered-in-error":
            c.withdraw(obs)
        return
    if status not in READ:
        c.ignore("not_final")
        _name_unread_status(c, obs, status)
        return
    stamp = observation_time(obs)
    when = None if stamp == UNDATED else stamp
    # a time stated only to the day (or month) may reach into a window its first moment misses
    latest = observation_latest_time(obs)
    with c.stated_until(latest if latest > stamp else None, timed=observation_timed(obs)):
        _read_coded(c, obs, when, str(status))


def _name_unread_status(c: Collector, obs: dict[str, Any], status: Any) -> None:
    """An Observation with a value whose status is not a result's (`unknown`, `registered`, none)
    is not read; but named when nothing else fills its field (found in an audit: a respiratory
    rate of 26 with status `unknown` was dropped with no card, routine where the same fact sent
    directly is an emergency)."""
    entry = entry_for(c, obs.get("code"), panels=False)
    field = getattr(entry, "field", None)
    if field is not None and any(k.startswith("value") for k in obs):
        said = f"status '{status}'" if isinstance(status, str) else "no status"
        c.later(
            field.path,
            f"{c.ref({'resource_type': 'Observation', 'id': str(obs.get('id', ''))})}: {said}, which is not a result's",
        )


def _read_coded(c: Collector, obs: dict[str, Any], when: datetime | None, status: str) -> None:
    entry = entry_for(c, obs.get("code"), panels=True)
    components = obs.get("component")
    components = components if isinstance(components, list) else []
    source = {"resource_type": "Observation", "id": str(obs.get("id", "")), "status": status}
    if isinstance(entry, str) and entry != "panel":
        if entry == "ambiguous_code":
            ambiguous(c, obs.get("code"), source)
        else:
            c.ignore(entry)
        unlisted_components(c, obs.get("code"), components, source)
        return
    if not isinstance(entry, str):
        observed(c, entry, obs, when, source)
    for component in components:
        part = entry_for(c, component.get("code"), panels=False)
        if part == "ambiguous_code":
            ambiguous(c, component.get("code"), source, "a component's")
        elif isinstance(part, str):
            c.ignore("unrecognised_component" if part == "unrecognised_code" else part)
        else:
            observed(c, part, component, when, source)


def unlisted_components(c: Collector, code: Any, components: list[Any], source: dict[str, str]) -> None:
    """The components of an Observation whose own code is not read are not read either: a
    component's meaning depends on its panel (a blood-gas panel's 37.0 °C is the temperature the
    analyser corrects to, not the patient's, and read as one it hid a fever: routine for the
    meningitis emergency). One that names a field is named on the data-problem card, never
    dropped in silence; a panel this service reads is listed in terminology.yaml (`panels`)."""
    panel = ", ".join(c.term.label(key) for key in concept_keys(code)) or "no code"
    for component in components:
        part = entry_for(c, component.get("code") if isinstance(component, dict) else None, panels=False)
        if part == "ambiguous_code":
            ambiguous(c, component["code"], source, "a component's")
        if isinstance(part, str):
            continue
        path = part.field.path if part.field is not None else "fhir"
        c.ignore("component_of_unlisted_panel", path)
        c.error(path, f"{c.ref(source)}: a component of {panel}, a panel this service does not read; left unknown")


def observed(c: Collector, entry: Entry, holder: dict[str, Any], when: datetime | None, base: dict[str, str]) -> None:
    if isinstance(entry, Observable):
        key = entry.key
    else:
        key = next(k for k in concept_keys(holder.get("code")) if c.term.by_code.get(k) is entry)
    source = {**base, "system": key[0], "code": key[1]}
    if isinstance(entry, Observable):
        answered(c, entry, holder, when, source)
    elif isinstance(entry, CodedQuantity):
        if "component" in holder and not any(k.startswith("value") for k in holder):
            return  # a panel, its values in its components (8480-6 beside 85354-9): nothing of its own
        quantity(c, entry, key, holder, when, {**source, "field": entry.field.path})
    else:
        finding(c, entry, holder, when, {**source, "field": entry.field.path})


def quantity(
    c: Collector, q: CodedQuantity, key: Key, holder: dict[str, Any], when: datetime | None, source: dict[str, str]
) -> None:
    path = q.field.path
    if q.integer and "valueInteger" in holder:
        number(c, q, holder["valueInteger"], "{integer}", when, source, key)
        return
    vq = holder.get("valueQuantity")
    if not isinstance(vq, dict):
        no_quantity(c, path, key, holder, when, source)
        return
    value, code = vq.get("value"), vq.get("code")
    accepted = ", ".join(q.units)
    if not isinstance(code, str) or vq.get("system") != UCUM:
        # A code without its system, or the free-text unit, is never guessed at; the reading is
        # left unknown and the clinician told, never dropped in silence.
        problem = f"{c.term.label(key)} without a UCUM unit code is not read (accepted: {accepted})"
        c.error(path, f"{c.ref(source)}: {problem}")
        c.read(path, when, None, source, "unrecognised_unit")
        return
    unit = q.units.get(code)
    if unit is None:
        c.error(path, f"{c.ref(source)}: {c.term.label(key)} in UCUM '{code}' is not accepted (accepted: {accepted})")
        c.read(path, when, None, source, "wrong_unit" if code in c.term.known_units else "unrecognised_unit")
        return
    if not finite_number(value):
        c.error(path, f"{c.ref(source)}: {c.term.label(key)} has no number in valueQuantity.value; left unknown")
        c.read(path, when, None, source, "unrecognised_value")
        return
    comparator = vq.get("comparator")
    if comparator is None:
        number(c, q, unit.convert(float(value)), code, when, source, key)
        return
    # ">8" is a bound, not a value: read as 8 only where no threshold lies within it (bounds.py);
    # otherwise left unknown (asked for), and the clinician told why
    cuts = c.cuts.get(path)
    plain = as_field(q.field, unit.convert(float(value)))
    exact = unit.exact(float(value))
    if cuts and not q.bands and reads_as(str(comparator), exact, plain, cuts):
        recorded = f"{comparator}{float(value):g} {code}"  # as the clinician's card shows it (cards.py)
        number(c, q, plain, code, when, {**source, "recorded": recorded}, key, (str(comparator), exact))
        return
    named = comparator in (*COMPARATORS, "ad")
    if not named:
        why = "its comparator is not one FHIR defines"
    elif comparator == "ad" or not cuts:
        why = "it is not weighed for this field"
    else:
        why = "a threshold the rules test lies within it"
    shown = f" '{comparator}'" if named else ""
    c.error(path, f"{c.ref(source)}: {c.term.label(key)} recorded as a bound (comparator{shown}), {why}; left unknown")
    c.read(path, when, None, source, "comparator")


def no_quantity(
    c: Collector, path: str, key: Key, holder: dict[str, Any], when: datetime | None, source: dict[str, str]
) -> None:
    """A measurement with no valueQuantity: a reading that leaves the field unknown, named."""
    sent = next((k for k in holder if k.startswith("value")), None)
    if sent is not None:
        # a measurement in another type (valueInteger 120: beats or mmHg?) is never guessed
        # at; the clinician is told it was not read, as for a unit that is not accepted
        c.error(
            path,
            f"{c.ref(source)}: {c.term.label(key)} sent as {sent} is not read (send valueQuantity); left unknown",
        )
        c.read(path, when, None, source, "unrecognised_value")
    else:
        c.read(path, when, None, source, "no_value", problem=no_value(c, key, holder, source))


def number(
    c: Collector,
    q: CodedQuantity,
    value: Any,
    unit: str,
    when: datetime | None,
    source: dict[str, str],
    key: Key,
    bound: Bound | None = None,
) -> None:
    path = q.field.path
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        c.read(path, when, None, source, "unrecognised_value")
        return
    if q.bands:
        band = next((b for b in q.bands if b.holds(value)), None)
        if band is None:
            c.error(path, f"{c.ref(source)}: {c.term.label(key)} value is outside every band the terminology defines")
            c.read(path, when, None, source, "out_of_range")
        elif band.value is None:
            c.ignore("says_nothing", path)  # a band that tells nothing about the field: no reading
        else:
            c.read(path, when, band.value, source)
        return
    result = as_field(q.field, value)
    problem = field_problem(q.field, result)
    if problem:
        c.error(path, f"{c.ref(source)}: {c.term.label(key)} {problem} (from '{unit}'); left unknown")
        c.read(path, when, None, source, "out_of_range")
    else:
        c.read(path, when, result, source, bound=bound)


def coded_answer(c: Collector, f: Finding, concept: Any) -> tuple[Any, str | None]:
    """(field value, None) from a coded answer, or (None, reason)."""
    keys = concept_keys(concept)
    if f.grades is not None:
        grades = {v for k in keys if (v := c.term.answer_sets[f.grades].codes.get(k)) is not None}
        if len(grades) == 1:
            return grades.pop(), None
    codes = c.term.answer_sets[f.answers].codes
    found = [codes[k] for k in keys if k in codes]
    if not found:
        return None, "unrecognised_value"
    if len(set(found)) > 1:
        return None, "ambiguous_value"
    return presence(f, found[0])


def presence(f: Finding, present: bool | None) -> tuple[Any, str | None]:
    """The field value a finding recorded present (True), absent (False) or unknown (None) gives;
    None with the reason when it says nothing about the field."""
    if present is None:
        return None, "answered_unknown"
    value = f.present if present else f.absent
    if value is None:
        return None, "narrower_or_wider_code"
    return value, None


def finding(c: Collector, f: Finding, holder: dict[str, Any], when: datetime | None, source: dict[str, str]) -> None:
    state: bool | None = None
    value: Any
    reason: str | None
    if "valueBoolean" in holder:
        state = holder["valueBoolean"]
        value, reason = presence(f, state)
    elif "valueCodeableConcept" in holder:
        value, reason = coded_answer(c, f, holder["valueCodeableConcept"])
        state = _state(c, f, holder["valueCodeableConcept"])
    elif "valueString" in holder:
        text = holder["valueString"].strip().lower()
        strings = c.term.answer_sets[f.answers].strings
        state = strings.get(text)
        value, reason = presence(f, state) if text in strings else (None, "unrecognised_value")
    elif f.asserted_with_quantity and "valueQuantity" in holder:
        # the quantity measures the finding the code states (UK Core: Patient on oxygen, 4 L/min)
        state = True
        value, reason = presence(f, True)
    elif any(k.startswith("value") for k in holder):
        value, reason = None, "unrecognised_value"
    elif holder.get("interpretation"):
        # Read only when there is no value: an interpretation qualifies a value when one exists.
        results = [coded_answer(c, f, i) for i in holder["interpretation"]]
        found = {repr(v): v for v, _ in results if v is not None}
        if len(found) == 1:
            value, reason = next(iter(found.values())), None
        else:
            value, reason = None, "ambiguous_value" if found else results[0][1]
        states = {_state(c, f, i) for i in holder["interpretation"]}
        state = states.pop() if len(states) == 1 else None
    elif source.get("system") == SNOMED and "dataAbsentReason" not in holder:
        # a clinical finding recorded with no value asserts itself ("Breathing room air"); a
        # question code (LOINC) with no answer asks, and says nothing
        state = True
        value, reason = presence(f, True)
    else:
        value, reason = None, "no_value"
    if reason in ("unrecognised_value", "ambiguous_value"):
        # the record says something of a finding this service reads, in words it cannot: the
        # clinician is told, as for a measurement in a unit it does not accept
        kind = "an answer it cannot read" if reason == "unrecognised_value" else "answers that disagree"
        c.error(
            f.field.path,
            f"{c.ref(source)}: {c.term.label((source['system'], source['code']))} recorded with {kind}; left unknown",
        )
    c.read(f.field.path, when, value, source, reason, negative=state is False)


def _state(c: Collector, f: Finding, concept: Any) -> bool | None:
    codes = c.term.answer_sets[f.answers].codes
    found = {codes[k] for k in concept_keys(concept) if k in codes}
    return found.pop() if len(found) == 1 else None


def answered(
    c: Collector, o: Observable, holder: dict[str, Any], when: datetime | None, source: dict[str, str]
) -> None:
    value = holder.get("valueCodeableConcept")
    if o.reads == "grades":
        assert o.field is not None and o.grades is not None
        path = o.field.path
        grades = {g for k in concept_keys(value) if (g := c.term.answer_sets[o.grades].codes.get(k, ...)) is not ...}
        if len(grades) != 1:
            if not any(k.startswith("value") for k in holder):
                problem = no_value(c, o.key, holder, source)
            else:
                # newest wins, so an answer not read hides an older one (a new confusion): named
                codes = ", ".join(c.term.label(k) for k in concept_keys(value)) or "no code"
                how = "an answer this service does not read" if not grades else "codes that mean different answers"
                problem = f"{c.ref(source)}: {c.term.label(o.key)} answered with {how} ({codes}); left unknown"
            unread = "unrecognised_value" if not grades else "ambiguous_value"
            c.read(path, when, None, {**source, "field": path}, unread, problem=problem)
        else:
            grade = grades.pop()
            c.read(path, when, grade, {**source, "field": path}, None if grade is not None else "answered_unknown")
        return
    # the Symptoms IG: the value is the finding's own code
    f = entry_for(c, value, panels=False)
    if f == "ambiguous_code":
        ambiguous(c, value, source, "its value's")
        return
    if not isinstance(f, Finding):
        c.ignore("unrecognised_value" if isinstance(f, str) else "unrecognised_code")
        return
    present = o.reads == "symptom"
    result, reason = presence(f, present)
    key = next(k for k in concept_keys(value) if c.term.by_code.get(k) is f)
    c.read(
        f.field.path,
        when,
        result,
        {**source, "system": key[0], "code": key[1], "field": f.field.path},
        reason,
        negative=not present,
    )
