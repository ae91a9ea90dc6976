"""One answer to "is this host or address private to this machine?"."""

import pytest

from cds.net import is_loopback_bind, is_loopback_host


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("example.org", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [("127.0.0.1:8000", True), ("[::1]:8000", True), ("unix:/run/cds.sock", True), ("0.0.0.0:8000", False)],
)
def test_loopback_binds(bind, loopback):
    assert is_loopback_bind(bind) is loopback
