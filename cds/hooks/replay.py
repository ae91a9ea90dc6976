"""Where the ids (`jti`) of accepted CDS Hooks JWTs are kept until the tokens expire, so that a
token is accepted once, by whichever worker or replica sees it first.

- Redis (CDS_REDIS_URL), for several replicas: one sorted set per issuer, scored by expiry, and
  one atomic script that forgets what expired, refuses a known id, enforces the quota and adds.
- A SQLite file (CDS_REPLAY_DB), for the workers of one server: gunicorn.conf.py makes one per
  server by default, so every worker shares it and it outlives any one of them.
- SQLite in memory, for one process (tests, an app built without gunicorn).

Each issuer has a quota of live entries: when one issuer's tokens fill it, that issuer's new
tokens are refused (429) and no other issuer's entry is touched. Nothing is ever evicted
early: forgetting an id would let its token be replayed. A store that cannot answer fails
closed: the call is refused (503), never let through.
"""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cds.settings import Settings

REDIS_TIMEOUT_SECONDS = 0.5
SQLITE_BUSY_MS = 2000


class Outcome(Enum):
    ACCEPTED = "accepted"
    REPLAYED = "replayed"
    QUOTA_FULL = "quota_full"


class ReplayStoreUnavailable(Exception):
    """The store could not answer; `reason` is for the log and /readyz, never for a caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReplayStore(Protocol):
    kind: str

    def remember(self, issuer: str, jti: str, until: float, now: float) -> Outcome:
        """Records (issuer, jti) until `until`, unless it is already there or the issuer's
        quota is full."""

    def problem(self) -> str | None:
        """Why the store cannot be used now, or None."""


def replay_store_for(settings: Settings) -> ReplayStore:
    if settings.redis_url:
        return RedisReplayStore(settings.redis_url, settings.replay_quota_per_issuer)
    return SqliteReplayStore(settings.replay_db or None, settings.replay_quota_per_issuer)


# --- SQLite --------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jti (
    issuer TEXT NOT NULL, jti TEXT NOT NULL, until REAL NOT NULL, PRIMARY KEY (issuer, jti)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jti_until ON jti (issuer, until);
CREATE TABLE IF NOT EXISTS live (issuer TEXT PRIMARY KEY, entries INTEGER NOT NULL) WITHOUT ROWID;
"""


class SqliteReplayStore:
    """A file: one connection per process and thread (a connection never crosses a fork or a
    thread), SQLite's own locking between them. Memory: one connection and a lock (an
    in-memory database is one connection's)."""

    kind = "sqlite"

    def __init__(self, path: str | None, quota: int) -> None:
        self._quota = quota
        self._path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        # a file is opened once here only to refuse a bad path at start-up, and closed before
        # gunicorn forks
        first = self._connect()
        if path is None:
            self._memory: sqlite3.Connection | None = first
        else:
            self._memory = None
            first.close()

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self._path or ":memory:", isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
            if self._path:
                # readers never wait for the writer; a crash of the process loses nothing
                # committed, only a crash of the machine could (and the server restarts then)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise ReplayStoreUnavailable(f"sqlite: {err}") from None
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        if self._memory is not None:
            with self._lock:
                yield self._memory
            return
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.conn, local.pid = self._connect(), os.getpid()
        yield local.conn

    def remember(self, issuer: str, jti: str, until: float, now: float) -> Outcome:
        try:
            with self._connection() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    outcome = self._remember(conn, issuer, jti, until, now)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return outcome
        except sqlite3.Error as err:
            raise ReplayStoreUnavailable(f"sqlite: {err}") from None

    def _remember(self, conn: sqlite3.Connection, issuer: str, jti: str, until: float, now: float) -> Outcome:
        expired = conn.execute("DELETE FROM jti WHERE issuer = ? AND until <= ?", (issuer, now)).rowcount
        row = conn.execute("SELECT entries FROM live WHERE issuer = ?", (issuer,)).fetchone()
        entries = (row[0] if row else 0) - expired
        outcome = Outcome.ACCEPTED
        if conn.execute("SELECT 1 FROM jti WHERE issuer = ? AND jti = ?", (issuer, jti)).fetchone():
            outcome = Outcome.REPLAYED
        elif entries >= self._quota:
            outcome = Outcome.QUOTA_FULL
        else:
            conn.execute("INSERT INTO jti (issuer, jti, until) VALUES (?, ?, ?)", (issuer, jti, until))
            entries += 1
        conn.execute(
            "INSERT INTO live (issuer, entries) VALUES (?, ?) ON CONFLICT (issuer) DO UPDATE SET entries = ?",
            (issuer, entries, entries),
        )
        return outcome

    def problem(self) -> str | None:
        try:
            with self._connection() as conn:
                conn.execute("SELECT 1").fetchone()
        except (sqlite3.Error, ReplayStoreUnavailable) as err:
            return f"the replay store (SQLite) cannot be read: {err}"
        return None


# --- Redis ---------------------------------------------------------------------------------

# KEYS[1]: the issuer's sorted set; ARGV: jti, until, now, quota. 1 accepted, 0 replayed,
# -1 quota full. The key expires with its last-expiring entry.
_REMEMBER = """
local key, jti = KEYS[1], ARGV[1]
local untl, now, quota = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZSCORE', key, jti) then return 0 end
if redis.call('ZCARD', key) >= quota then return -1 end
redis.call('ZADD', key, untl, jti)
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', key, math.ceil(tonumber(last[2]) * 1000))
return 1
"""
_OUTCOMES = {1: Outcome.ACCEPTED, 0: Outcome.REPLAYED, -1: Outcome.QUOTA_FULL}


class RedisReplayStore:
    kind = "redis"

    def __init__(self, url: str, quota: int, timeout: float = REDIS_TIMEOUT_SECONDS) -> None:
        self._quota = quota
        # short timeouts and one retry: a CDS Hooks call waits at most about a second for a
        # Redis that is down, then fails closed
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
        )
        self._script = self._client.register_script(_REMEMBER)

    @staticmethod
    def key(issuer: str) -> str:
        return "cds:jti:" + hashlib.sha256(issuer.encode("utf-8")).hexdigest()[:32]

    def remember(self, issuer: str, jti: str, until: float, now: float) -> Outcome:
        if not (math.isfinite(until) and math.isfinite(now)):
            raise ValueError("times must be finite")
        try:
            answer = self._script(keys=[self.key(issuer)], args=[jti, repr(until), repr(now), self._quota])
        except redis.RedisError as err:
            raise ReplayStoreUnavailable(f"redis: {type(err).__name__}") from None
        return _OUTCOMES[int(answer)]

    def problem(self) -> str | None:
        try:
            self._client.ping()
        except redis.RedisError as err:
            return f"the replay store (Redis) is unreachable: {type(err).__name__}"
        return None
