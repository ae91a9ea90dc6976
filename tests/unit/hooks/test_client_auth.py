"""CDS Hooks JWT bearer authentication (cds.hooks.client_auth): the attack and failure matrix."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.hooks.client_auth import (
    REQUIRED_CLAIMS,
    AuthError,
    HooksAuthConfig,
    JwtVerifier,
)
from cds.hooks.jwks import parse_jwks
from cds.settings import Settings, SettingsError
from tests.common.jwt_keys import (
    BASE_URL,
    DISCOVERY_AUD,
    ISSUER,
    SERVICE_AUD,
    ClientKey,
    b64url,
    bearer,
    claims,
    ec_key,
    forge,
    jwks,
    rsa_key,
    serve_jwks,
    sign,
)

FILE_ISSUER = "https://other-ehr.example.net"
LEEWAY = 60


class FakeClock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def ec() -> ClientKey:
    return ec_key("ec-1")


@pytest.fixture(scope="module")
def rsa() -> ClientKey:
    return rsa_key("rsa-1")


@pytest.fixture(scope="module")
def file_key() -> ClientKey:
    return ec_key("file-ec-1")


@pytest.fixture
def server(ec, rsa):
    with serve_jwks(jwks(ec, rsa)) as srv:
        yield srv


@pytest.fixture
def jwks_file(tmp_path, file_key):
    path = tmp_path / "other-ehr.jwks.json"
    path.write_text(json.dumps(jwks(file_key)))
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(server, jwks_file) -> HooksAuthConfig:
    return HooksAuthConfig(trusted_issuers={ISSUER: server.url, FILE_ISSUER: str(jwks_file)}, public_base_url=BASE_URL)


@pytest.fixture
def verifier(config, clock) -> JwtVerifier:
    return JwtVerifier(config, fetch_timeout=2.0, clock=clock)


def reason(verifier: JwtVerifier, header: str | None, audience: str = SERVICE_AUD) -> str:
    with pytest.raises(AuthError) as info:
        verifier.verify(header, audience)
    return info.value.reason


def token(key: ClientKey, clock: FakeClock, **changes: Any) -> str:
    return sign(key, claims(now=clock.now, **changes))


# --- valid tokens -------------------------------------------------------------------------------------


def test_valid_es384_passes(verifier, ec, clock):
    got = verifier.verify(bearer(token(ec, clock)), SERVICE_AUD)
    assert got["iss"] == ISSUER
    assert got["aud"] == SERVICE_AUD
    assert got["tenant"] == "2ddd6c3a-8e9a-44c6-a305-52111ad302a2"


def test_valid_rs384_passes(verifier, rsa, clock):
    assert verifier.verify(bearer(token(rsa, clock)), SERVICE_AUD)["iss"] == ISSUER


def test_discovery_audience_passes(verifier, ec, clock):
    assert verifier.verify(bearer(token(ec, clock, aud=DISCOVERY_AUD)), DISCOVERY_AUD)["aud"] == DISCOVERY_AUD


def test_aud_as_array_passes(verifier, ec, clock):
    aud = [DISCOVERY_AUD, SERVICE_AUD]
    assert verifier.verify(bearer(token(ec, clock, aud=aud)), SERVICE_AUD)["aud"] == aud
    assert verifier.verify(bearer(token(ec, clock, aud=[SERVICE_AUD])), SERVICE_AUD)


def test_scheme_is_case_insensitive(verifier, ec, clock):
    assert verifier.verify("bearer " + token(ec, clock), SERVICE_AUD)
    assert verifier.verify("BEARER " + token(ec, clock), SERVICE_AUD)


def test_typ_is_optional_and_case_insensitive(verifier, ec, clock):
    assert verifier.verify(bearer(sign(ec, claims(now=clock.now), typ=None)), SERVICE_AUD)
    assert verifier.verify(bearer(sign(ec, claims(now=clock.now), typ="jwt")), SERVICE_AUD)


def test_bad_typ_fails(verifier, ec, clock):
    assert reason(verifier, bearer(sign(ec, claims(now=clock.now), typ="at+jwt"))) == "bad_typ"


def test_file_jwks_passes(verifier, file_key, clock):
    got = verifier.verify(bearer(token(file_key, clock, iss=FILE_ISSUER)), SERVICE_AUD)
    assert got["iss"] == FILE_ISSUER


def test_jku_equal_to_configured_url_passes(verifier, server, ec, clock):
    assert verifier.verify(bearer(sign(ec, claims(now=clock.now), jku=server.url)), SERVICE_AUD)


# --- algorithm attacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_fails(verifier, ec, clock, alg):
    forged = forge({"alg": alg, "typ": "JWT", "kid": ec.kid}, claims(now=clock.now))
    assert reason(verifier, bearer(forged)) == "bad_alg"


def test_missing_alg_fails(verifier, ec, clock):
    assert reason(verifier, bearer(forge({"typ": "JWT", "kid": ec.kid}, claims(now=clock.now)))) == "bad_alg"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize("which", ["ec", "rsa"])
def test_hmac_signed_with_public_key_fails(verifier, ec, rsa, clock, alg, which):
    """The key-confusion attack: an HMAC keyed with the issuer's public key, which anyone can get."""
    key = ec if which == "ec" else rsa
    payload = claims(now=clock.now)
    for secret in (key.public_pem(), json.dumps(key.jwk()).encode()):
        forged = forge({"alg": alg, "typ": "JWT", "kid": key.kid}, payload, hmac_key=secret)
        assert reason(verifier, bearer(forged)) == "bad_alg"


def test_alg_not_matching_key_type_fails(verifier, ec, rsa, clock):
    # Signed with the RSA key but naming the EC key's kid: the alg must match the named key.
    impostor = ClientKey(rsa.private, ec.kid, "RS384")
    assert reason(verifier, bearer(token(impostor, clock))) == "bad_alg"


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS384", "ES512"])
def test_other_asymmetric_algorithms_fail(verifier, ec, rsa, clock, alg):
    from cryptography.hazmat.primitives.asymmetric import ec as ec_mod

    if alg.startswith("ES"):
        curve = ec_mod.SECP256R1() if alg == "ES256" else ec_mod.SECP521R1()
        key = ClientKey(ec_mod.generate_private_key(curve), ec.kid, alg)
    else:
        key = ClientKey(rsa.private, rsa.kid, alg)
    assert reason(verifier, bearer(token(key, clock))) == "bad_alg"


@pytest.mark.parametrize("extra", [{"crit": ["exp"]}, {"b64": False, "crit": ["b64"]}])
def test_critical_header_extensions_fail(verifier, ec, clock, extra):
    with pytest.raises(AuthError):
        verifier.verify(bearer(sign(ec, claims(now=clock.now), **extra)), SERVICE_AUD)


# --- keys and issuers ----------------------------------------------------------------------------------


def test_missing_kid_fails(verifier, ec, clock):
    assert reason(verifier, bearer(sign(ec, claims(now=clock.now), kid=None))) == "missing_kid"


def test_unknown_kid_fails(verifier, ec, clock):
    assert reason(verifier, bearer(token(ClientKey(ec.private, "nope", "ES384"), clock))) == "unknown_kid"


def test_key_of_other_issuer_fails(verifier, file_key, ec, clock):
    # A kid valid for one trusted issuer does not vouch for another.
    assert reason(verifier, bearer(token(file_key, clock, iss=ISSUER))) == "unknown_kid"
    assert reason(verifier, bearer(token(ec, clock, iss=FILE_ISSUER))) == "unknown_kid"


def test_unknown_issuer_fails(verifier, ec, clock):
    assert reason(verifier, bearer(token(ec, clock, iss="https://evil.example.com/"))) == "unknown_issuer"
    assert reason(verifier, bearer(token(ec, clock, iss=ISSUER.rstrip("/")))) == "unknown_issuer"


def test_non_string_issuer_fails(verifier, ec, clock):
    for iss in ([ISSUER], {"iss": ISSUER}, 1, True):
        assert reason(verifier, bearer(token(ec, clock, iss=iss))) == "unknown_issuer"


def test_foreign_jku_fails_without_fetching(verifier, server, clock):
    attacker = ec_key("ec-1")  # same kid as the real key, so only the jku could make it verify
    with serve_jwks(jwks(attacker)) as evil:
        forged = sign(attacker, claims(now=clock.now), jku=evil.url)
        assert reason(verifier, bearer(forged)) == "foreign_jku"
        assert evil.requests == []
    assert server.requests == []


@pytest.mark.parametrize("suffix", ["?x=1", "/", "#frag", " "])
def test_jku_near_the_configured_url_fails(verifier, server, ec, clock, suffix):
    assert reason(verifier, bearer(sign(ec, claims(now=clock.now), jku=server.url + suffix))) == "foreign_jku"


def test_jku_for_file_configured_issuer_fails(verifier, server, file_key, clock):
    forged = sign(file_key, claims(now=clock.now, iss=FILE_ISSUER), jku=server.url)
    assert reason(verifier, bearer(forged)) == "foreign_jku"
    assert server.requests == []


# --- claims --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "aud",
    [
        DISCOVERY_AUD,
        BASE_URL,
        SERVICE_AUD + "/",
        SERVICE_AUD.upper(),
        "https://cds.example.org/cds-services/other",
        [DISCOVERY_AUD],
    ],
)
def test_wrong_audience_fails(verifier, ec, clock, aud):
    assert reason(verifier, bearer(token(ec, clock, aud=aud))) == "bad_audience"


def test_token_for_service_is_not_valid_for_discovery(verifier, ec, clock):
    assert reason(verifier, bearer(token(ec, clock)), DISCOVERY_AUD) == "bad_audience"


def test_expiry_uses_leeway(verifier, ec, clock):
    now = int(clock.now)
    assert verifier.verify(bearer(token(ec, clock, exp=now - LEEWAY + 1)), SERVICE_AUD)
    assert reason(verifier, bearer(token(ec, clock, exp=now - LEEWAY))) == "expired"
    assert reason(verifier, bearer(token(ec, clock, exp=now - 3600))) == "expired"


def test_iat_in_future_uses_leeway(verifier, ec, clock):
    now = int(clock.now)
    assert verifier.verify(bearer(token(ec, clock, iat=now + LEEWAY)), SERVICE_AUD)
    assert reason(verifier, bearer(token(ec, clock, iat=now + LEEWAY + 1))) == "issued_in_future"


def test_nbf_in_future_fails(verifier, ec, clock):
    assert reason(verifier, bearer(token(ec, clock, nbf=int(clock.now) + 600))) == "not_yet_valid"


def test_token_ages_out(verifier, ec, clock):
    tok = bearer(token(ec, clock, exp=int(clock.now) + 30, jti="a"))
    clock.now += 30 + LEEWAY
    assert reason(verifier, tok) == "expired"


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_each_required_claim_missing_fails(verifier, ec, clock, claim):
    got = reason(verifier, bearer(sign(ec, claims(now=clock.now, **{claim: None}))))
    assert got == ("unknown_issuer" if claim == "iss" else "missing_claim")


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": "99999999999"},
        {"exp": True},
        {"exp": 1e400},
        {"iat": "0"},
        {"iat": [0]},
        {"nbf": "0"},
        {"jti": ""},
        {"jti": 42},
        {"jti": "x" * 1000},
        {"aud": 7},
        {"aud": []},
        {"aud": [SERVICE_AUD, 7]},
    ],
)
def test_wrongly_typed_claims_fail(verifier, ec, clock, changes):
    with pytest.raises(AuthError):
        verifier.verify(bearer(token(ec, clock, **changes)), SERVICE_AUD)


# --- replay --------------------------------------------------------------------------------------------


def test_replayed_jti_fails(verifier, ec, clock):
    tok = bearer(token(ec, clock))
    assert verifier.verify(tok, SERVICE_AUD)
    assert reason(verifier, tok) == "replayed"


def test_same_jti_in_a_fresh_token_is_replayed(verifier, ec, rsa, clock):
    assert verifier.verify(bearer(token(ec, clock, jti="n-1")), SERVICE_AUD)
    assert reason(verifier, bearer(token(rsa, clock, jti="n-1", aud=[SERVICE_AUD]))) == "replayed"


def test_jti_is_per_issuer(verifier, ec, file_key, clock):
    assert verifier.verify(bearer(token(ec, clock, jti="n-1")), SERVICE_AUD)
    assert verifier.verify(bearer(token(file_key, clock, jti="n-1", iss=FILE_ISSUER)), SERVICE_AUD)


def test_rejected_token_does_not_burn_its_jti(verifier, ec, clock):
    assert reason(verifier, bearer(token(ec, clock, jti="n-1")), DISCOVERY_AUD) == "bad_audience"
    assert verifier.verify(bearer(token(ec, clock, jti="n-1")), SERVICE_AUD)


def test_concurrent_replays_accept_exactly_one(verifier, ec, clock):
    tok = bearer(token(ec, clock))
    verifier.verify(bearer(token(ec, clock)), SERVICE_AUD)  # warm the JWKS cache
    barrier = threading.Barrier(16)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait(timeout=10)
        try:
            verifier.verify(tok, SERVICE_AUD)
            outcomes.append("ok")
        except AuthError as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(outcomes) == ["ok"] + ["replayed"] * 15


# --- tampering and garbage -----------------------------------------------------------------------------


def test_tampered_payload_fails(verifier, ec, clock):
    header, _, sig = token(ec, clock).split(".")
    for changes in ({"aud": DISCOVERY_AUD}, {"tenant": "someone-else"}, {"exp": int(clock.now) + 10**6}):
        payload = b64url(json.dumps(claims(now=clock.now, **changes)).encode())
        assert reason(verifier, bearer(f"{header}.{payload}.{sig}")) == "bad_signature"


def test_tampered_header_fails(verifier, ec, clock):
    _, payload, sig = token(ec, clock).split(".")
    header = b64url(json.dumps({"alg": "ES384", "kid": ec.kid, "typ": "JWT", "x": 1}).encode())
    assert reason(verifier, bearer(f"{header}.{payload}.{sig}")) == "bad_signature"


def test_tampered_signature_fails(verifier, ec, rsa, clock):
    for key in (ec, rsa):
        head, payload, sig = token(key, clock).split(".")
        flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
        assert reason(verifier, bearer(f"{head}.{payload}.{flipped}")) == "bad_signature"
        assert reason(verifier, bearer(f"{head}.{payload}.")) == "bad_signature"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer abc",
        "Bearer a.b.c",
        "Bearer ...",
        "Basic xyz",
        "Basic dXNlcjpwYXNz",
        "Token abc.def.ghi",
        "Bearer  abc.def.ghi",
        "Bearer abc.def.ghi extra",
        "Bearer " + "a" * 20_000 + ".b.c",
        "Bearer e30.e30.",
        "Bearer W10.W10.c2ln",
        "Bearer bnVsbA.bnVsbA.c2ln",
        "Bearer eyJhbGciOiJFUzM4NCJ9.!!!.abc",
        "Bearer \u00e9\u00e9.\u00e9.\u00e9",
        "Bearer\tabc.def.ghi",
    ],
)
def test_garbage_fails(verifier, header):
    with pytest.raises(AuthError):
        verifier.verify(header, SERVICE_AUD)


def test_random_bytes_fail(verifier):
    for _ in range(50):
        raw = os.urandom(64)
        for header in (raw.decode("latin-1"), "Bearer " + raw.decode("latin-1"), bearer(b64url(raw))):
            with pytest.raises(AuthError):
                verifier.verify(header, SERVICE_AUD)
        segments = [b64url(os.urandom(n)) for n in (24, 40, 96)]
        with pytest.raises(AuthError):
            verifier.verify(bearer(".".join(segments)), SERVICE_AUD)


@pytest.fixture(scope="module")
def offline_verifier(tmp_path_factory) -> JwtVerifier:
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps(jwks(ec_key("h-1"))))
    return JwtVerifier(HooksAuthConfig({ISSUER: str(path)}, BASE_URL))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
headers_st = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["ES384", "RS384", "none", "HS256"]) | json_values,
        "kid": st.just("h-1") | json_values,
        "typ": st.just("JWT") | json_values,
        "jku": json_values,
        "crit": json_values,
    },
)
payloads_st = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(("iss", "aud", "exp", "iat", "nbf", "jti"), json_values)
    | {"iss": st.just(ISSUER) | json_values},
)


@settings(max_examples=200, deadline=None)
@given(header=st.text(max_size=200))
def test_any_text_only_raises_auth_error(offline_verifier, header):
    with pytest.raises(AuthError):
        offline_verifier.verify(header, SERVICE_AUD)


@settings(max_examples=300, deadline=None)
@given(header=headers_st | json_values, payload=payloads_st | json_values, sig=st.binary(max_size=120))
def test_any_structured_token_only_raises_auth_error(offline_verifier, header, payload, sig):
    def part(value: Any) -> str:
        return b64url(json.dumps(value).encode())

    with pytest.raises(AuthError):
        offline_verifier.verify(bearer(f"{part(header)}.{part(payload)}.{b64url(sig)}"), SERVICE_AUD)


# --- JWKS fetching and caching -------------------------------------------------------------------------


def test_jwks_is_fetched_once_and_cached(verifier, server, ec, rsa, clock):
    for key in (ec, rsa, ec):
        verifier.verify(bearer(token(key, clock)), SERVICE_AUD)
    assert server.requests == ["/jwks.json"]


def test_jwks_is_refetched_after_ttl(verifier, server, ec, clock):
    verifier.verify(bearer(token(ec, clock)), SERVICE_AUD)
    clock.now += 299
    verifier.verify(bearer(token(ec, clock)), SERVICE_AUD)
    assert len(server.requests) == 1
    clock.now += 2
    verifier.verify(bearer(token(ec, clock)), SERVICE_AUD)
    assert len(server.requests) == 2


def test_unknown_kid_refetches_at_most_once_per_minute(verifier, server, ec, clock):
    verifier.verify(bearer(token(ec, clock)), SERVICE_AUD)
    rotated = ec_key("ec-2")
    server.document = jwks(ec, rotated)
    for _ in range(5):
        assert reason(verifier, bearer(token(rotated, clock))) == "unknown_kid"
    assert len(server.requests) == 1
    clock.now += 60
    assert verifier.verify(bearer(token(rotated, clock)), SERVICE_AUD)
    assert len(server.requests) == 2
    clock.now += 10
    for _ in range(5):
        assert reason(verifier, bearer(token(ClientKey(ec.private, "ec-9", "ES384"), clock))) == "unknown_kid"
    assert len(server.requests) == 2


def test_jwks_server_down_fails_closed(config, clock, ec):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = HooksAuthConfig({ISSUER: f"http://127.0.0.1:{port}/jwks.json"}, BASE_URL)
    verifier = JwtVerifier(down, fetch_timeout=2.0, clock=clock)
    assert reason(verifier, bearer(token(ec, clock))) == "jwks_unavailable"


def test_jwks_server_not_answering_times_out(ec, clock):
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts connections, never replies
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json"
        verifier = JwtVerifier(HooksAuthConfig({ISSUER: url}, BASE_URL), fetch_timeout=0.3, clock=clock)
        started = time.monotonic()
        assert reason(verifier, bearer(token(ec, clock))) == "jwks_unavailable"
        assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "status,document",
    [(500, {"error": "x"}), (404, b"not found"), (200, b"{not json"), (200, {"keys": []}), (200, [1, 2])],
)
def test_bad_jwks_responses_fail_closed(verifier, server, ec, clock, status, document):
    server.status, server.document = status, document
    assert reason(verifier, bearer(token(ec, clock))) == "jwks_unavailable"


def test_failed_fetch_is_retried_after_a_pause(verifier, server, ec, clock, jwks_file):
    good = server.document
    server.status = 503
    assert reason(verifier, bearer(token(ec, clock))) == "jwks_unavailable"
    server.status, server.document = 200, good
    assert reason(verifier, bearer(token(ec, clock))) == "jwks_unavailable"  # not hammering the server
    assert len(server.requests) == 1
    clock.now += 5
    assert verifier.verify(bearer(token(ec, clock)), SERVICE_AUD)
    assert len(server.requests) == 2


def test_stale_keys_are_not_used_when_server_is_down(verifier, server, ec, clock):
    verifier.verify(bearer(token(ec, clock)), SERVICE_AUD)
    server.status = 500
    clock.now += 100
    assert verifier.verify(bearer(token(ec, clock)), SERVICE_AUD)  # within the TTL: no fetch needed
    clock.now += 300
    assert reason(verifier, bearer(token(ec, clock))) == "jwks_unavailable"


# --- JWK Set parsing and start-up ----------------------------------------------------------------------


def test_parse_jwks_keeps_only_usable_signing_keys(ec, rsa):
    from cryptography.hazmat.primitives.asymmetric import ec as ec_mod

    p256 = ClientKey(ec_mod.generate_private_key(ec_mod.SECP256R1()), "p256", "ES256")
    weak = rsa_key("weak", bits=1024)
    document = {
        "keys": [
            ec.jwk(),
            rsa.jwk(alg=None),
            p256.jwk(),
            weak.jwk(),
            ec.jwk(kid="enc", use="enc"),
            ec.jwk(kid="wrong-alg", alg="ES256"),
            ec.jwk(kid=None),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "broken", "crv": "P-384", "x": "AA", "y": "AA"},
            "not a key",
        ]
    }
    document["keys"][1].pop("alg")
    keys = parse_jwks(document)
    assert sorted(keys) == ["ec-1", "rsa-1"]
    assert list(keys["ec-1"]) == ["ES384"]
    assert list(keys["rsa-1"]) == ["RS384"]


def test_parse_jwks_drops_private_members(ec):
    from cryptography.hazmat.primitives.asymmetric import ec as ec_mod
    from jwt.algorithms import ECAlgorithm

    leaked = json.loads(ECAlgorithm.to_jwk(ec.private)) | {"kid": "leak"}
    key = parse_jwks({"keys": [leaked]})["leak"]["ES384"].key
    assert isinstance(key, ec_mod.EllipticCurvePublicKey)


@pytest.mark.parametrize("document", [{}, {"keys": "x"}, {"keys": []}, [], "keys"])
def test_parse_jwks_rejects_sets_without_usable_keys(document):
    with pytest.raises(ValueError):
        parse_jwks(document)


@pytest.mark.parametrize("content", [None, "{not json", '{"keys": []}', '{"keys": [{"kty": "oct"}]}'])
def test_unusable_jwks_file_fails_at_start_up(tmp_path, content):
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match="other-ehr"):
        JwtVerifier(HooksAuthConfig({FILE_ISSUER: str(path)}, BASE_URL))


@pytest.mark.parametrize(
    "source",
    ["http://ehr.example.com/jwks", "http://10.0.0.1/jwks", "ftp://ehr.example.com/jwks", "file:///etc/jwks.json"],
)
def test_insecure_or_odd_jwks_urls_fail_at_start_up(source):
    with pytest.raises(ValueError):
        JwtVerifier(HooksAuthConfig({ISSUER: source}, BASE_URL))


def test_urls_are_not_fetched_at_start_up(server):
    JwtVerifier(HooksAuthConfig({ISSUER: server.url}, BASE_URL))
    assert server.requests == []


def test_no_trusted_issuers_rejects_everything(ec, clock):
    verifier = JwtVerifier(HooksAuthConfig({}, BASE_URL), clock=clock)
    assert reason(verifier, bearer(token(ec, clock))) == "unknown_issuer"


def test_disabled_accepts_anything_without_checking(tmp_path):
    config = HooksAuthConfig({ISSUER: str(tmp_path / "missing.json")}, BASE_URL, enabled=False)
    verifier = JwtVerifier(config)
    assert verifier.verify(None, SERVICE_AUD) == {}
    assert verifier.verify("Bearer garbage", SERVICE_AUD) == {}


def test_custom_leeway(server, ec, clock):
    config = HooksAuthConfig({ISSUER: server.url}, BASE_URL, leeway_seconds=0)
    verifier = JwtVerifier(config, clock=clock)
    assert reason(verifier, bearer(token(ec, clock, exp=int(clock.now)))) == "expired"
    assert reason(verifier, bearer(token(ec, clock, iat=int(clock.now) + 1))) == "issued_in_future"


# --- configuration from the environment ----------------------------------------------------------------


def config_from(env):
    """The CDS Hooks configuration the service builds from these environment variables."""
    return HooksAuthConfig.from_settings(Settings.from_env(env))


def test_from_env_reads_issuers_and_base_url():
    env = {
        "CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: "https://ehr.example.com/jwks", FILE_ISSUER: "/etc/cds/o.json"}),
        "CDS_PUBLIC_BASE_URL": BASE_URL + "/",
    }
    config = config_from(env)
    assert config.enabled
    assert config.trusted_issuers == {ISSUER: "https://ehr.example.com/jwks", FILE_ISSUER: "/etc/cds/o.json"}
    assert config.public_base_url == BASE_URL
    assert config.leeway_seconds == 60


def test_from_env_defaults_to_enabled_with_no_issuers():
    config = config_from({})
    assert config.enabled
    assert config.trusted_issuers == {}


@pytest.mark.parametrize("value", ["off", "OFF", " Off "])
def test_from_env_auth_off_leaves_jwt_checks_on(value):
    # CDS_AUTH governs /v1/evaluate only; JWT checks can be switched off by a test's code alone
    config = config_from(
        {
            "CDS_AUTH": value,
            "CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: "https://ehr.example.com/jwks"}),
            "CDS_PUBLIC_BASE_URL": BASE_URL,
        }
    )
    assert config.enabled
    with pytest.raises(AuthError):
        JwtVerifier(config).verify(None, SERVICE_AUD)


def test_from_env_reads_issuer_objects_with_fhir_servers():
    entry = {"jwks": "https://ehr.example.com/jwks", "fhir_servers": ["https://EHR.example.com:443/fhir/r4/"]}
    settings = Settings.from_env({"CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: entry}), "CDS_PUBLIC_BASE_URL": BASE_URL})
    assert settings.trusted_issuers[ISSUER].fhir_servers == ("https://ehr.example.com:443/fhir/r4",)
    assert config_from(
        {"CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: entry}), "CDS_PUBLIC_BASE_URL": BASE_URL}
    ).trusted_issuers == {ISSUER: "https://ehr.example.com/jwks"}


@pytest.mark.parametrize("value", ["on", ""])
def test_from_env_on_or_unset_is_on(value):
    assert config_from({"CDS_AUTH": value, "CDS_API_KEYS": "k" * 16}).enabled


@pytest.mark.parametrize("value", ["no", "false", "0", "disabled"])
def test_from_env_anything_else_is_refused_at_start_up(value):
    # one reading of CDS_AUTH for the whole service (settings.py): a typo must not pass as on or off
    with pytest.raises(SettingsError, match="CDS_AUTH"):
        config_from({"CDS_AUTH": value})


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1, 2]",
        '"https://ehr.example.com"',
        json.dumps({ISSUER: 3}),
        json.dumps({ISSUER: ""}),
        json.dumps({ISSUER: ["https://a"]}),
        json.dumps({"": "https://a"}),
        json.dumps({ISSUER: {"jwks": "https://a", "fhir_servers": "https://f"}}),
        json.dumps({ISSUER: {"jwks": "https://a", "fhir_servers": ["http://f.example.org"]}}),
        json.dumps({ISSUER: {"jwks": "https://a", "fhir_servers": ["https://u:p@f.example.org"]}}),
        json.dumps({ISSUER: {"jwks": "https://a", "fhir_networks": ["10.0.0.1/8"]}}),
        json.dumps({ISSUER: {"jwks": "https://a", "fhir_server": ["https://f.example.org"]}}),
    ],
)
def test_from_env_bad_issuers_name_the_variable(raw):
    with pytest.raises(SettingsError, match="CDS_TRUSTED_ISSUERS"):
        config_from({"CDS_TRUSTED_ISSUERS": raw, "CDS_PUBLIC_BASE_URL": BASE_URL})


def test_from_env_requires_base_url_when_issuers_are_set():
    with pytest.raises(SettingsError, match="CDS_PUBLIC_BASE_URL"):
        config_from({"CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: "https://ehr.example.com/jwks"})})


def test_from_env_rejects_a_base_url_that_is_not_http():
    with pytest.raises(SettingsError, match="CDS_PUBLIC_BASE_URL"):
        config_from({"CDS_PUBLIC_BASE_URL": "cds.example.org"})
