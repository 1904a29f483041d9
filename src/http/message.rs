//! The transport's view of a request and a response, shared by the handler
//! (which maps them to and from the logical layer) and the forwarder (which
//! relays them to the active node unchanged), so neither imports the other.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

use crate::logical::LogicalError;

/// Vault's client-facing text for every 500.
pub(crate) const INTERNAL_ERROR: &str = "internal error";

/// The parts of an HTTP request core needs, from any transport (hyper or Lambda).
pub(crate) struct HttpRequest<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
    pub(crate) remote_addr: Option<std::net::IpAddr>,
    /// The client's TLS certificate chain (DER, leaf first; empty when
    /// none): from the TLS session, or from a verified forwarding envelope.
    pub(crate) client_cert_chain: Vec<Vec<u8>>,
    /// The peer's TCP port, when the transport has one (audit entries).
    pub(crate) remote_port: Option<u16>,
}

/// A fully buffered HTTP response.
pub(crate) struct HttpResponse {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    /// `None` means `application/json`.
    pub(crate) content_type: Option<&'static str>,
    /// Extra headers (Retry-After, Location, relayed headers).
    pub(crate) headers: Vec<(http::HeaderName, HeaderValue)>,
}

impl HttpResponse {
    pub(crate) fn json(status: u16, value: &Value) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Serializing a serde_json::Value cannot fail.
        let body = serde_json::to_vec(value).unwrap_or_default();
        Self {
            status,
            body: Bytes::from(body),
            content_type: None,
            headers: Vec::new(),
        }
    }

    /// An error answer. A 500's own text may name internals (a corrupt
    /// record, an encoder, an SDK): it goes to the log, and the client gets
    /// Vault's `internal error`.
    pub(crate) fn error(err: &LogicalError) -> Self {
        if let LogicalError::Internal(m) = err {
            if m != INTERNAL_ERROR {
                tracing::error!(error = %m, "internal error");
                return Self::error(&LogicalError::Internal(INTERNAL_ERROR.into()));
            }
        }
        Self::json(
            err.status(),
            &serde_json::json!({ "errors": err.messages() }),
        )
    }

    pub(crate) fn no_content(status: u16) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT),
            body: Bytes::new(),
            content_type: None,
            headers: Vec::new(),
        }
    }
}

/// Headers every response carries, as Vault sends them.
pub(crate) fn standard_headers(headers: &mut HeaderMap, content_type: Option<&'static str>) {
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    if let Some(ct) = content_type {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_client() {
        let r = HttpResponse::error(&LogicalError::Internal(
            "DynamoDB TransactWriteItems: dispatch failure: io error".into(),
        ));
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(&r.body[..], br#"{"errors":["internal error"]}"#);
        let storage: LogicalError = crate::storage::StorageError::Backend(
            "DynamoDB GetItem: service error: ThrottlingException".into(),
        )
        .into();
        let r = HttpResponse::error(&storage);
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains("DynamoDB") && !body.contains("Throttling"),
            "{body}"
        );
        assert!(body.contains("storage unavailable"), "{body}");
        // Client errors keep their text.
        let r = HttpResponse::error(&LogicalError::bad("missing role_id"));
        assert_eq!(&r.body[..], br#"{"errors":["missing role_id"]}"#);
    }
}
