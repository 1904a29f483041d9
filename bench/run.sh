#!/usr/bin/env bash
# `make bench`: Strongroom vs OpenBao 2.7.2, side by side on this machine.
#
# Installs what it needs, then hands over to bench/bench.py, which starts
# every server on a free 127.0.0.1 port, drives the workloads, and rewrites
# BENCHMARKS.md (never edit that file by hand: rerun `make bench`).
#
#   1. .venv/ with the pinned test tools (bao CLI = OpenBao 2.7.2, moto), via `make venv`
#   2. target/release/strongroom, via `cargo build --release` (retried: other
#      people may be editing the crate while this runs)
#   3. the load generator: oha $OHA_VERSION via `cargo install --locked --root .tools`,
#      falling back to wrk from apt if oha cannot be built
#
# Knobs (environment): BENCH_SECONDS (5) BENCH_WARMUP (1) BENCH_REPEATS (3)
# BENCH_CONCURRENCY (16,64) BENCH_SUITES (dev,durable,dynamodb,audit,transit,pki,lambda) BENCH_PIN (1)
# BENCH_LOADGEN (oha|wrk) BENCH_OUT (BENCHMARKS.md) BENCH_KEEP (0): see bench/bench.py.
# BENCH_STRONGROOM=/path/to/strongroom measures that binary instead of building
# target/release/strongroom (the report says so).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

OHA_VERSION="${OHA_VERSION:-1.16.0}"
TOOLS="$ROOT/.tools"
CARGO="${CARGO:-cargo}"

log() { printf '==> %s\n' "$*" >&2; }

# 1. Python tools (OpenBao's bao binary, moto) --------------------------------
log "test tools (.venv/, make venv)"
make --no-print-directory venv >&2

# 2. Strongroom release build -------------------------------------------------
# BENCH_SKIP_BUILD=1 measures the existing target/release/strongroom as is
# (e.g. while others hold the cargo lock); the report names its git commit.
build_ok=0
binary=target/release/strongroom
if [[ -n "${BENCH_STRONGROOM:-}" ]]; then
	if [[ ! -x "$BENCH_STRONGROOM" ]]; then
		log "BENCH_STRONGROOM=$BENCH_STRONGROOM is not an executable file"
		exit 1
	fi
	binary="$BENCH_STRONGROOM"
	build_ok=1
	export BENCH_STRONGROOM_SOURCE="$BENCH_STRONGROOM"
	log "measuring $binary as given (BENCH_STRONGROOM); no release build"
fi
[[ "${BENCH_SKIP_BUILD:-0}" == 1 && -x target/release/strongroom ]] && build_ok=1
for attempt in 1 2 3 4 5 6; do
	[[ $build_ok == 1 ]] && break
	log "cargo build --release (attempt $attempt)"
	if "$CARGO" build --release >&2; then
		build_ok=1
		break
	fi
	log "release build failed (someone may be mid-edit); retrying in 30 s"
	sleep 30
done
if [[ $build_ok != 1 ]]; then
	log "cargo build --release kept failing; giving up"
	exit 1
fi

# 3. Load generator -----------------------------------------------------------
loadgen="${BENCH_LOADGEN:-}"
if [[ -z "$loadgen" || "$loadgen" == oha ]]; then
	if [[ -x "$TOOLS/bin/oha" ]] && "$TOOLS/bin/oha" --version 2>/dev/null | grep -q " $OHA_VERSION\$"; then
		loadgen=oha
	else
		log "cargo install oha $OHA_VERSION --locked --root .tools"
		if "$CARGO" install oha --version "$OHA_VERSION" --locked --root "$TOOLS" >&2; then
			loadgen=oha
		elif [[ "$loadgen" == oha ]]; then
			log "oha could not be built and BENCH_LOADGEN=oha was asked for"
			exit 1
		else
			log "oha could not be built; falling back to wrk"
			loadgen=wrk
		fi
	fi
fi
if [[ "$loadgen" == wrk ]] && ! command -v wrk >/dev/null; then
	log "apt-get install -y wrk"
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2
fi

export BENCH_LOADGEN="$loadgen"
export BENCH_OHA="$TOOLS/bin/oha"
# Snapshot the binary: a concurrent `cargo build --release` must not swap it
# between the servers this run starts.
mkdir -p "$TOOLS"
cp -p "$binary" "$TOOLS/strongroom-under-bench"
export BENCH_STRONGROOM="$TOOLS/strongroom-under-bench"
exec "$ROOT/.venv/bin/python" "$ROOT/bench/bench.py" "$@"
