"""Reading a Condition into the collector (mapping.py).

The code is a finding of terminology.yaml, or, for a history field, a member of its value set
(valuesets.py); a member of several (a myeloma: cancer, and immunosuppression) fills each.
verificationStatus entered-in-error is ignored, and withdraws any other version of the same id;
refuted reads as absent (as far as the code's `absent` allows: a member of a value set refuted
says nothing). Any other verification (confirmed, provisional, differential, unconfirmed, or
none given) reads as present when clinicalStatus is active, recurrence or relapse, or not given:
a suspected red flag must raise the flag for a clinician to review, and a recorded but
unconfirmed finding is not a "no";
for the same reason an unconfirmed record whose presence means "no" (Not pregnant) says nothing,
and a confirmed one is a "no", counted only as recent as any other (readings.py).
inactive, remission and resolved say nothing about today (the field stays unknown), except for
a field whose episode is `ever` (any history of malignancy). The time is the onset, else the
recorded date: the field's episode decides whether it counts. Against other records of the field
a Condition stands at its recorded date, when it was said (readings.py): a saddle numbness
recorded at 11:00 with its onset last night is newer than a "no" asked at 08:00.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds.fhir.diagnoses import code_label, diagnoses
from cds.fhir.episodes import SKEW
from cds.fhir.observations import coded_answer, entry_for, presence
from cds.fhir.readings import Collector
from cds.fhir.resources import (
    UNDATED,
    VERIFICATION_SYSTEM,
    concept_keys,
    condition_latest_time,
    condition_recorded,
    condition_time,
    status_code,
)
from cds.fhir.superseded import said_no
from cds.fhir.terminology import CodedQuantity, Finding, Key
from cds.fhir.unread import ambiguous
from cds.triage.fields import BY_PATH

CLINICAL_PRESENT = frozenset({"active", "recurrence", "relapse"})
CLINICAL_PAST = frozenset({"inactive", "remission", "resolved"})
VERIFICATION_PRESENT = frozenset({"confirmed", "provisional", "differential", "unconfirmed"})
UNCONFIRMED = frozenset({"provisional", "differential", "unconfirmed"})
# R4's code systems, and the URLs of earlier FHIR versions that EHRs still send
CLINICAL_SYSTEMS = (
    "http://terminology.hl7.org/CodeSystem/condition-clinical",
    "http://hl7.org/fhir/condition-clinical",
)
VERIFICATION_SYSTEMS = (VERIFICATION_SYSTEM, "http://hl7.org/fhir/condition-ver-status")


PAST_OR_NEVER = frozenset({"entered-in-error", "refuted", "inactive", "resolved", "remission"})


def read_condition(c: Collector, cond: dict[str, Any]) -> None:
    # a diagnosis is named whatever else the record's codings fill: sepsis coded A41.9 beside
    # SNOMED Fever must still withhold self-care advice
    if status_code(cond.get("verificationStatus"), VERIFICATION_SYSTEMS) == "entered-in-error":
        # whatever its code: a wrong code is a common reason to mark a record entered in error
        c.withdraw(cond)
    named = _diagnosis(c, cond)
    matched = _match(c, cond.get("code"))
    if isinstance(matched, str):
        # a record that says the finding is past or never was hides nothing (a resolved 2010
        # stiff neck coded beside Neck pain was named, and withheld self-care advice)
        said_past = status_code(cond.get("verificationStatus"), VERIFICATION_SYSTEMS) in PAST_OR_NEVER or (
            status_code(cond.get("clinicalStatus"), CLINICAL_SYSTEMS) in PAST_OR_NEVER
        )
        if matched == "ambiguous_code" and not said_past:
            ambiguous(c, cond.get("code"), {"resource_type": "Condition", "id": str(cond.get("id", ""))})
        elif not (named and matched == "unrecognised_code"):
            c.ignore(matched)
        return
    for finding, path, key in matched:
        _read_field(c, cond, finding, path, key)


def _read_field(c: Collector, cond: dict[str, Any], finding: Finding | None, path: str, key: Key) -> None:
    verification = status_code(cond.get("verificationStatus"), VERIFICATION_SYSTEMS)
    clinical = status_code(cond.get("clinicalStatus"), CLINICAL_SYSTEMS)
    if verification == "entered-in-error":
        c.ignore("entered_in_error", path)
        return
    stamp = condition_time(cond)
    when = None if stamp == UNDATED else stamp
    source = {
        "resource_type": "Condition",
        "id": str(cond.get("id", "")),
        "system": key[0],
        "code": key[1],
        "field": path,
    }
    # A status this reader cannot read (a local code, text only, two that disagree) is named on
    # the card, and the record is read as an unconfirmed one: it may raise a flag for a
    # clinician to review, never close one. Reading it as unknown lost a saddle numbness coded
    # with a local verification status: routine for an emergency.
    unreadable = verification not in (None, "refuted", *VERIFICATION_PRESENT) or clinical not in (
        None,
        *CLINICAL_PRESENT,
        *CLINICAL_PAST,
    )
    if unreadable:
        c.error(
            path,
            f"{c.ref(source)}: {c.term.label(key)} with a clinical or verification status it cannot read; "
            "read as unconfirmed",
        )
        verification = "refuted" if verification == "refuted" else "unconfirmed"
        clinical = None if clinical not in (*CLINICAL_PRESENT, *CLINICAL_PAST) else clinical
    episode = c.term.episodes[path]
    value: Any
    reason: str | None = None
    negative = False
    if verification == "refuted":
        value, reason = presence(finding, False) if finding is not None else (None, "narrower_or_wider_code")
        negative = True
    elif clinical is None or clinical in CLINICAL_PRESENT or (clinical in CLINICAL_PAST and episode.kind == "ever"):
        value, reason = presence(finding, True) if finding is not None else (True, None)
        if finding is not None and finding.grades is not None and cond.get("severity"):
            graded, _ = coded_answer(c, finding, cond["severity"])
            value, reason = (graded, None) if graded is not None else (value, reason)
        if said_no(value):
            # a record whose presence means "no" (Not pregnant) is a "no", as good as its moment;
            # and reading the unconfirmed as present is there to raise flags, never to close one,
            # so an unconfirmed "no" is not read at all (it does not hide an older reading)
            negative = True
            if verification in UNCONFIRMED:
                c.ignore("unconfirmed_no", path)
                return
    else:
        # a "no" of the past (Not pregnant, resolved) reopens an older "no", as a wider record does,
        # and leaves a "yes" standing (it hid a "pregnant" of this morning: urgent sepsis with fever)
        past_no = finding is not None and said_no(presence(finding, True)[0])
        value, reason = None, "inactive_no" if past_no else "inactive"
    said = None if (recorded := condition_recorded(cond)) == UNDATED else recorded
    with c.stated_until(_onset_day_end(c, cond, stamp, said)):
        c.read(path, when, value, source, reason, condition=True, negative=negative, said=said)


def _onset_day_end(c: Collector, cond: dict[str, Any], stamp: datetime, said: datetime | None) -> datetime | None:
    """The last moment an onset stated only to the day (or month) allows, when the onset places
    the record (no recording time, or one ahead of the clock): all of that day, as an
    Observation's date (an active saddle numbness of "2025-01-11" lost, unnamed, to a resolved
    one timed 09:50 that day). None otherwise."""
    latest = condition_latest_time(cond)
    by_onset = stamp != UNDATED and latest > stamp and (said is None or said > c.windows.now + SKEW)
    return latest if by_onset else None


def _match(c: Collector, concept: Any) -> list[tuple[Finding | None, str, Key]] | str:
    """The finding a code names, or, for a member of history fields' value sets, each of those
    fields (with None for the finding); the field and the code that matched; a reason string
    when nothing matches."""
    entry = entry_for(c, concept, panels=False)
    if isinstance(entry, Finding):
        key = next(k for k in concept_keys(concept) if c.term.by_code.get(k) is entry)
        return [(entry, entry.field.path, key)]
    if isinstance(entry, CodedQuantity):
        return "unrecognised_code"  # a measurement code is not a condition
    if entry != "unrecognised_code":
        return entry if isinstance(entry, str) else "unrecognised_code"
    members: dict[str, Key] = {}
    for k in concept_keys(concept):
        for vs in c.term.value_sets_holding(k):
            members.setdefault(vs.field, k)
    if not members:
        return "unrecognised_code"
    assert all(BY_PATH[path].kind == "bool" for path in members)
    return [(None, path, key) for path, key in members.items()]


def _diagnosis(c: Collector, cond: dict[str, Any]) -> bool:
    """Whether the Condition records a diagnosis the triage screens for (diagnoses.py); an
    active, unrefuted one is kept for its card. Its status is read as a finding's is: one this
    reader cannot read counts as unconfirmed, so it is named, never hidden."""
    named = diagnoses().naming(concept_keys(cond.get("code")))
    if not named:
        return False
    verification = status_code(cond.get("verificationStatus"), VERIFICATION_SYSTEMS)
    clinical = status_code(cond.get("clinicalStatus"), CLINICAL_SYSTEMS)
    if verification in ("entered-in-error", "refuted") or clinical in CLINICAL_PAST:
        c.ignore("diagnosis_not_active")
        return True
    stamp = condition_time(cond)
    when = None if stamp == UNDATED else stamp
    # of this illness when the latest moment its date allows is ("2025-01" on the 15th may be
    # yesterday), or undated, or dated ahead of the clock (a wrong date is still a diagnosis)
    latest = condition_latest_time(cond)
    current = latest == UNDATED or latest >= c.windows.now - c.windows.current
    for group, key in named:
        c.ignore("recorded_diagnosis")
        c.diagnoses.append(
            {
                "flag": group.flag,
                "name": group.name,
                "level": group.level,
                "id": str(cond.get("id", "")),
                "code": code_label(key),
                "display": _display(cond.get("code"), key) or group.name,
                "onset": when.date().isoformat() if when is not None else "",
                # before this illness: named, but not as this illness's (an old sepsis left active)
                "current": current,
                "unconfirmed": verification not in (None, "confirmed"),
            }
        )
    return True


def _display(concept: Any, key: Key) -> str:
    """The display the record gives its code (the EHR's words), or ""."""
    for coding in concept.get("coding", []) if isinstance(concept, dict) else []:
        if isinstance(coding, dict) and concept_keys({"coding": [coding]}) == [key]:
            display = coding.get("display")
            return display if isinstance(display, str) else ""
    return ""
