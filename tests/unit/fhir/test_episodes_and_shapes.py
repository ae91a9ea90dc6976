"""The FHIR data issue's findings, each as EHRs send it: old records, chronic problems, absent
wider than the code, the UK ACVPU, the Symptoms IG, coded answers, integers and /uL, pain sites,
and QuestionnaireResponses. TODAY's evaluation is at its end (23:59:59 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds.fhir import map_resources, resources_from
from cds.fhir.questionnaire import ANSWERS
from cds.triage import load_rulebase, triage_for
from tests.common.fhir_builders import TODAY, flatten
from tests.common.fhir_records import LOINC, NOW, SNOMED, UCUM, coding, condition, observation, run, values
from tests.common.paths import RULES_DIR

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


# --- time: old records count as today no more --------------------------------------------------


def test_a_refuted_fever_from_last_year_says_nothing_about_today():
    result = run(condition("386661006", "2024-01-10", "inactive", "refuted"))
    assert "symptoms.reported_fever" in result.unknown
    assert result.coverage == {"symptoms.reported_fever": {"outside_episode": 1}}


def test_an_active_stiff_neck_from_two_years_ago_does_not_raise_meningitis():
    assert "symptoms.neck_stiffness" in run(condition("161882006", "2023-01-10")).unknown


def test_a_years_old_incontinence_recorded_today_is_not_new():
    old = condition("165232002", "2015-06-01", recordedDate="2025-01-15")  # the onset decides
    assert "symptoms.urinary_incontinence" in run(old).unknown
    new = condition("165232002", "2025-01-14T20:00:00Z")
    assert values(new)["symptoms.urinary_incontinence"] is True


def test_an_undated_condition_of_this_illness_says_nothing():
    undated = condition("165232002", None)
    result = run(undated)
    assert "symptoms.urinary_incontinence" in result.unknown
    assert [e["field"] for e in result.errors] == ["symptoms.urinary_incontinence"]  # but is named


def test_a_no_counts_for_a_day_and_a_yes_for_the_illness():
    three_days = "2025-01-12T10:00:00Z"
    assert values(condition("161882006", three_days))["symptoms.neck_stiffness"] is True
    assert "symptoms.neck_stiffness" in run(condition("161882006", three_days, "inactive", "refuted")).unknown
    assert values(condition("161882006", NOW, "inactive", "refuted"))["symptoms.neck_stiffness"] is False


def test_history_of_cancer_counts_at_any_date_even_resolved():
    assert values(condition("363346000", "1998-03-01", "resolved"))["history.cancer"] is True


def test_a_lasting_state_counts_while_active_whatever_its_date():
    assert values(condition("73211009", "2001-05-01"))["history.diabetes"] is True
    assert "history.diabetes" in run(condition("73211009", "2001-05-01", "resolved")).unknown


def test_the_contracts_own_period_bounds_a_recent_history():
    assert values(condition("68566005", "2024-11-20"))["history.recent_infection_elsewhere"] is True  # 8 weeks
    assert "history.recent_infection_elsewhere" in run(condition("68566005", "2024-09-01")).unknown  # 4.5 months


def test_a_window_can_be_configured():
    old = observation(
        "8310-5", LOINC, "2025-01-13T10:00:00Z", valueQuantity={"value": 38.5, "system": UCUM, "code": "Cel"}
    )
    assert "vitals.temperature_c" in run(old).unknown
    assert flatten(run(old, measured_hours=72).encounter)["vitals.temperature_c"] == 38.5


# --- absent closes only the same or a wider concept ---------------------------------------------


@pytest.mark.parametrize(
    ("code", "path"),
    [
        ("267064002", "symptoms.urinary_retention"),  # no retention: difficulty starting may remain
        ("309537005", "symptoms.leg_numbness"),  # no numbness: tingling may remain
        ("234532001", "history.immunosuppressed"),  # no immunodeficiency: steroids may remain
        ("66590003", "history.alcohol_misuse"),
    ],
)
def test_a_narrower_code_refuted_leaves_its_field_unknown(code, path):
    result = run(condition(code, NOW, "inactive", "refuted"))
    assert path in result.unknown
    assert result.coverage[path] == {"narrower_or_wider_code": 1}


# Codes an audit found unread, dropped as unrecognised: each fills its field recorded present, as a
# Condition or an Observation; recorded absent, it says nothing (none rules out the whole field).
ADDED = [
    ("5972002", "symptoms.urinary_retention", True),  # Delay when starting to pass urine
    ("1845001", "symptoms.leg_weakness", "bilateral"),  # Paraparesis
    ("309538000", "symptoms.leg_numbness", True),  # Numbness of foot
    ("309087008", "symptoms.leg_numbness", True),  # Paresthesia of foot
    ("437986008", "symptoms.neck_stiffness", True),  # Meningism
    ("103001002", "symptoms.reported_fever", True),  # Feeling feverish
]


@pytest.mark.parametrize(("code", "path", "value"), ADDED)
def test_an_added_code_fills_its_field_as_a_condition_or_an_observation(code, path, value):
    assert values(condition(code, NOW))[path] == value
    assert values(observation(code))[path] == value  # a SNOMED CT finding sent with no value asserts itself
    assert values(observation(code, valueBoolean=True))[path] == value


@pytest.mark.parametrize(("code", "path", "value"), ADDED)
def test_an_added_code_recorded_absent_says_nothing(code, path, value):
    for absent in (condition(code, NOW, "inactive", "refuted"), observation(code, valueBoolean=False)):
        result = run(absent)
        assert path in result.unknown
        assert result.coverage[path] == {"narrower_or_wider_code": 1}


# --- the shapes EHRs use -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "level"),
    [("248234008", "alert"), ("130987000", "new_confusion"), ("300202002", "voice"), ("422768004", "unresponsive")],
)
def test_acvpu_sent_the_uk_way(value, level):
    acvpu = observation("1104441000000107", valueCodeableConcept=coding(SNOMED, value))
    assert values(acvpu)["vitals.consciousness"] == level


def test_an_unknown_acvpu_value_is_ignored_and_counted():
    result = run(observation("1104441000000107", valueCodeableConcept=coding(SNOMED, "12345")))
    assert result.coverage == {"vitals.consciousness": {"unrecognised_value": 1}}


def test_the_symptoms_ig_shape():
    present = observation("75325-1", LOINC, valueCodeableConcept=coding(SNOMED, "386661006"))
    absent = observation("111551-8", LOINC, valueCodeableConcept=coding(SNOMED, "161882006"))
    assert values(present, absent) == {"symptoms.reported_fever": True, "symptoms.neck_stiffness": False}
    # reported absent three days ago: a "no" of then is not a "no" of now
    old_absent = observation(
        "111551-8", LOINC, "2025-01-12T10:00:00Z", valueCodeableConcept=coding(SNOMED, "161882006")
    )
    assert "symptoms.neck_stiffness" in run(old_absent).unknown


def test_integers_and_cells_per_microlitre():
    gcs = observation("9269-2", LOINC, valueInteger=13)
    pain = observation("72514-3", LOINC, valueInteger=8)
    wbc = observation("6690-2", LOINC, valueQuantity={"value": 12500, "system": UCUM, "code": "/uL"})
    assert values(gcs, pain, wbc) == {
        "vitals.consciousness": "new_confusion",
        "pain.severity": 8,
        "labs.wbc_10e9_l": 12.5,
    }


def test_breathing_room_air_recorded_as_a_code():
    assert values(observation("722742002"))["vitals.on_oxygen"] is False


def test_a_cloudy_urine_clarity():
    clarity = observation("32167-9", LOINC, valueCodeableConcept=coding(SNOMED, "81858005"))
    assert values(clarity)["symptoms.cloudy_urine"] is True


# --- pain sites ----------------------------------------------------------------------------------


def test_sites_from_records_are_a_partial_list_that_keeps_the_others_unknown():
    flank = condition("247355005", NOW)
    neck = observation("81680005")
    result = run(flank, neck)
    assert result.encounter["pain"] == {"sites": ["flank", "neck"], "sites_partial": True}
    triage = triage_for(load_rulebase(RULES_DIR))
    evaluated = triage.evaluate_document(
        {**result.encounter, "patient": {"age_years": 70}, "history": {"cancer": True}}
    )
    # neck pain with a history of cancer: raised; the partial list leaves thoracic pain to ask
    assert any(f["id"] == "cord_compression" for f in evaluated["flags"])
    assert "pain.sites" not in result.unknown


def test_a_back_pain_record_without_a_region_gives_no_site():
    assert "pain.sites" in run(condition("161891005", NOW)).unknown


@pytest.mark.parametrize(
    "onset",
    [
        {"onsetAge": {"value": 55, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}},
        {"onsetString": "this morning"},
        {"onsetRange": {"low": {"value": 55, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}}},
        {"onsetPeriod": {"end": "2025-01-15"}},
    ],
)
def test_a_red_flag_recorded_today_with_an_onset_that_cannot_be_dated_still_counts(onset):
    """An onset this reader cannot place falls back to the recording: saddle numbness "since this
    morning", recorded today, must not vanish (undating it gave routine for an emergency)."""
    saddle = condition("449813001", None, recordedDate=NOW, **onset)
    assert values(saddle)["symptoms.saddle_anaesthesia"] is True


def test_an_abated_condition_without_a_clinical_status_still_raises():
    """No status is read as present, abatement or not: "abatementString: ongoing" or a date to
    come must not drop a red flag (reading abatement as past did)."""
    for abatement in ({"abatementDateTime": "2025-02-01"}, {"abatementString": "ongoing"}):
        saddle = condition("449813001", NOW, **abatement)
        del saddle["clinicalStatus"]
        assert values(saddle)["symptoms.saddle_anaesthesia"] is True


# --- QuestionnaireResponse -----------------------------------------------------------------------


def response(*items, authored=NOW, status="completed"):
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "qr1",
        "status": status,
        "authored": authored,
        "item": list(items),
    }


def item(link, *answers):
    return {"linkId": link, "answer": list(answers)}


def test_answers_are_read_by_link_id():
    qr = response(
        item("symptoms.saddle_anaesthesia", {"valueBoolean": False}),
        item("symptoms.neck_stiffness", {"valueCoding": {"system": LOINC, "code": "LA33-6"}}),
        item("symptoms.photophobia", {"valueCoding": {"system": SNOMED, "code": "261665006"}}),  # Unknown
        item("vitals.consciousness", {"valueCoding": {"system": ANSWERS, "code": "voice"}}),
        item("pain.severity", {"valueInteger": 7}),
        item("vitals.temperature_c", {"valueDecimal": 38.4}),
        item("pain.sites", {"valueCoding": {"system": ANSWERS, "code": "thoracic"}}, {"valueString": "lower_back"}),
        {"linkId": "group", "item": [item("symptoms.rigors", {"valueBoolean": True})]},
        item("symptoms.vomiting"),  # not answered
        item("not.a.field", {"valueBoolean": True}),
    )
    result = run(qr)
    assert flatten(result.encounter) == {
        "symptoms.saddle_anaesthesia": False,
        "symptoms.neck_stiffness": True,
        "symptoms.rigors": True,
        "vitals.consciousness": "voice",
        "vitals.temperature_c": 38.4,
        "pain.severity": 7,
        "pain.sites": ["lower_back", "thoracic"],  # the whole answer: not partial
    }
    assert {"symptoms.photophobia", "symptoms.vomiting"} <= set(result.unknown)
    assert result.coverage["symptoms.photophobia"] == {"answered_unknown": 1}
    assert result.ignored["unknown_link_id"] == 1


def test_an_old_response_says_nothing_about_now():
    result = run(
        response(item("symptoms.saddle_anaesthesia", {"valueBoolean": False}), authored="2025-01-10T09:00:00Z")
    )
    assert "symptoms.saddle_anaesthesia" in result.unknown


@pytest.mark.parametrize(
    ("link", "answer"),
    [
        ("pain.severity", {"valueInteger": 11}),
        ("vitals.consciousness", {"valueString": "drowsy"}),
        ("symptoms.rigors", {"valueString": "yes"}),
    ],
)
def test_a_bad_answer_is_never_guessed(link, answer):
    result = run(response(item(link, answer)))
    assert link in result.unknown
    assert [e["field"] for e in result.errors] == [link]  # and the clinician is told


@pytest.mark.parametrize(
    ("link", "quantity", "expected"),
    [
        ("vitals.temperature_c", {"value": 39.4, "unit": "°C", "system": UCUM, "code": "Cel"}, 39.4),
        ("vitals.temperature_c", {"value": 102.2, "system": UCUM, "code": "[degF]"}, 39.0),
        ("vitals.heart_rate", {"value": 118, "system": UCUM, "code": "/min"}, 118),
        ("vitals.respiratory_rate", {"value": 23, "system": UCUM, "code": "/min"}, 23),
    ],
)
def test_a_quantity_answer_is_read_in_an_accepted_unit(link, quantity, expected):
    """Finding: valueQuantity, the FHIR answer type of a quantity item, was dropped without a word
    (temperature 39.4, heart rate 118 and respiratory rate 23 gave routine, not sepsis)."""
    result = run(response(item(link, {"valueQuantity": quantity})))
    assert flatten(result.encounter)[link] == pytest.approx(expected) and result.errors == []


@pytest.mark.parametrize(
    ("link", "quantity"),
    [
        ("vitals.temperature_c", {"value": 39.4, "unit": "C"}),  # no UCUM code
        ("vitals.heart_rate", {"value": 118, "system": UCUM, "code": "mm[Hg]"}),
        ("vitals.heart_rate", {"value": 118, "comparator": ">", "system": UCUM, "code": "/min"}),
        ("vitals.heart_rate", {"value": 10**400, "system": UCUM, "code": "/min"}),  # once a 500
    ],
)
def test_a_quantity_answer_in_no_accepted_unit_is_an_error(link, quantity):
    result = run(response(item(link, {"valueQuantity": quantity})))
    assert link in result.unknown and [e["field"] for e in result.errors] == [link]


def test_a_list_answer_with_one_unreadable_site_is_an_error_not_a_silent_drop():
    sites = item("pain.sites", {"valueCoding": {"system": ANSWERS, "code": "lower_back"}}, {"valueString": "Thoracic"})
    result = run(response(sites))
    assert "pain.sites" in result.unknown and [e["field"] for e in result.errors] == ["pain.sites"]


def test_a_response_without_an_authored_time_is_reported_not_silently_unused():
    qr = response(item("symptoms.saddle_anaesthesia", {"valueBoolean": True}))
    del qr["authored"]
    result = run(qr)
    assert "symptoms.saddle_anaesthesia" in result.unknown
    assert [e["field"] for e in result.errors] == ["fhir"] and "authored" in result.errors[0]["message"]


def test_an_entered_in_error_response_is_ignored():
    result = run(response(item("symptoms.rigors", {"valueBoolean": True}), status="entered-in-error"))
    assert result.encounter == {} and result.ignored == {"entered_in_error": 1}


def test_the_evaluation_time_can_be_given():
    fever = condition("386661006", "2025-03-01T08:00:00Z")
    assert "symptoms.reported_fever" in run(fever).unknown  # after the evaluation: not of it
    later = map_resources(resources_from([fever]), TODAY, now=datetime(2025, 3, 1, 12, tzinfo=UTC))
    assert flatten(later.encounter)["symptoms.reported_fever"] is True


@pytest.mark.parametrize("birth", ["0000", "9999", "2000-13", "2000-00", "1980-02-30"])
def test_a_birth_date_that_is_no_date_gives_no_age(birth):
    """Not a 500 (a CDS Hooks call once failed on "9999"): the age is unknown and asked."""
    from datetime import date

    from cds.fhir.dates import age_on

    assert age_on(birth, date(2026, 12, 1)) is None


def test_a_partial_birth_date_gives_the_youngest_age_it_allows():
    from datetime import date

    from cds.fhir.dates import age_on

    assert age_on("1980-02", date(2026, 12, 1)) == 46
    assert age_on("1980", date(2026, 6, 1)) == 45


@pytest.mark.parametrize(
    ("link", "older", "expected"),
    [
        ("pain.onset", "gradual", None),  # any other choice field: "don't know" is not the older answer
        ("pain.distribution", "diffuse", None),
        ("pain.laterality", "bilateral", None),
        ("symptoms.headache", "mild", None),  # below the top: unknown, and asked
        ("symptoms.headache", "severe", "severe"),
        ("symptoms.leg_weakness", "none", None),
        ("symptoms.leg_weakness", "unilateral", "unilateral"),  # a cord-compression trigger either way
        ("pain.trend", "worsening", "worsening"),
    ],
)
def test_a_later_dont_know_clears_an_answer_it_may_outgrow_and_keeps_one_it_cannot(link, older, expected):
    """Finding (fifth review): a "don't know" of the onset at 10:00 left the "gradual" of 08:00
    standing: self-care, where the sudden-onset question was open."""
    first = response(item(link, {"valueCoding": {"system": ANSWERS, "code": older}}), authored="2025-01-15T08:00:00Z")
    later = response(item(link, {"valueCoding": {"system": SNOMED, "code": "261665006"}}))
    later["id"] = "qr2"
    result = map_resources(resources_from([first, later]), TODAY)
    assert flatten(result.encounter).get(link) == expected
