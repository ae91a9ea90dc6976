"""Findings: tokens with `exp` ten years ahead (or 1e300) were accepted, `typ` was optional, and
JWKS fetches followed redirects to other hosts and down to http, with no overall deadline.
Properties: a token lives at most the configured lifetime (5 minutes by default) after its
`iat`, `iat` is not in the future beyond the leeway, `typ` is JWT; a JWK Set is fetched once
per need, without redirects, within its deadline, and without holding up other issuers."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import jwt
import pytest
from jwt.api_jws import PyJWS

from cds.hooks.client_auth import AuthError, HooksAuthConfig, JwtVerifier
from tests.common.jwt_keys import BASE_URL, ISSUER, SERVICE_AUD, bearer, claims, ec_key, jwks, sign
from tests.common.loopback import raw_peer, serve
from tests.common.slow_peer import drip

KEY = ec_key("hardening-1")
OTHER = "https://other.example.net/"


@pytest.fixture
def verifier(tmp_path) -> JwtVerifier:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(KEY)))
    return JwtVerifier(HooksAuthConfig({ISSUER: str(path)}, BASE_URL))


def refused(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(AuthError) as info:
        verifier.verify(bearer(token), SERVICE_AUD)
    return info.value.reason


@pytest.mark.parametrize("lifetime", [10 * 365 * 86400, 1e300, 301])
def test_a_token_living_longer_than_five_minutes_is_refused(verifier, lifetime):
    now = int(time.time())
    assert refused(verifier, sign(KEY, claims(iat=now, exp=now + lifetime))) == "lifetime_too_long"


def test_a_five_minute_token_is_accepted(verifier):
    now = int(time.time())
    assert verifier.verify(bearer(sign(KEY, claims(iat=now, exp=now + 300))), SERVICE_AUD)["iss"] == ISSUER


def test_the_lifetime_is_configurable(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(KEY)))
    short = JwtVerifier(HooksAuthConfig({ISSUER: str(path)}, BASE_URL, max_lifetime_seconds=60))
    now = int(time.time())
    assert refused(short, sign(KEY, claims(iat=now, exp=now + 120))) == "lifetime_too_long"


def test_a_token_issued_in_the_future_is_refused(verifier):
    later = int(time.time()) + 3600
    assert refused(verifier, sign(KEY, claims(iat=later, exp=later + 60))) == "issued_in_future"


def test_typ_jwt_is_required(verifier):
    # PyJWT writes typ JWT unless told to leave it out (a falsy typ)
    untyped = PyJWS().encode(
        json.dumps(claims()).encode(), KEY.private, algorithm="ES384", headers={"kid": KEY.kid, "typ": ""}
    )
    assert "typ" not in jwt.get_unverified_header(untyped) and refused(verifier, untyped) == "bad_typ"
    for typ in ("at+jwt", "JOSE", 1):
        assert refused(verifier, sign(KEY, claims(), typ=typ)) == "bad_typ"


def test_a_jwks_redirect_is_not_followed(tmp_path):
    hits: list[str] = []

    def target(path: str, headers: Any) -> tuple[int, str, bytes]:
        hits.append(path)
        return 200, "application/json", json.dumps(jwks(KEY)).encode()

    with serve(target) as elsewhere:

        def redirect(path: str, headers: Any) -> tuple[Any, ...]:
            return 302, "application/json", b"", {"Location": f"{elsewhere}/jwks.json"}

        with serve(redirect) as issuer_host:
            verifier = JwtVerifier(HooksAuthConfig({ISSUER: f"{issuer_host}/jwks.json"}, BASE_URL), fetch_timeout=2)
            assert refused(verifier, sign(KEY, claims())) == "jwks_unavailable"
    assert hits == []  # the other host was never asked


def slow_jwks(conn: socket.socket, stop: threading.Event) -> None:
    """A JWKS host that accepts and then sends one byte every 50 ms, forever."""
    drip(conn, stop, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b" ")


def test_a_dripping_jwks_host_is_abandoned_at_the_deadline_and_holds_up_no_other_issuer(tmp_path):
    other_key = ec_key("other-1")
    path = tmp_path / "other.json"
    path.write_text(json.dumps(jwks(other_key)))
    with raw_peer(slow_jwks) as where:
        url = f"http://{where}/jwks.json"
        verifier = JwtVerifier(HooksAuthConfig({ISSUER: url, OTHER: str(path)}, BASE_URL), fetch_timeout=1.0)
        outcome: list[str] = []

        def slow_issuer() -> None:
            started = time.monotonic()
            try:
                verifier.verify(bearer(sign(KEY, claims())), SERVICE_AUD)
                outcome.append("accepted")
            except AuthError as err:
                outcome.append(err.reason)
            outcome.append(f"{time.monotonic() - started:.2f}")

        waiting = threading.Thread(target=slow_issuer)
        waiting.start()
        time.sleep(0.2)
        started = time.monotonic()
        assert verifier.verify(bearer(sign(other_key, claims(iss=OTHER))), SERVICE_AUD)["iss"] == OTHER
        assert time.monotonic() - started < 0.5  # not queued behind the slow fetch
        waiting.join(timeout=10)
        assert outcome[0] == "jwks_unavailable"
        assert float(outcome[1]) < 2.0, outcome  # one deadline, not a timeout renewed by each byte
