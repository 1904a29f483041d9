//! `X-Forwarded-For` from trusted load balancers: the listener's
//! `x_forwarded_for_*` options, with Vault's semantics and messages
//! (Vault's `WrapForwardedForHandler`).
//!
//! Without `x_forwarded_for_authorized_addrs` the header is never read:
//! the client is the TCP peer. With it, a request from an authorized peer
//! is judged by the header's entry `hop_skips` from the right (all header
//! lines joined, comma-separated entries); a request without the header, or
//! with it from another peer, is refused (400) or judged by its peer, per
//! `x_forwarded_for_reject_not_present` / `_reject_not_authorized`.

use std::net::IpAddr;

use http::HeaderMap;

use crate::config::ForwardedFor;
use crate::logical::LogicalError;

/// The client address a request is judged by, or the 400 Vault answers.
pub(crate) fn client_addr(
    policy: &ForwardedFor,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Result<Option<IpAddr>, LogicalError> {
    let lines: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if lines.is_empty() {
        if !policy.reject_not_present {
            return Ok(peer);
        }
        return Err(LogicalError::bad(
            "missing x-forwarded-for header and configured to reject when not present",
        ));
    }
    let authorized = peer.is_some_and(|p| policy.authorized_addrs.iter().any(|n| n.contains(&p)));
    if !authorized {
        if !policy.reject_not_authorized {
            return Ok(peer);
        }
        return Err(LogicalError::bad(
            "client address not authorized for x-forwarded-for and configured to reject connection",
        ));
    }
    let entries: Vec<&str> = lines
        .iter()
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .collect();
    let Some(index) = entries.len().checked_sub(1 + policy.hop_skips) else {
        return Err(LogicalError::bad(format!(
            "malformed x-forwarded-for configuration or request, hops to skip ({}) would skip before earliest chain link (chain length {})",
            policy.hop_skips,
            lines.len()
        )));
    };
    // Vault keeps whatever the entry says; an entry that is not an address
    // cannot match a CIDR bound, so it is refused rather than ignored.
    entries[index]
        .parse::<IpAddr>()
        .map(Some)
        .map_err(|_| LogicalError::bad("error parsing client address from x-forwarded-for"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn policy(hop_skips: usize, reject_na: bool, reject_np: bool) -> ForwardedFor {
        ForwardedFor {
            authorized_addrs: vec!["10.0.0.0/8".parse().unwrap()],
            hop_skips,
            reject_not_authorized: reject_na,
            reject_not_present: reject_np,
        }
    }

    fn xff(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_authorized_peer_names_the_client() {
        let lb = ip("10.1.2.3");
        let h = xff(&["203.0.113.9, 198.51.100.1", "10.9.9.9"]);
        assert_eq!(
            client_addr(&policy(0, true, true), &h, lb).unwrap(),
            ip("10.9.9.9")
        );
        assert_eq!(
            client_addr(&policy(1, true, true), &h, lb).unwrap(),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_addr(&policy(2, true, true), &h, lb).unwrap(),
            ip("203.0.113.9")
        );
        let e = client_addr(&policy(3, true, true), &h, lb).unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.to_string(),
            "malformed x-forwarded-for configuration or request, hops to skip (3) would skip before earliest chain link (chain length 2)"
        );
    }

    #[test]
    fn other_peers_and_missing_headers() {
        let h = xff(&["203.0.113.9"]);
        let stranger = ip("192.0.2.1");
        let e = client_addr(&policy(0, true, true), &h, stranger).unwrap_err();
        assert_eq!(
            e.to_string(),
            "client address not authorized for x-forwarded-for and configured to reject connection"
        );
        assert_eq!(
            client_addr(&policy(0, false, true), &h, stranger).unwrap(),
            stranger
        );
        let none = HeaderMap::new();
        let e = client_addr(&policy(0, true, true), &none, ip("10.0.0.1")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing x-forwarded-for header and configured to reject when not present"
        );
        assert_eq!(
            client_addr(&policy(0, true, false), &none, ip("10.0.0.1")).unwrap(),
            ip("10.0.0.1")
        );
        let junk = xff(&["not-an-ip"]);
        assert!(client_addr(&policy(0, true, true), &junk, ip("10.0.0.1")).is_err());
    }
}
