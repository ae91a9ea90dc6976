"""Settings, only from environment variables, each with a safe default. This is the only module
of cds that reads the environment (ruff banned-api), besides gunicorn.conf.py.

A malformed value stops the service at start-up with a message naming the variable: an
operator typo must not silently become a default. Secrets never appear in reprs.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cds.net import IPNetwork, is_loopback_bind, normal_base_url


class SettingsError(ValueError):
    pass


# Every environment variable the service reads (docs/operations.md describes each).
VARIABLES = frozenset(
    {
        "CDS_BIND",
        "CDS_WORKERS",
        "CDS_THREADS",
        "CDS_TIMEOUT",
        "CDS_GRACEFUL_TIMEOUT",
        "CDS_KEEPALIVE",
        "CDS_MAX_REQUESTS",
        "CDS_MAX_REQUESTS_JITTER",
        "CDS_REQUEST_READ_TIMEOUT",
        "CDS_RULES_DIR",
        "CDS_LOG_LEVEL",
        "CDS_AUTH",
        "CDS_API_KEYS",
        "CDS_METRICS_TOKEN",
        "CDS_CORS_ORIGINS",
        "CDS_TRUSTED_ISSUERS",
        "CDS_PUBLIC_BASE_URL",
        "CDS_JWT_MAX_LIFETIME_SECONDS",
        "CDS_JWT_LEEWAY_SECONDS",
        "CDS_REDIS_URL",
        "CDS_REPLAY_DB",
        "CDS_REPLAY_QUOTA_PER_ISSUER",
        "CDS_MAX_BODY_BYTES",
        "CDS_MAX_JSON_DEPTH",
        "CDS_MAX_ARRAY_ITEMS",
        "CDS_HOOKS_MAX_BODY_BYTES",
        "CDS_HOOKS_MAX_JSON_DEPTH",
        "CDS_HOOKS_MAX_ARRAY_ITEMS",
        "CDS_FHIR_TIMEOUT_SECONDS",
        "CDS_FHIR_MAX_BYTES",
        "CDS_FHIR_CALL_DEADLINE_SECONDS",
        "CDS_FHIR_CALL_MAX_BYTES",
        "CDS_FHIR_OBSERVATION_WINDOW_HOURS",
        "CDS_FHIR_FINDING_WINDOW_HOURS",
        "CDS_FORM_LINK_KEY",
        "CDS_FORM_LINK_TTL_SECONDS",
        "PROMETHEUS_MULTIPROC_DIR",
    }
)


def _form_link_key(raw: str | None) -> bytes | None:
    if raw is None or not raw.strip():
        return None
    try:
        key = base64.urlsafe_b64decode(raw.strip() + "=" * (-len(raw.strip()) % 4))
    except ValueError:
        key = b""
    if len(key) != 32:
        raise SettingsError("CDS_FORM_LINK_KEY must be 32 bytes in base64url: secrets.token_urlsafe(32) makes one")
    return key


def packaged_rules_dir() -> Path:
    """The rules shipped with the service: in the wheel (cds/_rules), or the repository's rules/."""
    packaged = Path(__file__).with_name("_rules")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "rules"


@dataclass(frozen=True)
class TrustedIssuer:
    """A CDS client (an EHR) this service trusts: where its signing keys are, and the FHIR
    servers it may send us to (CDS Hooks `fhirServer`). A FHIR server of no issuer is never
    contacted, and a server that resolves to a non-public address is contacted only when
    `fhir_networks` names that address's network (or the URL names the address itself)."""

    jwks: str
    fhir_servers: tuple[str, ...] = ()
    fhir_networks: tuple[IPNetwork, ...] = ()


_ISSUER_HELP = (
    "CDS_TRUSTED_ISSUERS must be a JSON object of issuer -> JWKS URL or file path, or issuer -> "
    '{"jwks": ..., "fhir_servers": [FHIR base URLs], "fhir_networks": [CIDR ranges]}'
)


def _issuers(raw: str | None) -> dict[str, TrustedIssuer]:
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise SettingsError(_ISSUER_HELP) from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise SettingsError(_ISSUER_HELP)
    return {issuer: _issuer(issuer, entry) for issuer, entry in value.items()}


def _issuer(issuer: str, entry: Any) -> TrustedIssuer:
    if isinstance(entry, str):
        entry = {"jwks": entry}
    if not isinstance(entry, dict) or set(entry) - {"jwks", "fhir_servers", "fhir_networks"}:
        raise SettingsError(f"CDS_TRUSTED_ISSUERS: {issuer!r}: {_ISSUER_HELP}")
    jwks = entry.get("jwks")
    if not isinstance(jwks, str) or not jwks.strip():
        raise SettingsError(f"CDS_TRUSTED_ISSUERS: the JWKS of {issuer!r} must be a non-empty string")
    servers, networks = entry.get("fhir_servers", []), entry.get("fhir_networks", [])
    if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
        raise SettingsError(f"CDS_TRUSTED_ISSUERS: fhir_servers of {issuer!r} must be a list of URLs")
    if not isinstance(networks, list) or not all(isinstance(n, str) for n in networks):
        raise SettingsError(f"CDS_TRUSTED_ISSUERS: fhir_networks of {issuer!r} must be a list of CIDR ranges")
    try:
        checked = tuple(normal_base_url(s) for s in servers)
        ranges = tuple(ipaddress.ip_network(n, strict=True) for n in networks)
    except ValueError as err:
        raise SettingsError(f"CDS_TRUSTED_ISSUERS: {issuer!r}: {err}") from None
    return TrustedIssuer(jwks.strip(), checked, ranges)


def _base_url(raw: str | None) -> str:
    base_url = (raw or "").strip().rstrip("/")
    if base_url and urllib.parse.urlsplit(base_url).scheme not in ("https", "http"):
        raise SettingsError(f"CDS_PUBLIC_BASE_URL must be an http(s) URL, got {base_url!r}")
    return base_url


def _redis_url(raw: str | None) -> str:
    url = (raw or "").strip()
    if url and urllib.parse.urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise SettingsError("CDS_REDIS_URL must be a redis://, rediss:// or unix:// URL")
    return url


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, kind: type) -> Any:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return int(_number(env, name, default, low, high, int))


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return float(_number(env, name, default, low, high, float))


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _secret_hashes(name: str, raw: str | None) -> tuple[bytes, ...]:
    """CDS_API_KEYS, CDS_METRICS_TOKEN: comma-separated secrets, or `sha256:<hex>` digests of
    them, so an operator need not put the secret itself in the environment. Only digests are
    kept."""
    if not raw:
        return ()
    hashes = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("sha256:"):
            digest = item[len("sha256:") :]
            try:
                value = bytes.fromhex(digest)
            except ValueError:
                raise SettingsError(f"{name}: a sha256: entry must be 64 hexadecimal digits") from None
            if len(value) != 32:
                raise SettingsError(f"{name}: a sha256: entry must be 64 hexadecimal digits")
            hashes.append(value)
        else:
            if len(item) < 16:
                raise SettingsError(f"{name}: every secret must be at least 16 characters long")
            hashes.append(hash_key(item))
    return tuple(hashes)


def _origins(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin == "*" or not origin.startswith(("https://", "http://")):
            raise SettingsError("CDS_CORS_ORIGINS must list exact origins such as https://ehr.example.org")
    return origins


@dataclass(frozen=True)
class BodyLimits:
    """What one endpoint accepts: an encounter is small and shallow, a CDS Hooks call carries
    prefetched FHIR bundles, deeper and larger."""

    max_bytes: int
    max_depth: int
    max_items: int


@dataclass(frozen=True)
class ServerSettings:
    """How gunicorn serves the app (gunicorn.conf.py reads these)."""

    bind: str = "127.0.0.1:8000"
    workers: int = 5
    threads: int = 1
    timeout: int = 30
    graceful_timeout: int = 30
    keepalive: int = 5
    max_requests: int = 20000
    max_requests_jitter: int = 2000
    # A request must arrive whole within this time, or it is answered 408 and closed: a client
    # that stalls holds a socket, never a worker (cds.web.worker).
    request_read_timeout: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if env is None else env
        cores = os.cpu_count() or 1
        return cls(
            bind=env.get("CDS_BIND", "").strip() or "127.0.0.1:8000",
            workers=_int(env, "CDS_WORKERS", cores * 2 + 1, 1, 256),
            threads=_int(env, "CDS_THREADS", 1, 1, 256),
            timeout=_int(env, "CDS_TIMEOUT", 30, 1, 3600),
            graceful_timeout=_int(env, "CDS_GRACEFUL_TIMEOUT", 30, 1, 3600),
            keepalive=_int(env, "CDS_KEEPALIVE", 5, 0, 3600),
            max_requests=_int(env, "CDS_MAX_REQUESTS", 20000, 0, 10_000_000),
            max_requests_jitter=_int(env, "CDS_MAX_REQUESTS_JITTER", 2000, 0, 10_000_000),
            request_read_timeout=_float(env, "CDS_REQUEST_READ_TIMEOUT", 10.0, 0.5, 300.0),
        )


@dataclass(frozen=True)
class Settings:
    rules_dir: Path = field(default_factory=packaged_rules_dir)
    max_body_bytes: int = 64 * 1024
    max_json_depth: int = 8
    # at least the contract's longest array: asked_unknown may name every optional clinical
    # field (88 in contract v1.1; tests/service/test_access.py holds the bound)
    max_array_items: int = 128
    log_level: str = "INFO"
    # /v1/evaluate: "auto" asks for a key when CDS_API_KEYS is set, "off" serves it open, and
    # only on loopback (exposure_problem). CDS Hooks is never governed by it.
    auth: str = "auto"
    api_key_hashes: tuple[bytes, ...] = field(default=(), repr=False)
    metrics_token_hashes: tuple[bytes, ...] = field(default=(), repr=False)
    cors_origins: tuple[str, ...] = ()
    trusted_issuers: Mapping[str, TrustedIssuer] = field(default_factory=dict)
    public_base_url: str = ""
    # Verifying CDS clients' JWTs can be switched off only by code (a test's Settings), never
    # by the environment.
    hooks_jwt: bool = True
    jwt_max_lifetime_seconds: int = 300
    jwt_leeway_seconds: int = 60
    # The replay store of JWT ids: Redis when CDS_REDIS_URL is set (several replicas), else a
    # SQLite file shared by the workers of one server (gunicorn.conf.py sets CDS_REPLAY_DB),
    # else this process's memory.
    redis_url: str = field(default="", repr=False)
    replay_db: str = ""
    replay_quota_per_issuer: int = 50_000
    metrics_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR: set by gunicorn.conf.py for the workers
    fhir_timeout_seconds: float = 5.0
    fhir_max_bytes: int = 4 * 1024 * 1024
    # One CDS Hooks call's FHIR reads together: a deadline and a byte budget.
    fhir_call_deadline_seconds: float = 10.0
    fhir_call_max_bytes: int = 16 * 1024 * 1024
    # How far back a record still describes now (cds/fhir/episodes.py): vital signs, results
    # and any "no" within the observation window; a finding of this illness within the finding
    # window. Older ones are unknown (asked again), never current.
    fhir_observation_window_hours: int = 24
    fhir_finding_window_hours: int = 168
    hooks_max_body_bytes: int = 2 * 1024 * 1024
    hooks_max_json_depth: int = 32
    hooks_max_array_items: int = 2000
    # The key that seals a card's link to the prefilled triage form (cds/form_link.py): 32
    # bytes. gunicorn.conf.py makes one per server when none is set; replicas share a set one.
    form_link_key: bytes | None = field(default=None, repr=False)
    form_link_ttl_seconds: int = 900

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        level = env.get("CDS_LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"CDS_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
        auth = env.get("CDS_AUTH", "").strip().lower() or "auto"
        if auth not in ("auto", "on", "off"):
            raise SettingsError(f"CDS_AUTH must be on or off, got {auth!r}")
        hashes = _secret_hashes("CDS_API_KEYS", env.get("CDS_API_KEYS"))
        if auth == "on" and not hashes:
            raise SettingsError("CDS_AUTH=on needs CDS_API_KEYS")
        rules = env.get("CDS_RULES_DIR")
        issuers, base_url = _issuers(env.get("CDS_TRUSTED_ISSUERS")), _base_url(env.get("CDS_PUBLIC_BASE_URL"))
        if issuers and not base_url:
            raise SettingsError("CDS_PUBLIC_BASE_URL is required when CDS_TRUSTED_ISSUERS is set")
        return cls(
            rules_dir=Path(rules) if rules else packaged_rules_dir(),
            max_body_bytes=_int(env, "CDS_MAX_BODY_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024),
            max_json_depth=_int(env, "CDS_MAX_JSON_DEPTH", 8, 3, 64),
            max_array_items=_int(env, "CDS_MAX_ARRAY_ITEMS", 128, 128, 10_000),
            log_level=level,
            auth="off" if auth == "off" else "auto",
            api_key_hashes=hashes,
            metrics_token_hashes=_secret_hashes("CDS_METRICS_TOKEN", env.get("CDS_METRICS_TOKEN")),
            cors_origins=_origins(env.get("CDS_CORS_ORIGINS")),
            trusted_issuers=issuers,
            public_base_url=base_url,
            jwt_max_lifetime_seconds=_int(env, "CDS_JWT_MAX_LIFETIME_SECONDS", 300, 30, 3600),
            jwt_leeway_seconds=_int(env, "CDS_JWT_LEEWAY_SECONDS", 60, 0, 300),
            redis_url=_redis_url(env.get("CDS_REDIS_URL")),
            replay_db=env.get("CDS_REPLAY_DB", "").strip(),
            replay_quota_per_issuer=_int(env, "CDS_REPLAY_QUOTA_PER_ISSUER", 50_000, 100, 10_000_000),
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            fhir_timeout_seconds=_float(env, "CDS_FHIR_TIMEOUT_SECONDS", 5.0, 0.5, 60.0),
            fhir_max_bytes=_int(env, "CDS_FHIR_MAX_BYTES", 4 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
            fhir_call_deadline_seconds=_float(env, "CDS_FHIR_CALL_DEADLINE_SECONDS", 10.0, 1.0, 120.0),
            fhir_call_max_bytes=_int(env, "CDS_FHIR_CALL_MAX_BYTES", 16 * 1024 * 1024, 64 * 1024, 256 * 1024 * 1024),
            fhir_observation_window_hours=_int(env, "CDS_FHIR_OBSERVATION_WINDOW_HOURS", 24, 1, 24 * 14),
            fhir_finding_window_hours=_int(env, "CDS_FHIR_FINDING_WINDOW_HOURS", 168, 1, 24 * 90),
            hooks_max_body_bytes=_int(env, "CDS_HOOKS_MAX_BODY_BYTES", 2 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
            hooks_max_json_depth=_int(env, "CDS_HOOKS_MAX_JSON_DEPTH", 32, 8, 128),
            hooks_max_array_items=_int(env, "CDS_HOOKS_MAX_ARRAY_ITEMS", 2000, 64, 100_000),
            form_link_key=_form_link_key(env.get("CDS_FORM_LINK_KEY")),
            form_link_ttl_seconds=_int(env, "CDS_FORM_LINK_TTL_SECONDS", 900, 60, 3600),
        )

    @property
    def evaluate_limits(self) -> BodyLimits:
        return BodyLimits(self.max_body_bytes, self.max_json_depth, self.max_array_items)

    @property
    def hooks_limits(self) -> BodyLimits:
        return BodyLimits(self.hooks_max_body_bytes, self.hooks_max_json_depth, self.hooks_max_array_items)

    @property
    def api_keys_required(self) -> bool:
        return bool(self.api_key_hashes) and self.auth != "off"


def exposure_problem(binds: Iterable[str], settings: Settings) -> str | None:
    """Refuse to serve /v1/evaluate open beyond loopback: there, API keys are required and
    CDS_AUTH=off is refused. Returns the reason, or None."""
    exposed = [b for b in binds if not is_loopback_bind(b)]
    if exposed and settings.auth == "off":
        return f"refusing to listen on {', '.join(exposed)} with CDS_AUTH=off: it is for a server on loopback only"
    if exposed and not settings.api_key_hashes:
        return (
            f"refusing to listen on {', '.join(exposed)} without access control: set CDS_API_KEYS "
            "(comma-separated keys of at least 16 characters, or sha256:<hex> digests)"
        )
    return None
