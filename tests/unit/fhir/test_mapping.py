"""FHIR R4 -> encounter: real-world shapes (US Core examples, Synthea bundles), the reading rules
(newest wins, statuses, units, ranges), the terminology file's own checks, and a round trip of
every vignette through FHIR and back."""

import copy
import json
from datetime import UTC, date, datetime

import pytest
import yaml

from cds.fhir import TerminologyError, load_terminology, map_resources, resources_from, terminology
from cds.fhir.coverage import latest_time
from cds.triage.encounter import load_encounter
from cds.triage.fields import BY_PATH, FIELDS
from cds.triage.thresholds import number_cuts
from tests.common import paths
from tests.common.fhir_builders import (
    TODAY,
    bundle,
    encounter_to_resources,
    expressible,
    flatten,
    prefetch,
    unexpressible,
)
from tests.common.vignettes import VIGNETTES

FIXTURES = paths.FIXTURES / "fhir"
TERMINOLOGY = paths.ROOT / "cds" / "fhir" / "terminology.yaml"
LOINC, SNOMED, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CLINICAL_FIELDS = [f.path for f in FIELDS if f.clinical]
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


def us_core(name):
    """A US Core example, as measured within the hour of TODAY's evaluation."""
    resource = json.loads((FIXTURES / "us-core" / f"Observation-{name}.json").read_text())
    resource["effectiveDateTime"] = "2025-01-15T10:00:00Z"
    return resource


def synthea():
    return [json.loads(p.read_text()) for p in sorted((FIXTURES / "synthea").glob("*.json"))]


def run(*resources, today=TODAY, **options):
    return map_resources(resources_from(list(resources)), today, **options)


def coding(system, code):
    return {"coding": [{"system": system, "code": code}]}


def obs(code, system=LOINC, when="2025-01-15T10:00:00Z", status="final", rid=None, **value):
    resource = {
        "resourceType": "Observation",
        "id": rid or f"obs-{code}",
        "status": status,
        "code": coding(system, code),
    }
    if when is not None:
        resource["effectiveDateTime"] = when
    resource.update(value)
    return resource


def quantity(value, unit, system=UCUM):
    return {"value": value, "unit": unit, "system": system, "code": unit}


def temperature(value, unit="Cel", **options):
    return obs("8310-5", valueQuantity=quantity(value, unit), **options)


def condition(code, clinical="active", verification="confirmed", rid=None, **extra):
    """A Condition with its onset within this illness unless a time is given."""
    resource = {"resourceType": "Condition", "id": rid or f"cond-{code}", "code": coding(SNOMED, code)}
    if not {"onsetDateTime", "onsetPeriod", "recordedDate"} & extra.keys():
        resource["onsetDateTime"] = "2025-01-15T09:00:00Z"
    if clinical is not None:
        resource["clinicalStatus"] = coding(CLINICAL, clinical)
    if verification is not None:
        resource["verificationStatus"] = coding(VERIFICATION, verification)
    resource.update(extra)
    return resource


def patient(birth="1990-01-15", gender="female", pid="p1"):
    return {"resourceType": "Patient", "id": pid, "birthDate": birth, "gender": gender}


def value_of(result, path):
    return flatten(result.encounter).get(path)


# --- the US Core vital-sign examples --------------------------------------------------------


def test_us_core_temperature_is_read_in_celsius():
    result = run(us_core("temperature"))
    assert result.encounter == {"vitals": {"temperature_c": 36.55556}}
    assert result.errors == [] and result.ignored == {}
    assert result.used == [
        {
            "resource_type": "Observation",
            "id": "temperature",
            "status": "final",
            "system": LOINC,
            "code": "8310-5",
            "field": "vitals.temperature_c",
        }
    ]


def test_the_same_temperature_in_fahrenheit_gives_the_same_celsius():
    resource = us_core("temperature")
    resource["valueQuantity"] = quantity(36.55556 * 9 / 5 + 32, "[degF]")
    assert value_of(run(resource), "vitals.temperature_c") == pytest.approx(36.55556, abs=0.01)


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("heart-rate", "vitals.heart_rate", 44),
        ("respiratory-rate", "vitals.respiratory_rate", 26),
        ("blood-pressure", "vitals.systolic_bp", 109),
        ("oxygen-saturation", "vitals.spo2", 99),
    ],
)
def test_us_core_vital_signs(name, path, value):
    result = run(us_core(name))
    assert flatten(result.encounter) == {path: value}
    assert isinstance(value_of(result, path), int)
    assert result.errors == []
    assert [u["field"] for u in result.used] == [path]


def test_the_blood_pressure_panel_is_read_through_its_systolic_component():
    result = run(us_core("blood-pressure"))
    assert result.used[0]["code"] == "8480-6"
    assert result.ignored == {"unrecognised_component": 1}  # diastolic 8462-4: not in the contract


def test_vital_signs_sent_as_components_of_the_vital_signs_panel_are_read():
    """Finding: a vital-signs panel (85353-1) holding respiratory rate, SpO2, systolic and heart
    rate as components was ignored whole: the sepsis emergency read routine."""
    parts = [("9279-1", 26, "/min"), ("59408-5", 90, "%"), ("8480-6", 88, "mm[Hg]"), ("8867-4", 125, "/min")]
    resource = obs(
        "85353-1", component=[{"code": coding(LOINC, c), "valueQuantity": quantity(v, unit)} for c, v, unit in parts]
    )
    result = run(resource)
    assert result.encounter == {"vitals": {"respiratory_rate": 26, "spo2": 90, "systolic_bp": 88, "heart_rate": 125}}
    assert result.ignored == {}


def test_the_components_of_a_panel_not_listed_are_named_not_read():
    """Finding (review): a blood-gas panel (24336-0) carries the temperature its analyser
    corrects to, 37.0 °C, as a body-temperature component; read as the patient's, it hid a
    measured fever (routine for the meningitis emergency). A component's meaning depends on its
    panel: those of a panel not listed are named on the data-problem card and not read."""
    gas = obs(
        "24336-0",
        when="2025-01-15T12:30:00Z",
        component=[
            {"code": coding(LOINC, "2744-1"), "valueQuantity": quantity(7.38, "[pH]")},
            {"code": coding(LOINC, "8310-5"), "valueQuantity": quantity(37.0, "Cel")},
        ],
    )
    result = run(temperature(38.3, when="2025-01-15T12:00:00Z"), gas)
    assert value_of(result, "vitals.temperature_c") == 38.3
    assert [e["field"] for e in result.errors] == ["vitals.temperature_c"]
    assert "LOINC 24336-0, a panel this service does not read" in result.errors[0]["message"]
    assert result.ignored == {"unrecognised_code": 1, "component_of_unlisted_panel": 1}


def test_a_urinalysis_panel_is_read_through_its_strip_components():
    positive = coding(SNOMED, "10828004")
    panel = obs("24356-8", component=[{"code": coding(LOINC, "5802-4"), "valueCodeableConcept": positive}])
    assert run(panel).encounter == {"labs": {"urine_nitrite": True}}


@pytest.mark.parametrize("codes", [["2708-6"], ["59408-5"], ["2708-6", "59408-5"]])
def test_spo2_is_read_from_either_loinc_code(codes):
    resource = us_core("oxygen-saturation")
    resource["code"]["coding"] = [c for c in resource["code"]["coding"] if c["code"] in codes]
    result = run(resource)
    assert result.encounter == {"vitals": {"spo2": 99}}
    assert len(result.used) == 1


def test_a_us_core_pulse_oximetry_with_oxygen_flow_sets_on_oxygen():
    resource = us_core("oxygen-saturation")
    resource["component"] = [{"code": coding(LOINC, "3151-8"), "valueQuantity": quantity(6, "L/min")}]
    assert run(resource).encounter == {"vitals": {"spo2": 99, "on_oxygen": True}}
    resource["component"][0]["valueQuantity"]["value"] = 0
    assert run(resource).encounter == {"vitals": {"spo2": 99, "on_oxygen": False}}


@pytest.mark.parametrize(("percent", "expected"), [(40, True), (24, True), (21.5, True), (21, None), (0.28, None)])
def test_a_us_core_pulse_oximetry_with_oxygen_concentration_sets_on_oxygen(percent, expected):
    """Finding: the concentration component (3150-0) was not read, so SpO2 95 on 40 % oxygen
    gave NEWS2 5 (incomplete) and urgent, not 7 and emergency. At or below room air it says
    nothing (a device's default 21 % beside a flow, a fraction sent as %)."""
    resource = us_core("oxygen-saturation")
    resource["component"] = [{"code": coding(LOINC, "3150-0"), "valueQuantity": quantity(percent, "%")}]
    result = run(resource)
    assert value_of(result, "vitals.on_oxygen") is expected and result.errors == []
    resource["component"].append({"code": coding(LOINC, "3151-8"), "valueQuantity": quantity(2, "L/min")})
    assert value_of(run(resource), "vitals.on_oxygen") is True  # a flow beside 21 % is oxygen


# --- the Synthea bundles --------------------------------------------------------------------


def newest_value(bundle_, code, component=None):
    observations = [
        e["resource"]
        for e in bundle_["entry"]
        if e["resource"]["resourceType"] == "Observation" and e["resource"]["code"]["coding"][0]["code"] == code
    ]
    newest = max(observations, key=lambda o: o["effectiveDateTime"])
    if component is None:
        return newest["valueQuantity"]["value"]
    return next(c for c in newest["component"] if c["code"]["coding"][0]["code"] == component)["valueQuantity"]["value"]


@pytest.mark.parametrize("index", [0, 1])
def test_synthea_bundles_map_without_error_and_report_their_unknowns(index):
    bundle_ = synthea()[index]
    gender = next(e["resource"]["gender"] for e in bundle_["entry"] if e["resource"]["resourceType"] == "Patient")
    as_of = latest_time(resources_from(bundle_))
    result = map_resources(resources_from(bundle_), as_of.date(), now=as_of)
    assert result.errors == []
    assert load_encounter(result.encounter) == result.encounter
    assert result.encounter["patient"]["sex"] == gender
    # systolic from the 55284-4 panel of the last visit; white cells in 10*3/uL when that visit
    # had a blood count (the first bundle's), else they are of an earlier visit: unknown now
    assert result.encounter["vitals"] == {"systolic_bp": round(newest_value(bundle_, "55284-4", "8480-6"))}
    counted = index == 0
    if counted:
        assert result.encounter["labs"] == {"wbc_10e9_l": pytest.approx(newest_value(bundle_, "6690-2"))}
    else:
        assert "labs" not in result.encounter
        assert result.coverage["labs.wbc_10e9_l"]["outside_episode"] > 0
    # and the pain score of that visit (72514-3)
    assert result.encounter["pain"] == {"severity": round(newest_value(bundle_, "72514-3"))}
    assert {u["code"] for u in result.used} == {"birthDate", "gender", "8480-6", "72514-3"} | (
        {"6690-2"} if counted else set()
    )
    # no back-pain findings: every symptom, the pain, the exam stay unknown
    assert {"symptoms.headache", "symptoms.cough", "pain.sites", "exam.cva_tenderness", "vitals.temperature_c"} <= set(
        result.unknown
    )
    known = {"patient.age_years", "patient.sex", "vitals.systolic_bp", "pain.severity"}
    known |= {"labs.wbc_10e9_l"} if counted else set()
    assert set(result.unknown) == set(CLINICAL_FIELDS) - known
    assert result.ignored["unsupported_resource_type"] > 0  # Claims, Encounters, Immunizations...
    assert result.ignored["unrecognised_code"] > 0  # weight, cholesterol, BMI, obesity...
    # older blood pressures and blood counts, and everything else of earlier visits
    assert result.ignored["outside_episode"] > 0


def test_synthea_ages_are_taken_from_the_birth_date():
    ages = [map_resources(resources_from(b), date(2025, 1, 15)).encounter["patient"]["age_years"] for b in synthea()]
    # the age is a fact of the patient, not of an episode: any evaluation date gives it
    assert ages == [40, 102]  # born 1984-07-02 and 1922-09-25


# --- newest wins ------------------------------------------------------------------------------


def test_the_newest_value_wins_whatever_the_order():
    old = temperature(37.0, when="2025-01-15T02:00:00Z", rid="old")
    new = temperature(39.1, when="2025-01-15T08:00:00+01:00", rid="new")
    for order in ([old, new], [new, old]):
        result = run(*order)
        assert result.encounter == {"vitals": {"temperature_c": 39.1}}
        assert result.used[0]["id"] == "new"
        assert result.ignored == {"superseded": 1}


def test_the_time_comes_from_period_end_or_issued_and_undated_says_nothing():
    period = temperature(
        38.0, when=None, rid="period", effectivePeriod={"start": "2025-01-14T10:00Z", "end": "2025-01-15T06:00Z"}
    )
    issued = temperature(38.5, when=None, rid="issued", issued="2025-01-15T05:00:00Z")
    undated = temperature(36.0, when=None, rid="undated")
    assert value_of(run(undated, period, issued), "vitals.temperature_c") == 38.0
    assert value_of(run(undated, issued), "vitals.temperature_c") == 38.5
    result = run(undated)
    assert result.encounter == {} and result.coverage == {"vitals.temperature_c": {"outside_episode": 1}}
    # not read, but named: a measurement with no time cannot be placed in this illness
    assert result.errors == [
        {
            "field": "vitals.temperature_c",
            "message": "Observation/undated has no time (effective, issued, onset or recorded date); left unknown",
        }
    ]


def test_an_unreadable_newest_value_leaves_the_field_unknown_rather_than_an_older_one():
    old = temperature(37.0, when="2025-01-15T02:00:00Z")
    new = temperature(101.0, "mg/dL", when="2025-01-15T08:00:00Z")
    result = run(old, new)
    assert "vitals.temperature_c" in result.unknown
    assert len(result.errors) == 1


def test_a_newer_measurement_recorded_with_no_value_is_named_not_only_left_unknown():
    """Found in an audit: a systolic of 85 at 09:00 and a pressure panel at 10:00 whose systolic
    component had only a dataAbsentReason left the field unknown with no card, where a
    valueQuantity with no number was named. The newest still leaves it unknown."""
    old = obs("8480-6", rid="old", when="2025-01-15T09:00:00Z", valueQuantity=quantity(85, "mm[Hg]"))
    component = {"code": coding(LOINC, "8480-6"), "dataAbsentReason": coding(DATA_ABSENT, "not-performed")}
    panel = obs("85354-9", rid="bp", component=[component])
    alone = obs("8480-6", rid="bare", when="2025-01-15T10:00:00Z")
    acvpu = obs("1104441000000107", SNOMED, rid="acvpu", dataAbsentReason={"text": "not done"})
    for newer, why in [(panel, " (dataAbsentReason 'not-performed')"), (alone, "")]:
        result = run(old, newer)
        assert value_of(result, "vitals.systolic_bp") is None
        assert result.errors == [
            {
                "field": "vitals.systolic_bp",
                "message": f"Observation/{newer['id']}: LOINC 8480-6 recorded with no value{why}; left unknown",
            }
        ]
    result = run(acvpu)
    assert [e["message"] for e in result.errors] == [
        "Observation/acvpu: SNOMED 1104441000000107 recorded with no value (a dataAbsentReason); left unknown"
    ]


def test_different_values_at_the_same_time_are_a_conflict():
    result = run(temperature(37.0, rid="a"), temperature(39.0, rid="b"))
    assert result.encounter == {}
    assert result.errors == [
        {
            "field": "vitals.temperature_c",
            "message": "conflicting values recorded at the same time (Observation/a, Observation/b); left unknown",
        }
    ]


@pytest.mark.parametrize(
    ("first", "then", "read"),
    [
        (("preliminary", 4.5), ("final", 4.6), 4.6),
        (("final", 1.2), ("corrected", 4.5), 4.5),
        (("final", 4.5), ("amended", 1.2), 1.2),
    ],
)
def test_a_later_version_of_a_result_at_the_same_time_supersedes_the_earlier(first, then, read):
    """Found in an audit: a lactate sent as its preliminary 4.5 and its final 4.6 version at one
    time was a conflict, left unknown; FHIR R4 says an amended or corrected result was modified
    after being final."""
    lactate = [obs("2524-7", status=s, rid="lac", valueQuantity=quantity(v, "mmol/L")) for s, v in (first, then)]
    result = run(*lactate)
    assert value_of(result, "labs.lactate_mmol_l") == read and result.errors == []
    assert run(*reversed(lactate)).encounter == result.encounter


def test_two_resources_that_disagree_at_one_time_are_a_conflict_whatever_their_statuses():
    """Found in review: weighing statuses across resources let a final "no saddle numbness" (or
    a final heart rate of 80 beside a preliminary 135) pass over the other in silence."""
    pairs = [
        [
            obs("8867-4", status="preliminary", rid="hr1", valueQuantity=quantity(135, "/min")),
            obs("8867-4", status="final", rid="hr2", valueQuantity=quantity(80, "/min")),
        ],
        [
            condition("449813001", recordedDate="2025-01-15T10:00:00Z"),
            obs("449813001", SNOMED, status="amended", when="2025-01-15T10:00:00Z", valueBoolean=False),
        ],
    ]
    for records in pairs:
        result = run(*records)
        assert result.encounter == {}, records
        assert [e["message"].split(" (")[0] for e in result.errors] == ["conflicting values recorded at the same time"]


def test_stale_and_undated_measurements_say_nothing_but_a_history_of_cancer_counts_at_any_date():
    stale = temperature(37.0, when="2024-12-01T08:00:00Z")
    undated = obs("8867-4", when=None, valueQuantity=quantity(80, "/min"))
    cancer = condition("363346000", recordedDate="2010-05-01")
    result = run(stale, undated, cancer)
    assert result.encounter == {"history": {"cancer": True}}
    assert result.ignored == {"outside_episode": 2}
    assert result.coverage == {
        "vitals.heart_rate": {"outside_episode": 1},
        "vitals.temperature_c": {"outside_episode": 1},
    }
    # the undated heart rate is named (found in a fuzz round: 135 with no time, and no card);
    # a stale one is simply old
    assert [e["field"] for e in result.errors] == ["vitals.heart_rate"]


# --- units, codes, ranges -----------------------------------------------------------------------


def test_a_known_code_in_a_wrong_unit_is_an_error_and_is_never_converted():
    result = run(temperature(98.0, "mg/dL", rid="t1"))
    assert result.encounter == {}
    assert "vitals.temperature_c" in result.unknown
    assert result.errors == [
        {
            "field": "vitals.temperature_c",
            "message": "Observation/t1: LOINC 8310-5 in UCUM 'mg/dL' is not accepted (accepted: Cel, [degF])",
        }
    ]
    assert "98" not in json.dumps(result.errors)  # no patient value leaks into a message


@pytest.mark.parametrize(
    "value_quantity",
    [
        {"value": 37.2, "unit": "degrees C", "system": UCUM, "code": "degC"},  # not a unit the terminology knows
        {"value": 37.2, "unit": "Cel", "system": "http://example.org/units", "code": "Cel"},  # not UCUM
        {"value": 37.2, "unit": "Cel"},  # free text only: never parsed
        {"value": 37.2, "code": "Cel"},  # a code without its system
    ],
)
def test_an_unrecognised_unit_is_left_unknown_counted_and_reported(value_quantity):
    """Never guessed at, and never dropped in silence: the clinician sees a data-problem card."""
    result = run(obs("8310-5", valueQuantity=value_quantity))
    assert result.encounter == {}
    assert [e["field"] for e in result.errors] == ["vitals.temperature_c"]
    assert "37.2" not in json.dumps(result.errors)  # no patient value in a message
    assert result.ignored == {"unrecognised_unit": 1}


def test_an_unrecognised_code_is_ignored_and_counted():
    result = run(obs("29463-7", valueQuantity=quantity(70, "kg")), condition("162864005"))
    assert result.encounter == {}
    assert result.errors == []
    assert result.ignored == {"unrecognised_code": 2}


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        (temperature(46.0), "vitals.temperature_c"),
        (obs("8867-4", valueQuantity=quantity(400, "/min")), "vitals.heart_rate"),
        (obs("2708-6", valueQuantity=quantity(45, "%")), "vitals.spo2"),
        (obs("2524-7", valueQuantity=quantity(-1, "mmol/L")), "labs.lactate_mmol_l"),
    ],
)
def test_a_value_outside_the_plausible_range_is_an_error_and_stays_unknown(resource, path):
    result = run(patient(), resource)
    assert path in result.unknown
    assert [e["field"] for e in result.errors] == [path]
    assert "must be between" in result.errors[0]["message"]
    load_encounter(result.encounter)


def test_unit_conversions():
    # lactate to 0.1 mmol/L, as it is reported: 36 mg/dL (3.996) is 4.0, and meets the >= 4 of sepsis
    assert value_of(run(obs("2524-7", valueQuantity=quantity(36.0, "mg/dL"))), "labs.lactate_mmol_l") == 4.0
    assert value_of(run(obs("2524-7", valueQuantity=quantity(18.0, "mg/dL"))), "labs.lactate_mmol_l") == 2.0
    assert value_of(run(obs("2524-7", valueQuantity=quantity(35.0, "mg/dL"))), "labs.lactate_mmol_l") == 3.9
    assert value_of(run(obs("59032-3", valueQuantity=quantity(9.0, "mg/dL"))), "labs.lactate_mmol_l") == 1.0
    assert value_of(run(obs("32693-4", valueQuantity=quantity(4.2, "mmol/L"))), "labs.lactate_mmol_l") == 4.2
    assert value_of(run(obs("1988-5", valueQuantity=quantity(12.5, "mg/dL"))), "labs.crp_mg_l") == 125
    for unit in ("10*3/uL", "10*9/L"):
        assert value_of(run(obs("6690-2", valueQuantity=quantity(14.2, unit))), "labs.wbc_10e9_l") == 14.2
    assert value_of(run(obs("8867-4", valueQuantity=quantity(88.6, "{beats}/min"))), "vitals.heart_rate") == 89


@pytest.mark.parametrize(("score", "level"), [(15, "alert"), (14, "new_confusion"), (3, "new_confusion")])
def test_glasgow_coma_score(score, level):
    assert value_of(run(obs("9269-2", valueQuantity=quantity(score, "{score}"))), "vitals.consciousness") == level


def test_a_glasgow_score_outside_3_to_15_is_an_error():
    result = run(obs("9269-2", valueQuantity=quantity(2, "{score}")))
    assert result.encounter == {} and [e["field"] for e in result.errors] == ["vitals.consciousness"]


@pytest.mark.parametrize("comparator", ["<", ">", ">="])
def test_without_the_rule_base_s_thresholds_a_bound_is_not_a_value_and_the_clinician_is_told(comparator):
    result = run(obs("2524-7", valueQuantity={**quantity(8, "mmol/L"), "comparator": comparator}))
    assert result.encounter == {} and result.ignored == {"comparator": 1}
    assert [e["field"] for e in result.errors] == ["labs.lactate_mmol_l"]


def bounded(code, value, unit, comparator):
    return obs(code, valueQuantity={**quantity(value, unit), "comparator": comparator})


@pytest.mark.parametrize(
    ("resource", "path", "value"),
    [
        # above every lactate threshold: at least 4 whatever it is
        (bounded("2524-7", 8, "mmol/L", ">"), "labs.lactate_mmol_l", 8.0),
        (bounded("2524-7", 4, "mmol/L", ">="), "labs.lactate_mmol_l", 4.0),
        # an analyser's upper limit for CRP, and its lower limit
        (bounded("1988-5", 250, "mg/L", ">"), "labs.crp_mg_l", 250.0),
        (bounded("1988-5", 5, "mg/L", "<"), "labs.crp_mg_l", 5.0),
        # converted as a plain value is (lactate in mg/dL to 0.1 mmol/L): 90 mg/dL is 10.0
        (bounded("2524-7", 90, "mg/dL", ">"), "labs.lactate_mmol_l", 10.0),
    ],
)
def test_a_bound_no_threshold_lies_within_is_read_as_its_number(rulebase, resource, path, value):
    result = run(resource, cuts=number_cuts(rulebase))
    assert value_of(result, path) == value and result.errors == [] and result.ignored == {}
    assert result.used[0]["recorded"].startswith(resource["valueQuantity"]["comparator"])


@pytest.mark.parametrize(
    ("readings", "value"),
    [
        # a point-of-care ">8" beside the laboratory's 9.2, at the same time: the 9.2
        ([bounded("2524-7", 8, "mmol/L", ">"), obs("32693-4", valueQuantity=quantity(9.2, "mmol/L"))], 9.2),
        # ">8" and ">10" both say 4 or more: either is the reading
        ([bounded("2524-7", 8, "mmol/L", ">"), bounded("32693-4", 10, "mmol/L", ">")], 8.0),
    ],
)
def test_a_bound_beside_a_reading_that_says_as_much_at_the_same_time_is_no_conflict(rulebase, readings, value):
    result = run(*readings, cuts=number_cuts(rulebase))
    assert value_of(result, "labs.lactate_mmol_l") == value and result.errors == []


@pytest.mark.parametrize(
    "readings",
    [
        [bounded("2524-7", 8, "mmol/L", ">"), obs("32693-4", valueQuantity=quantity(1.2, "mmol/L"))],
        [bounded("2524-7", 8, "mmol/L", ">"), bounded("32693-4", 1, "mmol/L", "<")],
    ],
)
def test_a_bound_that_disagrees_with_a_reading_at_the_same_time_is_a_conflict(rulebase, readings):
    result = run(*readings, cuts=number_cuts(rulebase))
    assert result.encounter == {} and "conflicting" in result.errors[0]["message"]


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        (bounded("2524-7", 3, "mmol/L", ">"), "labs.lactate_mmol_l"),  # may or may not reach 4
        (bounded("2524-7", 2, "mmol/L", "<"), "labs.lactate_mmol_l"),  # below 2, but 2 is not
        (bounded("1988-5", 100, "mg/L", ">"), "labs.crp_mg_l"),  # above 100, but 100 is not
        # below 4.04 mmol/L: rounded to 4.0 it would read "not 4 or more", which 4.03 is
        (bounded("2524-7", 36.4, "mg/dL", "<"), "labs.lactate_mmol_l"),
        # above 3.963 mmol/L: rounded first it would be above 4.0, which 3.97 is not
        (bounded("2524-7", 35.7, "mg/dL", ">"), "labs.lactate_mmol_l"),
        # below 1.987 mmol/L, which is not 2 or more, but 2.0 (as 17.9 mg/dL is read) is
        (bounded("2524-7", 17.9, "mg/dL", "<"), "labs.lactate_mmol_l"),
        (bounded("2524-7", 8, "mmol/L", "ad"), "labs.lactate_mmol_l"),
        (bounded("2524-7", 8, "mmol/L", "about"), "labs.lactate_mmol_l"),
        # NEWS2 reads a vital sign in bands: not weighed
        (obs("8867-4", valueQuantity={**quantity(130, "/min"), "comparator": ">"}), "vitals.heart_rate"),
    ],
)
def test_a_bound_a_threshold_lies_within_is_left_unknown_and_the_clinician_told(rulebase, resource, path):
    result = run(resource, cuts=number_cuts(rulebase))
    assert result.encounter == {} and result.ignored == {"comparator": 1}
    assert [e["field"] for e in result.errors] == [path] and "bound" in result.errors[0]["message"]
    assert "about" not in result.errors[0]["message"]  # an unknown comparator is not echoed


@pytest.mark.parametrize(
    "value",
    [
        {"valueQuantity": {"value": 10**400, "system": UCUM, "code": "/min"}},  # once a 500 (OverflowError)
        {"valueInteger": 140},
        {"valueString": "140"},
        {"valueQuantity": {"unit": "/min", "system": UCUM, "code": "/min"}},
    ],
)
def test_a_measurement_without_a_number_in_valuequantity_is_an_error_not_a_silent_drop(value):
    result = run(obs("8867-4", **value))
    assert result.encounter == {} and result.ignored == {"unrecognised_value": 1}
    assert [e["field"] for e in result.errors] == ["vitals.heart_rate"]


# --- statuses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [("entered-in-error", "entered_in_error"), ("cancelled", "cancelled"), ("registered", "not_final")],
)
def test_observations_without_a_usable_result_are_ignored(status, reason):
    result = run(temperature(39.0, status=status))
    assert result.encounter == {}
    assert result.ignored == {reason: 1}


def test_an_entered_in_error_observation_does_not_hide_an_older_valid_one():
    # another record (its own id); a version of the same record is withdrawn with it
    # (test_records_set_aside.py)
    valid = temperature(38.2, when="2025-01-15T02:00:00Z", rid="valid")
    wrong = temperature(36.0, when="2025-01-15T08:00:00Z", status="entered-in-error", rid="wrong")
    assert value_of(run(valid, wrong), "vitals.temperature_c") == 38.2


@pytest.mark.parametrize("status", ["preliminary", "amended", "corrected"])
def test_preliminary_and_corrected_results_are_used_and_say_so(status):
    result = run(obs("2524-7", status=status, valueQuantity=quantity(4.1, "mmol/L")))
    assert result.encounter == {"labs": {"lactate_mmol_l": 4.1}}
    assert result.used[0]["status"] == status


@pytest.mark.parametrize(
    ("clinical", "verification", "expected"),
    [
        ("active", "confirmed", True),
        ("recurrence", "confirmed", True),
        ("relapse", None, True),
        ("active", "provisional", True),  # the safer reading: a suspected finding raises the flag
        ("active", "unconfirmed", True),
        ("active", "differential", True),
        (None, "confirmed", True),
        ("inactive", "refuted", False),
        (None, "refuted", False),
        ("resolved", "confirmed", None),  # says nothing about today
        ("remission", "confirmed", None),
    ],
)
def test_condition_statuses(clinical, verification, expected):
    result = run(condition("49727002", clinical, verification))
    assert value_of(result, "symptoms.cough") is expected
    if expected is None:
        assert result.ignored == {"inactive": 1}


@pytest.mark.parametrize(
    "clinical",
    [
        {
            "coding": [
                {"system": "urn:ehr:local-status", "code": "1", "display": "Active"},
                {"system": CLINICAL, "code": "active"},
            ]
        },
        {"coding": [{"code": "active"}]},
    ],
)
def test_a_condition_status_is_read_from_its_hl7_coding_wherever_it_stands(clinical):
    """Finding: a local coding first made saddle numbness unreadable, dropped without a word."""
    saddle = condition("449813001")
    saddle["clinicalStatus"] = clinical
    result = run(saddle)
    assert value_of(result, "symptoms.saddle_anaesthesia") is True and result.errors == []


@pytest.mark.parametrize(
    ("status", "given"),
    [
        ("clinicalStatus", {"text": "Active"}),
        ("clinicalStatus", {"coding": [{"system": "urn:ehr:local-status", "code": "1"}]}),
        (
            "clinicalStatus",
            {"coding": [{"system": CLINICAL, "code": "active"}, {"system": CLINICAL, "code": "resolved"}]},
        ),
        ("verificationStatus", {"coding": [{"system": "urn:ehr:local-status", "code": "C"}]}),
    ],
)
def test_a_status_it_cannot_read_raises_as_unconfirmed_and_is_a_data_problem(status, given):
    """Read as unknown, a saddle numbness with a local verification code gave routine for an
    emergency: unreadable, it is read as unconfirmed (raises, never closes) and named on the card."""
    saddle = condition("449813001")
    saddle[status] = given
    result = run(saddle)
    assert value_of(result, "symptoms.saddle_anaesthesia") is True
    assert [e["field"] for e in result.errors] == ["symptoms.saddle_anaesthesia"]
    not_pregnant = condition("60001007", recordedDate="2025-01-15T08:00:00Z")
    not_pregnant[status] = given
    assert value_of(run(not_pregnant), "patient.pregnant") is None  # an unreadable "no" closes nothing


def test_the_status_systems_of_earlier_fhir_versions_are_read():
    saddle = condition("449813001", "inactive", "confirmed")
    saddle["clinicalStatus"] = coding("http://hl7.org/fhir/condition-clinical", "active")
    saddle["verificationStatus"] = coding("http://hl7.org/fhir/condition-ver-status", "confirmed")
    result = run(saddle)
    assert value_of(result, "symptoms.saddle_anaesthesia") is True and result.errors == []
    refuted = condition("386661006", recordedDate="2025-01-15T08:00:00Z")
    refuted["verificationStatus"] = coding("http://hl7.org/fhir/condition-ver-status", "refuted")
    assert value_of(run(refuted), "symptoms.reported_fever") is False


def test_an_entered_in_error_condition_is_ignored():
    result = run(condition("49727002", None, "entered-in-error"))
    assert result.encounter == {}
    assert result.ignored == {"entered_in_error": 1}


def test_a_resolved_cancer_is_still_a_history_of_cancer():
    assert value_of(run(condition("363346000", "resolved")), "history.cancer") is True
    assert value_of(run(condition("363346000", "inactive", "refuted")), "history.cancer") is False


def test_a_refutation_recorded_later_wins():
    earlier = condition("386661006", rid="a", recordedDate="2025-01-10")
    later = condition("386661006", "inactive", "refuted", rid="b", recordedDate="2025-01-15T11:00:00Z")
    assert value_of(run(earlier, later), "symptoms.reported_fever") is False


def test_a_later_no_does_not_unmake_a_history_of_cancer():
    breast = condition("254837009", rid="breast", onsetDateTime="2012-03-01")
    ruled_out = condition("363346000", "inactive", "refuted", rid="recurrence", recordedDate="2025-01-15T08:00:00Z")
    result = run(breast, ruled_out)
    assert value_of(result, "history.cancer") is True and result.errors == []


@pytest.mark.parametrize("recorded", ["2005-06-01", "2025-01-13T09:00:00Z", None])
def test_a_no_to_a_lasting_or_past_state_counts_only_when_just_asked(recorded):
    """A cancer ruled out in 2005, or two days ago, or at no known time, is not "no history of
    cancer" today: unknown, and asked."""
    refuted = condition("363346000", "inactive", "refuted", recordedDate=recorded)
    if recorded is None:
        del refuted["recordedDate"]
    result = run(refuted)
    assert value_of(result, "history.cancer") is None
    assert result.coverage["history.cancer"] == {"outside_episode": 1}


def test_a_lasting_state_recorded_present_then_refuted_is_a_conflict_for_a_clinician():
    diabetes = condition("44054006", rid="t2dm", onsetDateTime="2015-05-01")
    refuted = condition("73211009", "inactive", "refuted", rid="dm-refuted", recordedDate="2025-01-15T08:00:00Z")
    result = run(diabetes, refuted)
    assert value_of(result, "history.diabetes") is None
    assert [e["field"] for e in result.errors] == ["history.diabetes"]
    assert (
        value_of(
            run(refuted, condition("44054006", rid="t2dm", recordedDate="2025-01-15T09:00:00Z")), "history.diabetes"
        )
        is True
    )


@pytest.mark.parametrize(
    ("verification", "recorded", "expected"),
    [
        ("confirmed", "2025-01-15T08:00:00Z", False),
        (None, "2025-01-15T08:00:00Z", False),
        ("provisional", "2025-01-15T08:00:00Z", None),  # unconfirmed: raises flags, never closes one
        ("unconfirmed", "2025-01-15T08:00:00Z", None),
        ("differential", "2025-01-15T08:00:00Z", None),
        ("confirmed", "2019-03-01", None),  # a "no" of 2019 is not today's
    ],
)
def test_a_condition_whose_presence_means_no_is_a_no_only_when_confirmed_and_recent(verification, recorded, expected):
    not_pregnant = condition("60001007", verification=verification, recordedDate=recorded)
    assert value_of(run(not_pregnant), "patient.pregnant") is expected


def test_an_event_of_the_fields_period_recorded_then_denied_is_a_conflict():
    endocarditis = condition("56819008", rid="endo", onsetDateTime="2024-12-26")
    denied = {
        "resourceType": "QuestionnaireResponse",
        "id": "form",
        "status": "completed",
        "authored": "2025-01-15T08:00:00Z",
        "item": [{"linkId": "history.recent_infection_elsewhere", "answer": [{"valueBoolean": False}]}],
    }
    result = run(endocarditis, denied)
    assert value_of(result, "history.recent_infection_elsewhere") is None
    assert [e["field"] for e in result.errors] == ["history.recent_infection_elsewhere"]


def test_an_unconfirmed_no_does_not_hide_an_older_yes():
    pregnant = condition("77386006", rid="yes", recordedDate="2025-01-10")
    maybe_not = condition("60001007", verification="provisional", rid="no", recordedDate="2025-01-15T08:00:00Z")
    assert value_of(run(pregnant, maybe_not), "patient.pregnant") is True


def test_a_date_recorded_today_east_of_utc_is_not_a_record_from_the_future():
    """An evaluation at 2025-01-15T11:00Z is 2025-01-16 in Auckland: a red flag recorded there
    "today" (2025-01-16, read as its first moment in UTC, 13 hours ahead) must count."""
    saddle = condition("449813001", recordedDate="2025-01-16")
    at = datetime(2025, 1, 15, 11, tzinfo=UTC)
    assert value_of(run(saddle, now=at), "symptoms.saddle_anaesthesia") is True
    assert (
        value_of(run(condition("449813001", recordedDate="2025-01-17"), now=at), "symptoms.saddle_anaesthesia") is None
    )


def test_a_reading_recorded_only_to_a_day_that_may_reach_into_its_window_is_named():
    """Found in an audit: a heart rate of 135 recorded "yesterday" (a date, which FHIR and US
    Core allow), perhaps 16 hours ago, was read as yesterday 00:00 UTC, outside the 24 hours,
    and dropped with no card. It cannot be placed: named, and left unknown (not read as
    current). A fully timed reading is admitted as before."""
    at = datetime(2025, 1, 15, 16, tzinfo=UTC)
    heart = obs("8867-4", rid="hr", when="2025-01-14", valueQuantity=quantity(135, "/min"))
    result = run(heart, now=at)
    assert result.encounter == {}
    assert result.errors == [
        {
            "field": "vitals.heart_rate",
            "message": "Observation/hr is recorded only to the day (2025-01-14), which begins before the window "
            "this field is read in and may end within it; left unknown",
        }
    ]
    numb = obs("449813001", SNOMED, rid="numb", when="2025-01", valueBoolean=True)
    assert "only to the month (2025-01)" in run(numb, now=at).errors[0]["message"]
    # a day wholly before the window (even where it ends last, at UTC-12), a fully timed
    # reading before it, and a "no" to the day are not named; a day within it is read
    for stale in (
        obs("8867-4", when="2025-01-13", valueQuantity=quantity(135, "/min")),
        obs("8867-4", when="2025-01-14T15:00:00Z", valueQuantity=quantity(135, "/min")),
        obs("449813001", SNOMED, when="2025-01-14", valueBoolean=False),
    ):
        assert run(stale, now=at).errors == []
    assert value_of(run(heart, now=datetime(2025, 1, 14, 16, tzinfo=UTC)), "vitals.heart_rate") == 135


def test_a_record_dated_in_the_future_is_named_not_dropped_in_silence():
    """Found in an audit: a heart rate of 135 dated 20 hours ahead of the evaluation (a wrong
    clock) was ignored with no card. It is still not read (no moment of this evaluation), but
    named; a "no" dated ahead is not (the field is asked)."""
    at = datetime(2025, 1, 15, 11, tzinfo=UTC)
    heart = obs("8867-4", rid="hr", when="2025-01-16T07:00:00Z", valueQuantity=quantity(135, "/min"))
    stiff = condition("161882006", rid="neck", onsetDateTime="2025-01-16T07:00:00+00:00")
    no = obs("449813001", SNOMED, rid="no", when="2025-01-16T07:00:00Z", valueBoolean=False)
    form = {
        "resourceType": "QuestionnaireResponse",
        "id": "form",
        "status": "completed",
        "authored": "2025-01-16T07:00:00Z",
        "item": [{"linkId": "symptoms.saddle_anaesthesia", "answer": [{"valueBoolean": True}]}],
    }
    result = run(heart, stiff, no, form, now=at)
    assert result.encounter == {}
    assert result.errors == [
        {
            "field": "fhir",
            "message": "QuestionnaireResponse/form is authored in the future (2025-01-16 07:00 UTC): "
            "its answers were not used",
        },
        {
            "field": "vitals.heart_rate",
            "message": "Observation/hr is dated in the future (2025-01-16 07:00 UTC); left unknown",
        },
        {
            "field": "symptoms.neck_stiffness",
            "message": "Condition/neck is dated in the future (2025-01-16 07:00 UTC); left unknown",
        },
    ]


def test_a_timed_reading_ahead_of_the_evaluation_does_not_win_and_a_far_date_is_no_500():
    """Found in a second audit: a heart rate of 72 dated ten hours ahead with its zone won over
    the 135 of ten minutes ago, in silence (the 14 hours allowed a date, not an instant); and
    9999-12-31T23:59:59-12:00 raised OverflowError, a 500."""
    at = datetime(2025, 1, 15, 11, tzinfo=UTC)
    now = obs("8867-4", rid="now", when="2025-01-15T10:50:00Z", valueQuantity=quantity(135, "/min"))
    ahead = obs("8867-4", rid="ahead", when="2025-01-15T21:00:00Z", valueQuantity=quantity(72, "/min"))
    dated = obs("8867-4", rid="dated", when="2025-01-16", valueQuantity=quantity(72, "/min"))  # a day, in Sydney
    # it cannot be placed against the 135: it stands beside it, and they conflict (named); alone
    # it is read (test_records_set_aside.py), as is a date of tomorrow, today at UTC+14
    result = run(now, ahead, now=at)
    assert value_of(result, "vitals.heart_rate") is None
    assert result.errors == [
        {
            "field": "vitals.heart_rate",
            "message": "conflicting values (Observation/now, Observation/ahead; Observation/ahead dated ahead of "
            "this evaluation, which cannot be placed); left unknown",
        }
    ]
    assert value_of(run(ahead, now=at), "vitals.heart_rate") == 72
    assert value_of(run(dated, now=at), "vitals.heart_rate") == 72
    assert value_of(run(now, dated, now=at), "vitals.heart_rate") is None  # it won, in silence
    far = obs("8867-4", rid="far", when="9999-12-31T23:59:59-12:00", valueQuantity=quantity(135, "/min"))
    assert "9999-12-31T23:59:59-12:00" in run(far, now=at).errors[0]["message"]


def test_a_value_stated_only_to_today_is_not_taken_as_older_than_a_reading_timed_today():
    """Found in a second audit: a heart rate of 135 dated today (no time) lost, in silence, to an
    80 timed at 08:00 today: read as midnight, it may be the newer. They conflict."""
    day = obs("8867-4", rid="day", when="2025-01-15", valueQuantity=quantity(135, "/min"))
    timed = obs("8867-4", rid="timed", when="2025-01-15T08:00:00Z", valueQuantity=quantity(80, "/min"))
    result = run(day, timed)
    assert value_of(result, "vitals.heart_rate") is None
    assert [e["message"].split(" (")[0] for e in result.errors] == ["conflicting values recorded at the same time"]
    yesterday = obs("8867-4", rid="y", when="2025-01-14", valueQuantity=quantity(135, "/min"))
    assert value_of(run(yesterday, timed), "vitals.heart_rate") == 80  # it ended before 08:00


def test_a_record_set_aside_is_named_only_when_nothing_else_fills_its_field():
    """Found in a second audit: a years-old cough, or yesterday's date-only vital sign beside one
    timed half an hour ago, was named "left unknown" of a field that was read, and withheld
    self-care advice for good."""
    yesterday = obs("8867-4", rid="y", when="2025-01-14", valueQuantity=quantity(80, "/min"))
    timed = obs("8867-4", rid="t", when="2025-01-15T10:30:00Z", valueQuantity=quantity(82, "/min"))
    assert run(yesterday, timed).errors == []
    assert [e["field"] for e in run(yesterday).errors] == ["vitals.heart_rate"]  # alone, it is named
    old = obs("49727002", SNOMED, rid="cough", when="2023-11-01T10:00:00Z", valueBoolean=True)
    week = obs("449813001", SNOMED, rid="saddle", when="2025-01-07T10:00:00Z", valueBoolean=True)
    assert [e["field"] for e in run(old, week).errors] == ["symptoms.saddle_anaesthesia"]


# --- findings and coded answers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueBoolean": True}, True),
        ({"valueBoolean": False}, False),
        ({"valueCodeableConcept": coding(SNOMED, "52101004")}, True),  # Present
        ({"valueCodeableConcept": coding(SNOMED, "2667000")}, False),  # Absent
        ({"valueString": " Positive "}, True),
        ({"valueString": "negative"}, False),
        (
            {"interpretation": [coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "POS")]},
            True,
        ),
        (
            {"interpretation": [coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "NEG")]},
            False,
        ),
        ({"valueCodeableConcept": coding(SNOMED, "373066001")}, True),  # Yes
        ({"valueCodeableConcept": coding(SNOMED, "373067005")}, False),  # No
        ({"valueCodeableConcept": coding(LOINC, "LA33-6")}, True),
        ({"valueCodeableConcept": coding(LOINC, "LA32-8")}, False),
        ({"valueCodeableConcept": coding(SNOMED, "261665006")}, None),  # Unknown: as the patient said
        ({"valueCodeableConcept": coding(LOINC, "LA4489-6")}, None),
        ({"valueCodeableConcept": coding(LOINC, "LA6576-8")}, True),  # Positive: US dipsticks
        ({"valueCodeableConcept": coding(LOINC, "LA6577-6")}, False),  # Negative
        ({"valueCodeableConcept": coding(SNOMED, "260415000")}, False),  # Not detected
        ({"valueCodeableConcept": coding(SNOMED, "419984006")}, None),  # Inconclusive
        ({}, True),  # a clinical finding recorded with no value asserts itself
        ({"dataAbsentReason": coding(DATA_ABSENT, "asked-unknown")}, None),
    ],
)
def test_observation_findings(value, expected):
    result = run(obs("49727002", system=SNOMED, **value))
    assert value_of(result, "symptoms.cough") is expected
    assert result.errors == []


@pytest.mark.parametrize(
    "value",
    [
        {"valueString": "yep"},
        {"valueString": "2+"},
        {"valueCodeableConcept": {"text": "Positive"}},
        {"valueCodeableConcept": coding("urn:oid:1.2.3.4.5", "Y")},
        # Abnormal is outside the reference range, not "present"
        {"interpretation": [coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "A")]},
        {
            "valueCodeableConcept": {
                "coding": [{"system": SNOMED, "code": "373066001"}, {"system": SNOMED, "code": "373067005"}]
            }
        },
    ],
)
def test_a_finding_recorded_in_words_the_service_cannot_read_is_an_error_not_a_silent_drop(value):
    """Finding: saddle numbness recorded "Y" (v2-0136) or as text "Yes" triaged routine, with
    nothing on the card to say the record was there."""
    result = run(obs("49727002", system=SNOMED, **value))
    assert value_of(result, "symptoms.cough") is None
    assert [e["field"] for e in result.errors] == ["symptoms.cough"]


V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueCodeableConcept": coding(LOINC, "LA9633-4")}, True),  # Present
        ({"valueCodeableConcept": coding(LOINC, "LA9634-2")}, False),  # Absent
        ({"valueCodeableConcept": coding(LOINC, "LA11882-0")}, True),  # Detected
        ({"valueCodeableConcept": coding(LOINC, "LA11883-8")}, False),  # Not detected
        ({"valueCodeableConcept": coding("http://terminology.hl7.org/CodeSystem/v2-0136", "Y")}, True),
        ({"valueCodeableConcept": coding("http://terminology.hl7.org/CodeSystem/v2-0136", "N")}, False),
        ({"valueString": " Yes "}, True),
        ({"valueString": "not detected"}, False),
        ({"interpretation": [coding(V3_INTERPRETATION, "DET")]}, True),
        ({"interpretation": [coding(V3_INTERPRETATION, "ND")]}, False),
        ({"interpretation": [coding(V3_INTERPRETATION, "IND")]}, None),
        ({"valueCodeableConcept": coding(LOINC, "LA9663-1")}, None),  # Inconclusive
    ],
)
def test_presence_answers_ehrs_send_are_read(value, expected):
    """Finding: a saddle numbness answered LOINC Present, Detected, v2 "Y" or "yes" was not read."""
    result = run(obs("449813001", system=SNOMED, **value))
    assert value_of(result, "symptoms.saddle_anaesthesia") is expected
    assert result.errors == []


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("10828004", True), ("260348001", True), ("260385009", False), ("2667000", False)],  # Positive, ++, Negative
)
def test_dipsticks_as_us_core_codes_them(answer, expected):
    result = run(obs("5802-4", valueCodeableConcept=coding(SNOMED, answer)), obs("5799-2", valueBoolean=expected))
    assert result.encounter == {"labs": {"urine_nitrite": expected, "urine_leukocytes": expected}}


def test_a_trace_or_ambiguous_dipstick_stays_unknown():
    trace = obs("5799-2", valueString="trace")
    both = obs(
        "5802-4",
        valueCodeableConcept={
            "coding": [*coding(SNOMED, "10828004")["coding"], *coding(SNOMED, "260385009")["coding"]]
        },
    )
    result = run(trace, both)
    assert result.encounter == {}
    assert result.ignored == {"ambiguous_value": 1, "unrecognised_value": 1}


def test_headache_needs_a_severity_to_be_known():
    assert value_of(run(condition("25064002")), "symptoms.headache") is None
    severe = condition("25064002", severity=coding(SNOMED, "24484000"))
    assert value_of(run(severe), "symptoms.headache") == "severe"
    graded = obs("25064002", system=SNOMED, valueCodeableConcept=coding(SNOMED, "255604002"))
    assert value_of(run(graded), "symptoms.headache") == "mild"
    assert value_of(run(condition("25064002", "inactive", "refuted")), "symptoms.headache") == "none"


@pytest.mark.parametrize(
    ("code", "path"),
    [
        ("68962001", "symptoms.generalized_myalgia"),
        ("23056005", "symptoms.bilateral_sciatica"),
        ("43724002", "symptoms.rigors"),
    ],
)
def test_wider_findings_only_say_no(code, path):
    assert value_of(run(condition(code)), path) is None  # muscle pain is not generalised myalgia
    assert value_of(run(condition(code, "inactive", "refuted")), path) is False


def test_petechiae_mean_a_non_blanching_rash_but_their_absence_says_nothing():
    assert value_of(run(condition("271813007")), "symptoms.non_blanching_rash") is True
    assert value_of(run(condition("271813007", "inactive", "refuted")), "symptoms.non_blanching_rash") is None


@pytest.mark.parametrize(("code", "expected"), [("LA15173-0", True), ("LA26683-5", False), ("LA4489-6", None)])
def test_pregnancy_status(code, expected):
    assert value_of(run(obs("82810-3", valueCodeableConcept=coding(LOINC, code))), "patient.pregnant") is expected


def test_acvpu_findings_name_the_level():
    assert value_of(run(obs("450847001", system=SNOMED, valueBoolean=True)), "vitals.consciousness") == "pain"
    assert value_of(run(obs("450847001", system=SNOMED, valueBoolean=False)), "vitals.consciousness") is None


# --- patient -------------------------------------------------------------------------------------


def test_age_and_sex_from_the_patient():
    result = run(patient("1990-01-16", "other"), today=date(2025, 1, 15))
    assert result.encounter == {"patient": {"age_years": 34, "sex": "other"}}
    assert run(patient("1990-01-15"), today=date(2025, 1, 15)).encounter["patient"]["age_years"] == 35


def test_a_partial_birth_date_gives_the_oldest_age_it_allows_to_an_adult():
    """Finding: born "1950", on 15 January 2025 the patient may be 75; read as 74, the older-age
    finding (75 and over) was lost. Every age threshold of the rules is "at least"."""
    assert run(patient("1950"), today=date(2025, 1, 15)).encounter["patient"]["age_years"] == 75
    assert run(patient("1990"), today=date(2025, 6, 1)).encounter["patient"]["age_years"] == 35
    assert run(patient("1990-05"), today=date(2025, 5, 30)).encounter["patient"]["age_years"] == 35
    assert run(patient("1990-05"), today=date(2025, 4, 30)).encounter["patient"]["age_years"] == 34
    # the oldest past the contract's range (121): the youngest, still in it, is kept
    assert run(patient("1904"), today=date(2025, 1, 15)).encounter["patient"]["age_years"] == 120


def test_a_partial_birth_date_that_may_be_a_childs_gives_the_childs_age():
    # born in 2009, on 15 January 2025 the patient is 15 (or 16 if born on 1 to 15 January):
    # rounding never carries a child into the adult service
    assert run(patient("2009"), today=date(2025, 1, 15)).encounter["patient"]["age_years"] == 15


def test_every_age_threshold_of_the_rules_is_at_least(rulebase):
    """What makes the oldest age the safer reading: no rule tests an age below a threshold."""
    cuts = number_cuts(rulebase)["patient.age_years"]
    assert cuts and all(op in ("gte", "gt") for op, _ in cuts)


@pytest.mark.parametrize(
    "birth", ["1890-01-01", "2030-01-01", "not a date", "1990-02-30", "\u0661\u0669\u0669\u0660-01-15", "1990-01-15\n"]
)
def test_an_implausible_or_impossible_birth_date_leaves_the_age_unknown(birth):
    result = run(patient(birth))
    assert "age_years" not in result.encounter.get("patient", {})
    assert [e["field"] for e in result.errors] == ["patient.age_years"]


def test_a_childs_age_is_kept_for_the_caller_to_decline():
    result = run(patient("2015-01-01"), today=date(2025, 1, 15))
    assert result.encounter == {"patient": {"age_years": 10, "sex": "female"}}
    assert result.errors == []


def test_resources_about_another_patient_are_ignored():
    mine = temperature(38.0, rid="mine", subject={"reference": "Patient/p1"})
    theirs = obs("8867-4", rid="theirs", valueQuantity=quantity(130, "/min"), subject={"reference": "Patient/p2"})
    uuid = obs("9279-1", valueQuantity=quantity(22, "/min"), subject={"reference": "urn:uuid:p1"})
    result = run(patient(), mine, theirs, uuid)
    assert flatten(result.encounter) == {
        "patient.age_years": 35,
        "patient.sex": "female",
        "vitals.temperature_c": 38.0,
        "vitals.respiratory_rate": 22,
    }
    assert result.ignored == {"other_patient": 1}
    # not read, but named: a subject that misses the Patient leaves a heart rate of 130 unread
    assert result.errors == [
        {"field": "fhir", "message": "Observation/theirs: its subject is Patient/p2, not this Patient; not used"}
    ]


def test_a_subject_naming_the_patients_bundle_entry_by_its_full_url_is_the_patient():
    """Found in an audit: a transaction Bundle's Patient (fullUrl urn:uuid:9b2c..., id p1) and a
    heart rate of 135 whose subject is that urn:uuid was set aside as another patient's. In a
    Bundle, FHIR R4 resolves a reference by the entries' fullUrls."""
    uuid = "urn:uuid:9b2c7a4e-1f7e-4d0a-9c1e-2f1b6a3d8e11"
    mine = obs("8867-4", rid="mine", valueQuantity=quantity(135, "/min"), subject={"reference": uuid})
    other = obs("8867-4", rid="other", valueQuantity=quantity(60, "/min"), subject={"reference": "urn:uuid:0000"})
    entries = [{"fullUrl": uuid, "resource": patient()}, {"fullUrl": "urn:uuid:0000", "resource": temperature(37.0)}]
    payload = {"resourceType": "Bundle", "type": "transaction", "entry": [*entries, {"resource": mine}]}
    result = map_resources(resources_from([payload, other]), TODAY)
    assert value_of(result, "vitals.heart_rate") == 135
    # a fullUrl names the Patient only as its own entry's: another entry's is not the Patient's
    assert result.ignored == {"other_patient": 1}
    assert [e["message"] for e in result.errors] == [
        "Observation/other: its subject is urn:uuid:0000, not this Patient; not used"
    ]


def test_two_patients_are_refused():
    result = run(patient(pid="p1"), patient(pid="p2"), temperature(38.0))
    assert result.encounter == {}
    assert result.errors[0]["field"] == "patient"
    assert result.ignored == {"multiple_patients": 3}


def test_one_patient_twice_is_read_once_unless_the_copies_disagree():
    """Found over the real server: two copies of Patient/p1 with different birth dates, and the
    first one's age was triaged in silence."""
    same = run(patient(pid="p1"), patient(pid="p1"), temperature(38.0))
    assert flatten(same.encounter)["patient.age_years"] == 35 and same.errors == []
    result = run(patient(pid="p1"), patient("1940-01-15", pid="p1"), temperature(38.0))
    assert result.encounter == {}
    assert result.errors == [
        {
            "field": "patient",
            "message": "the resources name one Patient twice, with different birth dates or sexes; nothing was mapped",
        }
    ]


def test_a_copy_of_the_patient_that_lacks_an_element_does_not_disagree():
    """Found in an audit: a SUBSETTED copy of Patient/p1 with the birth date and no gender
    refused the whole mapping as two copies that disagree, and a heart rate of 135 went unread.
    Only two present, different values disagree; each element is read from the copy giving it."""
    subsetted = {"resourceType": "Patient", "id": "p1", "birthDate": "1990-01-15"}
    sexless = {"resourceType": "Patient", "id": "p1", "gender": "female"}
    heart = obs("8867-4", valueQuantity=quantity(135, "/min"))
    for order in ([patient(), subsetted], [subsetted, patient()], [subsetted, sexless]):
        result = run(*order, heart)
        assert flatten(result.encounter) == {
            "patient.age_years": 35,
            "patient.sex": "female",
            "vitals.heart_rate": 135,
        }
        assert result.errors == []
    result = run(subsetted, patient("1940-01-15", gender="male"), heart)
    assert result.encounter == {} and result.errors[0]["field"] == "patient"
    # one date at two precisions agrees (found in a second audit: "1990" beside "1990-01-15"
    # refused the mapping); two years do not
    yearly = {"resourceType": "Patient", "id": "p1", "birthDate": "1990"}
    assert flatten(run(yearly, patient(), heart).encounter)["patient.age_years"] == 35
    assert run({**yearly, "birthDate": "1991"}, patient(), heart).encounter == {}


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Observation", "status": "final"},
        {"resourceType": "Observation", "status": "final", "code": "8310-5", "subject": "Patient/p1"},
        obs("85354-9", component={"code": "8480-6"}, effectivePeriod=["2025"]),
        obs("85354-9", component=["x", {"code": coding(LOINC, "8480-6"), "valueQuantity": "120"}]),
        obs("8310-5", valueQuantity={"value": float("nan"), "system": UCUM, "code": "Cel"}),
        obs("8310-5", valueQuantity={"value": True, "system": UCUM, "code": "Cel"}),
        obs("49727002", system=SNOMED, valueBoolean="yes", interpretation="POS"),
        obs("49727002", system=SNOMED, interpretation=["POS", {"coding": "NEG"}]),
        {**condition("25064002", onsetPeriod="2025", severity=[]), "code": {"coding": [None, {"code": 49727002}]}},
        condition("25064002", onsetPeriod="2025", severity="severe"),
        {"resourceType": "Condition", "code": coding(SNOMED, "49727002"), "clinicalStatus": "active"},
        patient(birth=19900115, gender=["female"]),
    ],
)
def test_malformed_resources_are_ignored_never_fatal(resource):
    result = run(resource)
    assert result.encounter == {}


@pytest.mark.parametrize(
    ("kind", "times", "named"),
    [
        ("Observation", {"effectiveDateTime": "today"}, "effectiveDateTime"),
        ("Observation", {"effectivePeriod": {"end": "2025-13-01"}}, "effectivePeriod.end"),
        ("Observation", {"issued": "yesterday 10:00"}, "issued"),
        ("Condition", {"onsetDateTime": "this morning"}, "onsetDateTime"),
        ("Condition", {"recordedDate": "2025-02-30"}, "recordedDate"),
    ],
)
def test_a_time_that_is_no_date_sets_the_resource_aside_named(kind, times, named):
    """Found over the real server: a respiratory rate of 30 with effectiveDateTime "today" was
    read as undated, which for a vital sign says nothing: dropped with no data-problem card."""
    if kind == "Observation":
        resource = obs("9279-1", when=None, valueQuantity=quantity(30, "/min"), **times)
    else:
        resource = condition("49727002", **times)
    result = run(patient(), resource)
    assert flatten(result.encounter) == {"patient.age_years": 35, "patient.sex": "female"}
    assert result.ignored == {"malformed": 1}
    assert [e["field"] for e in result.errors] == ["fhir"]
    assert named in result.errors[0]["message"]


def test_a_leap_second_is_a_time():
    """FHIR's dateTime allows 23:59:60; Python's datetime does not (found in review)."""
    rate = obs("9279-1", when="2025-01-15T09:59:60Z", valueQuantity=quantity(30, "/min"))
    result = run(patient(), rate)
    assert flatten(result.encounter)["vitals.respiratory_rate"] == 30
    assert result.errors == []


def test_a_time_that_is_no_date_beside_one_that_is_leaves_the_resource_read_by_that_one():
    # effectiveDateTime unreadable, issued readable: read as released then, as before
    rate = obs("9279-1", when="today", valueQuantity=quantity(30, "/min"), issued="2025-01-15T10:05:00Z")
    result = run(patient(), rate)
    assert flatten(result.encounter)["vitals.respiratory_rate"] == 30
    assert result.errors == []


def test_used_names_resources_and_codes_never_patient_values():
    result = run(patient(), temperature(38.7), condition("49727002"))
    for entry in result.used:
        assert set(entry) <= {"resource_type", "id", "status", "system", "code", "field"}
    assert "38.7" not in json.dumps(result.used) and "1990" not in json.dumps(result.used)


# --- input shapes ------------------------------------------------------------------------------


def test_resources_from_accepts_a_resource_a_bundle_or_a_list():
    t, p = temperature(38.0), patient()
    other = {"resourceType": "MedicationRequest", "id": "m"}
    assert resources_from(t) == [t]
    assert resources_from(bundle([p, t, other], "transaction")) == [p, t]
    nested = [bundle([p]), {"resourceType": "Bundle", "type": "batch-response", "entry": [{"resource": bundle([t])}]}]
    flat = resources_from(nested)
    assert flat == [p, t]
    kept = resources_from([bundle([p, t, other]), other, "junk"])
    assert kept.dropped == {"unsupported_resource_type": 2, "not_a_resource": 1}
    assert map_resources(kept, TODAY).ignored == {"not_a_resource": 1, "unsupported_resource_type": 2}


def test_a_page_of_a_search_is_named_as_a_page_not_read_as_the_whole_record():
    """CDS Hooks lets a client paginate prefetch results: a searchset of 250 Conditions sent with
    its first 100 and a next link was read as complete, and a diabetes on page 2 as unknown with
    no word of the pages never sent."""
    page = bundle([patient(), temperature(38.0)], "searchset")
    page.update(id="s1", total=250, link=[{"relation": "next", "url": "https://ehr.example/fhir?page=2"}])
    result = map_resources(resources_from(page), TODAY)
    assert value_of(result, "vitals.temperature_c") == 38.0  # the page sent is read
    assert result.errors == [
        {
            "field": "fhir",
            "message": "Bundle/s1 (2 of 250 entries): a search result with more pages; only the page sent was read",
        }
    ]
    page["link"] = [{"relation": "self", "url": "https://ehr.example/fhir?page=1"}]
    assert map_resources(resources_from(page), TODAY).errors == []


def test_an_error_a_search_reports_in_its_bundle_is_named():
    """CDS Hooks 2.0.1: "CDS Services SHOULD check any prefetched data for the existence of
    OperationOutcomes". A labs search that timed out, reported by an OperationOutcome entry, was
    dropped as an unsupported type: its lactate unknown with no word that the search failed. The
    server's text is not repeated (it may name anyone); a warning is not an error."""
    failed = {
        "resourceType": "OperationOutcome",
        "id": "f",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "Timed out for MRN 4471"}],
    }
    warned = {
        "resourceType": "OperationOutcome",
        "id": "w",
        "issue": [{"severity": "warning", "code": "informational"}],
    }
    page = bundle([patient(), temperature(38.0), failed, warned], "searchset")
    page["id"] = "labs"
    result = map_resources(resources_from(page), TODAY)
    assert value_of(result, "vitals.temperature_c") == 38.0
    assert result.errors == [
        {
            "field": "fhir",
            "message": "Bundle/labs (OperationOutcome, timeout): the FHIR server reported an error in it; records it "
            "should hold may be missing",
        }
    ]
    assert result.ignored["search_error"] == 1 and "4471" not in str(result.errors)
    page["entry"] = [e for e in page["entry"] if e["resource"] is not failed]
    assert map_resources(resources_from(page), TODAY).errors == []


def test_a_cds_hooks_prefetch_maps_like_its_resources():
    vignette = VIGNETTES["D01"]["encounter"]
    from_prefetch = map_resources(resources_from(list(prefetch(vignette).values())), TODAY)
    assert from_prefetch.encounter == map_resources(encounter_to_resources(vignette), TODAY).encounter


# --- round trip through FHIR -----------------------------------------------------------------

# Fields the terminology cannot express at all: no verified code (see terminology.yaml and
# docs/fhir.md), no resource type in scope (Procedure for procedures and chemotherapy, the
# medication resources for anticoagulants), or no FHIR home read (pain descriptors, the NEWS2
# scale, the usual blood pressure). pain.sites is expressed, as a partial list, by the site codes
# (its own tests); the round trip writes no sites.
NEVER_EXPRESSED = {
    "encounter_id",
    "history.recent_spinal_procedure",
    "history.recent_surgery_or_trauma",
    "history.chemotherapy_last_6_weeks",
    "history.anticoagulant",
    "vitals.usual_systolic_bp",
    "vitals.spo2_scale",
    "vitals.hours_since_urine",
    "vitals.new_oxygen_need",
    "pain.sites",
    "pain.sites_partial",
    "pain.distribution",
    "pain.laterality",
    "pain.duration_days",
    "pain.trend",
    "pain.night_pain",
    "pain.onset",
    "symptoms.reduced_oral_intake",
    "symptoms.photophobia",
    "symptoms.mottled_or_ashen_skin",
    "symptoms.leg_weakness_progressive",
    "symptoms.numbness_both_legs",
    "symptoms.behaviour_change_reported",
    "symptoms.functional_decline",
    "symptoms.altered_bladder_sensation",
    "exam.cva_tenderness",
    "exam.reduced_perianal_sensation",
    "exam.spinal_tenderness",
}
# Expressed for some values only: a code wider than the field is read only when absent, and one
# narrower only when present (absent, it leaves the field unknown).
ONE_WAY = {
    "symptoms.generalized_myalgia": [True, False],  # generalised aches, and muscle pain when absent
    "symptoms.non_blanching_rash": [True, False],
    "patient.recently_pregnant": [True],
    "history.recent_infection_elsewhere": [True],
    "history.indwelling_device": [True],
    "history.alcohol_misuse": [True],
    "history.urinary_tract_abnormality": [True],
    "pain.colicky": [True],
    "pain.worse_on_straining": [True],
    "symptoms.cloudy_urine": [True],
    "symptoms.leg_weakness": ["none", "bilateral"],  # paresis of an unsaid side says nothing
    "symptoms.leg_numbness": [True],  # no numbness does not exclude tingling
    "symptoms.urinary_retention": [True],  # no retention does not exclude difficulty starting
    "symptoms.focal_neurological_deficit": [True],
    "symptoms.difficulty_walking": [True],
    "symptoms.syncope": [True],
    "exam.kernig_or_brudzinski": [True],
    "exam.wound_or_device_infection": [True],
}


def test_what_the_terminology_cannot_express_is_listed():
    never = {f.path for f in FIELDS if f.path not in ONE_WAY and not any(expressible(f.path, v) for v in samples(f))}
    assert never == NEVER_EXPRESSED
    for path, values in ONE_WAY.items():
        assert [v for v in samples(BY_PATH[path]) if expressible(path, v)] == values, path


def samples(spec):
    if spec.kind == "bool":
        return [True, False]
    if spec.kind == "enum":
        return list(spec.choices)
    if spec.kind == "enum_list":
        return [list(spec.choices[:1])]
    if spec.kind == "string":
        return ["x"]
    return [int(spec.low), int(spec.high)]


@pytest.mark.parametrize("findings_as", ["observation", "condition"])
@pytest.mark.parametrize("vid", sorted(VIGNETTES))
def test_every_vignette_survives_a_round_trip_through_fhir(vid, findings_as):
    original = VIGNETTES[vid]["encounter"]
    resources = encounter_to_resources(copy.deepcopy(original), TODAY, findings_as=findings_as)
    result = map_resources(resources_from(bundle(resources, "searchset")), TODAY)
    lost = unexpressible(original)
    assert set(lost) <= NEVER_EXPRESSED | set(ONE_WAY)
    assert flatten(result.encounter) == {k: v for k, v in flatten(original).items() if k not in lost}
    assert set(lost) - {"encounter_id"} <= set(result.unknown)
    assert result.errors == []
    assert load_encounter(result.encounter) == result.encounter


# --- the terminology file ----------------------------------------------------------------------


def raw_terminology():
    return yaml.safe_load(TERMINOLOGY.read_text())


def walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_every_code_and_unit_in_the_terminology_cites_a_url():
    entries = [n for n in walk(raw_terminology()) if "code" in n]
    assert len(entries) > 60
    for entry in entries:
        sources = entry["source"] if isinstance(entry["source"], list) else [entry["source"]]
        assert sources and all(s.startswith(("https://", "http://")) for s in sources), entry


def test_the_packaged_terminology_is_loaded_once():
    assert terminology() is terminology()


def mutate(change):
    data = raw_terminology()
    change(data)
    return yaml.safe_dump(data, sort_keys=False)


def finding(data, code):
    return next(f for f in data["findings"] if f["code"] == code)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: finding(d, "49727002").update(field="symptoms.cuogh"), "'symptoms.cuogh' is not a clinical field"),
        (lambda d: finding(d, "49727002").update(field="encounter_id"), "'encounter_id' is not a clinical field"),
        (lambda d: finding(d, "49727002").pop("source"), "'source' is a required property"),
        (lambda d: finding(d, "49727002").update(source="see the IPS"), "does not match"),
        (lambda d: finding(d, "49727002").update(present="yes"), "is not a valid value of symptoms.cough"),
        (lambda d: finding(d, "25064002").update(absent="severe-ish"), "is not a valid value of symptoms.headache"),
        (lambda d: finding(d, "130987000").pop("absent"), "an enum or list field needs explicit present and absent"),
        (lambda d: finding(d, "49727002").update(code="386661006"), "listed more than once"),
        (lambda d: finding(d, "49727002").update(system="sct"), "unknown system 'sct'"),
        (lambda d: finding(d, "49727002").update(answers="severity"), "must name an answer set of true/false/null"),
        (lambda d: d["quantities"][0]["units"][1].update(divisor=0), "less than or equal to the minimum"),
        (lambda d: d["quantities"][0].update(field="vitals.on_oxygen"), "is not numeric; map it with bands"),
        (lambda d: d["quantities"][0]["units"].append(d["quantities"][0]["units"][0]), "listed more than once"),
        (lambda d: d["quantities"][5]["bands"][0].update(value="maybe"), "is not a valid value of vitals.on_oxygen"),
        (lambda d: d.update(version=1), "2 was expected"),
        (lambda d: d["episodes"]["current"]["fields"].remove("symptoms.cough"), "no episode for symptoms.cough"),
        (lambda d: d["episodes"]["ever"]["fields"].append("symptoms.cough"), "symptoms.cough is listed more than once"),
        (lambda d: d.update(extra=1), "Additional properties are not allowed"),
    ],
)
def test_an_invalid_terminology_file_is_refused_with_a_clear_error(change, message):
    with pytest.raises(TerminologyError, match="terminology file is invalid") as info:
        load_terminology(mutate(change))
    assert message in str(info.value)


def test_a_terminology_file_with_a_duplicate_key_is_refused():
    text = TERMINOLOGY.read_text().replace("version: 2\n", "version: 2\nversion: 2\n", 1)
    with pytest.raises(TerminologyError, match="duplicate key 'version'"):
        load_terminology(text)


def test_the_packaged_file_is_valid():
    assert load_terminology(TERMINOLOGY.read_text()).by_code.keys() == terminology().by_code.keys()


@pytest.mark.parametrize(
    ("code", "value", "unit", "path", "expected"),
    [
        ("2519-7", 4.5, "mmol/L", "labs.lactate_mmol_l", 4.5),  # venous lactate
        ("2518-9", 4.5, "mmol/L", "labs.lactate_mmol_l", 4.5),  # arterial lactate
        ("33256-9", 13.1, "10*3/uL", "labs.wbc_10e9_l", 13.1),  # corrected for nucleated red cells
        ("8331-1", 38.6, "Cel", "vitals.temperature_c", 38.6),  # oral
        ("8889-8", 131, "/min", "vitals.heart_rate", 131),  # by pulse oximetry
        ("8459-0", 88, "mm[Hg]", "vitals.systolic_bp", 88),  # sitting
        ("76534-7", 88, "mm[Hg]", "vitals.systolic_bp", 88),  # non-invasive
        ("20564-1", 90, "%", "vitals.spo2", 90),
    ],
)
def test_the_more_specific_loinc_codes_of_a_measurement_are_read(code, value, unit, path, expected):
    assert value_of(run(obs(code, valueQuantity=quantity(value, unit))), path) == expected


@pytest.mark.parametrize(("code", "path"), [("50558-6", "labs.urine_nitrite"), ("60026-2", "labs.urine_leukocytes")])
def test_an_automated_urine_strip_is_read_as_a_manual_one(code, path):
    positive = obs(code, valueCodeableConcept=coding(SNOMED, "10828004"))
    assert value_of(run(positive), path) is True


def test_a_condition_recorded_after_a_no_wins_over_it_whatever_its_onset():
    # the nurse's "no" at 08:00; the doctor's record at 11:00 of a numbness that began overnight
    asked = obs("449813001", system=SNOMED, when="2025-01-15T08:00:00Z", valueBoolean=False)
    recorded = condition("449813001", onsetDateTime="2025-01-15", recordedDate="2025-01-15T11:00:00Z")
    for order in ([asked, recorded], [recorded, asked]):
        result = run(*order, now=datetime(2025, 1, 15, 12, tzinfo=UTC))
        assert value_of(result, "symptoms.saddle_anaesthesia") is True and result.errors == []


def test_a_no_recorded_after_a_condition_wins_over_it():
    recorded = condition("449813001", onsetDateTime="2025-01-15T01:00:00Z", recordedDate="2025-01-15T08:00:00Z")
    asked = obs("449813001", system=SNOMED, when="2025-01-15T11:00:00Z", valueBoolean=False)
    result = run(recorded, asked, now=datetime(2025, 1, 15, 12, tzinfo=UTC))
    assert value_of(result, "symptoms.saddle_anaesthesia") is False


def test_a_condition_recorded_in_the_future_cannot_be_placed_against_a_no():
    # when it was recorded is what orders it (94e14b4), and a recording ahead of the clock says
    # nothing of that: it may be newer than the "no" of 08:00 (it stood at its onset, 07:00, and
    # lost, until the differential fuzzing of 66bf15d); alone, it is read
    recorded = condition("449813001", onsetDateTime="2025-01-15T07:00:00Z", recordedDate="2025-03-01T00:00:00Z")
    asked = obs("449813001", system=SNOMED, when="2025-01-15T08:00:00Z", valueBoolean=False)
    result = run(recorded, asked, now=datetime(2025, 1, 15, 12, tzinfo=UTC))
    assert value_of(result, "symptoms.saddle_anaesthesia") is None
    assert "dated ahead of this evaluation" in result.errors[0]["message"]
    assert value_of(run(recorded, now=datetime(2025, 1, 15, 12, tzinfo=UTC)), "symptoms.saddle_anaesthesia") is True


def test_an_active_acute_confusion_that_began_yesterday_is_new_confusion_today():
    confusion = condition("130987000", onsetDateTime="2025-01-14T09:00:00Z", recordedDate="2025-01-15T11:00:00Z")
    result = run(confusion, now=datetime(2025, 1, 15, 12, tzinfo=UTC))
    assert value_of(result, "vitals.consciousness") == "new_confusion"


def test_a_finding_still_present_that_began_before_this_illness_is_unknown_and_on_the_card():
    numb = condition("449813001", onsetDateTime="2025-01-07", recordedDate="2025-01-15T11:00:00Z")
    result = run(numb, now=datetime(2025, 1, 15, 12, tzinfo=UTC))
    assert value_of(result, "symptoms.saddle_anaesthesia") is None
    assert [e["field"] for e in result.errors] == ["symptoms.saddle_anaesthesia"]
    assert "2025-01-07" in result.errors[0]["message"] and "new" in result.errors[0]["message"]


def test_a_finding_observed_present_before_this_illness_is_named_as_the_same_condition_is():
    """Found in an audit: a saddle anaesthesia observed present (valueBoolean true) 8 days before
    was dropped with no card, where the same fact as a Condition was named. A vital sign or a
    result of last week is simply old, and a "no" is not named."""
    at = datetime(2025, 1, 15, 12, tzinfo=UTC)
    numb = obs("449813001", SNOMED, rid="numb", when="2025-01-07T09:00:00Z", valueBoolean=True)
    result = run(numb, now=at)
    assert value_of(result, "symptoms.saddle_anaesthesia") is None
    assert result.errors == [
        {
            "field": "symptoms.saddle_anaesthesia",
            "message": "Observation/numb: recorded as present, with a date (2025-01-07) before this illness's "
            "window, so not read as new; left unknown (ask whether it is new)",
        }
    ]
    quiet = [
        obs("449813001", SNOMED, when="2025-01-07T09:00:00Z", valueBoolean=False),
        obs("8867-4", when="2025-01-07T09:00:00Z", valueQuantity=quantity(135, "/min")),
        obs("2524-7", when="2025-01-07T09:00:00Z", valueQuantity=quantity(5.2, "mmol/L")),
        obs("72514-3", when="2025-01-07T09:00:00Z", valueInteger=8),
    ]
    assert run(*quiet, now=at).errors == []


@pytest.mark.parametrize(("clinical", "verification"), [("resolved", "confirmed"), ("active", "refuted")])
def test_an_old_record_that_says_nothing_of_today_or_says_no_is_not_on_the_card(clinical, verification):
    old = condition("449813001", clinical, verification, onsetDateTime="2024-06-01", recordedDate="2024-06-02")
    result = run(old, now=datetime(2025, 1, 15, 12, tzinfo=UTC))
    assert result.encounter == {} and result.errors == []


# --- codes EHRs send that were unrecognised in silence (research of 2026-12-01) ---------------

ICD10_CM, ICD10 = "http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10"


def coded_condition(system, code, **options):
    resource = condition(code, **options)
    resource["code"] = coding(system, code)
    return resource


@pytest.mark.parametrize(
    ("system", "code", "path", "expected"),
    [
        (ICD10_CM, "R41.82", "vitals.consciousness", "new_confusion"),
        (ICD10_CM, "R4182", "vitals.consciousness", "new_confusion"),  # sent without its dot
        (ICD10_CM, "r41.0", "vitals.consciousness", "new_confusion"),
        (SNOMED, "286933003", "vitals.consciousness", "new_confusion"),
        (ICD10_CM, "R50.9", "symptoms.reported_fever", True),
        (ICD10, "R50.8", "symptoms.reported_fever", True),
        (ICD10_CM, "R33.9", "symptoms.urinary_retention", True),
        (ICD10_CM, "R32", "symptoms.urinary_incontinence", True),
        (ICD10_CM, "R15.9", "symptoms.faecal_incontinence", True),
        (ICD10_CM, "R23.3", "symptoms.non_blanching_rash", True),
        (ICD10_CM, "R30.0", "symptoms.dysuria", True),
        (ICD10, "R33", "symptoms.urinary_retention", True),  # WHO: no subdivisions
        (ICD10, "R41.0", "vitals.consciousness", "new_confusion"),
        (ICD10, "R23.3", "symptoms.non_blanching_rash", True),
        (ICD10, "R15", "symptoms.faecal_incontinence", True),
        (SNOMED, "72892002", "patient.pregnant", True),
        (SNOMED, "47200007", "patient.pregnant", True),
        (ICD10_CM, "Z33.1", "patient.pregnant", True),
        (ICD10_CM, "Z34.82", "patient.pregnant", True),
        (SNOMED, "228388006", "history.iv_drug_use", True),
        (ICD10_CM, "Z79.620", "history.immunosuppressed", True),
        (ICD10_CM, "Z79.631", "history.immunosuppressed", True),
        (ICD10_CM, "Z79.69", "history.immunosuppressed", None),  # other immunomodulators: not all suppress
        (ICD10_CM, "Z79.4", "history.diabetes", True),
    ],
)
def test_problem_list_codes_ehrs_send_fill_their_fields(system, code, path, expected):
    """Finding: an altered mental status coded R41.82, a fever R50.9, a retention R33.9, a
    pregnancy coded Normal pregnancy (Synthea) or Z34.x, a long-term immunosuppressant Z79.62x:
    each was an unrecognised code, dropped in silence."""
    assert value_of(run(coded_condition(system, code)), path) == expected


def test_a_low_back_pain_in_icd_10_cm_adds_its_site():
    for code in ("M54.5", "M54.50", "M54.59"):
        result = run(coded_condition(ICD10_CM, code))
        assert result.encounter == {"pain": {"sites": ["lower_back"], "sites_partial": True}}


def test_a_terminology_icd_code_must_be_written_with_its_dot():
    text = TERMINOLOGY.read_text().replace('code: "R41.82"', 'code: "R4182"')
    with pytest.raises(TerminologyError, match=r"ICD-10 code R4182 must be written R41\.82"):
        load_terminology(text)


@pytest.mark.parametrize(
    "value",
    [{}, {"valueQuantity": quantity(4, "L/min")}, {"valueCodeableConcept": coding(SNOMED, "373066001")}],
)
def test_patient_on_oxygen_as_uk_core_sends_it_is_newer_than_room_air(value):
    """Finding: UK Core's "Patient on oxygen" (371825009, its flow as valueQuantity) was an
    unrecognised code, so a "Breathing room air" recorded two hours earlier read on_oxygen
    false: NEWS2 6 and urgent, for NEWS2 8 and the emergency."""
    room_air = obs("722742002", SNOMED, when="2025-01-15T06:00:00Z")
    on_oxygen = obs("371825009", SNOMED, when="2025-01-15T08:00:00Z", **value)
    result = run(room_air, on_oxygen)
    assert value_of(result, "vitals.on_oxygen") is True and result.errors == []


def test_a_quantity_beside_another_finding_is_still_not_read():
    result = run(obs("449813001", SNOMED, valueQuantity=quantity(1, "L/min")))
    assert value_of(result, "symptoms.saddle_anaesthesia") is None
    assert [e["field"] for e in result.errors] == ["symptoms.saddle_anaesthesia"]


def test_results_contained_in_a_report_or_a_panel_are_read_in_their_containers_context():
    """Finding: a lactate of 5.2 held in a DiagnosticReport's `contained` (as the FHIR lipid
    panel example holds its results), and a respiratory rate contained in a vital-signs panel
    and named by hasMember, were lost in silence."""
    lactate = {
        "resourceType": "Observation",
        "id": "lac",
        "status": "final",
        "code": coding(LOINC, "2524-7"),
        "valueQuantity": quantity(5.2, "mmol/L"),
    }
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-01-15T09:00:00Z",
        "contained": [lactate],
        "result": [{"reference": "#lac"}],
    }
    result = run(patient(), report)
    assert value_of(result, "labs.lactate_mmol_l") == 5.2
    assert result.ignored == {"unsupported_resource_type": 1}  # the report itself
    rate = obs("9279-1", when=None, rid="rr", valueQuantity=quantity(30, "/min"))
    panel = obs("85353-1", contained=[rate], hasMember=[{"reference": "#rr"}])
    assert run(panel).encounter == {"vitals": {"respiratory_rate": 30}}


def test_a_contained_result_about_another_patient_is_not_read():
    lactate = obs("2524-7", when=None, rid="lac", valueQuantity=quantity(5.2, "mmol/L"))
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "subject": {"reference": "Patient/someone-else"},
        "effectiveDateTime": "2025-01-15T09:00:00Z",
        "contained": [lactate],
    }
    result = run(patient(), report)
    assert value_of(result, "labs.lactate_mmol_l") is None
    assert [e["message"] for e in result.errors] == [
        "Observation/lac: its subject is Patient/someone-else, not this Patient; not used"
    ]


@pytest.mark.parametrize(
    ("answer", "level"),
    [
        ("LA9340-6", "alert"),
        ("LA6560-2", "new_confusion"),
        ("LA17108-4", "voice"),
        ("LA17107-6", "pain"),
        ("LA9343-0", "unresponsive"),
    ],
)
def test_loinc_level_of_responsiveness_gives_the_acvpu_level(answer, level):
    """Finding: LOINC 67775-7 with its AVPU answers was an unrecognised code: NEWS2 lost 3 points
    and qSOFA a criterion, in silence."""
    result = run(obs("67775-7", valueCodeableConcept=coding(LOINC, answer)))
    assert value_of(result, "vitals.consciousness") == level


def test_a_value_under_a_status_that_is_not_a_results_is_named_when_nothing_else_fills_it():
    """Found in a second audit: a respiratory rate of 26 with status `unknown` was dropped with no
    card (routine, where the same fact sent directly is an emergency)."""
    odd = obs("9279-1", status="unknown", rid="rr", valueQuantity=quantity(26, "/min"))
    result = run(odd)
    assert value_of(result, "vitals.respiratory_rate") is None
    assert result.errors == [
        {
            "field": "vitals.respiratory_rate",
            "message": "Observation/rr: status 'unknown', which is not a result's; left unknown",
        }
    ]
    final = obs("9279-1", rid="rr2", valueQuantity=quantity(18, "/min"))
    assert run(odd, final).errors == []  # beside a result, it hides nothing
    assert run(obs("9279-1", status="registered", rid="r3")).errors == []  # no value yet: nothing to name


def test_an_unreadable_record_that_hides_nothing_is_not_named():
    """Found in review: a heart rate 'not performed' in 2023, and one an hour before a reading of
    135, were named "left unknown" beside a heart rate read as 135, and withheld self-care."""
    now = obs("8867-4", rid="now", valueQuantity=quantity(135, "/min"))
    old = obs("8867-4", rid="old", when="2023-05-01T10:00:00Z", dataAbsentReason={"text": "not performed"})
    earlier = obs("8867-4", rid="earlier", when="2025-01-15T09:00:00Z", dataAbsentReason={"text": "not performed"})
    result = run(now, old, earlier)
    assert value_of(result, "vitals.heart_rate") == 135 and result.errors == []


def test_a_newer_answer_that_cannot_be_read_is_named_not_left_to_hide_the_older():
    """Found in an audit: a new confusion at 08:00, then a level of responsiveness at 10:00
    answered with a code this service does not read, left the field unknown (newest wins) with
    no card."""
    confused = obs("67775-7", when="2025-01-15T08:00:00Z", rid="c1", valueCodeableConcept=coding(LOINC, "LA6560-2"))
    odd = obs("67775-7", rid="c2", valueCodeableConcept=coding(LOINC, "LA99999-9"))
    result = run(confused, odd)
    assert value_of(result, "vitals.consciousness") is None
    assert [e["message"] for e in result.errors] == [
        "Observation/c2: LOINC 67775-7 answered with an answer this service does not read (LOINC LA99999-9); "
        "left unknown"
    ]


@pytest.mark.parametrize(
    ("system", "code", "path"), [(ICD10_CM, "R50.9", "symptoms.reported_fever"), (ICD10, "R51", "symptoms.headache")]
)
def test_a_refuted_residual_icd_category_does_not_close_its_field(system, code, path):
    """Finding (review): a refuted R50.9 (which leaves out drug-induced and post-procedural
    fevers) read "no fever", newer than a fever recorded present."""
    fever = obs("386661006", SNOMED, when="2025-01-15T08:00:00Z", valueBoolean=True)
    headache = obs("25064002", SNOMED, when="2025-01-15T08:00:00Z", valueCodeableConcept=coding(SNOMED, "24484000"))
    refuted = coded_condition(system, code, verification="refuted", recordedDate="2025-01-15T10:00:00Z")
    result = run(fever, headache, refuted)
    assert value_of(result, path) in (True, "severe")  # it says nothing of the field: the older stands


def test_a_relatives_contained_condition_is_not_read_nor_an_earlier_observation_given_a_new_time():
    """A FamilyMemberHistory's contained condition is a relative's; a contained Observation a
    panel only derives from, with no time of its own, does not take the panel's."""
    fever = {"resourceType": "Condition", "id": "f", "code": coding(SNOMED, "386661006")}
    history = {"resourceType": "FamilyMemberHistory", "status": "completed", "contained": [fever]}
    earlier = obs("9279-1", when=None, rid="e", valueQuantity=quantity(30, "/min"))
    derived = obs("85353-1", contained=[earlier], derivedFrom=[{"reference": "#e"}])
    result = run(history, derived)
    assert result.encounter == {}


def test_contained_records_are_read_whatever_holds_them():
    """Findings (review): a report holding a lactate with no `result` list, and an Encounter
    holding the sepsis it names as its diagnosis, were lost; a `reference` that is not text
    raised a 500."""
    lactate = obs("2524-7", when=None, rid="lac", valueQuantity=quantity(5.2, "mmol/L"))
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "effectiveDateTime": "2025-01-15T09:00:00Z",
        "contained": [lactate],
        "result": [{"reference": ["#lac"]}, "x"],
    }
    sepsis = condition("A41.9")
    sepsis["code"] = coding("http://hl7.org/fhir/sid/icd-10-cm", "A41.9")
    sepsis["id"] = "c1"
    encounter = {"resourceType": "Encounter", "status": "finished", "contained": [sepsis]}
    result = run(patient(), report, encounter)
    assert value_of(result, "labs.lactate_mmol_l") == 5.2
    assert [d["flag"] for d in result.diagnoses] == ["sepsis"]
    panel = obs("85353-1", contained=[lactate], hasMember=[{"reference": {"x": 1}}])
    assert run(panel).encounter == {}  # not a member: no time of its own, none taken


def test_vital_signs_coded_in_snomed_ct_alone_are_read():
    """Finding: UK Core requires the SNOMED CT coding of a vital sign and not the LOINC one; a
    record coded in SNOMED CT alone (and AKTIN's pulse, LOINC 8893-0) was dropped in silence."""
    systolic = {"code": coding(SNOMED, "72313002"), "valueQuantity": quantity(88, "mm[Hg]")}
    result = run(
        obs("75367002", SNOMED, component=[systolic]),
        obs("86290005", SNOMED, valueQuantity=quantity(24, "{Breaths}/min")),
        obs("276885007", SNOMED, valueQuantity=quantity(38.6, "Cel")),
        obs("431314004", SNOMED, valueQuantity=quantity(91, "%")),
        obs("8893-0", valueQuantity=quantity(118, "/min")),
    )
    assert result.encounter == {
        "vitals": {"temperature_c": 38.6, "heart_rate": 118, "respiratory_rate": 24, "systolic_bp": 88, "spo2": 91}
    }
    assert result.errors == []


def test_the_docs_list_every_measurement_code():
    text = (paths.ROOT / "docs" / "fhir.md").read_text()
    missing = [code for q in terminology().quantities for _, code in q.codes if code not in text]
    assert missing == []


def two_codings(resource, code):
    resource["code"]["coding"].append({"system": SNOMED, "code": code})
    return resource


@pytest.mark.parametrize(
    "resource",
    [
        condition("161882006", rid="c1"),
        obs("161882006", SNOMED, rid="c1"),
    ],
    ids=["Condition", "Observation"],
)
def test_a_record_whose_codings_name_two_fields_is_named_not_dropped(resource):
    """Finding: a stiff neck coded beside Neck pain (81680005, a pain site: a field of its own)
    was counted as ambiguous_code and dropped with no card; neck stiffness was never read, and
    the meningitis screen read routine where the same facts sent directly are urgent. Which field
    the sender meant cannot be known: both stay unknown, and the card names the record."""
    resource = two_codings(resource, "81680005")
    kind = resource["resourceType"]
    result = run(resource)
    assert result.encounter == {}
    assert result.ignored == {"ambiguous_code": 1}
    assert result.errors == [
        {
            "field": "symptoms.neck_stiffness",
            "message": f"{kind}/c1: its codings name different fields (SNOMED 161882006 neck stiffness, "
            "SNOMED 81680005 pain sites); left unknown",
        }
    ]


@pytest.mark.parametrize(("clinical", "verification"), [("resolved", "confirmed"), ("active", "refuted")])
def test_a_past_or_refuted_condition_with_two_fields_codings_is_not_named(clinical, verification):
    """Found in review: a resolved 2010 stiff neck coded beside Neck pain was named, and withheld
    self-care advice, where the same record with one code says nothing."""
    resource = two_codings(
        condition("161882006", clinical, verification, rid="c3", onsetDateTime="2010-01-01"), "81680005"
    )
    result = run(resource)
    assert result.encounter == {} and result.errors == [] and result.ignored == {"ambiguous_code": 1}


def test_diabetes_and_immunosuppression_coded_on_one_condition_are_named():
    resource = two_codings(condition("73211009", rid="c2"), "38013005")
    result = run(resource)
    assert "history.diabetes" not in flatten(result.encounter)
    assert [e["field"] for e in result.errors] == ["history.diabetes"]
    assert "SNOMED 73211009 diabetes" in result.errors[0]["message"]


def test_a_component_or_a_symptom_whose_codings_name_two_fields_is_named():
    stiff = {"coding": [{"system": SNOMED, "code": "161882006"}, {"system": SNOMED, "code": "81680005"}]}
    panel = obs("8716-3", rid="vs", component=[{"code": stiff, "valueBoolean": True}])
    symptom = obs("75325-1", rid="sym", valueCodeableConcept=stiff)
    unlisted = obs("1234-5", rid="other", component=[{"code": stiff, "valueBoolean": True}])
    result = run(panel, symptom, unlisted)
    assert result.encounter == {}
    assert result.ignored == {"ambiguous_code": 3, "unrecognised_code": 1}
    assert [e["message"].split(":")[0] for e in result.errors] == [
        "Observation/vs",
        "Observation/sym",
        "Observation/other",
    ]
    assert "a component's codings name different fields" in result.errors[0]["message"]
    assert "its value's codings name different fields" in result.errors[1]["message"]


def test_a_coding_of_no_field_does_not_compete():
    """A code the terminology does not list names no field: the record is read by the code that does."""
    resource = condition("161882006", rid="c3")
    resource["code"]["coding"].append({"system": SNOMED, "code": "1234567"})
    result = run(resource)
    assert value_of(result, "symptoms.neck_stiffness") is True
    assert result.errors == []


def test_a_record_that_says_nothing_of_a_field_does_not_supersede_what_does():
    """Finding: a retention of urine recorded at 08:00 and an *acute* retention refuted at 10:00
    (narrower: its absence says nothing) left the field unknown, newest-wins, and the cord
    compression emergency was lost."""
    retention = condition("267064002", recordedDate="2025-01-15T08:00:00Z")
    acute_refuted = condition("236648008", verification="refuted", recordedDate="2025-01-15T10:00:00Z")
    result = run(retention, acute_refuted)
    assert value_of(result, "symptoms.urinary_retention") is True
    assert result.coverage["symptoms.urinary_retention"] == {"narrower_or_wider_code": 1}


def test_a_wider_record_present_still_reopens_an_older_no():
    """Finding (review): a paresis of a leg refuted at 08:00 and recorded present at 10:00 (a
    wider record: which leg is not said) left "no weakness" standing, and the cord screen asked
    nothing more. Present, it supersedes: the field is unknown, and asked."""
    refuted = condition("102568007", verification="refuted", rid="a", recordedDate="2025-01-15T08:00:00Z")
    present = condition("102568007", rid="b", recordedDate="2025-01-15T10:00:00Z")
    assert value_of(run(refuted, present), "symptoms.leg_weakness") is None


def test_a_panel_code_beside_a_measurements_code_is_that_measurement():
    """Finding (review): 163020007 (a blood pressure reading) beside 8480-6 with its own value 82
    was taken for an empty panel, and the value never read."""
    resource = obs("8480-6", valueQuantity=quantity(82, "mm[Hg]"))
    resource["code"]["coding"].insert(0, {"system": SNOMED, "code": "163020007"})
    assert value_of(run(resource), "vitals.systolic_bp") == 82


def test_a_haemoglobin_saturation_alone_is_not_read_as_pulse_oximetry():
    """Finding (review): NEWS2's 103228002 takes in a blood gas's saturation; alone, a newer 97
    replaced a pulse oximetry of 88. Beside 59408-5 it is read through the LOINC code."""
    pulse_ox = obs("59408-5", when="2025-01-15T08:00:00Z", valueQuantity=quantity(88, "%"))
    gas = obs("103228002", SNOMED, when="2025-01-15T09:00:00Z", valueQuantity=quantity(97, "%"))
    assert value_of(run(pulse_ox, gas), "vitals.spo2") == 88


@pytest.mark.parametrize("code", ["8716-3", "34565-2"])
def test_the_c_cda_vital_signs_panels_are_read(code):
    rate = {"code": coding(LOINC, "9279-1"), "valueQuantity": quantity(30, "/min")}
    assert run(obs(code, component=[rate])).encounter == {"vitals": {"respiratory_rate": 30}}


def test_a_wider_record_present_leaves_an_older_yes_standing():
    """Finding (third review): a paraplegia at 08:00 and a paresis of a leg (side not said) at
    10:00 left leg weakness unknown: the cord-compression emergency read routine."""
    paraplegia = condition("60389000", rid="a", recordedDate="2025-01-15T08:00:00Z")
    paresis = condition("102568007", rid="b", recordedDate="2025-01-15T10:00:00Z")
    assert value_of(run(paraplegia, paresis), "symptoms.leg_weakness") == "bilateral"


def test_a_narrower_record_with_mixed_interpretations_supersedes_nothing():
    """Finding (third review): an acute retention at 10:00 interpreted NEG and N (the state not
    plainly present) took out a retention recorded at 08:00."""
    retention = condition("267064002", recordedDate="2025-01-15T08:00:00Z")
    acute = obs(
        "236648008",
        SNOMED,
        interpretation=[coding(V3_INTERPRETATION, "NEG"), coding(V3_INTERPRETATION, "N")],
    )
    assert value_of(run(retention, acute), "symptoms.urinary_retention") is True


def test_a_measurement_with_no_value_leaves_the_field_unknown_but_a_panel_says_nothing_of_its_own():
    """A respiratory rate recorded at 10:00 with no value is not the 32 of 08:00: unknown, and
    asked (a number has no "no" to keep). A panel coded beside a measurement's code (85354-9 and
    8480-6) with its values in components has no value of its own to supersede anything with."""
    rate = obs("9279-1", when="2025-01-15T08:00:00Z", valueQuantity=quantity(32, "/min"))
    empty = obs("9279-1", rid="empty", when="2025-01-15T10:00:00Z")
    assert value_of(run(rate, empty), "vitals.respiratory_rate") is None
    systolic = obs("8480-6", when="2025-01-15T08:00:00Z", valueQuantity=quantity(85, "mm[Hg]"))
    panel = obs("85354-9", rid="panel", when="2025-01-15T10:00:00Z", component=[{"code": coding(LOINC, "8462-4")}])
    panel["code"]["coding"].append({"system": LOINC, "code": "8480-6"})
    assert value_of(run(systolic, panel), "vitals.systolic_bp") == 85


def test_a_reports_unlisted_observation_takes_no_time_from_it():
    """Finding (third review): a report listing its lactate of 5.2 (08:00) also held an earlier
    lactate of 1.0 with no time, which took the report's 10:30 and won."""
    listed = obs("2524-7", when="2025-01-15T08:00:00Z", rid="a", valueQuantity=quantity(5.2, "mmol/L"))
    earlier = obs("2524-7", when=None, rid="b", valueQuantity=quantity(1.0, "mmol/L"))
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "effectiveDateTime": "2025-01-15T10:30:00Z",
        "contained": [listed, earlier],
        "result": [{"reference": "#a"}],
    }
    assert value_of(run(report), "labs.lactate_mmol_l") == 5.2


def test_nothing_a_claim_contains_is_read():
    """Finding (third review): a Claim names its patient in `patient`, which may be another's;
    a refuted saddle numbness it held overrode this patient's."""
    numb = condition("449813001", rid="n", recordedDate="2025-01-15T08:00:00Z")
    refuted = condition("449813001", rid="r", verification="refuted", recordedDate="2025-01-15T10:00:00Z")
    claim = {"resourceType": "Claim", "patient": {"reference": "Patient/p2"}, "contained": [refuted]}
    assert value_of(run(patient(), numb, claim), "symptoms.saddle_anaesthesia") is True


@pytest.mark.parametrize(
    "absent",
    [{"dataAbsentReason": coding("http://terminology.hl7.org/CodeSystem/data-absent-reason", "asked-unknown")}, {}],
)
def test_a_finding_asked_and_not_answered_reopens_an_older_no_and_keeps_an_older_yes(absent):
    """Findings (fourth review): a stiff neck "no" at 08:00 and the question unanswered
    (asked-unknown) at 10:00 read "no", and self-care. Unanswered, it reopens the "no"; it does
    not take away a "yes"."""
    no = obs("161882006", SNOMED, when="2025-01-15T08:00:00Z", valueBoolean=False)
    yes = obs("161882006", SNOMED, when="2025-01-15T08:00:00Z", valueBoolean=True)
    unanswered = obs("161882006", LOINC, rid="q", when="2025-01-15T10:00:00Z", **absent)
    unanswered["code"] = coding(SNOMED, "161882006")
    unanswered.update(
        absent or {"dataAbsentReason": coding("http://terminology.hl7.org/CodeSystem/data-absent-reason", "unknown")}
    )
    assert value_of(run(no, unanswered), "symptoms.neck_stiffness") is None
    assert value_of(run(yes, unanswered), "symptoms.neck_stiffness") is True


def test_a_headache_of_unsaid_severity_reopens_an_older_mild_one():
    """Finding (fourth review): a headache "mild" at 08:00 and a headache recorded at 10:00 with
    no severity read mild, and self-care; mild against severe is what decides meningitis."""
    mild = obs("25064002", SNOMED, when="2025-01-15T08:00:00Z", valueCodeableConcept=coding(SNOMED, "255604002"))
    again = condition("25064002", recordedDate="2025-01-15T10:00:00Z")
    assert value_of(run(mild, again), "symptoms.headache") is None
    severe = obs("25064002", SNOMED, when="2025-01-15T08:00:00Z", valueCodeableConcept=coding(SNOMED, "24484000"))
    assert value_of(run(severe, again), "symptoms.headache") == "severe"


def test_a_reports_unlisted_timeless_observation_is_named_and_a_subjectless_claims_record_too():
    lactate = obs("2524-7", when=None, rid="lac", valueQuantity=quantity(5.2, "mmol/L"))
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r",
        "status": "final",
        "effectiveDateTime": "2025-01-15T10:30:00Z",
        "contained": [lactate],
        "result": [{"reference": "Observation/ext1"}],
    }
    claim = {"resourceType": "Claim", "id": "c", "patient": {"reference": "Patient/p1"}, "contained": [lactate]}
    result = run(report, claim)
    assert value_of(result, "labs.lactate_mmol_l") is None
    assert [e["message"] for e in result.errors] == [
        "Observation/lac: held in DiagnosticReport/r with no time of its own, and not among its results; not used",
        "Observation/lac: held in Claim/c, which does not say whose record it is; not used",
    ]


def test_a_wider_record_with_disagreeing_interpretations_still_reopens_an_older_no():
    """Finding (fourth review): a paresis interpreted POS and N at 10:00 left "no weakness" of
    08:00 standing."""
    refuted = condition("102568007", verification="refuted", rid="a", recordedDate="2025-01-15T08:00:00Z")
    mixed = obs("102568007", SNOMED, interpretation=[coding(V3_INTERPRETATION, "POS"), coding(V3_INTERPRETATION, "N")])
    assert value_of(run(refuted, mixed), "symptoms.leg_weakness") is None
