"""The answers of an encounter, as one evaluation knows them (a Context): the known values by
dotted path (an absent or null field is simply not there: unknown), the answers they imply
(principle 8), and the derived quantities."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cds.problems import validation_problem
from cds.triage.context import Context, PartialList, Pending
from cds.triage.fields import FIELDS
from cds.triage.rulebase import Implication, RuleBase

# section -> member name -> (dotted path, the value that says "not known" or None), for the
# clinical fields: patient.sex "unknown", and an empty list (section 11 of the specification)
_PATHS: dict[str, dict[str, tuple[str, Any]]] = {}
for _f in FIELDS:
    if _f.clinical:
        assert _f.section, f"a clinical field belongs to a section: {_f.path}"
        _unknown: Any = [] if _f.kind == "enum_list" else _f.means_unknown
        _PATHS.setdefault(_f.section, {})[_f.name] = (_f.path, _unknown)


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
                entry = paths.get(name)
                if entry is not None and (entry[1] is None or value != entry[1]):
                    values[entry[0]] = value
    sites = values.get("pain.sites")
    if sites is not None and encounter["pain"].get("sites_partial") is True:
        values["pain.sites"] = PartialList(sites)
    return values


class AnswerReader:
    """Holds what every evaluation shares, so building a context is only the per-encounter work."""

    def __init__(self, rb: RuleBase) -> None:
        self.quantities = tuple(rb.quantities.values())
        self.inputs = {q.id: q.inputs for q in self.quantities}
        self.finding_rules: dict[str, Pending] = {fid: r.when for fid, r in rb.finding_rule.items()}
        self.flag_rules: dict[str, list[Pending]] = {
            flag: [r.when for r in rules] for flag, rules in rb.flag_rules.items()
        }
        self.implications = rb.implications

    def context(self, encounter: dict[str, Any]) -> Context:
        """The context of an encounter: its answers, and the answers they imply. Explicit answers
        that contradict each other where the specification says they cannot are refused (422)."""
        values = known_values(encounter)
        return self.context_of(values, self.imply(values))

    def check(self, encounter: dict[str, Any]) -> None:
        """Refuse (422) answers that contradict each other, as `context` would, building nothing:
        a form that shows each contradiction beside its questions, and evaluates the rest."""
        self.imply(known_values(encounter))

    def context_of(self, values: dict[str, Any], implied: tuple[Implication, ...] = ()) -> Context:
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
            implied=implied,
        )

    def imply(self, values: dict[str, Any]) -> tuple[Implication, ...]:
        """Fill unknown inputs that explicit answers imply (in place); the implications applied.
        Only explicit answers imply, so the order of the implications does not matter."""
        explicit = dict(values)
        applied: list[Implication] = []
        errors: list[dict[str, str]] = []
        for imp in self.implications:
            given = explicit.get(imp.when.path)
            if given is None or given != imp.when.is_:
                continue
            stated = explicit.get(imp.target)
            if stated is None:
                values[imp.target] = imp.value
                applied.append(imp)
            elif stated != imp.value and imp.refuse:
                detail = f"{imp.title}: the answers to {imp.when.path} and {imp.target} contradict each other"
                errors.append({"field": imp.when.path, "message": detail})
                errors.append({"field": imp.target, "message": detail})
        if errors:
            # two implications can say the same of one pair (numbness in one leg, in both legs)
            first = {e["field"]: e for e in sorted(errors, key=lambda e: (e["field"], e["message"]))}
            raise validation_problem(list(first.values()))
        return tuple(applied)


def left_unknown(refused: Iterable[str], value: Callable[[str], Any]) -> list[str]:
    """Of answers refused as contradicting each other (principle 8), the ones to leave unknown
    where they must still be evaluated (records of an EHR, a nurse's page): the "no" of the pair,
    keeping the "yes", which can raise a flag and implies the other; all of them if none is a no.
    Leaving both out made the level fall below what the "yes" alone gives."""
    refused = list(refused)
    noes = [path for path in refused if value(path) is False or value(path) == "none"]
    return noes or refused
