"""Settings, only from environment variables, each with a safe default. This is the only module
of cds that reads the environment (ruff banned-api), besides gunicorn.conf.py.

A malformed value stops the service at start-up with a message naming the variable: an
operator typo must not silently become a default. Secrets never appear in reprs.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cds.net import is_loopback_bind


class SettingsError(ValueError):
    pass


def packaged_rules_dir() -> Path:
    """The rules shipped with the service: in the wheel (cds/_rules), or the repository's rules/."""
    packaged = Path(__file__).with_name("_rules")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "rules"


def _issuers(raw: str | None) -> dict[str, str]:
    """CDS_TRUSTED_ISSUERS: a JSON object of issuer -> JWKS URL or path of a JWKS JSON file."""
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise SettingsError("CDS_TRUSTED_ISSUERS must be a JSON object of issuer -> JWKS URL or file path") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise SettingsError("CDS_TRUSTED_ISSUERS must be a JSON object of issuer -> JWKS URL or file path")
    for issuer, source in value.items():
        if not isinstance(source, str) or not source.strip():
            raise SettingsError(f"CDS_TRUSTED_ISSUERS: the JWKS of {issuer!r} must be a non-empty string")
    return dict(value)


def _base_url(raw: str | None) -> str:
    base_url = (raw or "").strip().rstrip("/")
    if base_url and urllib.parse.urlsplit(base_url).scheme not in ("https", "http"):
        raise SettingsError(f"CDS_PUBLIC_BASE_URL must be an http(s) URL, got {base_url!r}")
    return base_url


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


def _api_key_hashes(raw: str | None) -> tuple[bytes, ...]:
    """CDS_API_KEYS: comma-separated keys, or `sha256:<hex>` digests of keys, so an operator
    need not put the key itself in the environment. Only digests are kept."""
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
                raise SettingsError("CDS_API_KEYS: a sha256: entry must be 64 hexadecimal digits") from None
            if len(value) != 32:
                raise SettingsError("CDS_API_KEYS: a sha256: entry must be 64 hexadecimal digits")
            hashes.append(value)
        else:
            if len(item) < 16:
                raise SettingsError("CDS_API_KEYS: every key must be at least 16 characters long")
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
        )


@dataclass(frozen=True)
class Settings:
    rules_dir: Path = field(default_factory=packaged_rules_dir)
    max_body_bytes: int = 64 * 1024
    max_json_depth: int = 8
    max_array_items: int = 64
    log_level: str = "INFO"
    auth: str = "auto"  # "auto": keys when configured, open otherwise; "off": explicitly open
    api_key_hashes: tuple[bytes, ...] = field(default=(), repr=False)
    cors_origins: tuple[str, ...] = ()
    trusted_issuers: Mapping[str, str] = field(default_factory=dict)
    public_base_url: str = ""
    metrics_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR: set by gunicorn.conf.py for the workers
    fhir_timeout_seconds: float = 5.0
    fhir_max_bytes: int = 4 * 1024 * 1024
    # How old an Observation may be and still describe this episode: older vital signs,
    # findings and results are treated as unknown (asked again), never as current.
    fhir_observation_window_hours: int = 24
    hooks_max_body_bytes: int = 2 * 1024 * 1024
    hooks_max_json_depth: int = 32
    hooks_max_array_items: int = 2000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        level = env.get("CDS_LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"CDS_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
        auth = env.get("CDS_AUTH", "").strip().lower() or "auto"
        if auth not in ("auto", "on", "off"):
            raise SettingsError(f"CDS_AUTH must be on or off, got {auth!r}")
        hashes = _api_key_hashes(env.get("CDS_API_KEYS"))
        if auth == "on" and not hashes:
            raise SettingsError("CDS_AUTH=on needs CDS_API_KEYS")
        rules = env.get("CDS_RULES_DIR")
        issuers, base_url = _issuers(env.get("CDS_TRUSTED_ISSUERS")), _base_url(env.get("CDS_PUBLIC_BASE_URL"))
        if auth != "off" and issuers and not base_url:
            raise SettingsError(
                "CDS_PUBLIC_BASE_URL is required when CDS_TRUSTED_ISSUERS is set and CDS_AUTH is not off"
            )
        return cls(
            rules_dir=Path(rules) if rules else packaged_rules_dir(),
            max_body_bytes=_int(env, "CDS_MAX_BODY_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024),
            max_json_depth=_int(env, "CDS_MAX_JSON_DEPTH", 8, 3, 64),
            max_array_items=_int(env, "CDS_MAX_ARRAY_ITEMS", 64, 8, 10_000),
            log_level=level,
            auth="off" if auth == "off" else "auto",
            api_key_hashes=hashes,
            cors_origins=_origins(env.get("CDS_CORS_ORIGINS")),
            trusted_issuers=issuers,
            public_base_url=base_url,
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            fhir_timeout_seconds=_float(env, "CDS_FHIR_TIMEOUT_SECONDS", 5.0, 0.5, 60.0),
            fhir_max_bytes=_int(env, "CDS_FHIR_MAX_BYTES", 4 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
            fhir_observation_window_hours=_int(env, "CDS_FHIR_OBSERVATION_WINDOW_HOURS", 24, 1, 24 * 14),
            hooks_max_body_bytes=_int(env, "CDS_HOOKS_MAX_BODY_BYTES", 2 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
            hooks_max_json_depth=_int(env, "CDS_HOOKS_MAX_JSON_DEPTH", 32, 8, 128),
            hooks_max_array_items=_int(env, "CDS_HOOKS_MAX_ARRAY_ITEMS", 2000, 64, 100_000),
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
    """Refuse to serve beyond loopback with the evaluate endpoint open by accident: either API
    keys are configured, or the operator said CDS_AUTH=off. Returns the reason, or None."""
    exposed = [b for b in binds if not is_loopback_bind(b)]
    if exposed and not settings.api_key_hashes and settings.auth != "off":
        return (
            f"refusing to listen on {', '.join(exposed)} without access control: set CDS_API_KEYS "
            "(comma-separated keys or sha256:<hex> digests), or CDS_AUTH=off to serve it open on purpose"
        )
    return None
