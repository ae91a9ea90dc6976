"""How the rule base and an encounter are written for durable-rules (no durable import here).

durable-rules matches facts with patterns joined across facts. Its behaviours, measured here,
shape this module:
  * every durable rule costs each session about 0.3 µs even when it never fires, while a `$or`
    inside one pattern costs almost nothing; so each rule is put in disjunctive normal form and
    the branches that join the same facts share one durable rule (`ID#k`) as a `$or`;
  * a pattern fires once per matching `$or` branch, each firing an action (~2 µs); with `cap`
    the matches ready at once come to one action, and the engine keeps the first firing of a
    rule and ignores any later one;
  * `$not` patterns lose unrelated pending activations when they retract, so negation is never
    handed to durable: "not established" is rewritten into positive tests on the fact;
  * an absent key fails every test, `$neq` included, so an unknown boolean or enum is written
    as "?" (a value no test expects) and "not established" becomes `$neq true`. Unknown numbers
    stay absent and are tested with `$nex`.
Derived findings and raised flags that other rules name are asserted as facts of their own
({"t": "f", "name": ...} and {"t": "g", "name": ...}), which is the forward chaining; the
encounter fact is {"t": "e"}. A fact's "id" is its identity in durable (asserting an id twice
fails), so it is never a finding's or flag's name: it is the concluding rule's id, or a counter
for the encounter.
"At least n of these findings" joins n finding facts of one group in rising rank, one durable
rule instead of every combination.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cds.conditions import (
    All,
    Any_,
    AtLeast,
    Condition,
    Context,
    FieldAtom,
    FindingRef,
    FlagRef,
    NotEstablished,
    QuantityAtom,
    ScoreAtom,
)
from cds.fields import BY_PATH, FIELDS

UNKNOWN = "?"
MAX_BRANCHES = 96
_NEGATE = {"gte": "lt", "gt": "lte", "lte": "gt", "lt": "gte"}
_DURABLE_OP = {"gte": "$gte", "gt": "$gt", "lte": "$lte", "lt": "$lt"}


def field_key(path: str) -> str:
    return path.replace(".", "__")


def item_key(path: str, item: str) -> str:
    return f"{field_key(path)}__{item}"


def score_key(score: str) -> str:
    return "score__" + score.replace(".", "_")


def quantity_key(quantity: str) -> str:
    return f"q__{quantity}"


# A test is a hashable tuple: (key, op, value) with op one of eq, neq, gte, gt, lte, lt, ex, nex.
Test = tuple[str, str, Any]


def group_key(findings: Iterable[str]) -> str:
    """The fact property that marks (and ranks) the members of one "at least n of" group."""
    members = "|".join(sorted(findings))
    return "g__" + hashlib.sha256(members.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Branch:
    """One conjunction: tests on the encounter fact plus finding and flag facts to join, and
    groups of which at least n members must be joined (group key, n)."""

    tests: frozenset[Test] = frozenset()
    findings: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    groups: frozenset[tuple[str, int]] = frozenset()

    def merge(self, other: Branch) -> Branch:
        return Branch(
            self.tests | other.tests,
            self.findings | other.findings,
            self.flags | other.flags,
            self.groups | other.groups,
        )

    @property
    def joins(self) -> tuple[frozenset[str], frozenset[str], frozenset[tuple[str, int]]]:
        return (self.findings, self.flags, self.groups)


DNF = list[Branch]
Resolver = Callable[[str], Condition]


class TooManyBranches(ValueError):
    pass


def _satisfiable(tests: frozenset[Test]) -> bool:
    by_key: dict[str, list[tuple[str, Any]]] = {}
    for key, op, value in tests:
        by_key.setdefault(key, []).append((op, value))
    for constraints in by_key.values():
        ops = {op for op, _ in constraints}
        if "nex" in ops and ops - {"nex"}:
            return False
        eq = {repr(v) for op, v in constraints if op == "eq"}
        if len(eq) > 1:
            return False
        if eq and any(op == "neq" and repr(v) in eq for op, v in constraints):
            return False
        low, high = float("-inf"), float("inf")
        low_open = high_open = False
        for op, v in constraints:
            if op in ("gte", "gt") and (v > low or (v == low and op == "gt")):
                low, low_open = v, op == "gt"
            if op in ("lte", "lt") and (v < high or (v == high and op == "lt")):
                high, high_open = v, op == "lt"
        if low > high or (low == high and (low_open or high_open)):
            return False
    return True


def _product(dnfs: Iterable[DNF]) -> DNF:
    result: DNF = [Branch()]
    for dnf in dnfs:
        merged = [a.merge(b) for a in result for b in dnf]
        result = [b for b in merged if _satisfiable(b.tests)]
        if len(result) > MAX_BRANCHES:
            raise TooManyBranches(f"expands to more than {MAX_BRANCHES} durable branches")
    return _dedupe(result)


def _union(dnfs: Iterable[DNF]) -> DNF:
    result = _dedupe([b for dnf in dnfs for b in dnf])
    if len(result) > MAX_BRANCHES:
        raise TooManyBranches(f"expands to more than {MAX_BRANCHES} durable branches")
    return result


def _normalise(branch: Branch) -> Branch:
    # `$ex` adds nothing next to a comparison on the same key: a comparison needs the key.
    compared = {key for key, op, _ in branch.tests if op not in ("ex", "nex", "eq", "neq")}
    tests = frozenset(t for t in branch.tests if not (t[1] == "ex" and t[0] in compared))
    return Branch(tests, branch.findings, branch.flags, branch.groups)


def _covers(a: Branch, b: Branch) -> bool:
    return a.tests <= b.tests and a.findings <= b.findings and a.flags <= b.flags and a.groups <= b.groups


def _dedupe(branches: DNF) -> DNF:
    """Drop repeated branches and branches implied by another (A or (A and B) is A), which
    also spares durable a second firing of the same rule."""
    unique = list(dict.fromkeys(_normalise(b) for b in branches))
    return [b for b in unique if not any(a is not b and _covers(a, b) for a in unique)]


def _tests(*tests: Test) -> DNF:
    return [Branch(tests=frozenset(tests))]


def _numeric_key(node: FieldAtom | QuantityAtom) -> str:
    return quantity_key(node.quantity) if isinstance(node, QuantityAtom) else field_key(node.path)


def positive(node: Condition, finding_rule: Resolver, flag_rules: Callable[[str], list[Condition]]) -> DNF:
    """The branches under which `node` is established (True in three-valued logic)."""

    def pos(n: Condition) -> DNF:
        if isinstance(n, All):
            return _product(pos(c) for c in n.items)
        if isinstance(n, Any_):
            return _union(pos(c) for c in n.items)
        if isinstance(n, AtLeast):
            if all(isinstance(c, FindingRef) for c in n.items):
                key = group_key(c.finding for c in n.items if isinstance(c, FindingRef))
                return [Branch(groups=frozenset([(key, n.count)]))]
            return _union(_product(pos(c) for c in combo) for combo in n.combinations(n.count))
        if isinstance(n, NotEstablished):
            return negative(n.item, finding_rule, flag_rules)
        if isinstance(n, FindingRef):
            return [Branch(findings=frozenset([n.finding]))]
        if isinstance(n, FlagRef):
            return [Branch(flags=frozenset([n.flag]))]
        if isinstance(n, ScoreAtom):
            return _tests((score_key(n.score), n.op, n.bound))
        if isinstance(n, QuantityAtom):
            key = quantity_key(n.quantity)
            return _tests(*((key, op, b) for op, b in n.bounds))
        assert isinstance(n, FieldAtom)
        spec = BY_PATH[n.path]
        key = field_key(n.path)
        if n.absent:
            if spec.numeric:
                return _tests((key, "nex", 1))
            if spec.kind == "enum_list":
                return _tests((item_key(n.path, spec.choices[0]), "eq", UNKNOWN))
            return _tests((key, "eq", UNKNOWN))
        if n.is_ is not None:
            return _tests((key, "eq", n.is_))
        if n.in_:
            # a field holds one value, so these branches never fire together
            return [Branch(tests=frozenset([(key, "eq", v)])) for v in n.in_]
        if n.contains is not None:
            return _tests((item_key(n.path, n.contains), "eq", True))
        return _tests(*((key, op, b) for op, b in n.bounds))

    return pos(node)


def negative(node: Condition, finding_rule: Resolver, flag_rules: Callable[[str], list[Condition]]) -> DNF:
    """The branches under which `node` is not established (False or unknown)."""

    def neg(n: Condition) -> DNF:
        if isinstance(n, All):
            return _union(neg(c) for c in n.items)
        if isinstance(n, Any_):
            return _product(neg(c) for c in n.items)
        if isinstance(n, AtLeast):
            # fewer than `count` hold: some len(items) - count + 1 of them are not established
            size = len(n.items) - n.count + 1
            return _union(_product(neg(c) for c in combo) for combo in n.combinations(size))
        if isinstance(n, NotEstablished):
            return positive(n.item, finding_rule, flag_rules)
        if isinstance(n, FindingRef):
            return neg(finding_rule(n.finding))
        if isinstance(n, FlagRef):
            return _product(neg(c) for c in flag_rules(n.flag))
        if isinstance(n, ScoreAtom):
            return _tests((score_key(n.score), _NEGATE[n.op], n.bound))
        if isinstance(n, (QuantityAtom, FieldAtom)) and (isinstance(n, QuantityAtom) or BY_PATH[n.path].numeric):
            key = _numeric_key(n)
            if isinstance(n, FieldAtom) and n.absent:
                return _tests((key, "ex", 1))
            return _union([_tests((key, "nex", 1))] + [_tests((key, _NEGATE[op], b)) for op, b in n.bounds])
        assert isinstance(n, FieldAtom)
        spec = BY_PATH[n.path]
        key = field_key(n.path)
        if n.absent:
            if spec.kind == "enum_list":
                return _tests((item_key(n.path, spec.choices[0]), "neq", UNKNOWN))
            return _tests((key, "neq", UNKNOWN))
        if n.is_ is not None:
            return _tests((key, "neq", n.is_))
        if n.in_:
            return _tests(*((key, "neq", v) for v in n.in_))
        assert n.contains is not None
        return _tests((item_key(n.path, n.contains), "neq", True))

    return neg(node)


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


# durable's C core walks the alpha network of one fact with a fixed stack of 64 pending nodes
# (MAX_STACK_SIZE in events.c; beyond it the assert fails with error 303). Every test that
# matches is pushed before any is followed, so a node with many matching children fills it: an
# encounter answered "yes" throughout matched over 100 first tests of the encounter's patterns.
ALPHA_STACK_LIMIT = 64
ALPHA_STACK_BUDGET = 48  # what a rule base may use, leaving room for the chained-fact patterns
GROUP_PREFIX = "a__"


def _first_tests(test: dict[str, Any]) -> list[str]:
    if "$or" in test:
        return [t for part in test["$or"] for t in _first_tests(part)]
    if "$and" in test:
        return _first_tests(test["$and"][0])
    return [json.dumps(test, sort_keys=True)]


def _paths(test: dict[str, Any]) -> list[tuple[str, ...]]:
    """The chains of alpha tests a pattern's test compiles to (one per `$or` branch)."""
    if "$or" in test:
        return [p for part in test["$or"] for p in _paths(part)]
    if "$and" in test:
        out: list[tuple[str, ...]] = [()]
        for part in test["$and"]:
            out = [a + b for a in out for b in _paths(part)]
        return out
    return [(json.dumps(test, sort_keys=True),)]


def alpha_stack_bound(definitions: Iterable[dict[str, Any]]) -> int:
    """An upper bound of the pending alpha nodes while durable matches one fact: the tests as a
    prefix tree (durable shares a node between equal tests under one parent), each node's
    children all taken to match. A node's children are pushed together, then the last one is
    followed, so the peak is the sum, along a path, of the siblings left waiting."""
    tree: dict[str, Any] = {}
    for definition in definitions:
        for pattern in definition["all"]:
            for test in pattern.values():
                for path in _paths(test):
                    node = tree
                    for key in path:
                        node = node.setdefault(key, {})

    def bound(node: dict[str, Any]) -> int:
        if not node:
            return 0
        return len(node) - 1 + max(1, max(bound(child) for child in node.values()))

    return bound(tree)


def _encounter_tests(definition: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tests of a definition's encounter pattern after {"t": "e"}, if it has any."""
    head = definition["all"][0].get("e")
    if isinstance(head, dict) and "$and" in head and head["$and"][0] == {"t": "e"}:
        tests: list[dict[str, Any]] = head["$and"]
        return tests
    return None


def _grouped(definitions: dict[str, dict[str, Any]], capacity: int) -> tuple[dict[str, dict[str, Any]], int]:
    """The definitions with a group test after {"t": "e"}: each group gathers durable rules
    until it holds `capacity` distinct first tests, so no node has too many children."""
    out: dict[str, dict[str, Any]] = {}
    group, seen = 0, set[str]()
    for name, definition in definitions.items():
        head = _encounter_tests(definition)
        if head is None:
            out[name] = definition
            continue
        firsts = set(_first_tests(head[1]))
        if seen and len(seen | firsts) > capacity:
            group, seen = group + 1, set()
        seen |= firsts
        tests = [head[0], {f"{GROUP_PREFIX}{group}": 1}, *head[1:]]
        out[name] = {**definition, "all": [{"e": {"$and": tests}}, *definition["all"][1:]]}
    return out, group + 1


def group_alpha_tests(definitions: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], int]:
    """The definitions regrouped to keep durable's alpha stack within budget, and the number of
    group keys the encounter fact must carry. Raises TooManyBranches when no grouping fits."""
    if alpha_stack_bound(definitions.values()) <= ALPHA_STACK_BUDGET:
        return definitions, 0
    # every group key is one more property of every fact and one more pass over its properties:
    # the fewest groups that fit the budget, found from the largest capacity down
    heads = [h for h in map(_encounter_tests, definitions.values()) if h is not None]
    firsts = {t for head in heads for t in _first_tests(head[1])}
    lowest = None
    for capacity in range(min(len(firsts), ALPHA_STACK_BUDGET), 0, -1):
        grouped, groups = _grouped(definitions, capacity)
        bound = alpha_stack_bound(grouped.values())
        if bound <= ALPHA_STACK_BUDGET:
            return grouped, groups
        lowest = bound if lowest is None else min(lowest, bound)
    raise TooManyBranches(
        f"durable would need {lowest} of its {ALPHA_STACK_LIMIT} alpha-stack slots (budget {ALPHA_STACK_BUDGET})"
    )


class FactEncoder:
    """Writes an encounter as one flat durable fact, as small as the rules allow: durable parses
    the fact and copies it into every firing's message. Only keys some rule tests are written.
    A key that some rule tests for "not" (`$neq`) must be present to be tested, so it carries
    every value, "?" when unknown; any other key is written only when it holds a value a rule
    looks for (true, or a known value), since an absent key fails every positive test."""

    def __init__(self, used: set[str], dense: set[str], falsy: set[str], groups: int = 0) -> None:
        plan: list[tuple[str, str, str, tuple[tuple[str, str, bool], ...]]] = []
        for spec in FIELDS:
            if not spec.clinical:
                continue
            key = field_key(spec.path)
            if spec.kind == "enum_list":
                items = tuple(
                    (i, item_key(spec.path, i), item_key(spec.path, i) in dense)
                    for i in spec.choices
                    if item_key(spec.path, i) in used
                )
                if items:
                    plan.append((spec.path, "list", key, items))
            elif key in used:
                if spec.numeric:
                    kind = "number"
                elif key in dense:
                    kind = "dense"
                else:
                    # a boolean some rule tests for `false` is written whenever it is known
                    kind = "sparse_bool" if spec.kind == "bool" and key not in falsy else "sparse"
                plan.append((spec.path, kind, key, ()))
        self.plan = tuple(plan)
        self.used = frozenset(used)
        self.head: dict[str, Any] = {"t": "e", **{f"{GROUP_PREFIX}{g}": 1 for g in range(groups)}}

    def encode(self, ctx: Context) -> dict[str, Any]:
        fact: dict[str, Any] = dict(self.head)
        values = ctx.values
        for path, kind, key, items in self.plan:
            value = values.get(path)
            if kind == "sparse_bool":
                if value is True:
                    fact[key] = True
            elif kind == "sparse" or kind == "number":
                if value is not None:
                    fact[key] = value
            elif kind == "dense":
                fact[key] = UNKNOWN if value is None else value
            else:
                for item, ikey, dense in items:
                    if value is None:
                        if dense:
                            fact[ikey] = UNKNOWN
                    elif item in value:
                        fact[ikey] = True
                    elif dense:
                        fact[ikey] = False
        used = self.used
        for name, bound in ctx.scores.items():
            key = score_key(name)
            if key in used:
                fact[key] = bound.low
        for name, quantity in ctx.quantities.items():
            key = quantity_key(name)
            if quantity is not None and key in used:
                fact[key] = quantity
        return fact


def tested_keys(branches: Iterable[Branch]) -> set[str]:
    return {key for b in branches for key, _, _ in b.tests}


def false_keys(branches: Iterable[Branch]) -> set[str]:
    """Keys some branch tests for `false`: they must be present whenever they are known."""
    return {key for b in branches for key, op, value in b.tests if op == "eq" and value is False}


def negated_keys(branches: Iterable[Branch]) -> set[str]:
    """Keys some branch tests with `$neq`: they must always be present in the fact."""
    return {key for b in branches for key, op, _ in b.tests if op == "neq"}
