#!/usr/bin/env bash
# Serves Strongroom as a Lambda function locally (what `make lambda-local` runs):
#
#   1. moto (scripts/moto.sh start; reused when already running) with the
#      DynamoDB table and the KMS key alias (localstack/bootstrap.py);
#   2. an active node (`strongroom server`) on the same table, so that writes
#      the function forwards have somewhere to land; initialized with
#      auto-unseal on first use (the root token is printed and kept in
#      .lambda-local/root-token);
#   3. `cargo lambda watch` (the venv's cargo-lambda) in the foreground,
#      building and running the crate's binary with STRONGROOM_CONFIG
#      pointing at .lambda-local/function.hcl (storage "dynamodb" with
#      ha_enabled, seal "awskms"); the function reloads on code changes.
#
# Requests: http://127.0.0.1:$LAMBDA_PORT/lambda-url/strongroom/v1/...
#   e.g. VAULT_ADDR=http://127.0.0.1:9000/lambda-url/strongroom bao kv get secret/x
#
# Settings: LAMBDA_PORT (9000), ACTIVE_PORT (8200), TABLE (strongroom-local),
# LEASE_TTL (10s), LAMBDA_LOCAL_ACTIVE=0 to skip the active node (reads only).
# Ctrl-C stops everything this script started (by PID); moto only if this
# script started it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LAMBDA_PORT="${LAMBDA_PORT:-9000}"
ACTIVE_PORT="${ACTIVE_PORT:-8200}"
TABLE="${TABLE:-strongroom-local}"
LEASE_TTL="${LEASE_TTL:-10s}"
ALIAS="${KMS_ALIAS:-alias/strongroom}"
STATE=.lambda-local
PY=.venv/bin/python
[[ -x .venv/bin/cargo-lambda ]] || {
	echo "cargo-lambda is not in .venv/ (run: make venv)" >&2
	exit 1
}
mkdir -p "$STATE"

started_moto=0
active_pid=""
cleanup() {
	if [[ -n "$active_pid" ]] && kill -0 "$active_pid" 2>/dev/null; then
		kill "$active_pid" 2>/dev/null || true
		wait "$active_pid" 2>/dev/null || true
		echo "stopped the active node (pid $active_pid)"
	fi
	if [[ "$started_moto" == 1 ]]; then
		scripts/moto.sh stop || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! scripts/moto.sh url >/dev/null 2>&1; then
	scripts/moto.sh start
	started_moto=1
fi
MOTO="$(scripts/moto.sh url)"
export AWS_ENDPOINT_URL="$MOTO" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
STRONGROOM_DYNAMODB_TABLE="$TABLE" STRONGROOM_KMS_ALIAS="$ALIAS" "$PY" localstack/bootstrap.py >/dev/null

shared() {
	cat <<EOF
storage "dynamodb" {
  table      = "$TABLE"
  endpoint   = "$MOTO"
  region     = "us-east-1"
  ha_enabled = "true"
  lease_ttl  = "$LEASE_TTL"
}

seal "awskms" {
  kms_key_id = "$ALIAS"
  endpoint   = "$MOTO"
  region     = "us-east-1"
}

disable_mlock = true
EOF
}
shared >"$STATE/function.hcl"

if [[ "${LAMBDA_LOCAL_ACTIVE:-1}" != 0 ]]; then
	{
		shared
		printf '\nlistener "tcp" {\n  address     = "127.0.0.1:%s"\n  tls_disable = true\n}\n\napi_addr = "http://127.0.0.1:%s"\n' "$ACTIVE_PORT" "$ACTIVE_PORT"
	} >"$STATE/active.hcl"
	cargo build --quiet
	target/debug/strongroom server -config="$STATE/active.hcl" >"$STATE/active.log" 2>&1 &
	active_pid=$!
	echo "active node: http://127.0.0.1:$ACTIVE_PORT (pid $active_pid, log $STATE/active.log)"
	for _ in $(seq 1 200); do
		code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ACTIVE_PORT/v1/sys/health" || true)"
		[[ "$code" != 000 ]] && break
		sleep 0.1
	done
	if [[ "$code" == 501 ]]; then
		curl -sf -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' \
			"http://127.0.0.1:$ACTIVE_PORT/v1/sys/init" |
			"$PY" -c 'import json,sys; print(json.load(sys.stdin)["root_token"])' >"$STATE/root-token"
		echo "initialized (auto-unseal); root token in $STATE/root-token"
	fi
	[[ -s "$STATE/root-token" ]] && echo "root token: $(cat "$STATE/root-token")"
fi

echo "function:    http://127.0.0.1:$LAMBDA_PORT/lambda-url/strongroom/v1/... (STRONGROOM_CONFIG=$STATE/function.hcl)"
STRONGROOM_CONFIG="$PWD/$STATE/function.hcl" PATH="$PWD/.venv/bin:$PATH" \
	cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT"
