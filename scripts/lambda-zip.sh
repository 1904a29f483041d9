#!/usr/bin/env bash
# Builds the Lambda deployment package (what `make lambda-zip` runs):
# target/lambda/strongroom/bootstrap.zip holding the release binary as
# `bootstrap`, for the provided.al2023 runtime (infra/read-lambda.yaml).
#
#   LAMBDA_BUILD=auto          (default) cargo-lambda, else the native build
#   LAMBDA_BUILD=cargo-lambda  only `cargo lambda build --release` (the venv's
#                              cargo-lambda, with the zig from its `ziglang`
#                              wheel: links against glibc 2.17, can cross-build)
#   LAMBDA_BUILD=native        only `cargo build --release` for this host's
#                              architecture, zipped here
#   LAMBDA_ARCH=arm64|x86_64   cargo-lambda only: target architecture
#                              (default: this host's); the native build is
#                              always for the host
#
# The native binary links against this host's glibc; provided.al2023 has glibc
# 2.34, so the script checks the binary's newest GLIBC_ symbol version (with
# objdump, when present) and fails if it needs more.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT_DIR=target/lambda/strongroom
ZIP="$OUT_DIR/bootstrap.zip"
MODE="${LAMBDA_BUILD:-auto}"
HOST_ARCH="$(uname -m)"
case "$HOST_ARCH" in
aarch64 | arm64) HOST_ARCH=arm64 ;;
x86_64 | amd64) HOST_ARCH=x86_64 ;;
esac
ARCH="${LAMBDA_ARCH:-$HOST_ARCH}"
PY="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] && PY=.venv/bin/python

size() { stat -c %s "$1"; }
human() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# zip with the binary as `bootstrap` (mode 0755), without needing zip(1).
make_zip() {
	local bin="$1"
	mkdir -p "$OUT_DIR"
	rm -f "$ZIP"
	"$PY" - "$bin" "$ZIP" <<'PYEOF'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
info.external_attr = (0o100755 << 16)
info.compress_type = zipfile.ZIP_DEFLATED
info.create_system = 3
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
PYEOF
}

glibc_check() {
	local bin="$1" newest
	if ! command -v objdump >/dev/null; then
		echo "note: objdump not found; not checking the binary's glibc requirement (provided.al2023 has glibc 2.34)"
		return 0
	fi
	newest="$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1)"
	echo "newest glibc symbol version needed: ${newest:-none}"
	if [[ -n "$newest" ]] && [[ "$(printf '%s\n2.34\n' "$newest" | sort -V | tail -n1)" != "2.34" ]]; then
		echo "error: the binary needs glibc $newest but provided.al2023 has 2.34; use LAMBDA_BUILD=cargo-lambda (zig, glibc 2.17)" >&2
		return 1
	fi
}

build_cargo_lambda() {
	[[ -x .venv/bin/cargo-lambda ]] || {
		echo "cargo-lambda is not in .venv/ (run: make venv)" >&2
		return 1
	}
	local flag=--x86-64
	[[ "$ARCH" == arm64 ]] && flag=--arm64
	echo "==> cargo lambda build --release $flag (zig from the venv)"
	PATH="$PWD/.venv/bin:$PATH" cargo lambda build --release "$flag" --output-format binary || return 1
	[[ -f "$OUT_DIR/bootstrap" ]] || {
		echo "cargo lambda build left no $OUT_DIR/bootstrap" >&2
		return 1
	}
	make_zip "$OUT_DIR/bootstrap"
	BIN="$OUT_DIR/bootstrap"
}

build_native() {
	if [[ "$ARCH" != "$HOST_ARCH" ]]; then
		echo "the native build is for this host ($HOST_ARCH) only; LAMBDA_ARCH=$ARCH needs LAMBDA_BUILD=cargo-lambda" >&2
		return 1
	fi
	echo "==> cargo build --release (native, $HOST_ARCH)"
	cargo build --release
	local target_dir="${CARGO_TARGET_DIR:-target}"
	glibc_check "$target_dir/release/strongroom"
	mkdir -p "$OUT_DIR"
	cp "$target_dir/release/strongroom" "$OUT_DIR/bootstrap"
	make_zip "$OUT_DIR/bootstrap"
	BIN="$OUT_DIR/bootstrap"
}

BIN=""
case "$MODE" in
cargo-lambda) build_cargo_lambda ;;
native) build_native ;;
auto)
	if ! build_cargo_lambda; then
		echo "==> cargo-lambda build failed or unavailable; falling back to the native build"
		build_native
	fi
	;;
*)
	echo "LAMBDA_BUILD must be auto, cargo-lambda or native (got $MODE)" >&2
	exit 2
	;;
esac

echo "==> $ZIP ($ARCH; Architecture=$ARCH in infra/read-lambda.yaml)"
echo "binary  $BIN: $(size "$BIN") bytes ($(human "$(size "$BIN")"))"
echo "zip     $ZIP: $(size "$ZIP") bytes ($(human "$(size "$ZIP")"))"
