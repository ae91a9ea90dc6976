"""Findings: CDS_AUTH=off also switched off the CDS Hooks JWT checks and was allowed on
0.0.0.0, and /metrics was open to anyone (showing which rules fired). Properties: CDS_AUTH=off
opens /v1/evaluate only, and only on loopback; CDS Hooks JWTs cannot be switched off by the
environment; /metrics needs the metrics token, or a peer on this machine when none is set."""

from __future__ import annotations

import pytest

from cds.settings import Settings
from cds.web.app import create_app
from tests.common.hooks_calls import hooks_env
from tests.common.paths import RULES_DIR
from tests.common.servers import STARTUP_SECONDS, free_port, gunicorn, request
from tests.common.vignettes import VIGNETTES

TOKEN = "metrics-token-0123456789"


@pytest.mark.slow
def test_auth_off_is_refused_beyond_loopback(tmp_path):
    env = {"CDS_BIND": f"0.0.0.0:{free_port()}", "CDS_AUTH": "off", "CDS_API_KEYS": "k" * 16}
    with gunicorn(tmp_path, env=env, wait=False) as (proc, _port):
        assert proc.wait(timeout=STARTUP_SECONDS) != 0
    log = next(tmp_path.glob("gunicorn-*.log")).read_text()
    assert "CDS_AUTH=off: it is for a server on loopback only" in log


@pytest.mark.slow
def test_auth_off_opens_evaluate_on_loopback_and_nothing_else(tmp_path):
    with gunicorn(tmp_path, workers=1, env=hooks_env(tmp_path, CDS_AUTH="off")) as (_proc, port):
        assert request(port, "POST", "/v1/evaluate", VIGNETTES["D05"]["encounter"])[0] == 200
        assert request(port, "GET", "/cds-services")[0] == 401
        assert request(port, "POST", "/cds-services/back-pain-triage", {"hook": "patient-view"})[0] == 401


def test_the_environment_cannot_switch_jwt_checks_off(tmp_path):
    for auth in ("off", "OFF", "auto", ""):
        settings = Settings.from_env(hooks_env(tmp_path, CDS_AUTH=auth))
        assert settings.hooks_jwt
        assert create_app(settings).test_client().get("/cds-services").status_code == 401


def metrics_status(settings: Settings, peer: str, headers: dict[str, str] | None = None) -> int:
    client = create_app(settings).test_client()
    return client.get("/metrics", headers=headers or {}, environ_base={"REMOTE_ADDR": peer}).status_code


def test_metrics_without_a_token_only_for_this_machine():
    settings = Settings(rules_dir=RULES_DIR)
    assert metrics_status(settings, "203.0.113.9") == 401
    assert metrics_status(settings, "10.0.0.8") == 401
    assert metrics_status(settings, "127.0.0.1") == 200
    assert metrics_status(settings, "::1") == 200


def test_metrics_with_a_token_need_it_from_everyone():
    settings = Settings.from_env({"CDS_RULES_DIR": str(RULES_DIR), "CDS_METRICS_TOKEN": TOKEN})
    assert metrics_status(settings, "127.0.0.1") == 401
    assert metrics_status(settings, "203.0.113.9", {"Authorization": "Bearer wrong-token-0123456789"}) == 401
    assert metrics_status(settings, "203.0.113.9", {"Authorization": f"Bearer {TOKEN}"}) == 200
    # the API keys of /v1/evaluate are not metrics credentials
    both = Settings.from_env({"CDS_RULES_DIR": str(RULES_DIR), "CDS_METRICS_TOKEN": TOKEN, "CDS_API_KEYS": "a" * 16})
    assert metrics_status(both, "203.0.113.9", {"Authorization": "Bearer " + "a" * 16}) == 401


@pytest.mark.slow
def test_metrics_on_the_real_server_need_the_token(tmp_path):
    with gunicorn(tmp_path, workers=1, env={"CDS_METRICS_TOKEN": TOKEN}) as (_proc, port):
        assert request(port, "GET", "/metrics")[0] == 401
        assert request(port, "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
