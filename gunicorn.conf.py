"""gunicorn settings for cds: constants, and the values of cds.settings (docs/operations.md).

Sync workers that read each request whole before handling it (cds.web.worker: a client that
stalls holds a socket, not a worker), the app preloaded in the master (the rule base is
compiled once and shared copy-on-write), workers recycled after a bounded number of requests,
graceful shutdown. Threaded workers (CDS_THREADS > 1) are gunicorn's gthread workers, which do
not buffer a request body: use them only behind a buffering proxy (docs/security.md).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile

from cds.settings import ServerSettings, Settings, SettingsError, exposure_problem

try:
    SERVER = ServerSettings.from_env()
    SETTINGS = Settings.from_env()
except SettingsError as err:
    sys.exit(f"cds: {err}")

bind = [SERVER.bind]
workers = SERVER.workers
threads = SERVER.threads
worker_class = "gthread" if threads > 1 else "cds.web.worker.BufferedSyncWorker"
preload_app = True
timeout = SERVER.timeout
graceful_timeout = SERVER.graceful_timeout
keepalive = SERVER.keepalive
max_requests = SERVER.max_requests
max_requests_jitter = SERVER.max_requests_jitter
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
accesslog = None  # the app writes one structured line per request instead
errorlog = "-"
loglevel = SETTINGS.log_level.lower()
control_socket_disable = True

# Metrics from every worker land in one directory that /metrics merges. It must be set before
# the app (and prometheus_client) is imported, which preload_app does right after this file.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cds-metrics-")
_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]

# The JWT replay store that every worker of this server shares, and that outlives any one of
# them (cds.hooks.replay): unless Redis or a file of the operator's is configured, a file in a
# directory of this server's own, removed when the server stops.
if not SETTINGS.redis_url and not SETTINGS.replay_db:
    os.environ["CDS_REPLAY_DB"] = os.path.join(tempfile.mkdtemp(prefix="cds-state-"), "replay.sqlite3")

# The key that seals a card's link to the prefilled form (cds.form_link): one per server when
# none is configured, so every worker opens the links any of them made. Replicas behind one
# address need one configured key (deploy/kubernetes/secret.yaml).
if SETTINGS.form_link_key is None:
    os.environ["CDS_FORM_LINK_KEY"] = secrets.token_urlsafe(32)


def on_starting(server):  # type: ignore[no-untyped-def]
    problem = exposure_problem(server.cfg.bind, SETTINGS)
    if problem:
        server.log.error("cds: %s", problem)
        # gunicorn calls on_exit only once it has started: a refused start cleans up here
        _remove_own_dirs()
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
    _remove_own_dirs()


def _remove_own_dirs() -> None:
    """The directories this file made for this server; an operator's own are left alone. Told
    apart by name, not by a flag of this module: a reload (SIGHUP) reads this file again, with
    the variables the first reading set."""
    for made, prefix in (
        (_METRICS_DIR, "cds-metrics-"),
        (os.path.dirname(os.environ.get("CDS_REPLAY_DB", "")), "cds-state-"),
    ):
        if os.path.dirname(made) == tempfile.gettempdir() and os.path.basename(made).startswith(prefix):
            shutil.rmtree(made, ignore_errors=True)
