"""From a validated encounter to the facts the rules read: known values by dotted path (an
absent or null field is simply not there: unknown), and derived quantities."""

from __future__ import annotations

from typing import Any

from cds.conditions import Condition, Context
from cds.fields import FIELDS
from cds.rulebase import RuleBase

# section -> member name -> dotted path, for the clinical fields of the catalogue
_PATHS: dict[str, dict[str, str]] = {}
for _f in FIELDS:
    if _f.clinical:
        assert _f.section, f"a clinical field belongs to a section: {_f.path}"
        _PATHS.setdefault(_f.section, {})[_f.name] = _f.path


def known_values(encounter: dict[str, Any]) -> dict[str, Any]:
    """The clinical fields given a value, by dotted path; a name not in the catalogue is ignored.
    Walks what the encounter holds rather than the whole catalogue: most requests name a part."""
    values: dict[str, Any] = {}
    for section, members in encounter.items():
        paths = _PATHS.get(section)
        if paths is None or not isinstance(members, dict):
            continue
        for name, value in members.items():
            if value is not None:
                path = paths.get(name)
                if path is not None:
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
