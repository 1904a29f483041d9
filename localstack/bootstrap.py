#!/usr/bin/env python3
"""Creates Strongroom's AWS resources on a local AWS endpoint (moto or LocalStack).

* the DynamoDB table (key schema pk S HASH + sk S RANGE, PAY_PER_REQUEST), and
* a symmetric KMS key with an alias (default alias/strongroom).

Idempotent: existing resources are kept. Prints shell `export` lines for the
server (`eval "$(python localstack/bootstrap.py)"`).

Settings (environment):
  AWS_ENDPOINT_URL            the endpoint (required; e.g. http://127.0.0.1:4566)
  AWS_REGION                  default us-east-1
  AWS_ACCESS_KEY_ID/..._SECRET_ACCESS_KEY  default test/test
  STRONGROOM_DYNAMODB_TABLE   default strongroom
  STRONGROOM_KMS_ALIAS        default alias/strongroom
"""

import os
import sys
import time

import boto3
from botocore.exceptions import ClientError


def main() -> int:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        print("AWS_ENDPOINT_URL is not set (e.g. http://127.0.0.1:4566)", file=sys.stderr)
        return 2
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    table = os.environ.get("STRONGROOM_DYNAMODB_TABLE", "strongroom")
    alias = os.environ.get("STRONGROOM_KMS_ALIAS", "alias/strongroom")
    kw = dict(
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    dynamodb = boto3.client("dynamodb", **kw)
    kms = boto3.client("kms", **kw)

    try:
        dynamodb.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        print(f"created DynamoDB table {table}", file=sys.stderr)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException":
            raise
        print(f"DynamoDB table {table} already exists", file=sys.stderr)
    for _ in range(120):
        status = dynamodb.describe_table(TableName=table)["Table"]["TableStatus"]
        if status == "ACTIVE":
            break
        time.sleep(0.5)
    else:
        print(f"table {table} did not become ACTIVE", file=sys.stderr)
        return 1

    try:
        key_id = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
        print(f"KMS alias {alias} already exists (key {key_id})", file=sys.stderr)
    except ClientError as e:
        if e.response["Error"]["Code"] != "NotFoundException":
            raise
        key_id = kms.create_key(
            Description="Strongroom auto-unseal key",
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
        )["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        print(f"created KMS key {key_id} with alias {alias}", file=sys.stderr)

    print(f"export AWS_ENDPOINT_URL={endpoint}")
    print(f"export AWS_REGION={region}")
    print(f"export AWS_DYNAMODB_TABLE={table}")
    print(f"export VAULT_AWSKMS_SEAL_KEY_ID={alias}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
