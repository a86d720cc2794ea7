# Two commands: `make run` starts the whole system, `make test` runs every test.
# Each creates .venv and installs the project on first use (and again only when
# pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The machine's PostgreSQL, used by `make test-external-db` (CI runs it too).
EXTERNAL_PG ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test test-external-db lint typecheck clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/ilea dev

test: $(STAMP)
	$(BIN)/pytest

# Everything but the whole-stack tests, against the machine's PostgreSQL.
test-external-db: $(STAMP)
	ILEA_TEST_DATABASE_URL=$(EXTERNAL_PG) $(BIN)/pytest -m "not e2e"

# Each step fails the target: lint errors, unformatted files, an import against the layers.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

# Issue 6's benchmark (`make bench BENCH_ARGS=--quick` for the smoke-test size); see README "Performance".
# It also draws bench-results/latest.svg. `make bench-ab` measures changes A/B in one run
# (variants in ABBA rounds); see bench/README.md.
.PHONY: bench bench-ab
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-ab: $(STAMP)
	$(BIN)/python -m bench --ab $(or $(AB),client) $(BENCH_ARGS)

# Offline checks of deploy/: Kubernetes and Compose schemas, the Temporal Helm chart rendered
# with our values, Dockerfile and shell lint, and agreement with the code (Settings, CLI
# entry points, search attributes). ILEA_REQUIRE_HELM: a missing chart or Helm fails, not skips.
.PHONY: deploy-check
deploy-check: $(STAMP)
	ILEA_REQUIRE_HELM=1 $(BIN)/pytest tests/deploy -q -m "deploy and not image"

# Faults against the whole stack as processes, all mid-load (issues 7 and 14): the worker
# SIGKILLed and SIGSTOPped, PostgreSQL hung, the API restarted, and under `ilea dev` a killed
# worker and a Ctrl-C with an immediate restart (`ILEA_CHAOS_N=40 make chaos` for a quick run).
.PHONY: chaos
chaos: $(STAMP)
	ILEA_CHAOS=1 $(BIN)/pytest tests/chaos -s --durations=0

# deploy/requirements.lock: the image's dependencies ([project].dependencies and the build
# backend) pinned with hashes for its Linux x86-64 Python 3.11; deploy/Dockerfile installs
# exactly these. Keeps existing pins; `make lock LOCK_FLAGS=--upgrade` moves to the newest.
.PHONY: lock
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml deploy/requirements-build.in --generate-hashes \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--custom-compile-command "make lock" --index-url https://pypi.org/simple \
		$(LOCK_FLAGS) --output-file deploy/requirements.lock

# Issue 16: build deploy/Dockerfile with podman for real (on a debootstrap base when the pinned
# python image cannot be pulled), then run migrate, the roster import, the API and a worker
# from the built filesystem as uid 10001 on a read-only root and take one proposal to
# `scheduled` (tests/deploy/test_image_build.py). Needs root, podman and debootstrap.
IMAGE  ?= localhost/ilea:local
PIP_CA ?= $(wildcard $(PIP_CERT))
.PHONY: image
image: $(STAMP)
	PIP_CA=$(PIP_CA) sh deploy/image/build.sh $(IMAGE)
	ILEA_IMAGE=$(IMAGE) $(BIN)/pytest tests/deploy/test_image_build.py -q
