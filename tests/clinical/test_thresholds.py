"""Every threshold of clinical specification v2, tested on both sides, and every categorical
criterion with its inputs present and absent.

Bases (each raises no flag):
  FLU       vignette D01: febrile flu (38.3 °C, heart rate 96, respiratory rate 18, systolic 122,
            SpO2 97 on air, alert), viral features, a complete negative screen;
  AFEBRILE  D01 at 36.9 °C, heart rate 78, no fever reported;
  WELL      AFEBRILE without viral features and with negative dipstick and bloods: no sign of
            infection at all.
"""

import pytest

from tests.common.vignettes import encounter

AFEBRILE = {"vitals__temperature_c": 36.9, "vitals__heart_rate": 78, "symptoms__reported_fever": False}
WELL = {
    **AFEBRILE,
    "symptoms__generalized_myalgia": False,
    "symptoms__cough": False,
    "symptoms__coryza": False,
    "labs__urine_nitrite": False,
    "labs__wbc_10e9_l": 7.0,
    "labs__crp_mg_l": 4,
}
BASES = {"flu": {}, "afebrile": AFEBRILE, "well": WELL}


def case(base, **changes):
    return encounter("D01", **{**BASES[base], **changes})


def fired(result):
    return {entry["rule"] for entry in result["trace"]}


def flag_level(result, flag):
    return next((f["risk_level"] for f in result["flags"] if f["id"] == flag), None)


@pytest.mark.parametrize("base", sorted(BASES))
def test_the_bases_raise_nothing(evaluate, base):
    result = evaluate(case(base))
    assert result["flags"] == []


# (rule, base, changes that make it fire, changes just on the other side of the threshold)
NUMERIC = [
    ("DER-FEVER", "afebrile", {"vitals__temperature_c": 38.0}, {"vitals__temperature_c": 37.9}),
    ("DER-HYPOTHERMIA", "afebrile", {"vitals__temperature_c": 35.9}, {"vitals__temperature_c": 36.0}),
    ("DER-OLDER-AGE", "flu", {"patient__age_years": 75}, {"patient__age_years": 74}),
    ("DER-INFLAMMATORY", "well", {"labs__wbc_10e9_l": 12.1}, {"labs__wbc_10e9_l": 12.0}),
    ("DER-INFLAMMATORY", "well", {"labs__wbc_10e9_l": 3.9}, {"labs__wbc_10e9_l": 4.0}),
    ("DER-INFLAMMATORY", "well", {"labs__crp_mg_l": 100.1}, {"labs__crp_mg_l": 100}),
    ("DER-SEVERE-PAIN", "flu", {"pain__severity": 7}, {"pain__severity": 6}),
    ("SEP-RR-HIGH", "flu", {"vitals__respiratory_rate": 25}, {"vitals__respiratory_rate": 24}),
    ("SEP-SPO2-LOW", "flu", {"vitals__spo2": 91}, {"vitals__spo2": 92}),
    (
        "SEP-SPO2-LOW",
        "flu",
        {"vitals__spo2": 91, "vitals__spo2_scale": 1},
        {"vitals__spo2": 91, "vitals__spo2_scale": 2},
    ),
    (
        "SEP-SPO2-LOW-SCALE2",
        "flu",
        {"vitals__spo2": 87, "vitals__spo2_scale": 2},
        {"vitals__spo2": 88, "vitals__spo2_scale": 2},
    ),
    (
        "SEP-SPO2-LOW-SCALE2",
        "flu",
        {"vitals__spo2": 87, "vitals__spo2_scale": 2, "vitals__on_oxygen": True},
        {"vitals__spo2": 87, "vitals__spo2_scale": 1, "vitals__on_oxygen": True},
    ),
    ("SEP-SBP-LOW", "flu", {"vitals__systolic_bp": 90}, {"vitals__systolic_bp": 91}),
    (
        "SEP-SBP-DROP",
        "flu",
        {"vitals__systolic_bp": 125, "vitals__usual_systolic_bp": 166},
        {"vitals__systolic_bp": 125, "vitals__usual_systolic_bp": 165},
    ),
    ("SEP-HR-HIGH", "flu", {"vitals__heart_rate": 130}, {"vitals__heart_rate": 129}),
    ("SEP-ANURIA", "flu", {"vitals__hours_since_urine": 18}, {"vitals__hours_since_urine": 17.9}),
    ("SEP-LACTATE-HIGH", "flu", {"labs__lactate_mmol_l": 4}, {"labs__lactate_mmol_l": 3.9}),
    ("SEP-MOD-RR", "flu", {"vitals__respiratory_rate": 21}, {"vitals__respiratory_rate": 20}),
    ("SEP-MOD-RR", "flu", {"vitals__respiratory_rate": 24}, {"vitals__respiratory_rate": 25}),
    ("SEP-MOD-SBP", "flu", {"vitals__systolic_bp": 100}, {"vitals__systolic_bp": 101}),
    ("SEP-MOD-SBP", "flu", {"vitals__systolic_bp": 91}, {"vitals__systolic_bp": 90}),
    ("SEP-MOD-HR", "flu", {"vitals__heart_rate": 111}, {"vitals__heart_rate": 110}),
    ("SEP-MOD-HR", "flu", {"vitals__heart_rate": 129}, {"vitals__heart_rate": 130}),
    ("SEP-MOD-HYPOTHERMIA", "afebrile", {"vitals__temperature_c": 35.9}, {"vitals__temperature_c": 36.0}),
    ("SEP-MOD-URINE", "flu", {"vitals__hours_since_urine": 12}, {"vitals__hours_since_urine": 11.9}),
    ("SEP-MOD-URINE", "flu", {"vitals__hours_since_urine": 17.9}, {"vitals__hours_since_urine": 18}),
    ("SEP-MOD-LACTATE", "flu", {"labs__lactate_mmol_l": 2}, {"labs__lactate_mmol_l": 1.9}),
    ("SEP-MOD-LACTATE", "flu", {"labs__lactate_mmol_l": 3.9}, {"labs__lactate_mmol_l": 4}),
    (
        "SEP-MOD-TWO",
        "flu",
        {"history__immunosuppressed": True, "vitals__heart_rate": 91},
        {"history__immunosuppressed": True, "vitals__heart_rate": 90},
    ),
    (
        "SEP-MOD-TWO",
        "flu",
        {"history__immunosuppressed": True, "vitals__heart_rate": 110},
        {"history__immunosuppressed": True, "vitals__heart_rate": 111},
    ),
    (
        "SEP-MOD-TWO",
        "flu",
        {"history__recent_surgery_or_trauma": True, "patient__age_years": 75},
        {"history__recent_surgery_or_trauma": True, "patient__age_years": 74, "vitals__heart_rate": 80},
    ),
    ("SEP-NEWS2-MEDIUM", "flu", {"vitals__respiratory_rate": 21, "vitals__spo2": 95}, {"vitals__respiratory_rate": 21}),
    (
        "SEP-NEWS2-HIGH",
        "flu",
        {"vitals__respiratory_rate": 21, "vitals__spo2": 95, "vitals__systolic_bp": 105, "vitals__temperature_c": 39.1},
        {"vitals__respiratory_rate": 21, "vitals__spo2": 95, "vitals__systolic_bp": 105},
    ),
    ("SEP-NEWS2-SINGLE", "flu", {"vitals__spo2": 91}, {"vitals__spo2": 92}),
    (
        "SEP-QSOFA",
        "flu",
        {"vitals__respiratory_rate": 22, "vitals__systolic_bp": 100},
        {"vitals__respiratory_rate": 22},
    ),
    ("SEP-QSOFA", "flu", {"vitals__consciousness": "voice", "vitals__systolic_bp": 100}, {"vitals__systolic_bp": 100}),
    ("CC-CANCER-SPINE", "afebrile", {"history__cancer": True, "pain__severity": 8}, {"history__cancer": True}),
    (
        "CC-CANCER-SPINE",
        "afebrile",
        {"history__cancer": True, "pain__severity": 8},
        {"history__cancer": True, "pain__severity": 7},
    ),
    ("RF-SEVERE-PAIN", "flu", {"pain__severity": 8}, {"pain__severity": 7}),
    (
        "OSC-ANTICOAGULANT-BLEED",
        "flu",
        {"history__anticoagulant": True, "pain__severity": 8},
        {"history__anticoagulant": True, "pain__severity": 7},
    ),
    (
        "OSC-AGE-FLANK",
        "afebrile",
        {"patient__age_years": 60, "pain__sites": ["flank"]},
        {"patient__age_years": 59, "pain__sites": ["flank"]},
    ),
    (
        "SI-RISK-PAIN",
        "afebrile",
        {"history__diabetes": True, "pain__severity": 7},
        {"history__diabetes": True, "pain__severity": 6},
    ),
    (
        "SI-MARKERS-PAIN",
        "well",
        {"labs__crp_mg_l": 101, "pain__severity": 7},
        {"labs__crp_mg_l": 100, "pain__severity": 7},
    ),
    ("PP-DURATION", "flu", {"pain__duration_days": 42.5}, {"pain__duration_days": 42}),
]


@pytest.mark.parametrize(
    ("rule", "base", "on", "off"), NUMERIC, ids=[f"{r}-{i}" for i, (r, _, _, _) in enumerate(NUMERIC)]
)
def test_numeric_threshold_both_sides(evaluate, rule, base, on, off):
    assert rule in fired(evaluate(case(base, **on)))
    assert rule not in fired(evaluate(case(base, **off)))


def test_news2_totals_behind_the_thresholds(evaluate):
    six = case("flu", vitals__respiratory_rate=21, vitals__spo2=95, vitals__systolic_bp=105)
    seven = case(
        "flu", vitals__respiratory_rate=21, vitals__spo2=95, vitals__systolic_bp=105, vitals__temperature_c=39.1
    )
    assert evaluate(six)["scores"]["news2"]["total"] == 6
    assert evaluate(seven)["scores"]["news2"]["total"] == 7
    assert flag_level(evaluate(six), "sepsis") == "urgent"
    assert flag_level(evaluate(seven), "sepsis") == "emergency"


# (flag, level, base, changes that raise it); the bases raise no flag
CATEGORICAL = [
    # sepsis: high risk
    ("sepsis", "emergency", "flu", {"vitals__consciousness": "new_confusion"}),
    ("sepsis", "emergency", "flu", {"vitals__new_oxygen_need": True}),
    ("sepsis", "emergency", "flu", {"symptoms__mottled_or_ashen_skin": True}),
    ("sepsis", "emergency", "flu", {"symptoms__cyanosis": True}),
    ("sepsis", "emergency", "well", {"symptoms__non_blanching_rash": True}),
    ("sepsis", "emergency", "flu", {"history__chemotherapy_last_6_weeks": True}),
    ("sepsis", "emergency", "well", {"history__chemotherapy_last_6_weeks": True, "vitals__temperature_c": 35.5}),
    ("sepsis", "emergency", "afebrile", {"history__chemotherapy_last_6_weeks": True, "symptoms__rigors": True}),
    # sepsis: moderate to high risk with infection suspected
    ("sepsis", "urgent", "flu", {"symptoms__behaviour_change_reported": True}),
    ("sepsis", "urgent", "flu", {"symptoms__functional_decline": True}),
    ("sepsis", "urgent", "flu", {"vitals__new_arrhythmia": True}),
    ("sepsis", "urgent", "well", {"exam__wound_or_device_infection": True}),
    ("sepsis", "urgent", "flu", {"patient__pregnant": True}),
    ("sepsis", "urgent", "flu", {"patient__recently_pregnant": True}),
    ("sepsis", "urgent", "flu", {"history__iv_drug_use": True}),  # with heart rate 96
    ("sepsis", "urgent", "flu", {"history__indwelling_device": True}),
    ("sepsis", "urgent", "flu", {"history__recent_surgery_or_trauma": True}),
    ("sepsis", "urgent", "afebrile", {"history__immunosuppressed": True, "history__indwelling_device": True}),
    # meningitis
    ("meningitis", "emergency", "well", {"symptoms__non_blanching_rash": True}),
    ("meningitis", "emergency", "flu", {"symptoms__neck_stiffness": True}),
    ("meningitis", "emergency", "flu", {"exam__kernig_or_brudzinski": True}),
    ("meningitis", "emergency", "afebrile", {"symptoms__neck_stiffness": True}),  # with a mild headache
    ("meningitis", "emergency", "flu", {"vitals__consciousness": "voice"}),
    ("meningitis", "emergency", "afebrile", {"symptoms__seizure": True}),  # with a mild headache
    ("meningitis", "emergency", "flu", {"symptoms__focal_neurological_deficit": True, "symptoms__headache": "none"}),
    ("meningitis", "emergency", "flu", {"symptoms__headache": "severe", "symptoms__photophobia": True}),
    ("meningitis", "emergency", "flu", {"symptoms__headache": "severe", "symptoms__vomiting": True}),
    ("meningitis", "emergency", "flu", {"symptoms__headache": "severe", "symptoms__behaviour_change_reported": True}),
    ("meningitis", "urgent", "flu", {"symptoms__headache": "severe", "symptoms__photophobia": False}),
    ("meningitis", "urgent", "afebrile", {"symptoms__neck_stiffness": True, "symptoms__headache": "none"}),
    ("meningitis", "urgent", "afebrile", {"exam__kernig_or_brudzinski": True, "symptoms__headache": "none"}),
    # cord compression and cauda equina
    ("cord_compression", "emergency", "well", {"symptoms__saddle_anaesthesia": True}),
    ("cord_compression", "emergency", "well", {"exam__reduced_perianal_sensation": True}),
    ("cord_compression", "emergency", "well", {"symptoms__urinary_retention": True}),
    ("cord_compression", "emergency", "well", {"symptoms__altered_bladder_sensation": True}),
    ("cord_compression", "emergency", "well", {"symptoms__urinary_incontinence": True}),
    ("cord_compression", "emergency", "well", {"symptoms__faecal_incontinence": True}),
    ("cord_compression", "emergency", "well", {"symptoms__leg_weakness": "bilateral"}),
    (
        "cord_compression",
        "emergency",
        "well",
        {"symptoms__leg_weakness": "unilateral", "symptoms__leg_weakness_progressive": True},
    ),
    (
        "cord_compression",
        "emergency",
        "well",
        {"symptoms__leg_weakness": None, "symptoms__leg_weakness_progressive": True},
    ),
    ("cord_compression", "emergency", "well", {"symptoms__bilateral_sciatica": True}),
    ("cord_compression", "emergency", "well", {"symptoms__leg_numbness": True, "symptoms__numbness_both_legs": True}),
    ("cord_compression", "emergency", "well", {"symptoms__numbness_both_legs": True, "symptoms__leg_numbness": None}),
    ("cord_compression", "emergency", "well", {"symptoms__sexual_dysfunction": True, "symptoms__leg_numbness": True}),
    ("cord_compression", "emergency", "well", {"history__cancer": True, "symptoms__leg_numbness": True}),
    ("cord_compression", "emergency", "well", {"history__cancer": True, "symptoms__difficulty_walking": True}),
    ("cord_compression", "urgent", "well", {"symptoms__leg_weakness": "unilateral"}),
    ("cord_compression", "urgent", "well", {"symptoms__sexual_dysfunction": True}),
    ("cord_compression", "urgent", "well", {"symptoms__difficulty_walking": True}),
    ("cord_compression", "urgent", "well", {"history__cancer": True, "pain__night_pain": True}),
    ("cord_compression", "urgent", "well", {"history__cancer": True, "pain__trend": "worsening"}),
    ("cord_compression", "urgent", "well", {"history__cancer": True, "pain__worse_on_straining": True}),
    ("cord_compression", "urgent", "well", {"history__cancer": True, "exam__spinal_tenderness": True}),
    ("cord_compression", "urgent", "well", {"history__cancer": True, "pain__sites": ["thoracic"]}),
    ("cord_compression", "urgent", "well", {"history__cancer": True, "pain__sites": ["upper_back"]}),
    ("cord_compression", "urgent", "well", {"history__cancer": True, "pain__sites": ["neck"]}),
    # spinal infection
    ("spinal_infection", "emergency", "flu", {"symptoms__leg_numbness": True}),
    ("spinal_infection", "emergency", "well", {"symptoms__leg_weakness": "unilateral", "history__diabetes": True}),
    ("spinal_infection", "emergency", "well", {"symptoms__leg_weakness": "unilateral", "labs__crp_mg_l": 150}),
    (
        "spinal_infection",
        "emergency",
        "afebrile",
        {"symptoms__leg_weakness": "unilateral", "pain__trend": "worsening"},  # infection: viral features
    ),
    ("spinal_infection", "urgent", "flu", {"history__immunosuppressed": True}),
    ("spinal_infection", "urgent", "flu", {"history__recent_spinal_procedure": True}),
    ("spinal_infection", "urgent", "flu", {"history__diabetes": True}),
    ("spinal_infection", "urgent", "flu", {"history__recent_infection_elsewhere": True}),
    ("spinal_infection", "urgent", "flu", {"history__alcohol_misuse": True}),
    ("spinal_infection", "urgent", "flu", {"history__chemotherapy_last_6_weeks": True}),
    ("spinal_infection", "urgent", "afebrile", {"history__alcohol_misuse": True, "pain__trend": "worsening"}),
    ("spinal_infection", "urgent", "afebrile", {"history__iv_drug_use": True, "exam__spinal_tenderness": True}),
    ("spinal_infection", "urgent", "well", {"labs__wbc_10e9_l": 15.0, "exam__spinal_tenderness": True}),
    (
        "spinal_infection",
        "urgent",
        "well",
        {"vitals__temperature_c": 38.4, "symptoms__sore_throat": False},  # fever without a respiratory illness
    ),
    # pyelonephritis
    ("pyelonephritis", "urgent", "flu", {"exam__cva_tenderness": True}),
    ("pyelonephritis", "urgent", "flu", {"pain__sites": ["flank"]}),
    ("pyelonephritis", "urgent", "flu", {"symptoms__dysuria": True}),
    ("pyelonephritis", "urgent", "flu", {"labs__urine_nitrite": True}),
    ("pyelonephritis", "urgent", "afebrile", {"symptoms__rigors": True, "symptoms__haematuria": True}),
    ("pyelonephritis", "emergency", "flu", {"pain__sites": ["flank"], "pain__colicky": True}),
    (
        "pyelonephritis",
        "emergency",
        "flu",
        {"symptoms__cloudy_urine": True, "history__urinary_tract_abnormality": True},
    ),
    # urinary infection
    ("urinary_infection", "routine", "well", {"symptoms__dysuria": True}),
    ("urinary_infection", "routine", "well", {"labs__urine_nitrite": True}),
    ("urinary_infection", "urgent", "well", {"symptoms__dysuria": True, "patient__sex": "male"}),
    ("urinary_infection", "urgent", "well", {"symptoms__dysuria": True, "patient__sex": "other"}),
    ("urinary_infection", "urgent", "well", {"symptoms__urinary_frequency": True, "patient__pregnant": True}),
    ("urinary_infection", "urgent", "well", {"symptoms__haematuria": True, "patient__recently_pregnant": True}),
    ("urinary_infection", "urgent", "well", {"symptoms__cloudy_urine": True, "exam__cva_tenderness": True}),
    # other serious causes
    ("other_serious_cause", "emergency", "well", {"pain__onset": "sudden"}),
    ("other_serious_cause", "emergency", "well", {"symptoms__chest_pain": True}),
    ("other_serious_cause", "emergency", "well", {"symptoms__syncope": True}),
    ("other_serious_cause", "emergency", "well", {"symptoms__seizure": True}),
    ("other_serious_cause", "emergency", "well", {"symptoms__focal_neurological_deficit": True}),
    ("other_serious_cause", "emergency", "well", {"history__anticoagulant": True, "symptoms__leg_numbness": True}),
    ("other_serious_cause", "urgent", "well", {"symptoms__breathlessness": True}),
    ("other_serious_cause", "urgent", "well", {"symptoms__pleuritic_pain": True}),
    ("other_serious_cause", "urgent", "well", {"symptoms__abdominal_pain": True}),
    ("other_serious_cause", "urgent", "well", {"patient__age_years": 65, "exam__cva_tenderness": True}),
    # red flags for review
    ("red_flag_review", "routine", "flu", {"symptoms__unexplained_weight_loss": True}),
    ("red_flag_review", "routine", "flu", {"pain__night_pain": True}),
    ("red_flag_review", "routine", "flu", {"history__cancer": True}),
    ("red_flag_review", "routine", "flu", {"history__recent_surgery_or_trauma": True}),
    ("red_flag_review", "routine", "flu", {"symptoms__headache": "severe"}),
    ("red_flag_review", "routine", "flu", {"symptoms__rigors": True}),
    ("red_flag_review", "routine", "well", {"symptoms__leg_numbness": True}),
    ("red_flag_review", "routine", "flu", {"pain__severity": 9}),
    ("red_flag_review", "routine", "flu", {"patient__age_years": 80}),
    ("red_flag_review", "routine", "afebrile", {"history__diabetes": True}),
    ("red_flag_review", "routine", "afebrile", {"history__immunosuppressed": True}),
    ("red_flag_review", "routine", "flu", {"history__anticoagulant": True}),
    ("red_flag_review", "routine", "flu", {"patient__pregnant": True}),
    ("red_flag_review", "routine", "flu", {"patient__recently_pregnant": True}),
    ("persistent_pain", "routine", "flu", {"pain__trend": "rapidly_worsening"}),
    ("persistent_pain", "routine", "flu", {"pain__distribution": "localized", "pain__laterality": "left"}),
]


@pytest.mark.parametrize(
    ("flag", "level", "base", "changes"),
    CATEGORICAL,
    ids=[f"{f}-{i}" for i, (f, _, _, _) in enumerate(CATEGORICAL)],
)
def test_categorical_criterion(evaluate, flag, level, base, changes):
    assert flag_level(evaluate(case(base, **changes)), flag) == level


@pytest.mark.parametrize(
    ("flag", "level", "base", "changes"),
    CATEGORICAL,
    ids=[f"{f}-{i}" for i, (f, _, _, _) in enumerate(CATEGORICAL)],
)
def test_categorical_criterion_with_its_inputs_absent_is_not_raised_at_that_level(evaluate, flag, level, base, changes):
    """Each criterion's inputs present raise the flag; each finding of it answered as the base
    answers it (absent, or a normal value) does not raise it at that level, unless what is left
    meets another criterion of the table."""
    for key, value in changes.items():
        if value is False or value is None or value == "none":
            continue  # context (an answer that makes another criterion fail), not a finding
        without = {k: v for k, v in changes.items() if k != key}
        if _contradicts(case(base, **without)):
            continue
        result = evaluate(case(base, **without))
        assert flag_level(result, flag) != level or _raised_by_rest(flag, level, base, without), key


def _contradicts(enc):
    import copy

    from tests.common.strategies import consistent

    return consistent(copy.deepcopy(enc)) != enc


def _raised_by_rest(flag, level, base, rest):
    # the remaining inputs raise the same flag by another criterion of the table
    return any(
        f == flag and lv == level and c.items() <= rest.items() and c for f, lv, b, c in CATEGORICAL if b == base
    )


# --- v2's readings of the specification, each tested -------------------------------------------


def test_a_measured_temperature_never_cancels_reported_fever_or_rigors(evaluate):
    reported = case("afebrile", symptoms__reported_fever=True, history__iv_drug_use=True)
    assert "DER-FEVER" in fired(evaluate(reported))
    assert flag_level(evaluate(reported), "spinal_infection") == "urgent"
    rigors = case("afebrile", symptoms__rigors=True, history__iv_drug_use=True)
    assert "DER-FEVER" in fired(evaluate(rigors))
    unmeasured = case("afebrile", vitals__temperature_c=None)
    assert "DER-FEVER" not in fired(evaluate(unmeasured))


def test_one_moderate_criterion_needs_infection_suspected(evaluate):
    assert flag_level(evaluate(case("flu", vitals__heart_rate=115)), "sepsis") == "urgent"
    assert flag_level(evaluate(case("well", vitals__heart_rate=115)), "sepsis") is None


def test_heart_rate_91_to_110_alone_raises_nothing(evaluate):
    result = evaluate(case("flu", vitals__heart_rate=108, vitals__temperature_c=38.8))
    assert result["flags"] == []
    assert result["risk_level"] == "self_care"


def test_news2_urgent_whatever_the_cause(evaluate):
    result = evaluate(case("well", vitals__respiratory_rate=21, vitals__spo2=95, vitals__systolic_bp=100))
    assert "SEP-NEWS2-MEDIUM" in fired(result)
    assert flag_level(result, "sepsis") == "urgent"


def test_sepsis_urgent_means_within_one_hour(evaluate):
    result = evaluate(case("flu", vitals__heart_rate=115))
    assert "within 1 hour" in result["disposition"]


def test_spinal_infection_urgent_means_same_day_hospital(evaluate):
    result = evaluate(case("flu", history__diabetes=True))
    assert result["primary"] == "spinal_infection"
    assert "same-day hospital assessment" in result["disposition"]


def test_meningitis_emergency_names_parenteral_antibiotics_if_transfer_is_delayed(evaluate):
    result = evaluate(case("flu", symptoms__neck_stiffness=True))
    assert result["primary"] == "meningitis"
    assert "parenteral benzylpenicillin" in result["disposition"]


def test_a_negative_kernig_sign_is_said_to_rule_little_out(evaluate):
    with_sign = evaluate(case("flu", exam__kernig_or_brudzinski=False))
    assert any("rules little out" in a for a in with_sign["advice"])
    assert not any("rules little out" in a for a in evaluate(case("flu", exam__kernig_or_brudzinski=None))["advice"])


def test_weakness_getting_worse_is_weakness_while_its_side_is_unknown(evaluate):
    """Section 5, "any leg weakness with leg_weakness_progressive": the answer says there is
    weakness, so the side is not waited for; a new neurological deficit with fever is a spinal
    infection emergency (section 6)."""
    worse = {"symptoms__leg_weakness": None, "symptoms__leg_weakness_progressive": True}
    result = evaluate(case("flu", **worse))
    assert flag_level(result, "cord_compression") == "emergency"
    assert flag_level(result, "spinal_infection") == "emergency"
    assert {"CC-WEAKNESS-PROGRESSIVE", "DER-NEURO-DEFICIT"} <= fired(result)
    assert "CC-CANCER-NEURO" in fired(evaluate(case("well", history__cancer=True, **worse)))
    not_worse = evaluate(case("well", symptoms__leg_weakness=None, symptoms__leg_weakness_progressive=False))
    assert flag_level(not_worse, "cord_compression") is None


def test_numbness_in_one_leg_alone_is_routine(evaluate):
    result = evaluate(case("well", symptoms__leg_numbness=True))
    assert result["risk_level"] == "routine"
    assert flag_level(result, "cord_compression") is None


def test_a_urinary_infection_does_not_explain_a_fever_away(evaluate):
    result = evaluate(case("well", vitals__temperature_c=38.6, symptoms__dysuria=True))
    assert flag_level(result, "pyelonephritis") == "urgent"
    assert flag_level(result, "spinal_infection") == "urgent"


def test_one_sided_pain_with_flank_pain_is_not_persistent_pain(evaluate):
    one_sided = {"pain__distribution": "localized", "pain__laterality": "right"}
    assert flag_level(evaluate(case("flu", **one_sided)), "persistent_pain") == "routine"
    flank = evaluate(case("afebrile", pain__sites=["flank"], **one_sided))
    assert flag_level(flank, "persistent_pain") is None


@pytest.mark.parametrize(
    ("changes", "hospital"),
    [
        ({"patient__pregnant": True}, True),
        ({"patient__recently_pregnant": True}, True),
        ({"symptoms__reduced_oral_intake": True}, True),
        ({"history__immunosuppressed": True}, True),
        ({"history__urinary_tract_abnormality": True}, False),  # emergency: obstructed kidney
        ({"patient__age_years": 75}, True),
        ({"patient__age_years": 74}, False),
        ({}, False),
    ],
)
def test_pyelonephritis_disposition(evaluate, changes, hospital):
    result = evaluate(encounter("D04", **changes))
    pyelo = next(f for f in result["flags"] if f["id"] == "pyelonephritis")
    assert pyelo["disposition"].startswith("Urgent: same-day hospital assessment") is hospital


def test_the_hospital_disposition_never_replaces_an_emergency(evaluate):
    result = evaluate(encounter("D04", pain__colicky=True, patient__pregnant=True))
    pyelo = next(f for f in result["flags"] if f["id"] == "pyelonephritis")
    assert pyelo["risk_level"] == "emergency"
    assert pyelo["disposition"].startswith("Emergency")


# --- implied answers (principle 8) -------------------------------------------------------------


def test_a_male_patient_is_taken_as_not_pregnant_unless_recorded(evaluate):
    man = case("flu", patient__sex="male", patient__pregnant=None, patient__recently_pregnant=None)
    result = evaluate(man)
    assert result["risk_level"] == "self_care"
    implied = [e for e in result["trace"] if e["rule"].startswith("IMP-MALE")]
    assert {tuple(e["concluded"]) for e in implied} == {("patient.pregnant",), ("patient.recently_pregnant",)}
    recorded = evaluate(case("flu", patient__sex="male", patient__pregnant=True))
    assert flag_level(recorded, "sepsis") == "urgent"  # the explicit answer stands


def test_sex_recorded_as_unknown_is_unknown(evaluate):
    result = evaluate(case("well", patient__sex="unknown", symptoms__dysuria=True))
    assert flag_level(result, "urinary_infection") == "routine"
    assert "patient.sex" in [m["field"] for m in result["missing"]]


def test_not_on_oxygen_means_no_new_oxygen_need(evaluate):
    result = evaluate(case("flu", vitals__new_oxygen_need=None))
    assert result["risk_level"] == "self_care"
    assert "IMP-NO-OXYGEN" in fired(result)
    on_oxygen = evaluate(case("flu", vitals__new_oxygen_need=None, vitals__on_oxygen=True))
    assert "vitals.new_oxygen_need" in [m["field"] for m in on_oxygen["missing"]]
    assert on_oxygen["risk_level"] == "routine"  # whether the oxygen is new is still open


def test_an_empty_list_of_pain_sites_is_unknown(evaluate):
    result = evaluate(case("flu", pain__sites=[]))
    assert result["risk_level"] == "routine"
    assert result["missing"][0]["field"] == "pain.sites"


def test_the_plain_pyelonephritis_disposition_names_the_hospital_triggers(evaluate):
    # a trigger still unknown (is she pregnant?) must not hide that hospital may be needed
    result = evaluate(encounter("D04", patient__pregnant=None))
    pyelo = next(f for f in result["flags"] if f["id"] == "pyelonephritis")
    assert "same-day hospital assessment instead in pregnancy" in pyelo["disposition"]
    assert "patient.pregnant" in [m["field"] for m in result["missing"]]


def test_flags_tied_at_the_top_level_each_keep_their_disposition(evaluate):
    rash = evaluate(case("well", symptoms__non_blanching_rash=True))
    assert {f["id"] for f in rash["flags"]} >= {"sepsis", "meningitis"}
    assert "suspected sepsis" in rash["disposition"]
    assert "parenteral benzylpenicillin" in rash["disposition"]
    older = evaluate(case("flu", patient__age_years=80, pain__sites=["flank"]))
    assert "same-day hospital assessment" in older["disposition"]
    assert "face-to-face clinical assessment today" in older["disposition"]


# --- the self-care screen's normal values ------------------------------------------------------


def test_on_spo2_scale_2_an_unknown_saturation_is_taken_within_the_target(evaluate):
    on_oxygen = case(
        "flu", vitals__spo2=None, vitals__spo2_scale=2, vitals__on_oxygen=True, vitals__new_oxygen_need=False
    )
    result = evaluate(on_oxygen)
    assert result["flags"] == []
    assert result["risk_level"] == "self_care"
    assert "vitals.spo2" in [m["field"] for m in result["missing"]]


def test_an_unknown_blood_pressure_is_taken_as_the_patients_usual(evaluate):
    result = evaluate(case("flu", vitals__systolic_bp=None, vitals__usual_systolic_bp=170))
    assert result["risk_level"] == "self_care"
    assert "vitals.systolic_bp" in [m["field"] for m in result["missing"]]


def test_on_spo2_scale_2_a_saturation_below_the_target_on_air_is_a_new_oxygen_need(evaluate):
    """A 68-year-old with COPD (scale 2, target 88-92 %) at 85 % on room air, everything else
    the complete negative flu screen: NEWS2 scores the saturation 2, and "not on oxygen" implies
    no new oxygen need, so specification v2's scale-1 threshold alone left self-care. Below the
    prescribed target on air is the contract's new oxygen need (above 88 % in known COPD)."""
    result = evaluate(case("flu", patient__age_years=68, vitals__spo2=85, vitals__spo2_scale=2))
    assert result["scores"]["news2"]["total"] == 4
    assert (result["risk_level"], result["primary"]) == ("emergency", "sepsis")
    assert "SEP-SPO2-LOW-SCALE2" in fired(result)


def test_a_sex_recorded_as_unknown_leaves_the_man_criterion_open_and_asks_it(evaluate):
    """UTI-URGENT: "other" does not rule out a man's anatomy (read as the safer); "unknown" is
    unknown, so the urgent criterion stays open and the sex is asked; "female" decides it."""
    result = evaluate(case("well", symptoms__dysuria=True, patient__sex="unknown"))
    assert flag_level(result, "urinary_infection") == "routine"
    needed = {m["field"]: m["needed_for"] for m in result["missing"]}
    assert "urinary_infection" in needed["patient.sex"]
    result = evaluate(case("well", symptoms__dysuria=True, patient__sex="female"))
    assert flag_level(result, "urinary_infection") == "routine"
    assert "patient.sex" not in {m["field"] for m in result["missing"]}
