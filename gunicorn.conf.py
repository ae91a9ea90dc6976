"""gunicorn settings for cds, from the environment with safe defaults (README, "Settings").

Sync workers, the app preloaded in the master (the rule base is compiled once and shared
copy-on-write), workers recycled after a bounded number of requests, graceful shutdown.
Threaded workers (CDS_THREADS > 1) are safe: the engine serialises evaluations with a lock.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from cds.settings import Settings, exposure_problem


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        sys.exit(f"cds: {name} must be an integer, got {raw!r}")


bind = [os.environ.get("CDS_BIND", "127.0.0.1:8000")]
workers = _int("CDS_WORKERS", (os.cpu_count() or 1) * 2 + 1)
threads = _int("CDS_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
preload_app = True
timeout = _int("CDS_TIMEOUT", 30)
graceful_timeout = _int("CDS_GRACEFUL_TIMEOUT", 30)
keepalive = _int("CDS_KEEPALIVE", 5)
max_requests = _int("CDS_MAX_REQUESTS", 20000)
max_requests_jitter = _int("CDS_MAX_REQUESTS_JITTER", 2000)
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
accesslog = None  # the app writes one structured line per request instead
errorlog = "-"
loglevel = os.environ.get("CDS_LOG_LEVEL", "info").lower()
control_socket_disable = True

# Metrics from every worker land in one directory that /metrics merges. It must be set before
# the app (and prometheus_client) is imported, which preload_app does right after this file.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cds-metrics-")
_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def on_starting(server):  # type: ignore[no-untyped-def]
    problem = exposure_problem(server.cfg.bind, Settings.from_env())
    if problem:
        server.log.error("cds: %s", problem)
        sys.exit(3)
    # stale samples of an earlier run would be merged into this one's
    for entry in os.listdir(_METRICS_DIR):
        path = os.path.join(_METRICS_DIR, entry)
        if os.path.isfile(path) and entry.endswith(".db"):
            os.unlink(path)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    if _METRICS_DIR.startswith(tempfile.gettempdir()) and os.path.basename(_METRICS_DIR).startswith("cds-metrics-"):
        shutil.rmtree(_METRICS_DIR, ignore_errors=True)
