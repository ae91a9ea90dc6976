"""The thresholds the rule base sets on each number field: what a reader of a measurement
recorded as a bound (a laboratory's ">8", cds.fhir.bounds) weighs the bound against. A bound
says on which side of a threshold the value lies only if the threshold does not fall inside it,
and these are every threshold a rule could test the field against.

A field is given here only when every rule that reads it compares it with a number: a field a
score reads (NEWS2's bands), a derived quantity reads (a difference, whose thresholds are not
the field's), an implied answer reads, or a condition tests any other way, is left out, and so
is a field no rule tests (a bound would fill it with a value nothing needs).

The interview previews answers from the same walk: every answer the rules test a field for, and
every line drawn on it, whatever else reads the field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cds.triage.conditions import Condition, FieldAtom
from cds.triage.fields import BY_PATH
from cds.triage.rulebase import RuleBase
from cds.triage.scores import points_by_answer

Cut = tuple[str, float]  # (comparator of the rule: gte, gt, lte, lt; the number it compares with)


def _conditions(rb: RuleBase) -> Iterable[Condition]:
    for rule in rb.rules:
        yield from rule.when.walk()
    for criterion in rb.qsofa_criteria.values():
        yield from criterion.walk()


def number_cuts(rb: RuleBase) -> dict[str, tuple[Cut, ...]]:
    """Per number field that only comparisons read, every comparison the rule base makes of it."""
    excluded: set[str] = set()
    for parameter in rb.news2["parameters"].values():
        excluded.update(v for k, v in parameter.items() if k.endswith("field") and isinstance(v, str))
    for quantity in rb.quantities.values():
        excluded.update(quantity.inputs)
    for imp in rb.implications:
        excluded.update((imp.when.path, imp.target))
    cuts: dict[str, set[Cut]] = {}
    for node in _conditions(rb):
        if not isinstance(node, FieldAtom):
            continue  # a quantity's inputs are excluded above; a score's, with NEWS2's
        spec = BY_PATH.get(node.path)
        if spec is None or not spec.numeric or not node.bounds or node.absent or node.is_ is not None or node.in_:
            excluded.add(node.path)
            continue
        cuts.setdefault(node.path, set()).update((op, float(bound)) for op, bound in node.bounds)
    return {path: tuple(sorted(c)) for path, c in sorted(cuts.items()) if path not in excluded}


def tested_answers(rb: RuleBase) -> dict[str, list[Any]]:
    """Field -> the answers the rules test it for (`is`, `in`, `contains`: a pain site alone), in
    rule order, then those qSOFA's criteria test and those NEWS2 scores by answer (being on
    oxygen scores on its own, and can alone bring NEWS2 to an emergency)."""
    out: dict[str, dict[Any, None]] = {}
    for node in _conditions(rb):
        if isinstance(node, FieldAtom):
            for v in (node.is_, *node.in_, node.contains):
                if v is not None:
                    out.setdefault(node.path, {})[v] = None
    for param in rb.news2["parameters"].values():
        if "values" in param:
            out.setdefault(param["field"], {}).update(dict.fromkeys(points_by_answer(param)))
    return {p: list(vs) for p, vs in out.items()}


def drawn_lines(rb: RuleBase) -> dict[str, list[Cut]]:
    """Field -> every line its rules and its NEWS2 bands draw (what an interview previews a number
    on each side of), whatever else reads the field."""
    out: dict[str, set[Cut]] = {}
    for node in _conditions(rb):
        if isinstance(node, FieldAtom):
            out.setdefault(node.path, set()).update((op, float(bound)) for op, bound in node.bounds)
    for param in rb.news2["parameters"].values():
        bands = list(param.get("bands", ())) + [b for s in param.get("scales", {}).values() for b in s]
        for band in bands:
            for key, op in (("up_to", "lte"), ("above", "gt")):
                if isinstance(band.get(key), int | float):
                    out.setdefault(param["field"], set()).add((op, float(band[key])))
    return {path: sorted(v) for path, v in out.items() if v}
