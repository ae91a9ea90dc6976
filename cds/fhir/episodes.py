"""Which records describe a field: its episode (terminology.yaml, `episodes`).

A contract field is about now (a vital sign, a symptom of this illness), about a lasting state
(diabetes, pregnancy), about the contract's own period (chemotherapy in the last 6 weeks) or
about any time (any history of cancer). A record outside its field's episode says nothing about
the field, which stays unknown and is asked: an old refuted "Fever" is not today's "no fever",
and a years-old incontinence is not the new incontinence of cauda equina.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Kind = Literal["ever", "standing", "recent", "measured", "current"]
# a record dated after the evaluation is not of it, beyond this much: the time zone furthest
# ahead of UTC (UTC+14), since a date without a time is read as its first moment in UTC, and a
# "today" recorded in Sydney or Auckland is tomorrow in UTC for half the day
SKEW = timedelta(hours=14)
# and the time zone furthest behind UTC (UTC-12): a day stated without a time, read in UTC,
# may end this much later where it was recorded
LAG = timedelta(hours=12)
# A time stated with its hour and zone names an instant: only clocks that disagree a little put
# it ahead of the evaluation (a heart rate of 72 dated ten hours ahead, with its zone, won over
# the 135 of ten minutes ago, in silence, while the allowance above was all it got)
CLOCK_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class Episode:
    kind: Kind
    days: int | None = None  # standing (for Observations) and recent


@dataclass(frozen=True)
class Windows:
    """The time of the evaluation and how far back each kind of episode reaches."""

    now: datetime
    measured: timedelta  # CDS_FHIR_OBSERVATION_WINDOW_HOURS
    current: timedelta  # CDS_FHIR_FINDING_WINDOW_HOURS


def admits(episode: Episode, when: datetime | None, windows: Windows, *, condition: bool) -> bool:
    """Whether a record made at `when` (None: no usable time) can describe a field of `episode`.
    A Condition of a standing state counts at any date, and one of a measured field (acute
    confusion) from within this illness: its clinical status says whether it still holds."""
    if when is not None and when > windows.now + SKEW:
        return False
    if episode.kind == "ever" or (episode.kind == "standing" and condition):
        return True
    if when is None:
        return False
    if episode.kind == "current" or (episode.kind == "measured" and condition):
        # a measurement is of its moment, but a Condition still active (an acute confusion that
        # began yesterday) says what holds now: it counts from within this illness
        reach = windows.current
    elif episode.kind == "measured":
        reach = windows.measured
    else:
        assert episode.days is not None
        reach = timedelta(days=episode.days)
    return when >= windows.now - reach
