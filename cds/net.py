"""Network facts with one answer for the whole service: whether a host or a listening address
is private to this machine (the bind check at start-up, plain-http test servers, JWKS URLs),
how a base URL is spelt for comparison, and which addresses count as public."""

from __future__ import annotations

import ipaddress
import urllib.parse


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


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DEFAULT_PORTS = {"https": 443, "http": 80}


def normal_base_url(url: str) -> str:
    """A FHIR base URL (or any http(s) base) in one spelling, so that an allowlist compares
    like with like: scheme and host lower-case, the port always written, no trailing slash.
    Raises ValueError for what cannot be a base URL: no host, credentials, a query or a
    fragment, or plain http to anything but this machine."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"not a URL: {url!r}") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ValueError(f"a base URL has no credentials, query or fragment: {url!r}")
    if scheme == "http" and not is_loopback_host(host):
        raise ValueError(f"plain http is only for a server on this machine: {url!r}")
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port or _DEFAULT_PORTS[scheme]}{parts.path.rstrip('/')}"


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def plain_address(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is the IPv4 address it maps."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public_address(address: IPAddress) -> bool:
    """Reachable on the public internet: not loopback, private, link-local (cloud metadata
    lives there), shared (CGNAT), multicast, reserved or unspecified."""
    address = plain_address(address)
    return address.is_global and not address.is_multicast
