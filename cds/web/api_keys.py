"""API keys for /v1/evaluate: `Authorization: Bearer <key>`, compared as SHA-256 digests in
constant time. A refusal says nothing about why (no hint whether a key exists)."""

from __future__ import annotations

import hmac

from flask import Request

from cds.problems import unauthorized
from cds.settings import Settings, hash_key


def key_is_valid(request: Request, settings: Settings) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return False
    presented = hash_key(key.strip())
    # compare against every configured digest, without stopping early
    matched = False
    for digest in settings.api_key_hashes:
        matched |= hmac.compare_digest(presented, digest)
    return matched


def require_api_key(request: Request, settings: Settings) -> None:
    if settings.api_keys_required and not key_is_valid(request, settings):
        raise unauthorized()
