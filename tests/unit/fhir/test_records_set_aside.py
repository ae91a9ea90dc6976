"""Records the mapping does not read, and names rather than drops in silence (found in an audit,
session 22): a lasting state observed long ago, a finding answered present on last week's form,
a form dated to the day only, and a record one of whose versions is entered in error. The
evaluation is at 2025-01-15 12:00 UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.common.fhir_builders import flatten
from tests.common.fhir_records import LOINC, SNOMED, UCUM, coding, condition, observation, run

AT = datetime(2025, 1, 15, 12, tzinfo=UTC)


def form(*items, rid="form", authored="2025-01-15T09:00:00Z", status="completed"):
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "status": status,
        "authored": authored,
        "item": list(items),
    }


def answered(link, **value):
    return {"linkId": link, "answer": [value]}


def named(result):
    return {e["field"]: e["message"] for e in result.errors}


# --- a lasting state observed longer ago than an Observation of it counts for ----------------


def test_a_pregnancy_observed_forty_days_ago_is_named_not_dropped():
    pregnant = observation(
        "82810-3", LOINC, when="2024-12-06T09:00:00Z", valueCodeableConcept=coding(LOINC, "LA15173-0")
    )
    result = run(pregnant, now=AT)
    assert "patient.pregnant" in result.unknown
    assert named(result) == {
        "patient.pregnant": "Observation/o-82810-3: recorded (2024-12-06) more than 30 days ago, so not read as "
        "holding now; left unknown (ask whether it still does)"
    }


def test_a_lasting_state_observed_within_its_days_is_read_and_an_old_no_is_not_named():
    recent = observation("82810-3", LOINC, when="2025-01-01T09:00:00Z", valueCodeableConcept=coding(LOINC, "LA15173-0"))
    assert flatten(run(recent, now=AT).encounter) == {"patient.pregnant": True}
    old_no = observation("82810-3", LOINC, when="2024-12-06T09:00:00Z", valueCodeableConcept=coding(LOINC, "LA26683-5"))
    assert run(old_no, now=AT).errors == []


def test_an_old_lasting_state_beside_a_current_reading_is_not_named():
    old = observation("82810-3", LOINC, when="2024-12-06T09:00:00Z", valueCodeableConcept=coding(LOINC, "LA15173-0"))
    new = observation("82810-3", LOINC, when="2025-01-15T08:00:00Z", valueCodeableConcept=coding(LOINC, "LA26683-5"))
    new["id"] = "now"
    result = run(old, new, now=AT)
    assert flatten(result.encounter) == {"patient.pregnant": False} and result.errors == []


def test_a_usual_blood_pressure_answered_months_ago_is_named():
    result = run(form(answered("vitals.usual_systolic_bp", valueInteger=95), authored="2024-10-01T09:00:00Z"), now=AT)
    assert "vitals.usual_systolic_bp" in named(result)
    assert "QuestionnaireResponse/form: recorded (2024-10-01)" in named(result)["vitals.usual_systolic_bp"]


# --- a finding answered present on a form before this illness's window -------------------------


def test_a_finding_answered_present_last_week_is_named_as_an_observation_of_it_is():
    result = run(
        form(answered("symptoms.saddle_anaesthesia", valueBoolean=True), authored="2025-01-06T09:00:00Z"), now=AT
    )
    assert "symptoms.saddle_anaesthesia" in result.unknown
    assert named(result) == {
        "symptoms.saddle_anaesthesia": "QuestionnaireResponse/form: recorded as present, with a date (2025-01-06) "
        "before this illness's window, so not read as new; left unknown (ask whether it is new)"
    }


def test_an_old_no_or_an_old_measurement_on_a_form_is_simply_old():
    old = form(
        answered("symptoms.saddle_anaesthesia", valueBoolean=False),
        answered("vitals.heart_rate", valueInteger=135),
        answered("pain.severity", valueInteger=9),
        authored="2025-01-06T09:00:00Z",
    )
    assert run(old, now=AT).errors == []


# --- a form authored to the day only -----------------------------------------------------------


def test_a_form_authored_today_without_a_time_is_read():
    result = run(form(answered("vitals.heart_rate", valueInteger=135), authored="2025-01-15"), now=AT)
    assert flatten(result.encounter) == {"vitals.heart_rate": 135}


def test_a_measurement_on_a_form_authored_yesterday_without_a_time_is_named_not_dropped():
    """Read at the day's first moment alone, yesterday 00:00 is 36 hours back, outside the 24-hour
    window: the heart rate of 135 fell out in silence, though it may be of last night."""
    result = run(form(answered("vitals.heart_rate", valueInteger=135), authored="2025-01-14"), now=AT)
    assert "vitals.heart_rate" in result.unknown
    assert named(result) == {
        "vitals.heart_rate": "QuestionnaireResponse/form is recorded only to the day (2025-01-14), which begins "
        "before the window this field is read in and may end within it; left unknown"
    }


def test_a_form_timed_ahead_is_read_alone_and_stands_beside_a_placed_answer():
    """Reviews of 2f42697 and 7fc5b53: a form timed an hour ahead (or at 13:30 with no zone, read
    as UTC) was set aside whole, and its saddle numbness with it: routine for the cord emergency;
    then, dropped beside an older "no", it lost in silence. It cannot be placed against another
    reading: alone it is read, beside one that differs it is a conflict, named."""
    for authored in ("2025-01-15T13:30:00Z", "2025-01-15T13:30:00", "2025-01-15T21:00:00+00:00"):
        alone = form(answered("symptoms.saddle_anaesthesia", valueBoolean=True), authored=authored)
        assert flatten(run(alone, now=AT).encounter) == {"symptoms.saddle_anaesthesia": True}, authored
    # a "yes" dated ahead beside a placed "no": a conflict, named; a "no" dated ahead beside a
    # placed "yes": its moment is not known, and a "no" is only as good as that (the "yes" stands)
    yes_ahead = form(
        answered("symptoms.saddle_anaesthesia", valueBoolean=True), rid="ahead", authored="2025-01-15T12:50:00"
    )
    placed_no = observation("449813001", SNOMED, when="2025-01-15T11:00:00Z", valueBoolean=False)
    result = run(yes_ahead, placed_no, now=AT)
    assert "symptoms.saddle_anaesthesia" in result.unknown
    assert "QuestionnaireResponse/ahead dated ahead of this evaluation" in named(result)["symptoms.saddle_anaesthesia"]
    no_ahead = form(
        answered("symptoms.saddle_anaesthesia", valueBoolean=False), rid="ahead", authored="2025-01-15T12:50:00"
    )
    placed_yes = observation("449813001", SNOMED, when="2025-01-15T11:00:00Z", valueBoolean=True)
    result = run(no_ahead, placed_yes, now=AT)
    assert flatten(result.encounter) == {"symptoms.saddle_anaesthesia": True} and result.errors == []
    agreeing = observation("449813001", SNOMED, when="2025-01-15T11:00:00Z", valueBoolean=True)
    ahead = form(answered("symptoms.saddle_anaesthesia", valueBoolean=True), authored="2025-01-15T13:30:00Z")
    assert flatten(run(ahead, agreeing, now=AT).encounter) == {"symptoms.saddle_anaesthesia": True}


def test_a_history_dated_ahead_is_not_undone_by_a_placed_no():
    ahead = form(answered("history.cancer", valueBoolean=True), rid="ahead", authored="2025-01-15T12:50:00")
    placed = form(answered("history.cancer", valueBoolean=False), rid="placed", authored="2025-01-15T11:00:00Z")
    assert flatten(run(ahead, placed, now=AT).encounter) == {"history.cancer": True}


def test_a_reading_dated_ahead_stands_beside_a_placed_one_with_no_value():
    per_min = {"value": 30, "unit": "/min", "system": UCUM, "code": "/min"}
    rate = observation("9279-1", LOINC, when="2025-01-15T13:30:00Z", valueQuantity=per_min)
    not_done = coding("http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-performed")
    absent = observation("9279-1", LOINC, when="2025-01-15T11:50:00Z", dataAbsentReason=not_done)
    absent["id"] = "absent"
    assert flatten(run(rate, absent, now=AT).encounter) == {"vitals.respiratory_rate": 30}


def test_a_whole_list_of_sites_dated_ahead_joins_the_single_sites_recorded():
    ahead = form({"linkId": "pain.sites", "answer": [{"valueString": "lower_back"}]}, authored="2025-01-15T12:50:00")
    thoracic = condition("279038004", "2025-01-15T10:00:00Z")
    sites = flatten(run(ahead, thoracic, now=AT).encounter)["pain.sites"]
    assert set(sites) == {"lower_back", "thoracic"}


def test_a_form_beyond_every_time_zone_is_named_once():
    result = run(form(answered("vitals.heart_rate", valueInteger=135), authored="2025-01-16T04:00:00Z"), now=AT)
    assert result.encounter == {}
    assert named(result) == {
        "fhir": "QuestionnaireResponse/form is authored in the future (2025-01-16 04:00 UTC): its answers were not used"
    }


# --- a record one of whose versions is entered in error ------------------------------------


def saddle(value, status="final"):
    resource = observation("449813001", SNOMED, when="2025-01-15T09:00:00Z", valueBoolean=value)
    resource["status"] = status
    return resource


@pytest.mark.parametrize("order", ["withdrawn_first", "withdrawn_last"])
def test_a_version_entered_in_error_withdraws_the_record(order):
    versions = [saddle(False), saddle(False, "entered-in-error")]
    result = run(*(versions if order == "withdrawn_last" else versions[::-1]), now=AT)
    assert "symptoms.saddle_anaesthesia" in result.unknown
    assert named(result) == {
        "symptoms.saddle_anaesthesia": "Observation/o-449813001: another version of it is marked entered in error; "
        "not used"
    }


def test_a_withdrawn_record_is_named_unless_another_reads_as_it_did():
    """Differential fuzzing of 00bcafe: a withdrawn saddle numbness beside an older "no" went in
    silence (emergency before, routine after), though the payload does not say which version is
    the latest. Named whenever the value read is not its own."""
    other = saddle(True)
    other["id"] = "other"
    result = run(saddle(True), saddle(True, "entered-in-error"), other, now=AT)
    assert flatten(result.encounter) == {"symptoms.saddle_anaesthesia": True} and result.errors == []
    no = saddle(False)
    no.update(id="no", effectiveDateTime="2025-01-15T08:00:00Z")
    result = run(saddle(True), saddle(True, "entered-in-error"), no, now=AT)
    assert flatten(result.encounter) == {"symptoms.saddle_anaesthesia": False}
    assert named(result) == {
        "symptoms.saddle_anaesthesia": "Observation/o-449813001: another version of it is marked entered in error; "
        "not used. The field is read from another record: no"
    }


def test_versions_of_one_record_dated_ahead_are_not_settled_by_status():
    """Differential fuzzing of 00bcafe: a final "no" timed 13:00 beat the preliminary "yes" of
    11:00 of the same record, in silence, at 12:00 (and of 7d70c7a: a "no" dated ahead, beside a
    placed "yes", is not read at all)."""
    later = saddle(False)
    later["effectiveDateTime"] = "2025-01-15T13:00:00Z"
    earlier = saddle(True, "preliminary")
    earlier["effectiveDateTime"] = "2025-01-15T11:00:00Z"
    result = run(later, earlier, now=AT)
    assert flatten(result.encounter) == {"symptoms.saddle_anaesthesia": True}  # a "no" ahead: not asked yet
    later["valueBoolean"], earlier["valueBoolean"] = True, False  # a "yes" ahead: a conflict, named
    result = run(later, earlier, now=AT)
    assert "dated ahead of this evaluation" in named(result)["symptoms.saddle_anaesthesia"]


def test_single_sites_recorded_after_a_whole_answer_join_it():
    """Differential fuzzing of 00bcafe: a low back pain recorded at 11:00, or dated ahead, dropped
    the thoracic pain answered at 10:00, in silence."""
    answer = form({"linkId": "pain.sites", "answer": [{"valueString": "thoracic"}]}, authored="2025-01-15T10:00:00Z")
    for when in ("2025-01-15T11:00:00Z", "2025-01-15T13:00:00Z"):
        low_back = observation("279039007", SNOMED, when=when, valueBoolean=True)
        sites = flatten(run(answer, low_back, now=AT).encounter)["pain.sites"]
        assert set(sites) == {"thoracic", "lower_back"}, when
    older = observation("279039007", SNOMED, when="2025-01-15T09:00:00Z", valueBoolean=True)
    assert flatten(run(answer, older, now=AT).encounter)["pain.sites"] == ["thoracic"]  # the answer is newer


def test_a_condition_and_a_form_entered_in_error_withdraw_their_own_versions():
    numb = condition("449813001", "2025-01-14T09:00:00Z")
    gone = condition("449813001", "2025-01-14T09:00:00Z", verification="entered-in-error")
    answers = form(answered("symptoms.rigors", valueBoolean=True))
    result = run(numb, gone, answers, form(status="entered-in-error"), now=AT)
    assert {"symptoms.saddle_anaesthesia", "symptoms.rigors"} <= set(result.unknown)
    assert set(named(result)) == {"symptoms.saddle_anaesthesia", "symptoms.rigors"}


def test_an_entered_in_error_record_withdraws_no_other_record():
    # another id, another resource type with the same id: both still read
    other = saddle(True)
    other["id"] = "other"
    answers = form(answered("symptoms.rigors", valueBoolean=True), rid="o-449813001")
    result = run(other, saddle(False, "entered-in-error"), answers, now=AT)
    assert flatten(result.encounter) == {"symptoms.saddle_anaesthesia": True, "symptoms.rigors": True}


def test_a_condition_entered_in_error_withdraws_its_versions_whatever_its_code():
    """Review of 2f42697: the entered-in-error version with a local code (a wrong code is a common
    reason to mark a record so) left its refuted saddle numbness read as a "no"."""
    refuted = condition("449813001", "2025-01-15T09:00:00Z", verification="refuted")
    refuted["id"] = "c1"
    wrong = condition("449813001", "2025-01-15T09:00:00Z", verification="entered-in-error")
    wrong.update(id="c1", code=coding("http://local", "X1"))
    result = run(refuted, wrong, now=AT)
    assert "symptoms.saddle_anaesthesia" in result.unknown


def report(rid, status, value):
    lactate = observation(
        "2524-7", LOINC, valueQuantity={"value": value, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}
    )
    lactate["id"] = "1"
    del lactate["status"], lactate["effectiveDateTime"]
    return {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "code": coding(LOINC, "24323-8"),
        "effectiveDateTime": "2025-01-15T10:00:00Z",
        "contained": [lactate],
        "result": [{"reference": "#1"}],
    }


def test_a_contained_id_is_its_containers_alone():
    """Review of 2f42697: an entered-in-error report's contained lactate "1" withdrew another
    report's contained lactate "1" (5.2: the sepsis emergency) and a top-level Observation/1."""
    top = observation(
        "2524-7",
        LOINC,
        when="2025-01-15T10:00:00Z",
        valueQuantity={"value": 5.2, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
    )
    top["id"] = "1"
    for other in (report("today", "final", 5.2), top):
        result = run(report("wrong", "entered-in-error", 1.1), other, now=AT)
        assert flatten(result.encounter) == {"labs.lactate_mmol_l": 5.2} and result.errors == []
    # and "1" in two reports is two results: a preliminary beside a final is a conflict, not versions
    both = run(report("a", "preliminary", 1.1), report("b", "final", 5.2), now=AT)
    assert "labs.lactate_mmol_l" in both.unknown


def test_many_records_set_aside_make_one_line_per_field():
    old = [
        observation(
            "82810-3", LOINC, when=f"2024-{m:02d}-01T09:00:00Z", valueCodeableConcept=coding(LOINC, "LA15173-0")
        )
        for m in range(1, 11)
    ]
    for i, o in enumerate(old):
        o["id"] = f"p{i}"
    result = run(*old, now=AT)
    assert [e["field"] for e in result.errors] == ["patient.pregnant"]
    assert result.errors[0]["message"].endswith("(ask whether it still does) (and 9 more records set aside)")


def test_every_record_set_aside_with_a_value_is_named_and_a_read_field_is_not_called_unknown():
    """Confirmation fuzz of 2eca577: a withdrawn saddle numbness, the record that made the level an
    emergency before it was withdrawn, was only counted ("and 1 more record set aside") behind an
    undated one, on a line that said "left unknown" of a field read as "no"."""
    undated = saddle(True)
    undated["id"] = "u"
    del undated["effectiveDateTime"]
    no = saddle(False)
    no.update(id="no", effectiveDateTime="2025-01-15T08:00:00Z")
    result = run(saddle(True), saddle(True, "entered-in-error"), no, undated, now=AT)
    assert flatten(result.encounter) == {"symptoms.saddle_anaesthesia": False}
    assert named(result) == {
        "symptoms.saddle_anaesthesia": "Observation/u has no time (effective, issued, onset or recorded date); not "
        "read. Observation/o-449813001: another version of it is marked entered in error; not used. The field is "
        "read from another record: no"
    }


def test_two_containers_with_no_id_are_two_namespaces():
    """Review of 7fc5b53: reports sent with no id (a transaction's, known by their fullUrl) were
    one namespace: the entered-in-error one's lactate "1" withdrew the other's 5.2."""
    wrong, today = report("x", "entered-in-error", 1.1), report("x", "final", 5.2)
    del wrong["id"], today["id"]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": wrong}, {"resource": today}]}
    result = run(bundle, now=AT)
    assert flatten(result.encounter) == {"labs.lactate_mmol_l": 5.2} and result.errors == []


def heart(rid, value, **time):
    rate = observation("8867-4", LOINC, valueQuantity={"value": value, "unit": "/min", "system": UCUM, "code": "/min"})
    del rate["effectiveDateTime"]
    rate.update(id=rid, **time)
    return rate


def test_a_value_that_cannot_be_placed_is_named_beside_another_it_differs_from():
    """Differential fuzzing of d8497a7: a heart rate of 135 dated 20 hours ahead (or undated)
    beside a 72 of this morning went in silence, though it may be the newest; docs/fhir.md said
    a record dated ahead is not dropped in silence."""
    morning = heart("morning", 72, effectiveDateTime="2025-01-15T11:00:00Z")
    for unplaced in (
        heart("ahead", 135, effectiveDateTime="2025-01-16T08:00:00Z"),
        heart("ahead", 135),
    ):
        result = run(morning, unplaced, now=AT)
        assert flatten(result.encounter) == {"vitals.heart_rate": 72}
        assert list(named(result)) == ["vitals.heart_rate"]
        assert named(result)["vitals.heart_rate"].startswith("Observation/ahead ")
        unplaced["valueQuantity"]["value"] = 72  # the value read: nothing hidden, nothing named
        assert run(morning, unplaced, now=AT).errors == []


def test_a_recorded_history_dated_ahead_is_named_beside_a_no():
    cancer = condition("363346000", "2025-01-16T08:00:00Z", recordedDate="2025-01-10")
    no = form(answered("history.cancer", valueBoolean=False))
    result = run(cancer, no, now=AT)
    assert flatten(result.encounter) == {"history.cancer": False}
    assert "dated in the future" in named(result)["history.cancer"]


def test_an_onset_stated_only_to_the_day_is_all_of_that_day():
    """Differential fuzzing of 3232568: an active saddle numbness with onset "2025-01-11" (recorded
    ahead of the clock, or not at all) lost, unnamed, to a resolved one timed 09:50 that day, and
    the field was unknown with nothing on the card (emergency when recorded today)."""
    resolved = condition("449813001", "2025-01-11T09:50:00Z", clinical="resolved")
    resolved["id"] = "resolved"
    for recorded in ({"recordedDate": "2025-01-16T03:38:00Z"}, {}):
        active = condition("449813001", "2025-01-11", **recorded)
        result = run(resolved, active, now=AT)
        assert flatten(result.encounter) == {"symptoms.saddle_anaesthesia": True}, recorded


def test_a_site_recorded_ahead_of_the_clock_joins_a_form_answered_today():
    """Differential fuzzing of 66bf15d: a thoracic back pain begun yesterday, recorded "tomorrow"
    (a wrong clock), lost, unnamed, to a form's "flank" of today: urgent with cancer, routine."""
    thoracic = condition("279038004", "2025-01-14T09:00:00Z", recordedDate="2025-01-16T06:43")
    flank = form({"linkId": "pain.sites", "answer": [{"valueString": "flank"}]}, authored="2025-01-15")
    assert set(flatten(run(thoracic, flank, now=AT).encounter)["pain.sites"]) == {"thoracic", "flank"}


def test_a_refutation_recorded_ahead_of_the_clock_does_not_undo_a_recorded_finding():
    """Differential fuzzing of 7d70c7a: a saddle numbness refuted in a record dated 15 hours ahead
    made a confirmed one of this morning unknown: routine for the cord emergency."""
    present = condition("449813001", "2025-01-15T08:00:00Z", recordedDate="2025-01-15T09:00:00Z")
    refuted = condition("449813001", "2025-01-15T08:00:00Z", verification="refuted", recordedDate="2025-01-16T03:38")
    refuted["id"] = "refuted"
    assert flatten(run(present, refuted, now=AT).encounter) == {"symptoms.saddle_anaesthesia": True}


def test_a_score_of_zero_dated_ahead_is_a_number_not_a_no():
    # review of the session's change: `0 in (False, "none")` held, so a pain score of 0 dated ahead
    # was dropped beside a placed 7 as a "no" dated ahead, in silence; it is a conflict, named
    ahead = form(answered("pain.severity", valueInteger=0), rid="ahead", authored="2025-01-15T13:30:00Z")
    placed = form(answered("pain.severity", valueInteger=7), rid="placed", authored="2025-01-15T11:00:00Z")
    result = run(ahead, placed, now=AT)
    assert "pain.severity" in result.unknown and "pain.severity" in named(result)


def test_a_finding_recorded_no_longer_present_after_it_was_recorded_is_named():
    """Confirmation fuzz of 2eca577: a pregnancy Condition recorded resolved at 11:55 left an
    Observation of "pregnant" at 00:14 unknown with no line (fever in pregnancy is urgent sepsis;
    shared with c695bbe). A resolved record says nothing of today, so the field stays unknown and
    is asked; the card says why. Alone, or after a "no", it hides nothing and is not named."""
    pregnant = observation(
        "82810-3", LOINC, when="2025-01-15T00:14:00Z", valueCodeableConcept=coding(LOINC, "LA15173-0")
    )
    resolved = condition("77386006", "2025-01-15", clinical="resolved", recordedDate="2025-01-15T11:55:00Z")
    result = run(pregnant, resolved, now=AT)
    assert "patient.pregnant" in result.unknown
    assert named(result) == {
        "patient.pregnant": "Condition/c-77386006-2025: a clinical status of the past (resolved, inactive or in "
        "remission), which says nothing of today, recorded after Observation/o-82810-3, which it leaves unread; "
        "left unknown (ask)"
    }
    assert run(resolved, now=AT).errors == []
    not_pregnant = observation(
        "82810-3", LOINC, when="2025-01-15T00:14:00Z", valueCodeableConcept=coding(LOINC, "LA26683-5")
    )
    assert run(not_pregnant, resolved, now=AT).errors == []
    # a "no" of the past leaves a "yes" standing (a resolved Not pregnant left "pregnant" unknown)
    # and reopens a "no"
    not_any_more = condition("60001007", "2025-01-15", clinical="resolved", recordedDate="2025-01-15T11:55:00Z")
    result = run(pregnant, not_any_more, now=AT)
    assert flatten(result.encounter) == {"patient.pregnant": True} and result.errors == []
    assert "patient.pregnant" in run(not_pregnant, not_any_more, now=AT).unknown


@pytest.mark.parametrize("order", ["ahead_first", "ahead_second"])
def test_a_conflict_names_every_record_of_it_not_one_per_value(order):
    """Confirmation fuzz of 4e49c69: a conflict named one record per value, whichever came last,
    so a saddle numbness dated ahead (the record read before) went unnamed behind another "yes",
    and the line said "recorded at the same time" of records one of which cannot be placed."""
    ahead, today = saddle(True), saddle(True)
    ahead.update(id="ahead", effectiveDateTime="2025-01-16")
    today.update(id="a", effectiveDateTime="2025-01-15T11:55:00Z")
    no = form(answered("symptoms.saddle_anaesthesia", valueBoolean=False), rid="q", authored="2025-01-15")
    result = run(*([ahead, today] if order == "ahead_first" else [today, ahead]), no, now=AT)
    line = named(result)["symptoms.saddle_anaesthesia"]
    assert all(ref in line for ref in ("Observation/ahead", "Observation/a", "QuestionnaireResponse/q")), line
    assert "Observation/ahead dated ahead of this evaluation" in line


def test_what_a_report_entered_in_error_holds_is_withdrawn_with_it_whatever_its_own_status():
    """Confirmation fuzz of ca89bab: a final "pregnant" held in a DiagnosticReport entered in error
    was read (urgent with fever, no line), because only a status the contained record lacked was
    taken from its container. A contained resource is part of its container."""
    pregnant = observation(
        "82810-3", LOINC, when="2025-01-15T10:00:00Z", valueCodeableConcept=coding(LOINC, "LA15173-0")
    )
    pregnant["id"] = "p"  # final, and timed, of its own
    wrong = report("wrong", "entered-in-error", 1.1)
    wrong["contained"].append(pregnant)
    result = run(wrong, now=AT)
    assert flatten(result.encounter) == {} and result.errors == []
    assert result.ignored["entered_in_error"] == 2
    assert flatten(run(report("right", "final", 1.1) | {"contained": [pregnant]}, now=AT).encounter) == {
        "patient.pregnant": True
    }
