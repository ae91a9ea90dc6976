"""The thresholds the rule base sets on each number field: what a reader of a measurement
recorded as a bound (a laboratory's ">8", cds.fhir.bounds) weighs the bound against. A bound
says on which side of a threshold the value lies only if the threshold does not fall inside it,
and these are every threshold a rule could test the field against.

A field is given here only when every rule that reads it compares it with a number: a field a
score reads (NEWS2's bands), a derived quantity reads (a difference, whose thresholds are not
the field's), an implied answer reads, or a condition tests any other way, is left out, and so
is a field no rule tests (a bound would fill it with a value nothing needs)."""

from __future__ import annotations

from collections.abc import Iterable

from cds.triage.conditions import Condition, FieldAtom
from cds.triage.fields import BY_PATH
from cds.triage.rulebase import RuleBase

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
