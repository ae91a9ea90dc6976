"""One decision: an encounter's answers -> scores -> both evaluators -> a checked Decision.

Two evaluators read the same rules (docs/decisions/0002). durable-rules decides which rules fire
and in what order (the trace). The three-valued evaluator decides what durable cannot see: which
rules are still undecided because an input is unknown (the screen and `missing`). On every
evaluation the rules durable fired must be exactly the rules the three-valued evaluator holds
true; if they ever differ the evaluation fails loudly instead of answering.

The self-care screen (section 11 of the specification) asks one more question of the
three-valued evaluator: with the inputs a caller cannot give (vital signs, examination,
laboratory values) taken as normal where unknown, is any criterion of any flag still open?
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cds.triage.answers import AnswerReader
from cds.triage.conditions import ScoreAtom
from cds.triage.context import Context, ScoreBound, Tri
from cds.triage.engine import Engine, EngineError
from cds.triage.kleene import compile_rules
from cds.triage.rulebase import MANIFEST, Conclude, Raise, RuleBase, RuleBaseError, RuleError
from cds.triage.scores import News2, News2Table, Qsofa


@dataclass
class Decision:
    encounter: dict[str, Any]
    ctx: Context
    news2: News2
    qsofa: Qsofa
    values: dict[str, Tri]  # every rule: true, false, or None (undecided)
    fired: list[str]  # the rules durable fired, in firing order
    # rules that could still raise a flag with the caller-unknowable inputs taken as normal
    # (the screen is incomplete while any is open), and the answerable inputs they wait on
    screen_open: tuple[str, ...] = ()
    screen_questions: frozenset[str] = frozenset()
    # an interview's previews of answers not yet given, evaluated once per decision (interview.py)
    previews: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class _Step:
    """One rule of the reference evaluation (evaluate_by_closures), in evaluation order."""

    qsofa_first: bool  # compute qSOFA before this rule: it is the first to read it
    evaluate: Callable[[Context], Tri]
    rule_id: str
    finding: str | None
    flag: str | None


def _qsofa_at(rb: RuleBase) -> int:
    """The position of the first rule that reads qSOFA: qSOFA reads a finding (altered mental
    state), so it is computed just before, when everything it depends on is decided."""
    for i, rule in enumerate(rb.rules):
        if any(isinstance(n, ScoreAtom) and n.score.startswith("qsofa") for n in rule.when.walk()):
            return i
    return len(rb.rules)


class Decider:
    def __init__(self, rb: RuleBase, engine: Engine | None = None) -> None:
        self.rulebase = rb
        self.engine = engine or Engine(rb)
        self.answers = AnswerReader(rb)
        self.news2 = News2Table(rb.news2)
        qsofa_at = _qsofa_at(rb)
        self._plan = tuple(
            _Step(
                i == qsofa_at,
                r.when.evaluate,
                r.id,
                r.then.finding if isinstance(r.then, Conclude) else None,
                r.then.flag if isinstance(r.then, Raise) else None,
            )
            for i, r in enumerate(rb.rules)
        )
        self._run = compile_rules(rb.rules, rb.qsofa_criteria, qsofa_at)
        self._qsofa_names = tuple(rb.qsofa_criteria)
        self._raising = tuple(r for r in rb.rules if isinstance(r.then, Raise))
        self._check_normal_values()

    def _check_normal_values(self) -> None:
        """The normal values alone must raise nothing, or the screen could never be complete."""
        ctx = self.answers.context_of(self.rulebase.screen.fill({}))
        values, _, _ = self.evaluate_rules(ctx)
        raised = [r.id for r in self._raising if values[r.id] is True]
        if raised:
            message = "the assumed-normal values alone raise " + ", ".join(raised)
            raise RuleBaseError([RuleError(MANIFEST, None, "self_care_screen.assumed_normal", message)])

    def evaluate_rules(self, ctx: Context) -> tuple[dict[str, Tri], News2, Qsofa]:
        """Every rule in the three-valued logic, through the generated evaluator (cds.triage.kleene);
        the findings, flags and scores recorded in the context, where `pending` and `support`
        read them."""
        n2 = self.news2.score(ctx.values)
        ctx.scores["news2.total"] = total = n2.total
        ctx.scores["news2.max_parameter"] = top = n2.max_parameter
        values, ctx.findings, ctx.flags, criteria = self._run(
            ctx.values, ctx.quantities, total.low, total.high, top.low, top.high
        )
        return values, n2, self._qsofa(ctx, criteria)

    def _qsofa(self, ctx: Context, criteria: tuple[Tri, ...]) -> Qsofa:
        met = [name for name, value in zip(self._qsofa_names, criteria, strict=True) if value is True]
        unknown: set[str] = set()
        for name, value in zip(self._qsofa_names, criteria, strict=True):
            if value is None:
                self.rulebase.qsofa_criteria[name].pending(ctx, unknown)
        undecided = criteria.count(None)
        inputs = tuple(sorted(unknown))
        bound = ScoreBound(len(met), len(met) + undecided, inputs, tuple((p, 0, 1) for p in inputs))
        ctx.scores["qsofa.score"] = bound
        return Qsofa(bound, met, undecided == 0, len(met) >= self.rulebase.qsofa["positive_at"])

    def evaluate_by_closures(self, ctx: Context) -> tuple[dict[str, Tri], News2, Qsofa]:
        """The same evaluation through the condition trees' closures, rule by rule: the
        reference the generated evaluator is tested against."""
        n2 = self.news2.score(ctx.values)
        ctx.scores["news2.total"] = n2.total
        ctx.scores["news2.max_parameter"] = n2.max_parameter
        criteria: tuple[Tri, ...] | None = None
        values: dict[str, Tri] = {}
        for step in self._plan:
            if step.qsofa_first:
                criteria = tuple(c.evaluate(ctx) for c in self.rulebase.qsofa_criteria.values())
                self._qsofa(ctx, criteria)
            value = step.evaluate(ctx)
            values[step.rule_id] = value
            if step.finding is not None:
                ctx.findings[step.finding] = value
            elif step.flag is not None:
                current = ctx.flags.get(step.flag, False)
                ctx.flags[step.flag] = True if (current or value) else (None if None in (current, value) else False)
        if criteria is None:
            criteria = tuple(c.evaluate(ctx) for c in self.rulebase.qsofa_criteria.values())
        return values, n2, self._qsofa(ctx, criteria)

    def decide(self, encounter: dict[str, Any]) -> Decision:
        ctx = self.answers.context(encounter)
        values, n2, qs = self.evaluate_rules(ctx)
        held = {rule_id for rule_id, value in values.items() if value is True}
        fired = self.engine.fire(ctx)
        if set(fired) != held:
            extra = sorted(set(fired) - held)
            absent = sorted(held - set(fired))
            raise EngineError(f"the engines disagree: durable fired {extra} beyond, and missed {absent}")
        # a raised flag rules self-care out: the screen's open criteria cannot change the outcome
        raised = True in ctx.flags.values()
        open_rules, questions = ((), frozenset[str]()) if raised else self._screen(ctx)
        return Decision(encounter, ctx, n2, qs, values, fired, open_rules, questions)

    def evaluate_answers(self, values: dict[str, Any]) -> tuple[Context, dict[str, Tri], News2, Qsofa]:
        """Every rule's value for these answers (taken over: implied answers are added), by the
        three-valued evaluator alone: an interview's preview of an answer not yet given. A
        contradiction between answers is a 422 Problem."""
        ctx = self.answers.context_of(values, self.answers.imply(values))
        return (ctx, *self.evaluate_rules(ctx))

    def preview(self, ctx: Context, rule_values: dict[str, Tri], n2: News2, qs: Qsofa) -> Decision:
        """The decision an evaluation of evaluate_answers makes. A preview is not a result: the
        answer, once given, is evaluated by both evaluators, cross-checked."""
        held = [rule_id for rule_id, value in rule_values.items() if value is True]
        raised = True in ctx.flags.values()
        open_rules, questions = ((), frozenset[str]()) if raised else self._screen(ctx)
        return Decision({}, ctx, n2, qs, rule_values, held, open_rules, questions)

    def _screen(self, ctx: Context) -> tuple[tuple[str, ...], frozenset[str]]:
        """Section 11, part 2: the raising rules not decided false once every unknown input a
        caller cannot give is taken as normal, and the unknown inputs they still wait on."""
        if not self.rulebase.screen.open_criteria:
            return (), frozenset()
        normal = self.answers.context_of(self.rulebase.screen.fill(ctx.values), ctx.implied)
        values, _, _ = self.evaluate_rules(normal)
        open_rules = tuple(r.id for r in self._raising if values[r.id] is not False)
        questions: set[str] = set()
        for rule in self._raising:
            if values[rule.id] is None:
                rule.when.pending(normal, questions)
        return open_rules, frozenset(questions)
