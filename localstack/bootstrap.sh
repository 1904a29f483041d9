#!/usr/bin/env bash
# Creates the DynamoDB table and the KMS key + alias Strongroom uses, against
# $AWS_ENDPOINT_URL (moto from scripts/moto.sh, or LocalStack). Idempotent.
#
#   AWS_ENDPOINT_URL=$(cat .moto/url) localstack/bootstrap.sh
#   eval "$(AWS_ENDPOINT_URL=http://127.0.0.1:4566 localstack/bootstrap.sh)"
#
# Uses boto3 from the repo's .venv/ (tests/requirements.txt) when present,
# else python3 with boto3 on its path. See bootstrap.py for the settings.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
	if [[ -x "$ROOT/.venv/bin/python" ]]; then
		PY="$ROOT/.venv/bin/python"
	else
		PY=python3
	fi
fi
: "${AWS_ENDPOINT_URL:?set AWS_ENDPOINT_URL to the local AWS endpoint (e.g. http://127.0.0.1:4566)}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
exec "$PY" "$HERE/bootstrap.py"
