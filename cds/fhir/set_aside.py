"""Records a Collector (readings.py) does not read, named rather than dropped in silence: each
says why it was set aside (no time, dated ahead, stated only to a day that reaches the window,
begun before this illness, a lasting state observed too long ago), and is named on the
data-problem card only when nothing else fills its field, one line per field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cds.fhir.dates import utc_label
from cds.fhir.episodes import CLOCK_SKEW, LAG, SKEW, Episode, Windows, admits
from cds.fhir.superseded import Reading, said_no
from cds.triage.fields import BY_PATH
from cds.triage.labels import value_text

# The values of a graded field that a wider record present, or "don't know", cannot outgrow:
# a finding observed present before the illness's window, within this, may still be the red flag
# of today (a saddle numbness of last week); an older one is simply old
OBSERVED_BEFORE = timedelta(days=42)
# records named on a field's line; the rest are counted
NAMED = 5


class SetAside:
    """What the Collector keeps of the records it sets aside; it sets the attributes."""

    windows: Windows
    until: datetime | None  # the last moment of a time stated only to the day
    timed: bool  # the resource being read states its time to the second, with its zone
    # set aside: (field, why, what became of it, a value that cannot be placed in time, else
    # None): named if nothing else fills the field, or if what fills it is not that value
    deferred: list[tuple[str, str, str, Any]]
    errors: list[dict[str, str]]
    # the lines name each record by its id and time; not where they are answered to the sender
    # of the one document they came from (an interview's form: a problem never echoes its values)
    quoting: bool

    def ahead(self, when: datetime) -> bool:
        """Whether a record made at `when` is dated after the evaluation: beyond a clock's skew
        for a time stated in full, beyond the time zones' for a date."""
        return when > self.windows.now + (CLOCK_SKEW if self.timed else SKEW)

    def error(self, path: str, message: str) -> None:
        self.errors.append({"field": path, "message": message})

    def later(self, path: str, why: str, unplaced: Any = None, outcome: str = "left unknown") -> None:
        """Name a record set aside (undated, ahead, stated only to the day, begun before the
        illness) if nothing else fills its field: beside a reading of today it hides nothing, and
        a card that says "left unknown" of a field that was read would withhold self-care advice
        for a record that changes nothing. A value that cannot be placed in time at all
        (`unplaced`: no time, or dated ahead) may be the newest: it is named also when what fills
        the field is not it (a heart rate of 135 dated 20 hours ahead, beside a 72 of this
        morning, went in silence). A day that began before the window is older than a reading
        of today, and is not (a date-only 80 of yesterday beside an 82 timed this morning).
        `outcome` says what became of the field when nothing else fills it."""
        self.deferred.append((path, why, outcome, unplaced))

    def set_aside(
        self, path: str, episode: Episode, when: datetime | None, source: dict[str, str], value: Any, *, condition: bool
    ) -> None:
        """Name a reading of a fact (not a "no": a field left unknown is asked) that falls
        outside its field's episode where a clinician would still take it from the record; a
        stale measurement is simply old, and not named."""
        if when is None:
            self.undated(path, source, value)
        elif self.ahead(when):
            self.future(path, when, source, value)
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
        stated = "day" + self.dated(f"{when:%Y-%m-%d}")
        if span > timedelta(days=32):
            stated = "year" + self.dated(f"{when:%Y}")
        elif span >= timedelta(days=2):
            stated = "month" + self.dated(f"{when:%Y-%m}")
        self.later(
            path,
            f"{self.ref(source)} is recorded only to the {stated}, which begins before the window this "
            "field is read in and may end within it",
        )

    def future(self, path: str, when: datetime, source: dict[str, str], value: Any) -> None:
        """A record dated after the evaluation (beyond the skew of time zones) is of no moment
        this evaluation can place, so it is not read; but named (a heart rate of 135 dated 20
        hours ahead, a wrong clock, was dropped with no card). A questionnaire's is named once,
        by its reader."""
        if source.get("resource_type") != "QuestionnaireResponse":
            self.later(
                path,
                f"{self.ref(source)} is dated in the future{self.dated(utc_label(when))}",
                value,
            )

    def undated(self, path: str, source: dict[str, str], value: Any) -> None:
        """A finding or measurement with no time at all cannot be placed in this illness, so it
        is not read; but named (a heart rate of 135 without effective[x] or issued was dropped
        with no card). A questionnaire without its authored time is named once, by its reader."""
        if source.get("resource_type") != "QuestionnaireResponse":
            self.later(path, f"{self.ref(source)} has no time (effective, issued, onset or recorded date)", value)

    def began_before(self, path: str, kind: str, when: datetime, source: dict[str, str]) -> None:
        """A finding still recorded as present, which began (a Condition's onset) or was observed
        before this illness: not read as new (a years-old incontinence is not cauda equina's),
        but not dropped in silence either, since a red flag that began last week may still be one."""
        if kind in ("current", "measured") and when <= self.windows.now:
            dated = "an onset" if source.get("resource_type") == "Condition" else "a date"
            self.later(
                path,
                f"{self.ref(source)}: recorded as present, with {dated}{self.dated(f'{when:%Y-%m-%d}')} before this "
                "illness's window, so not read as new",
                outcome="left unknown (ask whether it is new)",
            )

    def outlived(self, path: str, episode: Episode, when: datetime, source: dict[str, str]) -> None:
        """A lasting state (a pregnancy, diabetes, a usual blood pressure) observed or answered
        longer ago than an Observation of it counts for: not read as holding now, but named (a
        pregnancy observed 40 days ago was dropped in silence, while it decides the sepsis and
        urinary-infection criteria of a pregnant patient)."""
        self.later(
            path,
            f"{self.ref(source)}: recorded{self.dated(f'{when:%Y-%m-%d}')} more than {episode.days} days ago, so not "
            "read as holding now",
            outcome="left unknown (ask whether it still does)",
        )

    def no_longer(self, path: str, latest: list[Reading], hidden: list[Reading]) -> None:
        """A record with a clinical status of the past (resolved, inactive, in remission), the
        newest of its field, leaves it unknown: it says nothing of today (of a "Not pregnant" as
        of a "Pregnant"). Where it hides older readings of the finding (not a "no": unknown is
        asked), it is named with them (a pregnancy recorded resolved at 11:55 hid an Observation
        of "pregnant" at 00:14 in silence); alone it hides nothing, and is not."""
        past = [self.ref(r.source) for r in latest if r.past]
        hidden = [r for r in hidden if r.value is not None and not said_no(r.value)]
        if past and hidden:
            refs = [self.ref(r.source) for r in hidden]
            more = f" and {len(refs) - NAMED} more" if len(refs) > NAMED else ""
            self.error(
                path,
                f"{', '.join(past)}: a clinical status of the past (resolved, inactive or in remission), which "
                f"says nothing of today, recorded after {', '.join(refs[:NAMED])}{more}, which it leaves unread; "
                "left unknown (ask)",
            )

    def name_set_aside(self, values: dict[str, Any]) -> None:
        """One line per field for the records set aside (twenty old diabetes Observations made
        twenty lines). The records with a value of their own are named, up to NAMED, else the
        first, and the rest counted: an undated "yes" named with a withdrawn one counted behind
        it hid the record that had decided the level. Where another record fills the field, the
        line says so and what it gives, never "left unknown"."""
        by_field: dict[str, list[tuple[str, str, Any]]] = {}
        for path, why, outcome, unplaced in self.deferred:
            if path not in values or (unplaced is not None and not _among(unplaced, values[path])):
                by_field.setdefault(path, []).append((why, outcome, unplaced))
        for path, entries in by_field.items():
            named = [e for e in entries if e[2] is not None][:NAMED] or entries[:1]
            if path in values:
                text = ". ".join(f"{why}; {o if o.startswith('not') else 'not read'}" for why, o, _ in named)
                text += f". The field is read from another record: {value_text(values[path])}"
            else:
                text = ". ".join(f"{why}; {outcome}" for why, outcome, _ in named)
            more = len(entries) - len(named)
            also = f" (and {more} more record{'s' if more > 1 else ''} set aside)" if more else ""
            self.error(path, text + also)

    def ref(self, source: dict[str, str]) -> str:
        return f"{source['resource_type']}/{source['id']}" if self.quoting and source["id"] else source["resource_type"]

    def dated(self, label: str) -> str:
        """A record's time, in brackets after what it qualifies, where records are named."""
        return f" ({label})" if self.quoting else ""


def _among(value: Any, read: Any) -> bool:
    """Whether a value set aside is what was read: for pain sites, among the sites read."""
    if isinstance(read, list):
        return set(value if isinstance(value, list) else [value]) <= set(read)
    return bool(value == read)
