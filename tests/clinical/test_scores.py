"""NEWS2 (RCP 2017) and qSOFA (Sepsis-3): every band edge, lower bounds, completeness."""

import pytest

from tests.common.vignettes import NORMAL_LABS, encounter


def news2(evaluate, **changes):
    return evaluate(encounter("D01", **changes))["scores"]["news2"]


EDGES = [
    (
        "respiratory_rate",
        "vitals__respiratory_rate",
        [(8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3)],
    ),
    ("spo2", "vitals__spo2", [(91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]),
    (
        "systolic_bp",
        "vitals__systolic_bp",
        [(90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
    ),
    (
        "pulse",
        "vitals__heart_rate",
        [(40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3)],
    ),
    (
        "temperature",
        "vitals__temperature_c",
        [(35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2)],
    ),
    (
        "consciousness",
        "vitals__consciousness",
        [("alert", 0), ("new_confusion", 3), ("voice", 3), ("pain", 3), ("unresponsive", 3)],
    ),
    ("air_or_oxygen", "vitals__on_oxygen", [(False, 0), (True, 2)]),
]


@pytest.mark.parametrize(
    ("parameter", "key", "value", "points"),
    [(p, k, v, pts) for p, k, edges in EDGES for v, pts in edges],
)
def test_news2_parameter_edges(evaluate, parameter, key, value, points):
    assert news2(evaluate, **{key: value})["components"][parameter] == points


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "points"),
    [
        (83, False, 3),
        (84, False, 2),
        (85, False, 2),
        (86, False, 1),
        (87, False, 1),
        (88, False, 0),
        (92, False, 0),
        (93, False, 0),
        (97, False, 0),
        (93, True, 1),
        (94, True, 1),
        (95, True, 2),
        (96, True, 2),
        (97, True, 3),
    ],
)
def test_news2_spo2_scale_2(evaluate, spo2, on_oxygen, points):
    score = news2(evaluate, vitals__spo2=spo2, vitals__spo2_scale=2, vitals__on_oxygen=on_oxygen)
    assert score["components"]["spo2"] == points


def test_scale_2_above_92_needs_to_know_about_oxygen(evaluate):
    score = news2(evaluate, vitals__spo2=95, vitals__spo2_scale=2, vitals__on_oxygen=None)
    assert "spo2" not in score["components"]
    assert "vitals.on_oxygen" in score["unknown_parameters"]
    assert score["complete"] is False


def test_d01_total_and_band(evaluate):
    score = news2(evaluate)
    assert score == {
        "total": 2,
        "band": "low",
        "components": {
            "respiratory_rate": 0,
            "spo2": 0,
            "air_or_oxygen": 0,
            "systolic_bp": 0,
            "pulse": 1,
            "consciousness": 0,
            "temperature": 1,
        },
        "complete": True,
        "unknown_parameters": [],
    }


@pytest.mark.parametrize(
    ("changes", "band"),
    [
        ({"vitals__spo2": 91, "vitals__heart_rate": 80, "vitals__temperature_c": 37.0}, "low-medium"),
        ({"vitals__respiratory_rate": 21, "vitals__spo2": 95}, "medium"),
        ({"vitals__respiratory_rate": 25, "vitals__spo2": 95, "vitals__heart_rate": 111}, "high"),
        ({"vitals__heart_rate": 80, "vitals__temperature_c": 37.0}, "low"),
    ],
)
def test_news2_bands(evaluate, changes, band):
    assert news2(evaluate, **changes)["band"] == band


def test_partial_news2_is_a_lower_bound_and_crosses_thresholds(evaluate):
    enc = {"patient": {"age_years": 50}, "vitals": {"respiratory_rate": 26, "systolic_bp": 88, "heart_rate": 120}}
    result = evaluate(enc)
    score = result["scores"]["news2"]
    assert score["complete"] is False
    assert score["total"] == 3 + 3 + 2
    assert set(score["unknown_parameters"]) == {
        "vitals.spo2",
        "vitals.on_oxygen",
        "vitals.consciousness",
        "vitals.temperature_c",
    }
    rules = {e["rule"] for e in result["trace"]}
    assert "SEP-NEWS2-HIGH" in rules
    assert result["risk_level"] == "emergency"


def test_partial_news2_below_threshold_leaves_sepsis_not_excluded(evaluate):
    result = evaluate({"patient": {"age_years": 50}, "vitals": {"heart_rate": 80}})
    assert result["scores"]["news2"]["total"] == 0
    assert result["screen"]["sepsis"] == "not_excluded"
    missing = {m["field"] for m in result["missing"]}
    assert {"vitals.respiratory_rate", "vitals.systolic_bp", "vitals.temperature_c"} <= missing


@pytest.mark.parametrize(
    ("changes", "score", "criteria"),
    [
        ({"vitals__respiratory_rate": 22}, 1, ["respiratory_rate"]),
        ({"vitals__respiratory_rate": 21}, 0, []),
        ({"vitals__systolic_bp": 100}, 1, ["systolic_bp"]),
        ({"vitals__systolic_bp": 101}, 0, []),
        ({"vitals__consciousness": "new_confusion"}, 1, ["altered_mentation"]),
        ({"vitals__respiratory_rate": 22, "vitals__systolic_bp": 100}, 2, ["respiratory_rate", "systolic_bp"]),
    ],
)
def test_qsofa(evaluate, changes, score, criteria):
    q = evaluate(encounter("D01", **changes))["scores"]["qsofa"]
    assert q["score"] == score
    assert q["criteria"] == criteria
    assert q["complete"] is True
    assert q["positive"] is (score >= 2)


def test_qsofa_incomplete_lists_unknown_inputs(evaluate):
    q = evaluate({"patient": {"age_years": 40}, "vitals": {"respiratory_rate": 24}})["scores"]["qsofa"]
    assert q == {
        "score": 1,
        "criteria": ["respiratory_rate"],
        "complete": False,
        "positive": False,
        "unknown_parameters": ["vitals.consciousness", "vitals.systolic_bp"],
    }


def complete_d01(**changes):
    enc = encounter("D01", vitals__usual_systolic_bp=125, vitals__hours_since_urine=3, **changes)
    enc["labs"] = dict(NORMAL_LABS)
    return enc


def test_a_fully_answered_normal_encounter_excludes_sepsis(evaluate):
    result = evaluate(complete_d01())
    assert result["screen"] == {
        "sepsis": "excluded",
        "meningitis": "excluded",
        "cord_compression": "excluded",
        "spinal_infection": "excluded",
        "pyelonephritis": "excluded",
        "other_serious_cause": "excluded",
    }
    assert result["missing"] == []


def test_an_unknown_spo2_keeps_sepsis_open_through_the_news2_upper_bound(evaluate):
    # an unknown SpO2 could still score 3 on NEWS2 or cross a sepsis threshold, so sepsis stays
    # open and SpO2 is the question to ask; not its scale, which absent is scale 1 (section 2)
    result = evaluate(complete_d01(vitals__spo2=None))
    assert result["scores"]["news2"]["complete"] is False
    assert result["screen"]["sepsis"] == "not_excluded"
    assert result["missing"] == [{"field": "vitals.spo2", "needed_for": ["sepsis"]}]


def test_an_unknown_oxygen_alone_cannot_reach_a_sepsis_threshold(evaluate):
    # air or oxygen scores at most 2: total 2 + 2 < 5 and no single parameter can score 3; it is
    # still asked, as an item of the self-care screen
    result = evaluate(complete_d01(vitals__on_oxygen=None))
    assert result["scores"]["news2"]["complete"] is False
    assert result["screen"]["sepsis"] == "excluded"
    assert result["missing"] == [{"field": "vitals.on_oxygen", "needed_for": ["sepsis"]}]
