//! The signed forwarding envelope: how a standby tells the active node who
//! the client really is.
//!
//! A standby (or Lambda instance) that forwards a request adds the client's
//! address, a timestamp, its node id (the existing loop-prevention header)
//! and, when the client presented one, its certificate chain, and signs
//! them with HMAC-SHA256 under the cluster forwarding key
//! (`core/forwarding-key`, src/core/forwarding.rs) over a canonical string
//! that also covers the method, the path and query, and the SHA-256 of the
//! body. The active node believes the carried address only when the
//! signature verifies (in constant time) and the timestamp is within
//! [`MAX_SKEW_MS`] of its own clock; otherwise the request is judged by its
//! TCP peer, exactly as if the headers were absent. Envelope headers a
//! client sends itself are stripped before anything else sees them, so a
//! client can never choose the address CIDR-bound credentials are checked
//! against.

use std::net::IpAddr;

use base64::Engine;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use sha2::{Digest, Sha256};

use super::forward::FORWARDED_HEADER;
use super::message::HttpRequest;
use crate::core::Core;

/// The original client's address, as the forwarding node saw it.
pub(crate) const FORWARDED_FOR: &str = "x-strongroom-forwarded-for";
/// Milliseconds since the Unix epoch when the forwarding node signed.
pub(crate) const FORWARDED_AT: &str = "x-strongroom-forwarded-at";
/// Base64 HMAC-SHA256 over [`canonical`].
pub(crate) const FORWARDED_SIGNATURE: &str = "x-strongroom-forwarded-signature";
/// The client's certificate chain: comma-separated base64 of each DER
/// certificate, leaf first.
pub(crate) const FORWARDED_CLIENT_CERT: &str = "x-strongroom-forwarded-client-cert";

/// How far the signer's clock may be from ours (either way). Small: it
/// bounds how long a captured envelope could be replayed.
pub(crate) const MAX_SKEW_MS: i64 = 30_000;

const ENVELOPE_HEADERS: [&str; 4] = [
    FORWARDED_FOR,
    FORWARDED_AT,
    FORWARDED_SIGNATURE,
    FORWARDED_CLIENT_CERT,
];

/// True for the headers only a signing node may set (not the
/// loop-prevention header, which only ever makes a node refuse to
/// forward again).
pub(crate) fn is_envelope_header(name: &HeaderName) -> bool {
    ENVELOPE_HEADERS.contains(&name.as_str())
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The signed string: one field per line, every field that decides how the
/// active node treats the request.
fn canonical(
    method: &Method,
    path_and_query: &str,
    body: &[u8],
    client: &str,
    at: &str,
    node: &str,
    cert_header: Option<&str>,
) -> String {
    format!(
        "strongroom-forward-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
        method.as_str(),
        path_and_query,
        hex_sha256(body),
        client,
        at,
        node,
        cert_header
            .map(|c| hex_sha256(c.as_bytes()))
            .unwrap_or_default()
    )
}

fn mac(key: &[u8], text: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(text.as_bytes());
    m
}

/// Encodes a certificate chain for [`FORWARDED_CLIENT_CERT`].
pub(crate) fn encode_cert_chain(chain: &[Vec<u8>]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    chain
        .iter()
        .map(|c| b64.encode(c))
        .collect::<Vec<_>>()
        .join(",")
}

/// Decodes [`FORWARDED_CLIENT_CERT`]; `None` when malformed.
pub(crate) fn decode_cert_chain(header: &str) -> Option<Vec<Vec<u8>>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    header
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| b64.decode(c).ok())
        .collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The envelope headers for one forwarded request (the caller adds the
/// loop-prevention header carrying `node_id` itself).
#[allow(clippy::too_many_arguments)]
pub(crate) fn envelope_headers(
    key: &[u8],
    method: &Method,
    path_and_query: &str,
    body: &[u8],
    client: Option<IpAddr>,
    node_id: &str,
    cert_chain: &[Vec<u8>],
    at_ms: i64,
) -> Vec<(HeaderName, HeaderValue)> {
    let client = client.map(|c| c.to_string()).unwrap_or_default();
    let at = at_ms.to_string();
    let certs = (!cert_chain.is_empty()).then(|| encode_cert_chain(cert_chain));
    let text = canonical(
        method,
        path_and_query,
        body,
        &client,
        &at,
        node_id,
        certs.as_deref(),
    );
    let signature =
        base64::engine::general_purpose::STANDARD.encode(mac(key, &text).finalize().into_bytes());
    let mut out = Vec::new();
    let mut push = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            out.push((HeaderName::from_static(name), v));
        }
    };
    if !client.is_empty() {
        push(FORWARDED_FOR, client);
    }
    push(FORWARDED_AT, at);
    if let Some(c) = certs {
        push(FORWARDED_CLIENT_CERT, c);
    }
    push(FORWARDED_SIGNATURE, signature);
    out
}

/// Signs a request this node forwards; no headers when the cluster has no
/// forwarding key yet (the active node then sees our address). Call it for
/// every attempt (a re-forward to a new holder gets a fresh timestamp).
pub(crate) async fn sign_forwarded(
    core: &Core,
    req: &HttpRequest<'_>,
    path_and_query: &str,
    node_id: &str,
) -> Vec<(HeaderName, HeaderValue)> {
    let Some(key) = core.forwarding_key().await else {
        tracing::debug!("no cluster forwarding key yet: forwarding unsigned");
        return Vec::new();
    };
    envelope_headers(
        &key,
        req.method,
        path_and_query,
        req.body,
        req.remote_addr,
        node_id,
        &req.client_cert_chain,
        now_ms(),
    )
}

/// What a verified envelope vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    /// The original client's address (`None` when the signer had none).
    pub(crate) client_addr: Option<IpAddr>,
    pub(crate) client_cert_chain: Vec<Vec<u8>>,
}

/// Why an envelope was not believed (logged, never shown to the client).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    #[error("no signature or timestamp")]
    Incomplete,
    #[error("a header is not valid text")]
    Malformed,
    #[error("the timestamp is outside the accepted window")]
    Stale,
    #[error("the signature does not verify")]
    BadSignature,
}

fn one<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, EnvelopeError> {
    let mut values = headers.get_all(name).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(EnvelopeError::Malformed);
    }
    v.to_str().map(Some).map_err(|_| EnvelopeError::Malformed)
}

/// Verifies the envelope of a request at `now`.
pub(crate) fn verify_headers(
    key: &[u8],
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Verified, EnvelopeError> {
    let (Some(signature), Some(at)) = (
        one(headers, FORWARDED_SIGNATURE)?,
        one(headers, FORWARDED_AT)?,
    ) else {
        return Err(EnvelopeError::Incomplete);
    };
    let node = one(headers, FORWARDED_HEADER)?.ok_or(EnvelopeError::Incomplete)?;
    let client = one(headers, FORWARDED_FOR)?.unwrap_or("");
    let certs = one(headers, FORWARDED_CLIENT_CERT)?;
    let at_ms: i64 = at.parse().map_err(|_| EnvelopeError::Malformed)?;
    if (now - at_ms).abs() > MAX_SKEW_MS {
        return Err(EnvelopeError::Stale);
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| EnvelopeError::Malformed)?;
    let text = canonical(method, path_and_query, body, client, at, node, certs);
    // `verify_slice` compares in constant time.
    mac(key, &text)
        .verify_slice(&signature)
        .map_err(|_| EnvelopeError::BadSignature)?;
    let client_addr = if client.is_empty() {
        None
    } else {
        Some(client.parse().map_err(|_| EnvelopeError::Malformed)?)
    };
    let client_cert_chain = match certs {
        Some(c) => decode_cert_chain(c).ok_or(EnvelopeError::Malformed)?,
        None => Vec::new(),
    };
    Ok(Verified {
        client_addr,
        client_cert_chain,
    })
}

/// The client identity a request is admitted with.
pub(crate) struct Admitted {
    pub(crate) remote_addr: Option<IpAddr>,
    pub(crate) client_cert_chain: Vec<Vec<u8>>,
    /// The request's headers without envelope headers, when it carried any
    /// (otherwise the original headers are used as they are).
    pub(crate) headers: Option<HeaderMap>,
    /// Whether a forwarding node vouched for the client (the listener's
    /// `X-Forwarded-For` rules then do not apply: the signer applied them).
    pub(crate) vouched: bool,
}

/// Decides who the client is: a verified envelope's client, else the
/// transport's peer (and TLS chain). Envelope headers are always removed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn admit(
    core: &Core,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    peer: Option<IpAddr>,
    tls_chain: Vec<Vec<u8>>,
) -> Admitted {
    if !headers.keys().any(is_envelope_header) {
        return Admitted {
            remote_addr: peer,
            client_cert_chain: tls_chain,
            headers: None,
            vouched: false,
        };
    }
    let mut stripped = headers.clone();
    for name in ENVELOPE_HEADERS {
        stripped.remove(name);
    }
    let verified = verify_forwarded(core, method, path, query, headers, body).await;
    match verified {
        // A signer without a client address (a Lambda event without a
        // source IP) vouches for none: the peer is the signer, never the
        // client, so CIDR-bound credentials fail closed.
        Some(v) => Admitted {
            remote_addr: v.client_addr,
            client_cert_chain: v.client_cert_chain,
            headers: Some(stripped),
            vouched: true,
        },
        None => Admitted {
            remote_addr: peer,
            client_cert_chain: tls_chain,
            headers: Some(stripped),
            vouched: false,
        },
    }
}

/// Verifies a received request's envelope with the cluster key; `None`
/// (and a warning in the log) when it does not verify.
pub(crate) async fn verify_forwarded(
    core: &Core,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Verified> {
    let Some(key) = core.forwarding_key().await else {
        tracing::warn!(
            "a request carries a forwarding envelope but this node has no forwarding key"
        );
        return None;
    };
    let path_and_query = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    match verify_headers(&key, method, &path_and_query, headers, body, now_ms()) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(reason = %e, path, "forwarding envelope not believed; judging the request by its peer address");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7u8; 32];

    fn signed(
        client: Option<&str>,
        certs: &[Vec<u8>],
        at: i64,
    ) -> (HeaderMap, Vec<u8>, &'static str) {
        let body = br#"{"role_id":"r"}"#.to_vec();
        let pq = "/v1/auth/approle/login?x=1";
        let mut h = HeaderMap::new();
        h.insert(FORWARDED_HEADER, HeaderValue::from_static("node-1"));
        for (n, v) in envelope_headers(
            &KEY,
            &Method::POST,
            pq,
            &body,
            client.map(|c| c.parse().unwrap()),
            "node-1",
            certs,
            at,
        ) {
            h.insert(n, v);
        }
        (h, body, pq)
    }

    #[test]
    fn a_signed_envelope_verifies_and_carries_the_client() {
        let now = 1_700_000_000_000;
        let (h, body, pq) = signed(Some("127.0.0.5"), &[], now);
        let v = verify_headers(&KEY, &Method::POST, pq, &h, &body, now + 1000).unwrap();
        assert_eq!(v.client_addr, Some("127.0.0.5".parse().unwrap()));
        assert!(v.client_cert_chain.is_empty());
        let (h, body, pq) = signed(Some("2001:db8::1"), &[], now);
        let v = verify_headers(&KEY, &Method::POST, pq, &h, &body, now).unwrap();
        assert_eq!(v.client_addr, Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn every_signed_field_matters() {
        let now = 1_700_000_000_000;
        let (h, body, pq) = signed(Some("127.0.0.5"), &[vec![1, 2, 3]], now);
        let check = |h: &HeaderMap, m: &Method, pq: &str, body: &[u8]| {
            verify_headers(&KEY, m, pq, h, body, now)
        };
        assert!(check(&h, &Method::POST, pq, &body).is_ok());
        assert_eq!(
            check(&h, &Method::PUT, pq, &body),
            Err(EnvelopeError::BadSignature)
        );
        assert_eq!(
            check(&h, &Method::POST, "/v1/auth/approle/login?x=2", &body),
            Err(EnvelopeError::BadSignature)
        );
        assert_eq!(
            check(&h, &Method::POST, pq, b"{}"),
            Err(EnvelopeError::BadSignature)
        );
        for (name, value) in [
            (FORWARDED_FOR, "127.0.0.6"),
            (FORWARDED_HEADER, "node-2"),
            (FORWARDED_CLIENT_CERT, "BAUG"),
            (FORWARDED_AT, "1700000000001"),
        ] {
            let mut forged = h.clone();
            forged.insert(name, HeaderValue::from_static(value));
            assert_eq!(
                check(&forged, &Method::POST, pq, &body),
                Err(EnvelopeError::BadSignature),
                "{name}"
            );
        }
        let mut no_certs = h.clone();
        no_certs.remove(FORWARDED_CLIENT_CERT);
        assert_eq!(
            check(&no_certs, &Method::POST, pq, &body),
            Err(EnvelopeError::BadSignature)
        );
        // Another key.
        assert_eq!(
            verify_headers(&[8u8; 32], &Method::POST, pq, &h, &body, now),
            Err(EnvelopeError::BadSignature)
        );
    }

    #[test]
    fn stale_or_incomplete_envelopes_are_refused() {
        let now = 1_700_000_000_000;
        let (h, body, pq) = signed(Some("127.0.0.5"), &[], now);
        for later in [now + MAX_SKEW_MS + 1, now - MAX_SKEW_MS - 1] {
            assert_eq!(
                verify_headers(&KEY, &Method::POST, pq, &h, &body, later),
                Err(EnvelopeError::Stale)
            );
        }
        let mut forged = HeaderMap::new();
        forged.insert(FORWARDED_FOR, HeaderValue::from_static("127.0.0.5"));
        assert_eq!(
            verify_headers(&KEY, &Method::POST, pq, &forged, &body, now),
            Err(EnvelopeError::Incomplete)
        );
        let mut doubled = h.clone();
        doubled.append(FORWARDED_FOR, HeaderValue::from_static("127.0.0.6"));
        assert_eq!(
            verify_headers(&KEY, &Method::POST, pq, &doubled, &body, now),
            Err(EnvelopeError::Malformed)
        );
    }

    #[test]
    fn client_certificates_round_trip_through_the_header() {
        let now = 1_700_000_000_000;
        let chain = vec![
            vec![0x30, 0x82, 0x01, 0x00, 0xff],
            vec![0x30, 0x03, 0x02, 0x01, 0x01],
        ];
        let encoded = encode_cert_chain(&chain);
        assert_eq!(encoded.split(',').count(), 2);
        assert_eq!(decode_cert_chain(&encoded), Some(chain.clone()));
        assert_eq!(decode_cert_chain("not base64!"), None);
        assert_eq!(decode_cert_chain(""), Some(vec![]));
        let (h, body, pq) = signed(Some("10.0.0.9"), &chain, now);
        assert_eq!(
            h.get(FORWARDED_CLIENT_CERT).unwrap().to_str().unwrap(),
            encoded
        );
        let v = verify_headers(&KEY, &Method::POST, pq, &h, &body, now).unwrap();
        assert_eq!(v.client_cert_chain, chain);
        // No chain: no header.
        let (h, _, _) = signed(Some("10.0.0.9"), &[], now);
        assert!(h.get(FORWARDED_CLIENT_CERT).is_none());
    }

    #[test]
    fn envelope_headers_are_recognized() {
        for n in ENVELOPE_HEADERS {
            assert!(is_envelope_header(&HeaderName::from_static(n)));
        }
        assert!(!is_envelope_header(&HeaderName::from_static(
            FORWARDED_HEADER
        )));
        assert!(!is_envelope_header(&HeaderName::from_static(
            "x-forwarded-for"
        )));
    }
}
