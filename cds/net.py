"""Whether a host or a listening address is private to this machine: one answer for the whole
service (the bind check at start-up, CDS Hooks' plain-http test servers, JWKS URLs)."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str | None) -> bool:
    """A host name or address that only this machine can reach: localhost, 127.0.0.0/8, ::1."""
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_bind(bind: str) -> bool:
    """Whether a gunicorn bind address (host:port, [v6]:port or unix:path) is private to this host."""
    if bind.startswith(("unix:", "fd://")):
        return True
    host = bind.rsplit(":", 1)[0] if ":" in bind else bind
    return is_loopback_host(host)
