"""FHIR R4 -> encounter: the Patient, Observation and Condition resources a CDS Hooks client
prefetches, mapped onto the contract's encounter by the codes in terminology.yaml.

The codes are data (terminology.yaml, reviewed on its own, modelled and checked by
terminology.py); how a resource's subject, time and codes read is in resources.py. The reading
rules, which are FHIR semantics, are here:

- Newest wins, per contract field. An Observation's time is effectiveDateTime, else
  effectivePeriod.end (or .start), else effectiveInstant, else issued; a Condition's is
  recordedDate, else onsetDateTime, else onsetPeriod.start. Undated readings are older than any
  dated one. When the newest reading cannot be read (wrong unit, out of range, an indeterminate
  answer, a resolved Condition) the field stays unknown: an older value is not today's value.
  Two different values at the same newest time are a conflict, reported, and the field stays
  unknown.
- Observation.status: final, amended, corrected and preliminary are read. Preliminary results
  count because in acute triage an unverified measurement (a preliminary lactate) is closer to
  the truth than "unknown"; `used` carries the status so the caller can say so. registered and
  unknown (no result yet, or the sender cannot tell) are ignored as not_final; cancelled and
  entered-in-error are ignored.
- Condition: verificationStatus entered-in-error is ignored; refuted reads as absent. Any other
  verification (confirmed, provisional, differential, unconfirmed, or none given) reads as
  present when clinicalStatus is active, recurrence or relapse, or not given: a suspected red
  flag must raise the flag for a clinician to review, and a recorded but unconfirmed finding is
  not a "no". inactive, remission and resolved say nothing about today (the field stays
  unknown), except for findings marked `history: true` (any history of malignancy).
- A value outside the contract's plausible range is an error and leaves the field unknown; it is
  never clamped. An unrecognised code, unit or answer is ignored and counted, never guessed.
- Patient: gender gives patient.sex; birthDate gives age_years on `today` (a partial date gives
  the youngest age it allows). A child's age is kept: scope is the caller's decision, and
  load_encounter refuses it. Resources whose subject is not that Patient are ignored; several
  different Patients refuse the whole mapping rather than mix two people's data.

No network access: codes match exactly, with no subsumption.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cds.fhir.resources import (
    KEPT_TYPES,
    UNDATED,
    about_patient,
    age_on,
    concept_keys,
    condition_time,
    observation_time,
    resources_from,
    status_code,
)
from cds.fhir.terminology import UCUM, CodedQuantity, Finding, Key, Terminology, field_problem, terminology
from cds.triage.fields import ADULT_AGE, BY_PATH, FIELDS, ORDER

# resources_from is re-exported: callers read a payload and map it through this one module.
__all__ = ["MappingResult", "map_resources", "resources_from"]

OBSERVATION_READ = frozenset({"final", "amended", "corrected", "preliminary"})
OBSERVATION_SKIP = {"entered-in-error": "entered_in_error", "cancelled": "cancelled"}
CLINICAL_PRESENT = frozenset({"active", "recurrence", "relapse"})
CLINICAL_PAST = frozenset({"inactive", "remission", "resolved"})
VERIFICATION_PRESENT = frozenset({"confirmed", "provisional", "differential", "unconfirmed"})


@dataclass
class MappingResult:
    encounter: dict[str, Any]
    used: list[dict[str, str]]
    ignored: dict[str, int]
    errors: list[dict[str, str]]
    unknown: list[str]


@dataclass
class _Reading:
    field: str
    when: datetime
    value: Any  # None: this reading leaves the field unknown
    source: dict[str, str]


class _Mapper:
    def __init__(self, term: Terminology, today: date, not_before: datetime | None) -> None:
        self.term = term
        self.today = today
        self.not_before = not_before
        self.readings: list[_Reading] = []
        self.ignored: Counter[str] = Counter()
        self.errors: list[dict[str, str]] = []
        self.patient: dict[str, Any] = {}
        self.used: list[dict[str, str]] = []

    # one reading per (resource, field): a value, or None with the reason counted or reported
    def read(self, path: str, when: datetime, value: Any, source: dict[str, str], reason: str | None = None) -> None:
        if value is None and reason:
            self.ignored[reason] += 1
        self.readings.append(_Reading(path, when, value, source))

    def error(self, path: str, message: str) -> None:
        self.errors.append({"field": path, "message": message})

    def run(self, items: Iterable[dict[str, Any]]) -> MappingResult:
        self.ignored.update(getattr(items, "dropped", Counter()))
        for ref, element in getattr(items, "malformed", []):
            self.ignored["malformed"] += 1
            self.error("fhir", f"{ref}: {element} is not a valid FHIR R4 value of its type; the resource was not used")
        given = list(items)
        items = [r for r in given if isinstance(r, dict)]
        self.ignored["not_a_resource"] += len(given) - len(items)
        patients = {r.get("id") for r in items if r.get("resourceType") == "Patient"}
        if len(patients) > 1:
            self.error("patient", "the resources name more than one Patient; nothing was mapped")
            self.ignored["multiple_patients"] += len(items)
            return self.result()
        pid = next(iter(patients), None)
        for r in items:
            kind = r.get("resourceType")
            if kind not in KEPT_TYPES:
                self.ignored["unsupported_resource_type"] += 1
            elif kind == "Patient":
                if not self.patient:
                    self.map_patient(r)
            elif not about_patient(r, pid):
                self.ignored["other_patient"] += 1
            elif kind == "Observation":
                self.map_observation(r)
            else:
                self.map_condition(r)
        return self.result()

    def map_patient(self, patient: dict[str, Any]) -> None:
        self.patient = patient
        source = {"resource_type": "Patient", "id": str(patient.get("id", ""))}
        gender = patient.get("gender")
        if gender in BY_PATH["patient.sex"].choices:
            self.read("patient.sex", UNDATED, gender, {**source, "code": "gender", "field": "patient.sex"})
        elif gender is not None:
            self.ignored["unrecognised_value"] += 1
        birth = patient.get("birthDate")
        if birth is None:
            return
        age = age_on(birth, self.today) if isinstance(birth, str) else None
        if age is None:
            self.error("patient.age_years", "Patient.birthDate is not a valid date on or before today")
            return
        # A child's age is kept, not reported: it is a fact, and scope is the caller's decision
        # (CDS Hooks answers a child with no card; load_encounter refuses it as out of scope).
        problem = None if age < ADULT_AGE else field_problem(BY_PATH["patient.age_years"], age)
        if problem:
            self.error("patient.age_years", f"age from Patient.birthDate: {problem}")
            return
        self.read("patient.age_years", UNDATED, age, {**source, "code": "birthDate", "field": "patient.age_years"})

    def entry_for(self, concept: Any, panels: bool) -> CodedQuantity | Finding | str:
        """The one terminology entry a code names; 'panel', or a reason string when none."""
        keys = concept_keys(concept)
        if panels and any(k in self.term.panels for k in keys):
            return "panel"
        entries = {id(e): e for k in keys if (e := self.term.by_code.get(k)) is not None}
        if not entries:
            return "unrecognised_code"
        if len({e.field.path for e in entries.values()}) > 1:
            return "ambiguous_code"
        return next(iter(entries.values()))

    def map_observation(self, obs: dict[str, Any]) -> None:
        status = obs.get("status")
        if status in OBSERVATION_SKIP:
            self.ignored[OBSERVATION_SKIP[status]] += 1
            return
        if status not in OBSERVATION_READ:
            self.ignored["not_final"] += 1
            return
        when = observation_time(obs)
        if self.not_before is not None and when < self.not_before:
            self.ignored["stale"] += 1
            return
        entry = self.entry_for(obs.get("code"), panels=True)
        if isinstance(entry, str) and entry != "panel":
            self.ignored[entry] += 1
            return
        source = {"resource_type": "Observation", "id": str(obs.get("id", "")), "status": str(status)}
        if not isinstance(entry, str):
            self.observed(entry, obs, when, source)
        components = obs.get("component")
        for component in components if isinstance(components, list) else []:
            if not isinstance(component, dict):
                continue
            part = self.entry_for(component.get("code"), panels=False)
            if isinstance(part, str):
                self.ignored["unrecognised_component" if part == "unrecognised_code" else part] += 1
            else:
                self.observed(part, component, when, source)

    def observed(
        self, entry: CodedQuantity | Finding, holder: dict[str, Any], when: datetime, base: dict[str, str]
    ) -> None:
        key = next(k for k in concept_keys(holder.get("code")) if self.term.by_code.get(k) is entry)
        source = {**base, "system": key[0], "code": key[1], "field": entry.field.path}
        if isinstance(entry, CodedQuantity):
            self.quantity(entry, key, holder, when, source)
        else:
            self.finding_observation(entry, holder, when, source)

    def quantity(
        self, q: CodedQuantity, key: Key, holder: dict[str, Any], when: datetime, source: dict[str, str]
    ) -> None:
        path = q.field.path
        vq = holder.get("valueQuantity")
        if not isinstance(vq, dict):
            has_value = any(k.startswith("value") for k in holder)
            self.read(path, when, None, source, "unrecognised_value" if has_value else "no_value")
            return
        value, code = vq.get("value"), vq.get("code")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.read(path, when, None, source, "unrecognised_value")
            return
        if vq.get("comparator") is not None:
            self.read(path, when, None, source, "comparator")  # "<0.5" is a bound, not a value
            return
        if not isinstance(code, str) or vq.get("system") != UCUM:
            # A code without its system, or the free-text unit, is never guessed at.
            self.read(path, when, None, source, "unrecognised_unit")
            return
        unit = q.units.get(code)
        if unit is None:
            if code in self.term.known_units:
                accepted = ", ".join(q.units)
                self.error(
                    path,
                    f"{self.ref(source)}: {self.term.label(key)} in UCUM '{code}' is not accepted "
                    f"(accepted: {accepted}); not converted",
                )
                self.read(path, when, None, source)
            else:
                self.read(path, when, None, source, "unrecognised_unit")
            return
        converted = unit.convert(float(value))
        if q.bands:
            band = next((b for b in q.bands if b.holds(converted)), None)
            if band is None:
                self.error(
                    path,
                    f"{self.ref(source)}: {self.term.label(key)} value is outside every band the terminology defines",
                )
                self.read(path, when, None, source)
            else:
                self.read(path, when, band.value, source)
            return
        result: float | int = math.floor(converted + 0.5) if q.field.kind == "int" else converted
        problem = field_problem(q.field, result)
        if problem:
            self.error(
                path,
                f"{self.ref(source)}: {self.term.label(key)} {problem} (after conversion from '{code}'); left unknown",
            )
            self.read(path, when, None, source)
        else:
            self.read(path, when, result, source)

    def answer(self, f: Finding, concept: Any) -> tuple[Any, str | None]:
        """(field value, None) from a coded answer, or (None, reason)."""
        keys = concept_keys(concept)
        if f.grades is not None:
            grades = {v for k in keys if (v := self.term.answer_sets[f.grades].codes.get(k)) is not None}
            if len(grades) == 1:
                return grades.pop(), None
        codes = self.term.answer_sets[f.answers].codes
        found = [codes[k] for k in keys if k in codes]
        if not found:
            return None, "unrecognised_value"
        if len(set(found)) > 1:
            return None, "ambiguous_value"
        return self.presence(f, found[0])

    @staticmethod
    def presence(f: Finding, present: bool | None) -> tuple[Any, str | None]:
        value = None if present is None else f.present if present else f.absent
        return value, None if value is not None else "indeterminate"

    def finding_observation(self, f: Finding, holder: dict[str, Any], when: datetime, source: dict[str, str]) -> None:
        value: Any
        reason: str | None
        if "valueBoolean" in holder:
            flag = holder["valueBoolean"]
            value, reason = self.presence(f, flag) if isinstance(flag, bool) else (None, "unrecognised_value")
        elif "valueCodeableConcept" in holder:
            value, reason = self.answer(f, holder["valueCodeableConcept"])
        elif "valueString" in holder:
            text = holder["valueString"]
            strings = self.term.answer_sets[f.answers].strings
            known = isinstance(text, str) and text.strip().lower() in strings
            value, reason = self.presence(f, strings[text.strip().lower()]) if known else (None, "unrecognised_value")
        elif any(k.startswith("value") for k in holder):
            value, reason = None, "unrecognised_value"
        elif isinstance(holder.get("interpretation"), list) and holder["interpretation"]:
            # Read only when there is no value: an interpretation qualifies a value when one exists.
            results = [self.answer(f, c) for c in holder["interpretation"]]
            found = {repr(v): v for v, _ in results if v is not None}
            if len(found) == 1:
                value, reason = next(iter(found.values())), None
            else:
                value, reason = None, "ambiguous_value" if found else results[0][1]
        else:
            value, reason = None, "no_value"
        self.read(f.field.path, when, value, source, reason)

    def map_condition(self, cond: dict[str, Any]) -> None:
        entry = self.entry_for(cond.get("code"), panels=False)
        if isinstance(entry, str):
            self.ignored[entry] += 1
            return
        if isinstance(entry, CodedQuantity):
            self.ignored["unrecognised_code"] += 1  # a measurement code is not a condition
            return
        verification = status_code(cond.get("verificationStatus"))
        clinical = status_code(cond.get("clinicalStatus"))
        if verification == "entered-in-error":
            self.ignored["entered_in_error"] += 1
            return
        when = condition_time(cond)
        key = next(k for k in concept_keys(cond.get("code")) if self.term.by_code.get(k) is entry)
        source = {
            "resource_type": "Condition",
            "id": str(cond.get("id", "")),
            "system": key[0],
            "code": key[1],
            "field": entry.field.path,
        }
        value: Any
        reason: str | None = None
        if verification == "refuted":
            value, reason = self.presence(entry, False)
        elif verification is not None and verification not in VERIFICATION_PRESENT:
            value, reason = None, "unrecognised_status"
        elif clinical is None or clinical in CLINICAL_PRESENT or (clinical in CLINICAL_PAST and entry.history):
            value, reason = self.presence(entry, True)
            if entry.grades is not None and cond.get("severity"):
                graded, _ = self.answer(entry, cond["severity"])
                value, reason = (graded, None) if graded is not None else (value, reason)
        elif clinical in CLINICAL_PAST:
            value, reason = None, "inactive"
        else:
            value, reason = None, "unrecognised_status"
        self.read(entry.field.path, when, value, source, reason)

    @staticmethod
    def ref(source: dict[str, str]) -> str:
        return f"{source['resource_type']}/{source['id']}"

    def result(self) -> MappingResult:
        by_field: dict[str, list[_Reading]] = {}
        for r in self.readings:
            by_field.setdefault(r.field, []).append(r)
        values: dict[str, Any] = {}
        for path, readings in by_field.items():
            newest = max(r.when for r in readings)
            latest = [r for r in readings if r.when == newest]
            self.ignored["superseded"] += sum(1 for r in readings if r.when < newest and r.value is not None)
            distinct = {(type(r.value).__name__, repr(r.value)): r for r in latest if r.value is not None}
            if len(distinct) > 1:
                self.error(
                    path,
                    "conflicting values recorded at the same time ("
                    + ", ".join(self.ref(r.source) for r in distinct.values())
                    + "); left unknown",
                )
            elif distinct:
                winner = next(iter(distinct.values()))
                values[path] = winner.value
                self.used.append(winner.source)
        self.used.sort(key=lambda u: ORDER[u["field"]])
        encounter: dict[str, Any] = {}
        for spec in FIELDS:
            if spec.path in values:
                encounter.setdefault(spec.section, {})[spec.name] = values[spec.path]
        unknown = [f.path for f in FIELDS if f.clinical and f.path not in values]
        ignored = {reason: n for reason, n in sorted(self.ignored.items()) if n}
        return MappingResult(encounter, self.used, ignored, self.errors, unknown)


def map_resources(
    resources: Iterable[dict[str, Any]], today: date, *, not_before: datetime | None = None
) -> MappingResult:
    """Map FHIR R4 resources onto an encounter (see the module docstring for the rules).

    `today` fixes the age. `not_before`, when given, ignores Observations dated before it (and
    undated ones) as stale: how old a vital sign may be is the caller's clinical decision.
    Conditions are not aged: an active problem stays active however long ago it was recorded.
    """
    if not_before is not None and not_before.tzinfo is None:
        not_before = not_before.replace(tzinfo=UTC)
    return _Mapper(terminology(), today, not_before).run(resources)
