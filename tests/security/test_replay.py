"""Finding: a replayed CDS Hooks JWT was accepted (the jti cache was per worker), a worker's
restart wiped it, and one issuer could fill the cache for all. Properties on the real server:
a token is accepted once by any worker, after any worker restart, and by any replica sharing
the Redis store; a Redis that does not answer fails CDS Hooks closed (503) while /v1/evaluate
serves and /readyz says why; one issuer's quota never touches another's."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
import redis

from cds.web.app import create_app
from tests.common.hooks_calls import OTHER_ISSUER, SERVICE, auth, call_body, empty_prefetch, hooks_env, hooks_settings
from tests.common.jwt_keys import DISCOVERY_AUD
from tests.common.servers import free_port, gunicorn, redis_server, request, worker_pids
from tests.common.vignettes import VIGNETTES

pytestmark = pytest.mark.slow


def discovery(port: int, headers: dict[str, str]) -> int:
    return request(port, "GET", "/cds-services", headers=headers)[0]


def test_a_token_sent_eight_times_is_accepted_once_by_the_default_server(tmp_path):
    with gunicorn(tmp_path, workers=None, env=hooks_env(tmp_path)) as (_proc, port):
        headers = auth(DISCOVERY_AUD)
        sequential = [discovery(port, headers) for _ in range(8)]
        assert sorted(sequential) == [200] + [401] * 7

        concurrent: list[int] = []
        headers = auth(DISCOVERY_AUD)
        barrier = threading.Barrier(8)

        def send() -> None:
            barrier.wait(timeout=10)
            concurrent.append(discovery(port, headers))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(concurrent) == [200] + [401] * 7


def test_a_used_token_stays_refused_after_every_worker_is_replaced(tmp_path):
    with gunicorn(tmp_path, workers=2, env=hooks_env(tmp_path)) as (proc, port):
        headers = auth(DISCOVERY_AUD)
        assert discovery(port, headers) == 200
        before = worker_pids(proc.pid)
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not (len(after := worker_pids(proc.pid)) == 2 and not after & before):
            assert time.monotonic() < deadline, "the workers were not replaced"
            time.sleep(0.1)
        time.sleep(0.5)
        assert {discovery(port, headers) for _ in range(4)} == {401}
        assert discovery(port, auth(DISCOVERY_AUD)) == 200


def test_two_servers_sharing_redis_accept_a_token_once(tmp_path):
    with redis_server(tmp_path) as url:
        env = hooks_env(tmp_path, CDS_REDIS_URL=url)
        with (
            gunicorn(tmp_path, workers=2, env=env) as (_a, port_a),
            gunicorn(tmp_path, workers=2, env=env) as (
                _b,
                port_b,
            ),
        ):
            for first, second in ((port_a, port_b), (port_b, port_a)):
                headers = auth(DISCOVERY_AUD)
                assert discovery(first, headers) == 200
                assert discovery(second, headers) == 401
                assert discovery(first, headers) == 401
            status, body = request(port_a, "GET", "/readyz")
            assert status == 200 and json.loads(body)["replay_store"] == {"kind": "redis", "status": "ok"}


def test_an_unreachable_redis_fails_cds_hooks_closed_and_leaves_evaluate_serving(tmp_path):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with gunicorn(tmp_path, workers=1, env=hooks_env(tmp_path, CDS_REDIS_URL=dead)) as (_proc, port):
        status, body = request(port, "POST", SERVICE, call_body(empty_prefetch()), headers=auth())
        assert status == 503
        problem = json.loads(body)
        assert problem["type"].endswith("/replay-store-unavailable")
        assert "redis" not in problem["detail"].lower()  # the caller is not told about the back end
        status, body = request(port, "GET", "/readyz")
        ready = json.loads(body)
        assert status == 200 and ready["status"] == "degraded"
        assert ready["replay_store"]["status"] == "unavailable" and "Redis" in ready["replay_store"]["reason"]
        status, body = request(port, "POST", "/v1/evaluate", VIGNETTES["D05"]["encounter"])
        assert status == 200 and json.loads(body)["risk_level"] == VIGNETTES["D05"]["expect"]["risk_level"]


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_one_issuer_at_its_quota_does_not_touch_another(tmp_path, store):
    with redis_server(tmp_path) as url:
        extra = {"redis_url": url} if store == "redis" else {}
        redis.Redis.from_url(url).flushdb()  # CI's Redis outlives a test: start from no entries
        settings = hooks_settings(tmp_path, replay_quota_per_issuer=100, **extra)
        client = create_app(settings).test_client()
        accepted = [client.get("/cds-services", headers=auth(DISCOVERY_AUD)).status_code for _ in range(100)]
        assert accepted == [200] * 100
        full = client.get("/cds-services", headers=auth(DISCOVERY_AUD))
        assert full.status_code == 429 and full.headers["Retry-After"]
        assert client.get("/cds-services", headers=auth(DISCOVERY_AUD, issuer=OTHER_ISSUER)).status_code == 200
