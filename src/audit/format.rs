//! Audit entries in Vault's JSON shape, and the per-device transforms:
//! HMAC'ing every secret-bearing string, eliding list responses, and the
//! `jsonx` (XML) rendering.
//!
//! Every device renders its own line straight from the request, the caller
//! and the response (borrowed, never copied into a `serde_json::Value`
//! tree), with its own key and options, so two devices never share an HMAC
//! and `log_raw` on one device does not leak into another. Writing the JSON
//! directly, HMAC'ing each string as it is written, is what keeps an
//! audited request within a few microseconds of an unaudited one
//! (bench/PROFILE.md, "Audit devices").

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub(crate) use super::json::now_rfc3339;
use super::json::{ip_str, json_str, jsonx, str_array, Obj};
use crate::keyed_hmac::KeyedHmac;
use crate::logical::{LogicalError, Operation, Request, Response};

/// What audit entries report as a builtin mount's running version (Vault:
/// `v1.x.y+builtin.vault`).
const RUNNING_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"), "+builtin.strongroom");

/// Who made the request, as far as the audit entry is concerned.
pub(crate) struct Caller<'a> {
    pub(crate) client_token: &'a str,
    /// The token store's hash of the token (not secret): the key under
    /// which a device remembers the token's audit HMACs between requests.
    pub(crate) token_hash: &'a str,
    pub(crate) accessor: &'a str,
    pub(crate) display_name: &'a str,
    /// Vault's `policies`: the token's and its identity's, sorted, once each.
    pub(crate) policies: &'a [String],
    /// The token's own policies (`token_policies`; `client_id` is derived
    /// from them).
    pub(crate) token_policies: &'a [String],
    /// The policies its entity and the entity's groups grant
    /// (`identity_policies`, left out when empty, as Vault does).
    pub(crate) identity_policies: &'a [String],
    pub(crate) metadata: &'a BTreeMap<String, String>,
    /// The token's TTL in seconds (0: never expires; left out).
    pub(crate) ttl: u64,
    pub(crate) issue_time: &'a str,
    /// The token's identity entity (empty: none; left out, as Vault does).
    pub(crate) entity_id: &'a str,
}

/// The mount that serves the request.
pub(crate) struct MountInfo<'a> {
    pub(crate) path: &'a str,
    pub(crate) mount_type: &'a str,
    pub(crate) accessor: &'a str,
}

/// Everything a device needs to describe one request.
pub(crate) struct Input<'a> {
    pub(crate) req: &'a Request,
    pub(crate) caller: Option<Caller<'a>>,
    pub(crate) mount: Option<MountInfo<'a>>,
    /// Audited request headers (lower-cased name → value, hmac flag).
    pub(crate) headers: Vec<(String, String, bool)>,
    /// Set on the node that received a forwarded request: the standby's id.
    pub(crate) forwarded_from: Option<&'a str>,
    /// Each device's rendered `request` block from the request entry, which
    /// the response entry repeats byte for byte (keyed by the device's
    /// hasher address, stable while the entry pair is written).
    pub(crate) request_blocks: Mutex<Vec<(usize, Vec<u8>)>>,
}

/// One entry to record: the request before it runs, or its outcome.
pub(crate) enum Entry<'a> {
    Request {
        input: &'a Input<'a>,
        error: Option<&'a LogicalError>,
    },
    Response {
        input: &'a Input<'a>,
        result: &'a Result<Response, LogicalError>,
        /// This (standby) node handed the request to the active node.
        forwarded: bool,
    },
}

impl Entry<'_> {
    fn input(&self) -> &Input<'_> {
        match self {
            Entry::Request { input, .. } | Entry::Response { input, .. } => input,
        }
    }
}

/// Per-device rendering options (`format`, `prefix`, `log_raw`,
/// `hmac_accessor`, `elide_list_responses`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FormatOptions {
    pub(crate) jsonx: bool,
    pub(crate) prefix: String,
    pub(crate) log_raw: bool,
    pub(crate) hmac_accessor: bool,
    pub(crate) elide_list_responses: bool,
}

impl Default for FormatOptions {
    fn default() -> Self {
        Self {
            jsonx: false,
            prefix: String::new(),
            log_raw: false,
            hmac_accessor: true,
            elide_list_responses: false,
        }
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "t" => Ok(true),
        "false" | "0" | "f" | "" => Ok(false),
        _ => Err(format!("unable to parse '{key}': invalid syntax")),
    }
}

impl FormatOptions {
    pub(crate) fn from_options(options: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut out = Self::default();
        if let Some(f) = options.get("format") {
            out.jsonx = match f.as_str() {
                "json" | "" => false,
                "jsonx" => true,
                other => return Err(format!("unknown format type \"{other}\"")),
            };
        }
        if let Some(p) = options.get("prefix") {
            out.prefix = p.clone();
        }
        if let Some(v) = options.get("log_raw") {
            out.log_raw = parse_bool("log_raw", v)?;
        }
        if let Some(v) = options.get("hmac_accessor") {
            out.hmac_accessor = parse_bool("hmac_accessor", v)?;
        }
        if let Some(v) = options.get("elide_list_responses") {
            out.elide_list_responses = parse_bool("elide_list_responses", v)?;
        }
        Ok(out)
    }
}

/// `hmac-sha256:<hex>` of `input` under `key`: what `sys/audit-hash` answers
/// and what every hashed value in an entry looks like.
#[cfg(test)]
pub(crate) fn hmac_str(key: &[u8], input: &str) -> String {
    Hasher::new(key).hash(input)
}

const HMAC_PREFIX: &str = "hmac-sha256:";

/// A calling token's audit HMACs, remembered per device.
struct TokenHashes {
    client_token: String,
    accessor: String,
    /// Vault's `client_id` for a token without an entity: base64 of the
    /// SHA-256 of its sorted policies and namespace, NUL-separated.
    client_id: String,
    /// The token's issue time: a token made again under the same id (a dev
    /// root token, `id` on `auth/token/create`) is a new token.
    issue_time: String,
    /// The token's `auth` block as an allowed request shows it, rendered
    /// once: the same bytes in both entries of every request the token
    /// makes (checked against the parts of a token that can change).
    auth: OnceLock<AuthMemo>,
}

struct AuthMemo {
    ttl: u64,
    entity_id: String,
    policies: Vec<String>,
    identity_policies: Vec<String>,
    block: Vec<u8>,
}

impl AuthMemo {
    fn matches(&self, c: &Caller<'_>) -> bool {
        self.ttl == c.ttl
            && self.entity_id == c.entity_id
            && self.policies == c.policies
            && self.identity_policies == c.identity_policies
    }
}

/// The memo's key is the token store's hash of the token: an HMAC under
/// the server's key, uniform and out of any client's control, so a plain
/// multiply-xor fold over its bytes spreads it as well as SipHash, for a
/// tenth of the cost.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 =
                (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type KeyHash = std::hash::BuildHasherDefault<KeyHasher>;

/// Bound on the remembered tokens per device; the map is cleared when full
/// (a burst of distinct tokens costs a few HMACs each, nothing more).
const TOKEN_MEMO_MAX: usize = 4096;

/// One device's HMAC'ing: the key schedule is computed once per device
/// (wiped with it), and a calling token's HMACs, which every entry names
/// up to four times, are remembered by the token store's hash of the token.
pub(crate) struct Hasher {
    keyed: KeyedHmac,
    /// The HMAC of the empty string (KV v2's `deletion_time` in every read).
    empty: Vec<u8>,
    tokens: Mutex<HashMap<String, Arc<TokenHashes>, KeyHash>>,
}

impl Hasher {
    pub(crate) fn new(key: &[u8]) -> Self {
        let keyed = KeyedHmac::new(key);
        let mut empty = Vec::with_capacity(64);
        keyed.hex_into(b"", &mut empty);
        Self {
            keyed,
            empty,
            tokens: Mutex::new(HashMap::default()),
        }
    }

    pub(crate) fn hash(&self, input: &str) -> String {
        let mut out = Vec::with_capacity(HMAC_PREFIX.len() + 64);
        self.hash_into(input, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends `hmac-sha256:<hex>` (no quotes) to `out`.
    fn hash_into(&self, input: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(HMAC_PREFIX.as_bytes());
        if input.is_empty() {
            out.extend_from_slice(&self.empty);
        } else {
            self.keyed.hex_into(input.as_bytes(), out);
        }
    }

    fn token(&self, c: &Caller<'_>) -> Arc<TokenHashes> {
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = map
            .get(c.token_hash)
            .filter(|t| t.issue_time == c.issue_time)
        {
            return t.clone();
        }
        let t = Arc::new(TokenHashes {
            client_token: nonempty_hash(self, c.client_token),
            accessor: nonempty_hash(self, c.accessor),
            client_id: if c.entity_id.is_empty() {
                client_id(c.token_policies)
            } else {
                // Vault's client_id of a token with an entity is the entity.
                c.entity_id.to_string()
            },
            issue_time: c.issue_time.to_string(),
            auth: OnceLock::new(),
        });
        if !c.token_hash.is_empty() {
            if map.len() >= TOKEN_MEMO_MAX {
                map.clear();
            }
            map.insert(c.token_hash.to_string(), t.clone());
        }
        t
    }
}

fn nonempty_hash(h: &Hasher, s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        h.hash(s)
    }
}

fn client_id(policies: &[String]) -> String {
    use base64::Engine;
    let mut sorted: Vec<&str> = policies.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut d = Sha256::new();
    for p in sorted {
        d.update(p.as_bytes());
        d.update([0u8]);
    }
    d.update(b"root");
    base64::engine::general_purpose::STANDARD.encode(d.finalize())
}

fn operation_name(op: Operation) -> &'static str {
    match op {
        Operation::Read => "read",
        Operation::List => "list",
        Operation::Update => "update",
        Operation::Create => "create",
        Operation::Delete => "delete",
        Operation::Patch => "patch",
        Operation::Help => "help",
    }
}

fn mount_class(mount_point: &str) -> &'static str {
    if mount_point.starts_with("auth/") {
        "auth"
    } else {
        "secret"
    }
}

/// How strings inside a data value are written.
#[derive(Clone, Copy, PartialEq)]
enum Walk {
    /// Every string HMAC'd (request data, audited headers).
    Hash,
    /// Every string HMAC'd except a non-empty RFC 3339 timestamp under a
    /// key ending in `_time` (KV v2's `created_time`, `deletion_time`...).
    /// In Vault those values are Go `time.Time`s, which its hashstructure
    /// walk skips, so its entries show them as they are
    /// (audit-log-sample.jsonl); request data is client JSON and always
    /// hashed.
    HashResponse,
    /// As it is (`log_raw`).
    Clear,
}

/// Writes `v` with every string inside replaced by its HMAC as `walk`
/// says; keys, numbers, booleans and nulls stay as they are (Vault's
/// hashstructure walk).
fn value(out: &mut Vec<u8>, h: &Hasher, v: &Value, walk: Walk) {
    match v {
        Value::String(s) if walk != Walk::Clear => {
            out.push(b'"');
            h.hash_into(s, out);
            out.push(b'"');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, h, item, walk);
            }
            out.push(b']');
        }
        Value::Object(m) => object(out, h, m, walk, false),
        // Strings in clear, numbers, booleans, null: serde_json's text.
        other => {
            if serde_json::to_writer(&mut *out, other).is_err() {
                out.extend_from_slice(b"null");
            }
        }
    }
}

/// `elide`: Vault's `elide_list_responses` on a list response's data: `keys`
/// (and `key_info`) become their counts.
fn object(out: &mut Vec<u8>, h: &Hasher, m: &Map<String, Value>, walk: Walk, elide: bool) {
    let mut o = Obj::open(out);
    for (k, item) in m {
        if elide && (k == "keys" || k == "key_info") {
            let count = match item {
                Value::Array(a) => Some(a.len()),
                Value::Object(m) => Some(m.len()),
                _ => None,
            };
            if let Some(n) = count {
                o.num_dyn(k, n as u64);
                continue;
            }
        }
        let timestamp = walk == Walk::HashResponse
            && k.ends_with("_time")
            && item
                .as_str()
                .is_some_and(|t| !t.is_empty() && chrono::DateTime::parse_from_rfc3339(t).is_ok());
        let walk = if timestamp { Walk::Clear } else { walk };
        value(o.key_dyn(k), h, item, walk);
    }
    o.close();
}

/// One device's view while rendering a line.
struct Dev<'a> {
    h: &'a Hasher,
    opts: &'a FormatOptions,
}

impl Dev<'_> {
    fn data_walk(&self, walk: Walk) -> Walk {
        if self.opts.log_raw {
            Walk::Clear
        } else {
            walk
        }
    }

    /// A secret field: its HMAC, or the value itself under `log_raw`. Empty
    /// values stay empty (Vault hashes only non-empty tokens).
    fn secret(&self, o: &mut Obj<'_>, k: &'static str, v: &str) {
        if self.opts.log_raw || v.is_empty() {
            o.str(k, v);
        } else {
            let out = o.key(k);
            out.push(b'"');
            self.h.hash_into(v, out);
            out.push(b'"');
        }
    }

    /// An accessor: hashed unless `hmac_accessor=false`.
    fn accessor(&self, o: &mut Obj<'_>, k: &'static str, v: &str) {
        if self.opts.hmac_accessor {
            self.secret(o, k, v);
        } else {
            o.str(k, v);
        }
    }

    /// The caller's token and accessor under `token_key`/`accessor_key`,
    /// from the device's memo.
    fn caller_fields(
        &self,
        o: &mut Obj<'_>,
        c: &Caller<'_>,
        t: Option<&TokenHashes>,
        token_key: &'static str,
        accessor_key: &'static str,
    ) {
        match t {
            Some(t) => {
                o.plain(token_key, &t.client_token);
                if self.opts.hmac_accessor {
                    o.plain(accessor_key, &t.accessor);
                } else {
                    o.str(accessor_key, c.accessor);
                }
            }
            None => {
                o.str(token_key, c.client_token);
                o.str(accessor_key, c.accessor);
            }
        }
    }

    fn auth_block(
        &self,
        out: &mut Vec<u8>,
        input: &Input<'_>,
        t: Option<&TokenHashes>,
        allowed: bool,
        request_phase: bool,
    ) {
        if let (Some(c), Some(t), true) = (&input.caller, t, allowed) {
            if let Some(m) = t.auth.get().filter(|m| m.matches(c)) {
                out.extend_from_slice(&m.block);
                return;
            }
            let start = out.len();
            self.auth_block_uncached(out, input, Some(t), allowed, request_phase);
            let _ = t.auth.set(AuthMemo {
                ttl: c.ttl,
                entity_id: c.entity_id.to_string(),
                policies: c.policies.to_vec(),
                identity_policies: c.identity_policies.to_vec(),
                block: out[start..].to_vec(),
            });
            return;
        }
        self.auth_block_uncached(out, input, t, allowed, request_phase);
    }

    fn auth_block_uncached(
        &self,
        out: &mut Vec<u8>,
        input: &Input<'_>,
        t: Option<&TokenHashes>,
        allowed: bool,
        request_phase: bool,
    ) {
        let mut o = Obj::open(out);
        let Some(c) = &input.caller else {
            // An unauthenticated request that passed routing (a login):
            // Vault's request entry records the (empty) policy check.
            if request_phase && allowed && input.mount.is_some() {
                o.raw("policy_results", b"{\"allowed\":true}");
            }
            o.str("token_type", "default");
            o.close();
            return;
        };
        self.caller_fields(&mut o, c, t, "client_token", "accessor");
        o.str("display_name", c.display_name);
        if !c.entity_id.is_empty() {
            o.str("entity_id", c.entity_id);
        }
        str_array(o.key("policies"), c.policies);
        str_array(o.key("token_policies"), c.token_policies);
        if !c.identity_policies.is_empty() {
            str_array(o.key("identity_policies"), c.identity_policies);
        }
        if !c.metadata.is_empty() {
            let mut m = Obj::open(o.key("metadata"));
            for (k, v) in c.metadata {
                json_str(m.key_dyn(k), v);
            }
            m.close();
        }
        {
            let mut p = Obj::open(o.key("policy_results"));
            p.raw("allowed", if allowed { b"true" } else { b"false" });
            if allowed && c.policies.iter().any(|p| p == "root") {
                p.raw(
                    "granting_policies",
                    b"[{\"name\":\"root\",\"namespace_id\":\"root\",\"type\":\"acl\"}]",
                );
            }
            p.close();
        }
        o.plain("token_type", "service");
        if c.ttl > 0 {
            o.num("token_ttl", c.ttl);
        }
        o.str("token_issue_time", c.issue_time);
        o.close();
    }

    fn mount_fields(
        &self,
        o: &mut Obj<'_>,
        mount: &Option<MountInfo<'_>>,
        version_key: &'static str,
    ) {
        if let Some(mi) = mount {
            o.str("mount_point", mi.path);
            o.str("mount_type", mi.mount_type);
            if !mi.accessor.is_empty() {
                o.str("mount_accessor", mi.accessor);
            }
            o.plain(version_key, RUNNING_VERSION);
            o.plain("mount_class", mount_class(mi.path));
        }
    }

    fn request_block(&self, out: &mut Vec<u8>, input: &Input<'_>, t: Option<&TokenHashes>) {
        let req = input.req;
        let mut o = Obj::open(out);
        o.str("id", &req.id);
        if let Some(t) = t {
            o.plain("client_id", &t.client_id);
        }
        o.plain("operation", operation_name(req.operation));
        self.mount_fields(&mut o, &input.mount, "mount_running_version");
        if let Some(c) = &input.caller {
            self.caller_fields(&mut o, c, t, "client_token", "client_token_accessor");
        }
        o.raw("namespace", b"{\"id\":\"root\"}");
        o.str("path", &req.path);
        if !req.data.is_empty() {
            object(
                o.key("data"),
                self.h,
                &req.data,
                self.data_walk(Walk::Hash),
                false,
            );
        }
        if let Some(ip) = req.remote_addr {
            ip_str(o.key("remote_address"), ip);
        }
        if let Some(port) = req.remote_port {
            o.num("remote_port", u64::from(port));
        }
        if let Some(ttl) = req.header("x-vault-wrap-ttl") {
            if let Ok(secs) = crate::logical::parse_duration_str(ttl) {
                o.num("wrap_ttl", secs);
            }
        }
        if !input.headers.is_empty() {
            let mut sorted: Vec<&(String, String, bool)> = input.headers.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let mut hdrs = Obj::open(o.key("headers"));
            for (k, v, hmac) in sorted {
                let out = hdrs.key_dyn(k);
                out.push(b'[');
                if *hmac && !self.opts.log_raw {
                    out.push(b'"');
                    self.h.hash_into(v, out);
                    out.push(b'"');
                } else {
                    json_str(out, v);
                }
                out.push(b']');
            }
            hdrs.close();
        }
        if let Some(from) = input.forwarded_from {
            o.str("forwarded_from", from);
        }
        o.close();
    }

    /// A login's `auth` block in the response: the token and accessor
    /// hashed, everything else as the client sees it.
    fn response_auth(&self, out: &mut Vec<u8>, auth: &crate::logical::Auth) {
        let v = auth.to_json();
        let mut o = Obj::open(out);
        if let Some(m) = v.as_object() {
            for (k, item) in m {
                match (k.as_str(), item) {
                    (_, Value::Null) => {}
                    ("client_token", Value::String(s)) => self.secret(&mut o, "client_token", s),
                    ("accessor", Value::String(s)) => self.accessor(&mut o, "accessor", s),
                    _ => value(o.key_dyn(k), self.h, item, Walk::Clear),
                }
            }
        }
        o.close();
    }

    fn wrap_info(&self, out: &mut Vec<u8>, w: &Value) {
        let Some(m) = w.as_object() else {
            value(out, self.h, w, Walk::Clear);
            return;
        };
        let mut o = Obj::open(out);
        for (k, item) in m {
            match (k.as_str(), item) {
                ("token", Value::String(s)) => self.secret(&mut o, "token", s),
                ("accessor", Value::String(s)) => self.accessor(&mut o, "accessor", s),
                ("wrapped_accessor", Value::String(s)) => {
                    self.accessor(&mut o, "wrapped_accessor", s)
                }
                _ => value(o.key_dyn(k), self.h, item, Walk::Clear),
            }
        }
        o.close();
    }

    fn response_block(
        &self,
        out: &mut Vec<u8>,
        input: &Input<'_>,
        result: &Result<Response, LogicalError>,
        forwarded: bool,
    ) {
        let is_list = input.req.operation == Operation::List;
        let elide = self.opts.elide_list_responses && is_list;
        let mut o = Obj::open(out);
        self.mount_fields(&mut o, &input.mount, "mount_running_plugin_version");
        match result {
            Ok(resp) => {
                if let Some(a) = &resp.auth {
                    self.response_auth(o.key("auth"), a);
                }
                let data = resp
                    .data
                    .as_ref()
                    .or_else(|| resp.raw.as_ref().and_then(Value::as_object));
                if let Some(d) = data {
                    object(
                        o.key("data"),
                        self.h,
                        d,
                        self.data_walk(Walk::HashResponse),
                        elide,
                    );
                }
                if !resp.warnings.is_empty() {
                    str_array(o.key("warnings"), &resp.warnings);
                }
                if let Some(w) = &resp.wrap_info {
                    self.wrap_info(o.key("wrap_info"), w);
                }
            }
            Err(LogicalError::Standby(_)) => {}
            Err(e) => {
                let mut d = Obj::open(o.key("data"));
                let text = e.to_string();
                if self.opts.log_raw {
                    d.str("error", &text);
                } else {
                    self.secret(&mut d, "error", &text);
                }
                d.close();
            }
        }
        if forwarded {
            o.raw("forwarded", b"true");
        }
        o.close();
    }

    fn render_json(&self, entry: &Entry<'_>, time: &str, out: &mut Vec<u8>) {
        let input = entry.input();
        let t = match (&input.caller, self.opts.log_raw) {
            (Some(c), false) => Some(self.h.token(c)),
            _ => None,
        };
        let t = t.as_deref();
        let mut o = Obj::open(out);
        o.plain("time", time);
        match entry {
            Entry::Request { error, .. } => {
                o.plain("type", "request");
                self.auth_block(o.key("auth"), input, t, error.is_none(), true);
                let out = o.key("request");
                let start = out.len();
                self.request_block(out, input, t);
                let block = out[start..].to_vec();
                let id = self.h as *const Hasher as usize;
                input
                    .request_blocks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((id, block));
                if let Some(e) = error {
                    o.str("error", &e.to_string());
                }
            }
            Entry::Response {
                result, forwarded, ..
            } => {
                o.plain("type", "response");
                let allowed = !matches!(
                    result,
                    Err(LogicalError::PermissionDenied | LogicalError::PermissionDeniedPolicy)
                );
                self.auth_block(o.key("auth"), input, t, allowed, false);
                let id = self.h as *const Hasher as usize;
                let cached = {
                    let blocks = input
                        .request_blocks
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    blocks
                        .iter()
                        .find(|(d, _)| *d == id)
                        .map(|(_, b)| o.key("request").extend_from_slice(b))
                        .is_some()
                };
                if !cached {
                    self.request_block(o.key("request"), input, t);
                }
                self.response_block(o.key("response"), input, result, *forwarded);
                if let Err(e) = result {
                    if !matches!(e, LogicalError::Standby(_)) {
                        o.str("error", &e.to_string());
                    }
                }
            }
        }
        o.close();
    }
}

/// One device's line for `entry`: prefix, JSON (or JSONx), newline.
/// `time` is the entry's timestamp (the same on every device).
pub(crate) fn render_line(
    entry: &Entry<'_>,
    hasher: &Hasher,
    opts: &FormatOptions,
    time: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(1536);
    render_line_into(entry, hasher, opts, time, &mut out);
    out
}

/// [`render_line`] appended to `out` (a KV read's response entry goes
/// right after its request entry, in the same buffer).
pub(crate) fn render_line_into(
    entry: &Entry<'_>,
    hasher: &Hasher,
    opts: &FormatOptions,
    time: &str,
    out: &mut Vec<u8>,
) {
    let dev = Dev { h: hasher, opts };
    out.extend_from_slice(opts.prefix.as_bytes());
    if opts.jsonx {
        let mut json = Vec::with_capacity(1536);
        dev.render_json(entry, time, &mut json);
        let v: Value = serde_json::from_slice(&json).unwrap_or(Value::Null);
        out.extend_from_slice(jsonx(&v).as_bytes());
    } else {
        dev.render_json(entry, time, out);
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::json::{needs_escape, rfc3339_at};
    use serde_json::json;

    /// `v` as the writer renders it with `walk`, parsed back.
    fn walked(h: &Hasher, v: &Value, walk: Walk) -> Value {
        let mut out = Vec::new();
        value(&mut out, h, v, walk);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn hmac_matches_openbao_capture() {
        // The capture's device key is unknown, so check the shape and that
        // the same key gives the same answer.
        let a = hmac_str(b"k", "root");
        assert!(a.starts_with("hmac-sha256:"));
        assert_eq!(a.len(), "hmac-sha256:".len() + 64);
        assert_eq!(a, hmac_str(b"k", "root"));
        assert_ne!(a, hmac_str(b"other", "root"));
    }

    #[test]
    fn hmac_is_hmac_sha256() {
        use hmac::{Hmac, Mac};
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"k").unwrap();
        m.update(b"root");
        let want = format!("hmac-sha256:{}", hex::encode(m.finalize().into_bytes()));
        assert_eq!(hmac_str(b"k", "root"), want);
    }

    #[test]
    fn walker_hashes_strings_only() {
        let v = json!({"a": "x", "n": 1, "b": true, "z": null, "l": ["y", 2], "o": {"k": "v"}});
        let v = walked(&Hasher::new(b"k"), &v, Walk::Hash);
        assert_eq!(v["a"], hmac_str(b"k", "x"));
        assert_eq!(v["n"], 1);
        assert_eq!(v["b"], true);
        assert!(v["z"].is_null());
        assert_eq!(v["l"][0], hmac_str(b"k", "y"));
        assert_eq!(v["l"][1], 2);
        assert_eq!(v["o"]["k"], hmac_str(b"k", "v"));
        assert!(v["o"].get("k").is_some(), "keys stay in clear");
    }

    #[test]
    fn response_timestamps_stay_in_clear() {
        // As in audit-log-sample.jsonl: created_time in clear, an empty
        // deletion_time hashed, a secret that looks like a time hashed.
        let v = json!({"metadata": {"created_time": "2026-12-01T12:49:23.799182122Z",
            "deletion_time": "", "version": 1},
            "data": {"rotate_time": "soon", "when": "2026-12-01T12:49:23Z"}});
        let v = walked(&Hasher::new(b"k"), &v, Walk::HashResponse);
        assert_eq!(
            v["metadata"]["created_time"],
            "2026-12-01T12:49:23.799182122Z"
        );
        assert_eq!(v["metadata"]["deletion_time"], hmac_str(b"k", ""));
        assert_eq!(v["data"]["rotate_time"], hmac_str(b"k", "soon"));
        assert_eq!(v["data"]["when"], hmac_str(b"k", "2026-12-01T12:49:23Z"));
    }

    #[test]
    fn elide_replaces_keys_by_count() {
        let d = json!({"keys": ["a", "b", "c"], "key_info": {"a": {}}, "other": "x"})
            .as_object()
            .cloned()
            .unwrap();
        let mut out = Vec::new();
        object(&mut out, &Hasher::new(b"k"), &d, Walk::Clear, true);
        let d: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(d["keys"], 3);
        assert_eq!(d["key_info"], 1);
        assert_eq!(d["other"], "x");
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        for s in [
            "plain",
            "q\"b\\s",
            "nl\n\r\t\u{8}\u{c}",
            "ctl\u{1}\u{1f}",
            "ünï€😀",
            "",
        ] {
            let mut out = Vec::new();
            json_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
        for ip in ["0.0.0.0", "127.0.0.5", "10.200.3.255", "::1", "fe80::1"] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            let mut out = Vec::new();
            ip_str(&mut out, ip);
            assert_eq!(out, serde_json::to_vec(&ip.to_string()).unwrap(), "{ip}");
        }
    }

    #[test]
    fn jsonx_renders_xml() {
        let x = jsonx(&json!({"a": "<x>", "n": 1, "l": [true, null]}));
        assert!(x.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><json:object xsi:schemaLocation="
        ));
        assert!(x.contains("<json:string name=\"a\">&lt;x&gt;</json:string>"));
        assert!(x.contains("<json:number name=\"n\">1</json:number>"));
        assert!(x.contains(
            "<json:array name=\"l\"><json:boolean>true</json:boolean><json:null/></json:array>"
        ));
        assert!(x.ends_with("</json:object>"));
    }

    fn line(entry: &Entry<'_>, opts: &FormatOptions) -> Value {
        let h = Hasher::new(b"k");
        let l = render_line(entry, &h, opts, "2026-12-01T00:00:00Z");
        assert!(l.ends_with(b"\n"));
        serde_json::from_slice(&l[opts.prefix.len()..]).unwrap()
    }

    #[test]
    fn device_view_hashes_secrets_and_honours_options() {
        let mut req = Request::new(Operation::List, "secret/metadata/");
        req.data = json!({"password": "pw", "n": 5})
            .as_object()
            .cloned()
            .unwrap();
        req.client_token = Some("tok".into());
        let policies = vec!["root".to_string()];
        let meta = BTreeMap::new();
        let caller = || Caller {
            client_token: "tok",
            token_hash: "h1",
            accessor: "acc",
            display_name: "token",
            policies: &policies,
            token_policies: &policies,
            identity_policies: &[],
            metadata: &meta,
            ttl: 0,
            issue_time: "2026-12-01T00:00:00Z",
            entity_id: "",
        };
        let input = Input {
            req: &req,
            caller: Some(caller()),
            mount: None,
            headers: vec![
                ("x-a".into(), "va".into(), true),
                ("x-b".into(), "vb".into(), false),
            ],
            forwarded_from: None,
            request_blocks: Default::default(),
        };
        let resp = Response {
            data: json!({"keys": ["k1", "k2"]}).as_object().cloned(),
            wrap_info: Some(json!({"token": "wt", "accessor": "wa", "ttl": 60})),
            ..Default::default()
        };
        let result = Ok(resp);
        let entry = Entry::Response {
            input: &input,
            result: &result,
            forwarded: false,
        };
        let opts = FormatOptions::default();
        let v = line(&entry, &opts);
        let s = v.to_string();
        for secret in ["\"tok\"", "\"acc\"", "\"pw\"", "\"wt\"", "\"wa\"", "\"va\""] {
            assert!(!s.contains(secret), "{secret} in {s}");
        }
        assert_eq!(v["request"]["headers"]["x-b"][0], "vb");
        assert_eq!(v["request"]["data"]["n"], 5);
        assert_eq!(v["auth"]["policies"][0], "root");
        assert_eq!(v["response"]["wrap_info"]["ttl"], 60);
        assert_eq!(v["auth"]["client_token"], hmac_str(b"k", "tok"));
        assert_eq!(v["request"]["client_token_accessor"], hmac_str(b"k", "acc"));
        assert_eq!(
            v["request"]["client_id"], "0DHqvq2D77kL2/JTPSZkTMJbkFVmUu0TzMi0jiXcFy8=",
            "as OpenBao's capture for a root token"
        );
        assert_eq!(v["response"]["data"]["keys"][0], hmac_str(b"k", "k1"));

        let no_acc = FormatOptions {
            hmac_accessor: false,
            elide_list_responses: true,
            prefix: "AUDIT:".into(),
            ..Default::default()
        };
        let v = line(&entry, &no_acc);
        assert_eq!(v["auth"]["accessor"], "acc");
        assert_eq!(v["response"]["data"]["keys"], 2);

        let raw_opts = FormatOptions {
            log_raw: true,
            ..Default::default()
        };
        let v = line(&entry, &raw_opts);
        assert_eq!(v["auth"]["client_token"], "tok");
        assert_eq!(v["request"]["data"]["password"], "pw");
        assert_eq!(v["response"]["wrap_info"]["token"], "wt");
        assert_eq!(v["request"]["headers"]["x-a"][0], "va");

        let jsonx_opts = FormatOptions {
            jsonx: true,
            ..Default::default()
        };
        let h = Hasher::new(b"k");
        let x = String::from_utf8(render_line(&entry, &h, &jsonx_opts, "t")).unwrap();
        assert!(x.starts_with("<?xml") && x.ends_with("</json:object>\n"));
        assert!(!x.contains(">tok<") && !x.contains(">pw<"));
    }

    #[test]
    fn request_entry_fields() {
        let mut req = Request::new(Operation::Update, "auth/userpass/login/erin");
        req.data = json!({"password": "hunter2"}).as_object().cloned().unwrap();
        req.remote_addr = Some("127.0.0.1".parse().unwrap());
        req.remote_port = Some(60174);
        let input = Input {
            req: &req,
            caller: None,
            mount: Some(MountInfo {
                path: "auth/userpass/",
                mount_type: "userpass",
                accessor: "auth_userpass_1",
            }),
            headers: Vec::new(),
            forwarded_from: Some("node-b"),
            request_blocks: Default::default(),
        };
        let v = line(
            &Entry::Request {
                input: &input,
                error: None,
            },
            &FormatOptions::default(),
        );
        assert_eq!(v["type"], "request");
        assert_eq!(
            v["auth"],
            json!({"policy_results": {"allowed": true}, "token_type": "default"})
        );
        let r = &v["request"];
        assert_eq!(r["operation"], "update");
        assert_eq!(r["mount_class"], "auth");
        assert_eq!(r["mount_accessor"], "auth_userpass_1");
        assert_eq!(r["mount_running_version"], RUNNING_VERSION);
        assert_eq!(r["namespace"]["id"], "root");
        assert_eq!(r["remote_address"], "127.0.0.1");
        assert_eq!(r["remote_port"], 60174);
        assert_eq!(r["forwarded_from"], "node-b");
        assert_eq!(r["data"]["password"], hmac_str(b"k", "hunter2"));

        let err = LogicalError::bad("invalid credentials");
        let result = Err(err);
        let v = line(
            &Entry::Response {
                input: &input,
                result: &result,
                forwarded: true,
            },
            &FormatOptions::default(),
        );
        assert_eq!(v["error"], "invalid credentials");
        assert_eq!(
            v["response"]["data"]["error"],
            hmac_str(b"k", "invalid credentials")
        );
        assert_eq!(v["response"]["forwarded"], true);
        assert_eq!(
            v["response"]["mount_running_plugin_version"],
            RUNNING_VERSION
        );
    }

    #[test]
    fn options_parse() {
        let mut o = BTreeMap::new();
        o.insert("format".to_string(), "jsonx".to_string());
        o.insert("hmac_accessor".to_string(), "false".to_string());
        let f = FormatOptions::from_options(&o).unwrap();
        assert!(f.jsonx && !f.hmac_accessor);
        o.insert("format".to_string(), "yaml".to_string());
        assert!(FormatOptions::from_options(&o).is_err());
    }

    fn entity_caller<'a>(
        policies: &'a [String],
        token_policies: &'a [String],
        identity_policies: &'a [String],
        meta: &'a BTreeMap<String, String>,
    ) -> Caller<'a> {
        Caller {
            client_token: "tok",
            token_hash: "h-entity",
            accessor: "acc",
            display_name: "userpass-ivy",
            policies,
            token_policies,
            identity_policies,
            metadata: meta,
            ttl: 60,
            issue_time: "2026-12-01T00:00:00Z",
            entity_id: "ent-1",
        }
    }

    /// The memoized auth block is the block as rendered, and a change of
    /// the entity's policies is seen on the next entry.
    #[test]
    fn auth_block_memo_follows_identity_changes() {
        let h = Hasher::new(b"k");
        let opts = FormatOptions::default();
        let req = Request::new(Operation::Read, "secret/data/x");
        let meta = BTreeMap::new();
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let token = s(&["default"]);
        let render = |all: &[String], id: &[String]| -> Value {
            let input = Input {
                req: &req,
                caller: Some(entity_caller(all, &token, id, &meta)),
                mount: None,
                headers: Vec::new(),
                forwarded_from: None,
                request_blocks: Default::default(),
            };
            let e = Entry::Request {
                input: &input,
                error: None,
            };
            serde_json::from_slice(&render_line(&e, &h, &opts, "t")).unwrap()
        };
        let (all1, id1) = (s(&["default", "e1"]), s(&["e1"]));
        let first = render(&all1, &id1);
        let again = render(&all1, &id1);
        assert_eq!(first["auth"], again["auth"]);
        assert_eq!(first["auth"]["policies"], json!(["default", "e1"]));
        assert_eq!(first["auth"]["token_policies"], json!(["default"]));
        assert_eq!(first["auth"]["identity_policies"], json!(["e1"]));
        assert_eq!(first["auth"]["token_ttl"], 60);
        assert_eq!(first["request"]["client_id"], "ent-1");
        let (all2, id2) = (s(&["default", "e2"]), s(&["e2"]));
        let changed = render(&all2, &id2);
        assert_eq!(changed["auth"]["identity_policies"], json!(["e2"]));
        assert_eq!(changed["auth"]["policies"], json!(["default", "e2"]));
        // Denied: rendered afresh, never from the allowed memo.
        let input = Input {
            req: &req,
            caller: Some(entity_caller(&all1, &token, &id1, &meta)),
            mount: None,
            headers: Vec::new(),
            forwarded_from: None,
            request_blocks: Default::default(),
        };
        let denied = LogicalError::PermissionDenied;
        let e = Entry::Request {
            input: &input,
            error: Some(&denied),
        };
        let v: Value = serde_json::from_slice(&render_line(&e, &h, &opts, "t")).unwrap();
        assert_eq!(v["auth"]["policy_results"]["allowed"], false);
    }

    #[test]
    fn time_matches_chrono_and_caches_the_second() {
        for (secs, nanos) in [
            (0u64, 0u32),
            (1_795_676_993, 881_035_443),
            (1_795_676_993, 881_000_000),
            (1_795_676_994, 5),
            (951_782_400, 100), // 2000-02-29
        ] {
            let want = chrono::DateTime::from_timestamp(secs as i64, nanos)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            let got = rfc3339_at(secs, nanos);
            // chrono rounds the fraction to 3/6/9 digits; Go trims zeros.
            let trimmed = |t: &str| -> String {
                match t.trim_end_matches('Z').split_once('.') {
                    Some((a, f)) => format!("{a}.{}Z", f.trim_end_matches('0')),
                    None => t.to_string(),
                }
            };
            assert_eq!(got, trimmed(&want), "{secs} {nanos}");
        }
    }

    #[test]
    fn escape_check_matches_the_bytewise_rule() {
        let slow = |b: &[u8]| b.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"secret/data/app".to_vec(),
            "caf\u{e9} \u{1f600} long enough to span words"
                .as_bytes()
                .to_vec(),
        ];
        for special in [
            0u8, 0x1f, b'"', b'\\', 0x20, 0x7f, 0x80, 0xff, b'!', b'#', b'[', b']',
        ] {
            for at in 0..19 {
                let mut v = b"abcdefghijklmnopqrs".to_vec();
                v[at] = special;
                cases.push(v);
            }
        }
        for c in cases {
            assert_eq!(needs_escape(&c), slow(&c), "{c:?}");
        }
        let mut out = Vec::new();
        ip_str(&mut out, "10.0.255.7".parse().unwrap());
        ip_str(&mut out, "::1".parse().unwrap());
        assert_eq!(out, b"\"10.0.255.7\"\"::1\"");
    }

    #[test]
    fn time_trims_zeros() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z'));
        if let Some((_, frac)) = t.trim_end_matches('Z').split_once('.') {
            assert!(!frac.ends_with('0'));
        }
        assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok(), "{t}");
    }
}
