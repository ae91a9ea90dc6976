"""`missing`: the questions to ask next. While no flag is raised, the unknown inputs the
self-care screen waits on come first (its unanswered items, and the answerable inputs that keep a
criterion open: section 11); then the other unknowns that could still raise a flag or raise it
higher, the ones a caller cannot give (vital signs, examination, laboratory values) last; within
each, the highest level an answer could reach first, and of those, the ones whose answer alone
would reach it. Once a flag is raised self-care is out, so
the screen's items are listed only for what they can still raise, most dangerous first.

The inputs an answer to which could undo a raised flag (`lowering_inputs`) are never listed for
what they raise; the interview's stop waits on them."""

from __future__ import annotations

from typing import NamedTuple

from cds.triage.conditions import Condition, FieldAtom, FindingRef, FlagRef, NotEstablished, ScoreAtom
from cds.triage.decide import Decision
from cds.triage.fields import ORDER
from cds.triage.result_types import Flag, MissingItem
from cds.triage.rulebase import LEVEL_RANK, Raise, RuleBase, SetDisposition


class Ranked(NamedTuple):
    path: str
    flags: list[str]  # the flags an answer could raise or escalate, most dangerous first
    reach: int  # the highest level an answer could bring about (LEVEL_RANK)
    tier: int  # 0 the self-care screen waits on it, 1 other, 2 a caller cannot give it
    asked_unknown: bool  # asked, and the caller did not know


def static_reach(rb: RuleBase) -> dict[str, tuple[list[str], str]]:
    """For each field, the flags a rule naming it can raise and the highest level it can reach:
    what a screen question is for even when today's answers make it moot. A score's inputs
    reach what the score's rules reach; an implied answer's source what its target reaches."""
    score_inputs = {
        "news2": [p["field"] for p in rb.news2["parameters"].values()],
        "qsofa": [n.path for c in rb.qsofa_criteria.values() for n in c.walk() if isinstance(n, FieldAtom)],
    }
    flags: dict[str, list[str]] = {}
    level: dict[str, str] = {}

    def reach(path: str, flag: str, at: str) -> None:
        flags.setdefault(path, [])
        if flag not in flags[path]:
            flags[path].append(flag)
        if LEVEL_RANK[at] > LEVEL_RANK.get(level.get(path, "self_care"), 0):
            level[path] = at

    for rule in rb.rules:
        if not isinstance(rule.then, Raise):
            continue
        for node in rule.when.walk():
            if isinstance(node, FieldAtom):
                reach(node.path, rule.then.flag, rule.then.level)
            elif isinstance(node, ScoreAtom):
                for path in score_inputs[node.score.split(".", 1)[0]]:
                    reach(path, rule.then.flag, rule.then.level)
    for imp in rb.implications:
        for flag in list(flags.get(imp.target, [])):
            reach(imp.when.path, flag, level[imp.target])
    return {path: (flags[path], level.get(path, "routine")) for path in flags}


class MissingList:
    def __init__(self, rb: RuleBase) -> None:
        self.static = static_reach(rb)
        self.flag_order = {f: i for i, f in enumerate(rb.flags)}.__getitem__
        self.caller_cannot_give = frozenset(rb.screen.assumed_normal)
        self.implications = rb.implications
        # the rules that raise a flag, and those that change a raised flag's disposition
        self.raisers = tuple(
            (r.id, r.then.flag, LEVEL_RANK[r.then.level], r.when) for r in rb.rules if isinstance(r.then, Raise)
        )
        self.dispositions = tuple(
            (r.id, r.then.flag, r.then.level, r.when) for r in rb.rules if isinstance(r.then, SetDisposition)
        )

    def open_rules(self, d: Decision, raised: dict[str, Flag]) -> list[tuple[Condition, str, int]]:
        """The undecided rules that could still raise a flag, raise it higher, or change the
        disposition of a flag raised at the level they apply at: (condition, flag, level)."""
        values = d.values
        targets: list[tuple[Condition, str, int]] = []
        for rule_id, flag, rank, when in self.raisers:
            if values[rule_id] is None:
                current = raised.get(flag)
                if current is None or LEVEL_RANK[current["risk_level"]] < rank:
                    targets.append((when, flag, rank))
        for rule_id, flag, at, when in self.dispositions:
            if values[rule_id] is None and flag in raised and at in (None, raised[flag]["risk_level"]):
                targets.append((when, flag, LEVEL_RANK[raised[flag]["risk_level"]]))
        return targets

    def ranked(self, d: Decision, raised: dict[str, Flag], screen_unknown: list[str]) -> list[Ranked]:
        """The missing inputs in the order of `missing`, each with the flags it could raise or
        escalate, the highest level it could bring about, and its tier."""
        needed: dict[str, list[str]] = {}  # field -> the flags it could raise or escalate
        reach: dict[str, int] = {}  # field -> the highest level it could bring about
        alone: dict[str, int] = {}  # field -> the highest level its answer alone could bring about
        for when, flag, rank in self.open_rules(d, raised):
            pending: set[str] = set()
            when.pending(d.ctx, pending)
            # the inputs one answer to which could make the rule true by itself: each unknown
            # part of an "any of", not an input that needs another answer beside it
            enough: set[str] = set()
            when.alone(d.ctx, enough)
            for path in enough:
                alone[path] = max(alone.get(path, 0), rank)
            for path in pending:
                flags = needed.get(path)
                if flags is None:
                    needed[path] = [flag]
                    reach[path] = rank
                else:
                    if flag not in flags:
                        flags.append(flag)
                    if rank > reach[path]:
                        reach[path] = rank
        # an unknown answer that implies another (numbness in both legs implies numbness in a leg)
        # can raise whatever the implied answer can
        for imp in self.implications:
            if imp.target in needed and imp.when.path not in d.ctx.values:
                flags = needed.setdefault(imp.when.path, [])
                flags += [f for f in needed[imp.target] if f not in flags]
                reach[imp.when.path] = max(reach.get(imp.when.path, 0), reach[imp.target])
                # only an implied "yes" can raise by itself (not on oxygen only rules a new need out)
                if imp.target in alone and imp.value not in (False, "none"):
                    alone[imp.when.path] = max(alone.get(imp.when.path, 0), alone[imp.target])
        # the screen decides between self-care and routine only while no flag is raised; after
        # that its unanswered items are asked for what they can still raise, like any other
        screen_set = set() if raised else set(screen_unknown) | d.screen_questions
        for path in screen_set:
            if path not in needed:
                flags, level = self.static.get(path, ([], "routine"))
                needed[path] = list(flags)
                reach[path] = LEVEL_RANK[level]
        cannot = self.caller_cannot_give
        # "asked, does not know": still missing, but asked already, so after the others of its tier
        asked = frozenset(d.encounter.get("asked_unknown") or ())

        def tier(path: str) -> int:
            return 0 if path in screen_set else (2 if path in cannot else 1)

        # of two questions that could reach the same level, the one whose answer alone would
        # reach it is the more dangerous to leave unasked (a non-blanching rash before a history
        # of cancer that needs another finding beside it)
        order = sorted(needed, key=lambda p: (tier(p), p in asked, -reach[p], -alone.get(p, 0), ORDER.get(p, 999)))
        return [Ranked(p, sorted(needed[p], key=self.flag_order), reach[p], tier(p), p in asked) for p in order]

    def build(self, d: Decision, raised: dict[str, Flag], screen_unknown: list[str]) -> list[MissingItem]:
        items: list[MissingItem] = []
        for r in self.ranked(d, raised, screen_unknown):
            item: MissingItem = {"field": r.path, "needed_for": r.flags}
            if r.asked_unknown:
                item["asked_unknown"] = True
            items.append(item)
        return items


def lowering_inputs(rb: RuleBase) -> frozenset[str]:
    """The inputs whose answer can undo a raised flag: those a rule reads as "not established"
    or "not given" while unknown (the specification's safe reading of an unknown), and the
    NEWS2 SpO2 scale (scale 1 unless scale 2 is given). Until each is known, no stop can claim
    that no answer changes the level."""
    out: set[str] = set()
    seen: set[str] = set()

    def fields(condition: Condition) -> None:
        for node in condition.walk():
            if isinstance(node, FieldAtom):
                out.add(node.path)
            elif isinstance(node, FindingRef) and node.key not in seen:
                seen.add(node.key)
                fields(rb.finding_rule[node.key.split(".", 1)[1]].when)
            elif isinstance(node, FlagRef) and node.key not in seen:
                seen.add(node.key)
                for rule in rb.flag_rules[node.key.split(".", 1)[1]]:
                    fields(rule.when)

    for rule in rb.rules:
        for node in rule.when.walk():
            if isinstance(node, NotEstablished):
                fields(node.item)
            elif isinstance(node, FieldAtom) and node.absent:
                out.add(node.path)
    out.update(p["scale_field"] for p in rb.news2["parameters"].values() if "scale_field" in p)
    return frozenset(out)
