"""The triage interview (POST /v1/interview): the result, the next questions with what each
answer would do, and whether to stop.

Next questions: the unknown fields of `missing` whose question applies (enable_when); while
nothing is raised, the unknown inputs of the benign outcome's pattern; the inputs an implied
answer filled whose explicit answer would change the outcome (beyond_missing.py); a follow-up
whose parent is not yet asked, through its parent (Catalogue.asked_as). Most dangerous first:
the ones a caller can answer before the ones that need a measurement, then by the highest level
an answer can still reach, then in the order of `missing` (the self-care screen's items first);
a question asked and not known sinks below the ones not yet asked, and stays.

What-ifs: each answer of each next question previewed by the three-valued evaluator (decide.py),
with the level it would give and the rules that would newly fire. A number has no list of
answers: its what-ifs are the values on each side of every threshold the rules test it against.

Stop (section 5.3 of the design notes): `emergency_raised` (the highest level; what remains is
for the handover); `no_answer_can_change_level` (a flag is raised, no undecided rule could raise
the level or change the disposition at it, and every input that could undo a raised rule is
known: in three-valued logic a true rule stays true whatever the unknowns turn out to be, except
where the specification reads an unknown as "not established" or a default (the SpO2 scale), and
a rule it holds undecided is the only kind that could still fire). The design notes stopped on
the level alone; that stopped an urgent pyelonephritis call before asking about injecting drug
use, whose Yes adds spinal infection and same-day hospital at the same level;
`screen_complete` (nothing raised, every self-care screen item answered and the myalgia pattern
decided: the remaining unknowns are measurements); otherwise `screen_incomplete`.
`risk_upper_bound` is the highest level any completion of the unknowns could give (an
over-approximation, never an under-).
"""

from __future__ import annotations

from typing import Any, NamedTuple, NotRequired, TypedDict

from cds.problems import Problem
from cds.triage.beyond_missing import implied_questions, pattern_open, pattern_questions, waiting_questions
from cds.triage.conditions import QuantityAtom
from cds.triage.context import Context, PartialList, Tri
from cds.triage.decide import Decision
from cds.triage.missing import Ranked, lowering_inputs
from cds.triage.pipeline import Triage
from cds.triage.questions import Catalogue, Question
from cds.triage.result_types import Result
from cds.triage.rulebase import LEVEL_RANK, Raise, SetDisposition
from cds.triage.rulebase.model import Outcome
from cds.triage.scores import News2, Qsofa
from cds.triage.thresholds import drawn_lines, tested_answers

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
    source: str  # the guideline the question comes from: a source id of the rule base
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


_Evaluated = tuple[Context, dict[str, Tri], News2, Qsofa]


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
        # the rules of the benign outcome's pattern (symmetric diffuse pain with viral features)
        self.pattern = tuple(r for r in rb.rules if isinstance(r.then, Outcome))
        self.thresholds = drawn_lines(rb)
        self.tested = tested_answers(rb)
        self.lowering = lowering_inputs(rb)
        # lines drawn on a difference of two fields (a fall in systolic pressure): on one field
        # they sit where the other field's known value puts them
        self.differences = tuple(
            (rb.quantities[n.quantity], op, bound)
            for r in rb.rules
            for n in r.when.walk()
            if isinstance(n, QuantityAtom)
            for op, bound in n.bounds
        )

    def run(self, encounter: dict[str, Any], limit: int = NEXT_LIMIT) -> InterviewResult:
        return self.step(encounter, limit)[0]

    def step(self, encounter: dict[str, Any], limit: int = NEXT_LIMIT) -> tuple[InterviewResult, list[Ranked]]:
        """The interview's answer, and every missing field ranked (what each can still raise)."""
        triage = self.triage
        d = triage.decider.decide(encounter)
        result = triage.results.build(d)
        raised = {f["id"]: f for f in result["flags"]}
        screen_unknown = triage.rulebase.screen.unanswered(d.ctx.values)
        ranked = triage.results.missing.ranked(d, raised, screen_unknown)
        if not raised:
            ranked += pattern_questions(self.pattern, d, ranked)
        now = _Preview(result["risk_level"], {f: x["risk_level"] for f, x in raised.items()}, frozenset(d.fired))
        implied = implied_questions(self.catalogue, d, now, self.acting, lambda q, v: self._previewed(q, v, d))
        listed = {r.path for r in ranked}
        ranked += [r for r in implied if r.path not in listed]
        if raised and result["risk_level"] != "emergency":
            level, cannot = LEVEL_RANK[result["risk_level"]], triage.results.missing.caller_cannot_give
            listed = {r.path for r in ranked}
            ranked += waiting_questions(self.lowering, d, level, list(raised), cannot, listed)
        chosen = self._choose(ranked, d, now, limit)
        nexts = [self._question(q, r, d, now) for q, r in chosen]
        out: InterviewResult = {
            "result": result,
            "next": nexts,
            "stop": self.stop(d, result, implied),
            "questions": self.catalogue.ref(),
        }
        return out, ranked

    def _choose(self, ranked: list[Ranked], d: Decision, now: _Preview, limit: int) -> list[tuple[Question, Ranked]]:
        """The next questions, most dangerous first: within asked-unknown last and measurements
        after what a caller can answer, by the level the question's most dangerous answer would
        bring about on its own (previewed), then by the level it could reach with the other
        unknowns, then a follow-up its parent's answer has just opened ("getting worse?" after
        "weakness in one leg", as a protocol asks it: it came 13 questions later), then in the
        order of `missing`. Previews stop once no unseen question can outrank the chosen ones.
        What one answer does alone counts the flags already raised, so it is bounded by the
        question's reach or by the level raised now, whichever is higher; the level raised now is
        every candidate's floor, so a question visited later (no higher reach) can at most tie,
        and its tie-break (shut, then the order of `missing`) is the order of the visit."""
        candidates = self._candidates(ranked, d)
        known = d.ctx.values
        shut = {
            q.path: not q.enable_when or any(e.holds(known) is not True for e in q.enable_when) for q, *_ in candidates
        }
        candidates.sort(key=lambda c: (c[1].asked_unknown, c[1].tier == 2, -c[1].reach, shut[c[0].path], c[2]))
        scored: list[tuple[tuple[Any, ...], Question, Ranked]] = []
        for q, r, position, asks in candidates:
            group = (r.asked_unknown, r.tier == 2)
            if len(scored) >= limit:
                worst = sorted(s[0] for s in scored)[limit - 1]
                # visited by reach, then order: a later question can only outrank the last chosen
                # by doing more alone than it, which needs a reach above that (the level raised
                # now is every candidate's floor)
                if group > worst[:2] or (group == worst[:2] and -r.reach >= worst[2]):
                    break
            alone = max((self._alone(x, v, d) for x in asks for v in self._dangerous(x)), default=0)
            scored.append(((*group, -alone, -r.reach, shut[q.path], position), q, r))
        scored.sort(key=lambda s: s[0])
        return [(q, r) for _, q, r in scored[:limit]]

    def _candidates(self, ranked: list[Ranked], d: Decision) -> list[tuple[Question, Ranked, int, list[Question]]]:
        """The questions that apply, each with its rank, its place in `missing`, and the questions
        whose danger it stands for. A follow-up whose parent is not yet asked ("is the numbness
        in both legs?" before "any numbness?") is asked through its parent, which takes its
        place, its rank and its danger (found driving the page: the follow-up came 10th, the
        parent 44th)."""
        by_path = self.catalogue.by_path
        known = d.ctx.values
        asked = frozenset(d.encounter.get("asked_unknown") or ())
        out: dict[str, tuple[Question, Ranked, int, list[Question]]] = {}
        for position, r in enumerate(ranked):
            q = by_path.get(r.path)
            if q is None or not q.applies(known):
                continue
            asks = [q]
            parent = self.catalogue.asked_as(q, known, asked)
            if parent is not q:
                q, asks = parent, [parent, q]
                r = r._replace(path=parent.path, asked_unknown=False)
            held = out.get(q.path)
            if held is not None:  # the parent's own place, or another follow-up's
                r = r._replace(
                    flags=held[1].flags + [f for f in r.flags if f not in held[1].flags],
                    reach=max(held[1].reach, r.reach),
                    tier=min(held[1].tier, r.tier),
                )
                position, asks = min(held[2], position), held[3] + [x for x in asks if x not in held[3]]
            out[q.path] = (q, r, position, asks)
        return list(out.values())

    def _previewed(self, q: Question, value: Any, d: Decision) -> _Preview | None:
        evaluated = self._evaluated(q, value, d)
        return None if evaluated is None else self._preview(evaluated)

    def _alone(self, q: Question, value: Any, d: Decision) -> int:
        """The highest level a flag would be raised at with this one answer more (the rules
        alone: the cheap half of a preview, enough to rank questions by danger)."""
        evaluated = self._evaluated(q, value, d)
        if evaluated is None:
            return 0
        held = evaluated[1]
        return max((rank for rule_id, rank in self.raisers if held[rule_id] is True), default=0)

    def _evaluated(self, q: Question, value: Any, d: Decision) -> _Evaluated | None:
        """The rules with one more answer (None: it contradicts an answer given), once per step:
        the ranking and the what-ifs ask for the same answers."""
        key = (q.path, value)
        cache: dict[tuple[str, Any], _Evaluated | None] = d.previews
        if key not in cache:
            values = _explicit(d)
            values[q.path] = [value] if q.multiple else value
            try:
                cache[key] = self.triage.decider.evaluate_answers(values)
            except Problem:
                cache[key] = None
        return cache[key]

    def _dangerous(self, q: Question) -> list[Any]:
        """The answers to preview for a question's own danger: the values the rules test it for
        (a number: the ends of its range)."""
        low, high = q.field.low, q.field.high
        if q.field.numeric:
            return [] if low is None or high is None else [_num(q, low), _num(q, high)]
        return [v for v in self.tested.get(q.path, ()) if v is not None]

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
            "source": q.source,
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
        range, give every outcome. The rules alone are evaluated at each of those values;
        neighbours where the same rules hold are one range, previewed in full once."""
        spec = q.field
        step = 1 if spec.kind == "int" else 0.1
        assert spec.low is not None and spec.high is not None
        lines = list(self.thresholds.get(spec.path, ()))
        known = d.ctx.values
        for quantity, op, bound in self.differences:
            if quantity.minuend == spec.path and quantity.subtrahend in known:
                lines.append((op, bound + known[quantity.subtrahend]))
            elif quantity.subtrahend == spec.path and quantity.minuend in known:
                lines.append((_FLIPPED[op], known[quantity.minuend] - bound))
        points = {spec.low, spec.high}
        for op, t in lines:
            points.update((t - step, t) if op in ("gte", "lt") else (t, t + step))
        runs: list[tuple[Any, frozenset[str]]] = []  # (first value, the rules that hold)
        for point in sorted({round(p, 1) for p in points if spec.low <= p <= spec.high}):
            value = int(point) if spec.kind == "int" else point
            held = self._held(q, value, d)
            if not runs or runs[-1][1] != held:
                runs.append((value, held))
        out = []
        unit = q.unit["display"] if q.unit else ""
        for i, (low, _) in enumerate(runs):
            high = runs[i + 1][0] - step if i + 1 < len(runs) else spec.high
            high = int(high) if spec.kind == "int" else round(high, 1)
            seen = self._what_if(q, low, "", d, now)
            seen["range"] = [low, high]
            if low == high:
                seen["label"] = f"{low:g} {unit}".strip()
            elif spec.kind == "int" or i + 1 == len(runs):
                seen["label"] = f"{low:g} to {high:g} {unit}".strip()
            else:  # a decimal: up to the next range's start, whatever the precision given
                seen["label"] = f"{low:g} to under {runs[i + 1][0]:g} {unit}".strip()
            out.append(seen)
        return out

    def _held(self, q: Question, value: Any, d: Decision) -> frozenset[str]:
        evaluated = self._evaluated(q, value, d)
        return frozenset() if evaluated is None else frozenset(r for r, v in evaluated[1].items() if v is True)

    def _what_if(self, q: Question, value: Any, label: str, d: Decision, now: _Preview) -> WhatIf:
        if value is None:  # "Don't know": the field stays unknown, and so does what it decides
            return {"answer": None, "label": label, "risk_level": now.level, "raised": [], "rules": []}
        evaluated = self._evaluated(q, value, d)
        if evaluated is None:
            return {
                "answer": value,
                "label": label,
                "risk_level": now.level,
                "raised": [],
                "rules": [],
                "contradicts": "this answer contradicts another answer already given",
            }
        after = self._preview(evaluated)
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

    def _preview(self, evaluated: _Evaluated) -> _Preview:
        p = self.triage.decider.preview(*evaluated)
        level, flags = self.triage.results.outcome(p)
        return _Preview(level, {f["id"]: f["risk_level"] for f in flags}, frozenset(p.fired))

    def stop(self, d: Decision, result: Result, implied: list[Ranked] | None = None) -> Stop:
        """`implied`: the questions an implied answer filled whose explicit answer would change
        the outcome (beyond_missing): while one is open, nothing is settled."""
        level = result["risk_level"]
        rank = LEVEL_RANK[level]
        undecided = [r for rule_id, r in self.raisers if d.values[rule_id] is None]
        implied = implied or []
        bound = max([rank, *undecided, *(r.reach for r in implied)])
        if not result["flags"]:
            # nothing raised: the outcome (self-care, routine) can still move either way
            bound = max(bound, LEVEL_RANK["routine"])
        upper = LEVELS[bound]
        if level == "emergency":
            return {"should_stop": True, "reason": "emergency_raised", "risk_upper_bound": upper}
        if implied:
            return {"should_stop": False, "reason": "screen_incomplete", "risk_upper_bound": upper}
        settled = all(p in d.ctx.values and not isinstance(d.ctx.values[p], PartialList) for p in self.lowering)
        # an undecided rule at the current level could still change what is done: a second flag
        # tied at the top adds its disposition (spinal infection's hospital beside
        # pyelonephritis' same-day review), a disposition rule moves its flag's place of care
        raised = {f["id"]: f for f in result["flags"]}
        moving = any(at >= rank for _, _, at in self.triage.results.missing.open_rules(d, raised))
        if result["flags"] and bound == rank and settled and not moving:
            return {"should_stop": True, "reason": "no_answer_can_change_level", "risk_upper_bound": upper}
        screen_open = bool(self.triage.rulebase.screen.unanswered(d.ctx.values)) or d.screen_open
        if not result["flags"] and not screen_open and not pattern_open(self.pattern, d):
            return {"should_stop": True, "reason": "screen_complete", "risk_upper_bound": upper}
        return {"should_stop": False, "reason": "screen_incomplete", "risk_upper_bound": upper}


_FLIPPED = {"gte": "lte", "gt": "lt", "lte": "gte", "lt": "gt"}  # a <= M - b  <=>  b <= M - a


def _explicit(d: Decision) -> dict[str, Any]:
    """The answers given, without the ones they implied: a preview implies afresh."""
    implied = {imp.target for imp in d.ctx.implied}
    return {p: v for p, v in d.ctx.values.items() if p not in implied} if implied else dict(d.ctx.values)


def _num(q: Question, x: float) -> float:
    return int(x) if q.field.kind == "int" else x
