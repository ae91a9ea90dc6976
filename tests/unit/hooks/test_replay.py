"""cds.hooks.replay: each store accepts an (issuer, jti) once until it expires, keeps a quota
per issuer without touching another issuer's entries, and is shared where it says it is."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from cds.hooks.replay import Outcome, RedisReplayStore, ReplayStore, ReplayStoreUnavailable, SqliteReplayStore
from tests.common.servers import free_port, redis_server

# Redis expires a key by its own clock: the times here must lie ahead of it, however long
# after collection the test runs
NOW = float(int(time.time())) + 3600


@pytest.fixture(params=["memory", "file", "redis"])
def store(request, tmp_path) -> Iterator[ReplayStore]:
    if request.param == "memory":
        yield SqliteReplayStore(None, quota=3)
    elif request.param == "file":
        yield SqliteReplayStore(str(tmp_path / "replay.sqlite3"), quota=3)
    else:
        with redis_server(tmp_path) as url:
            redis.Redis.from_url(url).flushdb()
            yield RedisReplayStore(url, quota=3)


def test_a_jti_is_accepted_once_until_it_expires(store):
    assert store.remember("iss", "a", NOW + 10, NOW) is Outcome.ACCEPTED
    assert store.remember("iss", "a", NOW + 10, NOW + 9) is Outcome.REPLAYED
    assert store.remember("iss", "a", NOW + 30, NOW + 10) is Outcome.ACCEPTED  # expired, then new


def test_the_same_jti_of_another_issuer_is_another_token(store):
    assert store.remember("iss-1", "a", NOW + 10, NOW) is Outcome.ACCEPTED
    assert store.remember("iss-2", "a", NOW + 10, NOW) is Outcome.ACCEPTED


def test_a_full_quota_refuses_that_issuer_only_and_frees_as_entries_expire(store):
    for jti in "abc":
        assert store.remember("busy", jti, NOW + 10 + ord(jti), NOW) is Outcome.ACCEPTED
    assert store.remember("busy", "d", NOW + 10, NOW) is Outcome.QUOTA_FULL
    assert store.remember("quiet", "d", NOW + 10, NOW) is Outcome.ACCEPTED
    # a refusal is not an entry, and known ids are still told apart from new ones
    assert store.remember("busy", "a", NOW + 10, NOW) is Outcome.REPLAYED
    assert store.remember("busy", "d", NOW + 200, NOW + 10 + ord("a")) is Outcome.ACCEPTED  # "a" expired


def test_the_store_answers_readiness(store):
    assert store.problem() is None


def test_redis_entries_expire_with_their_tokens(tmp_path):
    with redis_server(tmp_path) as url:
        client = redis.Redis.from_url(url)
        client.flushdb()
        store = RedisReplayStore(url, quota=10)
        now = time.time()
        store.remember("iss", "a", now + 30, now)
        store.remember("iss", "b", now + 60, now)
        ttl = client.pttl(RedisReplayStore.key("iss"))
        assert 55_000 < ttl <= 60_000  # the key lives as long as its last entry


def test_an_unreachable_redis_is_unavailable_never_accepted():
    store = RedisReplayStore(f"redis://127.0.0.1:{free_port()}/0", quota=10)
    with pytest.raises(ReplayStoreUnavailable):
        store.remember("iss", "a", NOW + 10, NOW)
    assert "unreachable" in store.problem()


def test_an_unusable_file_refuses_to_start(tmp_path):
    with pytest.raises(ReplayStoreUnavailable):
        SqliteReplayStore(str(tmp_path / "missing-dir" / "replay.sqlite3"), quota=10)


def _remember_all(path: str, jtis: list[str], out: multiprocessing.Queue) -> None:
    store = SqliteReplayStore(path, quota=10_000)
    out.put([store.remember("iss", j, NOW + 60, NOW).value for j in jtis])


def test_a_file_store_is_shared_by_processes(tmp_path):
    path = str(tmp_path / "replay.sqlite3")
    SqliteReplayStore(path, quota=10_000)
    jtis = [str(uuid.uuid4()) for _ in range(200)]
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = context.Queue()
    workers = [context.Process(target=_remember_all, args=(path, jtis, out)) for _ in range(4)]
    for w in workers:
        w.start()
    results = [out.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    for i in range(len(jtis)):
        outcomes = sorted(r[i] for r in results)
        assert outcomes == ["accepted", "replayed", "replayed", "replayed"], (i, outcomes)
