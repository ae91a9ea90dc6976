"""Dates read for people: the age a FHIR birthDate gives on a day, and a time as a card says it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cds.fhir.resources import DATE, month_end


def age_on(birth: str, today: date, *, oldest: bool = False) -> int | None:
    """Age in whole years on `today`; a partial birthDate gives the youngest age it allows, or
    with `oldest` the oldest. None for a birthDate that is not a date or is after today."""
    m = DATE.match(birth)
    if not m:
        return None
    year, month = int(m[1]), int(m[2] or (1 if oldest else 12))
    try:  # year 0, 9999-12 (no month after it) and month 13 are not dates either
        if m[3]:
            day = int(m[3])
        elif oldest:
            day = 1
        else:
            day = month_end(year, month).day
        born = date(year, month, day)
    except (ValueError, OverflowError):
        return None
    if born > today:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def utc_label(when: datetime) -> str:
    """A time as a card says it, in UTC; one past what UTC can hold (9999-12-31 at UTC-12) as
    sent, rather than a 500."""
    try:
        return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    except OverflowError:
        return when.isoformat()
