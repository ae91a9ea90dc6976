"""The real server: gunicorn with gunicorn.conf.py on a free loopback port.

Each test starts its own server in its own process group, bounds every wait, and stops what it
started by PID (SIGTERM, then SIGKILL to the group if it lingers).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import threading
import time

import pytest

from tests.common.servers import STARTUP_SECONDS, free_port, gunicorn, request, worker_pids
from tests.common.vignettes import VIGNETTES

pytestmark = pytest.mark.slow


def test_sigterm_drains_an_in_flight_request_and_exits_0(tmp_path):
    body = json.dumps(VIGNETTES["D05"]["encounter"]).encode()
    with gunicorn(tmp_path, workers=1) as (proc, port):
        sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        head = (
            f"POST /v1/evaluate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        sock.sendall(head + body[:100])  # the request is in flight: the worker is reading it
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None, "gunicorn stopped before finishing the request"
        sock.sendall(body[100:])
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
        sock.close()
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
        result = json.loads(response.split(b"\r\n\r\n", 1)[1])
        assert result["risk_level"] == "emergency"
        assert proc.wait(timeout=30) == 0
    assert left_behind(tmp_path) == []


def test_a_killed_worker_is_replaced_and_service_continues(tmp_path):
    ids = sorted(VIGNETTES)
    with gunicorn(tmp_path, workers=2) as (proc, port):
        stop = threading.Event()
        outcomes: list[int] = []

        def load():
            i = 0
            while not stop.is_set():
                try:
                    outcomes.append(request(port, "POST", "/v1/evaluate", VIGNETTES[ids[i % len(ids)]]["encounter"])[0])
                except (OSError, http.client.HTTPException):
                    # a request in flight on the killed worker is cut, even after its headers
                    # (IncompleteRead): what is tested is that the service continues
                    outcomes.append(-1)
                i += 1

        threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        before = worker_pids(proc.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            now = worker_pids(proc.pid)
            if victim not in now and len(now) == 2:
                break
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=20)
        assert outcomes.count(200) > 50
        # after the replacement every request succeeds
        statuses = [request(port, "POST", "/v1/evaluate", VIGNETTES[vid]["encounter"])[0] for vid in ids]
        assert statuses == [200] * len(ids)
        assert proc.poll() is None


def test_threaded_workers_give_single_threaded_results(tmp_path, evaluate):
    from cds.triage.encounter import load_encounter  # noqa: F401 - evaluate fixture validates

    ids = sorted(VIGNETTES)
    expected = {vid: evaluate(VIGNETTES[vid]["encounter"]) for vid in ids}
    mismatches: list[str] = []
    errors: list[str] = []
    with gunicorn(tmp_path, "--threads", "8", workers=1) as (_proc, port):

        def client(n: int) -> None:
            for i in range(60):
                vid = ids[(n * 7 + i) % len(ids)]
                try:
                    status, body = request(port, "POST", "/v1/evaluate", VIGNETTES[vid]["encounter"])
                except OSError as err:
                    errors.append(repr(err))
                    continue
                if status != 200 or json.loads(body) != expected[vid]:
                    mismatches.append(f"{vid}: {status}")

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert mismatches == []


def test_metrics_are_merged_across_workers(tmp_path):
    with gunicorn(tmp_path, workers=3) as (_proc, port):
        for i in range(30):
            assert request(port, "POST", "/v1/evaluate", VIGNETTES[f"D{(i % 34) + 1:02d}"]["encounter"])[0] == 200
        status, body = request(port, "GET", "/metrics")
        assert status == 200
        text = body.decode()
        counts = re.findall(
            r'cds_http_requests_total\{method="POST",route="/v1/evaluate",status="200"\} ([0-9.]+)', text
        )
        assert sum(float(c) for c in counts) == 30
        evaluations = re.findall(r'cds_evaluations_total\{channel="v1",risk_level="[a-z_]+"\} ([0-9.]+)', text)
        assert sum(float(c) for c in evaluations) == 30


def chunked_post(port: int, body: bytes, piece: int = 100) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        pieces = (body[i : i + piece] for i in range(0, len(body), piece))
        conn.request(
            "POST", "/v1/evaluate", body=pieces, headers={"Content-Type": "application/json"}, encode_chunked=True
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_bodies_with_and_without_a_declared_length_read_alike(tmp_path):
    encounter = VIGNETTES["D05"]["encounter"]
    with gunicorn(tmp_path, workers=1) as (_proc, port):
        declared = request(port, "POST", "/v1/evaluate", encounter)
        chunked = chunked_post(port, json.dumps(encounter).encode())
        too_large = chunked_post(port, b'{"pad": "' + b"x" * 70_000 + b'"}', piece=8192)
    assert declared[0] == chunked[0] == 200
    assert json.loads(declared[1]) == json.loads(chunked[1])
    assert json.loads(chunked[1])["risk_level"] == VIGNETTES["D05"]["expect"]["risk_level"]
    assert too_large[0] == 413


def test_structured_log_line_per_request(tmp_path):
    with gunicorn(tmp_path, workers=1) as (_proc, port):
        request(port, "POST", "/v1/evaluate", VIGNETTES["D07"]["encounter"])
        time.sleep(0.3)
        log = next(tmp_path.glob("gunicorn-*.log")).read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{") and '"event":"request"' in line]
    assert any(line["route"] == "/v1/evaluate" and line["risk_level"] == "emergency" for line in lines)


def test_refuses_to_listen_beyond_loopback_without_access_control(tmp_path):
    with gunicorn(tmp_path, env={"CDS_BIND": f"0.0.0.0:{free_port()}"}, wait=False) as (proc, _port):
        assert proc.wait(timeout=STARTUP_SECONDS) != 0
    log = next(tmp_path.glob("gunicorn-*.log")).read_text()
    assert "refusing to listen on 0.0.0.0" in log
    assert "without access control: set CDS_API_KEYS" in log
    assert left_behind(tmp_path) == []  # the directories made for it before it refused


def left_behind(tmp_path) -> list[str]:
    """What a stopped server left in its temporary directory (its metrics and replay state are
    its own, removed when it stops)."""
    return [str(p) for own_tmp in tmp_path.glob("tmp-*") for p in own_tmp.iterdir()]
