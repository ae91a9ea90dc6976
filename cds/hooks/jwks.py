"""Issuers' signing keys for CDS Hooks JWTs: a JWK Set from a file, loaded once, or from a URL,
fetched through cds.hooks.outbound (no redirects, one deadline, a size limit) and cached.

Only ES384 (EC P-384) and RS384 (RSA of 2048 bits or more) signing keys are kept, and of each
only its public members: a JWK Set that leaks a private key must not make us hold one.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import structlog

from cds.hooks import outbound

_MAX_JWKS_BYTES = 1_048_576
_MIN_RSA_BITS = 2048
_PUBLIC_JWK_MEMBERS = ("kty", "crv", "x", "y", "n", "e")
# After a failed fetch a missing JWK Set is retried at most this often, so an unreachable JWKS server
# costs one timeout every few seconds rather than one per request.
_RETRY_AFTER_FAILURE = 5.0

log = structlog.get_logger("cds.hooks")
KeySet = dict[str, dict[str, jwt.PyJWK]]  # kid -> alg -> key (RFC 7517 allows one kid for several key types)


class KeysUnavailable(Exception):
    """The issuer's JWK Set cannot be had (its server is down and the cached set has expired):
    client_auth refuses the token, failing closed."""


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
    """The JWK Set at `url`: one GET, no redirects, the whole fetch within `timeout` seconds.

    The URL comes from the operator's allowlist, checked at start-up, never from a token; so
    any address it resolves to is allowed (an issuer's keys may well be on an internal host)."""
    parts = urllib.parse.urlsplit(url)
    endpoint = outbound.Endpoint(parts.scheme, parts.hostname or "", parts.port or _PORTS[parts.scheme], "")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    budget = outbound.Budget(timeout, _MAX_JWKS_BYTES)
    address = outbound.resolve(endpoint, lambda _address: True, budget)
    answer = outbound.get(
        endpoint, address, target, {"Accept": "application/json"}, budget, timeout=timeout, max_bytes=_MAX_JWKS_BYTES
    )
    return parse_jwks(json.loads(answer.body))


_PORTS = {"https": 443, "http": 80}


class StaticKeys:
    def __init__(self, keys: KeySet) -> None:
        self._keys = keys

    def get(self, kid: str) -> dict[str, jwt.PyJWK] | None:
        return self._keys.get(kid)


class RemoteKeys:
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
        self._inflight: threading.Event | None = None

    def get(self, kid: str) -> dict[str, jwt.PyJWK] | None:
        # One fetch at a time, made outside the lock: the lock guards only the cache, so a slow
        # issuer delays the requests that need its keys, and nothing else; the others wait for
        # that one fetch (at most its timeout) rather than each starting their own.
        fetching = self._claim_fetch(kid)
        if fetching is not None:
            self._fetch(fetching)
        with self._lock:
            inflight = self._inflight
        if inflight is not None:
            inflight.wait(self._timeout)
        with self._lock:
            if self._clock() - self._fetched_at >= self._ttl:
                raise KeysUnavailable(self._url)
            return self._keys.get(kid)

    def _claim_fetch(self, kid: str) -> threading.Event | None:
        with self._lock:
            now = self._clock()
            fresh = now - self._fetched_at < self._ttl
            since_attempt = now - self._last_attempt
            due = (not fresh and since_attempt >= _RETRY_AFTER_FAILURE) or (
                fresh and kid not in self._keys and since_attempt >= self._refetch_interval
            )
            if not due or self._inflight is not None:
                return None
            self._last_attempt = now
            self._inflight = threading.Event()
            return self._inflight

    def _fetch(self, done: threading.Event) -> None:
        keys: KeySet | None = None
        try:
            keys = fetch_jwks(self._url, self._timeout)
        except (outbound.OutboundError, ValueError) as exc:
            log.warning("jwks_fetch_failed", url=self._url, reason=getattr(exc, "reason", type(exc).__name__))
        finally:
            with self._lock:
                if keys is not None:
                    self._keys, self._fetched_at = keys, self._clock()
                self._inflight = None
            done.set()
