# Example server configuration against a local AWS endpoint (LocalStack or
# moto): DynamoDB storage with HA, AWS KMS auto-unseal. The endpoint comes
# from AWS_ENDPOINT_URL (or set `endpoint` in each stanza).
storage "dynamodb" {
  table            = "strongroom"
  region           = "us-east-1"
  ha_enabled       = "true"
  consistent_reads = "true"
}

seal "awskms" {
  kms_key_id = "alias/strongroom"
  region     = "us-east-1"
}

listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
}

api_addr = "http://127.0.0.1:8200"
