"""FHIR R4 input: the resources a payload holds, and how their subjects, times, codes and birth
dates read.

- A payload is a resource, a Bundle (entry[].resource, recursively) or a list of those. Patient,
  Observation, Condition and QuestionnaireResponse resources are kept; anything else is dropped and counted by reason.
  A kept resource must give every element cds reads its FHIR R4 datatype (shapes.schema.json),
  and every time element it reads must be a date or dateTime: one that does not is set aside as
  malformed, named, and not read at all.
- A subject reference names Patient `id` as Patient/id, .../Patient/id or urn:uuid:id, with or
  without /_history/version, or as the fullUrl of the Patient's Bundle entry (a urn:uuid, or an
  absolute URL: FHIR R4 resolves a reference in a Bundle by its entries' fullUrls). A resource
  without one, or with no Patient to compare, counts as the patient's: a CDS Hooks prefetch is
  already scoped to one patient.
- An Observation's time is effectiveDateTime, else effectivePeriod.end (or .start), else
  effectiveInstant, else issued; a Condition's is onsetDateTime, else onsetPeriod.start, else
  recordedDate (when it began, not when it was written down); a QuestionnaireResponse's is
  authored. A dateTime without a time zone is read as UTC, and a date or partial date (YYYY,
  YYYY-MM) as its first moment; observation_latest_time gives an Observation's last. A
  resource with no readable time is UNDATED: older than any dated one.
- A CodeableConcept is read by the (system, code) of its codings only: its text is never guessed
  at. An ICD-10 code is read in its dotted form (R4182 is R41.82).
- A partial birthDate allows a youngest and an oldest age (dates.age_on); mapping.py decides which is
  read. A birthDate after today gives no age.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import count
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from cds.fhir.outcomes import has_next_page, search_errors
from cds.fhir.terminology import Key
from cds.fhir.valuesets import ICD_URIS, icd_code

KEPT_TYPES = ("Patient", "Observation", "Condition", "QuestionnaireResponse")
UNDATED = datetime.min.replace(tzinfo=UTC)

_LEAP = re.compile(r"(T[0-9]{2}:[0-9]{2}:)60(?=[.Z+-]|\Z)")
# ASCII digits only, and nothing after (Python's \d takes any script's digits, and $ a final newline)
DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?\Z")


class ResourceList(list[dict[str, Any]]):
    """The kept resources, plus how many of each other kind were dropped (counted as ignored),
    and the malformed ones: a reference and the first element that is not its FHIR datatype."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped: Counter[str] = Counter()
        self.malformed: list[tuple[str, str]] = []
        self.unread: list[tuple[str, str]] = []  # contained records not read, and why
        # the Bundle entries' fullUrls of the Patients kept: a reference to one is to the Patient
        self.patient_urls: set[str] = set()
        self.paged: list[str] = []  # searchset Bundles with a next page, which was not sent
        self.failed: list[str] = []  # Bundles holding an OperationOutcome that reports an error
        # a contained resource (by identity) -> its container's reference: its id is local to it
        self.held_in: dict[int, str] = {}


@cache
def _shape_checkers() -> dict[str, Draft202012Validator]:
    schema = json.loads(Path(__file__).with_name("shapes.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return {kind: Draft202012Validator({**schema, "$ref": f"#/$defs/{kind}"}) for kind in KEPT_TYPES}


def shape_problem(resource: dict[str, Any]) -> str | None:
    """The path of the first element of a kept resource that is not its FHIR R4 datatype."""
    error = next(iter(_shape_checkers()[resource["resourceType"]].iter_errors(resource)), None)
    if error is None:
        return None
    path = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        # name the element FHIR does not define there ("answers"), not the item holding it
        defined = error.schema.get("properties", {})
        path.append(next(k for k in error.instance if k not in defined and not k.startswith("_")))
    return ".".join(path) or "(the resource)"


# The time elements cds reads, per resource type (a Patient's birthDate has its own message)
_TIME_ELEMENTS = {
    "Observation": (
        ("effectiveDateTime",),
        ("effectivePeriod", "start"),
        ("effectivePeriod", "end"),
        ("effectiveInstant",),
        ("issued",),
    ),
    "Condition": (("onsetDateTime",), ("onsetPeriod", "start"), ("onsetPeriod", "end"), ("recordedDate",)),
    "QuestionnaireResponse": (("authored",),),
}


def time_problem(resource: dict[str, Any]) -> str | None:
    """The path of the first time element that is text but no date or dateTime ("today"), when
    no other time element places the resource in time: it is set aside as malformed rather than
    read as undated, which for a vital sign would say nothing and drop it in silence. With
    another time to go by (an onset "2025-00" beside a recordedDate), it is read by that one, as
    *_time say."""
    kind = resource["resourceType"]
    for path in _TIME_ELEMENTS.get(kind, ()):
        value: Any = resource
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        if value is not None and _instant(value) is None:
            return ".".join(path) if _TIME_OF[kind](resource) == UNDATED else None
    return None


def reference(resource: dict[str, Any]) -> str:
    rid = resource.get("id")
    return f"{resource['resourceType']}/{rid}" if isinstance(rid, str) else str(resource["resourceType"])


def resources_from(obj: Any) -> ResourceList:
    """Flatten a resource, a Bundle (entry[].resource, recursively) or a list of those into the
    Patient, Observation, Condition and QuestionnaireResponse resources they hold, with the
    Observations and Conditions any resource holds in `contained` (_contained)."""
    out = ResourceList()
    serial = count()

    def walk(item: Any, url: Any = None) -> None:
        if isinstance(item, list):
            for x in item:
                walk(x)
        elif not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
            out.dropped["not_a_resource"] += 1
        elif item["resourceType"] == "Bundle":
            entries = item.get("entry")
            if has_next_page(item):
                held = len(entries) if isinstance(entries, list) else 0
                total = item.get("total")
                of = f" of {total}" if isinstance(total, int) and not isinstance(total, bool) else ""
                out.paged.append(f"{reference(item)} ({held}{of} entries)")
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and "resource" in entry:
                    out.failed += search_errors(reference(item), entry["resource"])
                    walk(entry["resource"], entry.get("fullUrl"))
        else:
            if item["resourceType"] not in KEPT_TYPES:
                out.dropped["unsupported_resource_type"] += 1
            elif (problem := shape_problem(item) or time_problem(item)) is None:
                out.append(item)
                if item["resourceType"] == "Patient" and isinstance(url, str):
                    out.patient_urls.add(url.split("/_history/")[0])
            else:
                out.malformed.append((reference(item), problem))
                return
            # each container is its own namespace, named by its reference and its place in the
            # walk: two reports with no id (a transaction's, known by fullUrl) are still two
            container = f"{reference(item)} ({next(serial)})"
            for child in _contained(item, out.unread):
                out.held_in[id(child)] = container
                walk(child)

    walk(obj)
    return out


# A contained resource is read in its container's context. A container with a `subject` says
# whose record it is; these say so by being read as the patient's themselves. Any other container (a Claim names its
# patient where the reader does not look, and may be another's) is not read through, and what it
# holds is named on the data-problem card.
SUBJECTLESS = frozenset({"Observation", "DiagnosticReport", "Condition", "Encounter", "Composition"})
# a relative's conditions; a questionnaire's contained resources are its answers' own, read
# through its items
NOT_READ_THROUGH = frozenset({"FamilyMemberHistory", "QuestionnaireResponse"})
MEMBERS = {"DiagnosticReport": "result", "Observation": "hasMember"}
TIMES = ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")


VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
# what a contained resource takes from a container entered in error
WITHDRAWN: dict[str, dict[str, Any]] = {
    "Observation": {"status": "entered-in-error"},
    "Condition": {"verificationStatus": {"coding": [{"system": VERIFICATION_SYSTEM, "code": "entered-in-error"}]}},
}


def _contained(container: dict[str, Any], unread: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The Observations and Conditions a resource holds in `contained` (a lactate of 5.2 inside
    a DiagnosticReport, a sepsis an Encounter names as its diagnosis: both were lost), each taking
    its container's subject where it gives none of its own. An Observation takes its container's
    status and time, where it gives none, only as a report's result or a panel's member: one a
    panel derives from, or a report holds beside the results it lists, is an earlier one. What
    cannot be read is added to `unread` (reference, why), never dropped in silence."""
    contained = container.get("contained")
    kind = container["resourceType"]
    if not isinstance(contained, list) or kind in NOT_READ_THROUGH:
        return []
    clinical = [c for c in contained if isinstance(c, dict) and c.get("resourceType") in ("Observation", "Condition")]
    if "subject" not in container and kind not in SUBJECTLESS:
        unread += [
            (reference(c), f"held in {reference(container)}, which does not say whose record it is") for c in clinical
        ]
        return []
    refs = container.get(MEMBERS.get(kind, ""))
    named = (
        {r["reference"] for r in refs if isinstance(r, dict) and isinstance(r.get("reference"), str)}
        if isinstance(refs, list)
        else set()
    )
    children = []
    for child in clinical:
        inherited: dict[str, Any] = (
            {"subject": container["subject"]} if "subject" in container and "subject" not in child else {}
        )
        if container.get("status") == "entered-in-error":
            # a contained resource is part of its container, withdrawn with it whatever its own
            # status (a final "pregnant" held in a report entered in error was read)
            inherited.update(WITHDRAWN[child["resourceType"]])
        if child["resourceType"] == "Observation":
            # a report's results are those it lists; listing none it can read, everything it holds
            member = f"#{child.get('id')}" in named or (kind == "DiagnosticReport" and not named)
            if member and "status" in container and "status" not in child:
                inherited["status"] = container["status"]
            timeless = not any(k in child for k in TIMES)
            if member and timeless:
                inherited.update({k: container[k] for k in TIMES if k in container})
            elif timeless and kind in MEMBERS:
                unread.append(
                    (
                        reference(child),
                        f"held in {reference(container)} with no time of its own, and not among its results",
                    )
                )
                continue
        children.append({**child, **inherited})
    return children


def about_patient(resource: dict[str, Any], pid: Any, urls: Collection[str] = ()) -> bool:
    """Whether the resource's subject is Patient `pid` (relative, absolute or urn:uuid reference,
    any version) or a Bundle entry's fullUrl of that Patient (`urls`: a urn:uuid a transaction
    or document Bundle gives it, which is no form of its id, as FHIR R4 resolves references in a
    Bundle); a resource without a subject reference, or with no Patient to compare, counts."""
    subject = resource.get("subject")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    if pid is None or not isinstance(ref, str):
        return True  # a CDS Hooks prefetch is already scoped to one patient
    ref = ref.split("/_history/")[0]
    return ref in (f"Patient/{pid}", f"urn:uuid:{pid}") or ref.endswith(f"/Patient/{pid}") or ref in urls


def _instant(text: Any, last: bool = False) -> datetime | None:
    """A FHIR date or dateTime as an aware datetime; a partial date reads as its first moment,
    or with `last` its last."""
    if not isinstance(text, str):
        return None
    try:
        m = DATE.match(text)
        if m and last:
            year, month = int(m[1]), int(m[2] or 12)
            if not 1 <= month <= 12:
                return None  # "2025-00" is no date
            end = date(year, month, int(m[3])) if m[3] else month_end(year, month)
            return datetime.combine(end, time.max, tzinfo=UTC)
        if m:
            return datetime(int(m[1]), int(m[2] or 1), int(m[3] or 1), tzinfo=UTC)
        # FHIR allows a leap second (23:59:60), which Python's datetime does not
        dt = datetime.fromisoformat(_LEAP.sub(r"\g<1>59", text, count=1))
    except (ValueError, OverflowError):
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def _first_time(*candidates: Any) -> datetime:
    """The first candidate that reads as a date or dateTime; UNDATED when none does."""
    for c in candidates:
        t = _instant(c)
        if t is not None:
            return t
    return UNDATED


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _observation_time_text(obs: dict[str, Any]) -> Any:
    """The element observation_time reads: the first of effectiveDateTime, effectivePeriod.end
    (or .start), effectiveInstant and issued that reads as a date or dateTime; None if none."""
    period = _dict(obs.get("effectivePeriod"))
    candidates = (
        obs.get("effectiveDateTime"),
        period.get("end"),
        period.get("start"),
        obs.get("effectiveInstant"),
        obs.get("issued"),
    )
    return next((text for text in candidates if _instant(text) is not None), None)


def observation_time(obs: dict[str, Any]) -> datetime:
    """When an Observation was made: effectiveDateTime, else effectivePeriod.end (or .start),
    else effectiveInstant, else issued (when the result was released)."""
    return _instant(_observation_time_text(obs)) or UNDATED


def observation_latest_time(obs: dict[str, Any]) -> datetime:
    """The last moment the time observation_time reads allows, in UTC: a date without a time
    ("2025-01-14") is all of that day, which observation_time reads as its first moment; a
    dateTime is itself. UNDATED when there is none."""
    return _instant(_observation_time_text(obs), last=True) or UNDATED


def observation_timed(obs: dict[str, Any]) -> bool:
    """Whether the time observation_time reads is stated to the hour and zone (FHIR: "if hours
    and minutes are specified, a time zone SHALL be populated"): an instant, not a day."""
    return _timed(_observation_time_text(obs))


def _timed(text: Any) -> bool:
    """A time stated to the hour: with its zone an instant; without one (against FHIR, but sent)
    read as UTC, and still no date, whose allowance would let it win as the newest by hours."""
    return isinstance(text, str) and "T" in text


def condition_time(cond: dict[str, Any]) -> datetime:
    """When a Condition began: onsetDateTime, else onsetPeriod.start, else recordedDate. The onset
    comes first: a problem recorded today that began years ago is not new. An onset in a form
    with no date (onsetAge, onsetString "this morning") falls back to the recording: a red flag
    recorded today must not vanish because its onset cannot be placed."""
    onset = _dict(cond.get("onsetPeriod"))
    return _first_time(cond.get("onsetDateTime"), onset.get("start"), cond.get("recordedDate"))


def condition_latest_time(cond: dict[str, Any]) -> datetime:
    """The latest moment a Condition's onset (else its recording) allows: a period's end, a
    partial date's last moment ("2025-01" is up to 31 January). Whether it may be of this
    illness is asked of this, never of the earliest."""
    onset = _dict(cond.get("onsetPeriod"))
    period = [t for t in (_instant(onset.get("end"), last=True), _instant(onset.get("start"), last=True)) if t]
    for t in (_instant(cond.get("onsetDateTime"), last=True), max(period, default=None)):
        if t is not None:
            return t  # of a period written backwards, the later end
    return _instant(cond.get("recordedDate"), last=True) or UNDATED


def condition_recorded(cond: dict[str, Any]) -> datetime:
    """When a Condition was recorded (recordedDate): when it was said, which is what orders it
    against other records of the same field, whatever its onset."""
    return _first_time(cond.get("recordedDate"))


def response_time(response: dict[str, Any]) -> datetime:
    """When a QuestionnaireResponse was answered: authored."""
    return _first_time(response.get("authored"))


def response_latest_time(response: dict[str, Any]) -> datetime:
    """The last moment `authored` allows (a date without a time is all of that day); UNDATED
    when there is none."""
    return _instant(response.get("authored"), last=True) or UNDATED


def response_timed(response: dict[str, Any]) -> bool:
    """Whether `authored` is stated to the hour: an instant, not a day."""
    return _timed(response.get("authored"))


_TIME_OF = {"Observation": observation_time, "Condition": condition_time, "QuestionnaireResponse": response_time}


def concept_keys(concept: Any) -> list[Key]:
    """The (system, code) of each coding of a CodeableConcept, in order; an ICD-10 code in its
    dotted form whatever way it was sent (R4182 is R41.82: the dot always follows the category)."""
    if not isinstance(concept, dict):
        return []
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return []
    keys = [(str(c.get("system", "")), str(c.get("code", ""))) for c in codings if isinstance(c, dict)]
    return [(system, icd_code(code) if system in ICD_URIS else code) for system, code in keys]


def status_code(concept: Any, systems: tuple[str, ...]) -> str | None:
    """The code of a status CodeableConcept in one of its HL7 `systems` (a coding without a
    system is taken as one of them): None when not given, "" when given but unreadable. An EHR
    may put its own coding first ("1" Active), so codings of other systems are passed over."""
    if concept is None:
        return None
    keys = concept_keys(concept)
    codes = {code for s, code in keys if s in systems} or {code for s, code in keys if not s}
    return codes.pop() if len(codes) == 1 else ""
