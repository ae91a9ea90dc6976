"""The interview over HTTP: the catalogue, one step of an interview from JSON or from the form's
QuestionnaireResponse, problems that name the field, and the same access control as /v1/evaluate.
Every response is validated against openapi.yaml by the client."""

import pytest

from cds.settings import Settings
from cds.web.app import create_app
from tests.common.openapi_check import ValidatingClient
from tests.common.paths import RULES_DIR
from tests.common.vignettes import VIGNETTES

LOINC = "http://loinc.org"
FHIR = "application/fhir+json"
KEY = "interview-key-for-tests-123456"


def test_the_catalogue_is_served_with_its_digest_as_etag(client, catalogue):
    response = client.get("/v1/questions")
    assert response.status_code == 200
    body = response.get_json()
    assert body["version"] == catalogue.version and body["digest"] == catalogue.digest
    assert response.headers["ETag"] == f'"{catalogue.digest}"'
    assert len(body["questions"]) == len(catalogue.questions)
    saddle = next(q for q in body["questions"] if q["field"] == "symptoms.saddle_anaesthesia")
    assert saddle["link_id"] == "symptoms.saddle_anaesthesia"
    assert [a["label"] for a in saddle["answers"]] == ["Yes", "No", "Don't know"]
    again = client.get("/v1/questions", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    weak = client.get("/v1/questions", headers={"If-None-Match": f"W/{response.headers['ETag']}"})
    assert weak.status_code == 304  # RFC 9110 13.1.2: If-None-Match compares weakly


def test_one_step_returns_the_result_the_next_questions_and_the_stop(client):
    enc = {"patient": {"age_years": 40}, "symptoms": {"reported_fever": True}}
    body = client.post("/v1/interview", json=enc).get_json()
    assert body["result"] == client.post("/v1/evaluate", json=enc).get_json()
    assert 1 <= len(body["next"]) <= 5
    first = body["next"][0]
    assert first["text"].endswith("?") and first["what_if"]
    assert body["stop"]["should_stop"] is False
    assert body["questions"]["digest"]


def test_each_next_question_names_its_guideline(client, catalogue):
    body = client.post("/v1/interview", json={"patient": {"age_years": 52}}).get_json()
    assert body["next"] and all(q["source"] == catalogue.by_path[q["field"]].source for q in body["next"])


def test_an_emergency_stops_the_interview(client):
    body = client.post("/v1/interview", json=VIGNETTES["D05"]["encounter"]).get_json()
    assert body["result"]["risk_level"] == "emergency"
    assert body["stop"] == {"should_stop": True, "reason": "emergency_raised", "risk_upper_bound": "emergency"}


def test_asked_unknown_sinks_a_question_and_is_echoed(client):
    enc = {"patient": {"age_years": 40}, "symptoms": {"reported_fever": True}}
    first = client.post("/v1/interview", json=enc).get_json()["next"][0]["field"]
    body = client.post("/v1/interview", json={**enc, "asked_unknown": [first]}).get_json()
    assert body["result"]["asked_unknown"] == [first]
    assert body["next"][0]["field"] != first
    marked = [m for m in body["result"]["missing"] if m["field"] == first]
    assert marked and marked[0]["asked_unknown"] is True


def test_asked_unknown_may_name_every_optional_clinical_field(client):
    """Found over the real server: the contract allows every optional clinical field in
    asked_unknown (a caller who knows nothing), but the default array limit (64) refused it."""
    from cds.triage.fields import FIELDS

    every = [f.path for f in FIELDS if f.clinical and not f.required]
    assert len(every) > 64
    enc = {"patient": {"age_years": 40}, "asked_unknown": every}
    for path in ("/v1/interview", "/v1/evaluate"):
        response = client.post(path, json=enc)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["asked_unknown" if path == "/v1/evaluate" else "result"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"asked_unknown": ["symptoms.reported_fever"]}, "asked_unknown.symptoms.reported_fever"),
        ({"asked_unknown": ["symptoms.shivers"]}, "asked_unknown.0"),
        ({"asked_unknown": "symptoms.rigors"}, "asked_unknown"),
        ({"asked_unknown": ["symptoms.rigors", "symptoms.rigors"]}, "asked_unknown"),
    ],
)
def test_a_bad_asked_unknown_is_a_422_naming_it(client, extra, field):
    enc = {"patient": {"age_years": 40}, "symptoms": {"reported_fever": True}, **extra}
    for path in ("/v1/interview", "/v1/evaluate"):
        response = client.post(path, json=enc)
        assert response.status_code == 422
        assert response.mimetype == "application/problem+json"
        assert field in {e["field"] for e in response.get_json()["errors"]}


def _response(*items, status="in-progress", authored=None):
    from datetime import UTC, datetime

    return {
        "resourceType": "QuestionnaireResponse",
        "status": status,
        "questionnaire": "https://cds.invalid/fhir/Questionnaire/back-pain-triage",
        "authored": authored or datetime.now(UTC).isoformat(),
        "item": list(items),
    }


def _item(link, **answer):
    return {"linkId": link, "answer": [answer]}


def _coding(code, display):
    return {"valueCoding": {"system": LOINC, "code": code, "display": display}}


def test_a_questionnaire_response_is_an_interview_step(client):
    qr = _response(
        _item("patient.age_years", valueInteger=52),
        _item("symptoms.reported_fever", **_coding("LA33-6", "Yes")),
        _item("symptoms.saddle_anaesthesia", **_coding("LA4489-6", "Unknown")),
        _item("symptoms.urinary_retention", **_coding("LA32-8", "No")),
    )
    response = client.post("/v1/interview", data=__import__("json").dumps(qr), content_type=FHIR)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["result"]["asked_unknown"] == ["symptoms.saddle_anaesthesia"]
    assert body["result"]["screen"]["cord_compression"] == "not_excluded"
    direct = {
        "patient": {"age_years": 52},
        "symptoms": {"reported_fever": True, "urinary_retention": False},
        "asked_unknown": ["symptoms.saddle_anaesthesia"],
    }
    assert body["result"] == client.post("/v1/evaluate", json=direct).get_json()


@pytest.mark.parametrize(
    ("qr", "field"),
    [
        (_response(_item("patient.age_years", valueInteger=52), _item("symptoms.shivers", valueBoolean=True)), "item"),
        (_response(_item("patient.age_years", valueInteger=300)), "item.patient.age_years"),
        (
            _response(
                _item("patient.age_years", valueInteger=52),
                _item("symptoms.rigors", valueBoolean=True),
                authored="2001-01-01T00:00:00Z",
            ),
            "authored",
        ),
        ({"resourceType": "Observation"}, "resourceType"),
        *(
            (_response(_item("patient.age_years", valueInteger=52), status=status), "status")
            for status in ("entered-in-error", "stopped")  # not "patient is required", as it was
        ),
        (_response(_item("symptoms.rigors", valueBoolean=True)), "patient"),
        # a value with "Unknown" beside it: neither may be dropped for the other (heart rate 140
        # is an emergency; read as "asked, not known" it was routine)
        *(
            (
                _response(
                    _item("patient.age_years", valueInteger=52),
                    {"linkId": link, "answer": [value, _coding("LA4489-6", "Unknown")]},
                ),
                f"item.{link}",
            )
            for link, value in (
                ("vitals.heart_rate", {"valueInteger": 140}),
                ("pain.sites", _coding("LA4489-6", "Unknown") | {"valueCoding": {"code": "flank"}}),
                ("vitals.consciousness", {"valueCoding": {"code": "voice"}}),
            )
        ),
        # found over the real server, each read in silence: a misspelt "answers" (the item read
        # as not answered: routine for saddle anaesthesia), one answer holding "No" and "Yes"
        # (the first kept), and a question answered twice, Yes and Unknown (the Yes kept)
        (
            _response(
                _item("patient.age_years", valueInteger=52),
                {"linkId": "symptoms.saddle_anaesthesia", "answers": [{"valueBoolean": True}]},
            ),
            "QuestionnaireResponse",
        ),
        (
            _response(
                _item("patient.age_years", valueInteger=52),
                _item("symptoms.saddle_anaesthesia", valueBoolean=False, **_coding("LA33-6", "Yes")),
            ),
            "item.symptoms.saddle_anaesthesia",
        ),
        (
            _response(
                _item("patient.age_years", valueInteger=52),
                _item("symptoms.saddle_anaesthesia", valueBoolean=True),
                _item("symptoms.saddle_anaesthesia", **_coding("LA4489-6", "Unknown")),
            ),
            "item.symptoms.saddle_anaesthesia",
        ),
    ],
)
def test_a_questionnaire_response_it_cannot_take_is_a_422(client, qr, field):
    response = client.post("/v1/interview", data=__import__("json").dumps(qr), content_type=FHIR)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in {e["field"] for e in response.get_json()["errors"]}


def test_a_question_answered_twice_alike_is_one_answer(client):
    qr = _response(
        _item("patient.age_years", valueInteger=52),
        _item("symptoms.saddle_anaesthesia", valueBoolean=True),
        _item("symptoms.saddle_anaesthesia", **_coding("LA33-6", "Yes")),
    )
    response = client.post("/v1/interview", data=__import__("json").dumps(qr), content_type=FHIR)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["result"]["risk_level"] == "emergency"


def test_a_refusal_names_each_problem_once(client):
    qr = _response(
        _item("patient.age_years", valueInteger=52),
        {"linkId": "vitals.heart_rate", "answer": [{"valueInteger": 140}, _coding("LA4489-6", "Unknown")]},
    )
    errors = client.post("/v1/interview", data=__import__("json").dumps(qr), content_type=FHIR).get_json()["errors"]
    assert [e["field"] for e in errors] == ["item.vitals.heart_rate"]


@pytest.mark.parametrize(
    ("days", "day_only", "said"),
    [
        (30, False, "authored in the future"),
        (-10, False, "not read as new"),  # before this illness's window of a week
        (-7, True, "recorded only to the day"),  # a day that begins before the window, ends in it
    ],
)
def test_a_refused_form_is_named_without_its_id_or_its_times(client, days, day_only, said):
    # found by an HTTP contract audit: "QuestionnaireResponse/SmithJohn-1970 is authored in the
    # future (2027-03-04 05:06 UTC)"; an error names the fields at fault, never a value sent
    from datetime import UTC, datetime, timedelta

    when = datetime.now(UTC) + timedelta(days=days)
    authored = when.date().isoformat() if day_only else when.isoformat()
    qr = _response(
        _item("patient.age_years", valueInteger=52),
        _item("symptoms.saddle_anaesthesia", **_coding("LA33-6", "Yes")),
        authored=authored,
    )
    qr["id"] = "SmithJohn-1970"
    response = client.post("/v1/interview", data=__import__("json").dumps(qr), content_type=FHIR)
    assert response.status_code == 422, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    assert said in text
    for sent in ("SmithJohn", "1970", f"{when:%Y-%m-%d}", f"{when:%Y-%m})", f"{when:%H:%M}"):
        assert sent not in text, sent


def test_a_malformed_questionnaire_response_is_a_422_not_a_500(client):
    qr = _response()
    qr["item"] = [{"linkId": ["not", "a", "string"], "answer": "yes"}]
    response = client.post("/v1/interview", data=__import__("json").dumps(qr), content_type=FHIR)
    assert response.status_code == 422


def test_other_media_types_are_415(client):
    response = client.post("/v1/interview", data="{}", content_type="text/plain")
    assert response.status_code == 415


def test_the_interview_has_the_access_control_of_evaluate():
    app = create_app(Settings.from_env({"CDS_RULES_DIR": str(RULES_DIR), "CDS_API_KEYS": KEY}), {"TESTING": True})
    app.test_client_class = ValidatingClient
    client = app.test_client()
    enc = VIGNETTES["D01"]["encounter"]
    assert client.post("/v1/interview", json=enc).status_code == 401
    ok = client.post("/v1/interview", json=enc, headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200


def test_a_flat_questionnaire_response_with_every_answer_fits(client, catalogue):
    """A form filler may send every item at the top level: more items, and deeper nesting, than
    an encounter has, so a FHIR document gets the FHIR limits."""
    items = [_item("patient.age_years", valueInteger=52)]
    items += [_item(q.path, **_coding("LA32-8", "No")) for q in catalogue.questions if q.field.kind == "bool"]
    assert len(items) > 64
    response = client.post("/v1/interview", data=__import__("json").dumps(_response(*items)), content_type=FHIR)
    assert response.status_code == 200, response.get_data(as_text=True)
