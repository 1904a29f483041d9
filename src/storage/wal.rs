//! The write-ahead log in front of the file backend's redb database.
//!
//! A durable redb commit writes every B-tree page a transaction touched at
//! scattered offsets plus the header, then fsyncs: measured on a one-core
//! server that was about 320 µs of CPU and most of the wall time of each
//! group commit. The log instead takes each group's changes as ONE appended
//! record and one `fdatasync`; redb then commits the same changes without
//! syncing (readers see them only after the log is durable), and a
//! checkpoint (one durable redb commit, then truncating the log) runs when
//! the log grows past a bound, when the writer is idle, and on close.
//!
//! Record: `len (u32 LE) | checksum (first 8 bytes of SHA-256 of the body)
//! | body`, body = ops, each `tag (1 put, 2 delete) | key len (u32 LE) |
//! key | [value len (u32 LE) | value]`. Replay applies records in order
//! and stops at the first short or mismatching record: a torn tail is a
//! record whose `fdatasync` never returned, so it was never acknowledged.
//! Replaying a record redb already holds (a crash between a checkpoint's
//! commit and its truncation) rewrites the same values, so it is harmless.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::StorageError;

/// One change as the log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogOp {
    Put(String, Vec<u8>),
    Delete(String),
}

const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;
const HEADER_LEN: usize = 4 + 8;

fn io(what: &str) -> impl Fn(std::io::Error) -> StorageError + '_ {
    move |e| StorageError::Backend(format!("write-ahead log: {what}: {e}"))
}

fn checksum(body: &[u8]) -> [u8; 8] {
    let digest = Sha256::digest(body);
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// Serializes one record (header and body) for `ops`.
pub(crate) fn encode_record<'a>(ops: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, value) in ops {
        body.push(if value.is_some() { TAG_PUT } else { TAG_DELETE });
        body.extend_from_slice(&(key.len() as u32).to_le_bytes());
        body.extend_from_slice(key.as_bytes());
        if let Some(v) = value {
            body.extend_from_slice(&(v.len() as u32).to_le_bytes());
            body.extend_from_slice(v);
        }
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(&body));
    out.extend_from_slice(&body);
    out
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if buf.len() < n {
        return None;
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Some(head)
}

fn take_u32(buf: &mut &[u8]) -> Option<usize> {
    let b = take(buf, 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

fn decode_body(mut body: &[u8]) -> Option<Vec<LogOp>> {
    let mut ops = Vec::new();
    while !body.is_empty() {
        let tag = take(&mut body, 1)?[0];
        let klen = take_u32(&mut body)?;
        let key = String::from_utf8(take(&mut body, klen)?.to_vec()).ok()?;
        match tag {
            TAG_PUT => {
                let vlen = take_u32(&mut body)?;
                ops.push(LogOp::Put(key, take(&mut body, vlen)?.to_vec()));
            }
            TAG_DELETE => ops.push(LogOp::Delete(key)),
            _ => return None,
        }
    }
    Some(ops)
}

/// Parses a log's bytes: the records up to the first torn or corrupt one,
/// and the length of that valid prefix.
pub(crate) fn decode_log(bytes: &[u8]) -> (Vec<Vec<LogOp>>, usize) {
    let mut records = Vec::new();
    let mut rest = bytes;
    let mut valid = 0;
    loop {
        let mut cur = rest;
        let Some(len) = take_u32(&mut cur) else { break };
        let Some(sum) = take(&mut cur, 8) else { break };
        let Some(body) = take(&mut cur, len) else {
            break;
        };
        if sum != checksum(body) {
            break;
        }
        let Some(ops) = decode_body(body) else { break };
        records.push(ops);
        valid += HEADER_LEN + len;
        rest = cur;
    }
    (records, valid)
}

/// The open log file, appended to by the writer thread only.
pub(crate) struct Wal {
    file: File,
    len: u64,
}

impl Wal {
    /// Opens (or creates) the log at `path` and returns it with the records
    /// it holds (to replay); a torn tail is cut off.
    pub(crate) fn open(path: &Path) -> Result<(Self, Vec<Vec<LogOp>>), StorageError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io("opening"))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io("reading"))?;
        let (records, valid) = decode_log(&bytes);
        if valid < bytes.len() {
            file.set_len(valid as u64)
                .map_err(io("cutting a torn tail"))?;
            file.sync_data().map_err(io("syncing"))?;
        }
        Ok((
            Self {
                file,
                len: valid as u64,
            },
            records,
        ))
    }

    /// Bytes in the log.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends one record and makes it durable before returning. On failure
    /// the log is cut back to where it was, so a record whose write failed
    /// cannot be replayed later.
    pub(crate) fn append_durable(&mut self, record: &[u8]) -> Result<(), StorageError> {
        let result = self
            .file
            .write_all(record)
            .and_then(|_| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += record.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.truncate_to(self.len);
                Err(io("appending")(e))
            }
        }
    }

    /// Cuts the log back to `len` bytes (durably): after a checkpoint (0),
    /// or to drop a record redb then failed to apply.
    pub(crate) fn truncate_to(&mut self, len: u64) -> Result<(), StorageError> {
        self.file.set_len(len).map_err(io("truncating"))?;
        self.file.sync_data().map_err(io("syncing"))?;
        self.len = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ops: &[LogOp]) -> Vec<u8> {
        encode_record(ops.iter().map(|op| match op {
            LogOp::Put(k, v) => (k.as_str(), Some(v.as_slice())),
            LogOp::Delete(k) => (k.as_str(), None),
        }))
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let a = vec![
            LogOp::Put("a".into(), b"1".to_vec()),
            LogOp::Delete("b".into()),
        ];
        let b = vec![LogOp::Put("c/d".into(), vec![0u8; 300])];
        let mut bytes = record(&a);
        let first = bytes.len();
        bytes.extend(record(&b));
        let (recs, valid) = decode_log(&bytes);
        assert_eq!(recs, vec![a.clone(), b]);
        assert_eq!(valid, bytes.len());
        // Every cut inside the second record leaves exactly the first.
        for cut in first..bytes.len() {
            let (recs, valid) = decode_log(&bytes[..cut]);
            assert_eq!(recs, vec![a.clone()], "cut at {cut}");
            assert_eq!(valid, first);
        }
        // A flipped byte in the second record's body drops it.
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decode_log(&bad), (vec![a], first));
        assert_eq!(decode_log(&[]), (vec![], 0));
    }

    #[test]
    fn open_cuts_torn_tail_and_appends_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let a = vec![LogOp::Put("a".into(), b"1".to_vec())];
        let mut bytes = record(&a);
        bytes.extend_from_slice(&record(&a)[..7]); // torn second record
        std::fs::write(&path, &bytes).expect("write");
        let (mut wal, recs) = Wal::open(&path).expect("open");
        assert_eq!(recs, vec![a.clone()]);
        let b = vec![LogOp::Delete("a".into())];
        wal.append_durable(&record(&b)).expect("append");
        drop(wal);
        let (wal, recs) = Wal::open(&path).expect("reopen");
        assert_eq!(recs, vec![a, b]);
        assert_eq!(wal.len(), std::fs::metadata(&path).expect("stat").len());
    }
}
