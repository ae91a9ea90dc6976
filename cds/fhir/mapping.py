"""FHIR R4 -> encounter: the Patient, Observation, Condition and QuestionnaireResponse resources a
CDS Hooks client prefetches, mapped onto the contract's encounter by the codes in terminology.yaml.

The codes are data (terminology.yaml, checked by terminology.py); how a resource's subject, time
and codes read is in resources.py; each resource type is read by its own module
(observations.py, conditions.py, questionnaire.py), into the readings collected here. The rules
that are FHIR semantics, and safety, are these:

- Episodes (episodes.py): a reading counts only inside its field's episode: this illness for a
  symptom (its onset, else its recorded or effective time), the last 24 hours for a vital sign or
  a result, the contract's own period for "in the last 6 weeks", any time for a history of
  cancer. A "no" counts only within the last 24 hours. An undated reading of a timed field says
  nothing. Outside, the field stays unknown and is asked, never read as "no". A reading of a fact
  that cannot be placed (undated, dated in the future, stated only to a day that may reach into
  the window) is named on the data-problem card, not dropped in silence.
- Newest wins, per contract field, among the readings that count, by when each was recorded (a
  Condition's recordedDate, not its onset). When the newest reading cannot
  be read (wrong unit, out of range, an indeterminate answer, a resolved Condition) the field
  stays unknown: an older value is not today's value. Two different values at the same newest
  time are a conflict, reported, and the field stays unknown (two versions of one resource
  excepted: the later status wins).
- Absent closes a field only for the same or a wider concept: each code's `absent` in
  terminology.yaml says so, and a member of a history value set recorded absent says nothing.
- Pain sites from single records fill `pain.sites` as a partial list (`pain.sites_partial`):
  the sites they name hurt, the others stay unknown. A questionnaire answer is the whole list.
- A value outside the contract's plausible range is an error and leaves the field unknown; it is
  never clamped. An unrecognised code, unit or answer is ignored and counted, never guessed.
- Patient: gender gives patient.sex; birthDate gives age_years on `today` (a partial date gives
  the oldest age it allows, once its youngest is an adult's). A child's age is kept: scope is
  the caller's decision. Resources whose subject is not that Patient are not read, and named; several
  different Patients, or copies of one that give different birth dates or sexes, refuse the whole
  mapping rather than mix two people's data. A copy that lacks an element does not disagree: each
  element is read from whichever copy gives it.

Every reading that does not fill its field is counted by field and reason (`coverage`): what
`cds fhir coverage` reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from cds.fhir import conditions, observations, questionnaire
from cds.fhir.dates import age_on
from cds.fhir.episodes import Windows
from cds.fhir.readings import Collector, MappingResult
from cds.fhir.resources import about_patient, reference, resources_from
from cds.fhir.terminology import field_problem, terminology
from cds.triage.fields import ADULT_AGE, BY_PATH
from cds.triage.thresholds import Cut

# resources_from is re-exported: callers read a payload and map it through this one module.
__all__ = ["MappingResult", "map_resources", "resources_from"]

READERS = {
    "Observation": observations.read_observation,
    "Condition": conditions.read_condition,
    "QuestionnaireResponse": questionnaire.read_response,
}
MAPPED_TYPES = tuple(READERS)


def run(c: Collector, items: Iterable[dict[str, Any]]) -> MappingResult:
    c.ignored.update(getattr(items, "dropped", Counter()))
    for ref, element in getattr(items, "malformed", []):
        c.ignore("malformed")
        c.error("fhir", f"{ref}: {element} is not a valid FHIR R4 value of its type; the resource was not used")
    for bundle in getattr(items, "paged", []):
        # what the other pages hold (a diabetes, a saddle numbness) is unknown, not absent
        c.ignore("more_pages")
        c.error("fhir", f"{bundle}: a search result with more pages; only the page sent was read")
    for bundle in getattr(items, "failed", []):
        # CDS Hooks: a client reports a prefetch it could not complete with an OperationOutcome;
        # what the search would have found is unknown, not absent
        c.ignore("search_error")
        c.error("fhir", f"{bundle}: the FHIR server reported an error in it; records it should hold may be missing")
    for ref, why in getattr(items, "unread", []):
        c.ignore("contained_not_read")
        c.error("fhir", f"{ref}: {why}; not used")
    resources = [r for r in items if isinstance(r, dict)]
    records = [r for r in resources if r.get("resourceType") == "Patient"]
    patients = {r.get("id") for r in records}
    merged = one_patient(records)
    if len(patients) > 1 or merged is None:
        problem = (
            "more than one Patient" if len(patients) > 1 else "one Patient twice, with different birth dates or sexes"
        )
        c.error("patient", f"the resources name {problem}; nothing was mapped")
        c.ignored["multiple_patients"] += len(resources)
        return c.result()
    pid = next(iter(patients), None)
    held_in: dict[int, str] = getattr(items, "held_in", {})
    patient_seen = False
    for r in resources:
        kind = r.get("resourceType")
        if kind == "Patient":
            if not patient_seen:
                patient_seen = True
                map_patient(c, merged)
        elif kind not in MAPPED_TYPES:
            c.ignore("unsupported_resource_type")
        elif not about_patient(r, pid, getattr(items, "patient_urls", ())):
            # not read, but named: a subject that misses the Patient is an EHR's error as often as
            # another person's record (a reference by another of the patient's ids), and a heart
            # rate of 135 set aside must not leave a self-care answer standing in silence
            c.ignore("other_patient")
            c.error("fhir", f"{reference(r)}: its subject is {r['subject']['reference']}, not this Patient; not used")
        else:
            with c.held_in(held_in.get(id(r))):
                READERS[kind](c, r)
    return c.result()


def one_patient(copies: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The Patient its copies give, each element read from whichever copy has it; None when two
    copies disagree on one that is read. Two different birth dates are two people's data as
    surely as two ids, and which is the patient's is not ours to guess; but a copy without an
    element (a SUBSETTED one, with the birth date and no gender) does not disagree, and refusing
    it left a heart rate of 135 unread."""
    merged: dict[str, Any] = {"id": copies[0].get("id")} if copies else {}
    for name in ("birthDate", "gender"):
        given = [r[name] for r in copies if r.get(name) is not None]
        # a date to the year beside the same date to the day is one date at two precisions
        fullest = max(given, key=lambda v: len(v) if isinstance(v, str) else 0, default=None)
        if any(not _within(value, fullest) for value in given):
            return None
        if given:
            merged[name] = fullest
    return merged


def _within(value: Any, fullest: Any) -> bool:
    """Whether `value` says the same as `fullest`, or less of it ("1970" of "1970-01-01")."""
    if isinstance(value, str) and isinstance(fullest, str):
        return fullest == value or fullest.startswith(value + "-")
    return bool(value == fullest)


def map_patient(c: Collector, patient: dict[str, Any]) -> None:
    source = {"resource_type": "Patient", "id": str(patient.get("id", ""))}
    gender = patient.get("gender")
    if gender in BY_PATH["patient.sex"].choices:
        c.read("patient.sex", None, gender, {**source, "code": "gender", "field": "patient.sex"})
    elif gender is not None:
        c.ignore("unrecognised_value", "patient.sex")
    birth = patient.get("birthDate")
    if birth is None:
        return
    age = age_on(birth, c.today) if isinstance(birth, str) else None
    if age is None:
        c.error("patient.age_years", "Patient.birthDate is not a valid date on or before today")
        return
    if age >= ADULT_AGE:
        # a partial birthDate ("1950") allows two ages: the youngest decides whether the patient
        # is an adult (rounding never carries a child into an adult-only service), the oldest is
        # the age triaged, since every age threshold of the rules is "at least" (75 on 15 January
        # 2025 for someone born early in 1950 read 74, and lost the older-age finding)
        oldest = age_on(str(birth), c.today, oldest=True)
        if oldest is not None and field_problem(BY_PATH["patient.age_years"], oldest) is None:
            age = oldest  # born "1904": 120 or 121, and 121 is past the contract's range
    # A child's age is kept, not reported: it is a fact, and scope is the caller's decision
    # (CDS Hooks answers a child with no card; load_encounter refuses it as out of scope).
    problem = None if age < ADULT_AGE else field_problem(BY_PATH["patient.age_years"], age)
    if problem:
        c.error("patient.age_years", f"age from Patient.birthDate: {problem}")
        return
    c.read("patient.age_years", None, age, {**source, "code": "birthDate", "field": "patient.age_years"})


def map_resources(
    resources: Iterable[dict[str, Any]],
    today: date,
    *,
    now: datetime | None = None,
    measured_hours: int = 24,
    current_hours: int = 168,
    cuts: Mapping[str, tuple[Cut, ...]] | None = None,
    quoting: bool = True,
) -> MappingResult:
    """Map FHIR R4 resources onto an encounter (see the module docstring for the rules).

    `today` fixes the age; `now` (default: the end of `today`, UTC) is when the episodes end;
    `measured_hours` and `current_hours` are how far back vital signs and results, and the
    findings of this illness, reach (CDS_FHIR_OBSERVATION_WINDOW_HOURS,
    CDS_FHIR_FINDING_WINDOW_HOURS); `cuts`, the rule base's thresholds per number field
    (cds.triage.thresholds), are what a measurement recorded as a bound is weighed against:
    without them every bound is left unknown. `quoting` False: the data problems name no record
    by its id or time (the answer to the sender of one document, who knows both)."""
    if now is None:
        now = datetime.combine(today, time.max, tzinfo=UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    windows = Windows(now, timedelta(hours=measured_hours), timedelta(hours=current_hours))
    return run(Collector(terminology(), today, windows, cuts, quoting=quoting), resources)
