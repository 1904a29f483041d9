//! `kv put|get|patch|list|delete|undelete|destroy|metadata`: the same path
//! magic as `vault kv`. A preflight `GET sys/internal/ui/mounts/<path>`
//! tells the mount and its KV version; for v2 the API prefix (`data/`,
//! `metadata/`, ...) goes right after the mount, for v1 the path is used
//! as typed.

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::api::{ApiError, Body, ClientError, Secret, VaultClient};
use super::args_data::parse_args_data;
use super::format::{
    self, err, header_for_map, out, output_map, output_path, output_secret, print_field,
    print_warnings, raw_field, Format,
};
use super::{expect_one, parse_go_bool, sanitize_path, usage, CommonArgs, Session};

#[derive(Subcommand, Debug)]
pub(crate) enum KvCommand {
    /// Write data; for KV v2 this creates a new version.
    Put(KvWriteArgs),
    /// Read the data at a path.
    Get(KvGetArgs),
    /// Update some keys of the latest version without replacing the others.
    Patch(KvPatchArgs),
    /// List the keys under a path.
    List(KvPathArgs),
    /// Delete the latest version (or -versions) of a secret.
    Delete(KvVersionsArgs),
    /// Restore deleted versions (KV v2).
    Undelete(KvVersionsArgs),
    /// Permanently remove versions (KV v2).
    Destroy(KvVersionsArgs),
    /// Interact with a secret's metadata (KV v2).
    Metadata {
        #[command(subcommand)]
        cmd: KvMetadataCommand,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum KvMetadataCommand {
    /// Show the metadata and versions of a secret.
    Get(KvPathArgs),
    /// Delete all versions and the metadata of a secret.
    Delete(KvPathArgs),
}

#[derive(Args, Debug)]
pub(crate) struct KvPathArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Where the KV engine is mounted; the argument is then the secret path.
    #[arg(long)]
    pub(crate) mount: Option<String>,
    /// Print only this field.
    #[arg(long)]
    pub(crate) field: Option<String>,
    /// PATH
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct KvGetArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[arg(long)]
    pub(crate) mount: Option<String>,
    /// Print only this field of the data.
    #[arg(long)]
    pub(crate) field: Option<String>,
    /// Read this version instead of the latest (KV v2).
    #[arg(long, default_value_t = 0)]
    pub(crate) version: u64,
    /// PATH
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct KvWriteArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[arg(long)]
    pub(crate) mount: Option<String>,
    #[arg(long)]
    pub(crate) field: Option<String>,
    /// Check-and-set: 0 writes only if the key does not exist, N only if
    /// the current version is N (KV v2); -1 disables the check.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub(crate) cas: i64,
    /// PATH followed by K=V pairs (`k=@file`, `k=-`, or `-` for JSON on stdin).
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct KvPatchArgs {
    #[command(flatten)]
    pub(crate) write: KvWriteArgs,
    /// "patch" (HTTP PATCH, the default) or "rw" (read, merge, write).
    #[arg(long, default_value = "patch")]
    pub(crate) method: String,
}

#[derive(Args, Debug)]
pub(crate) struct KvVersionsArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[arg(long)]
    pub(crate) mount: Option<String>,
    /// Comma-separated versions to act on (repeatable).
    #[arg(long, value_delimiter = ',')]
    pub(crate) versions: Vec<String>,
    /// Accepted for Vault compatibility; kv commands never prompt.
    #[arg(
        long = "non-interactive",
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) non_interactive: bool,
    /// PATH
    pub(crate) args: Vec<String>,
}

pub(crate) fn run(cmd: KvCommand) -> u8 {
    let result = match cmd {
        KvCommand::Put(a) => put(a),
        KvCommand::Get(a) => get(a),
        KvCommand::Patch(a) => patch(a),
        KvCommand::List(a) => list(a),
        KvCommand::Delete(a) => delete(a),
        KvCommand::Undelete(a) => versions_op(a, VersionsOp::Undelete),
        KvCommand::Destroy(a) => versions_op(a, VersionsOp::Destroy),
        KvCommand::Metadata {
            cmd: KvMetadataCommand::Get(a),
        } => metadata_get(a),
        KvCommand::Metadata {
            cmd: KvMetadataCommand::Delete(a),
        } => metadata_delete(a),
    };
    result.unwrap_or_else(|code| code)
}

/// What the preflight learned: the mount path (`secret/`) and whether it
/// is KV version 2.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct MountInfo {
    pub(crate) path: String,
    pub(crate) v2: bool,
}

impl MountInfo {
    /// Reads `data.path` and `data.options.version` of the preflight answer.
    pub(crate) fn from_secret(secret: &Secret) -> Self {
        let data = secret.data();
        let path = data
            .and_then(|d| d.get("path"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let version = data
            .and_then(|d| d.get("options"))
            .and_then(|o| o.get("version"))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        Self {
            path,
            v2: version.as_deref() == Some("2"),
        }
    }
}

/// Asks the server which mount serves `path`. A 403 is reported as Vault
/// does (the token may not touch that path); any other failure means "KV
/// v1 at an unknown mount", so plain v1 paths work without the endpoint.
fn preflight(client: &VaultClient, path: &str) -> Result<MountInfo, u8> {
    match client.get(&format!("sys/internal/ui/mounts/{path}")) {
        Ok(Some(secret)) => Ok(MountInfo::from_secret(&secret)),
        Err(e @ ClientError::Api(ApiError { status: 403, .. })) => {
            err(&e.to_string());
            Err(2)
        }
        _ => Ok(MountInfo::default()),
    }
}

/// A KV path resolved against its mount.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KvTarget {
    /// The secret path; for v2 with `-mount`, already joined to the mount.
    partial: String,
    mount: MountInfo,
    mount_flag: bool,
}

impl KvTarget {
    /// Vault's handling of `secret/foo` versus `-mount=secret foo`.
    pub(crate) fn resolve<E>(
        arg: &str,
        mount_flag: Option<&str>,
        lookup: impl FnOnce(&str) -> Result<MountInfo, E>,
    ) -> Result<Self, E> {
        let partial = sanitize_path(arg);
        match mount_flag.map(sanitize_path).filter(|m| !m.is_empty()) {
            Some(flag) => {
                let mut mount = lookup(&flag)?;
                if mount.path.is_empty() {
                    // The preflight failed: trust the flag for the mount.
                    mount.path = format!("{flag}/");
                }
                let partial = if mount.v2 {
                    go_path_join(&[&mount.path, &partial])
                } else {
                    partial
                };
                Ok(Self {
                    partial,
                    mount,
                    mount_flag: true,
                })
            }
            None => Ok(Self {
                mount: lookup(&partial)?,
                partial,
                mount_flag: false,
            }),
        }
    }

    pub(crate) fn v2(&self) -> bool {
        self.mount.v2
    }

    /// The API path: `<mount>/<prefix>/<rest>` for v2, else the v1 path.
    pub(crate) fn full_path(&self, prefix: &str) -> String {
        if self.mount.v2 {
            add_prefix_to_kv_path(&self.partial, &self.mount.path, prefix)
        } else if self.mount_flag {
            go_path_join(&[&self.mount.path, &self.partial])
        } else {
            self.partial.clone()
        }
    }
}

/// Vault's `addPrefixToKVPath` (without `skipIfExists`): inserts the API
/// prefix after the mount, also when the path omits a namespace part of
/// the mount path.
pub(crate) fn add_prefix_to_kv_path(path: &str, mount_path: &str, prefix: &str) -> String {
    if path == mount_path || path == mount_path.trim_end_matches('/') {
        return go_path_join(&[mount_path, prefix]);
    }
    let mut mount = mount_path.to_string();
    let mut suffix = path
        .strip_prefix(mount.as_str())
        .unwrap_or(path)
        .to_string();
    while suffix == path {
        let Some((_, rest)) = mount.split_once('/') else {
            break;
        };
        if rest.is_empty() {
            break;
        }
        mount = rest.trim_end_matches('/').to_string();
        suffix = suffix
            .strip_prefix(mount.as_str())
            .unwrap_or(&suffix)
            .to_string();
    }
    go_path_join(&[&mount, prefix, &suffix])
}

/// Go's `path.Join`: non-empty elements joined by `/`, then cleaned
/// (`.`/`..` resolved, duplicate and trailing slashes dropped).
pub(crate) fn go_path_join(elems: &[&str]) -> String {
    let parts: Vec<&str> = elems.iter().copied().filter(|e| !e.is_empty()).collect();
    if parts.is_empty() {
        return String::new();
    }
    go_path_clean(&parts.join("/"))
}

fn go_path_clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Opens the session and resolves the single path argument.
fn target(common: &CommonArgs, mount: Option<&str>, path: &str) -> Result<(Session, KvTarget), u8> {
    let session = Session::open_or_report(common)?;
    let target = KvTarget::resolve(path, mount, |p| preflight(&session.client, p))?;
    Ok((session, target))
}

/// Reads the K=V arguments from the real stdin; errors are Vault's.
fn data_args(args: &[String]) -> Result<Map<String, Value>, u8> {
    let mut stdin = std::io::stdin().lock();
    parse_args_data(args, &mut stdin).or_else(|e| usage(&format!("Failed to parse K=V data: {e}")))
}

/// `put`/`patch` need a path and at least one K=V argument.
fn check_write_args(args: &[String]) -> Result<(), u8> {
    match args.len() {
        0 => usage("Not enough arguments (expected >1, got 0)"),
        1 => usage("Must supply data"),
        _ => Ok(()),
    }
}

/// The KV v2 write body: the data plus `options.cas` when asked for.
fn v2_body(data: Map<String, Value>, cas: Option<Value>) -> Value {
    let mut options = Map::new();
    if let Some(cas) = cas {
        options.insert("cas".into(), cas);
    }
    json!({"data": data, "options": options})
}

fn put(a: KvWriteArgs) -> Result<u8, u8> {
    check_write_args(&a.args)?;
    let session = Session::open_or_report(&a.common)?;
    let data = data_args(&a.args[1..])?;
    let target = KvTarget::resolve(&a.args[0], a.mount.as_deref(), |p| {
        preflight(&session.client, p)
    })?;
    let full = target.full_path("data");
    let body = if target.v2() {
        v2_body(data, (a.cas > -1).then(|| Value::from(a.cas)))
    } else {
        Value::Object(data)
    };
    match session.client.put(&full, &body) {
        Err(e) => {
            err(&format!("Error writing data to {full}: {e}"));
            Ok(2)
        }
        Ok(None) => {
            if session.format == Format::Table {
                out(&format!("Success! Data written to: {full}"));
            }
            Ok(0)
        }
        Ok(Some(secret)) => Ok(show_written(&session, &secret, &full, a.field.as_deref())),
    }
}

/// The output of a successful `put`/`patch`: the new version's metadata.
fn show_written(session: &Session, secret: &Secret, full: &str, field: Option<&str>) -> u8 {
    if let Some(field) = field {
        return print_field(session.format, raw_field(secret, field), field);
    }
    let wrapped = secret
        .object("wrap_info")
        .is_some_and(|w| w.get("ttl").and_then(Value::as_i64).unwrap_or(0) != 0);
    if wrapped || session.format != Format::Table {
        output_secret(session.format, secret);
        return 0;
    }
    output_path(full, "Secret Path");
    let metadata = secret.data().cloned().unwrap_or_default();
    out(&header_for_map("Metadata", &metadata));
    output_map(session.format, &metadata);
    0
}

fn get(a: KvGetArgs) -> Result<u8, u8> {
    let path = expect_one(&a.args)?;
    let (session, target) = target(&a.common, a.mount.as_deref(), path)?;
    let full = target.full_path("data");
    let query: Vec<(String, String)> = if target.v2() && a.version > 0 {
        vec![("version".into(), a.version.to_string())]
    } else {
        Vec::new()
    };
    let secret = match session.client.read("GET", &full, &query) {
        Err(e) => {
            err(&format!("Error reading {full}: {e}"));
            return Ok(2);
        }
        Ok(None) => {
            err(&format!("No value found at {full}"));
            return Ok(2);
        }
        Ok(Some(s)) => s,
    };
    if let Some(field) = a.field.as_deref() {
        return Ok(get_field(&session, &secret, &target, &full, field));
    }
    if session.format != Format::Table || secret.object("wrap_info").is_some() {
        output_secret(session.format, &secret);
        return Ok(0);
    }
    print_warnings(&secret);
    if target.v2() {
        output_path(&full, "Secret Path");
    }
    let data = secret.data();
    if let Some(metadata) = data
        .and_then(|d| d.get("metadata"))
        .and_then(Value::as_object)
    {
        out(&header_for_map("Metadata", metadata));
        output_map(session.format, metadata);
        out("");
    }
    let shown = if target.v2() {
        data.and_then(|d| d.get("data")).and_then(Value::as_object)
    } else {
        data
    };
    if let Some(shown) = shown {
        out(&header_for_map("Data", shown));
        output_map(session.format, shown);
    }
    Ok(0)
}

/// `kv get -field`: for v2 the field comes from the secret's own data.
fn get_field(session: &Session, secret: &Secret, target: &KvTarget, full: &str, field: &str) -> u8 {
    if !target.v2() {
        return print_field(session.format, raw_field(secret, field), field);
    }
    let Some(data) = secret
        .data()
        .and_then(|d| d.get("data"))
        .filter(|d| !d.is_null())
    else {
        err(&format!("No data found at {full}"));
        return 2;
    };
    let value = match data.as_object() {
        Some(m) if field == "data" && !m.contains_key("data") => raw_field(secret, field),
        Some(m) => m.get(field).cloned(),
        None => None,
    };
    print_field(session.format, value, field)
}

fn patch(a: KvPatchArgs) -> Result<u8, u8> {
    let w = &a.write;
    check_write_args(&w.args)?;
    let session = Session::open_or_report(&w.common)?;
    let data = data_args(&w.args[1..])?;
    let target = KvTarget::resolve(&w.args[0], w.mount.as_deref(), |p| {
        preflight(&session.client, p)
    })?;
    if !target.v2() {
        err("K/V engine mount must be version 2 for patch support");
        return Ok(2);
    }
    let full = target.full_path("data");
    let result = match a.method.as_str() {
        "" | "patch" => merge_patch(&session.client, &full, data, w.cas),
        "rw" => read_then_write(&session.client, &full, data),
        other => {
            return usage(&format!(
                "Unsupported method provided to -method flag: {other}"
            ))
        }
    };
    match result {
        Err(code) => Ok(code),
        Ok(None) => Ok(0),
        Ok(Some(secret)) => Ok(show_written(&session, &secret, &full, w.field.as_deref())),
    }
}

/// `PATCH` with a JSON merge patch; a 405 means an old server, so fall
/// back to read-modify-write as Vault does.
fn merge_patch(
    client: &VaultClient,
    full: &str,
    data: Map<String, Value>,
    cas: i64,
) -> Result<Option<Secret>, u8> {
    let body = v2_body(data.clone(), (cas > -1).then(|| Value::from(cas)));
    let sent = client.call(
        "PATCH",
        full,
        &[],
        Some(Body {
            json: &body,
            content_type: "application/merge-patch+json",
        }),
    );
    match sent {
        Ok(secret) => Ok(secret),
        Err(ClientError::Api(ApiError { status: 405, .. })) => read_then_write(client, full, data),
        Err(e) => {
            err(&format!("Error writing data to {full}: {e}"));
            Err(2)
        }
    }
}

/// `kv patch -method=rw`: read the latest version, overlay the new keys,
/// write it back guarded by check-and-set on the version read.
fn read_then_write(
    client: &VaultClient,
    full: &str,
    new_data: Map<String, Value>,
) -> Result<Option<Secret>, u8> {
    let secret = match client.read("GET", full, &[]) {
        Err(e) => {
            err(&format!("Error doing pre-read at {full}: {e}"));
            return Err(2);
        }
        Ok(None) => {
            err(&format!("No value found at {full}"));
            return Err(2);
        }
        Ok(Some(s)) => s,
    };
    let data = secret.data();
    let Some(meta) = data
        .and_then(|d| d.get("metadata"))
        .and_then(Value::as_object)
    else {
        err(&format!(
            "No metadata found at {full}; patch only works on existing data"
        ));
        return Err(2);
    };
    let Some(mut current) = data
        .and_then(|d| d.get("data"))
        .and_then(Value::as_object)
        .cloned()
    else {
        err(&format!(
            "No data found at {full}; patch only works on existing data"
        ));
        return Err(2);
    };
    current.extend(new_data);
    let version = meta.get("version").cloned().unwrap_or(Value::Null);
    client
        .put(full, &v2_body(current, Some(version)))
        .map_err(|e| {
            err(&format!("Error writing data to {full}: {e}"));
            2
        })
}

fn list(a: KvPathArgs) -> Result<u8, u8> {
    let path = match (a.args.len(), a.mount.is_some()) {
        (0, true) => "",
        _ => expect_one(&a.args)?,
    };
    let (session, target) = target(&a.common, a.mount.as_deref(), path)?;
    let full = target.full_path("metadata");
    match session.client.read("LIST", &full, &[]) {
        Err(e) => {
            err(&format!("Error listing {full}: {e}"));
            Ok(2)
        }
        Ok(secret) => Ok(output_list(session.format, secret.as_ref(), &full)),
    }
}

/// Vault's list output: the sorted `keys`, or JSON of them; exit 2 when
/// there is nothing.
pub(crate) fn output_list(format: Format, secret: Option<&Secret>, path: &str) -> u8 {
    let keys = secret
        .and_then(Secret::data)
        .and_then(|d| d.get("keys"))
        .and_then(Value::as_array);
    if format != Format::Table && keys.is_none() {
        out(&format::json_pretty(&json!({})));
        return 2;
    }
    let Some(secret) = secret.filter(|s| s.data().is_some()) else {
        err(&format!("No value found at {path}"));
        return 2;
    };
    let Some(keys) = keys else {
        err(&format!("No entries found at {path}"));
        return 2;
    };
    if format == Format::Json {
        out(&format::json_pretty(&Value::Array(keys.clone())));
        return 0;
    }
    print_warnings(secret);
    let mut names: Vec<String> = keys.iter().map(format::go_value).collect();
    names.sort();
    if !names.is_empty() {
        let rows = names.into_iter().map(|n| vec![n]).collect();
        out(&format::table(&["Keys"], rows));
    }
    0
}

/// Vault's `kvParseVersionsFlags`: split on commas, trim, drop empties.
fn parse_versions(raw: &[String]) -> Vec<String> {
    raw.iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

fn delete(a: KvVersionsArgs) -> Result<u8, u8> {
    let path = expect_one(&a.args)?;
    let (session, target) = target(&a.common, a.mount.as_deref(), path)?;
    let versions = parse_versions(&a.versions);
    let full = target.full_path("data");
    let result = if target.v2() && !versions.is_empty() {
        let body = json!({ "versions": versions });
        session.client.put(&target.full_path("delete"), &body)
    } else {
        session.client.call("DELETE", &full, &[], None)
    };
    Ok(finish_delete(&session, result, &full))
}

/// Vault's ending of the delete commands.
fn finish_delete(session: &Session, result: Result<Option<Secret>, ClientError>, full: &str) -> u8 {
    match result {
        Err(e) => {
            err(&format!("Error deleting {full}: {e}"));
            2
        }
        Ok(None) => {
            if session.format == Format::Table {
                out(&format!("Success! Data deleted (if it existed) at: {full}"));
            }
            0
        }
        Ok(Some(secret)) => {
            output_secret(session.format, &secret);
            0
        }
    }
}

/// `undelete` and `destroy` differ only in prefix and wording.
#[derive(Debug, Clone, Copy, PartialEq)]
enum VersionsOp {
    Undelete,
    Destroy,
}

fn versions_op(a: KvVersionsArgs, op: VersionsOp) -> Result<u8, u8> {
    let (verb, prefix, v1_error) = match op {
        VersionsOp::Undelete => (
            "undelete",
            "undelete",
            "Undelete not supported on KV Version 1",
        ),
        VersionsOp::Destroy => (
            "destroy",
            "destroy",
            "Destroy not supported on KV Version 1",
        ),
    };
    let versions = parse_versions(&a.versions);
    if versions.is_empty() {
        return usage(&format!(
            "No versions provided, use the \"-versions\" flag to specify the version to {verb}."
        ));
    }
    let path = expect_one(&a.args)?;
    let (session, target) = target(&a.common, a.mount.as_deref(), path)?;
    if !target.v2() {
        err(v1_error);
        return Ok(1);
    }
    let full = target.full_path(prefix);
    match session.client.put(&full, &json!({ "versions": versions })) {
        Err(e) => {
            err(&format!("Error writing data to {full}: {e}"));
            Ok(2)
        }
        Ok(None) => {
            if session.format == Format::Table {
                out(&format!("Success! Data written to: {full}"));
            }
            Ok(0)
        }
        Ok(Some(secret)) => {
            output_secret(session.format, &secret);
            Ok(0)
        }
    }
}

fn metadata_get(a: KvPathArgs) -> Result<u8, u8> {
    let path = expect_one(&a.args)?;
    let (session, target) = target(&a.common, a.mount.as_deref(), path)?;
    if !target.v2() {
        err("Metadata not supported on KV Version 1");
        return Ok(1);
    }
    let full = target.full_path("metadata");
    let mut secret = match session.client.read("GET", &full, &[]) {
        Err(e) => {
            err(&format!("Error reading {full}: {e}"));
            return Ok(2);
        }
        Ok(None) => {
            err(&format!("No value found at {full}"));
            return Ok(2);
        }
        Ok(Some(s)) => s,
    };
    if let Some(field) = a.field.as_deref() {
        return Ok(print_field(
            session.format,
            raw_field(&secret, field),
            field,
        ));
    }
    if session.format != Format::Table || secret.object("wrap_info").is_some() {
        output_secret(session.format, &secret);
        return Ok(0);
    }
    let versions = secret
        .0
        .get_mut("data")
        .and_then(Value::as_object_mut)
        .and_then(|d| d.remove("versions"));
    let Some(Value::Object(versions)) = versions else {
        err(&format!("No value found at {full}"));
        output_secret(session.format, &secret);
        return Ok(2);
    };
    output_path(&full, "Metadata Path");
    out(&header_for_map(
        "Metadata",
        secret.data().unwrap_or(&Map::new()),
    ));
    output_secret(session.format, &secret);
    let mut numbers = Vec::new();
    for key in versions.keys() {
        match key.parse::<u64>() {
            Ok(n) => numbers.push(n),
            Err(_) => {
                err(&format!("Error parsing version {key}"));
                return Ok(2);
            }
        }
    }
    numbers.sort_unstable();
    for n in numbers {
        let version = versions
            .get(&n.to_string())
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        out(&format!(
            "\n{}",
            header_for_map(&format!("Version {n}"), &version)
        ));
        output_map(session.format, &version);
    }
    Ok(0)
}

fn metadata_delete(a: KvPathArgs) -> Result<u8, u8> {
    let path = expect_one(&a.args)?;
    let (session, target) = target(&a.common, a.mount.as_deref(), path)?;
    if !target.v2() {
        err("Metadata not supported on KV Version 1");
        return Ok(1);
    }
    let full = target.full_path("metadata");
    let result = session.client.call("DELETE", &full, &[], None);
    Ok(finish_delete(&session, result, &full))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(path: &str) -> Result<MountInfo, ()> {
        Ok(MountInfo {
            path: path.into(),
            v2: true,
        })
    }

    fn v1(path: &str) -> Result<MountInfo, ()> {
        Ok(MountInfo {
            path: path.into(),
            v2: false,
        })
    }

    #[test]
    fn v2_paths_get_the_prefix_after_the_mount() {
        let t = KvTarget::resolve("secret/foo", None, |p| {
            assert_eq!(p, "secret/foo");
            v2("secret/")
        })
        .unwrap();
        assert_eq!(t.full_path("data"), "secret/data/foo");
        assert_eq!(t.full_path("metadata"), "secret/metadata/foo");
        assert_eq!(t.full_path("delete"), "secret/delete/foo");
        assert_eq!(t.full_path("undelete"), "secret/undelete/foo");
        assert_eq!(t.full_path("destroy"), "secret/destroy/foo");

        let nested = KvTarget::resolve("/team/kv/app/db/", None, |_| v2("team/kv/")).unwrap();
        assert_eq!(nested.full_path("data"), "team/kv/data/app/db");
    }

    #[test]
    fn the_mount_itself_lists_at_the_prefix() {
        let t = KvTarget::resolve("secret/", None, |_| v2("secret/")).unwrap();
        assert_eq!(t.full_path("metadata"), "secret/metadata");
        let t = KvTarget::resolve("", Some("secret"), |_| v2("secret/")).unwrap();
        assert_eq!(t.full_path("metadata"), "secret/metadata");
    }

    #[test]
    fn mount_flag() {
        let t = KvTarget::resolve("foo/bar", Some("secret"), |p| {
            assert_eq!(p, "secret");
            v2("secret/")
        })
        .unwrap();
        assert_eq!(t.full_path("data"), "secret/data/foo/bar");

        let old = KvTarget::resolve("foo", Some("/kv1/"), |_| v1("kv1/")).unwrap();
        assert_eq!(old.full_path("data"), "kv1/foo");

        // A failed preflight still honours the flag.
        let unknown = KvTarget::resolve("foo", Some("kv"), |_| v1("")).unwrap();
        assert_eq!(unknown.full_path("data"), "kv/foo");
    }

    #[test]
    fn v1_paths_are_used_as_is() {
        let t = KvTarget::resolve("kv/foo/bar", None, |_| v1("kv/")).unwrap();
        assert_eq!(t.full_path("data"), "kv/foo/bar");
        assert_eq!(t.full_path("metadata"), "kv/foo/bar");
    }

    #[test]
    fn namespace_parts_of_the_mount_are_skipped() {
        // Vault: a mount path that includes a namespace the user omitted.
        assert_eq!(
            add_prefix_to_kv_path("secret/foo", "ns1/secret/", "data"),
            "secret/data/foo"
        );
    }

    #[test]
    fn preflight_answer() {
        let s = Secret(
            serde_json::json!({"data": {"path": "secret/", "type": "kv", "options": {"version": "2"}}})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(Ok(MountInfo::from_secret(&s)), v2("secret/"));
        let v1 = Secret(
            serde_json::json!({"data": {"path": "kv/", "options": null}})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert!(!MountInfo::from_secret(&v1).v2);
        let numeric = Secret(
            serde_json::json!({"data": {"path": "x/", "options": {"version": 2}}})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert!(MountInfo::from_secret(&numeric).v2);
    }

    #[test]
    fn go_join_cleans() {
        assert_eq!(go_path_join(&["secret/", "data", "foo"]), "secret/data/foo");
        assert_eq!(go_path_join(&["secret/", "data", ""]), "secret/data");
        assert_eq!(go_path_join(&["a", "../b"]), "b");
        assert_eq!(go_path_join(&["", ""]), "");
        assert_eq!(go_path_join(&["a//b/", "./c"]), "a/b/c");
    }

    #[test]
    fn versions_flags() {
        let raw = vec!["1, 2".to_string(), "".to_string(), "3".to_string()];
        assert_eq!(parse_versions(&raw), ["1", "2", "3"]);
    }

    #[test]
    fn v2_bodies() {
        let mut data = Map::new();
        data.insert("a".into(), Value::from("b"));
        assert_eq!(
            v2_body(data.clone(), Some(Value::from(0))),
            json!({"data": {"a": "b"}, "options": {"cas": 0}})
        );
        assert_eq!(
            v2_body(data, None),
            json!({"data": {"a": "b"}, "options": {}})
        );
    }
}
