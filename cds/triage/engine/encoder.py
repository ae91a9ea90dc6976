"""An encounter written as durable's encounter fact: one flat JSON object, as small as the
rules allow (durable parses the fact and copies it into every firing's message)."""

from __future__ import annotations

from typing import Any

from cds.triage.context import Context
from cds.triage.engine.alpha import GROUP_PREFIX
from cds.triage.engine.dnf import UNKNOWN, field_key, item_key, quantity_key, score_key
from cds.triage.fields import FIELDS


class FactEncoder:
    """Writes an encounter as one flat durable fact, as small as the rules allow: durable parses
    the fact and copies it into every firing's message. Only keys some rule tests are written.
    A key that some rule tests for "not" (`$neq`) must be present to be tested, so it carries
    every value, "?" when unknown; any other key is written only when it holds a value a rule
    looks for (true, or a known value), since an absent key fails every positive test."""

    def __init__(self, used: set[str], dense: set[str], falsy: set[str], groups: int = 0) -> None:
        plan: list[tuple[str, str, str, tuple[tuple[str, str, bool], ...]]] = []
        for spec in FIELDS:
            if not spec.clinical:
                continue
            key = field_key(spec.path)
            if spec.kind == "enum_list":
                items = tuple(
                    (i, item_key(spec.path, i), item_key(spec.path, i) in dense)
                    for i in spec.choices
                    if item_key(spec.path, i) in used
                )
                if items:
                    plan.append((spec.path, "list", key, items))
            elif key in used:
                if spec.numeric:
                    kind = "number"
                elif key in dense:
                    kind = "dense"
                else:
                    # a boolean some rule tests for `false` is written whenever it is known
                    kind = "sparse_bool" if spec.kind == "bool" and key not in falsy else "sparse"
                plan.append((spec.path, kind, key, ()))
        self.plan = tuple(plan)
        self.used = frozenset(used)
        self.head: dict[str, Any] = {"t": "e", **{f"{GROUP_PREFIX}{g}": 1 for g in range(groups)}}

    def encode(self, ctx: Context) -> dict[str, Any]:
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
                for item, ikey, dense in items:
                    if value is None:
                        if dense:
                            fact[ikey] = UNKNOWN
                    elif item in value:
                        fact[ikey] = True
                    elif dense:
                        fact[ikey] = False
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
