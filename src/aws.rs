//! Shared AWS SDK plumbing for the DynamoDB storage backend
//! (`storage::dynamodb`) and the AWS KMS seal (`seal::awskms`).
//!
//! * HTTP: one hyper 1 + rustls 0.23 (ring) client built through
//!   `aws-smithy-http-client`; the SDK's default client (aws-lc) and its
//!   legacy hyper 0.14 client are not compiled in.
//! * Retries: the SDK's own retries are disabled (`RetryConfig::disabled()`),
//!   so every HTTP attempt goes through [`AwsCaller::call`], which counts it in
//!   `strongroom_aws_requests_total` (and failures in
//!   `strongroom_aws_request_errors_total`) and retries transient failures
//!   (throttling, 5xx, network errors, per-call extras such as DynamoDB's
//!   `TransactionConflict`) with jittered exponential backoff from `backon`,
//!   bounded by an overall deadline.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use backon::{BackoffBuilder, ExponentialBuilder};

/// Region used when neither the configuration nor the environment names one.
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

/// Error codes AWS services use for throttling (always worth a retry).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes for server-side trouble that may be answered with a 4xx status.
const TRANSIENT_CODES: &[&str] = &[
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "TransactionInProgressException",
    "KMSInternalException",
    "DependencyTimeoutException",
];

/// How an AWS client connects and how long one attempt may take.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    /// Explicit region; otherwise the SDK's chain (`AWS_REGION`, profile, IMDS),
    /// then [`DEFAULT_REGION`].
    pub(crate) region: Option<String>,
    /// Explicit endpoint URL; otherwise the SDK's (`AWS_ENDPOINT_URL`,
    /// `AWS_ENDPOINT_URL_<SERVICE>`, then the real AWS endpoint).
    pub(crate) endpoint: Option<String>,
    /// Static credentials (access key, secret key, session token); otherwise
    /// the SDK's default credential chain.
    pub(crate) static_credentials: Option<(String, String, Option<String>)>,
    pub(crate) connect_timeout: Duration,
    /// Bound on one HTTP attempt (connect, send, read the whole response).
    pub(crate) attempt_timeout: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            region: None,
            endpoint: None,
            static_credentials: None,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

/// Loads the shared SDK configuration: our HTTPS client, SDK retries off,
/// the given timeouts, region and endpoint.
pub(crate) async fn load_sdk_config(settings: &ClientSettings) -> SdkConfig {
    // A fresh client (and connection pool) per backend: its connections are
    // bound to the tokio runtime that first uses them.
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(settings.connect_timeout)
        .operation_attempt_timeout(settings.attempt_timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts);
    if let Some(region) = settings.region.as_deref().filter(|r| !r.is_empty()) {
        loader = loader.region(Region::new(region.to_string()));
    }
    if let Some(endpoint) = settings.endpoint.as_deref().filter(|e| !e.is_empty()) {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some((access_key, secret_key, token)) = &settings.static_credentials {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            access_key,
            secret_key,
            token.clone(),
            None,
            "strongroom-config",
        ));
    }
    let config = loader.load().await;
    if config.region().is_some() {
        config
    } else {
        config
            .into_builder()
            .region(Region::from_static(DEFAULT_REGION))
            .build()
    }
}

/// Retry schedule and deadline for one logical call.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    /// No new attempt starts after this much time since the first one.
    pub(crate) deadline: Duration,
    pub(crate) max_attempts: usize,
    pub(crate) min_delay: Duration,
    pub(crate) max_delay: Duration,
}

impl RetryPolicy {
    /// The jittered exponential delays between attempts (`backon`).
    pub(crate) fn backoff(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::new()
            .with_jitter()
            .with_factor(2.0)
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1))
            .build()
    }
}

/// A failed call after retries: the last error and how it ended.
#[derive(Debug)]
pub(crate) struct CallError<E> {
    pub(crate) error: E,
    pub(crate) attempts: usize,
    /// True when the last error was transient but the attempts or the
    /// deadline ran out.
    pub(crate) gave_up: bool,
}

/// Runs AWS calls for one service: counts and retries every attempt.
#[derive(Debug, Clone)]
pub(crate) struct AwsCaller {
    service: &'static str,
    policy: RetryPolicy,
    /// Attempts sent through this caller (all operations): lets tests measure
    /// the request budget without the process-wide counters of other tests.
    attempts: Arc<AtomicU64>,
}

impl AwsCaller {
    pub(crate) fn new(service: &'static str, policy: RetryPolicy) -> Self {
        Self {
            service,
            policy,
            attempts: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Total attempts sent through this caller so far.
    pub(crate) fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Calls `attempt` until it succeeds, fails with an error that
    /// `retryable` rejects, or the policy runs out. Every attempt is counted
    /// as one `operation` request of this service.
    pub(crate) async fn call<T, E, F, Fut>(
        &self,
        operation: &'static str,
        retryable: impl Fn(&E) -> bool,
        mut attempt: F,
    ) -> Result<T, CallError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let started = Instant::now();
        let mut delays = self.policy.backoff();
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.attempts.fetch_add(1, Ordering::Relaxed);
            crate::metrics::aws_request(self.service, operation);
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            crate::metrics::aws_error(self.service, operation);
            if !retryable(&error) {
                return Err(CallError {
                    error,
                    attempts,
                    gave_up: false,
                });
            }
            match delays.next() {
                Some(delay) if started.elapsed() + delay < self.policy.deadline => {
                    tracing::debug!(
                        service = self.service,
                        operation,
                        attempts,
                        ?delay,
                        "retrying transient AWS error"
                    );
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    return Err(CallError {
                        error,
                        attempts,
                        gave_up: true,
                    })
                }
            }
        }
    }
}

/// The error code of a service error (`None` for transport errors).
pub(crate) fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

/// True for errors that cannot be about the request itself: throttling,
/// 5xx answers, timeouts and network failures.
pub(crate) fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(e) => !e.is_user(),
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or_default();
            e.raw().status().is_server_error()
                || THROTTLING_CODES.contains(&code)
                || TRANSIENT_CODES.contains(&code)
        }
        _ => false,
    }
}

/// A one-line description of an SDK error with its whole source chain.
pub(crate) fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or("unknown error");
            let status = e.raw().status().as_u16();
            match e.err().message() {
                Some(msg) => format!("{code} (HTTP {status}): {msg}"),
                None => format!("{code} (HTTP {status})"),
            }
        }
        other => DisplayErrorContext(other).to_string(),
    }
}

/// Describes a failed call, saying how many attempts were made.
pub(crate) fn describe_call<E>(
    service: &str,
    operation: &str,
    err: &CallError<SdkError<E, HttpResponse>>,
) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = describe(&err.error);
    if err.gave_up {
        format!(
            "{service} {operation} failed after {} attempt(s), giving up: {detail}",
            err.attempts
        )
    } else {
        format!("{service} {operation} failed: {detail}")
    }
}

#[cfg(test)]
/// True when the AWS tests should run (moto is up); prints a line and
/// returns false when they are explicitly skipped; fails otherwise.
pub(crate) fn aws_tests_enabled(test: &str) -> bool {
    if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty()) {
        return true;
    }
    if std::env::var("STRONGROOM_SKIP_AWS_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped {test}: STRONGROOM_SKIP_AWS_TESTS=1 (no AWS endpoint)");
        return false;
    }
    panic!(
        "{test}: AWS_ENDPOINT_URL is not set: run under `make test` (moto not started), \
 or set STRONGROOM_SKIP_AWS_TESTS=1 to skip the AWS tests"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caller_retries_until_success_and_counts_attempts() {
        let caller = AwsCaller::new(
            "test",
            RetryPolicy {
                deadline: Duration::from_secs(5),
                max_attempts: 5,
                min_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
            },
        );
        let mut n = 0;
        let out: Result<u32, CallError<&str>> = caller
            .call(
                "Op",
                |_| true,
                || {
                    n += 1;
                    let v = n;
                    async move {
                        if v < 3 {
                            Err("transient")
                        } else {
                            Ok(v)
                        }
                    }
                },
            )
            .await;
        assert_eq!(out.unwrap(), 3);
        assert_eq!(caller.attempts(), 3);
    }

    #[tokio::test]
    async fn caller_stops_on_permanent_error_and_at_max_attempts() {
        let policy = RetryPolicy {
            deadline: Duration::from_secs(5),
            max_attempts: 3,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let caller = AwsCaller::new("test", policy);
        let err = caller
            .call("Op", |_: &&str| false, || async { Err::<(), _>("nope") })
            .await
            .unwrap_err();
        assert_eq!((err.attempts, err.gave_up), (1, false));
        let err = caller
            .call("Op", |_: &&str| true, || async { Err::<(), _>("busy") })
            .await
            .unwrap_err();
        assert_eq!((err.attempts, err.gave_up), (3, true));
    }
}
