"""CDS Hooks calls for tests: a trusted EHR's key and JWK Set file, signed bearer tokens, call
bodies, and the settings (or environment) that trust that EHR."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Flask

from cds.settings import Settings
from cds.web.app import create_app
from tests.common.jwt_keys import BASE_URL, ISSUER, SERVICE_AUD, bearer, claims, ec_key, jwks, sign
from tests.common.paths import ROOT

SERVICE = "/cds-services/back-pain-triage"
EHR_KEY = ec_key("security-ehr-1")
OTHER_ISSUER = "https://other-ehr.example.net/"
OTHER_KEY = ec_key("security-other-1")


def issuers_json(tmp_path: Path, fhir_servers: tuple[str, ...] = (), fhir_networks: tuple[str, ...] = ()) -> str:
    """CDS_TRUSTED_ISSUERS: the test EHR (ISSUER) and a second one (OTHER_ISSUER), each with a
    JWK Set file; the FHIR servers and networks are the test EHR's."""
    ehr, other = tmp_path / "ehr.jwks.json", tmp_path / "other.jwks.json"
    ehr.write_text(json.dumps(jwks(EHR_KEY)))
    other.write_text(json.dumps(jwks(OTHER_KEY)))
    return json.dumps(
        {
            ISSUER: {"jwks": str(ehr), "fhir_servers": list(fhir_servers), "fhir_networks": list(fhir_networks)},
            OTHER_ISSUER: str(other),
        }
    )


def hooks_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "CDS_RULES_DIR": str(ROOT / "rules"),
        "CDS_TRUSTED_ISSUERS": issuers_json(tmp_path),
        "CDS_PUBLIC_BASE_URL": BASE_URL,
        **extra,
    }


def hooks_app(tmp_path: Path, fhir_servers: tuple[str, ...] = (), **env: str) -> Flask:
    """The app, trusting the test EHRs (the FHIR servers are ISSUER's), from the environment
    with `env` added; its test client checks every exchange against openapi.yaml."""
    from tests.common.openapi_check import ValidatingClient

    base = {**hooks_env(tmp_path), "CDS_TRUSTED_ISSUERS": issuers_json(tmp_path, fhir_servers), **env}
    app = create_app(Settings.from_env(base), {"TESTING": True})
    app.test_client_class = ValidatingClient
    return app


def hooks_settings(tmp_path: Path, fhir_servers: tuple[str, ...] = (), **extra: Any) -> Settings:
    env = {**hooks_env(tmp_path), "CDS_TRUSTED_ISSUERS": issuers_json(tmp_path, fhir_servers)}
    settings = Settings.from_env(env)
    return replace(settings, **extra) if extra else settings


def token(
    aud: str = SERVICE_AUD, *, issuer: str = ISSUER, headers: dict[str, Any] | None = None, **changes: Any
) -> str:
    key = EHR_KEY if issuer == ISSUER else OTHER_KEY
    return sign(key, claims(aud=aud, iss=issuer, **changes), **(headers or {}))


def auth(aud: str = SERVICE_AUD, **changes: Any) -> dict[str, str]:
    return {"Authorization": bearer(token(aud, **changes))}


def fhir_auth(access_token: str = "ehr-access-token") -> dict[str, Any]:
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-back-pain",
    }


def call_body(prefetch: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": "p1"},
        **extra,
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def empty_prefetch(patient_id: str = "p1") -> dict[str, Any]:
    """A complete prefetch of an adult with nothing else recorded."""
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    return {
        "patient": {"resourceType": "Patient", "id": patient_id, "birthDate": "1980-01-01"},
        "vitals": bundle,
        "conditions": bundle,
        "findings": bundle,
        "labs": bundle,
    }
