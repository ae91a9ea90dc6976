"""The rule base as data: every rule well-formed and sourced, every error reported with file,
rule id and path, and a service that refuses to start on an invalid rule base."""

import shutil

import pytest

from cds.settings import Settings
from cds.triage.conditions import FieldAtom
from cds.triage.fields import BY_PATH
from cds.triage.rulebase import RuleBaseError, load_rulebase
from cds.web.app import create_app
from tests.common.contract import FLAG_IDS
from tests.common.paths import ROOT


@pytest.fixture
def rules_copy(tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


def edit(directory, name, old, new):
    path = directory / name
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def errors_for(directory):
    with pytest.raises(RuleBaseError) as info:
        load_rulebase(directory)
    return [str(e) for e in info.value.errors]


def test_every_rule_has_id_title_condition_conclusion_and_a_known_source(rulebase):
    assert len(rulebase.rules) >= 50
    for rule in rulebase.rules:
        assert rule.id and rule.title and rule.then and rule.sources
        for key in rule.sources:
            assert rulebase.sources[key]["label"]


def test_every_flag_of_the_contract_is_raised_by_some_rule(rulebase):
    for flag in FLAG_IDS:
        assert rulebase.flag_rules.get(flag), flag


def test_rules_name_only_contract_fields(rulebase):
    for rule in rulebase.rules:
        for node in rule.when.walk():
            if isinstance(node, FieldAtom):
                assert node.path in BY_PATH


def test_version_and_digest(rulebase, rules_copy):
    assert rulebase.version == "2.0.0"
    assert len(rulebase.digest) == 64
    # formatting and comments are not content
    edit(rules_copy, "sepsis.yaml", "# Section 3", "# Section three\n#")
    assert load_rulebase(rules_copy).digest == rulebase.digest
    edit(rules_copy, "sepsis.yaml", "vitals.heart_rate, gte: 130", "vitals.heart_rate, gte: 131")
    assert load_rulebase(rules_copy).digest != rulebase.digest


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "sepsis.yaml",
            "vitals.heart_rate, gte: 130",
            "vitals.heart_rat, gte: 130",
            "sepsis.yaml [SEP-HR-HIGH] at SEP-HR-HIGH.when: unknown field 'vitals.heart_rat'",
        ),
        (
            "sepsis.yaml",
            "source: [SEPSIS-3, SSC-2021]",
            "source: [SEPSIS-4, SSC-2021]",
            "sepsis.yaml [SEP-QSOFA] at rules[12].source: unknown source 'SEPSIS-4'",
        ),
        ("sepsis.yaml", "id: SEP-HR-HIGH", "id: SEP-RR-HIGH", "duplicate rule id"),
        ("meningitis.yaml", "{finding: fever}", "{finding: fevr}", "unknown finding 'fevr'"),
        (
            "meningitis.yaml",
            "{field: symptoms.headache, is: severe}",
            "{field: symptoms.headache, is: awful}",
            "'is' does not fit enum field 'symptoms.headache'",
        ),
        (
            "cord_compression.yaml",
            "{field: symptoms.leg_numbness, is: true}",
            "{field: symptoms.leg_numbness, gte: 1}",
            "comparisons need a numeric field",
        ),
        (
            "cord_compression.yaml",
            "{field: symptoms.leg_numbness, is: true}",
            "{field: symptoms.leg_numbness, is: yes}",
            "would be read as a boolean",
        ),
        (
            "sepsis.yaml",
            "    title: Heart rate 130 per minute or more\n",
            "    title: Heart rate 130 per minute or more\n    title: again\n",
            "duplicate key 'title'",
        ),
        (
            "sepsis.yaml",
            "then: {raise: sepsis, level: emergency}",
            "then: {raise: sepsis, level: critical}",
            "sepsis.yaml [SEP-ALTERED-MENTAL] at rules[0].then",
        ),
        (
            "sepsis.yaml",
            "    source: NICE-NG51\n",
            "    source: NICE-NG51\n    note: extra\n",
            "Additional properties are not allowed ('note' was unexpected)",
        ),
        (
            "pyelonephritis.yaml",
            "then: {disposition: pyelonephritis, use: same_day_hospital, level: urgent}",
            "then: {disposition: pyelonephritis, use: tomorrow, level: urgent}",
            "has no disposition 'tomorrow'",
        ),
        (
            "pyelonephritis.yaml",
            "use: same_day_hospital, level: urgent}",
            "use: same_day_hospital, level: routine}",
            "no rule raises 'pyelonephritis' at 'routine'",
        ),
        (
            "implied.yaml",
            "then: {field: patient.pregnant, value: false}",
            "then: {field: patient.pregnant, value: maybe}",
            "[IMP-MALE-NOT-PREGNANT] at implied[0].then.value: not a value of the field",
        ),
        (
            "implied.yaml",
            "then: {field: patient.recently_pregnant, value: false}",
            "then: {field: patient.recently_pregant, value: false}",
            "unknown field 'patient.recently_pregant'",
        ),
        (
            "implied.yaml",
            "then: {field: patient.recently_pregnant, value: false}",
            "then: {field: patient.pregnant, value: true}",
            "contradicts IMP-MALE-NOT-PREGNANT on 'patient.pregnant'",
        ),
        (
            "implied.yaml",
            "id: IMP-NO-OXYGEN",
            "id: SEP-RR-HIGH",
            "implied.yaml at implied[5].id: 'SEP-RR-HIGH' does not match",
        ),
        (
            "myalgia.yaml",
            "    labs.crp_mg_l: 5\n",
            "",
            "'labs.crp_mg_l' needs a normal value",
        ),
        (
            "myalgia.yaml",
            "    labs.lactate_mmol_l: 1.0\n",
            "    labs.lactate_mmol_l: 100\n",
            "self_care_screen.assumed_normal.labs.lactate_mmol_l: not a value of the field",
        ),
        (
            "myalgia.yaml",
            "    - symptoms.syncope\n",
            "    - symptoms.syncope\n    - vitals.heart_rate\n",
            "a screen item is asked, never assumed normal",
        ),
        (
            "myalgia.yaml",
            'values: {"1": 98, "2": 90}',
            'values: {"1": 98}',
            "self_care_screen.assumed_normal.vitals.spo2: needs a value for each of: 1, 2",
        ),
        (
            "myalgia.yaml",
            "{same_as: vitals.usual_systolic_bp, otherwise: 120}",
            "{same_as: vitals.consciousness, otherwise: 120}",
            "'vitals.consciousness' is not a field of the same kind",
        ),
        (
            "derived.yaml",
            "then: {finding: urinary_symptoms, report: true}",
            "then: {finding: urinary_symptoms}",
            "finding 'urinary_symptoms' is never used by another rule",
        ),
        (
            "derived.yaml",
            "then: {finding: viral_features}",
            "then: {finding: unused_features}",
            "unknown finding 'viral_features'",
        ),
    ],
)
def test_errors_name_file_rule_and_path(rules_copy, file, old, new, expected):
    edit(rules_copy, file, old, new)
    errors = errors_for(rules_copy)
    assert any(expected in e for e in errors), errors


def test_circular_findings_are_rejected(rules_copy):
    edit(rules_copy, "derived.yaml", "- {field: vitals.temperature_c, gte: 38.0}", "- {finding: hypothermia}")
    edit(rules_copy, "derived.yaml", "when: {field: vitals.temperature_c, lt: 36.0}", "when: {finding: fever}")
    assert any("circular dependency" in e for e in errors_for(rules_copy))


def test_a_file_not_listed_would_be_ignored_and_is_an_error(rules_copy):
    (rules_copy / "extra.yaml").write_text("condition: extra\ntitle: Extra\n")
    assert any("extra.yaml: not listed in rulebase.yaml" in e for e in errors_for(rules_copy))


def test_a_missing_flag_definition_is_an_error(rules_copy):
    text = (rules_copy / "rulebase.yaml").read_text().replace("  - spinal_infection.yaml\n", "")
    (rules_copy / "rulebase.yaml").write_text(text)
    (rules_copy / "spinal_infection.yaml").unlink()
    assert any("flag 'spinal_infection' is not defined" in e for e in errors_for(rules_copy))


def test_the_service_refuses_to_start_on_an_invalid_rule_base(rules_copy):
    edit(rules_copy, "sepsis.yaml", "vitals.heart_rate, gte: 130", "vitals.heart_rate, gte: high")
    with pytest.raises(RuleBaseError):
        create_app(Settings(rules_dir=rules_copy))


def test_assumed_normal_values_that_raise_a_flag_stop_the_start(rules_copy):
    edit(rules_copy, "myalgia.yaml", "    vitals.heart_rate: 75\n", "    vitals.heart_rate: 135\n")
    with pytest.raises(RuleBaseError) as info:
        create_app(Settings(rules_dir=rules_copy))
    assert "the assumed-normal values alone raise SEP-HR-HIGH" in str(info.value)


def test_a_valid_copy_loads_with_the_same_digest(rules_copy, rulebase):
    assert load_rulebase(rules_copy).digest == rulebase.digest


def test_two_rules_raising_a_flag_another_rule_joins_can_both_fire(rules_copy):
    # the flag fact each asserts is named by its rule, so the second is not a repeat of the first
    from cds.triage.decide import Decider
    from cds.triage.encounter import load_encounter
    from tests.common.vignettes import VIGNETTES

    edit(
        rules_copy,
        "pyelonephritis.yaml",
        "  - id: PYE-HOSPITAL\n",
        "  - id: PYE-CVA-FEVER\n"
        "    title: Renal angle tenderness with fever\n"
        "    when:\n"
        "      all:\n"
        "        - {field: exam.cva_tenderness, is: true}\n"
        "        - {finding: fever}\n"
        "    then: {raise: pyelonephritis, level: urgent}\n"
        "    source: NICE-CKS-PYELO\n"
        "\n"
        "  - id: PYE-HOSPITAL\n",
    )
    decision = Decider(load_rulebase(rules_copy)).decide(load_encounter(VIGNETTES["D06"]["encounter"]))
    assert {"PYE-FLANK-FEVER", "PYE-CVA-FEVER", "PYE-HOSPITAL"} <= set(decision.fired)
