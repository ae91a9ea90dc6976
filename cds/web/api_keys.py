"""Bearer secrets: API keys for /v1/evaluate (CDS_API_KEYS) and the metrics token for /metrics
(CDS_METRICS_TOKEN), compared as SHA-256 digests in constant time. A refusal says nothing
about why (no hint whether a key exists)."""

from __future__ import annotations

import hmac

from flask import Request

from cds.net import is_loopback_host
from cds.problems import unauthorized
from cds.settings import Settings, hash_key


def bearer_matches(request: Request, digests: tuple[bytes, ...]) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return False
    presented = hash_key(key.strip())
    # compare against every configured digest, without stopping early
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(presented, digest)
    return matched


def key_is_valid(request: Request, settings: Settings) -> bool:
    return bearer_matches(request, settings.api_key_hashes)


def require_api_key(request: Request, settings: Settings) -> None:
    if settings.api_keys_required and not key_is_valid(request, settings):
        raise unauthorized()


def require_metrics_access(request: Request, settings: Settings) -> None:
    """With CDS_METRICS_TOKEN set, the token is required from everyone; without it, metrics are
    only for a scraper on this machine (the TCP peer is loopback)."""
    if settings.metrics_token_hashes:
        allowed = bearer_matches(request, settings.metrics_token_hashes)
    else:
        allowed = is_loopback_host(request.remote_addr)
    if not allowed:
        raise unauthorized()
