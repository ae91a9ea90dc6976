# Two commands do all the set-up on a fresh machine:
#   make run    serve on $${HOST:-127.0.0.1}:$${PORT:-8000} with the embedded defaults
#   make test   lint and run the whole test suite
SHELL := /bin/sh
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint system-deps bench load fuzz check-rules rules-changes fhir-coverage image-smoke lock clean

$(STAMP): pyproject.toml requirements/dev.txt
	@PY=$$(scripts/find-python) || exit 1; \
	if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))'; then \
		rm -rf $(VENV) && echo "creating $(VENV) with $$PY" && $$PY -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/gunicorn --config gunicorn.conf.py --bind "$(HOST):$(PORT)" "cds.web.app:create_app()"

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest

# Debian packages the tests need (redis-server); installed only when missing.
system-deps:
	scripts/system-deps

lint: $(STAMP)
	$(BIN)/ruff check cds tests benchmarks gunicorn.conf.py
	$(BIN)/ruff format --check cds tests benchmarks gunicorn.conf.py
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/request_cost.py
	$(BIN)/python benchmarks/stages.py
	$(BIN)/python benchmarks/interview.py

load: $(STAMP)
	benchmarks/load.sh

# The property tests (every module with a Hypothesis @given) under SEEDS more seeds, one after
# another (make fuzz SEEDS=30 FROM=100); stops at the first seed that fails and names it.
SEEDS ?= 20
FROM ?= 1
fuzz: $(STAMP)
	@for seed in $$(seq $(FROM) $$(($(FROM) + $(SEEDS) - 1))); do \
		echo "== --hypothesis-seed=$$seed"; \
		$(BIN)/python -m pytest -q -p no:cacheprovider --hypothesis-seed=$$seed $$(grep -rl --include='test_*.py' '@given' tests) \
			|| { echo "fuzz: seed $$seed failed"; exit 1; }; \
	done

# Build the image without a Docker daemon and smoke-test it (needs root and buildah; see --help).
image-smoke:
	scripts/image-smoke.sh --standin

check-rules: $(STAMP)
	$(BIN)/cds rules check

# The rule-base change report for a reviewer: make rules-changes OLD=<commit of the earlier rule base>
rules-changes: $(STAMP)
	scripts/rules-changes $(or $(OLD),d1f78ad)

# The FHIR data-coverage report of the fixtures (docs/fhir-coverage.md; a test checks it is current).
fhir-coverage: $(STAMP)
	scripts/fhir-coverage > docs/fhir-coverage.md

# Regenerate the hash-pinned requirements after changing pyproject.toml (needs uv).
lock:
	uv pip compile pyproject.toml --universal --generate-hashes --python-version 3.11 -o requirements/runtime.txt
	uv pip compile pyproject.toml requirements/build.in --group pyproject.toml:dev --universal --generate-hashes --python-version 3.11 -o requirements/dev.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
