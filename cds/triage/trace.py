"""The explanation trace: every implied answer applied, the two scores, and every rule that
fired, in order, each with what it matched, what it concluded and its source."""

from __future__ import annotations

from typing import Any

from cds.triage.decide import Decision
from cds.triage.fields import ORDER
from cds.triage.result_types import TraceEntry
from cds.triage.rulebase import Rule, RuleBase, source_keys


class TraceBuilder:
    def __init__(self, rb: RuleBase) -> None:
        # the parts of an entry that do not depend on the encounter (never mutated)
        self.rule_head = {r.id: {"rule": r.id, "title": r.title} for r in rb.rules}
        self.rule_tail = {r.id: {"concluded": r.concluded(), **rb.source(r.sources)} for r in rb.rules}
        self.news2_head = {"rule": rb.news2["id"], "title": rb.news2["title"]}
        self.news2_source = rb.source(source_keys(rb.news2["source"]))
        self.news2_inputs = tuple(sorted({p["field"] for p in rb.news2["parameters"].values()}, key=ORDER.__getitem__))
        self.qsofa_head = {"rule": rb.qsofa["id"], "title": rb.qsofa["title"]}
        self.qsofa_source = rb.source(source_keys(rb.qsofa["source"]))
        self.implied_source = {imp.id: rb.source(imp.sources) for imp in rb.implications}

    def _scores(self, d: Decision, first: int) -> list[dict[str, Any]]:
        values = d.ctx.values
        return [
            {
                "seq": first,
                **self.news2_head,
                "matched": {p: values[p] for p in self.news2_inputs if p in values},
                "concluded": {
                    "scores.news2.total": int(d.news2.total.low),
                    "scores.news2.band": d.news2.band,
                    "scores.news2.complete": d.news2.complete,
                },
                **self.news2_source,
            },
            {
                "seq": first + 1,
                **self.qsofa_head,
                "matched": {f"scores.qsofa.{c}": True for c in d.qsofa.criteria},
                "concluded": {"scores.qsofa.score": int(d.qsofa.score.low), "scores.qsofa.complete": d.qsofa.complete},
                **self.qsofa_source,
            },
        ]

    def build(self, d: Decision, fired_rules: list[Rule]) -> list[TraceEntry]:
        values = d.ctx.values
        trace: list[Any] = [
            {
                "seq": seq,
                "rule": imp.id,
                "title": imp.title,
                "matched": {imp.when.path: values[imp.when.path]},
                "concluded": {imp.target: imp.value},
                **self.implied_source[imp.id],
            }
            for seq, imp in enumerate(d.ctx.implied, start=1)
        ]
        trace += self._scores(d, len(trace) + 1)
        for seq, rule in enumerate(fired_rules, start=len(trace) + 1):
            matched: dict[str, Any] = {}
            rule.when.support(d.ctx, matched)
            trace.append({"seq": seq, **self.rule_head[rule.id], "matched": matched, **self.rule_tail[rule.id]})
        return trace
