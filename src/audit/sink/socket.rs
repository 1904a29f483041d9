//! The `socket` audit device: lines over TCP (default), UDP or a unix
//! stream socket, e.g. to a log shipper on the same host.
//!
//! As OpenBao: the connection is made lazily, and a write on a broken
//! connection reconnects once and retries. Unlike a plain `write`, every
//! call (waiting for the connection lock, connecting, writing, the retry)
//! is bounded by `write_timeout` as a whole, so a stuck collector costs a
//! request at most that long. After a failure a background task keeps
//! trying to connect, so the first request after the collector returns
//! finds a connection ready.
//!
//! TCP gives no acknowledgement per line: a line written just before the
//! peer goes away can be lost without an error. To narrow that window the
//! sink checks, before each write, whether the peer has already closed
//! its side (a pending EOF) and reconnects instead of writing into a dead
//! connection.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket, UnixStream};
use tokio::sync::Mutex;

use super::{AuditSink, SinkError};

const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Background reconnect: first retry after this, doubling up to the max.
const RECONNECT_MIN: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SocketType {
    Tcp,
    Udp,
    Unix,
}

enum Stream {
    Tcp(TcpStream),
    Udp(UdpSocket),
    Unix(UnixStream),
}

impl Stream {
    /// False when the peer has closed its side (EOF or an error pending),
    /// so writing would at best land in a buffer nobody reads. Anything
    /// the peer sent us is discarded: collectors do not talk back.
    fn is_alive(&self) -> bool {
        let mut buf = [0u8; 256];
        loop {
            let r = match self {
                Stream::Tcp(s) => s.try_read(&mut buf),
                Stream::Unix(s) => s.try_read(&mut buf),
                Stream::Udp(_) => return true,
            };
            match r {
                Ok(0) => return false,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    }

    async fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(line).await,
            Stream::Unix(s) => s.write_all(line).await,
            Stream::Udp(s) => {
                let n = s.send(line).await?;
                if n != line.len() {
                    return Err(std::io::Error::new(
                        ErrorKind::WriteZero,
                        "datagram truncated",
                    ));
                }
                Ok(())
            }
        }
    }
}

struct Inner {
    address: String,
    socket_type: SocketType,
    write_timeout: Duration,
    /// The connection, taken out while a write uses it: if that write is
    /// cancelled by the timeout, the half-written stream is dropped with
    /// the future instead of being reused for the next line.
    conn: Mutex<Option<Stream>>,
    /// Whether a background reconnect task is running.
    reconnecting: AtomicBool,
}

pub(crate) struct SocketSink {
    inner: Arc<Inner>,
}

impl SocketSink {
    /// Builds the sink from the device's options: `address` (required:
    /// `host:port`, or a socket path for `unix`), `socket_type` (`tcp`
    /// default, `udp`, `unix`) and `write_timeout` (a Go duration, default
    /// `2s`). Does not connect: that happens on the first write.
    pub(crate) fn new(options: &BTreeMap<String, String>) -> Result<Self, SinkError> {
        let address = options
            .get("address")
            .filter(|a| !a.is_empty())
            .ok_or_else(|| SinkError::Config("address is required".into()))?
            .clone();
        let socket_type = match options.get("socket_type").map(String::as_str) {
            None | Some("tcp") => SocketType::Tcp,
            Some("udp") => SocketType::Udp,
            Some("unix") => SocketType::Unix,
            Some(other) => {
                return Err(SinkError::Config(format!(
                    "unknown socket_type {other:?}: must be tcp, udp or unix"
                )))
            }
        };
        let write_timeout = match options.get("write_timeout") {
            None => DEFAULT_WRITE_TIMEOUT,
            Some(raw) => parse_write_timeout(raw)?,
        };
        Ok(SocketSink {
            inner: Arc::new(Inner {
                address,
                socket_type,
                write_timeout,
                conn: Mutex::new(None),
                reconnecting: AtomicBool::new(false),
            }),
        })
    }
}

/// Parses `write_timeout` as Vault's `ParseDurationSecond`: a bare number
/// is seconds, otherwise a Go duration. Sub-second values (`500ms`) are
/// kept, since a write timeout is exactly where they make sense; zero is
/// refused because every write would time out.
fn parse_write_timeout(raw: &str) -> Result<Duration, SinkError> {
    let bad = |e: String| SinkError::Config(format!("invalid write_timeout {raw:?}: {e}"));
    let t = raw.trim();
    let d = if let Some(ms) = t
        .strip_suffix("ms")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        Duration::from_millis(ms.parse().map_err(|_| bad("out of range".into()))?)
    } else {
        Duration::from_secs(crate::logical::parse_duration_str(t).map_err(bad)?)
    };
    if d.is_zero() {
        return Err(bad("must be greater than zero".into()));
    }
    Ok(d)
}

impl Inner {
    async fn connect(&self) -> std::io::Result<Stream> {
        match self.socket_type {
            SocketType::Tcp => {
                let s = TcpStream::connect(self.address.as_str()).await?;
                // Lines are whole messages; don't hold them back.
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            SocketType::Unix => Ok(Stream::Unix(UnixStream::connect(&self.address).await?)),
            SocketType::Udp => {
                let peer = tokio::net::lookup_host(self.address.as_str())
                    .await?
                    .next()
                    .ok_or_else(|| {
                        std::io::Error::new(ErrorKind::NotFound, "address resolved to nothing")
                    })?;
                let local: SocketAddr = if peer.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let s = UdpSocket::bind(local).await?;
                s.connect(peer).await?;
                Ok(Stream::Udp(s))
            }
        }
    }

    /// One line: reuse the live connection or connect; on failure
    /// reconnect once and retry (the caller bounds the whole thing).
    async fn write_unbounded(&self, line: &[u8]) -> Result<(), SinkError> {
        let mut slot = self.conn.lock().await;
        let mut first_err = None;
        if let Some(mut stream) = slot.take().filter(Stream::is_alive) {
            match stream.write_line(line).await {
                Ok(()) => {
                    *slot = Some(stream);
                    return Ok(());
                }
                Err(e) => first_err = Some(e),
            }
        }
        let mut stream = self.connect().await.map_err(|e| {
            SinkError::NotConnected(match &first_err {
                Some(w) => format!("write failed ({w}), then reconnecting failed: {e}"),
                None => format!("connecting to {} failed: {e}", self.address),
            })
        })?;
        stream.write_line(line).await?;
        *slot = Some(stream);
        Ok(())
    }

    /// Starts the background reconnect unless one is running. It holds
    /// only a weak reference, so it ends when the device is disabled.
    fn spawn_reconnect(self: &Arc<Self>) {
        if self.reconnecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut delay = RECONNECT_MIN;
            loop {
                tokio::time::sleep(delay).await;
                let Some(inner) = weak.upgrade() else { return };
                // Connect without holding the lock, so writers are not
                // kept waiting behind a slow dial.
                if let Ok(Ok(stream)) =
                    tokio::time::timeout(inner.write_timeout, inner.connect()).await
                {
                    let mut slot = inner.conn.lock().await;
                    if slot.is_none() {
                        *slot = Some(stream);
                    }
                    inner.reconnecting.store(false, Ordering::Release);
                    return;
                }
                delay = (delay * 2).min(RECONNECT_MAX);
            }
        });
    }
}

#[async_trait]
impl AuditSink for SocketSink {
    async fn write(&self, line: &[u8]) -> Result<(), SinkError> {
        let inner = &self.inner;
        let result =
            match tokio::time::timeout(inner.write_timeout, inner.write_unbounded(line)).await {
                Ok(r) => r,
                Err(_) => Err(SinkError::Timeout(inner.write_timeout)),
            };
        if result.is_err() {
            inner.spawn_reconnect();
        }
        result
    }

    /// SIGHUP reconnects, as OpenBao's `Reload` does: the next write dials
    /// afresh (e.g. after the collector moved).
    async fn reopen(&self) -> Result<(), SinkError> {
        let inner = &self.inner;
        match tokio::time::timeout(inner.write_timeout, inner.conn.lock()).await {
            Ok(mut slot) => {
                *slot = None;
                Ok(())
            }
            Err(_) => Err(SinkError::Timeout(inner.write_timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::{TcpListener, UnixListener};

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_are_validated() {
        let err = SocketSink::new(&opts(&[])).err().unwrap();
        assert!(matches!(&err, SinkError::Config(m) if m == "address is required"));
        let err = SocketSink::new(&opts(&[("address", "x:1"), ("socket_type", "sctp")]))
            .err()
            .unwrap();
        assert!(matches!(err, SinkError::Config(_)));
        for bad in ["abc", "0", "0s", "-1s"] {
            let err = SocketSink::new(&opts(&[("address", "x:1"), ("write_timeout", bad)]))
                .err()
                .unwrap();
            assert!(matches!(err, SinkError::Config(_)), "{bad}");
        }
        let s = SocketSink::new(&opts(&[("address", "x:1")])).unwrap();
        assert_eq!(s.inner.write_timeout, Duration::from_secs(2));
        assert_eq!(s.inner.socket_type, SocketType::Tcp);
        assert_eq!(parse_write_timeout("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_write_timeout("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(
            parse_write_timeout("300ms").unwrap(),
            Duration::from_millis(300)
        );
    }

    /// Reads `n` lines from whatever connections arrive, in order: a
    /// connection the background reconnect made and then dropped (because
    /// a write dialed first) ends without lines and is skipped.
    async fn read_lines(listener: &TcpListener, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let (s, _) = listener.accept().await.unwrap();
            let mut lines = BufReader::new(s).lines();
            while out.len() < n {
                match lines.next_line().await.unwrap() {
                    Some(l) => out.push(l),
                    None => break,
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn tcp_lines_arrive() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let sink = SocketSink::new(&opts(&[("address", &addr)])).unwrap();
        let reader = tokio::spawn(async move { read_lines(&listener, 3).await });
        for i in 0..3 {
            sink.write(format!("{{\"n\":{i}}}\n").as_bytes())
                .await
                .unwrap();
        }
        let lines = reader.await.unwrap();
        assert_eq!(lines, vec!["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]);
    }

    #[tokio::test]
    async fn tcp_listener_dies_then_returns() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sink = SocketSink::new(&opts(&[
            ("address", &addr.to_string()),
            ("write_timeout", "1s"),
        ]))
        .unwrap();
        sink.write(b"before\n").await.unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        let mut lines = BufReader::new(conn).lines();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "before");

        // The collector dies: its connection and its listener close.
        drop(lines);
        drop(listener);
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..3 {
            let t = Instant::now();
            let err = sink.write(b"lost\n").await.expect_err("a write error");
            assert!(
                t.elapsed() < Duration::from_millis(1500),
                "{:?}",
                t.elapsed()
            );
            assert!(
                matches!(err, SinkError::NotConnected(_) | SinkError::Timeout(_)),
                "{err}"
            );
        }

        // It comes back on the same port: the next write succeeds, and
        // nothing written while it was gone shows up.
        let listener = TcpListener::bind(addr).await.unwrap();
        sink.write(b"after\n").await.unwrap();
        sink.write(b"after2\n").await.unwrap();
        assert_eq!(read_lines(&listener, 2).await, vec!["after", "after2"]);
    }

    #[tokio::test]
    async fn background_reconnect_finds_the_returning_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let sink = SocketSink::new(&opts(&[("address", &addr.to_string())])).unwrap();
        assert!(sink.write(b"x\n").await.is_err());
        let listener = TcpListener::bind(addr).await.unwrap();
        // The background task connects without any write.
        let accepted = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await;
        assert!(accepted.is_ok(), "no background reconnect");
        let mut stored = false;
        for _ in 0..100 {
            if sink.inner.conn.lock().await.is_some() {
                stored = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(stored);
        assert!(!sink.inner.reconnecting.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn a_collector_that_never_reads_times_out_bounded() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let sink =
            SocketSink::new(&opts(&[("address", &addr), ("write_timeout", "300ms")])).unwrap();
        // Accept and hold the connection, never reading.
        let holder = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        });
        let mut line = vec![b'x'; 1 << 20];
        line.push(b'\n');
        let mut timed_out = false;
        for _ in 0..200 {
            let t = Instant::now();
            let r = sink.write(&line).await;
            assert!(
                t.elapsed() < Duration::from_millis(800),
                "{:?}",
                t.elapsed()
            );
            if let Err(e) = r {
                assert!(matches!(e, SinkError::Timeout(d) if d == Duration::from_millis(300)));
                timed_out = true;
                break;
            }
        }
        assert!(timed_out, "the send buffer never filled");
        holder.abort();
    }

    #[tokio::test]
    async fn udp_datagrams_arrive() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = rx.local_addr().unwrap().to_string();
        let sink = SocketSink::new(&opts(&[("address", &addr), ("socket_type", "udp")])).unwrap();
        sink.write(b"{\"a\":1}\n").await.unwrap();
        sink.write(b"{\"a\":2}\n").await.unwrap();
        let mut buf = [0u8; 1024];
        let n = rx.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"{\"a\":1}\n");
        let n = rx.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"{\"a\":2}\n");
    }

    #[tokio::test]
    async fn unix_lines_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let sink = SocketSink::new(&opts(&[
            ("address", path.to_str().unwrap()),
            ("socket_type", "unix"),
        ]))
        .unwrap();
        sink.write(b"one\n").await.unwrap();
        sink.write(b"two\n").await.unwrap();
        let (s, _) = listener.accept().await.unwrap();
        let mut lines = BufReader::new(s).lines();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "one");
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "two");

        // The socket is gone: an error, not a silent drop.
        drop(lines);
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(sink.write(b"three\n").await.is_err());
    }

    #[tokio::test]
    async fn reopen_redials() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let sink = SocketSink::new(&opts(&[("address", &addr)])).unwrap();
        sink.write(b"a\n").await.unwrap();
        let (_first, _) = listener.accept().await.unwrap();
        sink.reopen().await.unwrap();
        sink.write(b"b\n").await.unwrap();
        let (second, _) = listener.accept().await.unwrap();
        let mut lines = BufReader::new(second).lines();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "b");
    }
}
