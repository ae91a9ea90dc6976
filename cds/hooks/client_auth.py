"""JWT bearer authentication of CDS Clients (HL7 CDS Hooks 2.0, "Trusting CDS Clients").

Every request carries ``Authorization: Bearer <JWT>`` signed by the CDS Client with ES384 or RS384.
The issuer (``iss``) must be on an allowlist that maps it to its JWK Set, given either as a URL
(fetched with a timeout and cached) or as a JWKS file (loaded once at start-up). A ``jku`` header is
only accepted when it names the configured URL: a URL taken from a token is never fetched.

Every failure raises AuthError, whose reason is meant for the server log only: the HTTP layer answers
a bare 401 so a caller learns nothing about why its token was refused.
"""

from __future__ import annotations

import heapq
import http.client
import json
import math
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from cds.net import is_loopback_host
from cds.settings import Settings

ALLOWED_ALGORITHMS = frozenset({"ES384", "RS384"})
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")

_MAX_TOKEN_CHARS = 16_384
_MAX_JWKS_BYTES = 1_048_576
_MAX_JTI_CHARS = 256
_MIN_RSA_BITS = 2048
# After a failed fetch a missing JWK Set is retried at most this often, so an unreachable JWKS server
# costs one timeout every few seconds rather than one per request.
_RETRY_AFTER_FAILURE = 5.0
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_PUBLIC_JWK_MEMBERS = ("kty", "crv", "x", "y", "n", "e")
# "crit"/"b64" change how the signature input is built (RFC 7515 §4.1.11, RFC 7797); no CDS Client
# needs them, so they are refused rather than interpreted.
_FORBIDDEN_HEADERS = frozenset({"crit", "b64"})

KeySet = dict[str, dict[str, jwt.PyJWK]]  # kid -> alg -> key (RFC 7517 allows one kid for several key types)


class AuthError(Exception):
    """The request is not authenticated; ``reason`` is a short code for the server log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class HooksAuthConfig:
    trusted_issuers: dict[str, str]
    """Issuer (``iss``) -> JWKS URL (https://, or http:// on loopback) or path of a JWKS JSON file."""
    public_base_url: str
    """Base URL the clients call, without trailing slash; audiences are this plus the request path."""
    leeway_seconds: int = 60
    enabled: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> HooksAuthConfig:
        return cls(
            trusted_issuers=dict(settings.trusted_issuers),
            public_base_url=settings.public_base_url,
            enabled=settings.auth != "off",
        )


def _is_url(source: str) -> bool:
    return source.startswith(("https://", "http://"))


def _check_url(issuer: str, url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"JWKS URL of issuer {issuer!r} has no host: {url!r}")
    # Plain HTTP would let anyone on the path substitute keys; it is only tolerated for local tests.
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(f"JWKS URL of issuer {issuer!r} must use https: {url!r}")


def parse_jwks(document: Any) -> KeySet:
    """The usable verification keys of a JWK Set; raises ValueError when there are none."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWK Set must be an object with a 'keys' array")
    keys: KeySet = {}
    for jwk_data in document["keys"]:
        parsed = _parse_jwk(jwk_data)
        if parsed is not None:
            kid, alg, key = parsed
            keys.setdefault(kid, {}).setdefault(alg, key)
    if not keys:
        raise ValueError("the JWK Set has no usable ES384 (EC P-384) or RS384 (RSA >= 2048 bit) signing key")
    return keys


def _parse_jwk(jwk_data: Any) -> tuple[str, str, jwt.PyJWK] | None:
    # Keys we cannot use (other types, encryption keys, weak keys) are skipped so that an issuer can
    # publish them alongside its signing keys.
    if not isinstance(jwk_data, dict):
        return None
    kid, kty = jwk_data.get("kid"), jwk_data.get("kty")
    if not isinstance(kid, str) or not kid or jwk_data.get("use", "sig") != "sig":
        return None
    if kty == "EC" and jwk_data.get("crv") == "P-384":
        alg = "ES384"
    elif kty == "RSA":
        alg = "RS384"
    else:
        return None
    if jwk_data.get("alg", alg) != alg:
        return None
    # Only the public members: a JWK Set that leaks a private key must not make us hold one.
    public = {k: jwk_data[k] for k in _PUBLIC_JWK_MEMBERS if k in jwk_data}
    try:
        key = jwt.PyJWK(public, algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if alg == "RS384" and key.key.key_size < _MIN_RSA_BITS:
        return None
    return kid, alg, key


def load_jwks_file(path: str | Path) -> KeySet:
    return parse_jwks(json.loads(Path(path).read_text(encoding="utf-8")))


def fetch_jwks(url: str, timeout: float) -> KeySet:
    # The URL comes from the operator's allowlist, checked to be http(s) at start-up, never from a token.
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(_MAX_JWKS_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise OSError(f"JWKS {url} answered HTTP {exc.code}") from None
    if len(body) > _MAX_JWKS_BYTES:
        raise ValueError(f"JWKS {url} is larger than {_MAX_JWKS_BYTES} bytes")
    return parse_jwks(json.loads(body))


class _StaticKeys:
    def __init__(self, keys: KeySet) -> None:
        self._keys = keys

    def get(self, kid: str) -> dict[str, jwt.PyJWK] | None:
        return self._keys.get(kid)


class _RemoteKeys:
    """A JWK Set fetched from a URL and kept for ``ttl`` seconds.

    An unknown kid triggers a refetch (key rotation) at most once per ``refetch_interval``, so tokens
    with made-up kids cannot turn us into a request amplifier against the issuer. Keys are never used
    beyond their TTL: if the issuer withdrew a key and its server is down, we fail closed.
    """

    def __init__(self, url: str, *, timeout: float, ttl: float, refetch_interval: float, clock: Callable[[], float]):
        self._url = url
        self._timeout = timeout
        self._ttl = ttl
        self._refetch_interval = refetch_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: KeySet = {}
        self._fetched_at = -math.inf
        self._last_attempt = -math.inf

    def get(self, kid: str) -> dict[str, jwt.PyJWK] | None:
        # Holding the lock while fetching makes concurrent requests wait for one fetch instead of
        # each starting its own.
        with self._lock:
            now = self._clock()
            fresh = now - self._fetched_at < self._ttl
            since_attempt = now - self._last_attempt
            if (not fresh and since_attempt >= _RETRY_AFTER_FAILURE) or (
                fresh and kid not in self._keys and since_attempt >= self._refetch_interval
            ):
                self._last_attempt = now
                try:
                    self._keys = fetch_jwks(self._url, self._timeout)
                    self._fetched_at = now
                except (OSError, ValueError, http.client.HTTPException) as exc:
                    if not fresh:
                        raise AuthError("jwks_unavailable") from exc
            if now - self._fetched_at >= self._ttl:
                raise AuthError("jwks_unavailable")
            return self._keys.get(kid)


class ReplayCache:
    """Remembers each (iss, jti) until its token expires (``exp`` + leeway), to refuse replays.

    It lives in process memory: each gunicorn worker has its own, so a token replayed to another
    worker (or after a restart) is not detected. Bounded to ``max_entries``; when it is full of
    unexpired entries new tokens are refused ("replay_cache_full") rather than forgetting a jti, as
    only tokens with valid signatures get here and filling it means a trusted client misbehaves.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max_entries = max_entries
        self._until: dict[tuple[str, str], float] = {}
        self._by_expiry: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._until)

    def remember(self, key: tuple[str, str], until: float, now: float) -> None:
        with self._lock:
            while self._by_expiry and self._by_expiry[0][0] < now:
                _, old = heapq.heappop(self._by_expiry)
                del self._until[old]
            if key in self._until:
                raise AuthError("replayed")
            if len(self._until) >= self._max_entries:
                raise AuthError("replay_cache_full")
            self._until[key] = until
            heapq.heappush(self._by_expiry, (until, key))


class JwtVerifier:
    """Verifies CDS Hooks bearer JWTs; build one at start-up and share it between threads."""

    def __init__(
        self,
        config: HooksAuthConfig,
        *,
        fetch_timeout: float = 3.0,
        jwks_ttl: float = 300.0,
        refetch_interval: float = 60.0,
        replay_cache_size: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._enabled = config.enabled
        self._leeway = float(config.leeway_seconds)
        self._clock = clock
        self._replays = ReplayCache(replay_cache_size)
        self._jwks_urls: dict[str, str] = {}
        self._keys: dict[str, _StaticKeys | _RemoteKeys] = {}
        if not self._enabled:
            return
        for issuer, source in config.trusted_issuers.items():
            if _is_url(source):
                _check_url(issuer, source)
                self._jwks_urls[issuer] = source
                self._keys[issuer] = _RemoteKeys(
                    source, timeout=fetch_timeout, ttl=jwks_ttl, refetch_interval=refetch_interval, clock=clock
                )
            elif "://" in source:
                raise ValueError(f"JWKS of issuer {issuer!r} must be an http(s) URL or a file path: {source!r}")
            else:
                try:
                    self._keys[issuer] = _StaticKeys(load_jwks_file(source))
                except (OSError, ValueError) as exc:
                    raise ValueError(f"JWKS file of issuer {issuer!r} is unusable ({source}): {exc}") from exc

    def verify(self, authorization_header: str | None, audience: str) -> dict[str, Any]:
        """The verified claims of the request's bearer JWT for ``audience`` (the called endpoint's URL)."""
        if not self._enabled:
            return {}
        try:
            return self._verify(authorization_header, audience)
        except AuthError:
            raise
        except Exception as exc:  # whatever a hostile token provokes must end as a 401, not a 500
            raise AuthError("error") from exc

    def _verify(self, authorization_header: str | None, audience: str) -> dict[str, Any]:
        token = _bearer_token(authorization_header)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError("malformed") from exc
        alg, kid = _checked_header(header)
        # The unverified iss only picks the key set; the signature made with that set's key proves it.
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self._keys:
            raise AuthError("unknown_issuer")
        if "jku" in header and header["jku"] != self._jwks_urls.get(issuer):
            raise AuthError("foreign_jku")
        candidates = self._keys[issuer].get(kid)
        if candidates is None:
            raise AuthError("unknown_kid")
        key = candidates.get(alg)
        if key is None:
            raise AuthError("bad_alg")  # the kid names a key of another type than the header's alg
        claims = _signed_claims(token, key, alg, audience, issuer)
        exp = self._checked_times(claims)
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI_CHARS:
            raise AuthError("malformed")
        self._replays.remember((issuer, jti), exp + self._leeway, self._clock())
        return claims

    def _checked_times(self, claims: dict[str, Any]) -> float:
        """The token's expiry, once its time claims are numbers and it is valid now."""
        now = self._clock()
        exp, iat = _number(claims, "exp"), _number(claims, "iat")
        if exp <= now - self._leeway:
            raise AuthError("expired")
        if iat > now + self._leeway:
            raise AuthError("issued_in_future")
        if "nbf" in claims and _number(claims, "nbf") > now + self._leeway:
            raise AuthError("not_yet_valid")
        return exp


def _checked_header(header: dict[str, Any]) -> tuple[str, str]:
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALLOWED_ALGORITHMS:
        raise AuthError("bad_alg")
    if not isinstance(kid, str) or not kid:
        raise AuthError("missing_kid")
    if "typ" in header and (not isinstance(header["typ"], str) or header["typ"].upper() != "JWT"):
        raise AuthError("bad_typ")
    if _FORBIDDEN_HEADERS & header.keys():
        raise AuthError("malformed")
    return str(alg), kid


def _signed_claims(token: str, key: jwt.PyJWK, alg: str, audience: str, issuer: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_exp": False,  # time claims are checked apart, with our clock and strict types
                "verify_iat": False,
                "verify_nbf": False,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.PyJWTError as exc:
        raise AuthError(_reason(exc)) from exc
    return claims


def _bearer_token(authorization_header: str | None) -> str:
    if not authorization_header:
        raise AuthError("missing_token")
    scheme, _, token = authorization_header.partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError("bad_scheme")
    if not token:
        raise AuthError("missing_token")
    if len(token) > _MAX_TOKEN_CHARS or not _TOKEN_SHAPE.fullmatch(token):
        raise AuthError("malformed")
    return token


def _number(claims: Mapping[str, Any], name: str) -> float:
    # PyJWT would accept "123" or true through int(); a NumericDate is a JSON number (RFC 7519 §2).
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthError("malformed")
    return float(value)


_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidAudienceError, "bad_audience"),
    (jwt.InvalidIssuerError, "unknown_issuer"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "bad_alg"),
    (jwt.InvalidKeyError, "bad_key"),
)


def _reason(exc: jwt.PyJWTError) -> str:
    return next((reason for kind, reason in _REASONS if isinstance(exc, kind)), "malformed")
