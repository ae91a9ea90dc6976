"""What one evaluation knows: the known values of the encounter (implied answers included),
the derived quantities and scores, and the findings and flags as they are decided. Built by
answers.py; read by the conditions (conditions.py) and everything after them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

Tri = bool | None


class PartialList(tuple[str, ...]):
    """A list answer that names some of its items and says nothing of the others (pain sites
    from a record of one site): `contains` an item not named is unknown, not false."""

    __slots__ = ()


def contains(values: Any, item: str) -> Tri:
    """Whether a known list answer holds `item`, in three-valued logic."""
    if item in values:
        return True
    return None if values.__class__ is PartialList else False


class Pending(Protocol):
    """What the condition of a finding or flag offers the conditions that read it
    (cds.triage.conditions.Condition): its value, the unknown inputs it waits on, and those one
    answer to which could make it true by itself."""

    evaluate: Callable[[Context], Tri]

    def pending(self, ctx: Context, out: set[str]) -> None: ...

    def alone(self, ctx: Context, out: set[str]) -> None: ...


@dataclass
class Context:
    """What one evaluation knows: the known field values and everything derived so far."""

    values: dict[str, Any]
    quantities: dict[str, float | None] = field(default_factory=dict)
    quantity_inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    scores: dict[str, ScoreBound] = field(default_factory=dict)
    findings: dict[str, Tri] = field(default_factory=dict)
    finding_rules: Mapping[str, Pending] = field(default_factory=dict)
    flags: dict[str, Tri] = field(default_factory=dict)
    flag_rules: Mapping[str, list[Pending]] = field(default_factory=dict)
    implied: tuple[Any, ...] = ()  # the implied answers applied (rulebase.Implication)
    # what `pending` found for each undecided finding: many rules read the same finding
    finding_pending: dict[str, frozenset[str]] = field(default_factory=dict)


class ScoreBound(NamedTuple):
    """A score computed from its known parameters: `low` is what is certain, `high` the most it
    could reach once every unknown parameter is known; `unknown` names those parameters. (A
    named tuple: several are made per evaluation, at a third of a frozen dataclass's cost.)"""

    low: float
    high: float
    unknown: tuple[str, ...]
    # each unknown parameter's (input, fewest points, most points): what one answer can add
    parts: tuple[tuple[str, int, int], ...] = ()
