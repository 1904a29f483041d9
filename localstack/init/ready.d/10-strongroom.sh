#!/usr/bin/env bash
# LocalStack "ready" hook: creates Strongroom's table and KMS key when
# LocalStack starts (docker compose -f localstack/docker-compose.yml up).
# LocalStack ships awslocal (the AWS CLI pointed at itself).
set -euo pipefail
TABLE="${STRONGROOM_DYNAMODB_TABLE:-strongroom}"
ALIAS="${STRONGROOM_KMS_ALIAS:-alias/strongroom}"

if ! awslocal dynamodb describe-table --table-name "$TABLE" >/dev/null 2>&1; then
	awslocal dynamodb create-table \
		--table-name "$TABLE" \
		--key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
		--attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
		--billing-mode PAY_PER_REQUEST >/dev/null
	awslocal dynamodb wait table-exists --table-name "$TABLE"
	echo "strongroom: created DynamoDB table $TABLE"
fi

if ! awslocal kms describe-key --key-id "$ALIAS" >/dev/null 2>&1; then
	KEY_ID="$(awslocal kms create-key --description "Strongroom auto-unseal key" \
		--query KeyMetadata.KeyId --output text)"
	awslocal kms create-alias --alias-name "$ALIAS" --target-key-id "$KEY_ID"
	echo "strongroom: created KMS key $KEY_ID ($ALIAS)"
fi
