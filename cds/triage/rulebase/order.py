"""The order of evaluation: everything a rule reads (findings, flags, qSOFA) decided before it.
It is also each rule's durable-rules priority, so firing order is deterministic."""

from __future__ import annotations

from cds.triage.conditions import Condition, FindingRef, FlagRef, ScoreAtom
from cds.triage.rulebase.model import Conclude, Raise, Rule
from cds.triage.rulebase.problems import Problems


def _producers(rules: list[Rule]) -> dict[str, list[str]]:
    producers: dict[str, list[str]] = {}
    for r in rules:
        if isinstance(r.then, Conclude):
            producers[f"finding:{r.then.finding}"] = [r.id]
        elif isinstance(r.then, Raise):
            producers.setdefault(f"flag:{r.then.flag}", []).append(r.id)
    return producers


def order(rules: list[Rule], qsofa: dict[str, Condition], problems: Problems) -> list[Rule]:
    producers = _producers(rules)
    qsofa_deps = {f"finding:{n.finding}" for c in qsofa.values() for n in c.walk() if isinstance(n, FindingRef)}

    def deps(rule: Rule) -> set[str]:
        out: set[str] = set()
        for node in rule.when.walk():
            if isinstance(node, FindingRef):
                out.update(producers.get(f"finding:{node.finding}", []))
            elif isinstance(node, FlagRef):
                out.update(producers.get(f"flag:{node.flag}", []))
            elif isinstance(node, ScoreAtom) and node.score.startswith("qsofa"):
                for key in qsofa_deps:
                    out.update(producers.get(key, []))
        return out

    by_id = {r.id: r for r in rules}
    position = {r.id: i for i, r in enumerate(rules)}
    state: dict[str, int] = {}
    ordered: list[Rule] = []

    def visit(rid: str, chain: list[str]) -> None:
        if state.get(rid) == 2:
            return
        if state.get(rid) == 1:
            problems.add(by_id[rid].file, rid, "when", "circular dependency: " + " -> ".join([*chain, rid]))
            return
        state[rid] = 1
        for dep in sorted(deps(by_id[rid]), key=position.__getitem__):
            visit(dep, [*chain, rid])
        state[rid] = 2
        ordered.append(by_id[rid])

    for r in rules:
        visit(r.id, [])
    return ordered
