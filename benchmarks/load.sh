#!/bin/sh
# Load benchmark of the real server (gunicorn, gunicorn.conf.py) on loopback with wrk.
#
#   benchmarks/load.sh            # about 3 minutes on the reference machine (2 cores)
#
# Measures, against one server in one run: throughput and latency p50/p99 of GET /healthz and
# of POST /v1/evaluate (every vignette encounter in turn) at 8 and at 32 connections, non-2xx
# answers, and worker memory before and after 200,000 evaluations.
# Targets: evaluate >= 50 % of healthz throughput; p99 <= 10 ms at 8 connections; zero non-2xx;
# memory growth <= 10 MB per worker.
set -eu
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (Debian package)"
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else
    sudo apt-get install -y wrk >/dev/null
  fi
fi
[ -x .venv/bin/python ] || make .venv/.installed-stamp
exec timeout 900 .venv/bin/python benchmarks/load.py "$@"
