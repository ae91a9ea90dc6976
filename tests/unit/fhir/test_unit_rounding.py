"""A unit conversion rounded to the field's reported precision (terminology.yaml `decimals`) must
never lower a triage: every rule threshold on such a field lies on the rounding grid and is met
from below (gte, or lt as the next band's gte), so rounding can carry a reading up to a
threshold it is within half a step of, never down past one."""

from __future__ import annotations

from cds.fhir.terminology import CodedQuantity, terminology
from cds.triage.conditions import FieldAtom


def test_every_threshold_on_a_rounded_field_lies_on_the_grid_and_is_met_from_below(rulebase):
    rounded = {
        e.field.path: min(u.decimals for u in e.units.values() if u.decimals is not None)
        for e in {id(e): e for e in terminology().by_code.values()}.values()
        if isinstance(e, CodedQuantity) and any(u.decimals is not None for u in e.units.values())
    }
    assert rounded, "no unit is rounded: this test guards nothing"
    checked = 0
    for rule in rulebase.rules:
        for node in rule.when.walk():
            if isinstance(node, FieldAtom) and node.path in rounded:
                for op, bound in node.bounds:
                    assert op in ("gte", "lt"), (rule.id, op)
                    assert round(bound, rounded[node.path]) == bound, (rule.id, bound)
                    checked += 1
    assert checked
