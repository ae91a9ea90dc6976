#!/usr/bin/env bash
# Build the cds image without a Docker daemon (buildah) and smoke-test it.
#
#   scripts/image-smoke.sh [--standin] [--rebuild-standin] [--base IMAGE] [--timeout SECONDS]
#   scripts/image-smoke.sh --clean      remove every image, cache layer and container it stored
#
# What it does:
#   1. finds the base image: docker.io/library/python:3.12-slim-bookworm from local storage or
#      a registry; when neither has it and --standin is given, builds a local stand-in (below);
#   2. builds the Dockerfile with `buildah bud --isolation chroot --format docker` (Docker
#      format, because the OCI format drops HEALTHCHECK);
#   3. runs the image's own ENTRYPOINT in a buildah working container, bound to a free port on
#      127.0.0.1 (chroot isolation shares the host's network), with CDS_AUTH=off;
#   4. checks: GET /healthz is 200; POST /v1/evaluate with the encounter of
#      tests/vignettes/D05.json is 200 with risk_level "emergency"; the image's HEALTHCHECK
#      command passes inside the container; gunicorn master and workers run as uid 10001;
#      the runtime image has no C compiler, no /wheels or /src, Python 3.12; the installed cds
#      package is the code of cds/ as the build started (no stale cached layer);
#   5. stops what it started, by PID (gunicorn master with TERM, a graceful shutdown, then the
#      `buildah run` process), removes its working container, prints a PASS/FAIL summary; the
#      exit status is 0 only if every check passed.
#
# Needs root (vfs storage and chroot isolation without user namespaces), buildah, curl and a
# host python3 (JSON handling); debootstrap and /root/.pyenv/versions/3.12.1 for --standin.
# Everything lives in a storage root of its own ($CDS_SMOKE_DIR, default
# /var/tmp/cds-image-smoke), apart from any other buildah/podman storage on the machine. It is
# safe to run again: leftovers of an earlier run (its working containers, a server it left
# running) are removed first, and build steps are cached (--layers). The cache grows with each
# build of changed sources (vfs keeps whole copies of every layer, ~0.7 GB for a builder step);
# --clean empties it, and when the storage root is above $CDS_SMOKE_MAX_GB (default 20) at the
# start of a run, the images no tag refers to (old cache layers) are pruned first.
#
# The stand-in base (--standin), for machines that cannot reach a registry. It is NOT
# python:3.12-slim-bookworm. It is: Debian bookworm `debootstrap --variant=minbase` from
# deb.debian.org, plus the run-time libraries CPython links to, ca-certificates, netbase and
# tzdata (as the official image has), plus this host's pyenv CPython 3.12.1 copied to /usr/local
# (test suites, __pycache__ and the host's site-packages left out; script shebangs rewritten;
# ldconfig run), with pip 25.0.1 installed into it. Known differences from the official image:
#   - CPython 3.12.1 built by pyenv (configure --enable-shared, no PGO/LTO flags of the official
#     build) instead of the latest 3.12.x; its sysconfig still names the pyenv prefix
#     (/root/.pyenv/versions/3.12.1) in build-time variables such as LIBDIR and LDFLAGS (an
#     rpath to a directory that does not exist in the image; harmless for building wheels);
#   - the Debian packages are today's bookworm, not the set frozen in a given official image;
#     minbase keeps documentation and locales that the official slim image strips;
#   - the host's local CA certificates (/usr/local/share/ca-certificates/*.crt) are added to the
#     trust store, because this machine reaches PyPI only through a TLS-intercepting egress
#     proxy; the official image trusts only Debian's CA bundle;
#   - pip 25.0.1 (downloaded by the host's pip) rather than the pip the official 3.12.x
#     image bundles; no GPG_KEY/PYTHON_SHA256 variables; the Tk/X11 libraries are absent in
#     both, so tkinter cannot be imported in either;
#   - it carries the label org.opencontainers.image.description naming it a stand-in.
set -euo pipefail

PROJECT=$(cd "$(dirname "$0")/.." && pwd)
SMOKE_DIR=${CDS_SMOKE_DIR:-/var/tmp/cds-image-smoke}
OFFICIAL_BASE=docker.io/library/python:3.12-slim-bookworm
STANDIN_BASE=localhost/cds-standin/python:3.12-slim-bookworm
IMAGE=localhost/cds:smoke
STANDIN_PYTHON=${CDS_STANDIN_PYTHON:-/root/.pyenv/versions/3.12.1}
STANDIN_PIP=pip==25.0.1
DEBIAN_MIRROR=${CDS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CTR_PREFIX=cds-smoke-
BUILD_TIMEOUT=3600
PULL_TIMEOUT=120

use_standin=0
rebuild_standin=0
clean_only=0
base_override=
ready_timeout=90

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

while [ $# -gt 0 ]; do
  case $1 in
    --standin) use_standin=1 ;;
    --rebuild-standin) use_standin=1; rebuild_standin=1 ;;
    --base) base_override=${2:?--base needs an image reference}; shift ;;
    --timeout) ready_timeout=${2:?--timeout needs seconds}; shift ;;
    --clean) clean_only=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '[image-smoke] %s\n' "$*"; }
die() { printf '[image-smoke] ERROR: %s\n' "$*" >&2; summary; exit 1; }

declare -a RESULTS=()
failed=0
pass() { RESULTS+=("PASS  $*"); log "PASS: $*"; }
fail() { RESULTS+=("FAIL  $*"); log "FAIL: $*"; failed=1; }
summary() {
  echo
  echo "================ image smoke summary ================"
  echo "base image : ${BASE:-<none>}"
  echo "image      : $IMAGE"
  [ -n "${build_seconds:-}" ] && echo "build time : ${build_seconds}s"
  if [ ${#RESULTS[@]} -eq 0 ]; then echo "FAIL  no checks ran"; else printf '%s\n' "${RESULTS[@]}"; fi
  if [ "$failed" -eq 0 ] && [ ${#RESULTS[@]} -gt 0 ]; then echo "RESULT: PASS"; else echo "RESULT: FAIL"; fi
  echo "logs       : $LOG_DIR"
  echo "storage    : $SMOKE_DIR/storage ($(du -sh "$SMOKE_DIR/storage" 2>/dev/null | cut -f1); --clean empties it)"
  echo "====================================================="
}

[ "$(id -u)" -eq 0 ] || { echo "run as root (vfs storage and chroot isolation need it)" >&2; exit 2; }
for tool in buildah curl python3 timeout setsid ss flock; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (apt-get install -y buildah curl iproute2)" >&2; exit 2; }
done

mkdir -p "$SMOKE_DIR/storage" "$SMOKE_DIR/runroot" "$SMOKE_DIR/logs"
LOG_DIR="$SMOKE_DIR/logs"
PIDFILE="$SMOKE_DIR/server.pid"
BUILDAH=(buildah --storage-driver vfs --root "$SMOKE_DIR/storage" --runroot "$SMOKE_DIR/runroot")

# ---- cleanup ---------------------------------------------------------------------------------
ctr=
server_pid=
gunicorn_pid=
stop_pid() { # stop one process we started: TERM, wait up to 15 s, then KILL
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  log "pid $pid did not stop after TERM; sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
}
stop_server() {
  # The gunicorn master first: TERM is its graceful shutdown (workers finish, then exit). The
  # `buildah run` that started it then ends by itself; it is signalled only if it does not
  # (buildah answers TERM by killing its child outright).
  if [ -n "$gunicorn_pid" ]; then stop_pid "$gunicorn_pid"; gunicorn_pid=; fi
  if [ -n "$server_pid" ]; then
    for _ in $(seq 1 20); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
    stop_pid "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
  rm -f "$PIDFILE"
}
# shellcheck disable=SC2329  # invoked by the EXIT trap
cleanup() {
  stop_server
  if [ -n "$ctr" ]; then "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true; ctr=; fi
}

# One run at a time per storage root: the clean-up below treats everything in it as its own.
exec 9>"$SMOKE_DIR/lock"
flock -n 9 || { echo "another image-smoke run holds $SMOKE_DIR/lock" >&2; exit 2; }
trap cleanup EXIT
trap 'log "interrupted"; fail "run interrupted by a signal"; summary; exit 130' INT TERM

# Leftovers of an earlier run that was killed: its server (the PIDs it recorded in $PIDFILE,
# gunicorn master first, and only while they still are gunicorn or buildah processes) and any
# working containers in this script's own storage root (its run container, a stand-in in the
# making, intermediate containers of a failed build).
if [ -f "$PIDFILE" ]; then
  read -r -a old_pids <"$PIDFILE" || true
  for pid in "${old_pids[@]}"; do
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -Eq 'buildah|gunicorn'; then
      log "stopping server pid $pid left by an earlier run"
      stop_pid "$pid"
    fi
  done
  rm -f "$PIDFILE"
fi
while read -r id name; do
  [ -n "$id" ] || continue
  log "removing leftover container $name"
  "${BUILDAH[@]}" rm "$id" >/dev/null || true
done < <("${BUILDAH[@]}" containers --noheading --format '{{.ContainerID}} {{.ContainerName}}' 2>/dev/null || true)

storage_gb=$(( $(du -sk "$SMOKE_DIR/storage" | cut -f1) / 1024 / 1024 ))
if [ "$clean_only" -eq 0 ] && [ "$storage_gb" -ge "${CDS_SMOKE_MAX_GB:-20}" ]; then
  log "storage root holds ${storage_gb} GB (limit ${CDS_SMOKE_MAX_GB:-20}): pruning untagged images and cache layers"
  "${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true
fi
if [ "$clean_only" -eq 1 ]; then
  "${BUILDAH[@]}" rmi --all --force >/dev/null 2>&1 || true
  log "removed all images and cached layers from $SMOKE_DIR/storage ($(du -sh "$SMOKE_DIR/storage" | cut -f1) left)"
  exit 0
fi

# ---- 1. base image ---------------------------------------------------------------------------
have_image() { "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; }

build_standin() {
  command -v debootstrap >/dev/null || die "--standin needs debootstrap (apt-get install -y debootstrap)"
  [ -x "$STANDIN_PYTHON/bin/python3.12" ] || die "--standin needs CPython 3.12 at $STANDIN_PYTHON"
  local work mnt t0 rc
  t0=$(date +%s)
  log "building stand-in base $STANDIN_BASE (debootstrap bookworm minbase + $STANDIN_PYTHON); log: $LOG_DIR/standin.log"
  "${BUILDAH[@]}" rmi "$STANDIN_BASE" >/dev/null 2>&1 || true
  work=$("${BUILDAH[@]}" from --name cds-standin-work scratch)
  mnt=$("${BUILDAH[@]}" mount "$work")
  case $mnt in /?*/*) ;; *) die "unexpected mount point '$mnt' for the stand-in container" ;; esac
  # A subshell with its own `set -e`, not part of an && / || list (which would switch -e off).
  set +e
  (
    set -euo pipefail
    # Commands inside the new root get a clean environment, not this host's (PIP_*, ...).
    in_root() { chroot "$mnt" /usr/bin/env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
    # Run-time libraries of CPython's extension modules (ldd of lib-dynload, tkinter's X11/Tk
    # left out as in the official slim image) and what the official image installs.
    debootstrap --variant=minbase \
      --include=ca-certificates,netbase,tzdata,libbz2-1.0,libexpat1,libffi8,liblzma5,libncursesw6,libreadline8,libsqlite3-0,libssl3,libuuid1,zlib1g,libnsl2,libtirpc3,libcrypt1,libgssapi-krb5-2 \
      bookworm "$mnt" "$DEBIAN_MIRROR"
    # Apt sources as in the official bookworm images (deb822, with updates and security).
    rm -f "$mnt/etc/apt/sources.list"
    printf '%s\n' \
      'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm bookworm-updates' \
      'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' '' \
      'Types: deb' 'URIs: http://deb.debian.org/debian-security' 'Suites: bookworm-security' \
      'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
      >"$mnt/etc/apt/sources.list.d/debian.sources"
    # This host's extra trust anchors (TLS-intercepting egress proxy): without them pip in the
    # builder stage cannot reach PyPI. A difference from the official image; see the header.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
      cp /usr/local/share/ca-certificates/*.crt "$mnt/usr/local/share/ca-certificates/"
      in_root update-ca-certificates
    fi
    # CPython 3.12 into /usr/local, laid out as in the official image, without the test suites,
    # byte code, static library and the host's site-packages (the official build also removes
    # test/tests/idle_test, *.pyc and libpython*.a).
    tar -C "$STANDIN_PYTHON" \
      --exclude=test --exclude=tests --exclude=idle_test --exclude=__pycache__ \
      --exclude='*.pyc' --exclude='libpython*.a' --exclude='./lib/python3.12/site-packages/*' \
      -cf - . | tar -C "$mnt/usr/local" -xf -
    cp "$STANDIN_PYTHON/lib/python3.12/site-packages/README.txt" "$mnt/usr/local/lib/python3.12/site-packages/"
    # Scripts of the copied interpreter (pydoc, idle, 2to3...) point at the pyenv path.
    { grep -rlI "^#!$STANDIN_PYTHON/bin/" "$mnt/usr/local/bin" || true; } | while read -r script; do
      sed -i "1s|^#!$STANDIN_PYTHON/bin/|#!/usr/local/bin/|" "$script"
    done
    in_root ldconfig
    in_root /usr/local/bin/python3.12 -c \
      'import ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid, readline, platform; print("stand-in python", platform.python_version(), ssl.OPENSSL_VERSION)'
    # pip (not ensurepip's 23.2.1: pip >= 24.2 uses the system trust store via truststore, as
    # the official images' pip does). Downloaded by the host's pip, installed offline by
    # running pip from its own wheel.
    wheel_dir=$(mktemp -d "$mnt/tmp/pip.XXXXXX")
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$wheel_dir" "$STANDIN_PIP"
    wheel="/tmp/$(basename "$wheel_dir")/$(cd "$wheel_dir" && ls pip-*.whl)"
    in_root /usr/local/bin/python3.12 "$wheel/pip" install --no-cache-dir --no-index \
      --disable-pip-version-check --root-user-action=ignore "$wheel"
    in_root /usr/local/bin/pip --version
    rm -rf "$wheel_dir"
    rm -rf "$mnt/var/lib/apt/lists/"* "$mnt/var/cache/apt/"*.bin "$mnt/var/cache/apt/archives/"*.deb
  ) >"$LOG_DIR/standin.log" 2>&1
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    tail -n 20 "$LOG_DIR/standin.log" | sed 's/^/    /'
    "${BUILDAH[@]}" rm "$work" >/dev/null 2>&1 || true
    die "stand-in build failed (exit $rc); see $LOG_DIR/standin.log"
  fi
  "${BUILDAH[@]}" umount "$work" >/dev/null
  "${BUILDAH[@]}" config \
    --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --env PYTHON_VERSION="$("$STANDIN_PYTHON/bin/python3.12" -c 'import platform; print(platform.python_version())')" \
    --cmd python3 \
    --label org.opencontainers.image.description="STAND-IN for python:3.12-slim-bookworm made by scripts/image-smoke.sh: debootstrap bookworm minbase + host CPython from $STANDIN_PYTHON; not the official image" \
    "$work"
  "${BUILDAH[@]}" commit --quiet --format docker --rm "$work" "$STANDIN_BASE" >/dev/null
  log "stand-in base built in $(( $(date +%s) - t0 ))s"
}

if [ -n "$base_override" ]; then
  BASE=$base_override
  have_image "$BASE" || timeout "$PULL_TIMEOUT" "${BUILDAH[@]}" pull --quiet "$BASE" >/dev/null \
    || die "base image $BASE is neither in $SMOKE_DIR/storage nor pullable"
elif have_image "$OFFICIAL_BASE"; then
  BASE=$OFFICIAL_BASE
elif timeout "$PULL_TIMEOUT" "${BUILDAH[@]}" pull --quiet "$OFFICIAL_BASE" >"$LOG_DIR/pull.log" 2>&1; then
  BASE=$OFFICIAL_BASE
else
  log "cannot pull $OFFICIAL_BASE:"
  sed 's/^/    /' "$LOG_DIR/pull.log" | tail -n 3
  if [ "$use_standin" -eq 0 ]; then
    log "no registry is reachable from here. Re-run with --standin to build against a local stand-in"
    log "base (Debian bookworm via debootstrap + host CPython 3.12; see the header of this script"
    log "for how it differs from the official image), or pass --base with an image you have."
    RESULTS+=("FAIL  base image $OFFICIAL_BASE not available (use --standin)"); failed=1
    summary; exit 1
  fi
  log "using a STAND-IN base instead of the official image: results show that the Dockerfile builds"
  log "and the service runs on Debian bookworm + CPython 3.12, not that the official image does."
  if [ "$rebuild_standin" -eq 1 ] || ! have_image "$STANDIN_BASE"; then
    build_standin
  else
    log "reusing stored stand-in base $STANDIN_BASE (--rebuild-standin to make it again)"
  fi
  BASE=$STANDIN_BASE
fi
log "base image: $BASE"

# ---- 2. build --------------------------------------------------------------------------------
# Digests of cds/*.py as the build starts, to tell later whether the image holds this code.
tree_digests() {
  python3 -c 'import hashlib, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
print(json.dumps({str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in root.rglob("*.py") if "__pycache__" not in p.parts}))' "$PROJECT/cds"
}
tree_digests >"$LOG_DIR/tree-sources.json"

log "building $IMAGE (log: $LOG_DIR/build.log)"
t0=$(date +%s)
if timeout "$BUILD_TIMEOUT" "${BUILDAH[@]}" bud --isolation chroot --format docker --layers --force-rm --pull=never \
    --build-arg PYTHON_IMAGE="$BASE" --tag "$IMAGE" --file "$PROJECT/Dockerfile" "$PROJECT" \
    >"$LOG_DIR/build.log" 2>&1; then
  build_seconds=$(( $(date +%s) - t0 ))
  pass "image builds (${build_seconds}s)"
else
  build_seconds=$(( $(date +%s) - t0 ))
  tail -n 30 "$LOG_DIR/build.log" | sed 's/^/    /'
  fail "image build (see $LOG_DIR/build.log)"
  summary; exit 1
fi
log "image size: $("${BUILDAH[@]}" images --format '{{.Size}}' "$IMAGE" 2>/dev/null | head -n 1)"

# Image configuration, as JSON, for the entrypoint, healthcheck and user.
image_json=$("${BUILDAH[@]}" inspect --type image "$IMAGE")
cfg() { # one field of the Docker-format config: lists come out NUL-separated
  python3 -c 'import json, sys
c = json.loads(sys.stdin.read())["Docker"]["config"]
v = (c.get("Healthcheck") or {}).get("Test") if sys.argv[1] == "Healthcheck" else c.get(sys.argv[1])
sys.stdout.write("".join(x + "\0" for x in v) if isinstance(v, list) else (v or ""))' "$1" <<<"$image_json"
}
mapfile -d '' entrypoint < <(cfg Entrypoint)
mapfile -d '' healthcheck < <(cfg Healthcheck)
image_user=$(cfg User)
log "entrypoint: ${entrypoint[*]}"
if [ "$image_user" = "10001:10001" ]; then pass "image USER is 10001:10001"; else fail "image USER is '$image_user', expected 10001:10001"; fi
if [ "${#healthcheck[@]}" -gt 1 ] && [ "${healthcheck[0]}" = "CMD" ]; then
  pass "image has a HEALTHCHECK (Docker format)"
else
  fail "image has no exec-form HEALTHCHECK (got: ${healthcheck[*]:-none})"
fi

# ---- 3. run ----------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
ctr=$("${BUILDAH[@]}" from --pull=never --name "$CTR_PREFIX$$" "$IMAGE")
run_env=(--env CDS_AUTH=off --env "CDS_BIND=127.0.0.1:$port" --env CDS_WORKERS=2)
log "starting container $ctr on 127.0.0.1:$port (log: $LOG_DIR/server.log)"
setsid "${BUILDAH[@]}" run --isolation chroot "${run_env[@]}" "$ctr" -- "${entrypoint[@]}" \
  >"$LOG_DIR/server.log" 2>&1 </dev/null &
server_pid=$!
echo "$server_pid" >"$PIDFILE"

base_url="http://127.0.0.1:$port"
deadline=$(( $(date +%s) + ready_timeout ))
ready=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  if curl -fsS --max-time 2 -o /dev/null "$base_url/healthz" 2>/dev/null; then ready=1; break; fi
  sleep 1
done
if [ "$ready" -eq 1 ]; then
  pass "service ready on $base_url within ${ready_timeout}s"
else
  tail -n 30 "$LOG_DIR/server.log" | sed 's/^/    /'
  fail "service did not answer /healthz within ${ready_timeout}s"
  summary; exit 1
fi
# The processes holding the listening socket: the gunicorn master and its workers. The master
# is the one whose parent is not among them.
mapfile -t listen_pids < <(ss -H -ltnp "sport = :$port" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true)
uids=()
for pid in "${listen_pids[@]}"; do
  ppid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  case " ${listen_pids[*]} " in *" $ppid "*) ;; *) gunicorn_pid=$pid ;; esac
  uids+=("$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo '?')")
done
if [ -n "$gunicorn_pid" ]; then
  echo "$gunicorn_pid $server_pid" >"$PIDFILE"
  if [ "$(printf '%s\n' "${uids[@]}" | sort -u)" = 10001 ]; then
    pass "gunicorn master $gunicorn_pid and workers (${#listen_pids[@]} processes) run as uid 10001"
  else
    fail "gunicorn processes run as uid(s) ${uids[*]}, expected 10001"
  fi
else
  fail "could not find the gunicorn master listening on port $port"
fi

# ---- 4. checks -------------------------------------------------------------------------------
code=$(curl -sS --max-time 10 -o "$LOG_DIR/healthz.json" -w '%{http_code}' "$base_url/healthz" || echo 000)
if [ "$code" = 200 ]; then pass "GET /healthz -> 200"; else fail "GET /healthz -> $code"; fi

python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))["encounter"], sys.stdout)' \
  "$PROJECT/tests/vignettes/D05.json" >"$LOG_DIR/d05-encounter.json"
code=$(curl -sS --max-time 20 -o "$LOG_DIR/evaluate.json" -w '%{http_code}' \
  -H 'Content-Type: application/json' --data-binary "@$LOG_DIR/d05-encounter.json" \
  "$base_url/v1/evaluate" || echo 000)
risk=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("risk_level"))' "$LOG_DIR/evaluate.json" 2>/dev/null || echo '?')
if [ "$code" = 200 ] && [ "$risk" = emergency ]; then
  pass "POST /v1/evaluate (D05) -> 200, risk_level=emergency"
else
  fail "POST /v1/evaluate (D05) -> $code, risk_level=$risk (body: $(head -c 300 "$LOG_DIR/evaluate.json" 2>/dev/null))"
fi

if [ "${#healthcheck[@]}" -gt 1 ] && timeout 30 "${BUILDAH[@]}" run --isolation chroot "${run_env[@]}" "$ctr" -- \
    "${healthcheck[@]:1}" >"$LOG_DIR/healthcheck.log" 2>&1; then
  pass "image HEALTHCHECK command exits 0 inside the container"
else
  fail "image HEALTHCHECK command failed (see $LOG_DIR/healthcheck.log)"
fi

if timeout 30 "${BUILDAH[@]}" run --isolation chroot "$ctr" -- python -c \
    'import shutil, sys; found = [c for c in ("gcc", "cc", "g++", "make") if shutil.which(c)]; print(found); sys.exit(1 if found else 0)' \
    >"$LOG_DIR/no-compiler.log" 2>&1; then
  pass "runtime image has no compiler (gcc/cc/g++/make)"
else
  fail "runtime image has a compiler: $(cat "$LOG_DIR/no-compiler.log")"
fi

pyver=$(timeout 30 "${BUILDAH[@]}" run --isolation chroot "$ctr" -- python -c 'import platform; print(platform.python_version())' 2>/dev/null || echo '?')
case $pyver in 3.12.*) pass "runtime Python is $pyver" ;; *) fail "runtime Python is $pyver, expected 3.12.x" ;; esac

# The image must carry the code the build started from, not a stale cached layer: every .py
# file of the installed cds package is compared with cds/ as it was when the build began.
timeout 30 "${BUILDAH[@]}" run --isolation chroot "$ctr" -- python -c '
import hashlib, json, pathlib, cds
root = pathlib.Path(cds.__file__).parent
print(json.dumps({str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in root.rglob("*.py") if "_rules" not in p.parts}))' >"$LOG_DIR/image-sources.json" 2>&1 || true
differ() { # names of files whose digests differ between two JSON maps
  python3 -c 'import json, sys
try:
    a, b = (json.load(open(f)) for f in sys.argv[1:3])
except ValueError:
    sys.exit("unreadable digests: " + open(sys.argv[1]).read()[:200])
print(" ".join(sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))))' "$1" "$2" 2>&1 || true
}
stale=$(differ "$LOG_DIR/image-sources.json" "$LOG_DIR/tree-sources.json")
if [ -z "$stale" ]; then
  pass "installed cds package matches cds/ as the build started (no stale layer)"
else
  fail "installed cds package differs from cds/ as the build started, in: $stale"
fi
tree_digests >"$LOG_DIR/tree-sources-now.json"
edited=$(differ "$LOG_DIR/tree-sources.json" "$LOG_DIR/tree-sources-now.json")
[ -z "$edited" ] || log "note: cds/ was edited during this run ($edited); the image has the code from the start of the build"

if timeout 30 "${BUILDAH[@]}" run --isolation chroot "$ctr" -- python -c \
    'import os, sys; sys.exit(1 if os.path.exists("/wheels") or os.path.exists("/src") else 0)' >/dev/null 2>&1; then
  pass "runtime image has no /wheels or /src (wheels were bind-mounted, not copied)"
else
  fail "runtime image contains /wheels or /src"
fi

# Beyond loopback without API keys, or with CDS_AUTH=off, the image must refuse to start (it
# checks before binding, so nothing listens; the timeout bounds it should that ever change).
refuse_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
if timeout 60 "${BUILDAH[@]}" run --isolation chroot --env "CDS_BIND=0.0.0.0:$refuse_port" --env CDS_WORKERS=1 \
    "$ctr" -- "${entrypoint[@]}" >"$LOG_DIR/refusal.log" 2>&1; then
  fail "the image started beyond loopback without CDS_API_KEYS"
elif grep -q 'refusing to listen' "$LOG_DIR/refusal.log"; then
  pass "without CDS_API_KEYS the image refuses to start beyond loopback, and says so"
else
  fail "the image did not refuse with the expected message (see $LOG_DIR/refusal.log)"
fi
if timeout 60 "${BUILDAH[@]}" run --isolation chroot --env "CDS_BIND=0.0.0.0:$refuse_port" --env CDS_WORKERS=1 \
    --env CDS_AUTH=off --env CDS_API_KEYS=smoke-test-key-0123456789 \
    "$ctr" -- "${entrypoint[@]}" >"$LOG_DIR/refusal-off.log" 2>&1; then
  fail "the image started beyond loopback with CDS_AUTH=off"
elif grep -q 'with CDS_AUTH=off' "$LOG_DIR/refusal-off.log"; then
  pass "with CDS_AUTH=off the image refuses to start beyond loopback, and says so"
else
  fail "the image did not refuse CDS_AUTH=off with the expected message (see $LOG_DIR/refusal-off.log)"
fi

# ---- 5. stop ---------------------------------------------------------------------------------
stop_server
if curl -fsS --max-time 2 -o /dev/null "$base_url/healthz" 2>/dev/null; then
  fail "service still answers after stop"
elif grep -q 'Shutting down: Master' "$LOG_DIR/server.log"; then
  pass "gunicorn shut down gracefully on TERM, port $port released"
else
  fail "gunicorn did not log a graceful shutdown (see $LOG_DIR/server.log)"
fi
"${BUILDAH[@]}" rm "$ctr" >/dev/null && ctr=
summary
exit "$failed"
