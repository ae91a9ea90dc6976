"""A measurement recorded as a bound (valueQuantity.comparator: a lactate of ">8", a CRP of
"<5"): a range, not a value. It is read as the number it names only when that number answers
every threshold the rule base sets on the field (cds.triage.thresholds) as the whole range
does. A lactate of ">8" is then 8 (at least 4, and at least 2, whatever it is), and a CRP of
"<5" is 5 (not above 100); a lactate of ">3" stays unknown (it may or may not reach 4), and so
does a CRP of ">100" (it is above 100, but 100 itself is not). The range is the bound as
recorded, converted without the rounding a plain value gets, which could carry it across a
threshold (a lactate of ">35.7 mg/dL" is above 3.963 mmol/L, not above 4.0); the number it is
read as is converted as a plain value is, and must answer alike too (a lactate of "<17.9 mg/dL"
is below 1.987, but 17.9 mg/dL reads 2.0, which is 2 or more: unknown)."""

from __future__ import annotations

from collections.abc import Iterable

from cds.triage.conditions import COMPARE
from cds.triage.context import Tri

Bound = tuple[str, float]  # (comparator, the number it bounds by, in the field's unit)
# FHIR's comparators, as the rules' comparisons; "ad" (sufficient to achieve) is not a bound on a value
_AS_RULE = {"<": "lt", "<=": "lte", ">=": "gte", ">": "gt"}
COMPARATORS = tuple(_AS_RULE)


def _whole(comparator: str, bound: float, op: str, t: float) -> Tri:
    """The answer of `x op t` for every x the bound allows; None when it differs within."""
    closed = comparator in ("<=", ">=")
    if comparator in (">", ">="):  # x from the bound upwards, without end
        if op in ("gte", "lt"):  # x >= t everywhere once the bound is at least t
            holds = bound >= t
        else:  # gt, lte: x > t everywhere; the bound itself must be above t when it is allowed
            holds = bound > t if closed else bound >= t
        return (op == "gte" or op == "gt") if holds else None
    # x from the bound downwards
    if op in ("lte", "gt"):
        holds = bound <= t
    else:  # lt, gte: x < t everywhere; the bound itself must be below t when it is allowed
        holds = bound < t if closed else bound <= t
    return (op == "lte" or op == "lt") if holds else None


def reads_as(comparator: str, bound: float, value: float, cuts: Iterable[tuple[str, float]]) -> bool:
    """Whether `value` (the bound as a plain reading would give it) answers every threshold in
    `cuts` as every value the recorded bound allows does."""
    if comparator not in COMPARATORS:
        return False
    for op, t in cuts:
        whole = _whole(comparator, bound, op, t)
        if whole is None or whole is not COMPARE[op](value, t):
            return False
    return True


def allows(bound: Bound, value: float) -> bool:
    """Whether a value lies within a bound (a plain reading made at the same time as it)."""
    comparator, number = bound
    return COMPARE[_AS_RULE[comparator]](value, number)


def alike(values: Iterable[float], cuts: Iterable[tuple[str, float]]) -> bool:
    """Whether the values answer every threshold alike (two bounds read at the same time: ">8"
    and ">10" both say "4 or more")."""
    answers = {tuple(COMPARE[op](v, t) for op, t in cuts) for v in values}
    return len(answers) <= 1
