//! Process-wide Prometheus metrics, served at
//! `/v1/sys/metrics?format=prometheus`.
//!
//! The AWS request counter is how the round-trip budget (one DynamoDB
//! request per warm KV read, one transaction per write) is made visible:
//! every DynamoDB and KMS call increments it.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AwsLabels {
    service: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    /// Borrowed for the standard methods: no allocation per request.
    method: std::borrow::Cow<'static, str>,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuditLabels {
    device: String,
}

struct Metrics {
    registry: Registry,
    audit_failures: Family<AuditLabels, Counter>,
    aws_requests: Family<AwsLabels, Counter>,
    aws_errors: Family<AwsLabels, Counter>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram>,
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let mut registry = Registry::with_prefix("strongroom");
        let aws_requests = Family::<AwsLabels, Counter>::default();
        registry.register(
            "aws_requests",
            "AWS API requests sent, by service and operation",
            aws_requests.clone(),
        );
        let aws_errors = Family::<AwsLabels, Counter>::default();
        registry.register(
            "aws_request_errors",
            "AWS API requests that failed (each retry counts)",
            aws_errors.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served, by method and status code",
            http_requests.clone(),
        );
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            http_duration.clone(),
        );
        let audit_failures = Family::<AuditLabels, Counter>::default();
        registry.register(
            "audit_log_failures",
            "Audit entries a device failed to record (the request was served if another device recorded it)",
            audit_failures.clone(),
        );
        Metrics {
            registry,
            audit_failures,
            aws_requests,
            aws_errors,
            http_requests,
            http_duration,
        }
    })
}

/// Counts one AWS API request (call it once per attempt, retries included).
pub(crate) fn aws_request(service: &'static str, operation: &'static str) {
    metrics()
        .aws_requests
        .get_or_create(&AwsLabels { service, operation })
        .inc();
}

/// Counts one failed AWS API attempt.
pub(crate) fn aws_error(service: &'static str, operation: &'static str) {
    metrics()
        .aws_errors
        .get_or_create(&AwsLabels { service, operation })
        .inc();
}

/// The standard methods' names as static strings.
fn static_method(method: &str) -> Option<&'static str> {
    const KNOWN: &[&str] = &[
        "GET", "PUT", "POST", "DELETE", "LIST", "HEAD", "PATCH", "OPTIONS",
    ];
    KNOWN.iter().copied().find(|m| *m == method)
}

/// Records one served HTTP request.
pub(crate) fn http_request(method: &str, code: u16, took: Duration) {
    let labels = HttpLabels {
        method: static_method(method)
            .map(std::borrow::Cow::Borrowed)
            .unwrap_or_else(|| std::borrow::Cow::Owned(method.to_string())),
        code,
    };
    let m = metrics();
    m.http_requests.get_or_create(&labels).inc();
    m.http_duration
        .get_or_create(&labels)
        .observe(took.as_secs_f64());
}

/// Counts one entry an audit device failed to record.
pub(crate) fn audit_log_failure(device: &str) {
    metrics()
        .audit_failures
        .get_or_create(&AuditLabels {
            device: device.to_string(),
        })
        .inc();
}

/// The Prometheus text exposition of every metric.
pub(crate) fn render() -> String {
    let mut out = String::new();
    if encode(&mut out, &metrics().registry).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_method_labels() {
        assert_eq!(super::static_method("LIST"), Some("LIST"));
        assert_eq!(super::static_method("BREW"), None);
        super::http_request("BREW", 405, std::time::Duration::from_millis(1));
        super::http_request("GET", 200, std::time::Duration::from_millis(1));
        let text = super::render();
        assert!(text.contains("method=\"BREW\""), "{text}");
        assert!(text.contains("method=\"GET\""), "{text}");
    }

    #[test]
    fn renders_counters() {
        super::aws_request("dynamodb", "GetItem");
        let text = super::render();
        assert!(
            text.contains(
                "strongroom_aws_requests_total{service=\"dynamodb\",operation=\"GetItem\"}"
            ),
            "{text}"
        );
    }
}
