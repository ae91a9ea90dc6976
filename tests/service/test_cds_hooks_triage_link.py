"""CDS Hooks cards and the triage form: the "ask next" card reads the questions aloud and links to
the form, prefilled by a sealed token in the URL fragment only (the clinical values the EHR gave,
nothing that names the patient, expiring); flag cards offer our override reasons; feedback takes
only those, records their code and never the clinician's free text."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from cds.form_link import LinkError, open_token
from cds.hooks.cards import build_cards, card_uuid
from cds.hooks.overrides import REASONS, SYSTEM
from cds.hooks.triage_form import TriageForm
from cds.settings import Settings
from cds.triage.labels import field_label
from cds.web.app import create_app
from tests.common.fhir_builders import birth_date, bundle, encounter_to_resources
from tests.common.hooks_calls import SERVICE, auth, call_body, hooks_app
from tests.common.jwt_keys import BASE_URL, SERVICE_AUD
from tests.common.openapi_check import ValidatingClient
from tests.common.paths import ROOT, RULES_DIR

KEY = secrets.token_bytes(32)
TTL = 120
AGE = 52
PATIENT_ID = "p1"
NAME = ("Quigley", "Ottoline")
MRN = "MRN-993311"
ENCOUNTER_ID = "enc-5540"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
FEEDBACK = f"{SERVICE}/feedback"
COMMENT = "Ottoline Quigley MRN-993311 seen at home by GP"

# What the prefetch below tells the service, as the form's field paths: exactly what the token holds.
EXPECTED_ANSWERS = {
    "patient.age_years": AGE,
    "patient.sex": "female",
    "vitals.temperature_c": 38.3,
    "vitals.heart_rate": 96,
    "symptoms.cough": True,
    # not pain.sites: the Condition "Low back pain" names one site and says nothing of the others;
    # the form reads a list as every site, so a partial list stays out and the nurse asks
}


def make_app(tmp_path, *, key: bytes | None = KEY):
    env = {"CDS_FORM_LINK_TTL_SECONDS": str(TTL)}
    if key is not None:
        env["CDS_FORM_LINK_KEY"] = base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")
    return hooks_app(tmp_path, **env)


@pytest.fixture
def hooks(tmp_path):
    return make_app(tmp_path).test_client()


def low_back_pain(now: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "low-back-pain",
        "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION, "code": "confirmed"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "279039007", "display": "Low back pain"}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "recordedDate": now.isoformat().replace("+00:00", "Z"),
    }


def prefetch(vitals: dict[str, Any] | None = None) -> dict[str, Any]:
    """An adult with a name, an MRN, a fever, a fast pulse, a cough and low back pain."""
    encounter = {
        "vitals": vitals or {"temperature_c": 38.3, "heart_rate": 96},
        "symptoms": {"cough": True},
    }
    resources = encounter_to_resources(encounter, date.today(), patient_id=PATIENT_ID)
    patient = {
        **resources[0],
        "gender": "female",
        "birthDate": birth_date(AGE, date.today()),
        "name": [{"family": NAME[0], "given": [NAME[1]]}],
        "identifier": [{"system": "https://hospital.example.org/mrn", "value": MRN}],
    }
    return {
        "patient": patient,
        "vitals": bundle([r for r in resources[1:] if r["resourceType"] == "Observation"]),
        "conditions": bundle([low_back_pain(datetime.now(UTC))]),
        "findings": bundle([]),
        "labs": bundle([]),
    }


def call(client, prefetch_doc: dict[str, Any], hook_instance: str, headers: dict[str, str] | None = None):
    body = call_body(prefetch_doc, hookInstance=hook_instance)
    body["context"]["encounterId"] = ENCOUNTER_ID
    response = client.post(SERVICE, json=body, headers=auth() if headers is None else headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["cards"]


def ask_next(cards: list[dict[str, Any]], hook_instance: str) -> dict[str, Any]:
    return next(c for c in cards if c["uuid"] == card_uuid(hook_instance, "ask-next"))


def numbered(detail: str) -> list[str]:
    """The questions of an ask-next card, without the flags each is for."""
    items = [re.fullmatch(r"(\d+)\. (.*) \*\(for .*\)\*", line) for line in detail.splitlines()]
    asked = [m for m in items if m is not None]
    assert [int(m[1]) for m in asked] == list(range(1, len(asked) + 1))
    return [m[2] for m in asked]


def the_token(card: dict[str, Any]) -> str:
    (link,) = card["links"]
    fragment = urlsplit(link["url"]).fragment
    assert fragment.startswith("prefill=")
    return fragment.removeprefix("prefill=")


# --- the ask-next card ------------------------------------------------------------------------


def test_the_ask_next_card_reads_the_questions_aloud(hooks, catalogue):
    instance = str(uuid.uuid4())
    card = ask_next(call(hooks, prefetch(), instance), instance)
    asked = numbered(card["detail"])
    assert len(asked) == 5 and card["summary"].startswith("Ask next: 5 questions")
    texts = {q.text for q in catalogue.questions}
    labels = {field_label(q.path) for q in catalogue.questions}
    for line in asked:
        assert line in texts  # the question as the nurse reads it aloud
        assert line not in labels  # not the field's label


def test_the_questions_come_most_dangerous_first_in_the_order_of_missing(evaluate, rulebase, catalogue):
    result = evaluate({"patient": {"age_years": 40}, "vitals": {"temperature_c": 38.3}, "symptoms": {"cough": True}})
    form = TriageForm(catalogue, BASE_URL, None, TTL, {"vitals.temperature_c": 38.3, "symptoms.cough": True})
    card = ask_next(build_cards(result, [], "i-1", rulebase, form), "i-1")
    expected = [catalogue.by_path[m["field"]].text for m in result["missing"]][:5]
    assert numbered(card["detail"]) == expected


def test_a_follow_up_the_form_would_not_show_is_not_listed(catalogue):
    blank = TriageForm(catalogue, BASE_URL, None, TTL, {})
    progressive = "symptoms.leg_weakness_progressive"
    assert blank.question(progressive) is catalogue.by_path[progressive]
    no_weakness = TriageForm(catalogue, BASE_URL, None, TTL, {"symptoms.leg_weakness": "none"})
    assert no_weakness.question(progressive) is None


def test_the_link_is_absolute_to_the_form_with_the_token_in_the_fragment_only(hooks):
    instance = str(uuid.uuid4())
    card = ask_next(call(hooks, prefetch(), instance), instance)
    (link,) = card["links"]
    assert link["label"] == "Open the triage form" and link["type"] == "absolute"
    parts = urlsplit(link["url"])
    assert f"{parts.scheme}://{parts.netloc}" == BASE_URL
    assert parts.path == "/triage"
    assert parts.query == "" and "?" not in link["url"]
    assert re.fullmatch(r"prefill=[A-Za-z0-9_-]+", parts.fragment)
    # outside the sealed token; what the token holds is proved by opening it (the next test):
    # random base64 may spell "p1" by chance
    for said in (PATIENT_ID, ENCOUNTER_ID, instance, MRN, *NAME, "Practitioner"):
        assert said not in link["url"].partition("#")[0]


def test_the_token_opens_with_the_key_and_holds_exactly_the_clinical_values(hooks):
    instance = str(uuid.uuid4())
    token = the_token(ask_next(call(hooks, prefetch(), instance), instance))
    answers = open_token(KEY, token)
    assert answers == EXPECTED_ANSWERS
    plain = json.dumps(answers)
    for said in (PATIENT_ID, ENCOUNTER_ID, instance, MRN, *NAME, "Practitioner"):
        assert said not in plain
    with pytest.raises(LinkError):
        open_token(secrets.token_bytes(32), token)  # another key opens nothing


def test_the_token_expires_after_the_ttl(hooks):
    instance = str(uuid.uuid4())
    before = time.time()
    token = the_token(ask_next(call(hooks, prefetch(), instance), instance))
    after = time.time()
    assert open_token(KEY, token, now=before + TTL - 2) == EXPECTED_ANSWERS
    with pytest.raises(LinkError, match="expired"):
        open_token(KEY, token, now=after + TTL + 1)


def test_a_link_sealed_at_a_given_time_expires_ttl_seconds_later(catalogue):
    form = TriageForm(catalogue, BASE_URL, KEY, TTL, {"vitals.heart_rate": 96, "pain.sites": ["neck"]})
    url = form.link(now=1_000_000.0)["url"]
    token = urlsplit(url).fragment.removeprefix("prefill=")
    assert open_token(KEY, token, now=1_000_000.0 + TTL - 1) == {"vitals.heart_rate": 96, "pain.sites": ["neck"]}
    with pytest.raises(LinkError, match="expired"):
        open_token(KEY, token, now=1_000_000.0 + TTL + 1)


def test_without_a_key_the_card_links_to_the_blank_form(tmp_path):
    client = make_app(tmp_path, key=None).test_client()
    instance = str(uuid.uuid4())
    card = ask_next(call(client, prefetch(), instance), instance)
    assert card["links"] == [{"label": "Open the triage form", "type": "absolute", "url": f"{BASE_URL}/triage"}]


def test_without_a_public_address_the_link_uses_the_address_called():
    # only a test's settings can leave CDS_PUBLIC_BASE_URL out (it is required with issuers)
    app = create_app(Settings(rules_dir=RULES_DIR, hooks_jwt=False, form_link_key=KEY), {"TESTING": True})
    app.test_client_class = ValidatingClient
    instance = str(uuid.uuid4())
    card = ask_next(call(app.test_client(), prefetch(), instance, headers={}), instance)
    url = card["links"][0]["url"]
    assert url.startswith("http://localhost/triage#prefill=")
    assert open_token(KEY, url.split("#prefill=", 1)[1]) == EXPECTED_ANSWERS


def test_the_token_never_reaches_the_logs(hooks, capsys):
    capsys.readouterr()
    instance = str(uuid.uuid4())
    token = the_token(ask_next(call(hooks, prefetch(), instance), instance))
    out = capsys.readouterr().out
    assert "cds_hooks_call" in out
    assert token not in out and "prefill" not in out


# --- override reasons and feedback --------------------------------------------------------------


def flag_card(client) -> dict[str, Any]:
    instance = str(uuid.uuid4())
    cards = call(client, prefetch({"temperature_c": 38.3, "heart_rate": 96, "systolic_bp": 85}), instance)
    return next(c for c in cards if c["uuid"] == card_uuid(instance, "flag/sepsis"))


def test_flag_cards_offer_our_override_reasons_with_displays(hooks):
    card = flag_card(hooks)
    reasons = card["overrideReasons"]
    assert [r["code"] for r in reasons] == list(REASONS)
    for reason in reasons:
        assert reason["system"] == SYSTEM == "https://cds.invalid/fhir/CodeSystem/override-reason"
        assert reason["display"] == REASONS[reason["code"]] and reason["display"].strip()
    assert REASONS["already-actioned"] == "Already referred or ambulance called"


def item(reason: dict[str, Any] | None = None, comment: str | None = None, outcome: str = "overridden"):
    out: dict[str, Any] = {"card": str(uuid.uuid4()), "outcome": outcome, "outcomeTimestamp": "2026-11-20T10:05:31Z"}
    override: dict[str, Any] = {}
    if reason is not None:
        override["reason"] = reason
    if comment is not None:
        override["userComment"] = comment
    if override:
        out["overrideReason"] = override
    if outcome == "accepted":
        out["acceptedSuggestions"] = [{"id": "s-1"}]
    return out


def feedback_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "cds_hooks_feedback"]


def post_feedback(client, *items: dict[str, Any]):
    return client.post(FEEDBACK, json={"feedback": list(items)}, headers=auth(f"{SERVICE_AUD}/feedback"))


def test_each_reason_a_card_offers_is_accepted_back_and_recorded_by_code(hooks, capsys):
    reasons = flag_card(hooks)["overrideReasons"]
    capsys.readouterr()
    response = post_feedback(hooks, *(item(reason) for reason in reasons))
    assert response.status_code == 200 and response.get_json() == {"received": len(reasons)}
    lines = feedback_lines(capsys.readouterr().out)
    assert [line["reason_code"] for line in lines] == list(REASONS)
    assert all(line["comment_dropped"] is False for line in lines)
    for reason in reasons:  # the code, never the display
        assert all(reason["display"] not in json.dumps(line) for line in lines)


def test_a_comment_is_accepted_dropped_and_never_logged(hooks, capsys):
    capsys.readouterr()
    ours = {"system": SYSTEM, "code": "patient-declined", "display": "Patient declined the advice"}
    response = post_feedback(hooks, item(ours, COMMENT), item(None, COMMENT))
    assert response.status_code == 200 and response.get_json() == {"received": 2}
    out = capsys.readouterr().out
    with_reason, comment_only = feedback_lines(out)
    assert with_reason["reason_code"] == "patient-declined" and with_reason["comment_dropped"] is True
    assert comment_only["reason_code"] is None and comment_only["comment_dropped"] is True
    for said in (COMMENT, "Ottoline", "Quigley", "993311", "seen at home"):
        assert said not in out


@pytest.mark.parametrize(
    "reason",
    [
        {"system": "https://example.com/cds-hooks/override-reason-system", "code": "d7ecf885"},  # the spec's example
        {"system": "https://example.com/cds-hooks/override-reason-system", "code": "patient-declined"},
        {"system": SYSTEM, "code": "free-text-as-a-code"},
        {"system": SYSTEM.upper(), "code": "patient-declined"},
    ],
)
def test_a_reason_the_ehr_added_is_accepted_and_recorded_as_other(hooks, capsys, reason):
    """CDS Hooks lets an EHR add its own reasons: the batch is kept, the foreign code is not."""
    capsys.readouterr()
    ours = {"system": SYSTEM, "code": "already-actioned"}
    response = post_feedback(hooks, item(ours), item({**reason, "display": "Ottoline"}, COMMENT))
    assert response.status_code == 200
    out = capsys.readouterr().out
    assert [line["reason_code"] for line in feedback_lines(out)] == ["already-actioned", "other"]
    for said in (COMMENT, "d7ecf885", "free-text-as-a-code", "Ottoline"):
        assert said not in out


def test_a_reason_is_recorded_the_same_way_whatever_the_outcome(hooks, capsys):
    capsys.readouterr()
    foreign = {"system": "https://ehr.example.com/reasons", "code": "x"}
    assert post_feedback(hooks, item(foreign, outcome="accepted")).status_code == 200
    assert [line["reason_code"] for line in feedback_lines(capsys.readouterr().out)] == ["other"]


def test_the_contract_lists_the_same_override_reasons():
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    schema = spec["components"]["schemas"]["OverrideReason"]
    assert schema["properties"]["system"]["const"] == SYSTEM
    assert schema["properties"]["code"]["enum"] == list(REASONS)
