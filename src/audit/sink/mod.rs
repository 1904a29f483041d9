//! Where audit lines go. A sink only moves bytes: formatting, HMAC'ing and
//! the fail-closed decision live in the broker above it, so every device
//! type gets the same entries and the same failure semantics.
//!
//! Contract every sink keeps:
//! - `write` sends one complete line (the formatted entry plus `\n`) or
//!   fails; it never blocks past the device's `write_timeout` (the broker
//!   also bounds it, but a sink must not hold a lock while it waits).
//! - A sink that lost its connection reconnects on the next write, and a
//!   background task may reconnect earlier; a failed write is an error the
//!   broker reports, never a silently dropped line.
//! - `reopen` is called on SIGHUP (logrotate); sinks without files do
//!   nothing.

pub(crate) mod file;
pub(crate) mod socket;
pub(crate) mod syslog;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

/// Why a line could not be recorded. The message is safe to log: it never
/// contains the line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SinkError {
    #[error("audit sink I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("audit sink write timed out after {0:?}")]
    Timeout(Duration),
    #[error("audit sink is not connected: {0}")]
    NotConnected(String),
    #[error("invalid audit device option: {0}")]
    Config(String),
}

#[async_trait]
pub(crate) trait AuditSink: Send + Sync + 'static {
    /// Writes one line (it ends with `\n`).
    async fn write(&self, line: &[u8]) -> Result<(), SinkError>;

    /// Reopens files after log rotation.
    async fn reopen(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Builds the sink for a device type from the device's `options` (Vault's
/// option names), validating them: a bad option is a `SinkError::Config`
/// whose message the broker returns as the 400 on enable.
pub(crate) fn build(
    device_type: &str,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn AuditSink>, SinkError> {
    match device_type {
        "file" => Ok(Box::new(file::FileSink::new(options)?)),
        "socket" => Ok(Box::new(socket::SocketSink::new(options)?)),
        "syslog" => Ok(Box::new(syslog::SyslogSink::new(options)?)),
        other => Err(SinkError::Config(format!(
            "unknown audit device type: {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_maps_device_types() {
        let mut options = BTreeMap::new();
        options.insert("file_path".to_string(), "discard".to_string());
        assert!(build("file", &options).is_ok());
        let err = build("nope", &options).err().unwrap();
        assert!(
            matches!(&err, SinkError::Config(m) if m == "unknown audit device type: \"nope\""),
            "{err}"
        );
        assert!(matches!(
            build("file", &BTreeMap::new()),
            Err(SinkError::Config(_))
        ));
    }
}
