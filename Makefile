# Two commands are all the set-up: `make run` and `make test` (both create .venv).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOKUSAI_HOME ?= $(CURDIR)/.hokusai
export HOKUSAI_HOME
# EIP-55's own test vector: a valid checksummed address for the example contribution.
WALLET ?= 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed
EXAMPLE := hokusai_assets/examples/digits/contribution.csv
# This machine's pip config names local indexes that may be absent; their warnings are noise.
PIP_NOISE := grep -v -e "is ignored: it is neither a file nor a directory" || true

.PHONY: help venv system-deps run dry-run test test-fast lint bench dev serve mlflow-ui clean

help:
	@echo "make run     evaluate the bundled example contribution headless; prints the attestation path"
	@echo "make test    the import contracts, then the whole test suite"
	@echo "make test-fast  the unit tests only (no CLI subprocesses, webserver, browser or PostgreSQL)"
	@echo "make lint    ruff and the import contracts (lint-imports)"
	@echo "make bench   print the benchmark figures (dry run, intake, benchmark leakage, PII scan, commitments, submit-to-attestation, serving, A/B routing, model families, reward epochs, a burst of 100 contributions)"
	@echo "make dev     start the Dagster UI and daemon on http://127.0.0.1:3000 (contribution_sensor on)"
	@echo "make serve   serve the champion model over HTTP on http://127.0.0.1:8080 (docs at /docs)"
	@echo "make mlflow-ui  browse the MLflow runs and registry on http://127.0.0.1:5000"

# torch goes in first and exact: pip takes the local CPU wheel; a looser spec pulls a CUDA build.
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0 2>&1 | $(PIP_NOISE)
	$(BIN)/python -m pip install --quiet -e '.[dev]' 2>&1 | $(PIP_NOISE)
	$(BIN)/python -c "import hokusai_assets.entry.cli, torch, dagster, mlflow, evidently"
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/hokusai evaluate $(EXAMPLE) --wallet $(WALLET)

dry-run: venv
	$(BIN)/hokusai run --dry-run

# What the tests need from the system, not from pip: Debian's chromium for the browser
# tests (Playwright drives it; no browser is downloaded), a PostgreSQL server for the
# instance-on-PostgreSQL test, redis-server for the serving cache shared by two servers and
# as the Celery broker and result backend of the two-worker test (e2e/test_celery_workers.py),
# libgomp1, the OpenMP runtime that LightGBM's wheel links to (xgboost-cpu ships its own).
# Installed with apt when missing (as root, or through sudo).
APT_PACKAGES := chromium postgresql redis-server libgomp1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:
	@if command -v chromium >/dev/null && command -v redis-server >/dev/null && \
		ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && \
		ls /usr/lib/*-linux-gnu/libgomp.so.1 >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "make test needs: $(APT_PACKAGES) (Debian package names); install them, then run make test again" >&2; exit 1; fi; \
	echo "installing $(APT_PACKAGES) with apt-get"; \
	$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null

# The payout tree is cross-checked against OpenZeppelin's own npm package, installed from the
# lockfile (node and npm come with the machine; Debian's nodejs and npm otherwise).
JS_TESTS := hokusai_assets_tests/js
$(JS_TESTS)/node_modules/.package-lock.json: $(JS_TESTS)/package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js 20+ and npm (Debian: nodejs npm)" >&2; exit 1; }
	npm ci --prefix $(JS_TESTS) --no-audit --no-fund

# The layers are import-linter contracts in pyproject.toml; a broken one fails before any test runs.
test: venv system-deps $(JS_TESTS)/node_modules/.package-lock.json
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15

# The inner loop: everything not marked e2e (about 600 tests, two minutes on 2 cores).
test-fast: venv
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 -m "not e2e"

lint: venv
	$(BIN)/ruff check hokusai_assets hokusai_assets_tests benchmarks
	$(BIN)/lint-imports

# pyDVL 0.10.0 caps numpy below 2 but runs on it: installed apart with `pip --no-deps` (no
# resolver), only for bench_rewards.py's cross-check (benchmarks/pydvl_reference.py).
PYDVL := $(VENV)/pydvl
PYDVL_PACKAGES := pydvl==0.10.0 pyDeprecate==0.14.0 more-itertools==11.2.1 psutil==7.2.2 cvxpy==1.9.3 \
	osqp==1.1.3 clarabel==0.11.1 scs==3.3.1 highspy==1.16.0 qdldl==0.1.9.post1 sparsediffpy==0.6.1
$(PYDVL)/.installed: | venv
	$(BIN)/python -m pip install --quiet --target $(PYDVL) --no-deps $(PYDVL_PACKAGES)
	touch $@

bench: venv $(PYDVL)/.installed
	$(BIN)/python benchmarks/bench_dry_run.py
	$(BIN)/python benchmarks/bench_verify.py
	$(BIN)/python benchmarks/bench_intake.py
	$(BIN)/python benchmarks/bench_leakage.py
	$(BIN)/python benchmarks/bench_pii.py
	$(BIN)/python benchmarks/bench_commit.py
	$(BIN)/python benchmarks/bench_latency.py
	$(BIN)/python benchmarks/bench_serving.py
	$(BIN)/python benchmarks/bench_ab.py
	$(BIN)/python benchmarks/bench_families.py
	PYTHONPATH=$(PYDVL) $(BIN)/python benchmarks/bench_rewards.py
	$(BIN)/python benchmarks/bench_burst.py

dev: venv
	$(BIN)/hokusai dev --host 127.0.0.1 --port 3000

# The champion of the task's registry over HTTP (http://127.0.0.1:8080/docs).
serve: venv
	$(BIN)/hokusai serve --host 127.0.0.1 --port 8080

mlflow-ui: venv
	mkdir -p $(HOKUSAI_HOME)/mlflow
	MLFLOW_DISABLE_TELEMETRY=true $(BIN)/mlflow ui -h 127.0.0.1 -p 5000 \
		--backend-store-uri sqlite:///$(HOKUSAI_HOME)/mlflow/mlflow.db \
		--default-artifact-root $(HOKUSAI_HOME)/mlflow/artifacts

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info $(JS_TESTS)/node_modules
