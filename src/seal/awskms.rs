//! AWS KMS auto-unseal.
//!
//! The root key is wrapped with one KMS `Encrypt` under the configured key,
//! with the encryption context `{"strongroom:cluster_id": <cluster id>}`, so
//! the ciphertext only opens for this cluster; it is unwrapped with one KMS
//! `Decrypt` naming the same key and context (KMS refuses a ciphertext made
//! under another key or for another cluster).
//!
//! # Options (`seal "awskms" { ... }`)
//!
//! | option       | environment fallback                                   |
//! |--------------|--------------------------------------------------------|
//! | `kms_key_id` | `VAULT_AWSKMS_SEAL_KEY_ID` (required; id, ARN or alias) |
//! | `region`     | `AWS_REGION`, `AWS_DEFAULT_REGION`, profile, then us-east-1 |
//! | `endpoint`   | `AWS_KMS_ENDPOINT`, `AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL` |
//! | `access_key`, `secret_key`, `session_token` | SDK credential chain |
//!
//! # Stored blob
//!
//! JSON: `{"type":"awskms","key_id":"<ARN KMS reported>","ciphertext":"<base64>"}`.
//!
//! # Errors
//!
//! * `InvalidCiphertextException`, `IncorrectKeyException`,
//!   `AccessDeniedException`, a missing/disabled key → [`SealError::WrongKey`]:
//!   this key or cluster can never open the blob.
//! * Network errors, timeouts (2 s to connect, 5 s per attempt), throttling
//!   and 5xx → [`SealError::Unavailable`] after at most 3 quick attempts; the
//!   caller stays sealed and retries with backoff.
//!
//! The plaintext root key is held in [`Zeroizing`] buffers and never logged.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{Seal, SealConfig, SealError};
use crate::aws::{self, AwsCaller, CallError, ClientSettings, RetryPolicy};

const SERVICE: &str = "kms";
/// The encryption-context key binding ciphertexts to one cluster.
pub(crate) const CONTEXT_KEY: &str = "strongroom:cluster_id";

/// KMS error codes meaning "this key/context can never open this blob".
const WRONG_KEY_CODES: &[&str] = &[
    "InvalidCiphertextException",
    "IncorrectKeyException",
    "AccessDeniedException",
    "NotFoundException",
    "DisabledException",
    "KMSInvalidStateException",
    "InvalidKeyUsageException",
    "KeyUnavailableException",
];

/// Parsed `seal "awskms"` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AwsKmsOptions {
    pub(crate) kms_key_id: String,
    pub(crate) region: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) access_key: Option<String>,
    pub(crate) secret_key: Option<String>,
    pub(crate) session_token: Option<String>,
}

fn opt(options: &Map<String, Value>, name: &str) -> Result<Option<String>, SealError> {
    crate::storage::dynamodb::opt_string(options, name).map_err(SealError::Config)
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl AwsKmsOptions {
    pub(crate) fn parse(options: &Map<String, Value>) -> Result<Self, SealError> {
        let kms_key_id = opt(options, "kms_key_id")?
            .or_else(|| env_nonempty("VAULT_AWSKMS_SEAL_KEY_ID"))
            .ok_or_else(|| {
                SealError::Config(
                    "awskms seal needs kms_key_id (or VAULT_AWSKMS_SEAL_KEY_ID): a key id, ARN or alias".to_string(),
                )
            })?;
        let access_key = opt(options, "access_key")?;
        let secret_key = opt(options, "secret_key")?;
        if access_key.is_some() != secret_key.is_some() {
            return Err(SealError::Config(
                "awskms seal options access_key and secret_key must be given together".to_string(),
            ));
        }
        Ok(Self {
            kms_key_id,
            region: opt(options, "region")?,
            endpoint: opt(options, "endpoint")?.or_else(|| env_nonempty("AWS_KMS_ENDPOINT")),
            access_key,
            secret_key,
            session_token: opt(options, "session_token")?,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct WrappedBlob {
    #[serde(rename = "type")]
    seal_type: String,
    /// The key KMS reports having used (an ARN), for operators.
    key_id: String,
    ciphertext: String,
}

/// The AWS KMS auto seal.
pub(crate) struct AwsKmsSeal {
    client: Client,
    key_id: String,
    caller: AwsCaller,
}

impl std::fmt::Debug for AwsKmsSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsSeal")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[allow(dead_code)] // constructors are wired by the server config
impl AwsKmsSeal {
    /// Builds the seal from a `seal "awskms"` stanza's options (see the module
    /// docs). Sends no request: KMS is first contacted at init/unseal.
    pub(crate) async fn from_options(options: &Map<String, Value>) -> Result<Self, SealError> {
        Self::new(AwsKmsOptions::parse(options)?).await
    }

    pub(crate) async fn new(options: AwsKmsOptions) -> Result<Self, SealError> {
        let settings = ClientSettings {
            region: options.region.clone(),
            endpoint: options.endpoint.clone(),
            static_credentials: match (&options.access_key, &options.secret_key) {
                (Some(a), Some(s)) => Some((a.clone(), s.clone(), options.session_token.clone())),
                _ => None,
            },
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(5),
        };
        let sdk_config = aws::load_sdk_config(&settings).await;
        Ok(Self {
            client: Client::new(&sdk_config),
            key_id: options.kms_key_id,
            caller: AwsCaller::new(
                SERVICE,
                RetryPolicy {
                    deadline: Duration::from_secs(10),
                    max_attempts: 3,
                    min_delay: Duration::from_millis(100),
                    max_delay: Duration::from_secs(1),
                },
            ),
        })
    }

    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }

    /// KMS requests (attempts) this seal has sent.
    pub(crate) fn request_count(&self) -> u64 {
        self.caller.attempts()
    }

    fn context(config: &SealConfig) -> Result<(String, String), SealError> {
        if config.cluster_id.is_empty() {
            return Err(SealError::Config(
                "the seal configuration has no cluster_id to bind the KMS ciphertext to"
                    .to_string(),
            ));
        }
        Ok((CONTEXT_KEY.to_string(), config.cluster_id.clone()))
    }
}

fn classify<E>(
    operation: &str,
    key_id: &str,
    err: CallError<SdkError<E, HttpResponse>>,
    refused: fn(String) -> SealError,
) -> SealError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = aws::describe_call(SERVICE, operation, &err);
    let code = aws::error_code(&err.error).unwrap_or_default();
    if aws::is_transient(&err.error) {
        SealError::Unavailable(detail)
    } else if WRONG_KEY_CODES.contains(&code) {
        refused(format!(
            "AWS KMS key {key_id:?} cannot {}: {detail}",
            if operation == "Decrypt" {
                "decrypt the stored root key (wrong KMS key, or a blob from another cluster)"
            } else {
                "encrypt the root key"
            }
        ))
    } else {
        // Bad credentials, validation errors...: not this key's fault and
        // possibly fixed by the operator; stay sealed and retry.
        SealError::Unavailable(detail)
    }
}

#[async_trait]
impl Seal for AwsKmsSeal {
    fn seal_type(&self) -> &'static str {
        "awskms"
    }

    fn is_auto(&self) -> bool {
        true
    }

    async fn wrap_root_key(
        &self,
        config: &SealConfig,
        root_key: &[u8],
        _operator_key: Option<&[u8]>,
    ) -> Result<Vec<u8>, SealError> {
        let (context_key, cluster_id) = Self::context(config)?;
        let request = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(root_key.to_vec()))
            .encryption_context(context_key, cluster_id);
        let out = self
            .caller
            .call("Encrypt", aws::is_transient, || request.clone().send())
            .await
            .map_err(|e| classify("Encrypt", &self.key_id, e, SealError::Config))?;
        let ciphertext = out.ciphertext_blob.ok_or_else(|| {
            SealError::Unavailable("KMS Encrypt returned no ciphertext".to_string())
        })?;
        let blob = WrappedBlob {
            seal_type: "awskms".to_string(),
            key_id: out.key_id.unwrap_or_else(|| self.key_id.clone()),
            ciphertext: base64::engine::general_purpose::STANDARD.encode(ciphertext.as_ref()),
        };
        serde_json::to_vec(&blob)
            .map_err(|e| SealError::Config(format!("encoding the wrapped root key: {e}")))
    }

    async fn unwrap_root_key(
        &self,
        config: &SealConfig,
        blob: &[u8],
        _operator_key: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (context_key, cluster_id) = Self::context(config)?;
        let wrapped: WrappedBlob = serde_json::from_slice(blob).map_err(|e| {
            SealError::WrongKey(format!("the stored root key is not an awskms blob: {e}"))
        })?;
        if wrapped.seal_type != "awskms" {
            return Err(SealError::WrongKey(format!(
                "the stored root key was wrapped by a {:?} seal, not awskms",
                wrapped.seal_type
            )));
        }
        let ciphertext = base64::engine::general_purpose::STANDARD
            .decode(&wrapped.ciphertext)
            .map_err(|e| {
                SealError::WrongKey(format!("the stored root key ciphertext is not base64: {e}"))
            })?;
        let request = self
            .client
            .decrypt()
            // Naming the key makes KMS refuse a ciphertext from another key.
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_context(context_key, cluster_id);
        let out = self
            .caller
            .call("Decrypt", aws::is_transient, || request.clone().send())
            .await
            .map_err(|e| classify("Decrypt", &self.key_id, e, SealError::WrongKey))?;
        let plaintext = out.plaintext.ok_or_else(|| {
            SealError::Unavailable("KMS Decrypt returned no plaintext".to_string())
        })?;
        Ok(Zeroizing::new(plaintext.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::aws_tests_enabled;

    fn config(cluster_id: &str) -> SealConfig {
        SealConfig {
            seal_type: "awskms".to_string(),
            secret_shares: 1,
            secret_threshold: 1,
            cluster_id: cluster_id.to_string(),
        }
    }

    /// Never let the SDK fall back to IMDS (169.254.169.254) in tests.
    fn credentials(m: &mut Map<String, Value>) {
        if env_nonempty("AWS_ACCESS_KEY_ID").is_none() {
            m.insert("access_key".into(), "test".into());
            m.insert("secret_key".into(), "test".into());
        }
        if env_nonempty("AWS_REGION").is_none() {
            m.insert("region".into(), "us-east-1".into());
        }
    }

    /// Creates a fresh KMS key (through the SDK, like bootstrap.sh does) and
    /// returns a seal using it, addressed by `alias` when given.
    async fn seal_with_new_key(alias: Option<&str>) -> AwsKmsSeal {
        let mut m = Map::new();
        m.insert("kms_key_id".into(), "placeholder".into());
        credentials(&mut m);
        let admin = AwsKmsSeal::from_options(&m).await.unwrap();
        let key = admin
            .client
            .create_key()
            .description("strongroom test key")
            .send()
            .await
            .unwrap();
        let key_id = key.key_metadata.unwrap().key_id;
        let id = match alias {
            Some(alias) => {
                admin
                    .client
                    .create_alias()
                    .alias_name(alias)
                    .target_key_id(&key_id)
                    .send()
                    .await
                    .unwrap();
                alias.to_string()
            }
            None => key_id,
        };
        m.insert("kms_key_id".into(), Value::String(id));
        AwsKmsSeal::from_options(&m).await.unwrap()
    }

    #[test]
    fn parses_options() {
        let mut m = Map::new();
        m.insert("kms_key_id".into(), "alias/strongroom".into());
        m.insert("region".into(), "eu-central-1".into());
        m.insert("endpoint".into(), "http://127.0.0.1:4566".into());
        let o = AwsKmsOptions::parse(&m).unwrap();
        assert_eq!(o.kms_key_id, "alias/strongroom");
        assert_eq!(o.region.as_deref(), Some("eu-central-1"));
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:4566"));
        m.insert("access_key".into(), "AKIA".into());
        assert!(matches!(
            AwsKmsOptions::parse(&m),
            Err(SealError::Config(_))
        ));
    }

    #[tokio::test]
    async fn wrap_unwrap_round_trip() {
        if !aws_tests_enabled("seal::awskms::wrap_unwrap_round_trip") {
            return;
        }
        let alias = format!("alias/strongroom-test-{}", uuid::Uuid::new_v4().simple());
        let seal = seal_with_new_key(Some(&alias)).await;
        assert_eq!(seal.seal_type(), "awskms");
        assert!(seal.is_auto());
        let root_key = [42u8; 32];
        let blob = seal
            .wrap_root_key(&config("cluster-a"), &root_key, None)
            .await
            .unwrap();
        assert!(
            !blob.windows(32).any(|w| w == root_key),
            "the blob must not contain the plaintext"
        );
        let before = seal.request_count();
        let opened = seal
            .unwrap_root_key(&config("cluster-a"), &blob, None)
            .await
            .unwrap();
        assert_eq!(opened.as_slice(), &root_key);
        assert_eq!(seal.request_count() - before, 1, "unwrap = one KMS Decrypt");
    }

    #[tokio::test]
    async fn other_cluster_or_key_is_refused() {
        if !aws_tests_enabled("seal::awskms::other_cluster_or_key_is_refused") {
            return;
        }
        let seal = seal_with_new_key(None).await;
        let other = seal_with_new_key(None).await;
        let blob = seal
            .wrap_root_key(&config("cluster-a"), &[7u8; 32], None)
            .await
            .unwrap();
        let err = seal
            .unwrap_root_key(&config("cluster-b"), &blob, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, SealError::WrongKey(_)),
            "wrong context: {err:?}"
        );
        let err = other
            .unwrap_root_key(&config("cluster-a"), &blob, None)
            .await
            .unwrap_err();
        assert!(matches!(err, SealError::WrongKey(_)), "wrong key: {err:?}");
        let err = seal
            .unwrap_root_key(&config("cluster-a"), b"garbage", None)
            .await
            .unwrap_err();
        assert!(matches!(err, SealError::WrongKey(_)), "garbage: {err:?}");
        let err = seal
            .wrap_root_key(&config(""), &[7u8; 32], None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, SealError::Config(_)),
            "no cluster id: {err:?}"
        );
    }

    #[tokio::test]
    async fn unreachable_kms_is_unavailable_quickly() {
        // Needs no moto: a closed loopback port.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut m = Map::new();
        m.insert("kms_key_id".into(), "alias/strongroom".into());
        m.insert(
            "endpoint".into(),
            Value::String(format!("http://127.0.0.1:{port}")),
        );
        m.insert("region".into(), "us-east-1".into());
        m.insert("access_key".into(), "test".into());
        m.insert("secret_key".into(), "test".into());
        let seal = AwsKmsSeal::from_options(&m).await.unwrap();
        let started = std::time::Instant::now();
        let blob = br#"{"type":"awskms","key_id":"k","ciphertext":"AAAA"}"#;
        let err = seal
            .unwrap_root_key(&config("c"), blob, None)
            .await
            .unwrap_err();
        assert!(matches!(err, SealError::Unavailable(_)), "{err:?}");
        let err = seal
            .wrap_root_key(&config("c"), &[1u8; 32], None)
            .await
            .unwrap_err();
        assert!(matches!(err, SealError::Unavailable(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "took {:?}",
            started.elapsed()
        );
    }
}
