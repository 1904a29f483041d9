//! Small helpers shared across layers.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a time the way Vault's JSON does (RFC 3339, UTC, sub-second digits).
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Formats seconds the way Go's `time.Duration.String` does (`0s`, `1m30s`,
/// `1h0m0s`), which is what Vault puts in KV's `delete_version_after` and in
/// the "TTL ... capped" warnings.
pub(crate) fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

pub(crate) fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}

/// The source of "now" for everything with a TTL, so tests can move time.
pub(crate) trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests advance by hand.
#[cfg(test)]
pub(crate) struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

#[cfg(test)]
impl ManualClock {
    pub(crate) fn new() -> Self {
        Self(std::sync::Mutex::new(Utc::now()))
    }

    pub(crate) fn advance(&self, seconds: i64) {
        if let Ok(mut t) = self.0.lock() {
            *t += chrono::Duration::seconds(seconds);
        }
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|t| *t).unwrap_or_else(|_| Utc::now())
    }
}

/// Whether `cidr` (or a bare IP) contains `ip`.
pub(crate) fn cidr_contains(cidr: &str, ip: std::net::IpAddr) -> bool {
    if let Ok(net) = cidr.parse::<ipnet::IpNet>() {
        return net.contains(&ip);
    }
    cidr.parse::<std::net::IpAddr>().is_ok_and(|a| a == ip)
}
