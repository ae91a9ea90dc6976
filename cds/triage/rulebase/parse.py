"""Rule conditions and conclusions as written in the rule files, turned into the condition tree
(cds.triage.conditions) and checked against the field catalogue: what JSON Schema cannot check."""

from __future__ import annotations

from typing import Any

from cds.triage.conditions import (
    COMPARATORS,
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


def _bounds(node: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    bounds = [(op, node[op]) for op in COMPARATORS if op in node]
    if "between" in node:
        low, high = node["between"]
        bounds += [("gte", low), ("lte", high)]
    return tuple(bounds)


def parse(node: dict[str, Any]) -> Condition:
    """Build the tree from a condition already checked against the rule-file JSON Schema."""
    if "all" in node:
        return All(tuple(parse(n) for n in node["all"]))
    if "any" in node:
        return Any_(tuple(parse(n) for n in node["any"]))
    if "at_least" in node:
        return AtLeast(node["at_least"], tuple(parse(n) for n in node["of"]))
    if "not_established" in node:
        return NotEstablished(parse(node["not_established"]))
    if "finding" in node:
        return FindingRef(node["finding"])
    if "flag" in node:
        return FlagRef(node["flag"])
    if "score" in node:
        ((op, bound),) = _bounds(node)
        return ScoreAtom(node["score"], op, bound)
    if "quantity" in node:
        return QuantityAtom(node["quantity"], _bounds(node))
    path = node["field"]
    if node.get("absent"):
        return FieldAtom(path, absent=True)
    if "is" in node:
        return FieldAtom(path, is_=node["is"])
    if "in" in node:
        return FieldAtom(path, in_=tuple(node["in"]))
    if "contains" in node:
        return FieldAtom(path, contains=node["contains"])
    return FieldAtom(path, bounds=_bounds(node))


def check_atom(atom: FieldAtom) -> str | None:
    """The semantic check JSON Schema cannot make: does the test fit the field's kind?"""
    spec = BY_PATH.get(atom.path)
    if spec is None:
        return f"unknown field '{atom.path}'"
    if atom.absent:
        return None
    if atom.is_ is not None:
        if spec.kind == "bool" and isinstance(atom.is_, bool):
            return None
        if spec.kind == "enum" and atom.is_ in spec.choices:
            return None
        return f"'is' does not fit {spec.kind} field '{atom.path}'" + (
            f" (choices: {', '.join(spec.choices)})" if spec.choices else ""
        )
    if atom.in_:
        if spec.kind != "enum":
            return f"'in' needs an enum field; '{atom.path}' is {spec.kind}"
        bad = [v for v in atom.in_ if v not in spec.choices]
        return f"'{atom.path}' has no value(s) {bad}" if bad else None
    if atom.contains is not None:
        if spec.kind != "enum_list":
            return f"'contains' needs a list field; '{atom.path}' is {spec.kind}"
        return None if atom.contains in spec.choices else f"'{atom.path}' has no item '{atom.contains}'"
    if not spec.numeric:
        return f"comparisons need a numeric field; '{atom.path}' is {spec.kind}"
    if not atom.bounds:
        return f"the test of '{atom.path}' is empty"
    return None
