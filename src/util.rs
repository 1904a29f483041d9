//! Small helpers shared across layers.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a time the way Vault's JSON does (RFC 3339, UTC, sub-second digits).
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(crate) fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}
