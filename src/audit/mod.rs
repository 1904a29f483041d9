//! Audit devices (Vault's `sys/audit`): every request and response is
//! recorded, with every secret-bearing string HMAC'd, before the request
//! runs and before its answer leaves the node. Fail closed: a request no
//! device could record is refused.
//!
//! Layers: [`table`] is the stored device table, [`format`] turns a request
//! into Vault's entries, [`sink`] moves the lines, and the [`Broker`] here
//! holds the loaded devices and writes to all of them concurrently, each
//! bounded by its `write_timeout`. Core owns one broker and calls it once
//! before the handler and once after; with no device enabled that costs
//! one atomic load per request.

pub(crate) mod format;
pub(crate) mod json;
pub(crate) mod sink;
pub(crate) mod table;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::logical::{LogicalError, Operation, Request};
use format::{Entry, FormatOptions, Hasher};
use sink::AuditSink;
use table::{DeviceEntry, DeviceTable};

/// Device types Strongroom knows (the sinks module builds them).
pub(crate) const DEVICE_TYPES: &[&str] = &["file", "socket", "syslog"];

/// Initial buffer of a rendered line: a KV read's request and response
/// entries together are about 2.7 KB.
const LINE_CAPACITY: usize = 3584;

/// Bound on one device write when the device sets no `write_timeout`.
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Vault's `audit.ErrInternal`: what a client sees when its request could
/// not be recorded (the details go to the server log only).
pub(crate) fn internal_error() -> LogicalError {
    LogicalError::Internal("internal error".into())
}

/// One enabled device, ready to write.
pub(crate) struct Device {
    pub(crate) entry: DeviceEntry,
    format: FormatOptions,
    /// The device key's HMAC state (built once; wiped with the device).
    hasher: Hasher,
    /// A sink that could not be built (a standby that cannot open the file)
    /// keeps the reason: every write fails, so requests fail closed.
    sink: Result<Arc<dyn AuditSink>, String>,
    write_timeout: Duration,
}

fn write_timeout(entry: &DeviceEntry) -> Result<Duration, String> {
    match entry.options.get("write_timeout") {
        None => Ok(DEFAULT_WRITE_TIMEOUT),
        Some(v) => crate::logical::parse_duration_str(v)
            .map(|s| {
                if s == 0 {
                    DEFAULT_WRITE_TIMEOUT
                } else {
                    Duration::from_secs(s)
                }
            })
            .map_err(|e| format!("invalid write_timeout: {e}")),
    }
}

impl Device {
    /// Builds a device for `sys/audit/:path`: any problem is an error the
    /// enable answers with (400).
    pub(crate) fn build(entry: DeviceEntry) -> Result<Self, String> {
        let format = FormatOptions::from_options(&entry.options)?;
        let write_timeout = write_timeout(&entry)?;
        let sink = sink::build(&entry.device_type, &entry.options).map_err(|e| match e {
            sink::SinkError::Config(m) => m,
            other => other.to_string(),
        })?;
        Ok(Self {
            hasher: Hasher::new(&entry.hmac_key.0),
            entry,
            format,
            sink: Ok(Arc::from(sink)),
            write_timeout,
        })
    }

    /// Builds a device loaded from storage: a sink that cannot be built
    /// here is kept as a failing device rather than dropped, since a
    /// dropped device would let requests through unaudited.
    fn load(entry: DeviceEntry) -> Self {
        match Self::build(entry.clone()) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(device = %entry.path, error = %e, "audit device cannot be opened; requests will fail until it can");
                Self {
                    format: FormatOptions::from_options(&entry.options).unwrap_or_default(),
                    hasher: Hasher::new(&entry.hmac_key.0),
                    write_timeout: write_timeout(&entry).unwrap_or(DEFAULT_WRITE_TIMEOUT),
                    entry,
                    sink: Err(e),
                }
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn with_sink(entry: DeviceEntry, sink: Arc<dyn AuditSink>) -> Self {
        Self {
            format: FormatOptions::from_options(&entry.options).unwrap_or_default(),
            hasher: Hasher::new(&entry.hmac_key.0),
            write_timeout: write_timeout(&entry).unwrap_or(DEFAULT_WRITE_TIMEOUT),
            entry,
            sink: Ok(sink),
        }
    }

    /// `sys/audit-hash`: the HMAC this device logs for `input`.
    pub(crate) fn hash(&self, input: &str) -> String {
        self.hasher.hash(input)
    }

    fn line(&self, entry: &Entry<'_>, time: &str) -> Vec<u8> {
        format::render_line(entry, &self.hasher, &self.format, time)
    }

    fn line_onto(&self, entry: &Entry<'_>, time: &str, out: &mut Vec<u8>) {
        format::render_line_into(entry, &self.hasher, &self.format, time, out)
    }

    /// Writes one line, bounded by the device's `write_timeout` whatever
    /// the sink does.
    async fn write(&self, line: &[u8]) -> Result<(), String> {
        let sink = self.sink.as_ref().map_err(Clone::clone)?;
        match tokio::time::timeout(self.write_timeout, sink.write(line)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("write timed out after {:?}", self.write_timeout)),
        }
    }

    /// Writes the self-test entry OpenBao writes when a device is enabled
    /// (a `sys/audit/test` request), so a device that cannot record is
    /// refused at enable time.
    pub(crate) async fn self_test(&self) -> Result<(), String> {
        let req = Request::new(Operation::Update, "sys/audit/test");
        let input = format::Input {
            req: &req,
            caller: None,
            mount: None,
            headers: Vec::new(),
            forwarded_from: None,
            request_blocks: Default::default(),
        };
        let entry = Entry::Request {
            input: &input,
            error: None,
        };
        self.write(&self.line(&entry, &format::now_rfc3339())).await
    }
}

/// The devices loaded on this node, swapped whole on every table change.
#[derive(Default)]
pub(crate) struct Loaded {
    pub(crate) table: DeviceTable,
    devices: Vec<Arc<Device>>,
}

impl Loaded {
    pub(crate) fn device(&self, path: &str) -> Option<&Arc<Device>> {
        self.devices.iter().find(|d| d.entry.path == path)
    }

    /// The configured audited headers present in `req`: (name, value, hmac).
    pub(crate) fn headers_of(&self, req: &Request) -> Vec<(String, String, bool)> {
        self.table
            .headers
            .iter()
            .filter_map(|(name, s)| {
                req.header(name)
                    .map(|v| (name.clone(), v.to_string(), s.hmac))
            })
            .collect()
    }

    /// Records one entry on every device. Fails (Vault's internal error)
    /// only when no device recorded it; other devices' failures are logged
    /// and counted.
    pub(crate) async fn log(&self, entry: &Entry<'_>) -> Result<(), LogicalError> {
        self.write(self.render(entry)).await
    }

    /// Every device's line for `entry`, in device order (for
    /// [`Loaded::write`], now or once the caller knows it is needed).
    pub(crate) fn render(&self, entry: &Entry<'_>) -> Vec<Vec<u8>> {
        if self.devices.is_empty() {
            return Vec::new();
        }
        let time = format::now_rfc3339();
        self.devices
            .iter()
            .map(|d| {
                // Room for a KV read's response entry too (render_onto).
                let mut out = Vec::with_capacity(LINE_CAPACITY);
                d.line_onto(entry, &time, &mut out);
                out
            })
            .collect()
    }

    /// Appends every device's line for `entry` to that device's buffer in
    /// `lines` (from [`Loaded::render`] of this same device set): the two
    /// entries of a KV read go out in one write, copied once.
    pub(crate) fn render_onto(&self, entry: &Entry<'_>, lines: &mut [Vec<u8>]) {
        if self.devices.is_empty() {
            return;
        }
        let time = format::now_rfc3339();
        for (d, out) in self.devices.iter().zip(lines.iter_mut()) {
            d.line_onto(entry, &time, out);
        }
    }

    /// Writes lines from [`Loaded::render`] of this same device set.
    pub(crate) async fn write(&self, lines: Vec<Vec<u8>>) -> Result<(), LogicalError> {
        if self.devices.is_empty() {
            return Ok(());
        }
        let mut ok = 0usize;
        if let ([device], [line]) = (self.devices.as_slice(), lines.as_slice()) {
            // One device: no task to spawn.
            match device.write(line).await {
                Ok(()) => ok += 1,
                Err(e) => failed(&device.entry.path, &e),
            }
        } else {
            let mut set = tokio::task::JoinSet::new();
            for (device, line) in self.devices.iter().zip(lines) {
                let device = device.clone();
                set.spawn(async move {
                    let r = device.write(&line).await;
                    (device, r)
                });
            }
            while let Some(joined) = set.join_next().await {
                match joined {
                    Ok((_, Ok(()))) => ok += 1,
                    Ok((device, Err(e))) => failed(&device.entry.path, &e),
                    Err(e) => tracing::error!(error = %e, "audit write task failed"),
                }
            }
        }
        if ok == 0 {
            tracing::error!("no audit device recorded the entry; refusing the request");
            return Err(internal_error());
        }
        Ok(())
    }
}

fn failed(path: &str, error: &str) {
    // The error names the device and the I/O problem, never the line.
    tracing::error!(device = %path, error = %error, "audit device failed to record an entry");
    crate::metrics::audit_log_failure(path);
}

/// Holds the loaded devices. `active()` is the hot-path check.
#[derive(Default)]
pub(crate) struct Broker {
    any: AtomicBool,
    loaded: RwLock<Arc<Loaded>>,
}

impl Broker {
    /// The loaded devices, or `None` (one atomic load) when there are none.
    pub(crate) fn active(&self) -> Option<Arc<Loaded>> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        self.loaded.read().ok().map(|l| l.clone())
    }

    /// The current table and devices (even when empty).
    pub(crate) fn loaded(&self) -> Arc<Loaded> {
        self.loaded.read().map(|l| l.clone()).unwrap_or_default()
    }

    /// Installs `table`. Devices whose entry did not change keep their open
    /// sinks; `fresh` supplies devices already built (the one just enabled
    /// and self-tested); the rest are built now.
    pub(crate) fn install(&self, table: DeviceTable, fresh: Vec<Arc<Device>>) {
        let current = self.loaded();
        let devices = table
            .devices
            .iter()
            .map(|e| {
                if let Some(d) = fresh.iter().find(|d| d.entry == *e) {
                    return d.clone();
                }
                match current.device(&e.path) {
                    Some(d) if d.entry == *e && d.sink.is_ok() => d.clone(),
                    _ => Arc::new(Device::load(e.clone())),
                }
            })
            .collect::<Vec<_>>();
        let any = !devices.is_empty();
        if let Ok(mut l) = self.loaded.write() {
            *l = Arc::new(Loaded { table, devices });
        }
        self.any.store(any, Ordering::Release);
    }

    /// Drops every device (on seal: the keys leave memory).
    pub(crate) fn clear(&self) {
        self.any.store(false, Ordering::Release);
        if let Ok(mut l) = self.loaded.write() {
            *l = Arc::new(Loaded::default());
        }
    }

    /// SIGHUP: every sink reopens its file (logrotate). Devices whose sink
    /// could not be built are rebuilt.
    pub(crate) async fn reopen(&self) {
        let loaded = self.loaded();
        let mut rebuild = false;
        for d in &loaded.devices {
            match &d.sink {
                Ok(s) => {
                    if let Err(e) = s.reopen().await {
                        tracing::error!(device = %d.entry.path, error = %e, "audit device reopen failed");
                    }
                }
                Err(_) => rebuild = true,
            }
        }
        if rebuild {
            self.install(loaded.table.clone(), Vec::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// An in-memory sink for unit tests.
    #[derive(Default)]
    struct MemSink {
        lines: Mutex<Vec<Vec<u8>>>,
        fail: AtomicBool,
    }

    #[async_trait]
    impl AuditSink for MemSink {
        async fn write(&self, line: &[u8]) -> Result<(), sink::SinkError> {
            if self.fail.load(Ordering::Relaxed) {
                return Err(sink::SinkError::NotConnected("down".into()));
            }
            self.lines.lock().unwrap().push(line.to_vec());
            Ok(())
        }
    }

    fn entry(path: &str) -> DeviceEntry {
        DeviceEntry {
            path: path.into(),
            device_type: "file".into(),
            description: String::new(),
            options: Default::default(),
            local: false,
            declarative: false,
            hmac_key: table::HmacKey::generate(),
        }
    }

    #[tokio::test]
    async fn fails_closed_only_when_every_device_fails() {
        let a = Arc::new(MemSink::default());
        let b = Arc::new(MemSink::default());
        let (ea, eb) = (entry("a/"), entry("b/"));
        let devices = vec![
            Arc::new(Device::with_sink(ea.clone(), a.clone())),
            Arc::new(Device::with_sink(eb.clone(), b.clone())),
        ];
        let broker = Broker::default();
        assert!(broker.active().is_none());
        broker.install(
            DeviceTable {
                devices: vec![ea, eb],
                ..Default::default()
            },
            devices,
        );
        let loaded = broker.active().unwrap();
        let mut req = Request::new(Operation::Read, "secret/data/x");
        req.client_token = Some("secret-token".into());
        let (policies, meta) = (vec!["default".to_string()], Default::default());
        let input = format::Input {
            req: &req,
            caller: Some(format::Caller {
                client_token: "secret-token",
                token_hash: "h",
                accessor: "acc",
                display_name: "token",
                policies: &policies,
                token_policies: &policies,
                identity_policies: &[],
                metadata: &meta,
                ttl: 0,
                issue_time: "",
                entity_id: "",
            }),
            mount: None,
            headers: Vec::new(),
            forwarded_from: None,
            request_blocks: Default::default(),
        };
        let raw = Entry::Request {
            input: &input,
            error: None,
        };
        loaded.log(&raw).await.unwrap();
        a.fail.store(true, Ordering::Relaxed);
        loaded.log(&raw).await.unwrap();
        b.fail.store(true, Ordering::Relaxed);
        let err = loaded.log(&raw).await.unwrap_err();
        assert_eq!(err.status(), 500);
        assert_eq!(err.to_string(), "internal error");
        let lines = b.lines.lock().unwrap();
        assert_eq!(lines.len(), 2);
        let text = String::from_utf8(lines[0].clone()).unwrap();
        assert!(!text.contains("secret-token"));
        assert!(text.ends_with('\n'));
        assert!(
            crate::metrics::render().contains("strongroom_audit_log_failures_total{device=\"a/\"}")
        );
    }

    #[tokio::test]
    async fn unbuildable_device_fails_every_write() {
        let broker = Broker::default();
        let mut e = entry("x/");
        e.device_type = "nope".into();
        broker.install(
            DeviceTable {
                devices: vec![e],
                ..Default::default()
            },
            Vec::new(),
        );
        let loaded = broker.active().unwrap();
        let req = Request::new(Operation::Read, "sys/health");
        let input = format::Input {
            req: &req,
            caller: None,
            mount: None,
            headers: Vec::new(),
            forwarded_from: None,
            request_blocks: Default::default(),
        };
        let entry = Entry::Request {
            input: &input,
            error: None,
        };
        assert!(loaded.log(&entry).await.is_err());
        broker.clear();
        assert!(broker.active().is_none());
    }
}
