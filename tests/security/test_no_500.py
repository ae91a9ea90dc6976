"""Findings: a lone surrogate in `encounter_id` (after the emergency result was computed) or in
`hookInstance`, a `patientId` ending in a newline, or a malformed FHIR resource gave a 500; a
Patient without `id` switched the subject check off; resource ids flowed into card markdown.
Properties: no input gives a 5xx; each is a 400/422 problem naming the field, or a data-problem
card; a Patient must prove it is the context's patient; card text shows request text as text."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.web.app import create_app
from tests.common.hooks_calls import SERVICE, auth, call_body, empty_prefetch, hooks_settings
from tests.common.vignettes import VIGNETTES


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    app = create_app(hooks_settings(tmp_path_factory.mktemp("hooks")))
    return app.test_client()


def raw_post(client, path: str, text: str, headers: dict[str, str] | None = None):
    return client.post(path, data=text.encode(), headers={"Content-Type": "application/json", **(headers or {})})


def fields_named(response) -> set[str]:
    return {e["field"] for e in response.get_json().get("errors", [])}


def test_a_lone_surrogate_in_encounter_id_is_a_400_naming_it(client):
    encounter = dict(VIGNETTES["D07"]["encounter"], encounter_id="PLACEHOLDER")  # an emergency
    text = json.dumps(encounter).replace("PLACEHOLDER", "\\ud800")
    response = raw_post(client, "/v1/evaluate", text)
    assert response.status_code == 400
    assert fields_named(response) == {"encounter_id"}


@pytest.mark.parametrize("value", ["abc\n", "a\rb", "tab\there", "nul\u0000", "del\u007f", "c1\u0085"])
def test_control_characters_in_encounter_id_are_a_422_naming_it(client, value):
    encounter = dict(VIGNETTES["D07"]["encounter"], encounter_id=value)
    response = client.post("/v1/evaluate", json=encounter)
    assert response.status_code == 422
    assert fields_named(response) == {"encounter_id"}


def test_a_lone_surrogate_in_hook_instance_is_a_400_naming_it(hooks):
    text = json.dumps(call_body(empty_prefetch(), hookInstance="PLACEHOLDER")).replace("PLACEHOLDER", "\\udfff")
    response = raw_post(hooks, SERVICE, text, auth())
    assert response.status_code == 400
    assert fields_named(response) == {"hookInstance"}


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("context.patientId", "p1\n"),
        ("context.patientId", "p1\r\n"),
        ("context.patientId", "p 1"),
        ("hookInstance", "abc\n"),
        ("context.userId", "Practitioner/1\n"),
    ],
)
def test_line_breaks_and_control_characters_in_ids_are_a_400_naming_the_field(hooks, where, value):
    body = call_body(empty_prefetch())
    if where == "hookInstance":
        body["hookInstance"] = value
    else:
        body["context"][where.split(".")[1]] = value
    response = hooks.post(SERVICE, json=body, headers=auth())
    assert response.status_code == 400
    assert fields_named(response) == {where}


def test_a_patient_without_id_is_refused_for_the_subject_check(hooks):
    prefetch = empty_prefetch()
    del prefetch["patient"]["id"]
    response = hooks.post(SERVICE, json=call_body(prefetch), headers=auth())
    assert response.status_code == 400
    assert fields_named(response) == {"prefetch.patient"}


def test_another_patients_record_is_refused(hooks):
    response = hooks.post(SERVICE, json=call_body(empty_prefetch("someone-else")), headers=auth())
    assert response.status_code == 400 and fields_named(response) == {"prefetch.patient"}


def test_request_text_in_a_card_is_escaped(hooks):
    prefetch = empty_prefetch()
    odd = {
        "resourceType": "Observation",
        "id": "x](https://evil.example/)<img src=x onerror=alert(1)>\n# Heading",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
        "valueQuantity": {"value": 38.5, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"},
    }
    prefetch["vitals"] = {"resourceType": "Bundle", "entry": [{"resource": odd}]}
    response = hooks.post(SERVICE, json=call_body(prefetch), headers=auth())
    assert response.status_code == 200
    details = "\n".join(card["detail"] for card in response.get_json()["cards"])
    assert "x\\]\\(https\\://evil" in details  # shown, escaped (":" too: no autolink)
    for raw in (r"\]\(https", r"https:", r"<img", r"\n# Heading"):
        assert not re.search(r"(?<!\\)" + raw, details), raw  # never without its backslash


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
keys = st.sampled_from(
    [
        "id",
        "status",
        "code",
        "coding",
        "system",
        "valueQuantity",
        "value",
        "component",
        "birthDate",
        "gender",
        "subject",
        "reference",
        "effectiveDateTime",
        "effectivePeriod",
        "clinicalStatus",
        "verificationStatus",
        "onsetDateTime",
        "recordedDate",
        "valueCodeableConcept",
        "valueBoolean",
        "valueInteger",
        "entry",
        "resource",
    ]
)
fhir_like = st.recursive(
    json_values, lambda inner: st.dictionaries(keys, inner, max_size=5) | st.lists(inner, max_size=3), max_leaves=25
)
resource = st.builds(
    lambda kind, body: {**body, "resourceType": kind},
    st.sampled_from(["Patient", "Observation", "Condition", "Bundle", "OperationOutcome"]),
    st.dictionaries(keys, fhir_like, max_size=6),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.dictionaries(
        st.sampled_from(["vitals", "conditions", "findings", "labs"]),
        st.one_of(resource, st.builds(lambda es: {"resourceType": "Bundle", "entry": es}, st.lists(resource))),
    )
)
def test_no_fhir_data_gives_a_5xx(hooks, documents: dict[str, Any]):
    prefetch = {**empty_prefetch(), **documents}
    response = hooks.post(SERVICE, json=call_body(prefetch), headers=auth())
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.status_code in (200, 400, 412), response.get_data(as_text=True)
