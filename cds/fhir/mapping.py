"""FHIR R4 -> encounter: the Patient, Observation and Condition resources a CDS Hooks client
prefetches, mapped onto the contract's encounter by the codes in terminology.yaml.

The codes are data (terminology.yaml, reviewed on its own); the FHIR semantics are here:

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

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources as importlib_resources
from typing import Any

import jsonschema
from marshmallow import ValidationError

from cds.fields import BY_PATH, FIELDS, ORDER, Field
from cds.schema import ADULT_AGE, check
from cds.yamlload import StrictYAMLError, load_strict

Key = tuple[str, str]  # (system URI, code)

UCUM = "http://unitsofmeasure.org"
KEPT_TYPES = ("Patient", "Observation", "Condition")
OBSERVATION_READ = frozenset({"final", "amended", "corrected", "preliminary"})
OBSERVATION_SKIP = {"entered-in-error": "entered_in_error", "cancelled": "cancelled"}
CLINICAL_PRESENT = frozenset({"active", "recurrence", "relapse"})
CLINICAL_PAST = frozenset({"inactive", "remission", "resolved"})
VERIFICATION_PRESENT = frozenset({"confirmed", "provisional", "differential", "unconfirmed"})
_UNDATED = datetime.min.replace(tzinfo=UTC)


class TerminologyError(ValueError):
    """The terminology file is invalid; the message lists every problem found."""


# --- the terminology file -------------------------------------------------------------------

_URL: dict[str, Any] = {"type": "string", "pattern": r"^https?://\S+$"}
# One URL or a list of them (pattern applies to a string, items to a list: one clear message each).
_SOURCE: dict[str, Any] = {"type": ["string", "array"], "pattern": _URL["pattern"], "items": _URL, "minItems": 1}
_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}
_CODE: dict[str, Any] = {"type": "string", "pattern": r"^\S+$"}
_NUMBER: dict[str, Any] = {"type": "number"}
_POSITIVE: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


_CODING = _obj(["system", "code", "display", "source"], system=_TEXT, code=_CODE, display=_TEXT, source=_SOURCE)
SCHEMA: dict[str, Any] = _obj(
    ["version", "systems", "panels", "quantities", "answer_sets", "findings"],
    version={"const": 1},
    systems={"type": "object", "minProperties": 1, "additionalProperties": _URL},
    panels={"type": "array", "items": _CODING},
    quantities={
        "type": "array",
        "items": _obj(
            ["field", "codes", "units"],
            field=_TEXT,
            codes={"type": "array", "minItems": 1, "items": _CODING},
            units={
                "type": "array",
                "minItems": 1,
                "items": _obj(
                    ["code", "source"], code=_CODE, offset=_NUMBER, factor=_POSITIVE, divisor=_POSITIVE, source=_SOURCE
                ),
            },
            bands={
                "type": "array",
                "minItems": 1,
                "items": {
                    **_obj(["value"], min=_NUMBER, max=_NUMBER, above=_NUMBER, below=_NUMBER, value={}),
                    "anyOf": [{"required": [bound]} for bound in ("min", "max", "above", "below")],
                },
            },
        ),
    },
    answer_sets={
        "type": "object",
        "additionalProperties": _obj(
            ["codes"],
            codes={
                "type": "array",
                "minItems": 1,
                "items": _obj(
                    ["system", "code", "display", "value", "source"],
                    system=_TEXT,
                    code=_CODE,
                    display=_TEXT,
                    value={},
                    source=_SOURCE,
                ),
            },
            strings={"type": "object", "additionalProperties": {"type": "boolean"}},
            strings_source=_SOURCE,
        ),
    },
    findings={
        "type": "array",
        "items": _obj(
            ["code", "display", "field", "source"],
            system=_TEXT,
            code=_CODE,
            display=_TEXT,
            field=_TEXT,
            present={},
            absent={},
            history={"type": "boolean"},
            answers=_TEXT,
            grades=_TEXT,
            source=_SOURCE,
        ),
    },
)


@dataclass(frozen=True)
class Unit:
    code: str
    offset: float = 0.0
    factor: float = 1.0
    divisor: float = 1.0

    def convert(self, value: float) -> float:
        return (value + self.offset) * self.factor / self.divisor

    @property
    def identity(self) -> bool:
        return self.offset == 0 and self.factor == self.divisor


@dataclass(frozen=True)
class Band:
    value: Any
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None

    def holds(self, x: float) -> bool:
        return not (
            (self.min is not None and x < self.min)
            or (self.max is not None and x > self.max)
            or (self.above is not None and x <= self.above)
            or (self.below is not None and x >= self.below)
        )


@dataclass(frozen=True)
class Quantity:
    field: Field
    codes: tuple[Key, ...]
    units: dict[str, Unit]
    bands: tuple[Band, ...] = ()


@dataclass(frozen=True)
class AnswerSet:
    codes: dict[Key, Any]
    strings: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    key: Key
    field: Field
    present: Any = True
    absent: Any = False
    history: bool = False
    answers: str = "presence"
    coded: bool = False  # the file named an answer set: results come as coded answers, not booleans
    grades: str | None = None


@dataclass(frozen=True)
class Terminology:
    systems: dict[str, str]
    panels: frozenset[Key]
    quantities: tuple[Quantity, ...]
    findings: tuple[Finding, ...]
    answer_sets: dict[str, AnswerSet]
    by_code: dict[Key, Quantity | Finding]
    known_units: frozenset[str]
    displays: dict[Key, str]

    def label(self, key: Key) -> str:
        names = {uri: name for name, uri in self.systems.items()}
        return f"{names.get(key[0], key[0]).upper()} {key[1]}"


def _field_problem(spec: Field, value: Any) -> str | None:
    try:
        check(spec, value)
    except ValidationError as err:
        return "; ".join(str(m) for m in err.messages) if isinstance(err.messages, list) else str(err.messages)
    return None


def load_terminology(text: str) -> Terminology:
    """Parse and validate a terminology file; raise TerminologyError naming every problem."""
    try:
        data = load_strict(text)
    except StrictYAMLError as err:
        raise TerminologyError(f"terminology file is not valid YAML: {err}") from None
    problems = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '$'}: {e.message}"
        for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)
    ]
    if problems:
        raise TerminologyError("terminology file is invalid:\n  " + "\n  ".join(problems))
    return _build(data)


def _build(data: dict[str, Any]) -> Terminology:
    problems: list[str] = []
    systems: dict[str, str] = data["systems"]
    by_code: dict[Key, Quantity | Finding] = {}
    displays: dict[Key, str] = {}
    seen: set[Key] = set()

    def key_of(item: dict[str, Any], where: str, default: str | None = None) -> Key:
        name = item.get("system", default)
        if name not in systems:
            problems.append(f"{where}: unknown system '{name}' (declare it under systems)")
        k = (systems.get(str(name), str(name)), item["code"])
        displays[k] = item["display"]
        if k in seen:
            problems.append(f"{where}: code {item['code']} is listed more than once")
        seen.add(k)
        return k

    def spec_of(path: str, where: str) -> Field | None:
        spec = BY_PATH.get(path)
        if spec is None or not spec.clinical:
            problems.append(f"{where}: '{path}' is not a clinical field of the contract")
        return spec

    def valid(spec: Field, value: Any, where: str) -> None:
        problem = _field_problem(spec, value)
        if problem:
            problems.append(f"{where}: {value!r} is not a valid value of {spec.path} ({problem})")

    answer_sets: dict[str, AnswerSet] = {}
    for name, raw in data["answer_sets"].items():
        codes = {key_of(c, f"answer_sets/{name}/{i}"): c["value"] for i, c in enumerate(raw["codes"])}
        strings = raw.get("strings", {})
        for s in strings:
            if s != s.strip().lower():
                problems.append(f"answer_sets/{name}/strings: '{s}' must be trimmed lower case")
        if strings and "strings_source" not in raw:
            problems.append(f"answer_sets/{name}: strings need a strings_source")
        answer_sets[name] = AnswerSet(codes, strings)
    seen.clear()  # answer codes live in their own namespace: a code may be both a finding and an answer
    panels = frozenset(key_of(p, f"panels/{i}") for i, p in enumerate(data["panels"]))

    quantities: list[Quantity] = []
    for i, raw in enumerate(data["quantities"]):
        where = f"quantities/{i}"
        spec = spec_of(raw["field"], where)
        if spec is None:
            continue
        bands = tuple(Band(**b) for b in raw.get("bands", ()))
        if bands:
            for b in bands:
                valid(spec, b.value, f"{where}/bands")
        elif not spec.numeric:
            problems.append(f"{where}: {spec.path} is not numeric; map it with bands")
        units = {
            u["code"]: Unit(u["code"], u.get("offset", 0.0), u.get("factor", 1.0), u.get("divisor", 1.0))
            for u in raw["units"]
        }
        if len(units) != len(raw["units"]):
            problems.append(f"{where}: a unit is listed more than once")
        q = Quantity(spec, tuple(key_of(c, f"{where}/codes/{j}") for j, c in enumerate(raw["codes"])), units, bands)
        quantities.append(q)
        by_code.update(dict.fromkeys(q.codes, q))

    findings: list[Finding] = []
    for i, raw in enumerate(data["findings"]):
        where = f"findings/{i} ({raw['code']})"
        spec = spec_of(raw["field"], where)
        if spec is None:
            continue
        if spec.kind not in ("bool", "enum"):
            problems.append(f"{where}: findings fill true/false or enum fields, not {spec.kind}")
            continue
        if spec.kind == "enum" and not ("present" in raw and "absent" in raw):
            problems.append(f"{where}: an enum field needs explicit present and absent values")
        present, absent = raw.get("present", True), raw.get("absent", False)
        for value in (present, absent):
            if value is not None:
                valid(spec, value, where)
        answers = raw.get("answers", "presence")
        if answers not in answer_sets or any(v not in (True, False, None) for v in answer_sets[answers].codes.values()):
            problems.append(f"{where}: answers '{answers}' must name an answer set of true/false/null values")
        grades = raw.get("grades")
        if grades is not None:
            if grades not in answer_sets:
                problems.append(f"{where}: grades '{grades}' is not an answer set")
            else:
                for value in answer_sets[grades].codes.values():
                    valid(spec, value, f"{where} grades")
        f = Finding(
            key_of(raw, where, "snomed"),
            spec,
            present,
            absent,
            raw.get("history", False),
            answers,
            "answers" in raw,
            grades,
        )
        findings.append(f)
        by_code[f.key] = f
    if problems:
        raise TerminologyError("terminology file is invalid:\n  " + "\n  ".join(problems))
    known_units = frozenset(u for q in quantities for u in q.units)
    return Terminology(systems, panels, tuple(quantities), tuple(findings), answer_sets, by_code, known_units, displays)


@functools.cache
def terminology() -> Terminology:
    """The packaged terminology, loaded and validated once."""
    return load_terminology(importlib_resources.files("cds.fhir").joinpath("terminology.yaml").read_text("utf-8"))


# --- input ----------------------------------------------------------------------------------


class ResourceList(list[dict[str, Any]]):
    """The kept resources, plus how many of each other kind were dropped (counted as ignored)."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped: Counter[str] = Counter()


def resources_from(obj: Any) -> ResourceList:
    """Flatten a resource, a Bundle (entry[].resource, recursively) or a list of those into the
    Patient, Observation and Condition resources they hold."""
    out = ResourceList()

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for x in item:
                walk(x)
        elif not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
            out.dropped["not_a_resource"] += 1
        elif item["resourceType"] == "Bundle":
            for entry in item.get("entry") or []:
                if isinstance(entry, dict) and "resource" in entry:
                    walk(entry["resource"])
        elif item["resourceType"] in KEPT_TYPES:
            out.append(item)
        else:
            out.dropped["unsupported_resource_type"] += 1

    walk(obj)
    return out


# --- mapping --------------------------------------------------------------------------------


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


_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def _instant(text: Any) -> datetime | None:
    """A FHIR date or dateTime as an aware datetime; a partial date reads as its first day."""
    if not isinstance(text, str):
        return None
    try:
        m = _DATE.match(text)
        if m:
            return datetime(int(m[1]), int(m[2] or 1), int(m[3] or 1), tzinfo=UTC)
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _first_time(*candidates: Any) -> datetime:
    for c in candidates:
        t = _instant(c)
        if t is not None:
            return t
    return _UNDATED


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _codes(concept: Any) -> list[Key]:
    if not isinstance(concept, dict):
        return []
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return []
    return [(str(c.get("system", "")), str(c.get("code", ""))) for c in codings if isinstance(c, dict)]


def _status(concept: Any) -> str | None:
    """The code of a status CodeableConcept: None when not given, "" when given but unreadable."""
    if concept is None:
        return None
    codes = [code for _, code in _codes(concept)]
    return codes[0] if codes else ""


def _age(birth: str, today: date) -> int | None:
    """Age in whole years; a partial birthDate gives the youngest age it allows, so rounding can
    never carry a child over the adult-only boundary."""
    m = _DATE.match(birth)
    if not m:
        return None
    year, month = int(m[1]), int(m[2] or 12)
    if m[3]:
        day = int(m[3])
    else:
        day = (date(year + month // 12, month % 12 + 1, 1) - date(year, month, 1)).days
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    if born > today:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


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
            elif not self.about(r, pid):
                self.ignored["other_patient"] += 1
            elif kind == "Observation":
                self.map_observation(r)
            else:
                self.map_condition(r)
        return self.result()

    @staticmethod
    def about(resource: dict[str, Any], pid: Any) -> bool:
        subject = resource.get("subject")
        ref = subject.get("reference") if isinstance(subject, dict) else None
        if pid is None or not isinstance(ref, str):
            return True  # a CDS Hooks prefetch is already scoped to one patient
        ref = ref.split("/_history/")[0]
        return ref in (f"Patient/{pid}", f"urn:uuid:{pid}") or ref.endswith(f"/Patient/{pid}")

    def map_patient(self, patient: dict[str, Any]) -> None:
        self.patient = patient
        source = {"resource_type": "Patient", "id": str(patient.get("id", ""))}
        gender = patient.get("gender")
        if gender in BY_PATH["patient.sex"].choices:
            self.read("patient.sex", _UNDATED, gender, {**source, "code": "gender", "field": "patient.sex"})
        elif gender is not None:
            self.ignored["unrecognised_value"] += 1
        birth = patient.get("birthDate")
        if birth is None:
            return
        age = _age(birth, self.today) if isinstance(birth, str) else None
        if age is None:
            self.error("patient.age_years", "Patient.birthDate is not a valid date on or before today")
            return
        # A child's age is kept, not reported: it is a fact, and scope is the caller's decision
        # (CDS Hooks answers a child with no card; load_encounter refuses it as out of scope).
        problem = None if age < ADULT_AGE else _field_problem(BY_PATH["patient.age_years"], age)
        if problem:
            self.error("patient.age_years", f"age from Patient.birthDate: {problem}")
            return
        self.read("patient.age_years", _UNDATED, age, {**source, "code": "birthDate", "field": "patient.age_years"})

    def entry_for(self, concept: Any, panels: bool) -> Quantity | Finding | str:
        """The one terminology entry a code names; 'panel', or a reason string when none."""
        keys = _codes(concept)
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
        period = _dict(obs.get("effectivePeriod"))
        when = _first_time(
            obs.get("effectiveDateTime"),
            period.get("end"),
            period.get("start"),
            obs.get("effectiveInstant"),
            obs.get("issued"),
        )
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

    def observed(self, entry: Quantity | Finding, holder: dict[str, Any], when: datetime, base: dict[str, str]) -> None:
        key = next(k for k in _codes(holder.get("code")) if self.term.by_code.get(k) is entry)
        source = {**base, "system": key[0], "code": key[1], "field": entry.field.path}
        if isinstance(entry, Quantity):
            self.quantity(entry, key, holder, when, source)
        else:
            self.finding_observation(entry, holder, when, source)

    def quantity(self, q: Quantity, key: Key, holder: dict[str, Any], when: datetime, source: dict[str, str]) -> None:
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
        problem = _field_problem(q.field, result)
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
        keys = _codes(concept)
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
        if isinstance(entry, Quantity):
            self.ignored["unrecognised_code"] += 1  # a measurement code is not a condition
            return
        verification = _status(cond.get("verificationStatus"))
        clinical = _status(cond.get("clinicalStatus"))
        if verification == "entered-in-error":
            self.ignored["entered_in_error"] += 1
            return
        onset = _dict(cond.get("onsetPeriod"))
        when = _first_time(cond.get("recordedDate"), cond.get("onsetDateTime"), onset.get("start"))
        key = next(k for k in _codes(cond.get("code")) if self.term.by_code.get(k) is entry)
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
