"""The readings of one FHIR mapping (mapping.py): each resource module (observations.py,
conditions.py, questionnaire.py) reads a resource into a Collector, which keeps what counts in
the field's episode (episodes.py), counts what was ignored and why, field by field, and decides
the encounter: the newest reading wins, pain sites from single records make a partial list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from cds.fhir import superseded
from cds.fhir.bounds import Bound
from cds.fhir.episodes import CLOCK_SKEW, SKEW, Windows, admits
from cds.fhir.resources import UNDATED
from cds.fhir.set_aside import SetAside
from cds.fhir.superseded import Reading, said_no
from cds.fhir.terminology import Terminology
from cds.triage.context import PartialList
from cds.triage.fields import BY_PATH, FIELDS, ORDER
from cds.triage.thresholds import Cut

ZERO = timedelta(0)
Record = tuple[str, str, str | None]  # resource type, id, and the container of a contained one


@dataclass
class MappingResult:
    encounter: dict[str, Any]
    used: list[dict[str, str]]
    ignored: dict[str, int]
    errors: list[dict[str, str]]
    unknown: list[str]
    # field -> reason -> readings of that field that did not fill it
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)
    # active Conditions that record a diagnosis the triage screens for (diagnoses.py): named on
    # a card, never read into a field
    diagnoses: list[dict[str, Any]] = field(default_factory=list)


class Collector(SetAside):
    """The readings of one mapping, with what was ignored and why. Each resource module reads a
    resource into it (read, error, ignore); result() decides the encounter."""

    def __init__(
        self,
        term: Terminology,
        today: date,
        windows: Windows,
        cuts: Mapping[str, tuple[Cut, ...]] | None = None,
        *,
        quoting: bool = True,
    ) -> None:
        self.term = term
        self.quoting = quoting
        self.cuts = cuts or {}  # the rule base's thresholds per number field: how a bound is weighed
        self.today = today
        self.windows = windows
        self.readings: list[Reading] = []
        self.ignored: Counter[str] = Counter()
        self.coverage: dict[str, Counter[str]] = {}
        self.errors: list[dict[str, str]] = []
        self.used: list[dict[str, str]] = []
        self.diagnoses: list[dict[str, Any]] = []
        self.until: datetime | None = None  # the last moment of a time stated only to the day
        self.timed = False  # the resource being read states its time to the second, with its zone
        self.deferred: list[tuple[str, str, str, Any]] = []  # set aside (set_aside.py)
        self.withdrawn: set[Record] = set()  # the records a version entered in error withdraws
        self.container: str | None = None  # the resource holding the one being read (contained)

    @contextmanager
    def stated_until(self, latest: datetime | None, timed: bool = False) -> Iterator[None]:
        """Read one resource whose time is stated only to the day (or month), which allows any
        moment up to `latest` (None: a time stated in full; `timed`: to the second)."""
        self.until, self.timed = latest, timed
        try:
            yield
        finally:
            self.until, self.timed = None, False

    @contextmanager
    def held_in(self, container: str | None) -> Iterator[None]:
        """Read one resource contained in `container` (None: not contained): its id is local to
        its container ("1" in one report is not "1" in another, nor Observation/1)."""
        self.container = container
        try:
            yield
        finally:
            self.container = None

    def ignore(self, reason: str, path: str | None = None) -> None:
        self.ignored[reason] += 1
        if path is not None:
            self.coverage.setdefault(path, Counter())[reason] += 1

    def withdraw(self, resource: dict[str, Any]) -> None:
        """A version marked entered-in-error withdraws the record: any other version of the same
        resource sent beside it (a history, a copy) is not read either."""
        rid = resource.get("id")
        if isinstance(rid, str) and rid:
            self.withdrawn.add((resource["resourceType"], rid, self.container))

    def read(
        self,
        path: str,
        when: datetime | None,
        value: Any,
        source: dict[str, str],
        reason: str | None = None,
        *,
        condition: bool = False,
        negative: bool = False,
        bound: Bound | None = None,
        said: datetime | None = None,
        problem: str | None = None,
    ) -> None:
        """One reading of a field, made at `when` (None: no usable time); it counts only inside
        the field's episode, and a `negative` one (recorded absent, refuted) only within the
        measured window, whatever the episode: a "no" is only as good as the moment it was
        asked (a cancer ruled out in 2005 is not "no history of cancer" today)."""
        episode = self.term.episodes[path]
        # beyond the time zones' allowance a record is of no moment of this evaluation (admits);
        # within it, one dated ahead (timed: beyond a clock's skew) is read, but cannot be placed
        admitted = admits(episode, when, self.windows, condition=condition)
        early = admitted and when is not None and when > self.windows.now + (CLOCK_SKEW if self.timed else ZERO)
        if not admitted or (negative and (when is None or when < self.windows.now - self.windows.measured)):
            self.ignore("outside_episode", path)
            if not admitted and value is not None and not negative:
                self.set_aside(path, episode, when, source, value, condition=condition)
            return
        wider = False
        if value is None and reason:
            self.ignore(reason, path)
            if reason == "narrower_or_wider_code" and negative:
                # a narrower record's absence says nothing of the field: no newer reading of it (a
                # refuted "acute retention" at 10:00 left a retention recorded at 08:00 unknown:
                # routine for the cord-compression emergency)
                return
            # a wider record not plainly absent (present, or interpretations that disagree), and a
            # finding asked and not answered or answered "don't know", reopen an older "no" (a
            # stiff neck unknown at 10:00 is no longer the "no" of 08:00) and leave an older "yes"
            # standing (reopened)
            wider = reason in ("narrower_or_wider_code", "inactive_no") or (
                reason in ("no_value", "answered_unknown") and not BY_PATH[path].numeric
            )
        if said is not None and said > self.windows.now + SKEW:
            # recorded ahead of the clock: when it was made, which orders it, is not known (a
            # thoracic pain begun yesterday and recorded "tomorrow" lost, unnamed, to a form's
            # answer of this morning)
            said, early = when, True
        elif said is None:
            said = when  # recorded when it was made (an Observation)
        until = self.until if value is not None else None
        kept = Reading(path, when or UNDATED, value, source, bound, said or UNDATED, wider, problem, until)
        kept.container, kept.early, kept.past = self.container, early, reason == "inactive"
        self.readings.append(kept)

    def result(self) -> MappingResult:
        by_field: dict[str, list[Reading]] = {}
        for r in self.still_standing():
            by_field.setdefault(r.field, []).append(r)
        values: dict[str, Any] = {}
        for path, readings in by_field.items():
            value = self.sites(readings) if path == "pain.sites" else self.newest(path, readings)
            if value is not None:
                values[path] = value
        self.name_set_aside(values)
        self.used.sort(key=lambda u: ORDER[u["field"]])
        encounter: dict[str, Any] = {}
        for spec in FIELDS:
            if spec.path in values:
                encounter.setdefault(spec.section, {})[spec.name] = values[spec.path]
        sites = values.get("pain.sites")
        if isinstance(sites, PartialList):
            encounter["pain"].update(sites=list(sites), sites_partial=True)
        unknown = [f.path for f in FIELDS if f.clinical and f.path not in values]
        ignored = {reason: n for reason, n in sorted(self.ignored.items()) if n}
        coverage = {
            path: dict(sorted(c.items())) for path, c in sorted(self.coverage.items(), key=lambda i: ORDER[i[0]])
        }
        return MappingResult(encounter, self.used, ignored, self.errors, unknown, coverage, self.diagnoses)

    def still_standing(self) -> list[Reading]:
        """The readings less those of a record another version of which is entered in error (a
        final "no saddle numbness" sent beside its own entered-in-error version was read as the
        patient's answer). The payload does not say which version is the latest, so a withdrawn
        value is set aside as one that cannot be placed: named unless the value read is its own
        (a saddle numbness withdrawn beside an older "no" went in silence)."""
        kept: list[Reading] = []
        for r in self.readings:
            if r.record not in self.withdrawn:
                kept.append(r)
                continue
            self.ignore("entered_in_error", r.field)
            if r.value is not None:
                message = f"{self.ref(r.source)}: another version of it is marked entered in error"
                self.later(r.field, message, r.value, outcome="not used")
        return kept

    def newest(self, path: str, readings: list[Reading]) -> Any:
        readings = self.unasked(path, self.reopened(path, readings))
        if not readings:
            return None
        kind = self.term.episodes[path].kind
        if kind in ("ever", "standing", "recent") and any(r.value is True for r in readings):
            present = [r for r in readings if r.value is True]
            absent = [r for r in readings if r.value is False]
            if kind == "ever":
                # any history: a record that it happened is not undone by a later "no" (a
                # suspected recurrence ruled out does not unmake the cancer)
                for _ in absent:
                    self.ignore("superseded", path)
                readings = present
            elif absent and max(r.said for r in absent) > max(r.said for r in present):
                # a lasting state, or an event of the field's period, recorded present and, later,
                # absent or refuted: which holds is for a clinician, not for the newer date (it
                # may be a wider or narrower record)
                refs = ", ".join(self.ref(r.source) for r in (*present, *absent))
                self.error(path, f"recorded present and, later, absent ({refs}); left unknown")
                self.ignore("conflict", path)
                return None
        newest = max(r.said for r in [r for r in readings if not r.early] or readings)
        # a value stated only to a day that reaches past the newest time may be the newer one:
        # it stands beside the newest, and a disagreement is a conflict (a heart rate of 135 dated
        # today lost, in silence, to an 80 timed at 08:00 today); so does one dated ahead of the
        # evaluation, which cannot be placed (a 72 timed ten hours ahead won over the 135 of ten
        # minutes before, in silence; dropped, a form's saddle numbness timed 13:30 with no zone,
        # at 12:00, lost to an older "no")
        latest = [r for r in readings if r.said == newest or (r.until is not None and r.until > newest) or r.early]
        if all(r.value is None for r in latest):
            # the newest record could not be read, and leaves the field unknown: say why (an
            # unreadable record older than another reading hides nothing, and is not named)
            for r in latest:
                if r.problem is not None:
                    self.error(path, r.problem)
            self.no_longer(path, latest, [r for r in readings if r.said < newest])
        for r in readings:
            if r.said < newest and r.value is not None:
                self.ignore("superseded", path)
        latest = self.without_bounds_beside_values(path, [r for r in latest if r.value is not None])
        latest = self.by_status(path, latest)
        distinct = {(type(r.value).__name__, repr(r.value)): r for r in latest}
        if len(distinct) > 1:
            # every record of the conflict, not one per value: the one named for a "yes" was
            # whichever came last (a form's date-only 135 named, the measured 135 not)
            refs = ", ".join(dict.fromkeys(self.ref(r.source) for r in latest))
            early = list(dict.fromkeys(self.ref(r.source) for r in latest if r.early))
            if early:
                ahead = f"{', '.join(early)} dated ahead of this evaluation, which cannot be placed"
                self.error(path, f"conflicting values ({refs}; {ahead}); left unknown")
            else:
                self.error(path, f"conflicting values recorded at the same time ({refs}); left unknown")
            self.ignore("conflict", path)
            return None
        if not distinct:
            return None
        winner = next(iter(distinct.values()))
        self.used.append(winner.source)
        return winner.value

    def unasked(self, path: str, readings: list[Reading]) -> list[Reading]:
        """The readings less a "no" dated ahead of the evaluation beside a "yes" that can be
        placed: a "no" is only as good as the moment it was asked, and this one's moment is not
        known (a saddle numbness refuted in a record dated tomorrow made a recorded one unknown:
        routine for the cord emergency). A "yes" dated ahead still stands beside a "no"."""
        if not any(not r.early and r.value is not None and not said_no(r.value) for r in readings):
            return readings
        kept = [r for r in readings if not (r.early and said_no(r.value))]
        return self._superseded(path, len(readings), kept)

    def reopened(self, path: str, readings: list[Reading]) -> list[Reading]:
        # the wider records themselves are not superseded: they reopen
        values = sum(not r.wider for r in readings)
        return self._superseded(path, values, superseded.reopened(path, readings))

    def by_status(self, path: str, latest: list[Reading]) -> list[Reading]:
        return self._superseded(path, len(latest), superseded.by_status(latest))

    def without_bounds_beside_values(self, path: str, latest: list[Reading]) -> list[Reading]:
        return self._superseded(path, len(latest), superseded.beside_values(latest, self.cuts.get(path, ())))

    def _superseded(self, path: str, before: int, kept: list[Reading]) -> list[Reading]:
        for _ in range(before - len(kept)):
            self.ignore("superseded", path)
        return kept

    def sites(self, readings: list[Reading]) -> Any:
        """The newest whole answer (a list); when a single record is newer, or any record is dated
        ahead (which cannot be placed against the rest), every site they name as a partial list
        (a thoracic pain answered at 10:00 was dropped, in silence, for a low back pain recorded
        at 11:00 or dated ahead)."""
        whole = [r for r in readings if isinstance(r.value, list)]
        named = [r for r in readings if isinstance(r.value, str)]
        since = max((r.said for r in whole if not r.early), default=None)
        if not named or (since is not None and not any(r.early or r.said > since for r in named)):
            return self.newest("pain.sites", whole) if whole else None
        base: list[str] = []
        if since is not None:
            value = self.newest("pain.sites", whole)  # a whole answer dated ahead stands beside it
            base = list(value) if value is not None else []
        else:  # every whole answer is dated ahead: its sites join the single records'
            base = [site for r in whole for site in r.value]
            self.used += [r.source for r in whole]
        self.used += [r.source for r in named]
        sites = set(base) | {r.value for r in named}
        return PartialList(sorted(sites, key=BY_PATH["pain.sites"].choices.index))
