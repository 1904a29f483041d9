//! The low-level writers audit entries are made of: JSON strings, numbers
//! and arrays appended straight to a byte buffer, Go's RFC3339Nano time, and
//! the `jsonx` (XML) rendering. Split from [`super::format`], which decides
//! what an entry says; this module only decides how bytes look.

use serde_json::Value;

/// The current time as Go's RFC3339Nano (nanoseconds, trailing zeros
/// trimmed), computed once per entry for every device.
pub(crate) fn now_rfc3339() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_at(since.as_secs(), since.subsec_nanos())
}

/// `secs` (Unix seconds) and `nanos` as RFC3339Nano. The calendar part
/// changes once a second, so each thread keeps the last one it wrote and
/// only the fraction is formatted per entry.
pub(super) fn rfc3339_at(secs: u64, nanos: u32) -> String {
    use std::cell::Cell;
    thread_local! {
        static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
    }
    let (cached, mut date) = SECOND.with(Cell::get);
    if cached != secs {
        date = calendar(secs);
        SECOND.with(|c| c.set((secs, date)));
    }
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&date);
    // A leap second shows as nanos >= 1e9; fold it into the last second.
    let nanos = nanos.min(999_999_999);
    if nanos > 0 {
        out.push(b'.');
        let mut buf = [b'0'; 9];
        let mut v = nanos;
        for b in buf.iter_mut().rev() {
            *b = b'0' + (v % 10) as u8;
            v /= 10;
        }
        let mut n = 9;
        while buf[n - 1] == b'0' {
            n -= 1;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out.push(b'Z');
    String::from_utf8(out).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SS` of Unix second `secs` (UTC). Runs once a second
/// per thread (see [`rfc3339_at`]), so chrono's formatter costs nothing.
pub(super) fn calendar(secs: u64) -> [u8; 19] {
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_default();
    let text = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut out = *b"1970-01-01T00:00:00";
    if text.len() == out.len() {
        out.copy_from_slice(text.as_bytes());
    }
    out
}

// ---- JSON writing -------------------------------------------------------

/// Appends `s` as a JSON string (serde_json's escaping: a table lookup
/// per byte and bulk copies between escapes).
pub(super) fn json_str(out: &mut Vec<u8>, s: &str) {
    // Most strings (ids, paths, names) need no escape: copy them whole.
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Whether `b` holds a byte JSON escapes (a control byte, `"` or `\\`),
/// eight bytes at a time: per word, "some byte is below 0x20" and "some
/// byte equals c" are the classic zero-byte tests (exact for thresholds up
/// to 0x80, so UTF-8 bytes never count).
pub(super) fn needs_escape(b: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |w: u64| w.wrapping_sub(LO) & !w & HI != 0;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let w = u64::from_le_bytes(a);
        if w.wrapping_sub(LO * 0x20) & !w & HI != 0
            || has_zero(w ^ (LO * u64::from(b'"')))
            || has_zero(w ^ (LO * u64::from(b'\\')))
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&c| c < 0x20 || c == b'"' || c == b'\\')
}

/// Appends an IP address as text (IPv4 without the formatting machinery:
/// every entry names the client's address).
pub(super) fn ip_str(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            out.push(b'"');
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(itoa::Buffer::new().format(octet).as_bytes());
            }
            out.push(b'"');
        }
        v6 => json_str(out, &v6.to_string()),
    }
}

/// A JSON object being written: tracks the commas.
pub(super) struct Obj<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Obj<'o> {
    pub(super) fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// Writes `"k":` for one of our own field names (plain ASCII, no
    /// escaping needed) and returns the buffer for the value.
    pub(super) fn key(&mut self, k: &'static str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// [`Obj::key`] for a key from data (escaped).
    pub(super) fn key_dyn(&mut self, k: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        json_str(self.out, k);
        self.out.push(b':');
        self.out
    }

    pub(super) fn str(&mut self, k: &'static str, v: &str) {
        json_str(self.key(k), v);
    }

    /// A value we produced that needs no escaping (hex HMACs, base64,
    /// timestamps, our constants): copied between quotes unchecked.
    pub(super) fn plain(&mut self, k: &'static str, v: &str) {
        let out = self.key(k);
        out.push(b'"');
        out.extend_from_slice(v.as_bytes());
        out.push(b'"');
    }

    pub(super) fn raw(&mut self, k: &'static str, v: &[u8]) {
        self.key(k).extend_from_slice(v);
    }

    pub(super) fn num(&mut self, k: &'static str, v: u64) {
        self.key(k)
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    pub(super) fn num_dyn(&mut self, k: &str, v: u64) {
        self.key_dyn(k)
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    pub(super) fn close(self) {
        self.out.push(b'}');
    }
}

pub(super) fn str_array(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, s);
    }
    out.push(b']');
}

pub(super) fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

pub(super) fn jsonx_value(name: Option<&str>, v: &Value, out: &mut String) {
    let tag = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    out.push_str("<json:");
    out.push_str(tag);
    if let Some(n) = name {
        out.push_str(" name=\"");
        xml_escape(n, out);
        out.push('"');
    }
    if v.is_null() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => xml_escape(s, out),
        Value::Array(items) => items.iter().for_each(|i| jsonx_value(None, i, out)),
        Value::Object(m) => m.iter().for_each(|(k, i)| jsonx_value(Some(k), i, out)),
        Value::Null => {}
    }
    out.push_str("</json:");
    out.push_str(tag);
    out.push('>');
}

/// Vault's `format=jsonx`: the entry as IBM JSONx XML, on one line.
pub(crate) fn jsonx(entry: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let mut body = String::new();
    jsonx_value(None, entry, &mut body);
    // The root element carries the JSONx namespace declarations.
    let root_attrs = " xsi:schemaLocation=\"http://www.datapower.com/schemas/json jsonx.xsd\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:json=\"http://www.ibm.com/xmlns/prod/2009/jsonx\"";
    match body.strip_prefix("<json:object") {
        Some(rest) => {
            out.push_str("<json:object");
            out.push_str(root_attrs);
            out.push_str(rest);
        }
        None => out.push_str(&body),
    }
    out
}
