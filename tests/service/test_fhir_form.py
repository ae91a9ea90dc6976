"""The triage form over HTTP: GET /fhir/Questionnaire/back-pain-triage (FHIR JSON, the
a digest of its bytes as ETag, 304, no access control), and the round trip: every vignette's
encounter, answered on that form as a QuestionnaireResponse (tests/common/questionnaire_response.py)
and posted to /v1/interview, gives the result /v1/evaluate gives for the encounter. Every
response is validated against openapi.yaml by the client."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from cds.fhir.questionnaire_form import MAX_VALUE, MIN_VALUE, questionnaire
from cds.settings import Settings
from cds.triage.fields import BY_PATH
from cds.web.app import create_app
from tests.common.openapi_check import ValidatingClient
from tests.common.paths import RULES_DIR
from tests.common.questionnaire_response import carried, questionnaire_response
from tests.common.vignettes import VIGNETTES

PATH = "/fhir/Questionnaire/back-pain-triage"
FHIR = "application/fhir+json"
KEY = "fhir-form-key-for-tests-123456"


@pytest.fixture(scope="module")
def app():
    """One app for the module (conftest's is per test): the `client` fixture stays per test, and
    the round trip does not build the app 72 times. Nothing here changes the app's state."""
    app = create_app(Settings(rules_dir=RULES_DIR), {"TESTING": True})
    app.test_client_class = ValidatingClient
    return app


@pytest.fixture(scope="module")
def form(catalogue):
    return questionnaire(catalogue, "")


def test_the_form_is_served_as_fhir_json_with_a_digest_of_its_bytes_as_etag(client, form):
    response = client.get(PATH)
    assert response.status_code == 200
    assert response.mimetype == FHIR
    assert response.headers["ETag"] == f'"{hashlib.sha256(response.get_data()).hexdigest()[:32]}"'
    assert response.get_json() == form
    assert client.get(PATH).get_data() == response.get_data()  # the same bytes every time


def test_a_matching_if_none_match_is_304(client):
    etag = client.get(PATH).headers["ETag"]
    again = client.get(PATH, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["ETag"] == etag and again.get_data() == b""
    assert client.get(PATH, headers={"If-None-Match": '"another-digest"'}).status_code == 200
    # RFC 9110 13.1.2: If-None-Match compares weakly (found by an HTTP contract audit: 200)
    assert client.get(PATH, headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304
    assert client.get(PATH, headers={"If-None-Match": "*"}).status_code == 304


def test_a_form_for_another_base_url_is_another_etag_so_no_cache_serves_it_stale(client):
    here = client.get(PATH)
    other = create_app(Settings(rules_dir=RULES_DIR, public_base_url="https://cds.example.org"), {"TESTING": True})
    there = other.test_client().get(PATH, headers={"If-None-Match": here.headers["ETag"]})
    assert there.status_code == 200 and there.get_data() != here.get_data()
    assert there.headers["ETag"] != here.headers["ETag"]


def test_it_needs_no_api_key_and_names_the_public_base_url():
    env = {"CDS_RULES_DIR": str(RULES_DIR), "CDS_API_KEYS": KEY, "CDS_PUBLIC_BASE_URL": "https://triage.example.org/"}
    app = create_app(Settings.from_env(env), {"TESTING": True})
    app.test_client_class = ValidatingClient
    client = app.test_client()
    assert client.post("/v1/interview", json={"patient": {"age_years": 40}}).status_code == 401
    response = client.get(PATH)
    assert response.status_code == 200
    assert response.get_json()["url"] == "https://triage.example.org/fhir/Questionnaire/back-pain-triage"


def walk(items: list[dict[str, Any]]):
    for item in items:
        yield item
        yield from walk(item.get("item", []))


def offered(item: dict[str, Any], form: dict[str, Any]) -> list[dict[str, str]]:
    """The codings a choice item offers: its answerOptions, or its contained value set's concepts."""
    if "answerOption" in item:
        return [o["valueCoding"] for o in item["answerOption"]]
    value_set = next(v for v in form["contained"] if f"#{v['id']}" == item["answerValueSet"])
    return [{"system": i["system"], **c} for i in value_set["compose"]["include"] for c in i["concept"]]


def bound(item: dict[str, Any], url: str) -> float:
    found = next(e for e in item["extension"] if e["url"] == url)
    return float(found.get("valueInteger", found.get("valueDecimal")))


def assert_conforms(qr: dict[str, Any], form: dict[str, Any]) -> None:
    """Every answer is one the form offers its item: in its section's group, of the item's type,
    among its options, within its range, and several only where the item repeats."""
    QuestionnaireResponse.model_validate(qr)  # FHIR structure (R4B models: see the unit tests)
    groups = {g["linkId"]: g for g in form["item"]}
    for answered_group in qr["item"]:
        items = {i["linkId"]: i for i in groups[answered_group["linkId"]]["item"]}
        for answered in answered_group["item"]:
            item = items[answered["linkId"]]
            assert len(answered["answer"]) == 1 or item.get("repeats"), item["linkId"]
            for answer in answered["answer"]:
                [(key, value)] = answer.items()
                if item["type"] == "choice":
                    codes = {(c["system"], c["code"]) for c in offered(item, form)}
                    assert key == "valueCoding" and (value["system"], value["code"]) in codes, item["linkId"]
                else:
                    assert key == {"integer": "valueInteger", "decimal": "valueDecimal"}[item["type"]], item["linkId"]
                    assert bound(item, MIN_VALUE) <= value <= bound(item, MAX_VALUE), item["linkId"]


def comparable(encounter: dict[str, Any]) -> dict[str, Any]:
    """The encounter as the form carries it: without encounter_id and pain.sites_partial (not
    clinical, no question), and pain sites in the contract's order, which is how the form's
    reader returns one answer per site (the result's trace echoes the list as it was given)."""
    out = carried(encounter)
    sites = out.get("pain", {}).get("sites")
    if isinstance(sites, list):
        out["pain"]["sites"] = sorted(sites, key=BY_PATH["pain.sites"].choices.index)
    return out


@pytest.mark.parametrize("vid", sorted(VIGNETTES))
def test_a_vignette_answered_on_the_form_gives_the_result_of_its_encounter(client, catalogue, form, vid):
    encounter = VIGNETTES[vid]["encounter"]
    qr = questionnaire_response(catalogue, encounter)
    assert_conforms(qr, form)
    response = client.post("/v1/interview", data=json.dumps(qr), content_type=FHIR)
    assert response.status_code == 200, response.get_data(as_text=True)
    expected = client.post("/v1/evaluate", json=comparable(encounter))
    assert expected.status_code == 200
    assert response.get_json()["result"] == expected.get_json()


def _response(items: list[dict[str, Any]], form: dict[str, Any]) -> dict[str, Any]:
    """A QuestionnaireResponse of these answered items (and an age), each under its section's group."""
    age = {"linkId": "patient.age_years", "answer": [{"valueInteger": 40}]}
    by_link_id = {i["linkId"]: i for i in [age, *items]}
    groups = [
        {"linkId": g["linkId"], "item": [by_link_id[i["linkId"]] for i in g["item"] if i["linkId"] in by_link_id]}
        for g in form["item"]
    ]
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "authored": datetime.now(UTC).isoformat(),
        "item": [g for g in groups if g["item"]],
    }


def test_every_answer_the_form_offers_is_taken_by_the_interview(client, form):
    """Each question alone (with an age), with each answer it offers; a number at both ends of its
    range. Don't know to a list question is the exception below."""
    answers: list[dict[str, Any]] = []
    for item in walk(form["item"]):
        if item["type"] == "choice":
            codings = [c for c in offered(item, form) if "answerValueSet" in item or c["code"] != "LA4489-6"]
            answers += [{"linkId": item["linkId"], "answer": [{"valueCoding": c}]} for c in codings]
        elif item["type"] in ("integer", "decimal") and item["linkId"] != "patient.age_years":
            key = "valueInteger" if item["type"] == "integer" else "valueDecimal"
            ends = [e[key] for e in item["extension"] if e["url"] in (MIN_VALUE, MAX_VALUE)]
            answers += [{"linkId": item["linkId"], "answer": [{key: value}]} for value in ends]
    assert len(answers) > 3 * len([i for i in walk(form["item"]) if i.get("answerValueSet")])
    for answered in answers:
        qr = _response([answered], form)
        assert_conforms(qr, form)
        response = client.post("/v1/interview", data=json.dumps(qr), content_type=FHIR)
        assert response.status_code == 200, (answered, response.get_data(as_text=True))


def test_dont_know_to_a_list_question_is_asked_unknown(client, form):
    unknown = {"system": "http://loinc.org", "code": "LA4489-6", "display": "Unknown"}
    qr = _response([{"linkId": "symptoms.headache", "answer": [{"valueCoding": unknown}]}], form)
    assert_conforms(qr, form)
    response = client.post("/v1/interview", data=json.dumps(qr), content_type=FHIR)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["result"]["asked_unknown"] == ["symptoms.headache"]
