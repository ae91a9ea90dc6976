"""Access control for /v1/evaluate (API keys, as SHA-256 digests, compared in constant time)
and the refusal to listen beyond loopback with the endpoint open by accident."""

import hashlib

import pytest

from cds.net import is_loopback_bind as is_loopback
from cds.settings import Settings, SettingsError, exposure_problem
from cds.web.app import create_app
from tests.common.paths import ROOT
from tests.common.vignettes import VIGNETTES

KEY = "k3y-for-tests-0123456789"
OTHER = "another-key-for-tests-987654"


@pytest.fixture
def locked_client():
    from tests.common.openapi_check import ValidatingClient

    settings = Settings.from_env({"CDS_RULES_DIR": str(ROOT / "rules"), "CDS_API_KEYS": f"{KEY}, {OTHER}"})
    app = create_app(settings, {"TESTING": True})
    app.test_client_class = ValidatingClient
    return app.test_client()


def post(client, headers=None):
    return client.post("/v1/evaluate", json=VIGNETTES["D01"]["encounter"], headers=headers or {})


def test_no_key_is_401_problem_without_detail(locked_client):
    response = post(locked_client)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body == {"type": "https://cds.invalid/problems/unauthorized", "title": "Unauthorized", "status": 401}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="cds"'


@pytest.mark.parametrize(
    "header",
    [f"Bearer {KEY}x", f"Basic {KEY}", KEY, "Bearer ", "Bearer", f"bearer  {KEY[:-1]}", "Bearer sha256:abc"],
)
def test_wrong_keys_are_401(locked_client, header):
    assert post(locked_client, {"Authorization": header}).status_code == 401


@pytest.mark.parametrize("key", [KEY, OTHER])
def test_each_configured_key_is_accepted(locked_client, key):
    response = post(locked_client, {"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.get_json()["risk_level"] == "self_care"


def test_an_unauthorized_request_is_not_evaluated(locked_client, monkeypatch):
    from cds.triage import Triage

    def boom(*args, **kwargs):  # pragma: no cover - must not run
        raise AssertionError("evaluated without a key")

    monkeypatch.setattr(Triage, "evaluate_document", boom)
    assert post(locked_client).status_code == 401


def test_keys_may_be_given_as_digests():
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    settings = Settings.from_env({"CDS_RULES_DIR": str(ROOT / "rules"), "CDS_API_KEYS": f"sha256:{digest}"})
    client = create_app(settings).test_client()
    assert post(client, {"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert post(client, {"Authorization": f"Bearer {digest}"}).status_code == 401


def test_settings_keep_only_digests():
    settings = Settings.from_env({"CDS_API_KEYS": KEY})
    assert settings.api_key_hashes == (hashlib.sha256(KEY.encode()).digest(),)
    assert KEY not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CDS_API_KEYS": "short"}, "at least 16 characters"),
        ({"CDS_API_KEYS": "sha256:nothex"}, "64 hexadecimal digits"),
        ({"CDS_AUTH": "maybe"}, "CDS_AUTH must be on or off"),
        ({"CDS_AUTH": "on"}, "CDS_AUTH=on needs CDS_API_KEYS"),
        ({"CDS_MAX_BODY_BYTES": "lots"}, "CDS_MAX_BODY_BYTES must be an integer"),
        ({"CDS_MAX_BODY_BYTES": "10"}, "CDS_MAX_BODY_BYTES must be between"),
        # below what asked_unknown may hold (every optional clinical field) valid requests fail
        ({"CDS_MAX_ARRAY_ITEMS": "64"}, "CDS_MAX_ARRAY_ITEMS must be between 128"),
        ({"CDS_CORS_ORIGINS": "*"}, "CDS_CORS_ORIGINS must list exact origins"),
        ({"CDS_LOG_LEVEL": "LOUD"}, "CDS_LOG_LEVEL"),
    ],
)
def test_bad_settings_stop_the_start_up(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_the_array_limit_holds_every_field_asked_unknown_may_name():
    from cds.triage.fields import FIELDS

    askable = [f for f in FIELDS if f.clinical and not f.required]
    assert Settings.from_env({}).max_array_items >= len(askable)
    assert Settings.from_env({"CDS_MAX_ARRAY_ITEMS": "128"}).max_array_items >= len(askable)


def test_open_on_loopback_is_fine_without_keys(client):
    assert post(client).status_code == 200


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [
        ("127.0.0.1:8000", True),
        ("localhost:8000", True),
        ("[::1]:8000", True),
        ("unix:/tmp/cds.sock", True),
        ("0.0.0.0:8000", False),
        (":8000", False),
        ("[::]:8000", False),
        ("10.0.0.5:8000", False),
    ],
)
def test_loopback_detection(bind, loopback):
    assert is_loopback(bind) is loopback


def test_exposed_without_keys_or_with_auth_off_is_refused():
    assert "refusing to listen on 0.0.0.0:8000" in exposure_problem(["0.0.0.0:8000"], Settings.from_env({}))
    off = Settings.from_env({"CDS_AUTH": "off", "CDS_API_KEYS": KEY})
    assert "CDS_AUTH=off" in exposure_problem(["0.0.0.0:8000"], off)
    assert exposure_problem(["127.0.0.1:8000"], off) is None
    assert exposure_problem(["0.0.0.0:8000"], Settings.from_env({"CDS_API_KEYS": KEY})) is None
    assert exposure_problem(["127.0.0.1:8000"], Settings.from_env({})) is None
