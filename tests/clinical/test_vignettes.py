"""Every vignette of the clinical specification passes exactly (copied from
../shared/clinical/vignettes; they are data)."""

import pytest

from tests.common.vignettes import VIGNETTES, encounter

IDS = sorted(VIGNETTES)


def test_all_vignettes_are_here():
    assert len(IDS) == 72


@pytest.mark.parametrize("vid", IDS)
def test_vignette(vid, client):
    vignette = VIGNETTES[vid]
    expect = vignette["expect"]
    response = client.post("/v1/evaluate", json=vignette["encounter"])
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    flags = {f["id"] for f in result["flags"]}
    assert result["risk_level"] == expect["risk_level"]
    if "primary" in expect:
        assert result["primary"] == expect["primary"]
    for flag in expect.get("flags", []):
        assert flag in flags
    for flag in expect.get("not_flags", []):
        assert flag not in flags
    if "news2_total" in expect:
        assert result["scores"]["news2"]["total"] == expect["news2_total"]
    for condition, state in expect.get("screen", {}).items():
        assert result["screen"][condition] == state
    missing = [m["field"] for m in result["missing"]]
    for field in expect.get("missing_includes", []):
        assert field in missing
    assert result["encounter_id"] == vid


def test_d06_pregnancy_means_same_day_hospital(evaluate):
    result = evaluate(VIGNETTES["D06"]["encounter"])
    pyelo = next(f for f in result["flags"] if f["id"] == "pyelonephritis")
    assert "same-day hospital assessment" in pyelo["disposition"]
    assert "PYE-HOSPITAL" in [e["rule"] for e in result["trace"]]


def test_d30_advice_includes_fluids(evaluate):
    result = evaluate(VIGNETTES["D30"]["encounter"])
    assert any("fluids" in advice for advice in result["advice"])


def test_d04_without_a_hospital_trigger_is_same_day_clinical_assessment(evaluate):
    result = evaluate(VIGNETTES["D04"]["encounter"])
    assert result["primary"] == "pyelonephritis"
    assert result["disposition"].startswith("Urgent: same-day clinical assessment")
    assert "PYE-HOSPITAL" not in [e["rule"] for e in result["trace"]]


def test_d03_missing_lists_unanswered_screen_items_first(evaluate):
    result = evaluate(VIGNETTES["D03"]["encounter"])
    fields = [m["field"] for m in result["missing"]]
    assert fields[:2] == ["symptoms.saddle_anaesthesia", "symptoms.urinary_retention"]
    assert result["missing"][0]["needed_for"] == ["cord_compression", "spinal_infection"]


def test_once_a_flag_is_raised_missing_is_most_dangerous_first(evaluate):
    """The screen's unanswered items come first only while they decide self-care against
    routine: with meningitis raised (urgent), photophobia (emergency) comes before the pain's
    duration (a routine red flag), and night pain, which can raise nothing now, is not asked."""
    enc = encounter("D01", symptoms__headache="severe", pain__duration_days=None, pain__night_pain=None)
    result = evaluate({**enc, "symptoms": {k: v for k, v in enc["symptoms"].items() if k != "photophobia"}})
    assert (result["risk_level"], result["primary"]) == ("urgent", "meningitis")
    fields = [m["field"] for m in result["missing"]]
    assert fields[0] == "symptoms.photophobia"
    assert fields.index("symptoms.photophobia") < fields.index("pain.duration_days")
    assert "pain.night_pain" not in fields


def test_of_two_questions_reaching_the_same_level_the_one_that_reaches_it_alone_comes_first(evaluate):
    """Fever, rigors and a sore throat (a published meningococcal case, the rash's blanching not
    recorded): a routine red flag is raised, and both a non-blanching rash and a history of
    cancer could still bring about an emergency, but the rash alone would. The nurse asks it
    first, not after the history questions that come earlier in the catalogue."""
    enc = {
        "patient": {"age_years": 24, "sex": "male"},
        "vitals": {"temperature_c": 38.9},
        "symptoms": {"rigors": True, "sore_throat": True},
    }
    result = evaluate(enc)
    assert result["risk_level"] == "routine"
    missing = {m["field"]: m["needed_for"] for m in result["missing"]}
    fields = list(missing)
    assert "meningitis" in missing["symptoms.non_blanching_rash"]
    assert "cord_compression" in missing["history.cancer"]  # an emergency only beside other findings
    assert fields.index("symptoms.non_blanching_rash") < fields.index("history.cancer")
    # an answer that can only rule something out reaches nothing alone: not on oxygen comes
    # after the new oxygen need it would answer "no" to
    assert fields.index("vitals.new_oxygen_need") < fields.index("vitals.on_oxygen")


def test_once_a_flag_is_raised_an_answer_that_changes_nothing_is_not_missing(evaluate):
    rash = {"symptoms__non_blanching_rash": True, "history__cancer": True}
    result = evaluate(encounter("D01", **rash, symptoms__headache=None))
    assert result["risk_level"] == "emergency"
    assert "symptoms.headache" not in [m["field"] for m in result["missing"]]


def test_a_partial_list_of_pain_sites_leaves_the_screen_incomplete(evaluate):
    """Section 11: every item known; sites the caller has not finished naming are not."""
    afebrile = {"vitals__temperature_c": 37.0, "symptoms__reported_fever": False}
    assert evaluate(encounter("D01", **afebrile))["risk_level"] == "self_care"
    result = evaluate(encounter("D01", **afebrile, pain__sites_partial=True))
    assert (result["risk_level"], result["primary"]) == ("routine", "systemic_myalgia")
    assert result["missing"][0]["field"] == "pain.sites"


def test_d24_unknown_everything_lists_the_screen_first(evaluate, rulebase):
    result = evaluate(VIGNETTES["D24"]["encounter"])
    fields = [m["field"] for m in result["missing"]]
    unanswered = [p for p in rulebase.screen.items if p != "pain.sites"]
    assert set(unanswered) <= set(fields)
    first_unaskable = min(i for i, p in enumerate(fields) if p in rulebase.screen.assumed_normal)
    assert max(fields.index(p) for p in unanswered) < first_unaskable
    assert result["scores"]["news2"]["complete"] is False
    assert result["scores"]["qsofa"]["complete"] is False
