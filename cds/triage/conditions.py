"""Rule conditions: parsed from the YAML rule files into a small tree, evaluated in Kleene's
three-valued logic (True, False, None for unknown).

The same tree serves three questions: is the condition established (`evaluate`), which unknown
inputs could still establish it (`pending`, the source of `missing`), and which known inputs
established it (`support`, the `matched` of the trace). The trees are built from the rule files
by cds/triage/rulebase/parse.py. Two more evaluations of the same trees exist, for speed and for
the engine: cds/triage/kleene.py (one generated function) and cds/triage/engine/compile.py
(durable-rules); the three are cross-checked.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cds.triage.context import Context, PartialList, Tri, contains
from cds.triage.fields import BY_PATH

COMPARATORS = ("gte", "gt", "lte", "lt")
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
}


Evaluator = Callable[[Context], Tri]


def _kleene(items: tuple[Condition, ...], decisive: bool) -> Evaluator:
    """Kleene's AND (decisive False) or OR (decisive True): the decisive value wins, else any
    unknown makes the whole unknown, else the other value."""
    fns = tuple(c.evaluate for c in items)
    otherwise = not decisive

    def combine(ctx: Context) -> Tri:
        result: Tri = otherwise
        for fn in fns:
            v = fn(ctx)
            if v is decisive:
                return decisive
            if v is None:
                result = None
        return result

    return combine


class Condition:
    """A node of a rule's condition. Its value is compiled once into a closure (`evaluate`):
    every evaluation runs each rule of the rule base, so the tree is not walked by method calls."""

    evaluate: Evaluator

    def __post_init__(self) -> None:
        object.__setattr__(self, "evaluate", self._compile())

    def _compile(self) -> Evaluator:
        raise NotImplementedError

    def pending(self, ctx: Context, out: set[str]) -> None:
        """Add the unknown inputs that could still make this (undecided) condition true."""

    def alone(self, ctx: Context, out: set[str]) -> None:
        """Add the unknown inputs one answer to which could make this (undecided) condition true
        by itself, the others still unknown: what makes a question the more dangerous to leave
        unasked (`missing`). A subset of `pending`; where one answer could only help, it is left
        out (a score that needs two unknown parameters)."""

    def support(self, ctx: Context, out: dict[str, Any]) -> None:
        """Add the known inputs that make this (true) condition true."""

    def children(self) -> tuple[Condition, ...]:
        return ()

    def walk(self) -> Iterable[Condition]:
        yield self
        for child in self.children():
            yield from child.walk()


@dataclass(frozen=True, eq=False)
class All(Condition):
    items: tuple[Condition, ...]

    def _compile(self) -> Evaluator:
        return _kleene(self.items, decisive=False)

    def pending(self, ctx: Context, out: set[str]) -> None:
        values = [c.evaluate(ctx) for c in self.items]
        if False in values:
            return
        for c, v in zip(self.items, values, strict=False):
            if v is None:
                c.pending(ctx, out)

    def alone(self, ctx: Context, out: set[str]) -> None:
        # one answer must complete every undecided part: an input each of them can take alone
        # (an infected wound is both a sign of infection and the wound the rule asks for)
        sets = []
        for c in self.items:
            if c.evaluate(ctx) is None:
                part: set[str] = set()
                c.alone(ctx, part)
                sets.append(part)
        if sets:
            out |= set.intersection(*sets)

    def support(self, ctx: Context, out: dict[str, Any]) -> None:
        for c in self.items:
            c.support(ctx, out)

    def children(self) -> tuple[Condition, ...]:
        return self.items


class _SomeOf(Condition):
    """What "any of" and "at least n of" share: any undecided item could still help make the
    condition true, and the true items are what made it true."""

    items: tuple[Condition, ...]

    def pending(self, ctx: Context, out: set[str]) -> None:
        for c in self.items:
            if c.evaluate(ctx) is None:
                c.pending(ctx, out)

    def alone(self, ctx: Context, out: set[str]) -> None:
        for c in self.items:
            if c.evaluate(ctx) is None:
                c.alone(ctx, out)

    def support(self, ctx: Context, out: dict[str, Any]) -> None:
        for c in self.items:
            if c.evaluate(ctx) is True:
                c.support(ctx, out)

    def children(self) -> tuple[Condition, ...]:
        return self.items


@dataclass(frozen=True, eq=False)
class Any_(_SomeOf):
    items: tuple[Condition, ...]

    def _compile(self) -> Evaluator:
        return _kleene(self.items, decisive=True)


@dataclass(frozen=True, eq=False)
class AtLeast(_SomeOf):
    count: int
    items: tuple[Condition, ...]

    def _compile(self) -> Evaluator:
        fns = tuple(c.evaluate for c in self.items)
        count = self.count

        def at_least(ctx: Context) -> Tri:
            values = [fn(ctx) for fn in fns]
            true = values.count(True)
            if true >= count:
                return True
            if true + values.count(None) < count:
                return False
            return None

        return at_least

    def alone(self, ctx: Context, out: set[str]) -> None:
        # one answer more can only complete a count that is one short
        if [c.evaluate(ctx) for c in self.items].count(True) == self.count - 1:
            super().alone(ctx, out)

    def combinations(self, size: int) -> Iterable[tuple[Condition, ...]]:
        return itertools.combinations(self.items, size)


@dataclass(frozen=True, eq=False)
class NotEstablished(Condition):
    """True when the inner condition is not established: false, or still unknown."""

    item: Condition

    def _compile(self) -> Evaluator:
        inner = self.item.evaluate
        return lambda ctx: inner(ctx) is not True

    def support(self, ctx: Context, out: dict[str, Any]) -> None:
        inner = self.item
        if isinstance(inner, (FindingRef, FlagRef)):
            out[inner.key] = inner.evaluate(ctx)
        else:
            for node in inner.walk():
                if isinstance(node, FieldAtom):
                    out[node.path] = ctx.values.get(node.path)

    def children(self) -> tuple[Condition, ...]:
        return (self.item,)


@dataclass(frozen=True, eq=False)
class FieldAtom(Condition):
    """A test of one encounter field: `is`, `in`, `contains`, comparisons, or `absent`."""

    path: str
    is_: Any = None
    in_: tuple[Any, ...] = ()
    contains: str | None = None
    bounds: tuple[tuple[str, float], ...] = ()
    absent: bool = False

    def _compile(self) -> Evaluator:
        path = self.path
        if self.absent:
            return lambda ctx: path not in ctx.values
        if self.is_ is not None:
            want = self.is_
            if isinstance(want, bool):  # booleans are singletons: identity is exact and fast
                return lambda ctx: None if (v := ctx.values.get(path)) is None else v is want
            return lambda ctx: None if (v := ctx.values.get(path)) is None else v == want
        if self.in_:
            allowed = frozenset(self.in_)
            return lambda ctx: None if (v := ctx.values.get(path)) is None else v in allowed
        if self.contains is not None:
            item = self.contains
            return lambda ctx: None if (v := ctx.values.get(path)) is None else contains(v, item)
        if len(self.bounds) == 1:
            ((op, bound),) = self.bounds
            test = COMPARE[op]
            return lambda ctx: None if (v := ctx.values.get(path)) is None else test(v, bound)
        bounds = tuple((COMPARE[op], bound) for op, bound in self.bounds)
        return lambda ctx: None if (v := ctx.values.get(path)) is None else all(t(v, b) for t, b in bounds)

    def pending(self, ctx: Context, out: set[str]) -> None:
        value = ctx.values.get(self.path)
        if self.absent:
            return
        if value is None or (self.contains is not None and contains(value, self.contains) is None):
            out.add(self.path)

    def alone(self, ctx: Context, out: set[str]) -> None:
        self.pending(ctx, out)

    def support(self, ctx: Context, out: dict[str, Any]) -> None:
        value = ctx.values.get(self.path)
        out[self.path] = list(value) if isinstance(value, PartialList) else value


@dataclass(frozen=True, eq=False)
class FindingRef(Condition):
    finding: str

    @property
    def key(self) -> str:
        return f"finding.{self.finding}"

    def _compile(self) -> Evaluator:
        finding = self.finding
        return lambda ctx: ctx.findings.get(finding)

    def pending(self, ctx: Context, out: set[str]) -> None:
        found = ctx.finding_pending.get(self.finding)
        if found is None:
            inputs: set[str] = set()
            ctx.finding_rules[self.finding].pending(ctx, inputs)
            found = ctx.finding_pending[self.finding] = frozenset(inputs)
        out |= found

    def alone(self, ctx: Context, out: set[str]) -> None:
        ctx.finding_rules[self.finding].alone(ctx, out)

    def support(self, ctx: Context, out: dict[str, Any]) -> None:
        out[self.key] = True


@dataclass(frozen=True, eq=False)
class FlagRef(Condition):
    flag: str

    @property
    def key(self) -> str:
        return f"flag.{self.flag}"

    def _compile(self) -> Evaluator:
        flag = self.flag
        return lambda ctx: ctx.flags.get(flag, False)

    def pending(self, ctx: Context, out: set[str]) -> None:
        for cond in ctx.flag_rules.get(self.flag, ()):
            if cond.evaluate(ctx) is None:
                cond.pending(ctx, out)

    def alone(self, ctx: Context, out: set[str]) -> None:
        for cond in ctx.flag_rules.get(self.flag, ()):
            if cond.evaluate(ctx) is None:
                cond.alone(ctx, out)

    def support(self, ctx: Context, out: dict[str, Any]) -> None:
        out[self.key] = True


@dataclass(frozen=True, eq=False)
class ScoreAtom(Condition):
    """A threshold on a score. Scores are lower bounds: the threshold is met when the known
    parameters already reach it, ruled out when even the unknown ones could not."""

    score: str
    op: str
    bound: float

    @property
    def key(self) -> str:
        return f"scores.{self.score}"

    def _compile(self) -> Evaluator:
        score, test, bound = self.score, COMPARE[self.op], self.bound

        def threshold(ctx: Context) -> Tri:
            s = ctx.scores[score]
            if test(s.low, bound):
                return True
            if not test(s.high, bound):
                return False
            return None

        return threshold

    def pending(self, ctx: Context, out: set[str]) -> None:
        out.update(ctx.scores[self.score].unknown)

    def alone(self, ctx: Context, out: set[str]) -> None:
        s, test = ctx.scores[self.score], COMPARE[self.op]
        if self.score.endswith(".max_parameter"):  # one parameter scoring enough by itself
            out.update(path for path, _, most in s.parts if test(most, self.bound))
            return
        gain: dict[str, int] = {}  # an input may score in two parameters (oxygen, SpO2 scale 2)
        for path, fewest, most in s.parts:
            gain[path] = gain.get(path, 0) + most - fewest
        out.update(path for path, extra in gain.items() if test(s.low + extra, self.bound))

    def support(self, ctx: Context, out: dict[str, Any]) -> None:
        out[self.key] = ctx.scores[self.score].low


@dataclass(frozen=True, eq=False)
class QuantityAtom(Condition):
    quantity: str
    bounds: tuple[tuple[str, float], ...]

    @property
    def key(self) -> str:
        return f"quantity.{self.quantity}"

    def _compile(self) -> Evaluator:
        quantity = self.quantity
        bounds = tuple((COMPARE[op], bound) for op, bound in self.bounds)
        return lambda ctx: None if (v := ctx.quantities.get(quantity)) is None else all(t(v, b) for t, b in bounds)

    def pending(self, ctx: Context, out: set[str]) -> None:
        out.update(p for p in ctx.quantity_inputs[self.quantity] if ctx.values.get(p) is None)

    def alone(self, ctx: Context, out: set[str]) -> None:
        inputs: set[str] = set()
        self.pending(ctx, inputs)
        if len(inputs) != 1:
            return
        (path,) = inputs
        # only if a value within the field's range can cross the bounds (a usual systolic of
        # at most 250 cannot be 40 above a systolic of 292)
        minuend, subtrahend = ctx.quantity_inputs[self.quantity]
        spec = BY_PATH[path]
        if spec.low is None or spec.high is None:
            out.add(path)
            return
        known = ctx.values[subtrahend if path == minuend else minuend]
        ends = [e - known if path == minuend else known - e for e in (spec.low, spec.high)]
        low, high = min(ends), max(ends)
        if all(_reachable(op, bound, low, high) for op, bound in self.bounds):
            out.add(path)

    def support(self, ctx: Context, out: dict[str, Any]) -> None:
        out[self.key] = ctx.quantities.get(self.quantity)
        for path in ctx.quantity_inputs[self.quantity]:
            out[path] = ctx.values.get(path)


def _reachable(op: str, bound: float, low: float, high: float) -> bool:
    """Whether some number between `low` and `high` passes `op bound`."""
    return COMPARE[op](high, bound) if op in ("gt", "gte") else COMPARE[op](low, bound)
