"""Every numeric threshold of the clinical specification, tested on both sides, and every
categorical criterion with its inputs present and absent. The base is vignette D01: a complete,
negative screen (temperature 38.3, heart rate 96, respiratory rate 18, systolic 122, SpO2 97
on air, alert)."""

import pytest

from tests.conftest import encounter


def fired(result):
    return {entry["rule"] for entry in result["trace"]}


def flag_level(result, flag):
    return next((f["risk_level"] for f in result["flags"] if f["id"] == flag), None)


# (rule, changes that make it fire, changes just on the other side of the threshold)
NUMERIC = [
    ("DER-FEVER", {"vitals__temperature_c": 38.0}, {"vitals__temperature_c": 37.9}),
    ("DER-HYPOTHERMIA", {"vitals__temperature_c": 35.9}, {"vitals__temperature_c": 36.0}),
    ("SEP-RR-HIGH", {"vitals__respiratory_rate": 25}, {"vitals__respiratory_rate": 24}),
    ("SEP-SBP-LOW", {"vitals__systolic_bp": 90}, {"vitals__systolic_bp": 91}),
    (
        "SEP-SBP-DROP",
        {"vitals__systolic_bp": 125, "vitals__usual_systolic_bp": 166},
        {"vitals__systolic_bp": 125, "vitals__usual_systolic_bp": 165},
    ),
    ("SEP-HR-HIGH", {"vitals__heart_rate": 131}, {"vitals__heart_rate": 130}),
    ("SEP-ANURIA", {"vitals__hours_since_urine": 18}, {"vitals__hours_since_urine": 17.9}),
    ("SEP-LACTATE-HIGH", {"labs__lactate_mmol_l": 4}, {"labs__lactate_mmol_l": 3.9}),
    ("SEP-MOD-RR", {"vitals__respiratory_rate": 21}, {"vitals__respiratory_rate": 20}),
    ("SEP-MOD-RR", {"vitals__respiratory_rate": 24}, {"vitals__respiratory_rate": 25}),
    ("SEP-MOD-SBP", {"vitals__systolic_bp": 100}, {"vitals__systolic_bp": 101}),
    ("SEP-MOD-SBP", {"vitals__systolic_bp": 91}, {"vitals__systolic_bp": 90}),
    ("SEP-MOD-HR", {"vitals__heart_rate": 91}, {"vitals__heart_rate": 90}),
    ("SEP-MOD-HR", {"vitals__heart_rate": 130}, {"vitals__heart_rate": 131}),
    ("SEP-MOD-HYPOTHERMIA", {"vitals__temperature_c": 35.9}, {"vitals__temperature_c": 36.0}),
    ("SEP-MOD-URINE", {"vitals__hours_since_urine": 12}, {"vitals__hours_since_urine": 11.9}),
    ("SEP-MOD-URINE", {"vitals__hours_since_urine": 17.9}, {"vitals__hours_since_urine": 18}),
    ("SEP-MOD-LACTATE", {"labs__lactate_mmol_l": 2}, {"labs__lactate_mmol_l": 1.9}),
    ("SEP-MOD-LACTATE", {"labs__lactate_mmol_l": 3.9}, {"labs__lactate_mmol_l": 4}),
    ("PP-DURATION", {"pain__duration_days": 42.5}, {"pain__duration_days": 42}),
    # NEWS2 thresholds: D01 scores temperature 1 + pulse 1 = 2
    ("SEP-NEWS2-MEDIUM", {"vitals__respiratory_rate": 21, "vitals__spo2": 95}, {"vitals__respiratory_rate": 21}),
    (
        "SEP-NEWS2-HIGH",
        {"vitals__respiratory_rate": 21, "vitals__spo2": 95, "vitals__systolic_bp": 105, "vitals__temperature_c": 39.1},
        {"vitals__respiratory_rate": 21, "vitals__spo2": 95, "vitals__systolic_bp": 105},
    ),
    ("SEP-NEWS2-SINGLE", {"vitals__spo2": 91}, {"vitals__spo2": 92}),
    ("SEP-QSOFA", {"vitals__respiratory_rate": 22, "vitals__systolic_bp": 100}, {"vitals__respiratory_rate": 22}),
    ("SEP-QSOFA", {"vitals__consciousness": "voice", "vitals__systolic_bp": 100}, {"vitals__systolic_bp": 100}),
]


@pytest.mark.parametrize(("rule", "on", "off"), NUMERIC, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(NUMERIC)])
def test_numeric_threshold_both_sides(evaluate, rule, on, off):
    assert rule in fired(evaluate(encounter("D01", **on)))
    assert rule not in fired(evaluate(encounter("D01", **off)))


def test_news2_totals_behind_the_thresholds(evaluate):
    six = encounter("D01", vitals__respiratory_rate=21, vitals__spo2=95, vitals__systolic_bp=105)
    seven = encounter("D01", vitals__respiratory_rate=21, vitals__spo2=95, vitals__systolic_bp=105)
    seven["vitals"]["temperature_c"] = 39.1
    assert evaluate(six)["scores"]["news2"]["total"] == 6
    assert evaluate(seven)["scores"]["news2"]["total"] == 7
    assert flag_level(evaluate(six), "sepsis") == "urgent"
    assert flag_level(evaluate(seven), "sepsis") == "emergency"


def test_one_moderate_criterion_is_named_but_raises_nothing(evaluate):
    result = evaluate(encounter("D01", symptoms__behaviour_change_reported=True, vitals__heart_rate=80))
    assert "SEP-MOD-BEHAVIOUR" in fired(result)
    assert flag_level(result, "sepsis") is None


def test_two_moderate_criteria_are_urgent(evaluate):
    result = evaluate(
        encounter(
            "D01", symptoms__behaviour_change_reported=True, symptoms__functional_decline=True, vitals__heart_rate=80
        )
    )
    assert "SEP-MODERATE" in fired(result)
    assert flag_level(result, "sepsis") == "urgent"
    assert result["risk_level"] == "urgent"


def test_fever_from_report_only_when_no_temperature_was_measured(evaluate):
    unmeasured = encounter("D01", vitals__temperature_c=None, history__iv_drug_use=True)
    assert flag_level(evaluate(unmeasured), "spinal_infection") == "urgent"
    measured_normal = encounter("D01", vitals__temperature_c=37.0, history__iv_drug_use=True)
    assert flag_level(evaluate(measured_normal), "spinal_infection") is None
    rigors_alone = encounter(
        "D01",
        vitals__temperature_c=None,
        symptoms__reported_fever=False,
        symptoms__rigors=True,
        history__iv_drug_use=True,
    )
    assert "DER-FEVER" in fired(evaluate(rigors_alone))


# (flag, level, changes that raise it); the base D01 raises no flag
CATEGORICAL = [
    ("meningitis", "emergency", {"symptoms__non_blanching_rash": True}),  # with fever (38.3)
    (
        "meningitis",
        "emergency",
        {"symptoms__non_blanching_rash": True, "vitals__temperature_c": 37.0, "symptoms__headache": "mild"},
    ),
    ("meningitis", "emergency", {"symptoms__neck_stiffness": True}),
    ("meningitis", "emergency", {"exam__kernig_or_brudzinski": True}),
    (
        "meningitis",
        "emergency",
        {"symptoms__neck_stiffness": True, "vitals__temperature_c": 37.0, "symptoms__headache": "severe"},
    ),
    ("meningitis", "emergency", {"vitals__consciousness": "new_confusion", "symptoms__headache": "severe"}),
    ("meningitis", "urgent", {"symptoms__headache": "severe", "symptoms__photophobia": True}),
    ("sepsis", "emergency", {"symptoms__mottled_or_ashen_skin": True}),
    ("sepsis", "emergency", {"symptoms__cyanosis": True}),
    ("sepsis", "emergency", {"vitals__consciousness": "pain"}),
    ("cord_compression", "emergency", {"symptoms__saddle_anaesthesia": True}),
    ("cord_compression", "emergency", {"exam__reduced_perianal_sensation": True}),
    ("cord_compression", "emergency", {"symptoms__urinary_retention": True}),
    ("cord_compression", "emergency", {"symptoms__urinary_incontinence": True}),
    ("cord_compression", "emergency", {"symptoms__faecal_incontinence": True}),
    ("cord_compression", "emergency", {"symptoms__leg_weakness": "bilateral"}),
    (
        "cord_compression",
        "emergency",
        {"symptoms__leg_weakness": "unilateral", "symptoms__leg_weakness_progressive": True},
    ),
    ("cord_compression", "emergency", {"symptoms__bilateral_sciatica": True}),
    ("cord_compression", "emergency", {"history__cancer": True, "symptoms__leg_numbness": True}),
    ("cord_compression", "urgent", {"symptoms__leg_weakness": "unilateral"}),
    ("cord_compression", "urgent", {"symptoms__leg_numbness": True}),
    ("cord_compression", "urgent", {"symptoms__sexual_dysfunction": True}),
    ("cord_compression", "urgent", {"history__cancer": True, "pain__night_pain": True}),
    ("cord_compression", "urgent", {"history__cancer": True, "pain__trend": "rapidly_worsening"}),
    ("cord_compression", "urgent", {"history__cancer": True, "pain__sites": ["thoracic"]}),
    ("spinal_infection", "urgent", {"history__immunosuppressed": True}),
    ("spinal_infection", "urgent", {"history__recent_spinal_procedure": True}),
    (
        "spinal_infection",
        "urgent",
        {"history__iv_drug_use": True, "vitals__temperature_c": 37.0, "symptoms__rigors": True},
    ),
    ("pyelonephritis", "urgent", {"exam__cva_tenderness": True}),  # with fever (38.3)
    (
        "pyelonephritis",
        "urgent",
        {"pain__sites": ["flank"], "vitals__temperature_c": 37.0, "labs__urine_nitrite": True},
    ),
    (
        "pyelonephritis",
        "urgent",
        {"pain__sites": ["flank"], "vitals__temperature_c": 37.0, "symptoms__haematuria": True},
    ),
    ("red_flag_review", "routine", {"symptoms__unexplained_weight_loss": True}),
    ("red_flag_review", "routine", {"pain__night_pain": True}),
    ("red_flag_review", "routine", {"history__cancer": True}),
    ("red_flag_review", "routine", {"history__immunosuppressed": True, "vitals__temperature_c": 37.0}),
    ("red_flag_review", "routine", {"history__recent_surgery_or_trauma": True}),
    ("red_flag_review", "routine", {"symptoms__headache": "severe"}),
    ("persistent_pain", "routine", {"pain__trend": "rapidly_worsening"}),
    ("persistent_pain", "routine", {"pain__distribution": "localized", "pain__laterality": "left"}),
]


@pytest.mark.parametrize(
    ("flag", "level", "changes"), CATEGORICAL, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(CATEGORICAL)]
)
def test_categorical_criterion(evaluate, flag, level, changes):
    assert evaluate(encounter("D01"))["flags"] == []
    assert flag_level(evaluate(encounter("D01", **changes)), flag) == level


def test_red_flag_cancer_is_superseded_by_cord_features(evaluate):
    assert flag_level(evaluate(encounter("D01", history__cancer=True)), "red_flag_review") == "routine"
    with_neuro = evaluate(encounter("D01", history__cancer=True, symptoms__leg_numbness=True))
    assert flag_level(with_neuro, "cord_compression") == "emergency"
    assert flag_level(with_neuro, "red_flag_review") is None


def test_immunosuppressed_without_fever_is_review_and_with_fever_is_spinal_infection(evaluate):
    afebrile = evaluate(encounter("D01", history__immunosuppressed=True, vitals__temperature_c=37.0))
    assert flag_level(afebrile, "red_flag_review") == "routine"
    febrile = evaluate(encounter("D01", history__immunosuppressed=True))
    assert flag_level(febrile, "spinal_infection") == "urgent"
    assert flag_level(febrile, "red_flag_review") is None
    unknown_fever = evaluate(
        encounter("D01", history__immunosuppressed=True, vitals__temperature_c=None, symptoms__reported_fever=None)
    )
    # fever unknown: the review flag is raised (the safer reading of "without fever")
    assert flag_level(unknown_fever, "red_flag_review") == "routine"


def test_one_sided_pain_with_flank_pain_is_not_persistent_pain(evaluate):
    one_sided = {"pain__distribution": "localized", "pain__laterality": "right"}
    assert flag_level(evaluate(encounter("D01", **one_sided)), "persistent_pain") == "routine"
    flank = evaluate(encounter("D01", pain__sites=["flank"], vitals__temperature_c=37.0, **one_sided))
    assert flag_level(flank, "persistent_pain") is None


@pytest.mark.parametrize(
    ("changes", "hospital"),
    [
        ({"patient__pregnant": True}, True),
        ({"symptoms__vomiting": True}, True),
        ({"symptoms__reduced_oral_intake": True}, True),
        ({"history__immunosuppressed": True}, True),
        ({}, False),
    ],
)
def test_pyelonephritis_disposition(evaluate, changes, hospital):
    result = evaluate(encounter("D04", **changes))
    pyelo = next(f for f in result["flags"] if f["id"] == "pyelonephritis")
    assert ("same-day hospital assessment" in pyelo["disposition"]) is hospital
