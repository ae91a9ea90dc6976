"""The questions an interview asks that `missing` leaves out: the benign outcome's pattern, and
inputs an implied answer filled. Neither is unknown to the rules, or can raise a flag as
`missing` counts, yet each answer can change the outcome, and a call must not stop before it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cds.triage.context import PartialList
from cds.triage.decide import Decision
from cds.triage.fields import ORDER
from cds.triage.missing import Ranked
from cds.triage.questions import Catalogue, Question
from cds.triage.rulebase import LEVEL_RANK, Rule

# a preview of one more answer: (level, raised flags by level, rules that fire); None when the
# answer contradicts one given
Preview = Callable[[Question, Any], tuple[str, dict[str, str], frozenset[str]] | None]


def pattern_open(pattern: Iterable[Rule], d: Decision) -> set[str]:
    """The unknown inputs the benign outcome's pattern still waits on. They raise nothing, so
    `missing` leaves them out; but while nothing is raised they decide between routine and
    self-care, and a call that never asks whether the pain is on both sides never reaches
    self-care for a plain viral ache (found driving the page)."""
    pending: set[str] = set()
    for rule in pattern:
        if d.values[rule.id] is None:
            rule.when.pending(d.ctx, pending)
    return pending


def pattern_questions(pattern: Iterable[Rule], d: Decision, ranked: list[Ranked]) -> list[Ranked]:
    """The pattern's questions not already ranked, after the others of their reach: they can
    keep the level routine at most."""
    listed = {r.path for r in ranked}
    asked = frozenset(d.encounter.get("asked_unknown") or ())
    extra = sorted(pattern_open(pattern, d) - listed, key=lambda p: ORDER.get(p, 999))
    return [Ranked(p, [], LEVEL_RANK["routine"], 1, p in asked) for p in extra]


def implied_questions(
    catalogue: Catalogue,
    d: Decision,
    now: tuple[str, dict[str, str], frozenset[str]],
    acting: Iterable[str],
    preview: Preview,
) -> list[Ranked]:
    """The inputs an implied answer filled whose explicit answer would change the outcome: the
    specification lets an explicit answer stand over an implied one, so "not on oxygen now"
    leaves a new oxygen need to ask, and a patient recorded as male a pregnancy (found driving
    the page: both showed "cannot change the result", the call stopped at self-care, and a Yes
    to the new need of oxygen was an emergency)."""
    out: list[Ranked] = []
    asked = frozenset(d.encounter.get("asked_unknown") or ())
    level, flags, held = now
    for imp in d.ctx.implied:
        q = catalogue.by_path.get(imp.target)
        if q is None or not q.applies(d.ctx.values):
            continue
        moving = []
        for answer in (a.value for a in q.answers if a.value is not None):
            p = preview(q, answer)
            if p is not None and (p[0] != level or p[1] != flags or any(r in p[2] and r not in held for r in acting)):
                moving.append(p)
        if moving:
            raised = sorted({f for p in moving for f, at in p[1].items() if flags.get(f) != at})
            out.append(Ranked(q.path, raised, max(LEVEL_RANK[p[0]] for p in moving), 1, q.path in asked))
    return out


def waiting_questions(
    lowering: Iterable[str], d: Decision, level: int, raised: list[str], cannot: frozenset[str], listed: set[str]
) -> list[Ranked]:
    """The unknown inputs an answer to which could undo a raised flag (missing.lowering_inputs),
    not already ranked: the stop waits on them, so they are asked, after the others of their
    reach (the level now). Found by a triage workflow audit: with dysuria, a urinary infection
    raised and every other answer given, the pain sites were never listed and the interview
    neither stopped nor asked anything."""
    asked = frozenset(d.encounter.get("asked_unknown") or ())
    values = d.ctx.values
    waiting = [p for p in lowering if p not in listed and (p not in values or isinstance(values[p], PartialList))]
    waiting.sort(key=lambda p: (p in cannot, ORDER.get(p, 999)))
    return [Ranked(p, list(raised), level, 2 if p in cannot else 1, p in asked) for p in waiting]
