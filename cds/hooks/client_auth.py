"""JWT bearer authentication of CDS Clients (HL7 CDS Hooks 2.0, "Trusting CDS Clients").

Every request carries ``Authorization: Bearer <JWT>`` signed by the CDS Client with ES384 or RS384,
``typ`` JWT. The issuer (``iss``) must be on an allowlist that maps it to its JWK Set, given either
as a URL (fetched through cds.hooks.outbound: no redirects, a deadline, a size limit; cached) or as
a JWKS file (loaded once at start-up). A ``jku`` header is only accepted when it names the
configured URL: a URL taken from a token is never fetched. A token lives at most
CDS_JWT_MAX_LIFETIME_SECONDS (``exp`` - ``iat``; five minutes unless set, a bound of this
service's own: CDS Hooks 2.0.1 sets none), and its ``jti`` is accepted once, across workers and
replicas (cds.hooks.replay).

Every failure raises AuthError, whose reason is meant for the server log only: the HTTP layer answers
a bare 401 so a caller learns nothing about why its token was refused. Two refusals are not about
the token: its issuer's replay quota is full (ReplayQuotaFull, 429), or the replay store cannot
answer (ReplayStoreUnavailable, 503: fail closed).
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from cds.hooks.jwks import KeysUnavailable, RemoteKeys, StaticKeys, load_jwks_file
from cds.hooks.replay import Outcome, ReplayStore, ReplayStoreUnavailable, SqliteReplayStore
from cds.net import is_loopback_host
from cds.numbers import finite_number
from cds.settings import Settings

ALLOWED_ALGORITHMS = frozenset({"ES384", "RS384"})
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")

_MAX_TOKEN_CHARS = 16_384
_MAX_JTI_CHARS = 256
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# "crit"/"b64" change how the signature input is built (RFC 7515 §4.1.11, RFC 7797); no CDS Client
# needs them, so they are refused rather than interpreted.
_FORBIDDEN_HEADERS = frozenset({"crit", "b64"})


class AuthError(Exception):
    """The request is not authenticated; ``reason`` is a short code for the server log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReplayQuotaFull(Exception):
    """A valid token, refused because its issuer already has its quota of live token ids."""


__all__ = ["AuthError", "HooksAuthConfig", "JwtVerifier", "ReplayQuotaFull", "ReplayStoreUnavailable"]


@dataclass(frozen=True)
class HooksAuthConfig:
    trusted_issuers: dict[str, str]
    """Issuer (``iss``) -> JWKS URL (https://, or http:// on loopback) or path of a JWKS JSON file."""
    public_base_url: str
    """Base URL the clients call, without trailing slash; audiences are this plus the request path."""
    leeway_seconds: int = 60
    max_lifetime_seconds: int = 300
    enabled: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> HooksAuthConfig:
        return cls(
            trusted_issuers={issuer: trusted.jwks for issuer, trusted in settings.trusted_issuers.items()},
            public_base_url=settings.public_base_url,
            leeway_seconds=settings.jwt_leeway_seconds,
            max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
            enabled=settings.hooks_jwt,
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


class JwtVerifier:
    """Verifies CDS Hooks bearer JWTs; build one at start-up and share it between threads."""

    def __init__(
        self,
        config: HooksAuthConfig,
        *,
        fetch_timeout: float = 3.0,
        jwks_ttl: float = 300.0,
        refetch_interval: float = 60.0,
        replays: ReplayStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._enabled = config.enabled
        self._leeway = float(config.leeway_seconds)
        self._max_lifetime = float(config.max_lifetime_seconds)
        self._clock = clock
        self._replays = replays if replays is not None else SqliteReplayStore(None, 50_000)
        self._jwks_urls: dict[str, str] = {}
        self._keys: dict[str, StaticKeys | RemoteKeys] = {}
        if not self._enabled:
            return
        for issuer, source in config.trusted_issuers.items():
            if _is_url(source):
                _check_url(issuer, source)
                self._jwks_urls[issuer] = source
                self._keys[issuer] = RemoteKeys(
                    source, timeout=fetch_timeout, ttl=jwks_ttl, refetch_interval=refetch_interval, clock=clock
                )
            elif "://" in source:
                raise ValueError(f"JWKS of issuer {issuer!r} must be an http(s) URL or a file path: {source!r}")
            else:
                try:
                    self._keys[issuer] = StaticKeys(load_jwks_file(source))
                except (OSError, ValueError) as exc:
                    raise ValueError(f"JWKS file of issuer {issuer!r} is unusable ({source}): {exc}") from exc

    def verify(self, authorization_header: str | None, audience: str) -> dict[str, Any]:
        """The verified claims of the request's bearer JWT for ``audience`` (the called endpoint's URL)."""
        if not self._enabled:
            return {}
        try:
            return self._verify(authorization_header, audience)
        except (AuthError, ReplayQuotaFull, ReplayStoreUnavailable):
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
        try:
            candidates = self._keys[issuer].get(kid)
        except KeysUnavailable:
            raise AuthError("jwks_unavailable") from None
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
        outcome = self._replays.remember(issuer, jti, exp + self._leeway, self._clock())
        if outcome is Outcome.REPLAYED:
            raise AuthError("replayed")
        if outcome is Outcome.QUOTA_FULL:
            raise ReplayQuotaFull(issuer)
        return claims

    def _checked_times(self, claims: dict[str, Any]) -> float:
        """The token's expiry, once its time claims are numbers and it is valid now."""
        now = self._clock()
        exp, iat = _number(claims, "exp"), _number(claims, "iat")
        if exp <= now - self._leeway:
            raise AuthError("expired")
        if iat > now + self._leeway:
            raise AuthError("issued_in_future")
        # a long-lived token is a long replay window and a long-lived replay entry
        if exp - iat > self._max_lifetime:
            raise AuthError("lifetime_too_long")
        if "nbf" in claims and _number(claims, "nbf") > now + self._leeway:
            raise AuthError("not_yet_valid")
        return exp


def _checked_header(header: dict[str, Any]) -> tuple[str, str]:
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALLOWED_ALGORITHMS:
        raise AuthError("bad_alg")
    if not isinstance(kid, str) or not kid:
        raise AuthError("missing_kid")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.upper() != "JWT":
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
    if not finite_number(value):
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
