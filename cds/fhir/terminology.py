"""The FHIR terminology: which code, in which unit, fills which contract field.

The codes are data: terminology.yaml, reviewed on its own, with its shape in
terminology.schema.json. This module is the model the mapping reads and the loader that builds
it. The loader refuses the whole file on any mistake and names every problem it finds, not just
the first: first the shape (the schema), then the meaning against the field catalogue
(cds/fields.py): each field is a clinical field of the contract, each value the file can produce
(present, absent, band values, grades) is valid for its field, each system is declared and no
code is listed twice (answer codes apart: a code may be both a finding and an answer).

Codes match exactly (system URI and code), with no network access; the history fields also
match by value set (valuesets.py: a shipped SNOMED CT expansion and ICD-10 ranges). Units are
UCUM codes; a unit not listed for a code is never converted. Every clinical field has exactly
one episode (episodes.py): which records describe it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError

from cds.fhir.data_files import packaged, parse
from cds.fhir.episodes import Episode
from cds.fhir.valuesets import ICD_SYSTEMS, ICD_URIS, CodeRange, ValueSet, icd_code, read_expansion
from cds.triage.encounter import check
from cds.triage.fields import BY_PATH, FIELDS, Field

Key = tuple[str, str]  # (system URI, code)

UCUM = "http://unitsofmeasure.org"


class TerminologyError(ValueError):
    """The terminology file is invalid; the message lists every problem found."""


@dataclass(frozen=True)
class Unit:
    code: str
    offset: float = 0.0
    factor: float = 1.0
    divisor: float = 1.0
    decimals: int | None = None  # the precision the field is reported in (terminology.yaml)

    def exact(self, value: float) -> float:
        return (value + self.offset) * self.factor / self.divisor

    def convert(self, value: float) -> float:
        converted = self.exact(value)
        return converted if self.decimals is None else round(converted, self.decimals)

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
class CodedQuantity:
    """A measurement: the codes that name it, the units it is accepted in, and, for a field that
    is not a plain number, the bands that turn it into the field's value."""

    field: Field
    codes: tuple[Key, ...]
    units: dict[str, Unit]
    bands: tuple[Band, ...] = ()
    integer: bool = False  # a valueInteger is read in the field's own unit (a score)


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
    answers: str = "presence"
    coded: bool = False  # the file named an answer set: results come as coded answers, not booleans
    grades: str | None = None
    asserted_with_quantity: bool = False  # a valueQuantity beside it is its measure (an oxygen flow)


@dataclass(frozen=True)
class Observable:
    """An Observation code whose value is the answer: `grades` grades the value into `field`
    (ACVPU); `symptom` / `symptom_absent` read the value as a finding's own code (HL7 Symptoms
    IG), present or absent."""

    key: Key
    reads: str
    field: Field | None = None
    grades: str | None = None


@dataclass(frozen=True)
class Terminology:
    systems: dict[str, str]
    panels: frozenset[Key]
    quantities: tuple[CodedQuantity, ...]
    findings: tuple[Finding, ...]
    answer_sets: dict[str, AnswerSet]
    by_code: dict[Key, CodedQuantity | Finding]
    known_units: frozenset[str]
    displays: dict[Key, str]
    episodes: dict[str, Episode]
    observables: dict[Key, Observable]
    value_sets: tuple[ValueSet, ...]

    def value_sets_holding(self, key: Key) -> list[ValueSet]:
        """The value sets that hold a code no finding names exactly: a myeloma is a cancer and
        an immunosuppressing disease, and fills both fields."""
        return [vs for vs in self.value_sets if vs.holds(key)]

    def label(self, key: Key) -> str:
        names = {uri: name for name, uri in self.systems.items()}
        return f"{names.get(key[0], key[0]).upper()} {key[1]}"


def as_field(spec: Field, value: float) -> float | int:
    """A measurement as its field holds it: an integer field's value rounded half up."""
    return math.floor(value + 0.5) if spec.kind == "int" else value


def field_problem(spec: Field, value: Any) -> str | None:
    """Why `value` is not a valid value of the contract field `spec`; None when it is."""
    try:
        check(spec, value)
    except ValidationError as err:
        return "; ".join(str(m) for m in err.messages) if isinstance(err.messages, list) else str(err.messages)
    return None


@functools.cache
def terminology() -> Terminology:
    """The packaged terminology, loaded and validated once."""
    return load_terminology(packaged("terminology.yaml"))


def load_terminology(text: str) -> Terminology:
    """Parse and validate a terminology file; raise TerminologyError naming every problem."""
    data, problems = parse(text, "terminology.schema.json", "terminology", TerminologyError)
    if problems:
        raise _invalid(problems)
    return _build(data)


def _invalid(problems: list[str]) -> TerminologyError:
    return TerminologyError("terminology file is invalid:\n  " + "\n  ".join(problems))


def _build(data: dict[str, Any]) -> Terminology:
    """The model of a file that has passed the schema; TerminologyError when its meaning is wrong."""
    b = _Builder(data["systems"])
    answer_sets = {}
    for name, raw in data["answer_sets"].items():
        b.seen.clear()  # each answer set is its own namespace (Unknown answers a yes/no and a pregnancy)
        answer_sets[name] = b.answer_set(name, raw)
    b.seen.clear()  # answer codes live in their own namespace: a code may be both a finding and an answer
    panels = frozenset(b.key_of(p, f"panels/{i}") for i, p in enumerate(data["panels"]))
    quantities = tuple(
        q for i, raw in enumerate(data["quantities"]) if (q := b.quantity(raw, f"quantities/{i}")) is not None
    )
    findings = tuple(
        f
        for i, raw in enumerate(data["findings"])
        if (f := b.finding(raw, f"findings/{i} ({raw['code']})", answer_sets)) is not None
    )
    episodes = b.episodes(data["episodes"])
    observables = {o.key: o for i, raw in enumerate(data["observables"]) if (o := b.observable(raw, i, answer_sets))}
    value_sets = tuple(v for path, raw in data["value_sets"].items() if (v := b.value_set(path, raw)) is not None)
    if b.problems:
        raise _invalid(b.problems)
    known_units = frozenset(u for q in quantities for u in q.units)
    return Terminology(
        b.systems,
        panels,
        quantities,
        findings,
        answer_sets,
        b.by_code,
        known_units,
        b.displays,
        episodes,
        observables,
        value_sets,
    )


class _Builder:
    """One pass over a schema-valid file. Problems are collected, not raised, so that the error
    names every mistake at once; an entry that cannot be built is skipped, its problem recorded."""

    def __init__(self, systems: dict[str, str]) -> None:
        self.systems = systems
        self.problems: list[str] = []
        self.by_code: dict[Key, CodedQuantity | Finding] = {}
        self.displays: dict[Key, str] = {}
        self.seen: set[Key] = set()

    def key_of(self, item: dict[str, Any], where: str, default: str | None = None) -> Key:
        name = item.get("system", default)
        if name not in self.systems:
            self.problems.append(f"{where}: unknown system '{name}' (declare it under systems)")
        k = (self.systems.get(str(name), str(name)), item["code"])
        if k[0] in ICD_URIS and k[1] != icd_code(k[1]):
            self.problems.append(f"{where}: ICD-10 code {k[1]} must be written {icd_code(k[1])} (records are read so)")
        self.displays[k] = item["display"]
        if k in self.seen:
            self.problems.append(f"{where}: code {item['code']} is listed more than once")
        self.seen.add(k)
        return k

    def spec_of(self, path: str, where: str) -> Field | None:
        spec = BY_PATH.get(path)
        if spec is None or not spec.clinical:
            self.problems.append(f"{where}: '{path}' is not a clinical field of the contract")
        return spec

    def valid(self, spec: Field, value: Any, where: str) -> None:
        problem = field_problem(spec, value)
        if problem:
            self.problems.append(f"{where}: {value!r} is not a valid value of {spec.path} ({problem})")

    def answer_set(self, name: str, raw: dict[str, Any]) -> AnswerSet:
        codes = {self.key_of(c, f"answer_sets/{name}/{i}"): c["value"] for i, c in enumerate(raw["codes"])}
        strings = raw.get("strings", {})
        for s in strings:
            if s != s.strip().lower():
                self.problems.append(f"answer_sets/{name}/strings: '{s}' must be trimmed lower case")
        if strings and "strings_source" not in raw:
            self.problems.append(f"answer_sets/{name}: strings need a strings_source")
        return AnswerSet(codes, strings)

    def quantity(self, raw: dict[str, Any], where: str) -> CodedQuantity | None:
        spec = self.spec_of(raw["field"], where)
        if spec is None:
            return None
        bands = tuple(Band(**b) for b in raw.get("bands", ()))
        if bands:
            for b in bands:
                if b.value is not None:  # null: a band that says nothing about the field
                    self.valid(spec, b.value, f"{where}/bands")
        elif not spec.numeric:
            self.problems.append(f"{where}: {spec.path} is not numeric; map it with bands")
        units = {
            u["code"]: Unit(
                u["code"], u.get("offset", 0.0), u.get("factor", 1.0), u.get("divisor", 1.0), u.get("decimals")
            )
            for u in raw["units"]
        }
        if len(units) != len(raw["units"]):
            self.problems.append(f"{where}: a unit is listed more than once")
        codes = tuple(self.key_of(c, f"{where}/codes/{j}") for j, c in enumerate(raw["codes"]))
        q = CodedQuantity(spec, codes, units, bands, raw.get("integer", False))
        self.by_code.update(dict.fromkeys(q.codes, q))
        return q

    def finding(self, raw: dict[str, Any], where: str, answer_sets: dict[str, AnswerSet]) -> Finding | None:
        spec = self.spec_of(raw["field"], where)
        if spec is None:
            return None
        if spec.kind not in ("bool", "enum", "enum_list"):
            self.problems.append(f"{where}: findings fill true/false, enum or list fields, not {spec.kind}")
            return None
        if spec.kind != "bool" and not ("present" in raw and "absent" in raw):
            self.problems.append(f"{where}: an enum or list field needs explicit present and absent values")
        present, absent = raw.get("present", True), raw.get("absent", False)
        if spec.kind == "enum_list":
            # a site recorded present adds to a partial list; a site recorded absent is one
            # fewer to ask, never the answer to "where is the pain?"
            if present not in spec.choices or absent is not None:
                self.problems.append(f"{where}: a {spec.path} finding names one of its values, and absent null")
        else:
            for value in (present, absent):
                if value is not None:
                    self.valid(spec, value, where)
        answers, grades = raw.get("answers", "presence"), raw.get("grades")
        self.check_answer_sets(spec, answers, grades, where, answer_sets)
        f = Finding(
            self.key_of(raw, where, "snomed"),
            spec,
            present,
            absent,
            answers,
            "answers" in raw,
            grades,
            raw.get("asserted_with_quantity", False),
        )
        self.by_code[f.key] = f
        return f

    def check_answer_sets(
        self, spec: Field, answers: str, grades: str | None, where: str, answer_sets: dict[str, AnswerSet]
    ) -> None:
        # `answers` decides present or absent, so it may only say true, false or null (unknown);
        # `grades` gives the field's value itself, so each of its values must be valid there.
        if answers not in answer_sets or any(v not in (True, False, None) for v in answer_sets[answers].codes.values()):
            self.problems.append(f"{where}: answers '{answers}' must name an answer set of true/false/null values")
        if grades is None:
            return
        if grades not in answer_sets:
            self.problems.append(f"{where}: grades '{grades}' is not an answer set")
        else:
            for value in answer_sets[grades].codes.values():
                self.valid(spec, value, f"{where} grades")

    def episodes(self, raw: dict[str, Any]) -> dict[str, Episode]:
        listed: list[tuple[str, Episode]] = []
        for kind in ("ever", "standing", "measured", "current"):
            days = raw[kind].get("days")
            listed += [(path, Episode(kind, days)) for path in raw[kind]["fields"]]
        listed += [(r["field"], Episode("recent", r["days"])) for r in raw["recent"]]
        episodes: dict[str, Episode] = {}
        for path, episode in listed:
            self.spec_of(path, f"episodes/{episode.kind}")
            if path in episodes:
                self.problems.append(f"episodes: {path} is listed more than once")
            episodes[path] = episode
        missing = [f.path for f in FIELDS if f.clinical and f.path not in episodes]
        if missing:
            self.problems.append("episodes: no episode for " + ", ".join(missing))
        return episodes

    def observable(self, raw: dict[str, Any], i: int, answer_sets: dict[str, AnswerSet]) -> Observable | None:
        where = f"observables/{i} ({raw['code']})"
        key = self.key_of(raw, where)
        if raw["reads"] != "grades":
            if "field" in raw or "grades" in raw:
                self.problems.append(f"{where}: a symptom observable names no field: its value is the finding")
            return Observable(key, raw["reads"])
        spec = self.spec_of(raw.get("field", ""), where)
        grades = raw.get("grades")
        if spec is None or grades not in answer_sets:
            self.problems.append(f"{where}: a grades observable needs a field and a grades answer set")
            return None
        for value in answer_sets[grades].codes.values():
            if value is not None:
                self.valid(spec, value, f"{where} grades")
        return Observable(key, "grades", spec, grades)

    def value_set(self, path: str, raw: dict[str, Any]) -> ValueSet | None:
        spec = self.spec_of(path, f"value_sets/{path}")
        if spec is None or spec.kind != "bool":
            self.problems.append(f"value_sets/{path}: a value set fills a true/false field")
            return None
        snomed: frozenset[str] = frozenset()
        if "snomed" in raw:
            meta = raw["snomed"]
            snomed, problems = read_expansion(meta["file"], meta["count"], meta["sha256"])
            self.problems += [f"value_sets/{path}: {p}" for p in problems]
        ranges = {
            ICD_SYSTEMS[r["system"]]: tuple(CodeRange.parse(t) for t in r["ranges"]) for r in raw.get("icd10", ())
        }
        return ValueSet(path, snomed, ranges)
