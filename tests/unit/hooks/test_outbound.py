"""cds.hooks.outbound and cds.hooks.fhir_servers: pinned reads that still verify TLS against
the host name, and which addresses a configured server may resolve to."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cds.hooks import outbound
from cds.hooks.fhir_servers import address_policy, fhir_target
from cds.settings import TrustedIssuer
from tests.common.loopback import serve


def certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[int]:
    """A FHIR server on 127.0.0.1 that serves `cert`; yields its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def bundle(path: str, headers: Any) -> tuple[Any, ...]:
        return 200, "application/fhir+json", b'{"resourceType": "Bundle"}'

    with serve(bundle, tls=context) as base:
        yield int(base.rsplit(":", 1)[1])


def client_context(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.load_verify_locations(cert)
    return context


def test_a_pinned_https_read_verifies_the_certificate_against_the_host_name(tmp_path):
    cert, key = certificate(tmp_path, "fhir.example.test")
    with tls_server(cert, key) as port:
        endpoint = outbound.Endpoint("https", "fhir.example.test", port, "/fhir")
        budget = outbound.Budget(5, 1_000_000)
        answer = outbound.get(
            endpoint, "127.0.0.1", "/fhir/Patient/1", {}, budget, timeout=5, max_bytes=10_000, tls=client_context(cert)
        )
        assert answer.media_type == "application/fhir+json" and answer.body.startswith(b"{")
        # the same address under another name: the certificate does not match, nothing is read
        other = outbound.Endpoint("https", "other.example.test", port, "/fhir")
        with pytest.raises(outbound.OutboundError):
            outbound.get(
                other, "127.0.0.1", "/fhir/x", {}, budget, timeout=5, max_bytes=10_000, tls=client_context(cert)
            )


def test_the_budget_is_shared_by_the_reads_of_a_call(tmp_path):
    cert, key = certificate(tmp_path, "fhir.example.test")
    with tls_server(cert, key) as port:
        endpoint = outbound.Endpoint("https", "fhir.example.test", port, "/fhir")
        budget = outbound.Budget(5, 60)  # room for two 26-byte answers, not three
        for _ in range(2):
            outbound.get(
                endpoint, "127.0.0.1", "/fhir/x", {}, budget, timeout=5, max_bytes=100, tls=client_context(cert)
            )
        with pytest.raises(outbound.OutboundError, match="too_large"):
            outbound.get(
                endpoint, "127.0.0.1", "/fhir/x", {}, budget, timeout=5, max_bytes=100, tls=client_context(cert)
            )


@pytest.mark.parametrize(
    ("host", "networks", "address", "allowed"),
    [
        ("fhir.example.org", (), "93.184.216.34", True),
        ("fhir.example.org", (), "10.1.1.1", False),
        ("fhir.example.org", ("10.1.0.0/16",), "10.1.1.1", True),
        ("fhir.example.org", ("10.1.0.0/16",), "10.2.1.1", False),
        ("fhir.example.org", ("10.1.0.0/16",), "::ffff:10.1.1.1", True),
        ("fhir.example.org", (), "::ffff:127.0.0.1", False),
        ("fhir.example.org", (), "169.254.169.254", False),
        ("fhir.example.org", (), "2001:db8::1", False),
        ("fhir.example.org", (), "2606:4700::1111", True),
        ("localhost", (), "127.0.0.1", True),
        ("localhost", (), "::1", True),
        ("localhost", (), "10.0.0.1", False),
        ("10.9.9.9", (), "10.9.9.9", True),
        ("10.9.9.9", (), "10.9.9.8", False),
    ],
)
def test_address_policy(host, networks, address, allowed):
    policy = address_policy(host, tuple(ipaddress.ip_network(n) for n in networks))
    assert policy(ipaddress.ip_address(address)) is allowed


def test_a_target_is_found_only_under_its_configured_spelling():
    issuer = TrustedIssuer("https://ehr.example.org/jwks", ("https://fhir.example.org:443/r4",))
    for spelling in ("https://fhir.example.org/r4", "https://FHIR.example.org:443/r4/", "HTTPS://fhir.example.org/r4"):
        target = fhir_target(spelling, [issuer])
        assert target is not None and target.endpoint == outbound.Endpoint("https", "fhir.example.org", 443, "/r4")
    for other in (
        "https://fhir.example.org/r4/Patient",
        "https://fhir.example.org:8443/r4",
        "https://fhir.example.org/R4",
        "https://user@fhir.example.org/r4",
        "https://fhir.example.org/r4?x=1",
        "not a url",
    ):
        assert fhir_target(other, [issuer]) is None, other
