"""The whole rule base as one generated Python function, evaluated in Kleene's three-valued logic.

The condition trees of cds.triage.conditions evaluate through nested closures: clear, but each node is
a call. Evaluating every rule of rule base 2.0.0 that way took about 50 µs, twice per request
(the decision, and the self-care screen with unknown vital signs taken as normal). Here the same
trees are written once, at start-up, as straight-line code: each field read once into a local,
each node one assignment to a temporary, findings and flags locals in dependency order. It is
the same logic, node for node (`_node` mirrors each `Condition._compile`), and it is checked
against the closures on every generated encounter (tests/test_properties.py), as both are
checked against durable-rules on every evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cds.triage.conditions import (
    All,
    Any_,
    AtLeast,
    Condition,
    FieldAtom,
    FindingRef,
    FlagRef,
    NotEstablished,
    QuantityAtom,
    ScoreAtom,
)
from cds.triage.context import PartialList, Tri
from cds.triage.rulebase import Conclude, Raise, Rule

_OPS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}
# the score arguments of the generated function, by score name: (lower bound, upper bound)
_SCORE_ARGS = {"news2.total": ("n2_lo", "n2_hi"), "news2.max_parameter": ("n2m_lo", "n2m_hi")}


@dataclass(frozen=True)
class Evaluation:
    """Every rule's value, the findings and flags as decided, and each qSOFA criterion's value."""

    rules: dict[str, Tri]
    findings: dict[str, Tri]
    flags: dict[str, Tri]
    qsofa: tuple[Tri, ...]


Run = Callable[[dict[str, Any], dict[str, Any], float, float, float, float], tuple[Any, ...]]


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.fields: dict[str, str] = {}  # path -> local
        self.quantities: dict[str, str] = {}
        self.temps = 0

    def temp(self, expression: str) -> str:
        name = f"t{self.temps}"
        self.temps += 1
        self.lines.append(f"{name} = {expression}")
        return name

    def const(self, value: Any) -> str:
        name = f"c{len(self.consts)}"
        self.consts[name] = value
        return name

    def field(self, path: str) -> str:
        if path not in self.fields:
            self.fields[path] = f"f{len(self.fields)}"
        return self.fields[path]

    def quantity(self, name: str) -> str:
        if name not in self.quantities:
            self.quantities[name] = f"q{len(self.quantities)}"
        return self.quantities[name]


def _node(w: _Writer, node: Condition, findings: dict[str, str], flags: dict[str, str], qsofa: str | None) -> str:
    """The local holding the node's value, after writing the code that computes it."""
    if isinstance(node, (All, Any_)):
        kids = [_node(w, c, findings, flags, qsofa) for c in node.items]
        decisive, other = ("True", "False") if isinstance(node, Any_) else ("False", "True")
        hit = " or ".join(f"{k} is {decisive}" for k in kids)
        open_ = " or ".join(f"{k} is None" for k in kids)
        return w.temp(f"{decisive} if ({hit}) else (None if ({open_}) else {other})")
    if isinstance(node, AtLeast):
        kids = [_node(w, c, findings, flags, qsofa) for c in node.items]
        true = w.temp(" + ".join(f"({k} is True)" for k in kids))
        unknown = w.temp(" + ".join(f"({k} is None)" for k in kids))
        n = node.count
        return w.temp(f"True if {true} >= {n} else (None if {true} + {unknown} >= {n} else False)")
    if isinstance(node, NotEstablished):
        return w.temp(f"{_node(w, node.item, findings, flags, qsofa)} is not True")
    if isinstance(node, FindingRef):
        return findings[node.finding]
    if isinstance(node, FlagRef):
        return flags.get(node.flag, "False")
    if isinstance(node, ScoreAtom):
        op, bound = _OPS[node.op], w.const(node.bound)
        low, high = ("qs_lo", "qs_hi") if node.score == "qsofa.score" else _SCORE_ARGS[node.score]
        if node.score == "qsofa.score" and qsofa is None:
            raise ValueError("qSOFA read before it is computed")
        return w.temp(f"True if {low} {op} {bound} else (None if {high} {op} {bound} else False)")
    if isinstance(node, QuantityAtom):
        q = w.quantity(node.quantity)
        tests = " and ".join(f"{q} {_OPS[op]} {w.const(b)}" for op, b in node.bounds)
        return w.temp(f"None if {q} is None else ({tests})")
    assert isinstance(node, FieldAtom)
    f = w.field(node.path)
    if node.absent:
        return w.temp(f"{f} is None")
    if node.is_ is not None:
        test = f"{f} is {node.is_}" if isinstance(node.is_, bool) else f"{f} == {w.const(node.is_)}"
    elif node.in_:
        test = f"{f} in {w.const(frozenset(node.in_))}"
    elif node.contains is not None:
        # a partial list (context.PartialList) leaves the items it does not name unknown
        partial = w.const(PartialList)
        return w.temp(
            f"None if {f} is None else (True if {w.const(node.contains)} in {f} else "
            f"(None if {f}.__class__ is {partial} else False))"
        )
    else:
        test = " and ".join(f"{f} {_OPS[op]} {w.const(b)}" for op, b in node.bounds)
    return w.temp(f"None if {f} is None else ({test})")


def compile_rules(rules: tuple[Rule, ...], qsofa_criteria: dict[str, Condition], qsofa_at: int) -> Run:
    """The generated evaluator: run(values, quantities, news2 total low/high, max low/high)
    returns (rules, findings, flags, qSOFA criteria). qSOFA is computed before rule `qsofa_at`,
    the first that reads it (it reads a finding)."""
    w = _Writer()
    findings: dict[str, str] = {}
    flags: dict[str, str] = {}
    rule_locals: list[tuple[str, str]] = []
    criteria: list[str] = []
    for i, rule in enumerate(rules):
        if i == qsofa_at:
            criteria = [_node(w, c, findings, flags, None) for c in qsofa_criteria.values()]
            w.lines.append(f"qs_lo = {' + '.join(f'({c} is True)' for c in criteria) or '0'}")
            w.lines.append(f"qs_hi = qs_lo + {' + '.join(f'({c} is None)' for c in criteria) or '0'}")
        value = _node(w, rule.when, findings, flags, "qs" if i >= qsofa_at else None)
        rule_locals.append((rule.id, value))
        if isinstance(rule.then, Conclude):
            findings[rule.then.finding] = value
        elif isinstance(rule.then, Raise):
            flag = rule.then.flag
            current = flags.get(flag)
            if current is None:
                flags[flag] = value
            else:
                flags[flag] = w.temp(
                    f"True if ({current} is True or {value} is True) else "
                    f"(None if ({current} is None or {value} is None) else False)"
                )
    if qsofa_at >= len(rules):
        criteria = [_node(w, c, findings, flags, None) for c in qsofa_criteria.values()]
    head = [f"{local} = values.get({w.const(path)})" for path, local in w.fields.items()]
    head += [f"{local} = quantities.get({w.const(name)})" for name, local in w.quantities.items()]
    body = [
        *head,
        *w.lines,
        "return ("
        + "{"
        + ", ".join(f"{w.const(rid)}: {local}" for rid, local in rule_locals)
        + "}, {"
        + ", ".join(f"{w.const(fid)}: {local}" for fid, local in findings.items())
        + "}, {"
        + ", ".join(f"{w.const(fid)}: {local}" for fid, local in flags.items())
        + "}, ("
        + "".join(f"{c}, " for c in criteria)
        + "))",
    ]
    source = "def run(values, quantities, n2_lo, n2_hi, n2m_lo, n2m_hi):\n" + "\n".join(f"    {line}" for line in body)
    namespace: dict[str, Any] = dict(w.consts)
    exec(compile(source, "<cds.triage.kleene: the rule base>", "exec"), namespace)  # noqa: S102 - code we generated
    run: Run = namespace["run"]
    return run
