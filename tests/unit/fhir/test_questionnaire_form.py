"""The triage form as a FHIR R4 Questionnaire (cds/fhir/questionnaire_form.py).

FHIR structure: validated with the `fhir.resources` models (dev dependency, pinned in
pyproject.toml). Its releases with pydantic 2 carry FHIR R5 at the top and R4B (4.3.0) in a
sub-package; the last release whose default models were R4 4.0.1 (6.4) needs pydantic 1, which
this environment's other tools (openapi-core, schemathesis) cannot share. R4B's Questionnaire,
QuestionnaireResponse and ValueSet are R4's (R4B changed the medication-definition, evidence and
subscription resources, not these), so the R4B models check R4 structure here: unknown elements,
cardinalities, datatypes and choice types ([x]). The models do not check required code bindings
nor the resource's invariants (que-*), so those are checked below by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from pydantic import ValidationError

from cds.fhir.questionnaire import ANSWERS
from cds.fhir.questionnaire_form import (
    DIGEST_SYSTEM,
    ITEM_CONTROL,
    ITEM_CONTROL_CODES,
    MAX_VALUE,
    MIN_VALUE,
    QUESTIONNAIRE_UNIT,
    SHORT_TEXT,
    UCUM,
    questionnaire,
)
from cds.triage.questions import LOINC, load_questions
from tests.common.paths import RULES_DIR
from tests.common.questionnaire_response import NotExpressible, carried, questionnaire_response

ITEM_TYPES = {"group", "display", "boolean", "decimal", "integer", "date", "dateTime", "time", "string", "text"}
ITEM_TYPES |= {"url", "choice", "open-choice", "attachment", "reference", "quantity"}  # R4 item-type (required)
OPERATORS = {"exists", "=", "!=", ">", "<", ">=", "<="}  # R4 questionnaire-enable-operator (required)
EXTENSIONS = {QUESTIONNAIRE_UNIT, MIN_VALUE, MAX_VALUE, ITEM_CONTROL, SHORT_TEXT}
YES_NO_UNKNOWN = [("LA33-6", "Yes"), ("LA32-8", "No"), ("LA4489-6", "Unknown")]


@pytest.fixture(scope="module")
def form(catalogue):
    return questionnaire(catalogue, "")


def walk(items: list[dict[str, Any]]):
    for item in items:
        yield item
        yield from walk(item.get("item", []))


def questions(form) -> list[dict[str, Any]]:
    return [i for i in walk(form["item"]) if i["type"] not in ("group", "display")]


def ext(item, url):
    found = [e for e in item.get("extension", []) if e["url"] == url]
    assert len(found) <= 1, (item["linkId"], url)
    return found[0] if found else None


def test_it_is_a_valid_fhir_r4_questionnaire(form):
    parsed = Questionnaire.model_validate(form)
    assert parsed.get_resource_type() == "Questionnaire"
    # the model keeps every element: a lossless round trip means nothing was unknown to it
    assert json.loads(parsed.model_dump_json(exclude_none=True)) == form
    assert form["status"] in ("draft", "active", "retired", "unknown")  # publication-status (required)
    for item in walk(form["item"]):
        assert item["type"] in ITEM_TYPES, item["linkId"]
        for condition in item.get("enableWhen", []):
            assert condition["operator"] in OPERATORS, item["linkId"]
        assert item.get("enableBehavior", "all") in ("all", "any")
        for extension in item.get("extension", []):
            assert extension["url"] in EXTENSIONS, extension["url"]


def test_it_keeps_the_questionnaire_invariants(form):
    link_ids = [i["linkId"] for i in walk(form["item"])]
    assert len(link_ids) == len(set(link_ids))  # que-2
    for item in walk(form["item"]):
        where = item["linkId"]
        if item["type"] == "group":
            assert item.get("item"), where  # que-1
        if item["type"] == "display":
            assert not item.get("item") and "code" not in item, where  # que-1, que-3
            assert not {"required", "repeats", "readOnly", "initial"} & set(item), where  # que-6, que-8, que-9
        assert not ("answerOption" in item and "answerValueSet" in item), where  # que-4
        if "answerOption" in item or "answerValueSet" in item:
            assert item["type"] in ("choice", "open-choice"), where  # que-5
        for condition in item.get("enableWhen", []):
            if condition["operator"] == "exists":
                assert set(condition) == {"question", "operator", "answerBoolean"}, where  # que-7
        if len(item.get("enableWhen", [])) > 1:
            assert "enableBehavior" in item, where  # que-12
    assert form["name"][0].isupper() and form["name"].isalnum()  # que-0


def test_the_resource_says_which_form_and_catalogue_it_is(form, catalogue):
    assert form["id"] == "back-pain-triage"
    assert form["url"] == "https://cds.invalid/fhir/Questionnaire/back-pain-triage"
    assert form["version"] == catalogue.version and form["title"] == catalogue.title
    assert form["identifier"] == [{"system": DIGEST_SYSTEM, "value": catalogue.digest}]
    assert form["subjectType"] == ["Patient"] and "date" not in form
    deployed = questionnaire(catalogue, "https://cds.example.org/")
    assert deployed["url"] == "https://cds.example.org/fhir/Questionnaire/back-pain-triage"


def test_it_is_deterministic(form, catalogue, rulebase):
    again = questionnaire(catalogue, "")
    assert again == form
    assert json.dumps(again) == json.dumps(form)
    reloaded = load_questions(RULES_DIR, rulebase)  # the same catalogue, loaded again
    assert json.dumps(questionnaire(reloaded, "")) == json.dumps(form)


def test_one_group_per_section_holds_its_questions_in_catalogue_order(form, catalogue):
    assert [(g["linkId"], g["text"], g["type"]) for g in form["item"]] == [
        (s, t, "group") for s, t in catalogue.sections if any(q.section == s for q in catalogue.questions)
    ]
    for group in form["item"]:
        inside = [i["linkId"] for i in group["item"]]
        assert inside == [q.link_id for q in catalogue.questions if q.section == group["linkId"]]
    asked = [i["linkId"] for i in questions(form)]
    assert asked == [q.path for q in catalogue.questions if q.section in dict(catalogue.sections)]
    assert sorted(asked) == sorted(q.path for q in catalogue.questions)  # every question, once


def test_each_kind_has_its_type_and_answers(form, catalogue):
    for item in questions(form):
        q = catalogue.by_path[item["linkId"]]
        kind = q.field.kind
        assert item["text"] == q.text, q.path
        assert ext(item, SHORT_TEXT) == {"url": SHORT_TEXT, "valueString": q.short}, q.path
        if kind == "bool":
            assert (item["type"], item["answerValueSet"]) == ("choice", "#yes-no-unknown"), q.path
        elif kind in ("enum", "enum_list"):
            assert item["type"] == "choice" and "answerValueSet" not in item, q.path
            options = [o["valueCoding"] for o in item["answerOption"]]
            words = [a for a in q.answers if a.value is not None]
            expected = [{"system": ANSWERS, "code": a.value, "display": a.label} for a in words]
            if kind == "enum":  # and Don't know, as LOINC Unknown
                expected.append({"system": LOINC, "code": "LA4489-6", "display": "Unknown"})
            assert options == expected, q.path
        else:
            assert item["type"] == {"int": "integer", "number": "decimal"}[kind], q.path
            assert "answerOption" not in item and "answerValueSet" not in item, q.path
        assert item.get("repeats", False) is (kind == "enum_list"), q.path
        assert item.get("required", False) is (q.path == "patient.age_years"), q.path


def test_pain_sites_repeat_one_answer_per_site(form):
    sites = next(i for i in questions(form) if i["linkId"] == "pain.sites")
    assert sites["repeats"] is True
    assert [o["valueCoding"]["code"] for o in sites["answerOption"]] == [
        "lower_back",
        "upper_back",
        "thoracic",
        "flank",
        "neck",
    ]


def test_the_contained_value_set_is_loinc_yes_no_unknown_and_referenced(form):
    [value_set] = form["contained"]
    assert (value_set["resourceType"], value_set["id"], value_set["status"]) == ("ValueSet", "yes-no-unknown", "active")
    [include] = value_set["compose"]["include"]
    assert include["system"] == LOINC
    assert [(c["code"], c["display"]) for c in include["concept"]] == YES_NO_UNKNOWN
    assert any(i.get("answerValueSet") == "#yes-no-unknown" for i in walk(form["item"]))  # dom-3


def test_numbers_carry_their_ucum_unit_and_the_contracts_range(form, catalogue):
    numbers = [i for i in questions(form) if i["type"] in ("integer", "decimal")]
    assert {i["linkId"] for i in numbers} == {q.path for q in catalogue.questions if q.field.numeric}
    for item in numbers:
        q = catalogue.by_path[item["linkId"]]
        value = "valueInteger" if item["type"] == "integer" else "valueDecimal"
        unit = ext(item, QUESTIONNAIRE_UNIT)["valueCoding"]
        assert unit == {"system": UCUM, "code": q.unit["code"], "display": q.unit["display"]}, q.path
        low, high = ext(item, MIN_VALUE), ext(item, MAX_VALUE)
        assert set(low) == set(high) == {"url", value}, q.path
        assert (low[value], high[value]) == (q.field.low, q.field.high), q.path
        if value == "valueInteger":
            assert type(low[value]) is int and type(high[value]) is int, q.path


def test_enable_when_names_an_earlier_item_with_an_answer_of_its_kind(form, catalogue):
    seen: list[str] = []
    conditions = 0
    for item in walk(form["item"]):
        q = catalogue.by_path.get(item["linkId"])
        if q is not None and item["type"] != "display":
            expected = len(q.enable_when)
            assert len(item.get("enableWhen", [])) == expected, q.path
            for condition, rule in zip(item.get("enableWhen", []), q.enable_when, strict=True):
                conditions += 1
                assert condition["question"] == rule.field and rule.field in seen, q.path
                assert condition["operator"] == rule.operator, q.path
                assert condition_answer(condition) == expected_answer(rule, catalogue), q.path
            assert ("enableBehavior" in item) is (expected > 1), q.path
        seen.append(item["linkId"])
    assert conditions == sum(len(q.enable_when) for q in catalogue.questions) > 0


def condition_answer(condition):
    [key] = [k for k in condition if k.startswith("answer")]
    value = condition[key]
    return key, (value["system"], value["code"]) if key == "answerCoding" else value


def expected_answer(rule, catalogue):
    parent = catalogue.by_path[rule.field].field
    if rule.operator == "exists":
        return "answerBoolean", rule.value
    if parent.kind == "bool":
        return "answerCoding", (LOINC, "LA33-6" if rule.value else "LA32-8")
    return "answerCoding", (ANSWERS, rule.value)


def test_codes_are_the_catalogues_own(form, catalogue):
    for item in questions(form):
        q = catalogue.by_path[item["linkId"]]
        assert item.get("code") == ([q.code] if q.code is not None else None), q.path
    assert sum("code" in i for i in questions(form)) == sum(q.code is not None for q in catalogue.questions) > 0


def test_help_is_a_child_display_item_with_the_help_control(form, catalogue):
    for item in questions(form):
        q = catalogue.by_path[item["linkId"]]
        [help_item] = item["item"]
        assert help_item["linkId"] == f"{q.path}.help" and help_item["type"] == "display", q.path
        assert help_item["text"] == q.help, q.path
        control = ext(help_item, ITEM_CONTROL)["valueCodeableConcept"]
        assert control == {"coding": [{"system": ITEM_CONTROL_CODES, "code": "help"}]}, q.path


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: f["item"][0]["item"][0].update(repeat=True),  # no such element
        lambda f: f["item"][0]["item"][0].update(text=["two", "texts"]),  # 0..1 string
        lambda f: f["item"][0]["item"][0].pop("linkId"),  # 1..1
        lambda f: f["contained"][0].update(compose={"include": [{"system": 42}]}),  # a uri
        lambda f: f.update(subjectType="Patient"),  # 0..* code
    ],
)
def test_the_validator_refuses_a_damaged_form(form, damage):
    broken = json.loads(json.dumps(form))
    damage(broken)
    with pytest.raises(ValidationError):
        Questionnaire.model_validate(broken)


def test_the_response_builder_answers_as_the_form_offers_and_refuses_what_it_cannot_say(catalogue):
    encounter = {
        "encounter_id": "E1",
        "patient": {"age_years": 40, "sex": "female"},
        "pain": {"sites": ["flank", "lower_back"], "sites_partial": True, "severity": None},
        "vitals": {"temperature_c": 38.5, "on_oxygen": False},
        "asked_unknown": ["symptoms.rigors"],
    }
    qr = questionnaire_response(catalogue, encounter)
    answered = {i["linkId"]: i["answer"] for g in qr["item"] for i in g["item"]}
    assert [g["linkId"] for g in qr["item"]] == ["emergency", "infection", "pain", "context", "observations"]
    assert answered == {
        "symptoms.rigors": [{"valueCoding": {"system": LOINC, "code": "LA4489-6", "display": "Unknown"}}],
        "pain.sites": [
            {"valueCoding": {"system": ANSWERS, "code": "flank", "display": "Side below the ribs (loin)"}},
            {"valueCoding": {"system": ANSWERS, "code": "lower_back", "display": "Lower back"}},
        ],
        "patient.age_years": [{"valueInteger": 40}],
        "patient.sex": [{"valueCoding": {"system": ANSWERS, "code": "female", "display": "Female"}}],
        "vitals.on_oxygen": [{"valueCoding": {"system": LOINC, "code": "LA32-8", "display": "No"}}],
        "vitals.temperature_c": [{"valueDecimal": 38.5}],
    }
    assert carried(encounter)["pain"] == {"sites": ["flank", "lower_back"], "severity": None}
    for unsayable in (
        {"patient": {"sex": "unknown"}},
        {"pain": {"sites": ["hip"]}},
        {"asked_unknown": ["vitals.spo2"]},
    ):
        with pytest.raises(NotExpressible):
            questionnaire_response(catalogue, {"patient": {"age_years": 40}} | unsayable)
