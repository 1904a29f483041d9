//! A node's advertised addresses (`api_addr`, `cluster_addr`), resolved
//! once at start-up the way Vault resolves them:
//!
//! 1. `VAULT_API_ADDR` (then Vault's older `VAULT_REDIRECT_ADDR`,
//!    `VAULT_ADVERTISE_ADDR`) / `VAULT_CLUSTER_ADDR` from the environment win
//!    over the configuration file (Vault's precedence);
//! 2. either may hold go-sockaddr templates for the common cases:
//!    `{{ GetPrivateIP }}` and `{{ GetInterfaceIP "eth0" }}` (pipelines
//!    such as `{{ GetAllInterfaces | ... }}` are refused with a clear error);
//! 3. with no `api_addr` at all, on ECS (`ECS_CONTAINER_METADATA_URI_V4`
//!    set) the task's own IPv4 address from the container metadata endpoint
//!    is advertised, with the first listener's scheme and port: every task
//!    of a service gets a distinct, reachable address without per-task
//!    configuration. Elsewhere a listener bound to `0.0.0.0` advertises the
//!    first private address, and otherwise the listener's own address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

/// Why an address could not be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AddrError {
    #[error("{0}: unterminated template (missing \"}}}}\")")]
    Unterminated(String),
    #[error("{what}: unsupported template {{{{ {template} }}}} (supported: GetPrivateIP, GetInterfaceIP \"<name>\")")]
    Unsupported { what: String, template: String },
    #[error("{0}: no private IP address found")]
    NoPrivateIp(String),
    #[error("{what}: interface {name:?} has no IP address")]
    NoInterfaceIp { what: String, name: String },
    #[error("{what}: cannot list network interfaces: {message}")]
    Interfaces { what: String, message: String },
}

/// A network interface address, as the templates see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IfAddr {
    pub(crate) name: String,
    pub(crate) ip: IpAddr,
}

fn interfaces(what: &str) -> Result<Vec<IfAddr>, AddrError> {
    let all = if_addrs::get_if_addrs().map_err(|e| AddrError::Interfaces {
        what: what.to_string(),
        message: e.to_string(),
    })?;
    Ok(all
        .into_iter()
        .map(|i| IfAddr {
            ip: i.ip(),
            name: i.name,
        })
        .collect())
}

/// RFC 1918, RFC 6598 (carrier-grade NAT, used by some VPCs) and IPv6 ULA.
fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// `GetPrivateIP`: the first private IPv4 address (IPv6 ULA if none).
fn private_ip(addrs: &[IfAddr]) -> Option<IpAddr> {
    let candidates = addrs
        .iter()
        .filter(|a| !a.ip.is_loopback() && is_private(&a.ip));
    let mut v6 = None;
    for a in candidates {
        if a.ip.is_ipv4() {
            return Some(a.ip);
        }
        v6.get_or_insert(a.ip);
    }
    v6
}

/// `GetInterfaceIP "name"`: the interface's first IPv4 address (else IPv6).
fn interface_ip(addrs: &[IfAddr], name: &str) -> Option<IpAddr> {
    let of = addrs.iter().filter(|a| a.name == name);
    of.clone()
        .find(|a| a.ip.is_ipv4())
        .or_else(|| of.clone().next())
        .map(|a| a.ip)
}

fn ip_text(ip: IpAddr) -> String {
    ip.to_string()
}

/// Expands every `{{ ... }}` in `text` (`what` names the setting in errors).
pub(crate) fn expand_with(
    what: &str,
    text: &str,
    addrs: &dyn Fn() -> Result<Vec<IfAddr>, AddrError>,
) -> Result<String, AddrError> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| AddrError::Unterminated(what.to_string()))?;
        let template = after[..end].trim();
        let mut words = template.split_whitespace();
        let ip = match (words.next(), words.next(), words.next()) {
            (Some("GetPrivateIP"), None, None) => {
                private_ip(&addrs()?).ok_or_else(|| AddrError::NoPrivateIp(what.to_string()))?
            }
            (Some("GetInterfaceIP"), Some(name), None)
                if name.len() >= 2 && name.starts_with('"') && name.ends_with('"') =>
            {
                let name = &name[1..name.len() - 1];
                interface_ip(&addrs()?, name).ok_or_else(|| AddrError::NoInterfaceIp {
                    what: what.to_string(),
                    name: name.to_string(),
                })?
            }
            _ => {
                return Err(AddrError::Unsupported {
                    what: what.to_string(),
                    template: template.to_string(),
                })
            }
        };
        // An IPv6 address inside a URL's authority needs brackets.
        let bracket = ip.is_ipv6() && out.ends_with("://");
        if bracket {
            out.push_str(&format!("[{}]", ip_text(ip)));
        } else {
            out.push_str(&ip_text(ip));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn expand(what: &str, text: &str) -> Result<String, AddrError> {
    expand_with(what, text, &|| interfaces(what))
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The configured (or environment) value of one address, templates expanded.
fn configured(
    what: &str,
    env: &[&str],
    from_config: Option<&str>,
) -> Result<Option<String>, String> {
    let raw = env
        .iter()
        .find_map(|e| env_nonempty(e))
        .or_else(|| from_config.map(str::to_string));
    match raw {
        Some(r) => expand(what, r.trim()).map(Some).map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

/// Resolves `api_addr`: see the module documentation for the order.
pub(crate) async fn api_addr(
    from_config: Option<&str>,
    scheme: &str,
    listener: SocketAddr,
) -> Result<String, String> {
    if let Some(a) = configured(
        "api_addr",
        // Vault's order, with its older names last.
        &[
            "VAULT_API_ADDR",
            "VAULT_REDIRECT_ADDR",
            "VAULT_ADVERTISE_ADDR",
        ],
        from_config,
    )? {
        return Ok(a);
    }
    if let Some(uri) = env_nonempty("ECS_CONTAINER_METADATA_URI_V4") {
        match ecs_task_ip(&uri).await {
            Ok(ip) => {
                return Ok(format!(
                    "{scheme}://{}",
                    SocketAddr::new(ip, listener.port())
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the task's address from the ECS metadata endpoint")
            }
        }
    }
    if listener.ip().is_unspecified() {
        if let Ok(addrs) = interfaces("api_addr") {
            if let Some(ip) = private_ip(&addrs) {
                return Ok(format!(
                    "{scheme}://{}",
                    SocketAddr::new(ip, listener.port())
                ));
            }
        }
    }
    Ok(format!("{scheme}://{listener}"))
}

/// Resolves `cluster_addr` (`VAULT_CLUSTER_ADDR`, then the file); `None`
/// when neither sets it.
pub(crate) fn cluster_addr(from_config: Option<&str>) -> Result<Option<String>, String> {
    configured("cluster_addr", &["VAULT_CLUSTER_ADDR"], from_config)
}

/// The task's IPv4 address from the ECS container metadata endpoint (v4):
/// `GET $ECS_CONTAINER_METADATA_URI_V4` answers the container's metadata,
/// whose `Networks[].IPv4Addresses[]` hold the task's ENI address (awsvpc)
/// or the host's (bridge); `GET .../task` lists every container's.
pub(crate) async fn ecs_task_ip(uri: &str) -> Result<IpAddr, String> {
    let uri = uri.trim_end_matches('/');
    let container = fetch_json(uri).await?;
    if let Some(ip) = first_ipv4(&container) {
        return Ok(ip);
    }
    let task = fetch_json(&format!("{uri}/task")).await?;
    task.get("Containers")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .find_map(first_ipv4)
        .ok_or_else(|| "the ECS metadata names no IPv4 address".to_string())
}

fn first_ipv4(container: &serde_json::Value) -> Option<IpAddr> {
    container
        .get("Networks")?
        .as_array()?
        .iter()
        .filter_map(|n| n.get("IPv4Addresses")?.as_array())
        .flatten()
        .filter_map(|a| a.as_str()?.parse::<IpAddr>().ok())
        .next()
}

async fn fetch_json(uri: &str) -> Result<serde_json::Value, String> {
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let uri: http::Uri = uri.parse().map_err(|e| format!("{uri}: {e}"))?;
    let exchange = async {
        let resp = client
            .get(uri.clone())
            .await
            .map_err(|e| format!("GET {uri}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {uri}: status {}", resp.status()));
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("GET {uri}: {e}"))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| format!("GET {uri}: not JSON: {e}"))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| format!("GET {uri}: no answer within 5s"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake() -> Result<Vec<IfAddr>, AddrError> {
        Ok(vec![
            IfAddr {
                name: "lo".into(),
                ip: "127.0.0.1".parse().unwrap(),
            },
            IfAddr {
                name: "eth0".into(),
                ip: "fd00::5".parse().unwrap(),
            },
            IfAddr {
                name: "eth0".into(),
                ip: "10.0.3.17".parse().unwrap(),
            },
            IfAddr {
                name: "eth1".into(),
                ip: "203.0.113.4".parse().unwrap(),
            },
            IfAddr {
                name: "eth2".into(),
                ip: "2001:db8::9".parse().unwrap(),
            },
        ])
    }

    #[test]
    fn templates_expand() {
        let x = |t: &str| expand_with("api_addr", t, &fake);
        assert_eq!(
            x("http://{{ GetPrivateIP }}:8200").unwrap(),
            "http://10.0.3.17:8200"
        );
        assert_eq!(
            x("https://{{GetInterfaceIP \"eth1\"}}:8200").unwrap(),
            "https://203.0.113.4:8200"
        );
        assert_eq!(
            x("https://{{ GetInterfaceIP \"eth2\" }}:8200").unwrap(),
            "https://[2001:db8::9]:8200"
        );
        assert_eq!(x("http://10.1.1.1:8200").unwrap(), "http://10.1.1.1:8200");
        assert!(matches!(
            x("http://{{ GetInterfaceIP \"eth9\" }}:1"),
            Err(AddrError::NoInterfaceIp { .. })
        ));
        let e = x("http://{{ GetAllInterfaces | include \"flags\" \"up\" }}:1").unwrap_err();
        assert!(e.to_string().contains("unsupported template"), "{e}");
        assert!(matches!(
            x("http://{{ GetPrivateIP :1"),
            Err(AddrError::Unterminated(_))
        ));
        let none = || Ok(vec![]);
        assert!(matches!(
            expand_with("api_addr", "{{ GetPrivateIP }}", &none),
            Err(AddrError::NoPrivateIp(_))
        ));
    }

    #[test]
    fn private_addresses() {
        assert!(is_private(&"10.1.2.3".parse().unwrap()));
        assert!(is_private(&"100.64.0.1".parse().unwrap()));
        assert!(is_private(&"fd12::1".parse().unwrap()));
        assert!(!is_private(&"8.8.8.8".parse().unwrap()));
        assert!(!is_private(&"100.128.0.1".parse().unwrap()));
    }

    /// Serves ECS's documented metadata shapes on a loopback port.
    async fn metadata_server(container: &'static str, task: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if head.starts_with("GET /v4/abc/task ") {
                    task
                } else {
                    container
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        format!("http://{addr}/v4/abc")
    }

    #[tokio::test]
    async fn the_ecs_task_address_comes_from_the_metadata_endpoint() {
        let uri = metadata_server(
            r#"{"DockerId":"ea32192c","Name":"strongroom","Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.2.106"],"AttachmentIndex":0,"IPv4SubnetCIDRBlock":"10.0.2.0/24"}]}"#,
            "{}",
        )
        .await;
        assert_eq!(
            ecs_task_ip(&uri).await.unwrap(),
            "10.0.2.106".parse::<IpAddr>().unwrap()
        );
        // A container entry without networks: the task's list is asked.
        let uri = metadata_server(
            r#"{"DockerId":"ea32192c","Name":"strongroom"}"#,
            r#"{"Cluster":"c","TaskARN":"arn:aws:ecs:us-east-1:111122223333:task/c/1","Containers":[{"Name":"strongroom","Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.9.8"]}]}]}"#,
        )
        .await;
        assert_eq!(
            ecs_task_ip(&uri).await.unwrap(),
            "10.0.9.8".parse::<IpAddr>().unwrap()
        );
        assert!(ecs_task_ip("http://127.0.0.1:1/v4/none").await.is_err());
    }
}
