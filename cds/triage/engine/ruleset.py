"""The rule base compiled into a durable-rules ruleset (the JSON ruleset format).

Each rule's condition is put in disjunctive normal form (dnf.py); the branches that join the
same facts share one durable rule (`ID#k`) whose encounter tests are a `$or` of the branches'
conjunctions: every durable rule costs each session about 0.3 µs even when it never fires,
while a `$or` inside one pattern costs almost nothing. A pattern fires once per matching `$or`
branch; with `cap` the matches ready at once come to one action, and the engine keeps the first
firing of a rule. The rule's position in evaluation order is its priority (lower fires first).
Derived findings and raised flags that other rules name are asserted as facts of their own
({"t": "f", "name": ...} and {"t": "g", "name": ...}): the forward chaining. A fact's "id" is its
identity in durable (asserting an id twice fails), so it is the concluding rule's id, never a
finding's or flag's name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cds.triage.conditions import AtLeast, Condition, FindingRef
from cds.triage.engine.alpha import group_alpha_tests
from cds.triage.engine.dnf import (
    DNF,
    Branch,
    Test,
    TooManyBranches,
    false_keys,
    group_key,
    negated_keys,
    positive,
    tested_keys,
)
from cds.triage.rulebase import MANIFEST, Conclude, Raise, RuleBase, RuleBaseError, RuleError

START = "_start"
_DURABLE_OP = {"gte": "$gte", "gt": "$gt", "lte": "$lte", "lt": "$lt"}


def _durable_test(test: Test) -> dict[str, Any]:
    key, op, value = test
    if op == "eq":
        return {key: value}
    if op == "neq":
        return {"$neq": {key: value}}
    if op in ("ex", "nex"):
        return {f"${op}": {key: 1}}
    return {_DURABLE_OP[op]: {key: value}}


def _conjunction(tests: frozenset[Test]) -> dict[str, Any]:
    parts = [_durable_test(t) for t in sorted(tests, key=repr)]
    return parts[0] if len(parts) == 1 else {"$and": parts}


def durable_rules(branches: DNF, priority: int) -> list[dict[str, Any]]:
    """A rule's branches as durable-rules definitions (the JSON ruleset format): one per set of
    joined facts, its encounter tests a `$or` of the branches' conjunctions."""
    by_joins: dict[Any, list[Branch]] = {}
    for branch in branches:
        by_joins.setdefault(branch.joins, []).append(branch)
    out = []
    for (findings, flags, groups), members in by_joins.items():
        patterns: list[dict[str, Any]] = []
        conjunctions = [_conjunction(b.tests) for b in members if b.tests]
        if conjunctions or not (findings or flags or groups):
            tests: list[dict[str, Any]] = [{"t": "e"}]
            if conjunctions:
                tests.append(conjunctions[0] if len(conjunctions) == 1 else {"$or": conjunctions})
            patterns.append({"e": {"$and": tests} if len(tests) > 1 else tests[0]})
        for i, finding in enumerate(sorted(findings)):
            patterns.append({f"f{i}": {"$and": [{"t": "f"}, {"name": finding}]}})
        for i, flag in enumerate(sorted(flags)):
            patterns.append({f"g{i}": {"$and": [{"t": "g"}, {"name": flag}]}})
        for j, (key, count) in enumerate(sorted(groups)):
            for k in range(count):
                alias = f"n{j}_{k}"
                rank = {"$ex": {key: 1}} if k == 0 else {"$gt": {key: {f"n{j}_{k - 1}": key}}}
                patterns.append({alias: {"$and": [{"t": "f"}, rank]}})
        out.append({"all": patterns, "pri": priority, "cap": 64})
    return out


def sentinel_rule() -> dict[str, Any]:
    # Fires once for every encounter: an evaluation always starts an action, because
    # delete_state on a session where no action ever started crashes the process.
    return {"all": [{"e": {"t": "e"}}], "pri": 0}


@dataclass(frozen=True)
class Compiled:
    definitions: dict[str, Any]
    rule_of: dict[str, str]
    chains: dict[str, str]
    keys: set[str]
    dense: set[str]
    falsy: set[str]
    groups: int  # group keys every encounter fact carries (alpha.group_alpha_tests)


def _groups(rb: RuleBase) -> dict[str, dict[str, int]]:
    """For each finding, the "at least n of" groups it belongs to and its rank in each."""
    member_of: dict[str, dict[str, int]] = {}
    for rule in rb.rules:
        for node in rule.when.walk():
            if isinstance(node, AtLeast) and all(isinstance(c, FindingRef) for c in node.items):
                members = sorted(c.finding for c in node.items if isinstance(c, FindingRef))
                key = group_key(members)
                for rank, finding in enumerate(members, start=1):
                    member_of.setdefault(finding, {})[key] = rank
    return member_of


def compile_rulebase(rb: RuleBase) -> Compiled:
    """Each rule's condition in disjunctive normal form, its branches grouped by the facts they
    join, with the rule's position in evaluation order as priority (lower fires first)."""

    def finding(fid: str) -> Condition:
        return rb.finding_rule[fid].when

    def flag(fid: str) -> list[Condition]:
        return [r.when for r in rb.flag_rules.get(fid, [])]

    definitions: dict[str, Any] = {START: sentinel_rule()}
    rule_of: dict[str, str] = {}
    joined_findings: set[str] = set()
    joined_flags: set[str] = set()
    joined_groups: set[str] = set()
    keys: set[str] = set()
    dense: set[str] = set()
    falsy: set[str] = set()
    for priority, rule in enumerate(rb.rules, start=1):
        branches = positive(rule.when, finding, flag)
        for k, definition in enumerate(durable_rules(branches, priority), start=1):
            name = f"{rule.id}#{k}"
            definitions[name] = definition
            rule_of[name] = rule.id
        keys |= tested_keys(branches)
        dense |= negated_keys(branches)
        falsy |= false_keys(branches)
        for branch in branches:
            joined_findings |= branch.findings
            joined_flags |= branch.flags
            joined_groups |= {key for key, _ in branch.groups}
    member_of = _groups(rb)
    chains: dict[str, str] = {}
    for rule in rb.rules:
        if isinstance(rule.then, Conclude):
            fid = rule.then.finding
            ranks = {k: r for k, r in member_of.get(fid, {}).items() if k in joined_groups}
            if fid in joined_findings or ranks:
                chains[rule.id] = json.dumps({"t": "f", "name": fid, **ranks, "id": rule.id})[:-1]
        elif isinstance(rule.then, Raise) and rule.then.flag in joined_flags:
            chains[rule.id] = json.dumps({"t": "g", "name": rule.then.flag, "id": rule.id})[:-1]
    try:
        definitions, groups = group_alpha_tests(definitions)
    except TooManyBranches as err:
        raise RuleBaseError([RuleError(MANIFEST, None, "files", f"too complex for the engine: {err}")]) from None
    return Compiled(definitions, rule_of, chains, keys, dense, falsy, groups)
