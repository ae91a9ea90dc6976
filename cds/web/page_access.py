"""Who may use the triage page: the same rule as the API. Without API keys the service only
listens on loopback (cds.settings.exposure_problem), and the page is open there like
/v1/evaluate. With API keys, a request needs one: as a Bearer header (an SSO proxy that injects
it, a script), or a sign-in with a key that sets a session cookie (HttpOnly, SameSite=Strict,
path /triage, eight hours, signed by the server; it names the key by its digest, so removing
the key from CDS_API_KEYS ends the session). A POST from another origin is refused (403): the
cookie is never sent cross-site, and the Origin check covers browsers that would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
import urllib.parse

from flask import Flask, Request
from werkzeug.wrappers import Response

from cds.settings import Settings, hash_key
from cds.web.api_keys import key_is_valid

COOKIE = "cds_triage"
LIFETIME_SECONDS = 8 * 3600


def init_page_secret(app: Flask, settings: Settings) -> None:
    """The key that signs sessions: from the form-link key every worker of a server shares (or a
    random one for a single process without it)."""
    base = settings.form_link_key or os.urandom(32)
    app.extensions["cds.page_secret"] = hashlib.sha256(b"cds triage page session\x00" + base).digest()


def _sign(secret: bytes, payload: str) -> str:
    mac = hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def session_cookie(secret: bytes, key: str, now: float | None = None) -> str:
    payload = f"{hash_key(key).hex()[:32]}.{int((now or time.time()) + LIFETIME_SECONDS)}"
    return f"{payload}.{_sign(secret, payload)}"


def _session_valid(secret: bytes, value: str, settings: Settings) -> bool:
    if not value.isascii():  # never one this service set; hmac cannot compare it
        return False
    digest, _, rest = value.partition(".")
    expires, _, mac = rest.partition(".")
    if not hmac.compare_digest(_sign(secret, f"{digest}.{expires}"), mac) or not expires.isdigit():
        return False
    if int(expires) < time.time():
        return False
    return any(hmac.compare_digest(d.hex()[:32], digest) for d in settings.api_key_hashes)


def may_use(request: Request, settings: Settings, secret: bytes) -> bool:
    if not settings.api_keys_required:
        return True
    cookie = request.cookies.get(COOKIE)
    return key_is_valid(request, settings) or (cookie is not None and _session_valid(secret, cookie, settings))


def same_origin(request: Request) -> bool:
    """Whether a POST comes from this service's own pages. Browsers say so in Sec-Fetch-Site;
    one that does not is held to its Origin, compared by host name only (a proxy in front may
    change the port or the scheme the service sees)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        return urllib.parse.urlsplit(origin).hostname == urllib.parse.urlsplit(request.host_url).hostname
    except ValueError:  # "http://[::1": not an origin at all, so not this one
        return False


def set_session(response: Response, request: Request, secret: bytes, key: str, settings: Settings) -> None:
    # Secure whenever the service is reached over https, also through a proxy that ends TLS
    secure = request.is_secure or settings.public_base_url.startswith("https://")
    response.set_cookie(
        COOKIE,
        session_cookie(secret, key),
        max_age=LIFETIME_SECONDS,
        path="/triage",
        secure=secure,
        httponly=True,
        samesite="Strict",
    )
