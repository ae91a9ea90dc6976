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
from cds.durable_forms import encode_fact
from cds.engine import Engine, EngineError
from cds.facts import FactBuilder
from cds.result import ResultBuilder
from cds.rulebase import RuleBase
from cds.scores import News2, Qsofa, news2, qsofa


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
        self.rules = rb.rules
        # qSOFA reads a finding (altered mental state), so it is computed just before the
        # first rule that reads it, when everything it depends on is already decided.
        self._qsofa_at = next(
            (
                i
                for i, r in enumerate(rb.rules)
                if any(isinstance(n, ScoreAtom) and n.score.startswith("qsofa") for n in r.when.walk())
            ),
            len(rb.rules),
        )

    def decide(self, encounter: dict[str, Any]) -> Decision:
        rb = self.rulebase
        ctx = self.facts.context(encounter)
        n2 = news2(rb.news2, ctx.values)
        ctx.scores["news2.total"] = n2.total
        ctx.scores["news2.max_parameter"] = n2.max_parameter
        qs: Qsofa | None = None
        findings, flags = ctx.findings, ctx.flags
        values: dict[str, Tri] = {}
        for i, rule in enumerate(self.rules):
            if i == self._qsofa_at:
                qs = self._qsofa(ctx)
            value = rule.when.value(ctx)
            kind = rule.kind
            if kind == "finding":
                findings[rule.then["finding"]] = value
            elif kind == "raise":
                flag = rule.then["raise"]
                current = flags.get(flag, False)
                flags[flag] = True if (current or value) else (None if current is None or value is None else False)
            values[rule.id] = value
        if qs is None:
            qs = self._qsofa(ctx)
        fired = self.engine.run(encode_fact(ctx, ""))
        held = {rid for rid, v in values.items() if v is True}
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
