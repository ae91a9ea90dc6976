"""The link from a CDS Hooks card to the triage form, prefilled with what the EHR told us.

The answers travel in the URL's fragment (`/triage#prefill=TOKEN`), which a browser never sends
to a server, so they reach no access log, proxy or Referer. The token is the answers (clinical
fields only: no name, no identifier, no encounter id) sealed with AES-256-GCM under the
service's form-link key, with an expiry: only this service can read it, nobody can alter it, and
it is useless after CDS_FORM_LINK_TTL_SECONDS. The page's script posts it to /triage/resume,
which opens it and renders the form. Without a key there is no prefill: the card links to the
blank form.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cds.triage.fields import BY_PATH

_CONTEXT = b"cds form link v1"  # binds a token to this use: a key reused elsewhere opens nothing here
MAX_TOKEN_CHARS = 16_384


class LinkError(ValueError):
    pass


def seal(key: bytes, answers: dict[str, Any], ttl_seconds: int, now: float | None = None) -> str:
    """A token for `answers` (field path -> value; anything not a clinical field is dropped)."""
    clinical = {p: v for p, v in answers.items() if p in BY_PATH and BY_PATH[p].clinical and v is not None}
    body = json.dumps({"exp": int((now or time.time()) + ttl_seconds), "answers": clinical}, separators=(",", ":"))
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, body.encode("utf-8"), _CONTEXT)
    return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")


def open_token(key: bytes, token: str, now: float | None = None) -> dict[str, Any]:
    """The answers of a token; LinkError if it is malformed, altered, for another key or expired."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
        raise LinkError("not a form link")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], _CONTEXT))
    except (ValueError, InvalidTag):
        raise LinkError("not a form link of this service") from None
    if not isinstance(body, dict) or not isinstance(body.get("answers"), dict) or not isinstance(body.get("exp"), int):
        raise LinkError("not a form link of this service")
    if body["exp"] < (now or time.time()):
        raise LinkError("the link has expired: open the form again from the EHR")
    answers: dict[str, Any] = body["answers"]
    return answers
