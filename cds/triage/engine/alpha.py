"""Keeping durable's alpha network walk within its fixed stack (docs/decisions/0006).

durable's C core walks the alpha network of one fact with a fixed stack of 64 pending nodes
(MAX_STACK_SIZE in events.c; beyond it the assert fails with error 303). Every test that matches
is pushed before any is followed, so a node with many matching children fills it: an encounter
answered "yes" throughout matched over 100 first tests of the encounter's patterns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from cds.triage.engine.dnf import TooManyBranches

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
