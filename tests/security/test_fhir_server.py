"""Finding: `fhirServer` was an SSRF and port-scanning primitive (any https host and port,
private and link-local ranges, numeric hosts, plain http to loopback), the 412 told the caller
how each probe failed, the client's access token went to that host, and a fetch had no overall
deadline. Properties: only a FHIR server configured for the caller's issuer is read, at an
address that is public or named by the configuration, pinned, with no redirect, within a
deadline and a size; the caller learns nothing about the target."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from cds.web.app import create_app
from tests.common.hooks_calls import SERVICE, auth, call_body, empty_prefetch, fhir_auth, hooks_settings
from tests.common.loopback import Answer, raw_peer, serve
from tests.common.slow_peer import drip

FHIR_JSON = "application/fhir+json"


@contextmanager
def canary() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback listener that records every connection made to it (and what was sent)."""
    seen: list[bytes] = []

    def record(conn: socket.socket, stop: threading.Event) -> None:
        with conn:
            conn.settimeout(1)
            try:
                seen.append(conn.recv(65536))
            except OSError:
                seen.append(b"")

    with raw_peer(record) as where:
        yield where, seen


def hooks_client(tmp_path, fhir_servers: tuple[str, ...] = (), **settings: Any):
    return create_app(hooks_settings(tmp_path, fhir_servers, **settings)).test_client()


def fetch_call(client, server: str, access_token: str = "ehr-access-token"):
    body = call_body(None, fhirServer=server, fhirAuthorization=fhir_auth(access_token))
    return client.post(SERVICE, json=body, headers=auth())


@pytest.mark.parametrize(
    "target",
    [
        "http://{canary}/fhir",
        "http://localhost:{port}/fhir",
        "https://{canary}/fhir",
        "https://fhir.example.org:{port}/r4",
        "https://2130706433/r4",
        "https://0x7f000001/r4",
        "https://127.1/r4",
        "https://[::1]:{port}/r4",
        "https://[::ffff:127.0.0.1]:{port}/r4",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/fhir",
        "https://fhir.example.org/r4/../admin",
    ],
)
def test_a_server_not_configured_for_the_issuer_is_refused_before_any_connection(tmp_path, target):
    with canary() as (where, seen):
        port = where.rsplit(":", 1)[1]
        client = hooks_client(tmp_path, ("https://fhir.example.org/r4",))
        response = fetch_call(client, target.format(canary=where, port=port), access_token="secret-token-1")
        time.sleep(0.2)
    assert response.status_code == 412
    problem = response.get_json()
    assert problem["type"].endswith("/fhir-server-not-allowed")
    assert seen == []  # no connection, so the token went nowhere
    # the detail is the same whatever the target: nothing about it is told back
    assert "configured for this CDS client" in problem["detail"]
    assert port not in problem["detail"] and "127" not in problem["detail"]


def test_another_issuers_server_is_not_this_issuers(tmp_path):
    with canary() as (where, seen):
        client = create_app(
            hooks_settings(tmp_path, (f"http://{where}/fhir",))
        ).test_client()  # configured for ISSUER only
        body = call_body(None, fhirServer=f"http://{where}/fhir", fhirAuthorization=fhir_auth())
        from tests.common.hooks_calls import OTHER_ISSUER

        response = client.post(SERVICE, json=body, headers=auth(issuer=OTHER_ISSUER))
        time.sleep(0.2)
    assert response.status_code == 412 and seen == []


NON_PUBLIC = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "::1",
    "fd00:ec2::254",
    "fe80::1",
    "::ffff:127.0.0.1",
]


@contextmanager
def resolving(monkeypatch, *addresses: str) -> Iterator[list[tuple[str, int]]]:
    """Name resolution that answers `addresses`, and connections recorded instead of made."""
    connects: list[tuple[str, int]] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        connects.append(address)
        raise ConnectionRefusedError("recorded, not made")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield connects


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_a_configured_host_resolving_to_a_non_public_address_is_not_contacted(tmp_path, monkeypatch, address):
    client = hooks_client(tmp_path, ("https://fhir.example.org/r4",))
    with resolving(monkeypatch, address) as connects:
        response = fetch_call(client, "https://fhir.example.org/r4")
    assert response.status_code == 412
    assert response.get_json()["type"].endswith("/fhir-fetch-failed")
    assert connects == []


def test_one_non_public_address_among_public_ones_is_enough_to_refuse(tmp_path, monkeypatch):
    client = hooks_client(tmp_path, ("https://fhir.example.org/r4",))
    with resolving(monkeypatch, "93.184.216.34", "10.0.0.7") as connects:
        assert fetch_call(client, "https://fhir.example.org/r4").status_code == 412
    assert connects == []


def test_a_network_the_configuration_names_is_contacted_at_the_checked_address(tmp_path, monkeypatch):
    settings = hooks_settings(tmp_path, ("https://fhir.internal.example/r4",))
    issuer = next(iter(settings.trusted_issuers))
    from dataclasses import replace
    from ipaddress import ip_network

    trusted = dict(settings.trusted_issuers)
    trusted[issuer] = replace(trusted[issuer], fhir_networks=(ip_network("10.20.0.0/16"),))
    client = create_app(replace(settings, trusted_issuers=trusted)).test_client()
    with resolving(monkeypatch, "10.20.3.4") as connects:
        response = fetch_call(client, "https://fhir.internal.example/r4")
    assert response.status_code == 412  # the recorded connection was refused
    assert connects == [("10.20.3.4", 443)]  # pinned: the address checked is the one dialled


def test_the_address_is_resolved_once_per_call_and_pinned(tmp_path, monkeypatch):
    resolved: list[str] = []
    real = socket.getaddrinfo

    def counting(host: str, *args: Any, **kwargs: Any) -> Any:
        resolved.append(host)
        return real(host, *args, **kwargs)

    prefetch = empty_prefetch()
    with serve(lambda path, headers: (200, FHIR_JSON, json.dumps(prefetch["vitals"]).encode())) as base:
        port = base.rsplit(":", 1)[1]
        client = hooks_client(tmp_path, (f"http://localhost:{port}/fhir",))
        monkeypatch.setattr(socket, "getaddrinfo", counting)
        partial = {k: v for k, v in prefetch.items() if k == "patient"}
        body = call_body(partial, fhirServer=f"http://localhost:{port}/fhir", fhirAuthorization=fhir_auth())
        response = client.post(SERVICE, json=body, headers=auth())
    assert response.status_code == 200, response.get_data(as_text=True)
    # four fetches, one lookup of the name; every connection dialled the address found then
    assert [h for h in resolved if h != "127.0.0.1"] == ["localhost"]
    assert resolved.count("127.0.0.1") == 4


def test_a_redirect_is_not_followed(tmp_path):
    with canary() as (where, seen):

        def redirect(path: str, headers: Any) -> tuple[Any, ...]:
            return 302, FHIR_JSON, b"", {"Location": f"http://{where}/fhir/Patient/p1"}

        with serve(redirect) as base:
            client = hooks_client(tmp_path, (f"{base}/fhir",))
            response = fetch_call(client, f"{base}/fhir")
        time.sleep(0.2)
    assert response.status_code == 412 and seen == []


@contextmanager
def raw_server(answer: Answer) -> Iterator[str]:
    """A FHIR base URL whose every connection is handled by `answer(conn, stop)`."""
    with raw_peer(answer) as where:
        yield f"http://{where}/fhir"


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    drip(conn, stop, b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 100000\r\n\r\n", b" ")


def trickle_head(conn: socket.socket, stop: threading.Event) -> None:
    drip(conn, stop, b"HTTP/1.1 200 OK\r\nX-Pad: ", b"a")


@pytest.mark.parametrize("answer", [trickle, trickle_head], ids=["body", "head"])
def test_a_trickling_server_is_abandoned_at_the_call_deadline(tmp_path, answer):
    with raw_server(answer) as url:
        client = hooks_client(tmp_path, (url,), fhir_call_deadline_seconds=1.0)
        started = time.monotonic()
        response = fetch_call(client, url)
        elapsed = time.monotonic() - started
    assert response.status_code == 412
    assert elapsed < 2.5, elapsed  # one deadline for the whole call, not a timeout per read


@pytest.mark.parametrize("declared", [True, False])
def test_an_oversized_answer_is_refused(tmp_path, declared):
    big = json.dumps({"resourceType": "Bundle", "entry": [], "pad": "x" * 80_000}).encode()

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        with conn:
            conn.recv(65536)
            length = f"Content-Length: {len(big)}\r\n" if declared else "Connection: close\r\n"
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n{length}\r\n".encode() + big)

    with raw_server(answer) as url:
        client = hooks_client(tmp_path, (url,), fhir_max_bytes=64 * 1024)
        response = fetch_call(client, url)
    assert response.status_code == 412


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[" * 100_000 + b"]" * 100_000, b'{"resourceType": "Bundle", "entry": "\\ud800"}', b"\xff\xfe"],
)
def test_a_malformed_answer_is_a_412(tmp_path, body):
    with serve(lambda path, headers: (200, FHIR_JSON, body)) as base:
        client = hooks_client(tmp_path, (f"{base}/fhir",))
        response = fetch_call(client, f"{base}/fhir")
    assert response.status_code == 412


def test_the_412_says_the_same_however_the_fetch_failed(tmp_path):
    details = set()
    with serve(lambda path, headers: (500, FHIR_JSON, b"{}")) as failing:
        details.add(fetch_call(hooks_client(tmp_path, (f"{failing}/fhir",)), f"{failing}/fhir").get_json()["detail"])
    with canary() as (where, _seen):
        pass  # closed now: connection refused
    details.add(
        fetch_call(hooks_client(tmp_path, (f"http://{where}/fhir",)), f"http://{where}/fhir").get_json()["detail"]
    )
    with serve(lambda path, headers: (200, "text/html", b"<html>")) as html:
        details.add(fetch_call(hooks_client(tmp_path, (f"{html}/fhir",)), f"{html}/fhir").get_json()["detail"])
    assert len(details) == 1, details
