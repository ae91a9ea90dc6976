"""Fixtures only (helpers live in tests/common): the rule base, the decision core, the question
catalogue and the interview, and the app with a client that validates every request and
response against openapi.yaml."""

from typing import Any

import pytest

from cds.settings import Settings
from cds.triage import load_encounter, load_rulebase, triage_for
from cds.triage.interview import NEXT_LIMIT, Interview, InterviewResult
from cds.triage.questions import load_questions
from cds.web.app import create_app
from tests.common.openapi_check import ValidatingClient
from tests.common.paths import RULES_DIR


@pytest.fixture(scope="session")
def rulebase():
    return load_rulebase(RULES_DIR)


@pytest.fixture(scope="session")
def triage(rulebase):
    return triage_for(rulebase)


@pytest.fixture(scope="session")
def decider(triage):
    return triage.decider


@pytest.fixture(scope="session")
def evaluate(triage):
    def run(enc: dict[str, Any]) -> dict[str, Any]:
        return triage.evaluate_document(enc)

    return run


@pytest.fixture(scope="session")
def catalogue(rulebase):
    return load_questions(RULES_DIR, rulebase)


@pytest.fixture(scope="session")
def interview(triage, catalogue):
    def run(enc: dict[str, Any], limit: int = NEXT_LIMIT) -> InterviewResult:
        return Interview(triage, catalogue).run(load_encounter(enc), limit)

    return run


@pytest.fixture
def app():
    app = create_app(Settings(rules_dir=RULES_DIR), {"TESTING": True})
    app.test_client_class = ValidatingClient
    yield app


@pytest.fixture
def client(app):
    return app.test_client()
