"""Rule conditions in disjunctive normal form: the branches under which a condition is
established (`positive`) or not established (`negative`), each a conjunction of tests on the
encounter fact plus the finding and flag facts it joins. No durable import here.

The branches follow what durable-rules can test (measured here):
  * `$not` patterns lose unrelated pending activations when they retract, so negation is never
    handed to durable: "not established" is rewritten into positive tests on the fact;
  * an absent key fails every test, `$neq` included, so an unknown boolean or enum is written
    as "?" (a value no test expects) and "not established" becomes `$neq true`. Unknown numbers
    stay absent and are tested with `$nex`.
"At least n of these findings" joins n finding facts of one group in rising rank, one durable
rule instead of every combination.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cds.triage.conditions import (
    All,
    Any_,
    AtLeast,
    Condition,
    FieldAtom,
    FindingRef,
    FlagRef,
    NotEstablished,
    QuantityAtom,
    ScoreAtom,
)
from cds.triage.fields import BY_PATH

UNKNOWN = "?"
MAX_BRANCHES = 96
_NEGATE = {"gte": "lt", "gt": "lte", "lte": "gt", "lt": "gte"}


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


def tested_keys(branches: Iterable[Branch]) -> set[str]:
    return {key for b in branches for key, _, _ in b.tests}


def false_keys(branches: Iterable[Branch]) -> set[str]:
    """Keys some branch tests for `false`: they must be present whenever they are known."""
    return {key for b in branches for key, op, value in b.tests if op == "eq" and value is False}


def negated_keys(branches: Iterable[Branch]) -> set[str]:
    """Keys some branch tests with `$neq`: they must always be present in the fact."""
    return {key for b in branches for key, op, _ in b.tests if op == "neq"}
