//! The `syslog` audit device: lines to the local syslog daemon.
//!
//! Vault uses Go's `log/syslog` (through go-syslog) with severity INFO,
//! over the local unix datagram socket, in its local RFC 3164 form
//! `<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE` (no hostname: the daemon adds
//! it). We write the same bytes ourselves over a tokio `UnixDatagram`:
//! the syslog crates are synchronous and would block the runtime on a
//! full daemon queue. A host without a local syslog socket (most
//! containers, Lambda) refuses the device when it is enabled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::UnixDatagram;
use tokio::sync::Mutex;

use super::{AuditSink, SinkError};

/// Where Go's log/syslog looks for the local daemon, in order.
const SOCKET_PATHS: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];
/// Go's `LOG_INFO`.
const SEVERITY_INFO: u8 = 6;
/// syslog has no timeout option; a daemon whose queue stays full for this
/// long is treated as a failed write rather than stalling the request.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Facility names go-syslog accepts (case-insensitively) and their codes.
const FACILITIES: [(&str, u8); 20] = [
    ("KERN", 0),
    ("USER", 1),
    ("MAIL", 2),
    ("DAEMON", 3),
    ("AUTH", 4),
    ("SYSLOG", 5),
    ("LPR", 6),
    ("NEWS", 7),
    ("UUCP", 8),
    ("CRON", 9),
    ("AUTHPRIV", 10),
    ("FTP", 11),
    ("LOCAL0", 16),
    ("LOCAL1", 17),
    ("LOCAL2", 18),
    ("LOCAL3", 19),
    ("LOCAL4", 20),
    ("LOCAL5", 21),
    ("LOCAL6", 22),
    ("LOCAL7", 23),
];

pub(crate) struct SyslogSink {
    socket_path: PathBuf,
    /// `<PRI>` value: facility * 8 + severity.
    priority: u8,
    tag: String,
    /// Connected lazily on the first write (construction may run outside
    /// the runtime); dropped on a failed send so the next one reconnects.
    conn: Mutex<Option<UnixDatagram>>,
}

impl SyslogSink {
    /// Builds the sink from the device's options: `facility` (default
    /// `AUTH`) and `tag` (default `vault`), for the local syslog socket
    /// (`/dev/log`, `/var/run/syslog` or `/var/run/log`).
    pub(crate) fn new(options: &BTreeMap<String, String>) -> Result<Self, SinkError> {
        Self::with_socket_paths(options, &SOCKET_PATHS.map(Path::new))
    }

    /// As `new`, with the candidate daemon sockets given (tests bind one in
    /// a temp dir). The first path that accepts a connection is used.
    pub(crate) fn with_socket_paths(
        options: &BTreeMap<String, String>,
        candidates: &[&Path],
    ) -> Result<Self, SinkError> {
        let facility = options.get("facility").map_or("AUTH", String::as_str);
        let code = facility_code(facility)?;
        let tag = options
            .get("tag")
            .map_or("vault", String::as_str)
            .to_string();
        // Probe with a plain std socket: it needs no runtime, and tells a
        // host without a syslog daemon apart at enable time.
        let socket_path = candidates
            .iter()
            .find(|p| {
                std::os::unix::net::UnixDatagram::unbound()
                    .and_then(|s| s.connect(p))
                    .is_ok()
            })
            .ok_or_else(|| {
                SinkError::NotConnected(format!(
                    "Unix syslog delivery error: no syslog daemon socket at {}",
                    candidates
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?
            .to_path_buf();
        Ok(SyslogSink {
            socket_path,
            priority: code * 8 + SEVERITY_INFO,
            tag,
            conn: Mutex::new(None),
        })
    }

    /// One message as Go's log/syslog writes it to a local daemon. The
    /// line keeps its trailing newline (Go adds one only if missing).
    fn frame(&self, line: &[u8], now: chrono::DateTime<chrono::Local>) -> Vec<u8> {
        let header = format!(
            "<{}>{} {}[{}]: ",
            self.priority,
            now.format("%b %e %H:%M:%S"),
            self.tag,
            std::process::id()
        );
        let mut msg = Vec::with_capacity(header.len() + line.len() + 1);
        msg.extend_from_slice(header.as_bytes());
        msg.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            msg.push(b'\n');
        }
        msg
    }

    async fn send(&self, msg: &[u8]) -> Result<(), SinkError> {
        let mut slot = self.conn.lock().await;
        if let Some(sock) = slot.as_ref() {
            if sock.send(msg).await.is_ok() {
                return Ok(());
            }
        }
        // No socket yet, or the daemon restarted (its socket is new):
        // reconnect once and retry, as Go's syslog writer does.
        *slot = None;
        let sock = UnixDatagram::unbound()?;
        sock.connect(&self.socket_path).map_err(|e| {
            SinkError::NotConnected(format!(
                "Unix syslog delivery error: {}: {e}",
                self.socket_path.display()
            ))
        })?;
        sock.send(msg).await?;
        *slot = Some(sock);
        Ok(())
    }
}

fn facility_code(name: &str) -> Result<u8, SinkError> {
    let upper = name.to_ascii_uppercase();
    FACILITIES
        .iter()
        .find(|(n, _)| *n == upper)
        .map(|(_, c)| *c)
        .ok_or_else(|| SinkError::Config(format!("invalid syslog facility: {upper}")))
}

#[async_trait]
impl AuditSink for SyslogSink {
    async fn write(&self, line: &[u8]) -> Result<(), SinkError> {
        let msg = self.frame(line, chrono::Local::now());
        match tokio::time::timeout(WRITE_TIMEOUT, self.send(&msg)).await {
            Ok(r) => r,
            Err(_) => Err(SinkError::Timeout(WRITE_TIMEOUT)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A fake daemon socket in a temp dir.
    fn daemon() -> (tempfile::TempDir, PathBuf, UnixDatagram) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let rx = UnixDatagram::bind(&path).unwrap();
        (dir, path, rx)
    }

    async fn recv(rx: &UnixDatagram) -> String {
        let mut buf = vec![0u8; 65536];
        let n = tokio::time::timeout(Duration::from_secs(5), rx.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    /// Splits `<PRI>Mmm dd hh:mm:ss rest` into PRI and rest, checking the
    /// timestamp's shape (Go's time.Stamp).
    fn parse(msg: &str) -> (u8, &str) {
        let close = msg.find('>').unwrap();
        assert!(msg.starts_with('<'));
        let pri = msg[1..close].parse().unwrap();
        let stamp = &msg[close + 1..close + 16];
        let b = stamp.as_bytes();
        assert!(b[..3].iter().all(u8::is_ascii_alphabetic), "{stamp}");
        assert_eq!(b[3], b' ');
        assert!(b[4] == b' ' || b[4].is_ascii_digit(), "{stamp}");
        assert!(b[5].is_ascii_digit());
        assert_eq!(&stamp[6..7], " ");
        assert_eq!(&stamp[9..10], ":");
        assert_eq!(&stamp[12..13], ":");
        assert_eq!(&msg[close + 16..close + 17], " ");
        (pri, &msg[close + 17..])
    }

    #[tokio::test]
    async fn defaults_frame_as_go_log_syslog() {
        let (_dir, path, rx) = daemon();
        let sink =
            SyslogSink::with_socket_paths(&opts(&[]), &[Path::new("/nonexistent/log"), &path])
                .unwrap();
        sink.write(b"{\"type\":\"request\"}\n").await.unwrap();
        let msg = recv(&rx).await;
        let (pri, rest) = parse(&msg);
        // AUTH (4) * 8 + INFO (6).
        assert_eq!(pri, 38);
        assert_eq!(
            rest,
            format!("vault[{}]: {{\"type\":\"request\"}}\n", std::process::id())
        );
    }

    #[tokio::test]
    async fn facility_and_tag_options() {
        let (_dir, path, rx) = daemon();
        for (facility, pri) in [
            ("local0", 134),
            ("DAEMON", 30),
            ("kern", 6),
            ("AuthPriv", 86),
        ] {
            let sink = SyslogSink::with_socket_paths(
                &opts(&[("facility", facility), ("tag", "strongroom")]),
                &[&path],
            )
            .unwrap();
            // A line without its newline still ends with one on the wire.
            sink.write(b"x").await.unwrap();
            let msg = recv(&rx).await;
            let (got, rest) = parse(&msg);
            assert_eq!(got, pri, "{facility}");
            assert_eq!(rest, format!("strongroom[{}]: x\n", std::process::id()));
        }
    }

    #[test]
    fn bad_facility_and_missing_daemon_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let _rx = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let err = SyslogSink::with_socket_paths(&opts(&[("facility", "nope")]), &[&path])
            .err()
            .unwrap();
        assert!(matches!(&err, SinkError::Config(m) if m == "invalid syslog facility: NOPE"));

        let err = SyslogSink::with_socket_paths(&opts(&[]), &[Path::new("/nonexistent/log")])
            .err()
            .unwrap();
        assert!(
            matches!(&err, SinkError::NotConnected(m) if m.contains("/nonexistent/log")),
            "{err}"
        );
        // Construction needs no runtime: this test is not async.
        SyslogSink::with_socket_paths(&opts(&[]), &[&path]).unwrap();
    }

    #[tokio::test]
    async fn a_restarted_daemon_is_reconnected_and_a_gone_one_is_an_error() {
        let (dir, path, rx) = daemon();
        let sink = SyslogSink::with_socket_paths(&opts(&[]), &[&path]).unwrap();
        sink.write(b"one\n").await.unwrap();
        assert!(recv(&rx).await.ends_with("]: one\n"));

        // The daemon restarts: a new socket at the same path.
        drop(rx);
        std::fs::remove_file(&path).unwrap();
        let rx = UnixDatagram::bind(&path).unwrap();
        sink.write(b"two\n").await.unwrap();
        assert!(recv(&rx).await.ends_with("]: two\n"));

        // The daemon is gone.
        drop(rx);
        std::fs::remove_file(&path).unwrap();
        assert!(sink.write(b"three\n").await.is_err());
        drop(dir);
    }
}
