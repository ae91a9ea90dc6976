"""The triage interview (POST /v1/interview): the result, the next questions with what each
answer would do, and whether to stop.

Next questions: the unknown fields of `missing` whose question applies (enable_when), most
dangerous first: the ones a caller can answer before the ones that need a measurement, then by the
highest level an answer can still reach, then in the order of `missing` (the self-care screen's
items first); a question asked and not known sinks below the ones not yet asked, and stays.

What-ifs: each answer of each next question previewed by the three-valued evaluator (decide.py),
with the level it would give and the rules that would newly fire. A number has no list of
answers: its what-ifs are the values on each side of every threshold the rules test it against.

Stop (section 5.3 of the design notes): `emergency_raised` (the highest level; what remains is
for the handover); `no_answer_can_change_level` (a flag is raised, so the level cannot fall, and
no undecided rule could raise it: a raised rule stays raised whatever the unknowns turn out to be,
and a rule the three-valued evaluator holds undecided is the only kind that could still fire);
`screen_complete` (nothing raised and every self-care screen item answered: the remaining
unknowns are measurements); otherwise `screen_incomplete`. `risk_upper_bound` is the highest
level any completion of the unknowns could give (an over-approximation, never an under-).
"""

from __future__ import annotations

from typing import Any, NamedTuple, NotRequired, TypedDict

from cds.problems import Problem
from cds.triage.conditions import FieldAtom, QuantityAtom
from cds.triage.decide import Decision
from cds.triage.missing import Ranked
from cds.triage.pipeline import Triage
from cds.triage.questions import Catalogue, Question
from cds.triage.result_types import Result
from cds.triage.rulebase import LEVEL_RANK, Raise, RuleBase, SetDisposition

LEVELS = sorted(LEVEL_RANK, key=LEVEL_RANK.__getitem__)
NEXT_LIMIT = 5


class WhatIf(TypedDict):
    answer: Any  # the answer's value; for a number, the value previewed
    label: str
    risk_level: str
    raised: list[str]  # flags this answer would raise or raise higher
    rules: list[str]  # the rules this answer would newly fire (raise or set a disposition)
    range: NotRequired[list[float]]  # a number: the values, both ends included, with this outcome
    contradicts: NotRequired[str]  # the answer contradicts one already given (no preview)


class NextQuestion(TypedDict):
    field: str
    link_id: str
    text: str
    short: str
    help: str
    type: str
    needed_for: list[str]
    could_raise_to: str
    asked_unknown: bool
    answers: NotRequired[list[dict[str, Any]]]
    unit: NotRequired[dict[str, str] | None]
    what_if: list[WhatIf]


class Stop(TypedDict):
    should_stop: bool
    reason: str
    risk_upper_bound: str


class InterviewResult(TypedDict):
    result: Result
    next: list[NextQuestion]
    stop: Stop
    questions: dict[str, str]  # the catalogue's version and digest


class _Preview(NamedTuple):
    level: str
    flags: dict[str, str]  # raised flag -> its level
    held: frozenset[str]


class Interview:
    def __init__(self, triage: Triage, catalogue: Catalogue) -> None:
        self.triage = triage
        self.catalogue = catalogue
        rb = triage.rulebase
        # the rules whose firing changes what is done (in rule-base order)
        self.acting = tuple(r.id for r in rb.rules if isinstance(r.then, Raise | SetDisposition))
        self.raisers = tuple((r.id, LEVEL_RANK[r.then.level]) for r in rb.rules if isinstance(r.then, Raise))
        self.thresholds = _thresholds(rb)
        # lines drawn on a difference of two fields (a fall in systolic pressure): on one field
        # they sit where the other field's known value puts them
        self.differences = tuple(
            (rb.quantities[n.quantity], bound)
            for r in rb.rules
            for n in r.when.walk()
            if isinstance(n, QuantityAtom)
            for _, bound in n.bounds
        )

    def run(self, encounter: dict[str, Any], limit: int = NEXT_LIMIT) -> InterviewResult:
        triage = self.triage
        d = triage.decider.decide(encounter)
        result = triage.results.build(d)
        raised = {f["id"]: f for f in result["flags"]}
        screen_unknown = [p for p in triage.rulebase.screen.items if p not in d.ctx.values]
        ranked = triage.results.missing.ranked(d, raised, screen_unknown)
        now = _Preview(result["risk_level"], {f: x["risk_level"] for f, x in raised.items()}, frozenset(d.fired))
        chosen = self._choose(ranked, d.ctx.values, limit)
        nexts = [self._question(q, r, d, now) for q, r in chosen]
        return {
            "result": result,
            "next": nexts,
            "stop": self.stop(d, result),
            "questions": self.catalogue.ref(),
        }

    def _choose(self, ranked: list[Ranked], known: dict[str, Any], limit: int) -> list[tuple[Question, Ranked]]:
        by_path = self.catalogue.by_path
        order = {r.path: i for i, r in enumerate(ranked)}
        candidates = [(by_path[r.path], r) for r in ranked if r.path in by_path and by_path[r.path].applies(known)]
        candidates.sort(key=lambda qr: (qr[1].asked_unknown, qr[1].tier == 2, -qr[1].reach, order[qr[1].path]))
        return candidates[:limit]

    def _question(self, q: Question, r: Ranked, d: Decision, now: _Preview) -> NextQuestion:
        out: NextQuestion = {
            "field": q.path,
            "link_id": q.link_id,
            "text": q.text,
            "short": q.short,
            "help": q.help,
            "type": q.field.kind,
            "needed_for": r.flags,
            "could_raise_to": LEVELS[r.reach],
            "asked_unknown": r.asked_unknown,
            "what_if": [],
        }
        if q.answers:
            out["answers"] = [a.to_json() for a in q.answers]
            out["what_if"] = [self._what_if(q, a.value, a.label, d, now) for a in q.answers]
        else:
            out["unit"] = q.unit
            out["what_if"] = self._number_what_ifs(q, d, now)
        return out

    def _number_what_ifs(self, q: Question, d: Decision, now: _Preview) -> list[WhatIf]:
        """A number's what-ifs as ranges: the outcome changes only where a rule or a NEWS2 band
        draws a line, so the values on each side of every line, and the ends of the contract's
        range, give every outcome; neighbours with the same outcome are merged into one range."""
        spec = q.field
        step = 1 if spec.kind == "int" else 0.1
        assert spec.low is not None and spec.high is not None
        lines = list(self.thresholds.get(spec.path, ()))
        known = d.ctx.values
        for quantity, bound in self.differences:
            if quantity.minuend == spec.path and quantity.subtrahend in known:
                lines.append(bound + known[quantity.subtrahend])
            elif quantity.subtrahend == spec.path and quantity.minuend in known:
                lines.append(known[quantity.minuend] - bound)
        points = {round(p, 1) for t in lines for p in (t - step, t, t + step)} | {spec.low, spec.high}
        unit = q.unit["display"] if q.unit else ""
        runs: list[tuple[float, float, WhatIf]] = []
        for value in sorted(p for p in points if spec.low <= p <= spec.high):
            value = int(value) if spec.kind == "int" else value
            seen = self._what_if(q, value, "", d, now)
            if runs and (runs[-1][2]["risk_level"], runs[-1][2]["raised"], runs[-1][2]["rules"]) == (
                seen["risk_level"],
                seen["raised"],
                seen["rules"],
            ):
                runs[-1] = (runs[-1][0], value, runs[-1][2])
            else:
                runs.append((value, value, seen))
        out = []
        for i, (low, _, seen) in enumerate(runs):
            high = runs[i + 1][0] - step if i + 1 < len(runs) else spec.high
            high = int(high) if spec.kind == "int" else round(high, 1)
            seen["range"] = [low, high]
            seen["label"] = f"{low:g} to {high:g} {unit}".strip()
            out.append(seen)
        return out

    def _what_if(self, q: Question, value: Any, label: str, d: Decision, now: _Preview) -> WhatIf:
        if value is None:  # "Don't know": the field stays unknown, and so does what it decides
            return {"answer": None, "label": label, "risk_level": now.level, "raised": [], "rules": []}
        values = dict(d.ctx.values)
        for imp in d.ctx.implied:  # the preview recomputes what the answers imply
            values.pop(imp.target, None)
        values[q.path] = [value] if q.multiple else value
        try:
            after = self._preview(values)
        except Problem:
            return {
                "answer": value,
                "label": label,
                "risk_level": now.level,
                "raised": [],
                "rules": [],
                "contradicts": "this answer contradicts another answer already given",
            }
        raised = [
            f for f, lvl in after.flags.items() if f not in now.flags or LEVEL_RANK[lvl] > LEVEL_RANK[now.flags[f]]
        ]
        return {
            "answer": value,
            "label": label,
            "risk_level": after.level,
            "raised": raised,
            "rules": [r for r in self.acting if r in after.held and r not in now.held],
        }

    def _preview(self, values: dict[str, Any]) -> _Preview:
        p = self.triage.decider.preview(values)
        level, flags = self.triage.results.outcome(p)
        return _Preview(level, {f["id"]: f["risk_level"] for f in flags}, frozenset(p.fired))

    def stop(self, d: Decision, result: Result) -> Stop:
        level = result["risk_level"]
        rank = LEVEL_RANK[level]
        undecided = [r for rule_id, r in self.raisers if d.values[rule_id] is None]
        bound = max([rank, *undecided])
        if not result["flags"]:
            # nothing raised: the outcome (self-care, routine) can still move either way
            bound = max(bound, LEVEL_RANK["routine"])
        upper = LEVELS[bound]
        if level == "emergency":
            return {"should_stop": True, "reason": "emergency_raised", "risk_upper_bound": upper}
        if result["flags"] and bound == rank:
            return {"should_stop": True, "reason": "no_answer_can_change_level", "risk_upper_bound": upper}
        screen_open = any(p not in d.ctx.values for p in self.triage.rulebase.screen.items) or d.screen_open
        if not result["flags"] and not screen_open:
            return {"should_stop": True, "reason": "screen_complete", "risk_upper_bound": upper}
        return {"should_stop": False, "reason": "screen_incomplete", "risk_upper_bound": upper}


def _thresholds(rb: RuleBase) -> dict[str, list[float]]:
    """Field -> the numbers its rules compare it with, and its NEWS2 band edges."""
    out: dict[str, set[float]] = {}
    for rule in rb.rules:
        for node in rule.when.walk():
            if isinstance(node, FieldAtom):
                out.setdefault(node.path, set()).update(float(bound) for _, bound in node.bounds)
    for c in rb.qsofa_criteria.values():
        for node in c.walk():
            if isinstance(node, FieldAtom):
                out.setdefault(node.path, set()).update(float(bound) for _, bound in node.bounds)
    for param in rb.news2["parameters"].values():
        bands = list(param.get("bands", ())) + [b for s in param.get("scales", {}).values() for b in s]
        for band in bands:
            for key in ("up_to", "above"):
                if isinstance(band.get(key), int | float):
                    out.setdefault(param["field"], set()).add(float(band[key]))
    return {path: sorted(v) for path, v in out.items() if v}
