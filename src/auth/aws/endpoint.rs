//! Where a login's signed request is sent, and which hosts it may be signed
//! for.
//!
//! The two are separate decisions. The request is only ever sent to the
//! endpoint the *server* chose (`sts_endpoint`, the regional endpoint with
//! `use_sts_region_from_client`, or the environment's/AWS's default), never
//! to a host the client names. The signed `Host` only has to be one STS
//! would accept a signature for: the endpoint's own host, or a standard STS
//! host (`sts.amazonaws.com`, `sts.<region>.amazonaws.com` for the region the
//! request is signed in), which is what SDKs and hvac sign for whatever the
//! server is configured to reach (a VPC endpoint, a proxy, an emulator).

use super::storage::ClientConfig;
use crate::logical::LogicalError;

const DEFAULT_STS_ENDPOINT: &str = "https://sts.amazonaws.com";
/// The global STS host every SDK signs for by default.
const GLOBAL_STS_HOST: &str = "sts.amazonaws.com";

/// Where a login's request is sent, and the hosts it may be signed for.
#[derive(Debug, Clone)]
pub(super) struct StsTarget {
    /// `scheme://authority[/path]` without a trailing slash.
    pub(super) base: String,
    /// Lower-cased `host[:port]` values the signed Host may take.
    pub(super) allowed_hosts: Vec<String>,
}

/// Checks an endpoint URL: http(s), a host, no query.
pub(super) fn parse_endpoint(url: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("URL {url:?} must start with http:// or https://")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(format!("URL {url:?} has no host"));
    }
    if uri.query().is_some() {
        return Err(format!("URL {url:?} must not have a query"));
    }
    Ok(uri)
}

/// The host forms a URL's authority may be written as in a Host header.
fn host_forms(uri: &http::Uri) -> Vec<String> {
    let Some(auth) = uri.authority() else {
        return vec![];
    };
    let host = auth.host().to_ascii_lowercase();
    let default_port = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    match auth.port_u16() {
        Some(p) if p != default_port => vec![format!("{host}:{p}")],
        _ => vec![host.clone(), format!("{host}:{default_port}")],
    }
}

/// Whether `region` looks like an AWS region (`us-east-1`, `us-gov-west-1`).
pub(super) fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
        && region.len() <= 32
}

fn regional_sts_host(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("sts.{region}.amazonaws.com.cn")
    } else {
        format!("sts.{region}.amazonaws.com")
    }
}

/// The standard STS hosts a request signed in `scope_region` may name: the
/// global host, and the regional one when the region is well-formed (never
/// a host built from an arbitrary string the client put in its scope).
fn standard_hosts(scope_region: &str) -> Vec<String> {
    let mut hosts = vec![GLOBAL_STS_HOST.to_string()];
    if is_region(scope_region) {
        hosts.push(regional_sts_host(scope_region));
    }
    hosts
        .into_iter()
        .flat_map(|h| [format!("{h}:443"), h])
        .collect()
}

/// The STS endpoint when none is configured: `AWS_ENDPOINT_URL_STS`, then
/// `AWS_ENDPOINT_URL`, then AWS's global one, as the AWS SDKs pick it.
fn default_sts_endpoint() -> String {
    for var in ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"] {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                return v.trim().to_string();
            }
        }
    }
    DEFAULT_STS_ENDPOINT.to_string()
}

/// Where to send a request signed in `scope_region`, and the hosts its
/// signature may name (see the module docs).
pub(super) fn sts_target(
    config: &ClientConfig,
    scope_region: &str,
) -> Result<StsTarget, LogicalError> {
    let bad_endpoint =
        |e: String| LogicalError::Internal(format!("the configured STS endpoint is invalid: {e}"));
    let (base, mut allowed_hosts) = if config.use_sts_region_from_client {
        // Vault's behaviour: the client's signing region picks the regional
        // endpoint, overriding sts_endpoint.
        if !is_region(scope_region) {
            return Err(LogicalError::bad(format!(
                "use_sts_region_from_client is set but the request is signed for an invalid region {scope_region:?}"
            )));
        }
        (
            format!("https://{}", regional_sts_host(scope_region)),
            Vec::new(),
        )
    } else {
        let endpoint = if config.sts_endpoint.is_empty() {
            default_sts_endpoint()
        } else {
            config.sts_endpoint.clone()
        };
        let uri = parse_endpoint(&endpoint).map_err(bad_endpoint)?;
        (endpoint.trim_end_matches('/').to_string(), host_forms(&uri))
    };
    for h in standard_hosts(scope_region) {
        if !allowed_hosts.contains(&h) {
            allowed_hosts.push(h);
        }
    }
    Ok(StsTarget {
        base,
        allowed_hosts,
    })
}
