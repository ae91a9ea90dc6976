"""A reading of one field (Reading), and which readings, made at one time or reopened by a newer
one, a newer or fuller reading supersedes (newest wins: readings.py). Each function returns the
readings kept; the collector counts the others as superseded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.fhir.bounds import Bound, alike, allows
from cds.fhir.resources import UNDATED
from cds.triage.fields import BY_PATH
from cds.triage.thresholds import Cut


@dataclass
class Reading:
    field: str
    when: datetime
    value: Any  # None: this reading leaves the field unknown
    source: dict[str, str]
    bound: Bound | None = None  # read from a bound (">8"), as the number it names (bounds.py)
    said: datetime = UNDATED  # when it was recorded, which orders readings (newest wins)
    wider: bool = False  # a wider record present: it reopens an older "no", and only that
    problem: str | None = None  # why a reading that leaves the field unknown could not be read
    until: datetime | None = None  # a time stated only to the day: its last moment (UTC)
    container: str | None = None  # the resource that holds it (contained: its id is local)
    early: bool = False  # dated ahead of the evaluation (timed: beyond a clock's skew): unplaced
    past: bool = False  # a clinical status of the past (resolved, inactive): says nothing of today

    @property
    def record(self) -> tuple[str, str, str | None]:
        """The record it was read from: type, id, and the container of a contained one."""
        return (self.source.get("resource_type", ""), self.source.get("id", ""), self.container)


def said_no(value: Any) -> bool:
    """A finding recorded absent (headache none, leg weakness none); never a number (0 == False)."""
    return value is False or value == "none"


# the grades at the top of the danger each field's rules weigh (any altered consciousness is
# NEWS2's 3 and qSOFA's altered mentation; weakness of either kind, a cord-compression trigger).
KEPT = {
    "symptoms.headache": frozenset({"severe"}),
    "symptoms.leg_weakness": frozenset({"unilateral", "bilateral"}),
    "vitals.consciousness": frozenset({"new_confusion", "voice", "pain", "unresponsive"}),
    "pain.trend": frozenset({"worsening", "rapidly_worsening"}),
}


def _outgrown(path: str, value: Any) -> bool:
    """Whether a wider record present, or a "don't know", newer than `value`, may mean more
    than it: a "no"; a grade below those KEPT (a headache recorded at 10:00, its severity not
    said, may be severe now that it was "mild" at 08:00); any answer of another choice field
    (a "don't know" of the onset at 10:00 is not the "gradual" of 08:00). Then the field is
    unknown, and asked."""
    spec = BY_PATH[path]
    if spec.kind == "bool":
        return value is False
    if path in KEPT:
        return value not in KEPT[path]
    return spec.kind == "enum"


# how far a result has come (ObservationStatus): a later stage supersedes an earlier one of the
# same time
_STATUS_RANK = {"preliminary": 0, "final": 1, "amended": 2, "corrected": 2}


def reopened(path: str, readings: list[Reading]) -> list[Reading]:
    """The readings less the wider records present (and findings asked but not answered),
    which take out only each older value they may outgrow (_outgrown): a paresis recorded at
    10:00 reopens "no weakness" of 08:00 (unknown, and asked), and leaves a paraplegia of
    08:00 standing (it is one)."""
    wider = [r for r in readings if r.wider]
    if not wider:
        return readings
    latest = max(r.said for r in wider)
    return [r for r in readings if not r.wider and not (_outgrown(path, r.value) and r.said < latest)]


def by_status(latest: list[Reading]) -> list[Reading]:
    """The readings of one time, less those a later status of the same resource supersedes:
    FHIR R4 says an amended or corrected result was modified after being final, and a final
    one completes a preliminary one (a lactate sent as its preliminary and its final version
    was a conflict, and left unknown). Only versions of one resource (its type and id) are
    weighed so: two resources that disagree are a conflict for a clinician, whatever their
    statuses (a final "no saddle numbness" beside a recorded one must not pass in silence); a
    contained resource's id is its container's, so "1" in two reports is two resources."""
    if len(latest) < 2:
        return latest
    versions: dict[tuple[str, str, str | None], list[Reading]] = {}
    for r in latest:
        versions.setdefault(r.record, []).append(r)
    keep: list[Reading] = []
    for (_, rid, _), group in versions.items():
        # a version dated ahead cannot be placed against the others, whatever its status (a final
        # "no" timed 13:00 beat the preliminary "yes" of 11:00, in silence, at 12:00)
        keep += [r for r in group if r.early]
        group = [r for r in group if not r.early]
        if not rid or len(group) < 2:
            keep += group
            continue
        ranks = [_STATUS_RANK.get(r.source.get("status", "final"), 1) for r in group]
        keep += [r for r, rank in zip(group, ranks, strict=True) if rank == max(ranks)]
    return keep


def beside_values(latest: list[Reading], cuts: tuple[Cut, ...]) -> list[Reading]:
    """The readings of one time, less those read from a bound that another says as much as:
    a plain value the bound allows (">8" beside 9.2: the 9.2), or another bound that answers
    every threshold alike (">8" beside ">10": one of them). A bound that disagrees stays, to
    make the conflict."""
    bounds = [r for r in latest if r.bound is not None]
    if not bounds:
        return latest
    plain = [r for r in latest if r.bound is None]
    if plain:
        agree = [b for b in bounds if b.bound is not None and all(allows(b.bound, r.value) for r in plain)]
        return plain + [b for b in bounds if b not in agree]
    if alike([r.value for r in bounds], cuts):
        return bounds[:1]
    return bounds
