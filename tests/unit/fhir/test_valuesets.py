"""History by value set: a shipped SNOMED CT expansion and ICD-10 ranges per history field. Known
members fill the field, non-members and narrower concepts recorded absent say nothing, and the
shipped files are exactly the reviewed ones (count and digest)."""

from __future__ import annotations

import pytest

from cds.fhir.data_files import packaged
from cds.fhir.terminology import terminology
from cds.fhir.valuesets import ICD10, ICD10_CM, CodeRange, read_expansion
from cds.strict_yaml import load_strict
from tests.common.fhir_records import NOW, SNOMED, coding, condition, run, values

# Known members, each a different branch of its list (the sentinels a reviewer can check by hand).
MEMBERS = [
    ("254837009", "history.cancer"),  # Malignant neoplasm of breast
    ("363406005", "history.cancer"),  # Malignant tumor of colon
    ("254637007", "history.cancer"),  # Non-small cell lung cancer
    ("93143009", "history.cancer"),  # Leukemia, disease
    ("118599009", "history.cancer"),  # Hodgkin's disease
    ("94503003", "history.cancer"),  # Secondary malignant neoplasm of vertebral column
    ("44054006", "history.diabetes"),  # Diabetes mellitus type 2
    ("46635009", "history.diabetes"),  # Diabetes mellitus type 1
    ("127013003", "history.diabetes"),  # Disorder of kidney due to diabetes mellitus
    ("86406008", "history.immunosuppressed"),  # Human immunodeficiency virus infection
    ("70536003", "history.immunosuppressed"),  # Transplantation of kidney
    ("66590003", "history.alcohol_misuse"),  # Alcohol dependence
]
NON_MEMBERS = [
    "38341003",  # Hypertensive disorder
    "195967001",  # Asthma
    "271737000",  # Anemia
    "399211009",  # History of myocardial infarction
    "92546004",  # Cancer in situ of breast: not malignant (in situ), not in the list
]


def _members(path: str) -> frozenset[str]:
    return next(vs for vs in terminology().value_sets if vs.field == path).snomed


@pytest.mark.parametrize(("code", "path"), MEMBERS)
def test_a_known_member_is_in_its_shipped_expansion(code, path):
    assert code in _members(path)


@pytest.mark.parametrize(("code", "path"), MEMBERS)
def test_a_member_recorded_present_fills_its_history_field(code, path):
    assert values(condition(code, "2009-06-01", "resolved" if path == "history.cancer" else "active"))[path] is True


@pytest.mark.parametrize("code", NON_MEMBERS)
def test_a_non_member_fills_no_history_field(code):
    result = run(condition(code, "2009-06-01"))
    assert not any(k.startswith("history.") for k in values(condition(code, "2009-06-01")))
    assert "history.cancer" in result.unknown


@pytest.mark.parametrize("code", ["109989006", "118599009"])  # Multiple myeloma, Hodgkin's disease
def test_a_member_of_two_lists_fills_both_fields(code):
    """Finding: a myeloma filled history.cancer only, and immunosuppression stayed unknown with
    nothing counted: the same-day hospital of spinal infection was lost."""
    assert code in _members("history.cancer") and code in _members("history.immunosuppressed")
    filled = values(condition(code, "2024-06-01"))
    assert filled["history.cancer"] is True and filled["history.immunosuppressed"] is True


@pytest.mark.parametrize(("code", "path"), MEMBERS)
def test_a_member_recorded_absent_says_nothing(code, path):
    """'No breast cancer' is not 'no cancer': only the field's own concept refuted says no."""
    assert path in run(condition(code, NOW, "inactive", "refuted")).unknown


def test_the_fields_own_concept_refuted_says_no():
    assert values(condition("363346000", NOW, "inactive", "refuted"))["history.cancer"] is False


def _icd(system: str, code: str, when: str = "2015-02-01") -> dict:
    return {**condition("0", when), "id": f"icd-{code}", "code": coding(system, code)}


@pytest.mark.parametrize(
    ("system", "code", "path"),
    [
        (ICD10, "C50.9", "history.cancer"),
        (ICD10_CM, "C50.912", "history.cancer"),
        (ICD10, "C79.5", "history.cancer"),  # secondary malignant neoplasm of bone
        (ICD10_CM, "C7B.03", "history.cancer"),  # secondary carcinoid of bone: a letter in the third place
        (ICD10, "E11.9", "history.diabetes"),
        (ICD10, "E14", "history.diabetes"),
        (ICD10_CM, "E08.00", "history.diabetes"),
        (ICD10, "B20", "history.immunosuppressed"),
        (ICD10_CM, "D84.821", "history.immunosuppressed"),
        (ICD10, "Z94.0", "history.immunosuppressed"),
        (ICD10_CM, "Z85.3", "history.cancer"),  # personal history of breast cancer: coded once treated
        (ICD10, "Z85.0", "history.cancer"),
        (ICD10, "Z21", "history.immunosuppressed"),  # asymptomatic HIV infection status
        (ICD10_CM, "Z79.52", "history.immunosuppressed"),  # long term use of systemic steroids
        (ICD10, "F10.2", "history.alcohol_misuse"),
        (ICD10_CM, "K70.30", "history.alcohol_misuse"),
        (ICD10_CM, "Z79.01", "history.anticoagulant"),
        (ICD10, "Z92.1", "history.anticoagulant"),
        (ICD10_CM, "N20.0", "history.urinary_tract_abnormality"),
    ],
)
def test_icd10_ranges(system, code, path):
    assert values(_icd(system, code))[path] is True


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (ICD10, "D05.1"),  # carcinoma in situ of breast: not malignant
        (ICD10, "E16.2"),  # hypoglycaemia, not diabetes
        (ICD10_CM, "E15"),  # nondiabetic hypoglycaemic coma
        (ICD10, "Z94.7"),  # corneal transplant: no immunosuppression
        (ICD10_CM, "Z79.51"),  # long term inhaled steroids: not systemic
        (ICD10, "F10.0"),  # acute intoxication is not misuse
        (ICD10, "J45.9"),
    ],
)
def test_codes_outside_the_ranges_fill_nothing(system, code):
    assert not any(k.startswith("history.") for k in values(_icd(system, code)))


def test_an_icd10_code_in_the_wrong_system_is_not_read_as_icd():
    assert "history.cancer" in run(_icd(SNOMED, "C50.9")).unknown


@pytest.mark.parametrize(
    ("text", "code", "holds"),
    [
        ("C00-C97", "C50.9", True),
        ("C00-C97", "C98", False),
        ("C00-C97", "D00", False),
        ("E10-E14", "E14.9", True),
        ("E10-E14", "E09", False),
        ("Z94.0-Z94.4", "Z94.41", True),
        ("Z94.0-Z94.4", "Z94.7", False),
        ("Z94.8", "Z94.81", True),
        ("Z94.8", "Z94", False),  # the whole block is wider than the range
        ("F10.1-F10.9", "F10.0", False),
        ("F10.1-F10.9", "F10.239", True),
    ],
)
def test_a_code_range_compares_codes_without_their_dots(text, code, holds):
    assert CodeRange.parse(text).holds(code) is holds


def test_every_shipped_expansion_matches_its_recorded_count_and_digest():
    declared = _shipped()["value_sets"]
    assert {"history.cancer", "history.diabetes", "history.immunosuppressed", "history.alcohol_misuse"} <= set(declared)
    for path, raw in declared.items():
        if "snomed" not in raw:
            continue
        meta = raw["snomed"]
        codes, problems = read_expansion(meta["file"], meta["count"], meta["sha256"])
        assert problems == [], path
        assert len(codes) == meta["count"]
        assert meta["edition"] and meta["retrieved"] and meta["list"]


def test_a_changed_expansion_is_refused():
    meta = _raw_snomed("history.cancer")
    _, problems = read_expansion(meta["file"], meta["count"] + 1, "0" * 64)
    assert any("SHA-256" in p for p in problems)
    assert any("holds" in p for p in problems)


def _shipped() -> dict:
    return load_strict(packaged("terminology.yaml"))


def _raw_snomed(path: str) -> dict:
    return _shipped()["value_sets"][path]["snomed"]


def test_symptoms_keep_exact_matching():
    """A descendant of a symptom's code is not the symptom: value sets are for history only."""
    for vs in terminology().value_sets:
        assert vs.field.startswith("history."), vs.field
