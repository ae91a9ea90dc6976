"""One evaluation, end to end: encounter -> facts -> scores -> engine -> checked decision.

Two evaluators read the same rules. durable-rules decides which rules fire and in what order
(the trace). The three-valued evaluator in cds.conditions decides what durable cannot see:
which rules are still undecided because an input is unknown (the screen and `missing`). On
every evaluation the rules durable fired must be exactly the rules the three-valued evaluator
holds true; if they ever differ the evaluation fails loudly instead of answering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds.conditions import Context, ScoreAtom, Tri
from cds.engine import Engine, EngineError
from cds.facts import FactBuilder
from cds.result import ResultBuilder
from cds.rulebase import RuleBase
from cds.scores import News2, News2Table, Qsofa, qsofa


@dataclass
class Decision:
    encounter: dict[str, Any]
    ctx: Context
    news2: News2
    qsofa: Qsofa
    values: dict[str, Tri]
    fired: list[str]


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
        # (compute qSOFA first?, evaluator, rule id, finding it concludes, flag it raises)
        self._plan = tuple(
            (
                i == qsofa_at,
                r.when.evaluate,
                r.id,
                r.then.get("finding") if r.kind == "finding" else None,
                r.then.get("raise") if r.kind == "raise" else None,
            )
            for i, r in enumerate(rb.rules)
        )

    def decide(self, encounter: dict[str, Any]) -> Decision:
        ctx = self.facts.context(encounter)
        n2 = self.news2.score(ctx.values)
        ctx.scores["news2.total"] = n2.total
        ctx.scores["news2.max_parameter"] = n2.max_parameter
        qs: Qsofa | None = None
        findings, flags = ctx.findings, ctx.flags
        values: dict[str, Tri] = {}
        held: set[str] = set()
        for qsofa_now, evaluate, rule_id, finding, flag in self._plan:
            if qsofa_now:
                qs = self._qsofa(ctx)
            value = evaluate(ctx)
            values[rule_id] = value
            if value is True:
                held.add(rule_id)
            if finding is not None:
                findings[finding] = value
            elif flag is not None:
                current = flags.get(flag, False)
                flags[flag] = True if (current or value) else (None if current is None or value is None else False)
        if qs is None:
            qs = self._qsofa(ctx)
        fired = self.engine.evaluate(ctx)
        if set(fired) != held:
            extra = sorted(set(fired) - held)
            absent = sorted(held - set(fired))
            raise EngineError(f"the engines disagree: durable fired {extra} beyond, and missed {absent}")
        return Decision(encounter, ctx, n2, qs, values, fired)

    def _qsofa(self, ctx: Context) -> Qsofa:
        spec = self.rulebase.qsofa
        result = qsofa(self.rulebase.qsofa_criteria, spec["positive_at"], ctx)
        ctx.scores["qsofa.score"] = result.score
        return result

    def evaluate(self, encounter: dict[str, Any]) -> dict[str, Any]:
        return self.results.build(self.decide(encounter))
