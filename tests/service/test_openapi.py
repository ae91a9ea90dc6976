"""openapi.yaml is the hand-written source of truth: it is a valid OpenAPI 3.1 document, the
app serves it as it is, it agrees with the field catalogue the schema is built from, and the
app conforms to it (every pair the suite makes is validated by tests/openapi_check.py;
schemathesis generates requests on top)."""

from __future__ import annotations

from dataclasses import replace

import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from cds.settings import Settings
from cds.triage.fields import FIELDS, SECTIONS
from cds.web.app import create_app
from tests.common.paths import ROOT

SPEC_TEXT = (ROOT / "openapi.yaml").read_text()
SPEC = yaml.safe_load(SPEC_TEXT)


def test_the_document_is_valid_openapi_3_1():
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def test_it_is_served_as_it_is(client):
    response = client.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == SPEC_TEXT


def _schema(name):
    return SPEC["components"]["schemas"][name]


def test_the_encounter_schema_matches_the_field_catalogue():
    encounter = _schema("Encounter")
    assert encounter["additionalProperties"] is False
    assert encounter["required"] == ["patient"]
    assert set(encounter["properties"]) == {"encounter_id", "asked_unknown", *SECTIONS}
    asked = _schema("AskedUnknown")
    assert asked["items"]["enum"] == [f.path for f in FIELDS if f.clinical and not f.required]
    for section in SECTIONS:
        schema = _schema(section.title())
        assert schema["additionalProperties"] is False, section
        specs = {f.name: f for f in FIELDS if f.section == section}
        assert set(schema["properties"]) == set(specs), section
        assert set(schema.get("required", [])) == {n for n, f in specs.items() if f.required}
        for name, spec in specs.items():
            prop = schema["properties"][name]
            if "$ref" in prop:
                assert spec.kind == "bool" and prop["$ref"].endswith("/TriState"), spec.path
                continue
            types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
            assert ("null" in types) is (not spec.required), spec.path
            if spec.kind in ("int", "number"):
                assert types[0] == ("integer" if spec.kind == "int" else "number"), spec.path
                assert (prop["minimum"], prop["maximum"]) == (spec.low, spec.high), spec.path
            elif spec.kind == "enum":
                assert prop["enum"] == [*spec.choices, None], spec.path
            elif spec.kind == "enum_list":
                assert prop["items"]["enum"] == list(spec.choices)
                assert prop["uniqueItems"] is True and "minItems" not in prop  # an empty list is unknown


def test_every_status_the_app_can_answer_is_documented():
    evaluate = SPEC["paths"]["/v1/evaluate"]["post"]["responses"]
    assert set(evaluate) == {"200", "400", "401", "413", "415", "422", "500"}
    service = SPEC["paths"]["/cds-services/back-pain-triage"]["post"]["responses"]
    assert {"200", "400", "401", "412", "413", "415", "500"} <= set(service)


# access control off (API keys, and the JWT checks only a test's code can switch off), so
# generated requests reach the evaluation. No FHIR server is configured, so a generated
# fhirServer is never contacted: a schema-valid call without prefetch is rightly a 412.
OPEN_APP = create_app(
    replace(Settings.from_env({"CDS_RULES_DIR": str(ROOT / "rules"), "CDS_AUTH": "off"}), hooks_jwt=False)
)
schema = schemathesis.openapi.from_wsgi("/openapi.yaml", OPEN_APP)


def _answered_and_asked_unknown(body):
    asked = body.get("asked_unknown") if isinstance(body, dict) else None
    for path in asked if isinstance(asked, list) else ():
        if not isinstance(path, str) or "." not in path:
            continue
        section, name = path.split(".", 1)
        if isinstance(body.get(section), dict) and body[section].get(name) is not None:
            return True
    return False


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_nothing(case):
    # a hook call's JWT, and a form's answers being of now, are beyond what a schema can say
    # and neither can that a field is not both answered and asked-unknown
    beyond = (
        case.operation.path == "/cds-services/back-pain-triage"
        or case.media_type == "application/fhir+json"
        or _answered_and_asked_unknown(case.body)
    )
    excluded = [positive_data_acceptance] if beyond else []
    case.call_and_validate(excluded_checks=excluded)
