"""An encounter written as durable's encounter fact: one flat JSON object, as small as the
rules allow (durable parses the fact and copies it into every firing's message)."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from cds.triage.context import Context, PartialList
from cds.triage.engine.alpha import GROUP_PREFIX
from cds.triage.engine.dnf import UNKNOWN, field_key, item_key, quantity_key, score_key
from cds.triage.fields import FIELDS


class ListItem(NamedTuple):
    item: str  # a value of the list field
    key: str  # its key in the fact
    dense: bool  # written whenever the list is known (some rule tests it for "not")


class Write(NamedTuple):
    """How one field goes into the fact: `sparse_bool` only when true, `sparse` and `number` only
    when known, `dense` always ("?" when unknown), `list` one key per item."""

    path: str
    kind: Literal["sparse_bool", "sparse", "number", "dense", "list"]
    key: str
    items: tuple[ListItem, ...] = ()


class FactEncoder:
    """Writes an encounter as one flat durable fact, as small as the rules allow: durable parses
    the fact and copies it into every firing's message. Only keys some rule tests are written.
    A key that some rule tests for "not" (`$neq`) must be present to be tested, so it carries
    every value, "?" when unknown; any other key is written only when it holds a value a rule
    looks for (true, or a known value), since an absent key fails every positive test."""

    def __init__(self, used: set[str], dense: set[str], falsy: set[str], groups: int = 0) -> None:
        plan: list[Write] = []
        for spec in FIELDS:
            if not spec.clinical:
                continue
            key = field_key(spec.path)
            if spec.kind == "enum_list":
                items = tuple(
                    ListItem(i, item_key(spec.path, i), item_key(spec.path, i) in dense)
                    for i in spec.choices
                    if item_key(spec.path, i) in used
                )
                if items:
                    plan.append(Write(spec.path, "list", key, items))
            elif key in used:
                plan.append(Write(spec.path, _kind(spec.numeric, spec.kind == "bool", key in dense, key in falsy), key))
        self.plan = tuple(plan)
        self.used = frozenset(used)
        self.head: dict[str, Any] = {"t": "e", **{f"{GROUP_PREFIX}{g}": 1 for g in range(groups)}}

    def encode(self, ctx: Context) -> dict[str, Any]:
        # the plan's tuples are unpacked positionally: this runs for every request
        fact: dict[str, Any] = dict(self.head)
        values = ctx.values
        for path, kind, key, items in self.plan:
            value = values.get(path)
            if kind == "sparse_bool":
                if value is True:
                    fact[key] = True
            elif kind == "sparse" or kind == "number":
                if value is not None:
                    fact[key] = value
            elif kind == "dense":
                fact[key] = UNKNOWN if value is None else value
            else:
                partial = value.__class__ is PartialList
                for item, ikey, dense in items:
                    if value is None:
                        if dense:
                            fact[ikey] = UNKNOWN
                    elif item in value:
                        fact[ikey] = True
                    elif dense:
                        fact[ikey] = UNKNOWN if partial else False
        used = self.used
        for name, bound in ctx.scores.items():
            key = score_key(name)
            if key in used:
                fact[key] = bound.low
        for name, quantity in ctx.quantities.items():
            key = quantity_key(name)
            if quantity is not None and key in used:
                fact[key] = quantity
        return fact


def _kind(
    numeric: bool, boolean: bool, dense: bool, falsy: bool
) -> Literal["sparse_bool", "sparse", "number", "dense"]:
    if numeric:
        return "number"
    if dense:
        return "dense"
    # a boolean some rule tests for `false` is written whenever it is known
    return "sparse_bool" if boolean and not falsy else "sparse"
