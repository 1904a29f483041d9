//! The `file` audit device: appends lines to a file, or to the process's
//! stdout/stderr (containers and Lambda, where they reach CloudWatch), or
//! nowhere (`discard`, as Vault, for tests).
//!
//! Semantics follow OpenBao's file device: the file is opened once at
//! construction (so a bad path is refused when the device is enabled, not
//! on the first request), in append mode, created with `mode` and chmod'ed
//! to it on every open (`0000` keeps whatever mode the existing file has);
//! missing parent directories are created. A failed write closes the file,
//! reopens the path once and retries, so a rotated-away or replaced file
//! heals by itself; if that fails too, the error goes to the broker, which
//! fails the request closed. No fsync per line: like Vault, durability is
//! the page cache's, and an fsync per request would dominate its cost.
//!
//! Group commit: lines that arrive while a write is in progress are
//! appended to one buffer and go out together in the next `write(2)`; each
//! caller still returns only once its own line is written (or failed), so
//! fail-closed holds per request, while a loaded server makes one syscall
//! for many entries instead of one per entry. The caller that will write a
//! batch first yields to the runtime: on a server with one core (a
//! pinned container, Lambda) no other request can run during a blocking
//! write, so without that yield every batch would hold one line; with it,
//! every request already runnable reaches its audit write and joins the
//! batch; it yields again (a few times at most) while lines keep joining.

use std::collections::BTreeMap;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{AuditSink, SinkError};

/// How many times a batch's writer yields while lines keep joining.
const GATHER_ROUNDS: usize = 3;

/// The largest batch buffer kept for reuse.
const SPARE_MAX: usize = 1 << 20;

/// Vault's default mode for audit files: only the server's user reads them.
const DEFAULT_MODE: u32 = 0o600;

/// Where the lines go.
#[derive(Debug)]
enum Target {
    Stdout,
    Stderr,
    Discard,
    File(FileTarget),
}

#[derive(Debug)]
struct FileTarget {
    path: PathBuf,
    /// Permission bits new files are created with.
    create_mode: u32,
    /// Whether every open chmods the file to `create_mode` (false for
    /// `mode=0000`: "do not change the mode").
    enforce_mode: bool,
    /// The open handle; `None` after a failed reopen, so the next write
    /// tries to open the path again. Held only for one write or reopen:
    /// both are short blocking syscalls, never an `.await`.
    file: Mutex<Option<File>>,
    group: Group,
}

/// The group-commit state of one file.
#[derive(Debug, Default)]
struct Group {
    state: Mutex<GroupState>,
    /// Signalled after every batch (its result is set first).
    done: Notify,
    /// Batches written (tests check that lines share writes).
    #[cfg(test)]
    batches: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Default)]
struct GroupState {
    /// Lines waiting for the next write, whole and in arrival order.
    pending: Vec<u8>,
    /// The previous batch's buffer, emptied, to be `pending` next: two
    /// buffers alternate, so a batch costs no allocation once warm.
    spare: Vec<u8>,
    /// The outcome of the batch `pending` will go out in.
    batch: Arc<Batch>,
    /// Some caller is writing a batch now.
    writing: bool,
}

#[derive(Debug, Default)]
struct Batch {
    result: OnceLock<Result<(), String>>,
}

/// Held by a batch's writer while it yields: if its future is dropped
/// there, the batch is left to the next caller instead of waiting forever.
struct Leading<'a> {
    group: &'a Group,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.group
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .writing = false;
        self.group.done.notify_waiters();
    }
}

pub(crate) struct FileSink {
    target: Target,
}

impl FileSink {
    /// Builds the sink from the device's options: `file_path` (required;
    /// Vault's older `path` is accepted too; `stdout`, `stderr` and
    /// `discard` are special, case-insensitively) and `mode` (octal,
    /// default `0600`; `0000` keeps the existing file's mode). Other
    /// options (format, prefix, hmac_accessor...) belong to the broker and
    /// are ignored here.
    pub(crate) fn new(options: &BTreeMap<String, String>) -> Result<Self, SinkError> {
        let path = options
            .get("file_path")
            .or_else(|| options.get("path"))
            .ok_or_else(|| SinkError::Config("file_path is required".into()))?;
        let mode = match options.get("mode") {
            None => DEFAULT_MODE,
            Some(raw) => parse_mode(raw)?,
        };
        let target = match path.to_ascii_lowercase().as_str() {
            "stdout" => Target::Stdout,
            "stderr" => Target::Stderr,
            "discard" => Target::Discard,
            _ => Target::File(FileTarget::open(Path::new(path), mode)?),
        };
        Ok(FileSink { target })
    }
}

/// Parses `mode` like Go's `strconv.ParseUint(s, 8, 32)` (so `600` and
/// `0600` are the same), limited to permission bits.
fn parse_mode(raw: &str) -> Result<u32, SinkError> {
    let bad = || {
        SinkError::Config(format!(
            "strconv.ParseUint: parsing {raw:?}: invalid syntax"
        ))
    };
    if raw.is_empty() || !raw.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    let mode = u32::from_str_radix(raw, 8).map_err(|_| bad())?;
    if mode > 0o7777 {
        return Err(SinkError::Config(format!(
            "invalid file mode {raw:?}: only permission bits (at most 7777) are allowed"
        )));
    }
    Ok(mode)
}

impl FileTarget {
    fn open(path: &Path, mode: u32) -> Result<Self, SinkError> {
        let (create_mode, enforce_mode) = if mode == 0 {
            // Vault: "0000" means keep the mode the file has, so the file
            // must exist already.
            let meta = std::fs::metadata(path).map_err(|e| {
                SinkError::Config(format!("stat {}: {}", path.display(), io_text(&e)))
            })?;
            (meta.permissions().mode() & 0o7777, false)
        } else {
            (mode, true)
        };
        let target = FileTarget {
            path: path.to_path_buf(),
            create_mode,
            enforce_mode,
            file: Mutex::new(None),
            group: Group::default(),
        };
        // Open now: a path we cannot write is refused at enable time.
        let file = target.open_file().map_err(|e| {
            SinkError::Config(format!(
                "sanity check failed; unable to open {:?} for writing: {}",
                path.display().to_string(),
                io_text(&e)
            ))
        })?;
        *target.lock() = Some(file);
        Ok(target)
    }

    /// Opens the path for appending, creating it (and missing parent
    /// directories) as needed, and applies the mode.
    fn open_file(&self) -> std::io::Result<File> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                // Directories get an execute bit wherever the file mode
                // grants read, so a reader the mode allows can reach the
                // file (0600 → 0700, 0640 → 0750).
                let dir_mode = 0o700 | self.create_mode | ((self.create_mode & 0o444) >> 2);
                DirBuilder::new()
                    .recursive(true)
                    .mode(dir_mode & 0o777)
                    .create(dir)?;
            }
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(self.create_mode)
            .open(&self.path)?;
        // The file may have existed with another mode; /dev/null cannot be
        // chmod'ed (as Vault special-cases it).
        if self.enforce_mode && self.path != Path::new("/dev/null") {
            file.set_permissions(std::fs::Permissions::from_mode(self.create_mode))?;
        }
        Ok(file)
    }

    /// The handle slot. A panic while holding the lock cannot leave the
    /// `Option<File>` inconsistent, so a poisoned lock is simply taken over.
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<File>> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_line(&self, line: &[u8]) -> Result<(), SinkError> {
        let mut slot = self.lock();
        if let Some(file) = slot.as_mut() {
            // Append mode and one write per line: concurrent writers (and
            // other processes appending) never interleave inside a line.
            if file.write_all(line).is_ok() {
                return Ok(());
            }
        }
        // Either no handle (a failed reopen) or the write failed: reopen
        // the path once and retry, as Vault does.
        *slot = None;
        let mut file = self.open_file()?;
        let result = file.write_all(line);
        *slot = Some(file);
        result.map_err(SinkError::from)
    }

    /// Appends `line` to the pending batch and returns once that batch is
    /// written. The caller that finds no write in progress writes the batch
    /// (with every line that joined it meanwhile); the others wait for its
    /// result, or take over if their line missed the batch being written.
    async fn write_grouped(&self, line: &[u8]) -> Result<(), SinkError> {
        let g = &self.group;
        let lock = || g.state.lock().unwrap_or_else(|p| p.into_inner());
        let (mine, mut lead) = {
            let mut st = lock();
            st.pending.extend_from_slice(line);
            let lead = !st.writing;
            st.writing = true;
            (st.batch.clone(), lead)
        };
        loop {
            if lead {
                // Gather: let the requests that are ready to run reach
                // their audit write and append to this batch. Cancelled
                // here (a timeout, a dropped connection), the guard hands
                // the batch to a waiting caller.
                let guard = Leading { group: g };
                // Again while lines keep joining (a few rounds at most: the
                // wait is the batch's latency).
                let mut joined = lock().pending.len();
                for _ in 0..GATHER_ROUNDS {
                    tokio::task::yield_now().await;
                    let now = lock().pending.len();
                    if now == joined {
                        break;
                    }
                    joined = now;
                }
                std::mem::forget(guard);
                let (mut buf, batch) = {
                    let mut st = lock();
                    let spare = std::mem::take(&mut st.spare);
                    (
                        std::mem::replace(&mut st.pending, spare),
                        std::mem::take(&mut st.batch),
                    )
                };
                if !buf.is_empty() {
                    #[cfg(test)]
                    g.batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let r = self.write_line(&buf).map_err(|e| match e {
                        SinkError::Io(io) => io.to_string(),
                        other => other.to_string(),
                    });
                    let _ = batch.result.set(r);
                }
                buf.clear();
                let mut st = lock();
                // A burst's huge buffer is not kept.
                if buf.capacity() <= SPARE_MAX {
                    st.spare = buf;
                }
                st.writing = false;
                drop(st);
                g.done.notify_waiters();
            }
            if let Some(r) = mine.result.get() {
                return r
                    .clone()
                    .map_err(|e| SinkError::Io(std::io::Error::other(e)));
            }
            let notified = g.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if mine.result.get().is_some() {
                continue;
            }
            {
                let mut st = lock();
                if !st.writing {
                    st.writing = true;
                    lead = true;
                    continue;
                }
            }
            lead = false;
            notified.await;
        }
    }

    fn reopen(&self) -> Result<(), SinkError> {
        let mut slot = self.lock();
        // Dropping the old handle closes it; leave `None` if the path
        // cannot be opened now, so the next write retries.
        *slot = None;
        *slot = Some(self.open_file()?);
        Ok(())
    }
}

/// An I/O error's text without Rust's " (os error N)" suffix, closer to
/// Go's messages that Vault users see.
fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s,
    }
}

#[async_trait]
impl AuditSink for FileSink {
    async fn write(&self, line: &[u8]) -> Result<(), SinkError> {
        match &self.target {
            Target::Discard => Ok(()),
            // The std locks keep our line whole against other writers in
            // this process (logs); stdout is line-buffered and the line
            // ends with `\n`, so it is flushed by this call.
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line)?;
                out.flush()?;
                Ok(())
            }
            Target::Stderr => {
                std::io::stderr().lock().write_all(line)?;
                Ok(())
            }
            Target::File(f) => f.write_grouped(line).await,
        }
    }

    async fn reopen(&self) -> Result<(), SinkError> {
        match &self.target {
            Target::File(f) => f.reopen(),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::time::Duration;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn file_path_is_required() {
        let err = FileSink::new(&opts(&[])).err().unwrap();
        assert!(matches!(&err, SinkError::Config(m) if m == "file_path is required"));
    }

    #[tokio::test]
    async fn lines_are_appended_whole_to_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "old\n").unwrap();
        let sink = std::sync::Arc::new(
            FileSink::new(&opts(&[("file_path", path.to_str().unwrap())])).unwrap(),
        );
        let mut tasks = Vec::new();
        for t in 0..8 {
            let sink = sink.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    let line =
                        format!("{{\"t\":{t},\"i\":{i},\"pad\":\"{}\"}}\n", "x".repeat(3000));
                    sink.write(line.as_bytes()).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "old");
        assert_eq!(lines.len(), 1 + 8 * 50);
        for l in &lines[1..] {
            let v: serde_json::Value = serde_json::from_str(l).expect("a whole line");
            assert_eq!(v["pad"].as_str().unwrap().len(), 3000);
        }
    }

    fn batches(sink: &FileSink) -> usize {
        match &sink.target {
            Target::File(f) => f.group.batches.load(std::sync::atomic::Ordering::Relaxed),
            _ => 0,
        }
    }

    /// One thread (a pinned server): the requests that are ready when a
    /// write starts share it, and each still returns only once its line
    /// is in the file.
    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_lines_share_writes_on_one_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let sink = std::sync::Arc::new(
            FileSink::new(&opts(&[("file_path", path.to_str().unwrap())])).unwrap(),
        );
        let mut tasks = Vec::new();
        for t in 0..16 {
            let sink = sink.clone();
            let path = path.clone();
            tasks.push(tokio::spawn(async move {
                let line = format!("{{\"t\":{t}}}\n");
                sink.write(line.as_bytes()).await.unwrap();
                // Returned: the line is in the file already.
                assert!(std::fs::read_to_string(&path).unwrap().contains(&line));
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 16);
        let n = batches(&sink);
        assert!(n < 4, "16 ready writers took {n} writes");
    }

    /// A writer dropped while it gathers its batch (a timeout, a closed
    /// connection) leaves the batch to the next caller: nothing hangs and
    /// its line is still written.
    #[tokio::test(flavor = "current_thread")]
    async fn a_cancelled_batch_writer_hands_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let sink = FileSink::new(&opts(&[("file_path", path.to_str().unwrap())])).unwrap();
        {
            // Polled once: it appends, leads the batch and yields; then it
            // is dropped, as a timeout or a closed connection would.
            let mut first = Box::pin(sink.write(b"first\n"));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(first.as_mut().poll(&mut cx).is_pending());
        }
        tokio::time::timeout(Duration::from_secs(5), sink.write(b"second\n"))
            .await
            .expect("no writer left waiting forever")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\nsecond\n");
    }

    #[tokio::test]
    async fn default_mode_is_0600_and_applied_to_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        FileSink::new(&opts(&[("file_path", path.to_str().unwrap())])).unwrap();
        assert_eq!(mode_of(&path), 0o600);

        let new = dir.path().join("b.log");
        let sink = FileSink::new(&opts(&[
            ("file_path", new.to_str().unwrap()),
            ("mode", "0640"),
        ]))
        .unwrap();
        assert_eq!(mode_of(&new), 0o640);
        sink.write(b"x\n").await.unwrap();
        assert_eq!(std::fs::read_to_string(&new).unwrap(), "x\n");
    }

    #[test]
    fn mode_0000_keeps_the_existing_mode_and_needs_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        FileSink::new(&opts(&[
            ("file_path", path.to_str().unwrap()),
            ("mode", "0000"),
        ]))
        .unwrap();
        assert_eq!(mode_of(&path), 0o644);

        let missing = dir.path().join("missing.log");
        let err = FileSink::new(&opts(&[
            ("file_path", missing.to_str().unwrap()),
            ("mode", "0000"),
        ]))
        .err()
        .unwrap();
        assert!(
            matches!(&err, SinkError::Config(m) if m.starts_with("stat ")),
            "{err}"
        );
    }

    #[test]
    fn bad_modes_are_refused() {
        for bad in ["abc", "0800", "", "-1", "77777"] {
            let err = FileSink::new(&opts(&[("file_path", "discard"), ("mode", bad)]))
                .err()
                .unwrap();
            assert!(matches!(err, SinkError::Config(_)), "{bad}");
        }
        assert_eq!(parse_mode("600").unwrap(), 0o600);
        assert_eq!(parse_mode("0755").unwrap(), 0o755);
    }

    #[tokio::test]
    async fn missing_parent_directories_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x/y/audit.log");
        let sink = FileSink::new(&opts(&[("file_path", path.to_str().unwrap())])).unwrap();
        sink.write(b"line\n").await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "line\n");
        assert_eq!(mode_of(&dir.path().join("x/y")), 0o700);
    }

    #[tokio::test]
    async fn reopen_after_rename_writes_to_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let rotated = dir.path().join("audit.log.1");
        let sink = FileSink::new(&opts(&[("file_path", path.to_str().unwrap())])).unwrap();
        sink.write(b"one\n").await.unwrap();
        // logrotate: rename, then SIGHUP. Until the reopen, lines still go
        // to the renamed file (the open handle follows it).
        std::fs::rename(&path, &rotated).unwrap();
        sink.write(b"two\n").await.unwrap();
        sink.reopen().await.unwrap();
        sink.write(b"three\n").await.unwrap();
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
        assert_eq!(mode_of(&path), 0o600);
    }

    #[tokio::test]
    async fn unwritable_paths_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        // A directory at the path: refused when the device is enabled.
        let err = FileSink::new(&opts(&[("file_path", dir.path().to_str().unwrap())]))
            .err()
            .unwrap();
        assert!(
            matches!(&err, SinkError::Config(m) if m.starts_with("sanity check failed; unable to open")),
            "{err}"
        );

        // The path becomes a directory after rotation: reopen and every
        // later write fail, until the path is writable again.
        let path = dir.path().join("audit.log");
        let sink = FileSink::new(&opts(&[("file_path", path.to_str().unwrap())])).unwrap();
        std::fs::rename(&path, dir.path().join("old.log")).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(sink.reopen().await, Err(SinkError::Io(_))));
        assert!(matches!(sink.write(b"x\n").await, Err(SinkError::Io(_))));
        std::fs::remove_dir(&path).unwrap();
        sink.write(b"y\n").await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "y\n");

        // The parent directory replaced by a file: cannot be recreated.
        let parent = dir.path().join("sub");
        let nested = parent.join("audit.log");
        let sink = FileSink::new(&opts(&[("file_path", nested.to_str().unwrap())])).unwrap();
        std::fs::remove_file(&nested).unwrap();
        std::fs::remove_dir(&parent).unwrap();
        std::fs::write(&parent, "not a dir").unwrap();
        assert!(sink.reopen().await.is_err());
        assert!(sink.write(b"z\n").await.is_err());
    }

    #[tokio::test]
    async fn a_failing_write_is_an_error_not_a_silent_drop() {
        // /dev/full accepts the open and fails every write (ENOSPC), also
        // after the one reopen-and-retry.
        if !Path::new("/dev/full").exists() {
            return;
        }
        let sink = FileSink::new(&opts(&[("file_path", "/dev/full"), ("mode", "0000")])).unwrap();
        assert!(matches!(sink.write(b"x\n").await, Err(SinkError::Io(_))));
    }

    #[tokio::test]
    async fn stdout_stderr_and_discard_work() {
        for p in ["stdout", "STDOUT", "stderr", "discard", "Discard"] {
            let sink = FileSink::new(&opts(&[("file_path", p)])).unwrap();
            sink.write(b"{\"audit\":\"test line\"}\n").await.unwrap();
            sink.reopen().await.unwrap();
        }
    }
}
