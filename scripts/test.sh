#!/usr/bin/env bash
# Runs every test (what `make test` calls after building): the Rust unit and
# integration tests with a local AWS endpoint (moto) up, then the infra lint.
# moto is started on a free loopback port and stopped by PID on exit.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/moto.sh start || exit 1
trap 'scripts/moto.sh stop >/dev/null 2>&1 || true' EXIT
export AWS_ENDPOINT_URL="$(cat .moto/url)"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
# The shared KMS key alias and table the integration tests may use.
.venv/bin/python localstack/bootstrap.py >/dev/null || { echo "moto bootstrap failed" >&2; exit 1; }

failed=0
cargo test --no-fail-fast "$@" || failed=1

if compgen -G "infra/*.yaml" >/dev/null; then
  echo "==> cfn-lint infra/*.yaml"
  .venv/bin/cfn-lint infra/*.yaml || failed=1
fi

exit "$failed"
