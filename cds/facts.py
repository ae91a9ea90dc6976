"""From a validated encounter to the facts the rules read: known values by dotted path (an
absent or null field is simply not there: unknown), and derived quantities."""

from __future__ import annotations

from typing import Any

from cds.conditions import Condition, Context
from cds.fields import FIELDS
from cds.rulebase import RuleBase

_CLINICAL = tuple((f.path, f.section, f.name) for f in FIELDS if f.clinical)


def known_values(encounter: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path, section, name in _CLINICAL:
        container = encounter.get(section)
        if container:
            value = container.get(name)
            if value is not None:
                values[path] = value
    return values


class FactBuilder:
    """Holds what every evaluation shares, so building a context is only the per-encounter work."""

    def __init__(self, rb: RuleBase) -> None:
        self.quantities = tuple(rb.quantities.values())
        self.inputs = {q.id: q.inputs for q in self.quantities}
        self.finding_rules: dict[str, Condition] = {fid: r.when for fid, r in rb.finding_rule.items()}
        self.flag_rules: dict[str, list[Condition]] = {
            flag: [r.when for r in rules] for flag, rules in rb.flag_rules.items()
        }

    def context(self, encounter: dict[str, Any]) -> Context:
        values = known_values(encounter)
        quantities: dict[str, float | None] = {}
        for q in self.quantities:
            a, b = values.get(q.minuend), values.get(q.subtrahend)
            quantities[q.id] = None if a is None or b is None else a - b
        return Context(
            values=values,
            quantities=quantities,
            quantity_inputs=self.inputs,
            finding_rules=self.finding_rules,
            flag_rules=self.flag_rules,
        )
