"""The one catalogue of problem types, documented in openapi.yaml, and the problem document."""

from cds.problems import CATALOGUE, PAYLOAD_TOO_LARGE, Problem, flatten_messages, payload_too_large
from tests.common.contract import SPEC


def test_every_problem_type_is_documented_with_its_status():
    documented = SPEC["components"]["schemas"]["Problem"]["x-problem-types"]
    assert documented == {slug: t.status for slug, t in CATALOGUE.items()}


def test_a_problem_type_makes_its_problem():
    problem = payload_too_large(65536)
    assert problem.to_dict() == {
        "type": "https://cds.invalid/problems/payload-too-large",
        "title": "Request Entity Too Large",
        "status": PAYLOAD_TOO_LARGE.status,
        "detail": "The body is larger than 65536 bytes.",
    }


def test_a_generic_problem_takes_its_type_from_the_status():
    assert Problem(404, "").to_dict() == {
        "type": "https://cds.invalid/problems/not-found",
        "title": "Not Found",
        "status": 404,
    }


def test_marshmallow_messages_become_errors_with_dotted_paths():
    messages = {"vitals": {"heart_rate": ["must be an integer"]}, "_schema": ["bad"], "x": ["Unknown field."]}
    assert flatten_messages(messages) == [
        {"field": "vitals.heart_rate", "message": "must be an integer"},
        {"field": "$", "message": "bad"},
        {"field": "x", "message": "unknown field (misspelt? unknown fields are rejected, never ignored)"},
    ]


def test_a_key_the_caller_sent_is_named_short_and_plain():
    long_key = "<script>" + "k" * 500
    errors = flatten_messages({"symptoms": {long_key: ["Unknown field."]}, "_schema": ["bad"]})
    fields = {e["field"] for e in errors}
    assert fields == {"symptoms.script" + "k" * 58, "$"}


def test_a_key_of_many_dots_is_named_short_too():
    errors = flatten_messages({"." * 20_000: ["Unknown field."]})
    assert len(errors[0]["field"]) <= 200
