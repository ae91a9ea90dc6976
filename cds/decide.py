"""One evaluation, end to end: encounter -> facts -> scores -> engine -> checked decision.

Two evaluators read the same rules. durable-rules decides which rules fire and in what order
(the trace). The three-valued evaluator in cds.conditions decides what durable cannot see:
which rules are still undecided because an input is unknown (the screen and `missing`). On
every evaluation the rules durable fired must be exactly the rules the three-valued evaluator
holds true; if they ever differ the evaluation fails loudly instead of answering.

The self-care screen (section 11 of the specification) asks one more question of the
three-valued evaluator: with the inputs a caller cannot give (vital signs, examination,
laboratory values) taken as normal where unknown, is any criterion of any flag still open?
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds.conditions import Context, ScoreAtom, ScoreBound, Tri
from cds.engine import Engine, EngineError
from cds.facts import FactBuilder
from cds.kleene import compile_rules
from cds.result import ResultBuilder
from cds.rulebase import RuleBase, RuleBaseError, RuleError
from cds.scores import News2, News2Table, Qsofa, qsofa


@dataclass
class Decision:
    encounter: dict[str, Any]
    ctx: Context
    news2: News2
    qsofa: Qsofa
    values: dict[str, Tri]
    fired: list[str]
    # rules that could still raise a flag with the caller-unknowable inputs taken as normal
    # (the screen is incomplete while any is open), and the answerable inputs they wait on
    screen_open: tuple[str, ...] = ()
    screen_questions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Step:
    qsofa_first: bool  # compute qSOFA before this rule: it is the first to read it
    evaluate: Any
    rule_id: str
    finding: str | None
    flag: str | None


class Decider:
    def __init__(self, rb: RuleBase, engine: Engine | None = None) -> None:
        self.rulebase = rb
        self.engine = engine or Engine(rb)
        self.facts = FactBuilder(rb)
        self.results = ResultBuilder(rb)
        self.news2 = News2Table(rb.news2)
        # qSOFA reads a finding (altered mental state), so it is computed just before the
        # first rule that reads it, when everything it depends on is already decided.
        qsofa_at = next(
            (
                i
                for i, r in enumerate(rb.rules)
                if any(isinstance(n, ScoreAtom) and n.score.startswith("qsofa") for n in r.when.walk())
            ),
            len(rb.rules),
        )
        self._plan = tuple(
            _Step(
                i == qsofa_at,
                r.when.evaluate,
                r.id,
                r.then.get("finding") if r.kind == "finding" else None,
                r.then.get("raise") if r.kind == "raise" else None,
            )
            for i, r in enumerate(rb.rules)
        )
        self._run = compile_rules(rb.rules, rb.qsofa_criteria, qsofa_at)
        self._qsofa_names = tuple(rb.qsofa_criteria)
        self._raising = tuple(r for r in rb.rules if r.kind == "raise")
        self._check_normal_values()

    def _check_normal_values(self) -> None:
        """The normal values alone must raise nothing, or the screen could never be complete."""
        ctx = self.facts.context_of(self.rulebase.screen.fill({}))
        values, _, _ = self._evaluate(ctx)
        raised = [r.id for r in self._raising if values[r.id] is True]
        if raised:
            message = "the assumed-normal values alone raise " + ", ".join(raised)
            raise RuleBaseError([RuleError("myalgia", None, "self_care_screen.assumed_normal", message)])

    def _evaluate(self, ctx: Context) -> tuple[dict[str, Tri], News2, Qsofa]:
        """Every rule in the three-valued logic, through the generated evaluator (cds.kleene);
        the findings, flags and scores recorded in the context, where `pending` and `support`
        read them."""
        n2 = self.news2.score(ctx.values)
        ctx.scores["news2.total"] = total = n2.total
        ctx.scores["news2.max_parameter"] = top = n2.max_parameter
        values, ctx.findings, ctx.flags, criteria = self._run(
            ctx.values, ctx.quantities, total.low, total.high, top.low, top.high
        )
        met = [name for name, value in zip(self._qsofa_names, criteria, strict=True) if value is True]
        unknown: set[str] = set()
        for name, value in zip(self._qsofa_names, criteria, strict=True):
            if value is None:
                self.rulebase.qsofa_criteria[name].pending(ctx, unknown)
        undecided = criteria.count(None)
        bound = ScoreBound(len(met), len(met) + undecided, tuple(sorted(unknown)))
        qs = Qsofa(bound, met, undecided == 0, len(met) >= self.rulebase.qsofa["positive_at"])
        ctx.scores["qsofa.score"] = bound
        return values, n2, qs

    def evaluate_by_closures(self, ctx: Context) -> tuple[dict[str, Tri], News2, Qsofa]:
        """The same evaluation through the condition trees' closures, rule by rule: the
        reference the generated evaluator is tested against."""
        n2 = self.news2.score(ctx.values)
        ctx.scores["news2.total"] = n2.total
        ctx.scores["news2.max_parameter"] = n2.max_parameter
        qs: Qsofa | None = None
        findings, flags = ctx.findings, ctx.flags
        values: dict[str, Tri] = {}
        for step in self._plan:
            if step.qsofa_first:
                qs = self._qsofa(ctx)
            value = step.evaluate(ctx)
            values[step.rule_id] = value
            if step.finding is not None:
                findings[step.finding] = value
            elif step.flag is not None:
                current = flags.get(step.flag, False)
                flags[step.flag] = True if (current or value) else (None if current is None or value is None else False)
        if qs is None:
            qs = self._qsofa(ctx)
        return values, n2, qs

    def decide(self, encounter: dict[str, Any]) -> Decision:
        ctx = self.facts.context(encounter)
        values, n2, qs = self._evaluate(ctx)
        held = {rule_id for rule_id, value in values.items() if value is True}
        fired = self.engine.fire(ctx)
        if set(fired) != held:
            extra = sorted(set(fired) - held)
            absent = sorted(held - set(fired))
            raise EngineError(f"the engines disagree: durable fired {extra} beyond, and missed {absent}")
        # a raised flag rules self-care out: the screen's open criteria cannot change the outcome
        raised = True in ctx.flags.values()
        open_rules, questions = ((), frozenset()) if raised else self._screen(ctx)
        return Decision(encounter, ctx, n2, qs, values, fired, open_rules, questions)

    def _screen(self, ctx: Context) -> tuple[tuple[str, ...], frozenset[str]]:
        """Section 11, part 2: the raising rules not decided false once every unknown input a
        caller cannot give is taken as normal, and the unknown inputs they still wait on."""
        if not self.rulebase.screen.open_criteria:
            return (), frozenset()
        normal = self.facts.context_of(self.rulebase.screen.fill(ctx.values), ctx.implied)
        values, _, _ = self._evaluate(normal)
        open_rules = tuple(r.id for r in self._raising if values[r.id] is not False)
        questions: set[str] = set()
        for rule in self._raising:
            if values[rule.id] is None:
                rule.when.pending(normal, questions)
        return open_rules, frozenset(questions)

    def _qsofa(self, ctx: Context) -> Qsofa:
        spec = self.rulebase.qsofa
        result = qsofa(self.rulebase.qsofa_criteria, spec["positive_at"], ctx)
        ctx.scores["qsofa.score"] = result.score
        return result

    def evaluate(self, encounter: dict[str, Any]) -> dict[str, Any]:
        return self.results.build(self.decide(encounter))
