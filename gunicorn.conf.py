"""gunicorn settings, from the environment with safe defaults (see README, "Settings")."""

import multiprocessing
import os

bind = os.environ.get("CDS_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CDS_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
threads = int(os.environ.get("CDS_THREADS", "1"))
preload_app = True
timeout = int(os.environ.get("CDS_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("CDS_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
max_requests = int(os.environ.get("CDS_MAX_REQUESTS", "20000"))
max_requests_jitter = int(os.environ.get("CDS_MAX_REQUESTS_JITTER", "2000"))
accesslog = None
errorlog = "-"
loglevel = os.environ.get("CDS_LOG_LEVEL", "info").lower()
