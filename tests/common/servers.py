"""Real servers for tests, on loopback, each started by the test and stopped by PID: gunicorn
with gunicorn.conf.py (in its own process group: SIGTERM, then SIGKILL to the group if it
lingers), and Redis (the one .ci/run started, CDS_TEST_REDIS_URL, or one of the test's own)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.common.paths import ROOT

STARTUP_SECONDS = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(
    port: int,
    method: str,
    path: str,
    body: dict | None = None,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body) if body is not None else None
        sent = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=payload, headers={**sent, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def worker_pids(master: int) -> set[int]:
    pids = set()
    for task in Path(f"/proc/{master}/task").iterdir():
        children = (task / "children").read_text().split()
        pids.update(int(pid) for pid in children)
    return pids


@contextmanager
def gunicorn(tmp_path: Path, *args: str, workers: int | None = 2, env: dict[str, str] | None = None, wait: bool = True):
    """gunicorn on a free loopback port; workers=None keeps the default number (the default
    configuration, as `make run` starts it). Its temporary directory is tmp_path/tmp-PORT."""
    port = free_port()
    log = (tmp_path / f"gunicorn-{port}.log").open("wb")
    metrics_dir = tmp_path / f"metrics-{port}"
    metrics_dir.mkdir()
    own_tmp = tmp_path / f"tmp-{port}"  # what the server leaves in its temporary directory
    own_tmp.mkdir()
    environment = {
        "TMPDIR": str(own_tmp),
        **os.environ,
        "CDS_BIND": f"127.0.0.1:{port}",
        "CDS_RULES_DIR": str(ROOT / "rules"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "CDS_GRACEFUL_TIMEOUT": "20",
    }
    if workers is not None:
        environment["CDS_WORKERS"] = str(workers)
    expected = workers if workers is not None else (os.cpu_count() or 1) * 2 + 1
    for inherited in ("CDS_API_KEYS", "CDS_REDIS_URL", "CDS_REPLAY_DB", "CDS_TRUSTED_ISSUERS", "CDS_AUTH"):
        environment.pop(inherited, None)
    environment.update(env or {})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            *args,
            "cds.web.app:create_app()",
        ],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        if wait:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                assert proc.poll() is None, (tmp_path / f"gunicorn-{port}.log").read_text()
                try:
                    if request(port, "GET", "/healthz", timeout=2)[0] == 200 and len(worker_pids(proc.pid)) >= expected:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "gunicorn did not start in time"
                time.sleep(0.1)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


@contextmanager
def redis_server(tmp_path: Path) -> Iterator[str]:
    """A Redis URL: CI's server (.ci/run exports CDS_TEST_REDIS_URL), else a server of this
    test's own on a free loopback port, stopped by PID at the end."""
    given = os.environ.get("CDS_TEST_REDIS_URL")
    if given:
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make system-deps` (Debian package redis-server)")
    port = free_port()
    log = (tmp_path / f"redis-{port}.log").open("wb")
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp_path / f"redis-{port}.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start in time"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
