//! Forwarding from an HA standby to the active node.
//!
//! A standby executes every request itself; when the request turns out to
//! write, core aborts it before any effect ([`LogicalError::Standby`]) and
//! the whole HTTP request is replayed against the active node's advertised
//! `api_addr`, its answer relayed unchanged. Engines need no per-path rules.
//!
//! **Failover inside one client request.** When the node it forwarded to
//! answers that it is not active and applied nothing ([`NOT_APPLIED_HEADER`]:
//! it lost the lease, or it is sealed), or cannot be connected to, the
//! standby re-reads the lease and re-forwards to the new holder (or runs the
//! request itself if it took the lease), until the lease has had time to
//! change hands ([`reforward_window`]). It never re-sends a request whose
//! fate is unknown (sent, then no answer) blindly: every forwarded request
//! carries an id ([`FORWARD_ID_HEADER`]) that the active node writes as a
//! marker in each of the request's fenced batches (`ha::fence`). Once the
//! lease has moved, the old holder can apply nothing more, so the marker
//! decides: absent, the request is re-forwarded; present, the client gets a
//! 503 saying the write landed but its answer was lost; and when the lease
//! does not move in time, a 503 saying the outcome is unknown.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};

use super::message::{HttpRequest, HttpResponse};
use crate::core::Core;
use crate::logical::LogicalError;

/// Marks a forwarded request, so a node that is not active either cannot
/// bounce it onward (no forwarding loops).
pub(crate) use crate::logical::FORWARDED_HEADER;
/// On a 503 to a forwarded request: this node is not active and applied
/// nothing, so the standby may send the request to the new holder.
pub(crate) const NOT_APPLIED_HEADER: &str = "x-strongroom-not-applied";
/// The standby's id for one client request (the same on every re-forward):
/// the active node marks the request's writes with it (`ha::fence`).
pub(crate) const FORWARD_ID_HEADER: &str = "x-strongroom-forward-id";
/// How many times one client request may run again on this node after it
/// took the lease while the request waited.
const MAX_LOCAL_RUNS: u32 = 2;
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

use crate::https_client::HttpsClient;

fn client() -> Result<&'static HttpsClient, String> {
    static CLIENT: OnceLock<Result<HttpsClient, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // A private CA for the active node's TLS certificate.
            let roots = crate::https_client::public_roots_and_env_ca("VAULT_CACERT")?;
            // Fail fast when the advertised active node is gone.
            crate::https_client::build(roots, Duration::from_secs(2), None)
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn unavailable(msg: &str) -> HttpResponse {
    let mut r = HttpResponse::error(&LogicalError::Unavailable(msg.to_string()));
    r.headers
        .push((http::header::RETRY_AFTER, HeaderValue::from_static("1")));
    r
}

/// The answer to a forwarded request this node cannot run because it is
/// not active (or sealed) and applied nothing: the standby that sent it
/// re-reads the lease and tries the new holder.
pub(crate) fn not_applied(err: &LogicalError) -> HttpResponse {
    let mut r = HttpResponse::error(&LogicalError::Unavailable(format!(
        "{err}; this node is not the active node and nothing was applied"
    )));
    r.headers.push((
        HeaderName::from_static(NOT_APPLIED_HEADER),
        HeaderValue::from_static("true"),
    ));
    r.headers
        .push((http::header::RETRY_AFTER, HeaderValue::from_static("1")));
    r
}

/// The answer when this node lost the lease after part of the request's
/// writes landed: it cannot be re-run elsewhere.
pub(crate) fn partially_applied() -> HttpResponse {
    unavailable(
        "this node lost the HA lease while the request was running, after part of it was applied; \
         check the result before retrying",
    )
}

/// What the forwarder decided.
pub(crate) enum Forwarded {
    /// Relay this answer to the client.
    Answer(HttpResponse),
    /// This node took the lease meanwhile: run the request here again.
    RunHere,
}

/// Bounds the re-forwarding of one client request.
#[derive(Default)]
pub(crate) struct Budget {
    deadline: Option<Instant>,
    local_runs: u32,
    /// `<unix seconds>-<uuid>`, made on the first forward.
    forward_id: Option<String>,
}

/// How long a standby keeps looking for a new holder for one request: past
/// a holder's last renewal a contender takes over within `ttl` plus one of
/// its polls (`ttl/6`) and a round trip; half a TTL and two seconds more
/// cover a request that arrived while the old holder was still renewing.
pub(crate) fn reforward_window(ttl: Duration) -> Duration {
    ttl + ttl / 2 + Duration::from_secs(2)
}

/// How one attempt to reach the active node ended.
enum Sent {
    Answer(HttpResponse),
    /// Provably not delivered (no connection was made).
    Undelivered(String),
    /// Sent, but no (complete) answer: it may have applied.
    Unknown(String),
}

/// Forwards `req` to the active node (or redirects, or answers 503),
/// following the lease when the holder changes (module docs).
pub(crate) async fn forward(
    core: &Arc<Core>,
    req: &HttpRequest<'_>,
    why: &str,
    budget: &mut Budget,
) -> Forwarded {
    let Some(ha) = &core.options.ha else {
        return Forwarded::Answer(unavailable(why));
    };
    if req.headers.contains_key(FORWARDED_HEADER) {
        return Forwarded::Answer(not_applied(&LogicalError::Standby(why.to_string())));
    }
    if !ha.config.can_lead {
        ha.refresh_leader().await;
    }
    if req.headers.contains_key("x-vault-no-request-forwarding") {
        return Forwarded::Answer(match live_leader(ha) {
            Some(leader) => redirect(&leader, req),
            None => unavailable(NO_ACTIVE),
        });
    }
    let deadline = *budget
        .deadline
        .get_or_insert_with(|| Instant::now() + reforward_window(ha.config.lease_ttl));
    let forward_id = budget
        .forward_id
        .get_or_insert_with(|| {
            format!(
                "{}-{}",
                chrono::Utc::now().timestamp(),
                uuid::Uuid::new_v4()
            )
        })
        .clone();
    let poll =
        (ha.config.lease_ttl / 10).clamp(Duration::from_millis(50), Duration::from_millis(250));
    // The holder (node id, epoch) that refused or could not be reached: not
    // tried again until the lease names another.
    let mut refused: Option<(String, u64)> = None;
    let mut problem = NO_ACTIVE.to_string();
    loop {
        if ha.is_active() {
            if budget.local_runs < MAX_LOCAL_RUNS {
                budget.local_runs += 1;
                return Forwarded::RunHere;
            }
            return Forwarded::Answer(unavailable(why));
        }
        if let Some(leader) = live_leader(ha) {
            let id = (leader.holder.clone(), leader.epoch);
            if refused.as_ref() != Some(&id) {
                // A holder that stops answering (paused, cut off from this
                // node) is given up on once the lease moves: from then on it
                // can apply nothing, and the marker tells what it did.
                let sent = tokio::select! {
                    sent = send(core, ha, req, &leader, &forward_id) => sent,
                    _ = lease_moved(ha, &leader, poll) => Sent::Unknown(
                        "the active node stopped answering and lost the lease; the outcome is unknown"
                            .to_string(),
                    ),
                };
                let moved = match sent {
                    // "Nothing applied" covers the writes that completed; one
                    // still in flight when the node stepped down is checked
                    // like a lost answer, once the lease has moved.
                    Sent::Answer(resp) if refused_unapplied(&resp) => {
                        problem = format!(
                            "the active node at {} stepped down; no new active node took over in time",
                            leader.api_addr
                        );
                        match resolve_unknown(ha, &leader, &forward_id, deadline, poll).await {
                            Outcome::NotApplied => true,
                            Outcome::Applied => return Forwarded::Answer(unavailable(LANDED)),
                            Outcome::Unknown => false,
                        }
                    }
                    Sent::Answer(resp) => return Forwarded::Answer(resp),
                    Sent::Undelivered(e) => {
                        problem = e;
                        false
                    }
                    Sent::Unknown(e) => {
                        match resolve_unknown(ha, &leader, &forward_id, deadline, poll).await {
                            Outcome::NotApplied => {
                                problem = e;
                                true
                            }
                            Outcome::Applied => return Forwarded::Answer(unavailable(LANDED)),
                            Outcome::Unknown => return Forwarded::Answer(unavailable(&e)),
                        }
                    }
                };
                tracing::info!(leader = %leader.api_addr, epoch = leader.epoch, "the active node did not take the forwarded request; waiting for the lease to change hands");
                refused = Some(id);
                if moved {
                    // The lease changed hands and the request provably did
                    // not apply: look up the new holder now.
                    ha.refresh_leader().await;
                    continue;
                }
            }
        }
        if Instant::now() + poll >= deadline {
            return Forwarded::Answer(unavailable(&problem));
        }
        tokio::time::sleep(poll).await;
        // Re-read the lease: who holds it now?
        ha.refresh_leader().await;
    }
}

const LANDED: &str = "the active node stopped after applying this request, before answering: \
     the write landed, but its answer was lost";

enum Outcome {
    Applied,
    NotApplied,
    Unknown,
}

/// Resolves once the lease no longer names `leader` (checked after a grace
/// second, so answers that come quickly cost no storage read).
async fn lease_moved(ha: &crate::ha::HaState, leader: &crate::ha::LeaseRecord, poll: Duration) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    loop {
        if let Ok(Some(bytes)) = ha.storage.get(crate::ha::LEASE_KEY).await {
            if moved_from(&bytes, leader) {
                return;
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// True when the stored lease `bytes` no longer name `leader` (another
/// holder, another epoch, or released).
fn moved_from(bytes: &[u8], leader: &crate::ha::LeaseRecord) -> bool {
    serde_json::from_slice::<crate::ha::LeaseRecord>(bytes)
        .map(|l| l.holder != leader.holder || l.epoch != leader.epoch)
        .unwrap_or(false)
}

/// After a request was sent to `leader` and no answer came: waits until the
/// lease has changed hands (from then on the old holder can apply nothing),
/// then reads the request's marker to learn whether it applied.
async fn resolve_unknown(
    ha: &crate::ha::HaState,
    leader: &crate::ha::LeaseRecord,
    forward_id: &str,
    deadline: Instant,
    poll: Duration,
) -> Outcome {
    let marker = crate::ha::fence::applied_key(forward_id);
    while Instant::now() < deadline {
        if let Ok(Some(bytes)) = ha.storage.get(crate::ha::LEASE_KEY).await {
            if moved_from(&bytes, leader) {
                return match ha.storage.get(&marker).await {
                    Ok(None) => Outcome::NotApplied,
                    Ok(Some(_)) => Outcome::Applied,
                    Err(_) => Outcome::Unknown,
                };
            }
        }
        tokio::time::sleep(poll).await;
    }
    Outcome::Unknown
}

const NO_ACTIVE: &str =
    "no active node: writes are unavailable until a node takes the lease; retry";

/// The holder to forward to: a live lease that is not this node's own.
fn live_leader(ha: &crate::ha::HaState) -> Option<crate::ha::LeaseRecord> {
    ha.leader()
        .filter(|l| !ha.is_self(l) && !l.api_addr.is_empty())
}

fn target(leader: &crate::ha::LeaseRecord, req: &HttpRequest<'_>) -> String {
    let path_and_query = match req.query {
        Some(q) => format!("{}?{q}", req.path),
        None => req.path.to_string(),
    };
    format!("{}{path_and_query}", leader.api_addr.trim_end_matches('/'))
}

/// `X-Vault-No-Request-Forwarding`: a redirect to the active node.
fn redirect(leader: &crate::ha::LeaseRecord, req: &HttpRequest<'_>) -> HttpResponse {
    let target = target(leader, req);
    let mut r = HttpResponse::error(&LogicalError::NotFound);
    r.status = StatusCode::TEMPORARY_REDIRECT;
    r.body = Bytes::new();
    if let Ok(v) = HeaderValue::from_str(&target) {
        r.headers.push((http::header::LOCATION, v));
    }
    r
}

/// A 503 from the holder saying it applied nothing (it is not active).
fn refused_unapplied(resp: &HttpResponse) -> bool {
    resp.status == StatusCode::SERVICE_UNAVAILABLE
        && resp
            .headers
            .iter()
            .any(|(n, v)| n.as_str() == NOT_APPLIED_HEADER && v.as_bytes() == b"true")
}

/// Builds the request to the active node: the client's request as it came,
/// marked as forwarded by this node.
async fn build_outgoing(
    core: &Core,
    ha: &crate::ha::HaState,
    req: &HttpRequest<'_>,
    target: &str,
) -> Result<hyper::Request<Full<Bytes>>, String> {
    let path_and_query = match req.query {
        Some(q) => format!("{}?{q}", req.path),
        None => req.path.to_string(),
    };
    let mut builder = hyper::Request::builder()
        .method(req.method.clone())
        .uri(target);
    for (name, value) in req.headers {
        if matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) || super::envelope::is_envelope_header(name)
        {
            continue;
        }
        builder = builder.header(name, value);
    }
    builder = builder.header(FORWARDED_HEADER, ha.node_id.as_str());
    // The client's address (and certificate) reach the active node only in
    // the signed envelope (src/http/envelope.rs).
    for (name, value) in
        super::envelope::sign_forwarded(core, req, &path_and_query, &ha.node_id).await
    {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::copy_from_slice(req.body)))
        .map_err(|e| format!("cannot forward: {e}"))
}

/// One attempt: sends the request to `leader` and reads its whole answer.
async fn send(
    core: &Core,
    ha: &crate::ha::HaState,
    req: &HttpRequest<'_>,
    leader: &crate::ha::LeaseRecord,
    forward_id: &str,
) -> Sent {
    let client = match client() {
        Ok(c) => c,
        Err(e) => return Sent::Undelivered(format!("cannot forward to the active node: {e}")),
    };
    let mut outgoing = match build_outgoing(core, ha, req, &target(leader, req)).await {
        Ok(r) => r,
        Err(e) => return Sent::Undelivered(e),
    };
    if let Ok(v) = HeaderValue::from_str(forward_id) {
        outgoing
            .headers_mut()
            .insert(HeaderName::from_static(FORWARD_ID_HEADER), v);
    }
    let answer = match tokio::time::timeout(FORWARD_TIMEOUT, client.request(outgoing)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) if e.is_connect() => {
            return Sent::Undelivered(format!("cannot reach the active node: {e}"))
        }
        Ok(Err(e)) => {
            return Sent::Unknown(format!(
                "forwarding to the active node failed after the request was sent ({e}); the outcome is unknown"
            ))
        }
        Err(_) => {
            return Sent::Unknown(
                "forwarding to the active node timed out after the request was sent; the outcome is unknown"
                    .to_string(),
            )
        }
    };
    let (parts, body) = answer.into_parts();
    let body = match tokio::time::timeout(FORWARD_TIMEOUT, body.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        _ => {
            return Sent::Unknown(
                "reading the active node's answer failed; the outcome is unknown".to_string(),
            )
        }
    };
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for (name, value) in &parts.headers {
        if matches!(
            name.as_str(),
            "content-length" | "connection" | "transfer-encoding" | "date"
        ) {
            continue;
        }
        headers.push((name.clone(), value.clone()));
    }
    let content_type = if body.is_empty() {
        None
    } else {
        Some("application/json")
    };
    Sent::Answer(HttpResponse {
        status: parts.status,
        body,
        content_type,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_outlasts_a_takeover() {
        // A contender takes over at most ttl + ttl/6 (+ a poll and a round
        // trip) after the holder's last renewal.
        for ttl in [2u64, 3, 10, 15] {
            let ttl = Duration::from_secs(ttl);
            assert!(reforward_window(ttl) > ttl + ttl / 3);
        }
    }

    #[test]
    fn only_a_marked_503_is_a_refusal() {
        let marked = not_applied(&LogicalError::Sealed);
        assert!(refused_unapplied(&marked));
        assert!(!refused_unapplied(&unavailable("storage unavailable")));
        let mut ok = HttpResponse::no_content(204);
        ok.headers = marked.headers.clone();
        assert!(!refused_unapplied(&ok));
    }
}
