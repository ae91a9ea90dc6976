"""The question catalogue: what it holds, and every mistake a reviewer could make refused at
start-up with a message naming the question."""

from __future__ import annotations

import shutil

import pytest

from cds.fhir.questionnaire import require_known_codes
from cds.settings import Settings
from cds.strict_yaml import load_strict
from cds.triage.fields import BY_PATH, FIELDS
from cds.triage.questions import QuestionsError, askable_fields, load_questions
from cds.web.app import create_app
from tests.common.paths import RULES_DIR


def test_every_field_that_can_appear_in_missing_has_a_question(rulebase, catalogue):
    assert askable_fields(rulebase) <= set(catalogue.by_path)


def test_every_clinical_field_has_exactly_one_question_and_no_other_does(catalogue):
    asked = [q.path for q in catalogue.questions]
    assert sorted(asked) == sorted(f.path for f in FIELDS if f.clinical)


def test_answers_follow_the_field_kind(catalogue):
    for q in catalogue.questions:
        spec = BY_PATH[q.path]
        labels = [a.label for a in q.answers]
        if spec.kind == "bool":
            assert labels == ["Yes", "No", "Don't know"]
            assert [a.code["code"] for a in q.answers] == ["LA33-6", "LA32-8", "LA4489-6"]
        elif spec.kind == "enum":
            assert [a.value for a in q.answers] == [*(c for c in spec.choices if c != spec.means_unknown), None]
            assert labels[-1] == "Don't know"
        elif spec.kind == "enum_list":
            assert q.multiple and [a.value for a in q.answers] == list(spec.choices)
        else:
            assert q.answers == () and q.unit and q.unit["code"]


def test_the_link_id_is_the_field_path_and_the_version_and_digest_travel(catalogue):
    assert all(q.link_id == q.path for q in catalogue.questions)
    assert catalogue.ref() == {"version": catalogue.version, "digest": catalogue.digest}
    assert len(catalogue.digest) == 64


def test_sections_come_in_clinical_order_and_each_question_names_one(catalogue):
    ids = [s for s, _ in catalogue.sections]
    assert ids[0] == "emergency"
    assert {q.section for q in catalogue.questions} <= set(ids)


def test_codes_are_only_those_the_terminology_maps_to_the_same_field(catalogue):
    require_known_codes(catalogue)
    assert any(q.code for q in catalogue.questions)


@pytest.fixture
def rules_copy(tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


def _edit(rules_dir, change):
    path = rules_dir / "questions.yaml"
    doc = load_strict(path.read_text(encoding="utf-8"))
    change(doc)
    import yaml

    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def _question(doc, field):
    return next(q for q in doc["questions"] if q["field"] == field)


MISTAKES = [
    (lambda d: _question(d, "symptoms.rigors").update(field="symptoms.shivers"), "not a clinical field"),
    (lambda d: _question(d, "symptoms.rigors").update(field="pain.sites_partial"), "not a clinical field"),
    (lambda d: _question(d, "symptoms.rigors").update(source="NO-SUCH-SOURCE"), "not a source of the rule base"),
    (lambda d: _question(d, "symptoms.rigors").update(section="nowhere"), "not listed in `sections`"),
    (lambda d: _question(d, "symptoms.rigors").update(choices={"yes": "Yes"}), "no `choices`"),
    (lambda d: _question(d, "vitals.heart_rate").pop("unit"), "needs a `unit`"),
    (lambda d: _question(d, "symptoms.headache")["choices"].pop("mild"), "must be exactly"),
    (
        lambda d: _question(d, "symptoms.rigors").update(
            enable_when=[{"field": "labs.crp_mg_l", "operator": "=", "value": True}]
        ),
        "not an earlier question",
    ),
    (
        lambda d: _question(d, "symptoms.leg_weakness_progressive").update(
            enable_when=[{"field": "symptoms.leg_weakness", "operator": "=", "value": "some"}]
        ),
        "not a choice",
    ),
    (lambda d: d["questions"].append(dict(_question(d, "symptoms.rigors"))), "asked twice"),
    (lambda d: d["questions"].remove(_question(d, "symptoms.saddle_anaesthesia")), "no question for"),
    (lambda d: _question(d, "symptoms.rigors").update(text=""), "symptoms.rigors/text"),
    (lambda d: _question(d, "symptoms.rigors").update(extra="x"), "Additional properties"),
]


@pytest.mark.parametrize(("change", "message"), MISTAKES)
def test_a_mistake_is_refused_naming_the_question(rulebase, rules_copy, change, message):
    _edit(rules_copy, change)
    with pytest.raises(QuestionsError) as err:
        load_questions(rules_copy, rulebase)
    assert any(message in p for p in err.value.problems), err.value.problems


def test_a_code_the_terminology_does_not_map_to_the_field_is_refused(rulebase, rules_copy):
    code = {"system": "http://snomed.info/sct", "code": "386661006", "display": "Fever"}
    _edit(rules_copy, lambda d: _question(d, "symptoms.rigors").update(code=code))
    with pytest.raises(QuestionsError, match="not mapped to this field"):
        require_known_codes(load_questions(rules_copy, rulebase))


def test_the_service_refuses_to_start_on_an_invalid_catalogue(rules_copy):
    _edit(rules_copy, lambda d: _question(d, "symptoms.rigors").update(source="NO-SUCH-SOURCE"))
    with pytest.raises(QuestionsError):
        create_app(Settings(rules_dir=rules_copy))
    (rules_copy / "questions.yaml").unlink()
    with pytest.raises(QuestionsError, match="file not found"):
        create_app(Settings(rules_dir=rules_copy))
