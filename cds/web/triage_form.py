"""The nurse's form as data: the answers posted (one form field per question, named by the
field path) read into an encounter, and back into what the page shows for each question.

Each question has three states besides its answers: not asked (nothing chosen, the default),
asked and not known ("Don't know": the field goes to `asked_unknown`, it stays unknown to the
rules), and answered. A prefilled answer (from the EHR, through a card's link) is marked until
the nurse confirms or changes it. Nothing is guessed: an answer the form cannot read is an
error shown beside its question, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from cds.problems import Problem
from cds.triage.answers import left_unknown
from cds.triage.encounter import ASKED_UNKNOWN, load_encounter
from cds.triage.questions import Answer, Catalogue, Question

UNKNOWN = "unknown"  # the posted value of "Don't know"
PREFILLED = "_prefilled"  # hidden field: the paths whose answers came from the EHR, unconfirmed
_NUMBER = re.compile(r"-?[0-9]+(?:[.,][0-9]+)?")


@dataclass
class Answers:
    values: dict[str, Any] = field(default_factory=dict)  # field path -> value
    unknown: list[str] = field(default_factory=list)  # asked, not known
    prefilled: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)  # field path -> message
    raw: dict[str, str] = field(default_factory=dict)  # a number the form could not read, as typed
    # answers given beside their own "Don't know": in error, and read both ways until the nurse
    # chooses (triage_page._checked); left out, a heart rate of 135 showed ROUTINE
    doubted: set[str] = field(default_factory=set)

    def encounter(self) -> dict[str, Any]:
        enc: dict[str, Any] = {}
        for path, value in self.values.items():
            section, name = path.split(".", 1)
            enc.setdefault(section, {})[name] = value
        if self.unknown:
            enc[ASKED_UNKNOWN] = list(self.unknown)
        return enc

    def state(self, q: Question) -> Any:
        """What the page shows as chosen: the value, UNKNOWN, or None (not asked)."""
        if q.path in self.values:
            return self.values[q.path]
        return UNKNOWN if q.path in self.unknown else None


def read_form(form: MultiDict[str, str], catalogue: Catalogue) -> Answers:
    out = Answers(prefilled={p for p in form.get(PREFILLED, "").split() if p in catalogue.by_path})
    for q in catalogue.questions:
        # an answer and "Don't know" together, or two answers to one question: neither is
        # dropped for the other (a heart rate of 140 read as not known hid an emergency)
        if q.multiple:
            chosen = form.getlist(q.path)
            if UNKNOWN in chosen and len(chosen) > 1:
                _doubt(out, q, [c for c in chosen if c != UNKNOWN], "Choose the answers, or Don't know, not both")
            elif UNKNOWN in chosen:
                out.unknown.append(q.path)
            elif chosen:
                _put(out, q, chosen)
            continue
        given = list(dict.fromkeys(v.strip() for v in form.getlist(q.path) if v.strip()))
        if len(given) == 2 and UNKNOWN in given:
            _doubt(out, q, given[1 - given.index(UNKNOWN)], "Give one answer: a value, or Not known")
        elif len(given) > 1:
            out.errors[q.path] = "Give one answer"
        elif given == [UNKNOWN]:
            out.unknown.append(q.path)
        elif given:
            _put(out, q, given[0])
    # a name that is no question (a script's misspelt "symptoms.saddle_anesthesia") is named,
    # never dropped in silence while the page shows a level without it
    for name in form:
        if name not in catalogue.by_path and name != PREFILLED:
            out.errors[name] = "is not a question of this form; not used"
    return out


def _doubt(out: Answers, q: Question, raw: Any, message: str) -> None:
    """An answer given with "Don't know" beside it: shown as an error, and until the nurse
    chooses, read both ways (triage_page): the answer can raise a flag, and "not known" keeps
    the self-care screen open and the SpO2 scale at its default."""
    _put(out, q, raw)
    if q.path not in out.errors:
        out.doubted.add(q.path)
        out.errors[q.path] = f"{message}; until then the page takes whichever gives the higher level"


# "1,200" is twelve hundred to one reader and 1.2 to another: a comma before exactly three digits
# is not taken for a decimal comma (a CRP of 1,200 was read as 1.2 mg/L)
_THOUSANDS = re.compile(r"-?[0-9]{1,3},[0-9]{3}")


def _put(out: Answers, q: Question, raw: Any) -> None:
    value = _typed(q, raw)
    if value is not None:
        out.values[q.path] = value
        return
    if not q.answers and isinstance(raw, str):
        # kept as typed: shown again in its box, in the summary and the note, "not used"; a
        # "1,200" emptied on the next update was lost without a trace
        out.raw[q.path] = raw
    if q.answers:
        out.errors[q.path] = "Choose one of the answers"
    elif isinstance(raw, str) and _THOUSANDS.fullmatch(raw):
        out.errors[q.path] = f"Write the number without a thousands comma, or with a decimal point: {raw} is unclear"
    elif isinstance(raw, str) and _NUMBER.fullmatch(raw) and q.field.kind == "int":
        out.errors[q.path] = "Enter a whole number, or leave it empty"
    else:
        out.errors[q.path] = "Enter a number, or leave it empty"


def _typed(q: Question, raw: Any) -> Any:
    kind = q.field.kind
    if kind == "bool":
        return {"yes": True, "no": False}.get(raw)
    if kind == "enum":
        return raw if raw in q.field.choices else None
    if kind == "enum_list":
        return [c for c in q.field.choices if c in raw] if set(raw) <= set(q.field.choices) else None
    # digits with one decimal point or comma, and nothing else: float() would also take "1_40"
    # (140), "1e2", "nan" and "infinity", none of which a nurse types for a reading
    if not _NUMBER.fullmatch(raw) or _THOUSANDS.fullmatch(raw):
        return None
    number = float(raw.replace(",", "."))
    if kind == "int":
        return int(number) if number.is_integer() else None
    return number


def answers_paths(answers: Answers) -> set[str]:
    return set(answers.values) | set(answers.unknown)


def answers_from(values: dict[str, Any], catalogue: Catalogue) -> Answers:
    """Answers known by field path (a card's prefill): each one a question of the form."""
    kept = {p: v for p, v in values.items() if p in catalogue.by_path and _fits(catalogue.by_path[p], v)}
    return Answers(values=kept, prefilled=set(kept))


def _fits(q: Question, value: Any) -> bool:
    """Whether a prefilled value has its question's type. The service seals what it prefills,
    so this only keeps a token made elsewhere with the key from breaking the page (a 500)."""
    kind = q.field.kind
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "enum":
        return value in q.field.choices
    if kind == "enum_list":
        return isinstance(value, list) and all(v in q.field.choices for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def checked(
    answers: Answers, consistent: Callable[[dict[str, Any]], None] | None = None
) -> tuple[dict[str, Any] | None, dict[str, str], set[str]]:
    """The encounter the answers make, validated like the API's (and by `consistent`, which
    refuses answers that contradict each other), the errors by field path, and the paths in
    error whose answer is still used. An answer in error is shown with its error and left out
    (unknown) while the others are evaluated: a typo in one number must not hide an emergency the
    other answers raise. Of two answers that contradict each other ("no new weakness" beside "the
    weakness is getting worse") the "no" is left out and the "yes" used: leaving both out showed
    ROUTINE where the "yes" alone is an emergency. An answer given beside its "Don't know" is used
    here; the page also reads it as not known (triage_page._checked). The age is required before
    anything can be evaluated (None)."""
    errors = dict(answers.errors)
    kept = Answers(
        {p: v for p, v in answers.values.items() if p not in errors or p in answers.doubted}, list(answers.unknown)
    )
    while "patient.age_years" in kept.values:
        contradiction = False
        try:
            encounter = load_encounter(kept.encounter())
            if consistent is not None:
                contradiction = True
                consistent(encounter)
            return encounter, errors, {p for p in errors if p in kept.values}
        except Problem as problem:
            before = answers_paths(kept)
            named = [_answer_path(e["field"], before) for e in problem.errors]
            for path, e in zip(named, problem.errors, strict=True):
                errors[path] = e["message"] if path in answers.doubted else errors.get(path, e["message"])
            for path in left_unknown(named, kept.values.get) if contradiction else named:
                kept.values.pop(path, None)
                if path in kept.unknown:
                    kept.unknown.remove(path)
            if answers_paths(kept) == before:
                break  # a problem no answer can be left out for: nothing is evaluated
    return None, errors, set()


def _answer_path(field_path: str, answered: set[str]) -> str:
    """The question a problem's field is the answer of; the age where it is none of them."""
    path = ".".join(field_path.removeprefix(f"{ASKED_UNKNOWN}.").split(".")[:2])
    return path if path in answered else "patient.age_years"


def words(q: Question, value: Any) -> str:
    """An answer as the form words it: the answer's label, a number with its unit."""
    if value == UNKNOWN:
        return "Don't know"
    labels = {a.value: a.label for a in q.answers if a.value is not None}
    if isinstance(value, list):
        return ", ".join(str(labels.get(v, v)) for v in value)
    if q.answers:
        return labels.get(value, str(value))
    unit = q.unit["display"] if q.unit else ""
    return f"{value:g} {unit}".strip()


def posted(a: Answer) -> str:
    """The form value of an answer: yes/no for true/false, "unknown" for Don't know."""
    if a.value is None:
        return UNKNOWN
    if isinstance(a.value, bool):
        return "yes" if a.value else "no"
    return str(a.value)


def chosen(a: Answer, state: Any) -> bool:
    """Whether the page shows this answer as chosen, given the question's state."""
    if a.value is None:
        return bool(state == UNKNOWN)
    if isinstance(state, list):
        return a.value in state
    return state is not None and type(state) is type(a.value) and state == a.value
