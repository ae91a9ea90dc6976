"""Recorded diagnoses (cds/fhir/diagnoses.py): the file's own checks, which codes name which
condition, and how a Condition recording one is read (named for a card, never a field)."""

import pytest

from cds.fhir import map_resources, resources_from
from cds.fhir.diagnoses import DiagnosesError, diagnoses, load_diagnoses, require_known_flags
from tests.common.fhir_builders import TODAY

SNOMED = "http://snomed.info/sct"
ICD10, ICD10_CM = "http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def named(system, code):
    return [group.flag for group, _ in diagnoses().naming([(system, code)])]


@pytest.mark.parametrize(
    ("system", "code", "flag"),
    [
        (ICD10_CM, "G83.4", "cord_compression"),
        (ICD10, "G95.2", "cord_compression"),
        (ICD10_CM, "G06.1", "spinal_infection"),
        (ICD10_CM, "M46.26", "spinal_infection"),  # osteomyelitis of vertebra, lumbar
        (ICD10_CM, "M46.47", "spinal_infection"),
        (ICD10_CM, "N10", "pyelonephritis"),
        (SNOMED, "45816000", "pyelonephritis"),
        (ICD10_CM, "G00.9", "meningitis"),
        (SNOMED, "7180009", "meningitis"),
        (ICD10_CM, "A41.9", "sepsis"),
        (ICD10_CM, "R65.21", "sepsis"),
        (ICD10, "R65.1", "sepsis"),
        (ICD10, "R57.2", "sepsis"),
        (SNOMED, "91302008", "sepsis"),
        (ICD10_CM, "I71.30", "other_serious_cause"),
        (ICD10_CM, "J18.9", "other_serious_cause"),
        (ICD10_CM, "I71.40", "other_serious_cause"),
        (ICD10_CM, "T81.44XA", "sepsis"),  # sepsis following a procedure
        (ICD10, "O85", "sepsis"),
        (ICD10_CM, "G06.2", "spinal_infection"),
        (ICD10_CM, "O23.03", "pyelonephritis"),
        (ICD10_CM, "A32.11", "meningitis"),
        (ICD10, "I71.1", "other_serious_cause"),
        (ICD10_CM, "A4151", "sepsis"),  # sent without its dot
    ],
)
def test_a_code_names_the_condition_it_is_a_diagnosis_of(system, code, flag):
    assert named(system, code) == [flag]


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (ICD10_CM, "R65.11"),  # SIRS of NON-infectious origin in ICD-10-CM
        (ICD10, "R65.2"),  # SIRS of non-infectious origin in WHO ICD-10
        (ICD10_CM, "N11.9"),  # chronic pyelonephritis
        (ICD10_CM, "M46.5"),
        (ICD10_CM, "I71.2"),  # thoracic aneurysm without rupture: not listed
        (ICD10_CM, "A41.9 x"),  # no ICD-10 code, whatever it starts with
        (SNOMED, "38341003"),
    ],
)
def test_codes_outside_the_lists_name_nothing(system, code):
    assert named(system, code) == []


GOOD = """
version: 1
diagnoses:
  - flag: sepsis
    name: sepsis
    level: emergency
    source: https://example.org/a
    snomed: [{code: "91302008", display: Sepsis, source: https://example.org/b}]
"""


def test_the_file_is_refused_on_a_mistake_naming_each():
    assert load_diagnoses(GOOD).groups[0].snomed == frozenset({"91302008"})
    twice = (
        GOOD
        + "  - {flag: meningitis, name: other, level: urgent, source: https://example.org/c,\n"
        + ('     snomed: [{code: "91302008", display: Sepsis, source: https://example.org/b}]}\n')
    )
    with pytest.raises(DiagnosesError, match="91302008 is listed under both sepsis and other"):
        load_diagnoses(twice)
    with pytest.raises(DiagnosesError, match="level"):
        load_diagnoses(GOOD.replace("emergency", "soon"))
    with pytest.raises(DiagnosesError, match="source"):
        load_diagnoses(GOOD.replace("    source: https://example.org/a\n", ""))


def test_every_flag_must_be_one_the_rule_base_has(rulebase):
    require_known_flags(diagnoses(), rulebase.flags)
    with pytest.raises(DiagnosesError, match="sepsis"):
        require_known_flags(diagnoses(), ["meningitis"])


def condition(system, code, clinical="active", verification="confirmed", onset="2025-01-15T09:00:00Z", **extra):
    resource = {
        "resourceType": "Condition",
        "id": f"dx-{code}",
        "code": {"coding": [{"system": system, "code": code, "display": "As *the EHR* says"}]},
        **extra,
    }
    if onset is not None:
        resource["onsetDateTime"] = onset
    if clinical:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": clinical}]}
    if verification:
        resource["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": verification}]}
    return resource


def run(*resources):
    return map_resources(resources_from(list(resources)), TODAY)


def test_an_active_diagnosis_is_kept_for_its_card_and_fills_no_field():
    """Finding: an active cauda equina syndrome (ICD-10-CM G83.4) was ignored in silence."""
    result = run(condition(ICD10_CM, "G83.4"))
    assert result.encounter == {}
    assert result.ignored == {"recorded_diagnosis": 1}
    (d,) = result.diagnoses
    assert d["flag"] == "cord_compression" and d["level"] == "emergency" and d["current"] is True
    assert d["code"] == "ICD-10-CM G83.4" and d["display"] == "As *the EHR* says" and d["onset"] == "2025-01-15"
    assert d["unconfirmed"] is False


@pytest.mark.parametrize(
    ("clinical", "verification"),
    [("resolved", "confirmed"), ("inactive", None), ("active", "refuted"), (None, "entered-in-error")],
)
def test_a_diagnosis_no_longer_active_or_refuted_is_not_named(clinical, verification):
    result = run(condition(ICD10_CM, "A41.9", clinical=clinical, verification=verification))
    assert result.diagnoses == [] and result.ignored == {"diagnosis_not_active": 1}


def test_an_unconfirmed_or_statusless_diagnosis_is_named_as_such():
    (d,) = run(condition(SNOMED, "91302008", clinical=None, verification="provisional")).diagnoses
    assert d["unconfirmed"] is True
    (d,) = run(condition(SNOMED, "91302008", clinical=None, verification=None)).diagnoses
    assert d["unconfirmed"] is False


def test_an_old_diagnosis_still_active_is_named_but_not_as_this_illness():
    (d,) = run(condition(ICD10_CM, "J18.9", onset="2023-03-01")).diagnoses
    assert d["current"] is False and d["onset"] == "2023-03-01"
    (d,) = run(condition(ICD10_CM, "J18.9", onset=None)).diagnoses
    assert d["current"] is True and d["onset"] == ""  # undated: it may be of this illness


def test_an_unruptured_aneurysm_is_named_at_urgent_a_ruptured_one_at_emergency():
    levels = {code: [g.level for g, _ in diagnoses().naming([(ICD10_CM, code)])] for code in ("I71.30", "I71.40")}
    assert levels == {"I71.30": ["emergency"], "I71.40": ["urgent"]}


def test_a_diagnosis_is_named_beside_the_finding_another_coding_fills():
    """Finding (review): sepsis coded A41.9 beside SNOMED Fever filled the fever and named no
    diagnosis, so self-care advice was not withheld."""
    cond = condition(ICD10_CM, "A41.9")
    cond["code"]["coding"].append({"system": SNOMED, "code": "386661006"})
    result = run(cond)
    assert result.encounter == {"symptoms": {"reported_fever": True}}
    assert [d["flag"] for d in result.diagnoses] == ["sepsis"]


def test_a_partial_onset_that_may_be_of_this_illness_is_current():
    (d,) = run(condition(ICD10_CM, "A41.9", onset="2025-01")).diagnoses
    assert d["current"] is True  # 2025-01 runs to the 31st: it may be yesterday
    (d,) = run(condition(ICD10_CM, "A41.9", onset="2024-12")).diagnoses
    assert d["current"] is False


def test_a_future_dated_diagnosis_is_still_named():
    (d,) = run(condition(ICD10_CM, "A41.9", onset="2025-02-20")).diagnoses
    assert d["current"] is True


def test_a_code_sent_without_its_dot_keeps_the_records_display_and_junk_names_nothing():
    (d,) = run(condition(ICD10_CM, "a419")).diagnoses
    assert d["display"] == "As *the EHR* says" and d["code"] == "ICD-10-CM A41.9"
    assert run(condition(ICD10_CM, "A41.9 https://evil.example")).diagnoses == []


@pytest.mark.parametrize(
    ("extra", "current"),
    [
        ({"onsetDateTime": "2025-00"}, True),  # no date: the recorded date (today) decides
        ({"onsetPeriod": {"start": "2025-01-14", "end": "2024-01-01"}}, True),  # written backwards
        ({"onsetPeriod": {"start": "2024-01-01", "end": "2024-02-01"}}, False),
    ],
)
def test_odd_onsets_are_weighed_by_the_latest_moment_they_allow(extra, current):
    cond = condition(ICD10_CM, "A41.9", onset=None, recordedDate="2025-01-15T08:00:00Z", **extra)
    (d,) = run(cond).diagnoses
    assert d["current"] is current
