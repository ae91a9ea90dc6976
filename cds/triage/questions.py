"""The question catalogue (rules/questions.yaml): for every field the service can ask for, the
question as a nurse reads it aloud, its answers, when it applies, and its source.

Clinical content reviewed like the rules, so it is checked like them: strict YAML, a JSON Schema,
then the checks a schema cannot make against the field catalogue and the rule base (the field
exists and is clinical, the choices are the field's own, numbers carry a unit, `enable_when`
names an earlier question with a value of its kind, the source is one of the rule base's, and
every field that can appear in `missing` has a question). The service refuses to start on any
problem. A version and a digest travel with every interview, like the rule base's.

A question's FHIR linkId is its field's path (`symptoms.saddle_anaesthesia`): as stable as the
contract, whose fields are only ever added, and the key the FHIR mapping already reads a
QuestionnaireResponse by, whoever wrote it (cds/fhir/questionnaire.py).

Answers are derived from the field's kind, so they cannot drift from the contract: Yes / No /
Don't know for true/false (LOINC answer codes LA33-6, LA32-8, LA4489-6), the choices in words
and Don't know for an enum; a number has its unit and the contract's range.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from cds.strict_yaml import StrictYAMLError, load_strict
from cds.triage.conditions import FieldAtom
from cds.triage.fields import BY_PATH, Field
from cds.triage.rulebase import RuleBase

CATALOGUE = "questions.yaml"
LOINC = "http://loinc.org"
DONT_KNOW = "Don't know"


class QuestionsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid question catalogue:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Answer:
    value: Any  # the field's value; None for "Don't know" (asked, not known)
    label: str
    code: dict[str, str] | None = None  # a LOINC answer code where one says the same

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "label": self.label}
        if self.code is not None:
            out["code"] = self.code
        return out


YES = Answer(True, "Yes", {"system": LOINC, "code": "LA33-6", "display": "Yes"})
NO = Answer(False, "No", {"system": LOINC, "code": "LA32-8", "display": "No"})
UNKNOWN = Answer(None, DONT_KNOW, {"system": LOINC, "code": "LA4489-6", "display": "Unknown"})


@dataclass(frozen=True)
class EnableWhen:
    field: str
    operator: str  # "=", "!=", "exists"
    value: Any

    def holds(self, known: dict[str, Any]) -> bool | None:
        """Whether the question applies given the known answers; None while the other is unknown
        (the question is shown: an unanswered parent never hides a question)."""
        if self.operator == "exists":
            return (self.field in known) is bool(self.value)
        if self.field not in known:
            return None
        equal = known[self.field] == self.value
        return equal if self.operator == "=" else not equal


@dataclass(frozen=True)
class Question:
    field: Field
    link_id: str
    section: str
    text: str
    short: str
    help: str
    source: str
    answers: tuple[Answer, ...]  # empty for a number
    multiple: bool  # several answers may be chosen (pain sites)
    unit: dict[str, str] | None
    enable_when: tuple[EnableWhen, ...]
    code: dict[str, str] | None

    @property
    def path(self) -> str:
        return self.field.path

    def applies(self, known: dict[str, Any]) -> bool:
        return all(e.holds(known) is not False for e in self.enable_when)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "field": self.path,
            "link_id": self.link_id,
            "section": self.section,
            "text": self.text,
            "short": self.short,
            "help": self.help,
            "type": self.field.kind,
            "source": self.source,
        }
        if self.answers:
            out["answers"] = [a.to_json() for a in self.answers]
            out["multiple"] = self.multiple
        else:
            out["unit"] = self.unit
            out["min"], out["max"] = self.field.low, self.field.high
        if self.enable_when:
            out["enable_when"] = [
                {"field": e.field, "operator": e.operator, "value": e.value} for e in self.enable_when
            ]
        if self.code is not None:
            out["code"] = self.code
        return out


@dataclass(eq=False)
class Catalogue:
    version: str
    title: str
    digest: str
    sections: tuple[tuple[str, str], ...]  # (id, title), most dangerous first
    questions: tuple[Question, ...]

    def __post_init__(self) -> None:
        self.by_path = {q.path: q for q in self.questions}
        self.by_link_id = {q.link_id: q for q in self.questions}

    def ref(self) -> dict[str, str]:
        return {"version": self.version, "digest": self.digest}

    def asked_as(self, q: Question, known: dict[str, Any], asked: frozenset[str] = frozenset()) -> Question:
        """The question to ask for `q` now: its parent while the parent is neither answered nor
        asked ("any numbness in a leg?" before "is it in both legs?", whose yes alone is an
        emergency and so ranks the follow-up first), else `q` itself."""
        for e in q.enable_when:
            parent = self.by_path.get(e.field)
            if parent is not None and e.holds(known) is None and parent.path not in asked and parent.applies(known):
                return parent
        return q

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "digest": self.digest,
            "title": self.title,
            "sections": [{"id": i, "title": t} for i, t in self.sections],
            "questions": [q.to_json() for q in self.questions],
        }


def askable_fields(rb: RuleBase) -> frozenset[str]:
    """Every field that can appear in `missing`: the fields the rules read (directly, through a
    score, or as the source of an implied answer) and the self-care screen's items."""
    paths = {n.path for r in rb.rules for n in r.when.walk() if isinstance(n, FieldAtom)}
    paths |= {p["field"] for p in rb.news2["parameters"].values()}
    paths |= {n.path for c in rb.qsofa_criteria.values() for n in c.walk() if isinstance(n, FieldAtom)}
    paths |= {imp.when.path for imp in rb.implications}
    paths |= set(rb.screen.items)
    return frozenset(paths)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    text = resources.files("cds.triage.rulebase.schemas").joinpath("questions.schema.json").read_text("utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


def load_questions(directory: Path | str, rb: RuleBase) -> Catalogue:
    """The catalogue in a rules directory, checked against the contract and the rule base."""
    path = Path(directory) / CATALOGUE
    try:
        doc = load_strict(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QuestionsError([f"{CATALOGUE}: file not found"]) from None
    except (StrictYAMLError, UnicodeDecodeError) as err:
        raise QuestionsError([f"{CATALOGUE}: not valid YAML: {err}"]) from None
    problems = [
        f"{CATALOGUE}: {_where(doc, list(e.absolute_path))}: {e.message}"
        for e in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        raise QuestionsError(problems)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    builder = _Builder(rb, {s["id"] for s in doc["sections"]})
    questions = tuple(q for raw in doc["questions"] if (q := builder.question(raw)) is not None)
    uncovered = sorted(askable_fields(rb) - set(builder.seen))
    builder.problems += [f"{CATALOGUE}: no question for {p}, which can appear in `missing`" for p in uncovered]
    if builder.problems:
        raise QuestionsError(builder.problems)
    return Catalogue(
        doc["version"],
        doc["title"],
        hashlib.sha256(canonical).hexdigest(),
        tuple((s["id"], s["title"]) for s in doc["sections"]),
        questions,
    )


def _where(doc: Any, parts: list[Any]) -> str:
    """A schema error's place, naming the question by its field where it has one."""
    if len(parts) >= 2 and parts[0] == "questions" and isinstance(doc, dict):
        try:
            field = doc["questions"][parts[1]]["field"]
        except (IndexError, KeyError, TypeError):
            field = None
        if isinstance(field, str):
            return "/".join(map(str, [field, *parts[2:]]))
    return "/".join(map(str, parts)) or "(top)"


class _Builder:
    def __init__(self, rb: RuleBase, sections: set[str]) -> None:
        self.rb = rb
        self.sections = sections
        self.seen: dict[str, str] = {}  # the fields asked, in catalogue order
        self.problems: list[str] = []

    def question(self, raw: dict[str, Any]) -> Question | None:
        path = raw["field"]
        where = f"{CATALOGUE}: {path}"
        before = len(self.problems)
        spec = BY_PATH.get(path)
        if spec is None or not spec.clinical:
            self.problems.append(f"{where}: not a clinical field of the contract")
            return None
        if path in self.seen:
            self.problems.append(f"{where}: asked twice")
        if raw["section"] not in self.sections:
            self.problems.append(f"{where}: section {raw['section']!r} is not listed in `sections`")
        if raw["source"] not in self.rb.sources:
            self.problems.append(f"{where}: source {raw['source']!r} is not a source of the rule base")
        answers = self._answers(spec, raw, where)
        enable_when = tuple(self._enable_when(e, where) for e in raw.get("enable_when", ()))
        self.seen[path] = path
        if len(self.problems) > before:
            return None
        return Question(
            spec,
            path,
            raw["section"],
            raw["text"],
            raw["short"],
            raw["help"],
            raw["source"],
            answers,
            spec.kind == "enum_list",
            raw.get("unit"),
            enable_when,
            raw.get("code"),
        )

    def _answers(self, spec: Field, raw: dict[str, Any], where: str) -> tuple[Answer, ...]:
        if spec.numeric:
            if "unit" not in raw or "choices" in raw:
                self.problems.append(f"{where}: a number needs a `unit` and has no `choices`")
            return ()
        if "unit" in raw:
            self.problems.append(f"{where}: only a number has a `unit`")
        if spec.kind == "bool":
            if "choices" in raw:
                self.problems.append(f"{where}: a yes/no question has no `choices` (Yes, No, Don't know)")
            return (YES, NO, UNKNOWN)
        choices = raw.get("choices", {})
        wanted = [c for c in spec.choices if c != spec.means_unknown]
        if list(choices) != wanted:
            self.problems.append(f"{where}: `choices` must be exactly {wanted}, in that order")
        words = tuple(Answer(c, choices.get(c, c)) for c in wanted)
        return words if spec.kind == "enum_list" else (*words, UNKNOWN)

    def _enable_when(self, raw: dict[str, Any], where: str) -> EnableWhen:
        other = BY_PATH.get(raw["field"])
        op, value = raw["operator"], raw["value"]
        if raw["field"] not in self.seen or other is None:
            self.problems.append(f"{where}: enable_when names {raw['field']!r}, not an earlier question")
        elif op == "exists":
            if not isinstance(value, bool):
                self.problems.append(f"{where}: enable_when `exists` takes true or false")
        elif other.kind == "bool" and not isinstance(value, bool):
            self.problems.append(f"{where}: enable_when on {other.path} takes true or false")
        elif other.kind in ("enum", "enum_list") and value not in other.choices:
            self.problems.append(f"{where}: enable_when value {value!r} is not a choice of {other.path}")
        elif other.numeric:
            self.problems.append(f"{where}: enable_when on a number is not supported")
        return EnableWhen(raw["field"], op, value)
