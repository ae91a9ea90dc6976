"""The HTTP surface: /v1/evaluate, /healthz, and problems (never HTML) for every error."""

import io
import json

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from tests.common.contract import SCREENED
from tests.common.vignettes import VIGNETTES, encounter

PROBLEM = "application/problem+json"


def assert_problem(response, status):
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= set(body)
    assert "<html" not in response.get_data(as_text=True).lower()
    return body


def test_evaluate_returns_the_contract(client):
    response = client.post("/v1/evaluate", json=VIGNETTES["D05"]["encounter"])
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == [
        "encounter_id",
        "risk_level",
        "primary",
        "disposition",
        "flags",
        "screen",
        "missing",
        "scores",
        "advice",
        "trace",
        "rulebase",
    ]
    assert set(body["screen"]) == set(SCREENED)
    for flag in body["flags"]:
        assert {"id", "risk_level", "summary", "rules"} <= set(flag)
    for entry in body["trace"]:
        assert {"seq", "rule", "title", "matched", "concluded", "source"} <= set(entry)
    assert [e["seq"] for e in body["trace"]] == list(range(1, len(body["trace"]) + 1))
    assert set(body["rulebase"]) == {"version", "digest"}
    assert len(body["rulebase"]["digest"]) == 64


def test_encounter_id_is_optional_and_echoed_only_when_given(client):
    enc = encounter("D01")
    del enc["encounter_id"]
    assert "encounter_id" not in client.post("/v1/evaluate", json=enc).get_json()


def test_every_response_carries_the_safety_headers(client):
    for response in (client.get("/healthz"), client.post("/v1/evaluate", json={}), client.get("/nowhere")):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_malformed_json_is_400(client):
    assert_problem(client.post("/v1/evaluate", data="{not json", content_type="application/json"), 400)
    assert_problem(client.post("/v1/evaluate", data="", content_type="application/json"), 400)
    assert_problem(client.post("/v1/evaluate", data=b"\xff\xfe", content_type="application/json"), 400)
    assert_problem(client.post("/v1/evaluate", data='{"a": NaN}', content_type="application/json"), 400)


def test_repeated_keys_are_rejected_not_overwritten(client):
    body = '{"patient": {"age_years": 40}, "symptoms": {"saddle_anaesthesia": true, "saddle_anaesthesia": false}}'
    problem = assert_problem(client.post("/v1/evaluate", data=body, content_type="application/json"), 400)
    assert problem["errors"] == [{"field": "saddle_anaesthesia", "message": "duplicate key"}]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_wrong_content_type_is_415(client, content_type):
    assert_problem(client.post("/v1/evaluate", data="{}", content_type=content_type), 415)


def test_missing_content_type_is_415(client):
    assert_problem(client.post("/v1/evaluate", data="{}"), 415)


@pytest.mark.parametrize(
    ("content_type", "headers"),
    [
        ("application/json; charset=latin1; charset=utf-8", {}),
        ("application/json", {"Content-Encoding": "gzip"}),
        ("application/json", {"Content-Encoding": "br"}),
    ],
)
def test_a_body_whose_encoding_is_in_doubt_is_415(client, content_type, headers):
    """Found over the real server: a Content-Encoding was ignored (a gzipped body read as
    bytes) and of two charsets the last was taken."""
    body = '{"patient": {"age_years": 40}}'
    assert_problem(client.post("/v1/evaluate", data=body, content_type=content_type, headers=headers), 415)
    form = {"patient.age_years": "40"}
    page = client.post(
        "/triage",
        data=form,
        content_type=content_type.replace("application/json", "application/x-www-form-urlencoded"),
        headers=headers,
    )
    assert page.status_code == 415


def test_an_identity_content_encoding_is_no_encoding(client):
    body = '{"patient": {"age_years": 40}}'
    response = client.post(
        "/v1/evaluate", data=body, content_type="application/json", headers={"Content-Encoding": "identity"}
    )
    assert response.status_code == 200


def test_json_with_charset_is_accepted(client):
    response = client.post(
        "/v1/evaluate", data='{"patient": {"age_years": 40}}', content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 200


def test_invalid_encounter_is_422_with_fields(client):
    body = assert_problem(client.post("/v1/evaluate", json={"patient": {"age_years": 12}}), 422)
    assert body["errors"] == [
        {"field": "patient.age_years", "message": "out of scope: adult service (age 16 and over)"}
    ]


def test_unknown_path_is_404_problem(client):
    assert_problem(client.get("/v2/evaluate"), 404)


@pytest.mark.parametrize("path", ["/v1//evaluate", "//v1/evaluate", "/cds-services//back-pain-triage"])
def test_a_doubled_slash_is_no_route_not_a_redirect_elsewhere(client, path):
    """Found over the real server: a 308 to a Location built from the Host header, answered
    before the access check (Host: evil.example asked the client to post there)."""
    response = client.post(path, json={"patient": {"age_years": 40}}, headers={"Host": "evil.example"})
    assert_problem(response, 404)
    assert "Location" not in response.headers


def test_wrong_method_is_405_problem_with_allow(client):
    response = client.get("/v1/evaluate")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]
    assert_problem(client.post("/healthz"), 405)


@pytest.mark.parametrize("path", ["/v1/evaluate", "/v1/interview", "/v1/questions", "/healthz", "/openapi.yaml"])
def test_options_is_204_with_allow_and_no_content_type(client, path):
    # found by an HTTP contract audit: Flask's automatic answer was a 200 typed text/html
    response = client.options(path)
    assert response.status_code == 204
    assert "Content-Type" not in response.headers and response.get_data() == b""
    assert "OPTIONS" in response.headers["Allow"] and response.headers["X-Request-ID"]


def test_body_over_the_limit_is_413(client):
    body = '{"patient": {"age_years": 40}, "encounter_id": "' + "x" * 70_000 + '"}'
    assert_problem(client.post("/v1/evaluate", data=body, content_type="application/json"), 413)


class _Recording(io.BytesIO):
    """A server's input stream that records what it was asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int | None] = []

    def read(self, size: int | None = -1) -> bytes:
        self.asked.append(size)
        return super().read(size)


@pytest.mark.parametrize("terminated", [True, False])
def test_a_declared_length_is_read_exactly_from_the_server(app, terminated):
    # gunicorn marks every input terminated; the body is still read at its declared length,
    # in one read, and a body shorter than declared is a malformed body, not a hang or a 5xx
    body = json.dumps(VIGNETTES["D05"]["encounter"]).encode()
    for sent, status in ((body, 200), (body[:-10], 400)):
        environ = EnvironBuilder("/v1/evaluate", method="POST", content_type="application/json").get_environ()
        stream = _Recording(sent)
        environ.update({"CONTENT_LENGTH": str(len(body)), "wsgi.input": stream, "wsgi.input_terminated": terminated})
        _, got, _ = run_wsgi_app(app, environ, buffered=True)
        assert got.split()[0] == str(status)
        assert stream.asked == [len(body)]


def test_deep_nesting_and_long_arrays_are_refused(client):
    deep = "[" * 2000 + "]" * 2000
    assert_problem(client.post("/v1/evaluate", data=deep, content_type="application/json"), 400)
    wide = '{"patient": {"age_years": 40}, "pain": {"sites": [' + ",".join(['"flank"'] * 200) + "]}}"
    assert_problem(client.post("/v1/evaluate", data=wide, content_type="application/json"), 400)


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"
