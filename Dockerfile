# syntax=docker/dockerfile:1
#
# cds: rule-based clinical decision support, served by gunicorn.
#
#   docker build -t cds .
#   docker run --rm -p 8000:8000 -e CDS_API_KEYS=... cds        (beyond loopback, keys are required)
#   daemonless: scripts/image-smoke.sh (buildah; see its --help)
#
# Two stages:
#   builder  python:3.12-slim-bookworm + gcc/build-essential. Downloads every artifact named in
#            requirements/runtime.txt with --require-hashes, builds wheels (durable-rules 2.0.28 is
#            a C extension published only as an sdist), and builds the cds wheel itself.
#   runtime  python:3.12-slim-bookworm with no compiler: installs only those wheels, runs as uid 10001.
#
# Both stages use the same base so that the durable-rules wheel compiled in the builder links
# against exactly the glibc and CPython of the runtime. Python must be 3.12: durable-rules cannot
# be imported on 3.13.
#
# Base image pinning: the images are pinned by tag (Debian release and Python minor version).
# No registry is reachable where this file was written, so no digest is recorded here. To pin
# by digest too, resolve the tag on a machine with registry access, e.g.
#     skopeo inspect --format '{{.Digest}}' docker://docker.io/library/python:3.12-slim-bookworm
#     (or: docker buildx imagetools inspect python:3.12-slim-bookworm)
# and build with
#     --build-arg PYTHON_IMAGE=python:3.12-slim-bookworm@sha256:<digest>
# or write that reference into the ARG default below. Tag@digest keeps the tag readable and
# makes the digest the one that counts.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Compiler for durable-rules. Versions are the bookworm ones (the base pins the Debian release).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential=12.9 \
        gcc=4:12.2.0-3 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY requirements/runtime.txt requirements/dev.txt requirements/

# The build backend (hatchling==1.33.0, editables==0.5) and hatchling's dependencies, hash-checked:
# their locked blocks are taken from requirements/dev.txt (which `make lock` compiles from
# requirements/build.in), so the cds wheel below is built with --no-build-isolation from a
# verified backend instead of an unpinned, unverified isolated build environment. The names are
# hatchling's dependency closure as locked; should a new hatchling need another package,
# --require-hashes stops the build and names it ("must have their versions pinned with ==").
RUN awk 'BEGIN { split("hatchling editables packaging pathspec pluggy tomlkit trove-classifiers", n, " "); for (i in n) want[n[i]] = 1 } \
         /^[A-Za-z0-9]/ { name = tolower($1); sub(/[=<>!~; ].*/, "", name); keep = (name in want) } \
         keep && !/^ *#/' requirements/dev.txt > /tmp/build-backend.txt \
    && grep -q '^hatchling==1.33.0' /tmp/build-backend.txt \
    && grep -q '^editables==0.5' /tmp/build-backend.txt \
    && python -m pip install --no-cache-dir --require-hashes -r /tmp/build-backend.txt

# Hashes are verified here, and only here: every file pip downloads for runtime.txt must match
# one of the locked sha256 hashes, or the build stops. What lands in /wheels is then
#   - the verified PyPI wheels, byte for byte, and
#   - wheels compiled here from verified sdists (durable-rules), whose hashes are new by nature.
# (pip gives no hash check to the isolated build environment it creates for an sdist, i.e. the
# setuptools used to compile durable-rules; locking setuptools in requirements/build.in and
# using --no-build-isolation would close that gap.)
RUN python -m pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels -r requirements/runtime.txt

# The project source: what .dockerignore lets in (an allow-list: cds/, rules/, openapi.yaml,
# pyproject.toml, README.md, ...). A file that pyproject.toml force-includes into the wheel
# must be listed there too, or this step fails with "Forced include not found".
COPY . .
# wheels.sha256 lists every wheel with its hash: the runtime stage checks the mounted wheels
# against it, and COPYing it there ties that stage's layer cache to the wheels' content.
RUN python -m pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
    && sha256sum /wheels/*.whl > /wheels.sha256

# --------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CDS_BIND=0.0.0.0:8000

# Install from the builder's wheel directory only, with --no-index (nothing is fetched) and
# --no-deps (exactly the locked set, nothing resolved anew). `pip install --require-hashes -r
# requirements/runtime.txt` is not used here on purpose: runtime.txt's hashes are those of the
# PyPI files, and the durable-rules wheel compiled in the builder and the cds wheel can never
# match them. The lock's hashes were enforced where the files were downloaded, in the builder;
# here the wheels are checked against the builder's own list (sha256sum --check), and `pip
# check` proves the installed set complete and consistent.
# The wheels are bind-mounted, not copied, so they leave no layer behind. The list is COPYed
# first (and kept, as a record of what is installed): besides the check, that makes the layer
# cache of this RUN follow the wheels' content. BuildKit does that for the mount by itself;
# buildah without the fix of containers/buildah#6845 (Debian bookworm's 1.28, for one) does
# not (issues #4522, #6609) and would reuse a stale layer with an old cds wheel.
COPY --from=builder /wheels.sha256 /usr/local/share/cds/wheels.sha256
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    sha256sum --check --strict --quiet /usr/local/share/cds/wheels.sha256 \
    && python -m pip install --no-cache-dir --no-index --no-deps /wheels/*.whl \
    && python -m pip check \
    && groupadd --system --gid 10001 cds \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin cds

WORKDIR /app
COPY gunicorn.conf.py /app/gunicorn.conf.py

USER 10001:10001
EXPOSE 8000

# Liveness: GET /healthz on loopback; slim images have no curl, so Python's urllib does it. The
# port is taken from CDS_BIND (default 0.0.0.0:8000), so the probe follows a changed bind.
# (HEALTHCHECK is kept only in Docker-format images; buildah needs --format docker.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('CDS_BIND', '0.0.0.0:8000').rsplit(':', 1)[-1]; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:' + port + '/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["gunicorn", "--config", "/app/gunicorn.conf.py", "cds.web.app:create_app()"]
