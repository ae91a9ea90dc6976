"""Test-only builders for CDS Hooks client keys, JWK Sets, signed/forged JWTs and a loopback JWKS server."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.api_jws import PyJWS

from tests.common.loopback import serve

ISSUER = "https://ehr.example.com/"
BASE_URL = "https://cds.example.org"
DISCOVERY_AUD = f"{BASE_URL}/cds-services"
SERVICE_AUD = f"{BASE_URL}/cds-services/back-pain-triage"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class ClientKey:
    private: PrivateKey
    kid: str
    alg: str

    def jwk(self, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            data = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            data = RSAAlgorithm.to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig", **extra}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def ec_key(kid: str = "ec-1") -> ClientKey:
    return ClientKey(ec.generate_private_key(ec.SECP384R1()), kid, "ES384")


@functools.cache
def _rsa_private(bits: int, slot: int) -> rsa.RSAPrivateKey:
    # RSA 3072 generation takes a noticeable fraction of a second: share a few keys per session.
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def rsa_key(kid: str = "rsa-1", *, bits: int = 3072, slot: int = 0) -> ClientKey:
    return ClientKey(_rsa_private(bits, slot), kid, "RS384")


def jwks(*keys: ClientKey) -> dict[str, Any]:
    return {"keys": [k.jwk() for k in keys]}


def claims(*, now: float | None = None, **changes: Any) -> dict[str, Any]:
    """A valid CDS Hooks payload; ``changes`` override claims, a value of None removes the claim."""
    now = time.time() if now is None else now
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": SERVICE_AUD,
        "exp": int(now) + 300,
        "iat": int(now),
        "jti": str(uuid.uuid4()),
        "tenant": "2ddd6c3a-8e9a-44c6-a305-52111ad302a2",
    }
    for name, value in changes.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def sign(key: ClientKey, payload: dict[str, Any], **headers: Any) -> str:
    """A JWT signed by ``key``; header fields may be overridden or, with None, removed.

    The payload is signed as given (PyJWT's jwt.encode would refuse e.g. a non-string ``iss``).
    """
    header: dict[str, Any] = {"kid": key.kid, "typ": "JWT"}
    header.update(headers)
    header = {k: v for k, v in header.items() if v is not None}
    return PyJWS().encode(json.dumps(payload).encode(), key.private, algorithm=key.alg, headers=header)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None = None) -> str:
    """A token PyJWT refuses to produce: unsigned (``alg: none``) or HMAC-signed with ``hmac_key``."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    if hmac_key is None:
        return signing_input + "."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[header["alg"]]
    return f"{signing_input}.{b64url(hmac.new(hmac_key, signing_input.encode(), digest).digest())}"


def bearer(token: str) -> str:
    return f"Bearer {token}"


@dataclass
class JwksServer:
    """A JWK Set served over HTTP on 127.0.0.1; ``document`` may be replaced, ``status`` set to fail."""

    document: Any
    status: int = 200
    requests: list[str] = field(default_factory=list)
    url: str = ""


@contextmanager
def serve_jwks(document: Any) -> Iterator[JwksServer]:
    state = JwksServer(document)

    def respond(path: str, headers: Any) -> tuple[int, str, bytes]:
        state.requests.append(path)
        body = state.document if isinstance(state.document, bytes) else json.dumps(state.document).encode()
        return state.status, "application/json", body

    with serve(respond) as base:
        state.url = f"{base}/jwks.json"
        yield state
