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
from cds.fhir.dates import utc_label
from cds.fhir.episodes import CLOCK_SKEW, LAG, SKEW, Episode, Windows, admits
from cds.fhir.resources import UNDATED
from cds.fhir.superseded import Reading
from cds.fhir.terminology import Terminology
from cds.triage.context import PartialList
from cds.triage.fields import BY_PATH, FIELDS, ORDER
from cds.triage.thresholds import Cut


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


# The values of a graded field that a wider record present, or "don't know", cannot outgrow:
# a finding observed present before the illness's window, within this, may still be the red flag
# of today (a saddle numbness of last week); an older one is simply old
OBSERVED_BEFORE = timedelta(days=42)


class Collector:
    """The readings of one mapping, with what was ignored and why. Each resource module reads a
    resource into it (read, error, ignore); result() decides the encounter."""

    def __init__(
        self, term: Terminology, today: date, windows: Windows, cuts: Mapping[str, tuple[Cut, ...]] | None = None
    ) -> None:
        self.term = term
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
        self.deferred: list[tuple[str, str]] = []  # set aside: named if nothing else fills the field
        self.withdrawn: set[tuple[str, str]] = set()  # (type, id) of a version entered in error

    @contextmanager
    def stated_until(self, latest: datetime | None, timed: bool = False) -> Iterator[None]:
        """Read one resource whose time is stated only to the day (or month), which allows any
        moment up to `latest` (None: a time stated in full; `timed`: to the second)."""
        self.until, self.timed = latest, timed
        try:
            yield
        finally:
            self.until, self.timed = None, False

    def ahead(self, when: datetime) -> bool:
        """Whether a record made at `when` is dated after the evaluation: beyond a clock's skew
        for a time stated in full, beyond the time zones' for a date."""
        return when > self.windows.now + (CLOCK_SKEW if self.timed else SKEW)

    def ignore(self, reason: str, path: str | None = None) -> None:
        self.ignored[reason] += 1
        if path is not None:
            self.coverage.setdefault(path, Counter())[reason] += 1

    def withdraw(self, resource_type: str, rid: Any) -> None:
        """A version marked entered-in-error withdraws the record: any other version of the same
        resource sent beside it (a history, a copy) is not read either."""
        if isinstance(rid, str) and rid:
            self.withdrawn.add((resource_type, rid))

    def error(self, path: str, message: str) -> None:
        self.errors.append({"field": path, "message": message})

    def later(self, path: str, message: str) -> None:
        """Name a record set aside (undated, ahead, stated only to the day, begun before the
        illness) if nothing else fills its field: beside a reading of today it hides nothing, and
        a card that says "left unknown" of a field that was read would withhold self-care advice
        for a record that changes nothing."""
        self.deferred.append((path, message))

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
        admitted = not (when is not None and self.ahead(when)) and admits(
            episode, when, self.windows, condition=condition
        )
        if not admitted or (negative and (when is None or when < self.windows.now - self.windows.measured)):
            self.ignore("outside_episode", path)
            if not admitted and value is not None and not negative:
                self.set_aside(path, episode, when, source, condition=condition)
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
            wider = reason == "narrower_or_wider_code" or (
                reason in ("no_value", "answered_unknown") and not BY_PATH[path].numeric
            )
        if said is None or said > self.windows.now + SKEW:
            said = when  # recorded when it was made (an Observation), or recorded in the future
        until = self.until if value is not None else None
        self.readings.append(
            Reading(path, when or UNDATED, value, source, bound, said or UNDATED, wider, problem, until)
        )

    def set_aside(
        self, path: str, episode: Episode, when: datetime | None, source: dict[str, str], *, condition: bool
    ) -> None:
        """Name a reading of a fact (not a "no": a field left unknown is asked) that falls
        outside its field's episode where a clinician would still take it from the record; a
        stale measurement is simply old, and not named."""
        if when is None:
            self.undated(path, source)
        elif self.ahead(when):
            self.future(path, when, source)
        elif self.until is not None and admits(
            episode, min(self.until + LAG, self.windows.now), self.windows, condition=condition
        ):
            self.to_the_day(path, when, self.until, source)
        elif condition or (
            episode.kind == "current"
            and source.get("resource_type") in ("Observation", "QuestionnaireResponse")
            and not BY_PATH[path].numeric
            and when >= self.windows.now - OBSERVED_BEFORE
        ):
            # a finding observed present last week, or answered present on last week's form, is
            # the same fact as a Condition with that onset (a saddle numbness: as an Observation
            # or an answer it was dropped in silence); a pain score is a measurement, of its
            # moment, and an old one is simply old
            self.began_before(path, episode.kind, when, source)
        elif episode.kind == "standing":
            self.outlived(path, episode, when, source)

    def to_the_day(self, path: str, when: datetime, latest: datetime, source: dict[str, str]) -> None:
        """A reading whose time is stated only to the day, whose first moment (as which it is
        read) is outside the field's window and some later moment of that day inside: it cannot
        be placed, so it is neither read as current nor dropped in silence (a heart rate of 135
        recorded "yesterday", perhaps 16 hours ago, had no card). A fully timed reading is
        admitted as before."""
        span = latest - when
        stated = f"day ({when:%Y-%m-%d})" if span < timedelta(days=2) else f"month ({when:%Y-%m})"
        if span > timedelta(days=32):
            stated = f"year ({when:%Y})"
        self.later(
            path,
            f"{self.ref(source)} is recorded only to the {stated}, which begins before the window this "
            "field is read in and may end within it; left unknown",
        )

    def future(self, path: str, when: datetime, source: dict[str, str]) -> None:
        """A record dated after the evaluation (beyond the skew of time zones) is of no moment
        this evaluation can place, so it is not read; but named (a heart rate of 135 dated 20
        hours ahead, a wrong clock, was dropped with no card). A questionnaire's is named once,
        by its reader."""
        if source.get("resource_type") != "QuestionnaireResponse":
            self.later(
                path,
                f"{self.ref(source)} is dated in the future ({utc_label(when)}); left unknown",
            )

    def undated(self, path: str, source: dict[str, str]) -> None:
        """A finding or measurement with no time at all cannot be placed in this illness, so it
        is not read; but named (a heart rate of 135 without effective[x] or issued was dropped
        with no card). A questionnaire without its authored time is named once, by its reader."""
        if source.get("resource_type") != "QuestionnaireResponse":
            self.later(
                path, f"{self.ref(source)} has no time (effective, issued, onset or recorded date); left unknown"
            )

    def began_before(self, path: str, kind: str, when: datetime, source: dict[str, str]) -> None:
        """A finding still recorded as present, which began (a Condition's onset) or was observed
        before this illness: not read as new (a years-old incontinence is not cauda equina's),
        but not dropped in silence either, since a red flag that began last week may still be one."""
        if kind in ("current", "measured") and when <= self.windows.now:
            dated = "an onset" if source.get("resource_type") == "Condition" else "a date"
            self.later(
                path,
                f"{self.ref(source)}: recorded as present, with {dated} ({when:%Y-%m-%d}) before this "
                "illness's window, so not read as new; left unknown (ask whether it is new)",
            )

    def outlived(self, path: str, episode: Episode, when: datetime, source: dict[str, str]) -> None:
        """A lasting state (a pregnancy, diabetes, a usual blood pressure) observed or answered
        longer ago than an Observation of it counts for: not read as holding now, but named (a
        pregnancy observed 40 days ago was dropped in silence, while it decides the sepsis and
        urinary-infection criteria of a pregnant patient)."""
        self.later(
            path,
            f"{self.ref(source)}: recorded ({when:%Y-%m-%d}) more than {episode.days} days ago, so not "
            "read as holding now; left unknown (ask whether it still does)",
        )

    @staticmethod
    def ref(source: dict[str, str]) -> str:
        return f"{source['resource_type']}/{source['id']}"

    def result(self) -> MappingResult:
        by_field: dict[str, list[Reading]] = {}
        for r in self.still_standing():
            by_field.setdefault(r.field, []).append(r)
        values: dict[str, Any] = {}
        for path, readings in by_field.items():
            value = self.sites(readings) if path == "pain.sites" else self.newest(path, readings)
            if value is not None:
                values[path] = value
        for path, message in self.deferred:
            if path not in values:
                self.error(path, message)
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
        final "no saddle numbness" sent beside its own entered-in-error version was read as
        the patient's answer). Named when nothing else fills the field."""
        kept = []
        for r in self.readings:
            if (r.source.get("resource_type", ""), r.source.get("id", "")) in self.withdrawn:
                self.ignore("entered_in_error", r.field)
                self.later(r.field, f"{self.ref(r.source)}: another version of it is marked entered in error; not used")
            else:
                kept.append(r)
        return kept

    def newest(self, path: str, readings: list[Reading]) -> Any:
        readings = self.reopened(path, readings)
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
        newest = max(r.said for r in readings)
        # a value stated only to a day that reaches past the newest time may be the newer one:
        # it stands beside the newest, and a disagreement is a conflict (a heart rate of 135 dated
        # today lost, in silence, to an 80 timed at 08:00 today)
        latest = [r for r in readings if r.said == newest or (r.until is not None and r.until > newest)]
        if all(r.value is None for r in latest):
            # the newest record could not be read, and leaves the field unknown: say why (an
            # unreadable record older than another reading hides nothing, and is not named)
            for r in latest:
                if r.problem is not None:
                    self.error(path, r.problem)
        for r in readings:
            if r.said < newest and r.value is not None:
                self.ignore("superseded", path)
        latest = self.without_bounds_beside_values(path, [r for r in latest if r.value is not None])
        latest = self.by_status(path, latest)
        distinct = {(type(r.value).__name__, repr(r.value)): r for r in latest}
        if len(distinct) > 1:
            self.error(
                path,
                "conflicting values recorded at the same time ("
                + ", ".join(self.ref(r.source) for r in distinct.values())
                + "); left unknown",
            )
            self.ignore("conflict", path)
            return None
        if not distinct:
            return None
        winner = next(iter(distinct.values()))
        self.used.append(winner.source)
        return winner.value

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
        """A whole answer (a list) wins when it is the newest; otherwise the sites that single
        records name, as a partial list."""
        whole = [r for r in readings if isinstance(r.value, list)]
        named = [r for r in readings if isinstance(r.value, str)]
        if whole and max(r.said for r in whole) >= max((r.said for r in named), default=UNDATED):
            return self.newest("pain.sites", whole)
        if not named:
            return None
        self.used += [r.source for r in named]
        return PartialList(sorted({r.value for r in named}, key=BY_PATH["pain.sites"].choices.index))
