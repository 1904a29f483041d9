//! `status` and `operator init|unseal|seal|rotate|key-status`: the seal
//! lifecycle, printed as Vault prints it.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::api::{Body, ClientError};
use super::format::{self, columnize, err, json_ordered, out, wrap_at_length, Format};
use super::{parse_go_bool, usage, CommonArgs, Session};

#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum OperatorCommand {
    /// Initialize a server: create the unseal keys and the root token.
    Init(InitArgs),
    /// Submit one unseal key share.
    Unseal(UnsealArgs),
    /// Seal the server.
    Seal(PlainArgs),
    /// Rotate the barrier encryption key.
    Rotate(PlainArgs),
    /// Show the current barrier key term and use.
    #[command(name = "key-status")]
    KeyStatus(PlainArgs),
    /// Generate a new root token from a quorum of key shares.
    #[command(name = "generate-root")]
    GenerateRoot(super::operator_keys::GenerateRootArgs),
    /// Generate new unseal (or recovery) key shares.
    Rekey(super::operator_keys::RekeyArgs),
}

#[derive(Args, Debug)]
pub(crate) struct PlainArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Unexpected positional arguments, reported like Vault does.
    #[arg(hide = true)]
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Number of unseal key shares to create.
    #[arg(long = "key-shares", short = 'n', default_value_t = 0)]
    pub(crate) key_shares: u64,
    /// Number of shares needed to unseal.
    #[arg(long = "key-threshold", short = 't', default_value_t = 0)]
    pub(crate) key_threshold: u64,
    /// Number of recovery key shares (auto-unseal seals only).
    #[arg(long = "recovery-shares", default_value_t = 0)]
    pub(crate) recovery_shares: u64,
    /// Number of recovery shares needed (auto-unseal seals only).
    #[arg(long = "recovery-threshold", default_value_t = 0)]
    pub(crate) recovery_threshold: u64,
    /// Only report whether the server is initialized (exit 0 yes, 2 no).
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) status: bool,
    #[arg(hide = true)]
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct UnsealArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Discard the key shares submitted so far.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) reset: bool,
    /// [KEY]; read from stdin when absent.
    pub(crate) args: Vec<String>,
}

pub(crate) fn run(cmd: OperatorCommand) -> u8 {
    let result = match cmd {
        OperatorCommand::Init(a) => init(a),
        OperatorCommand::Unseal(a) => unseal(a),
        OperatorCommand::Seal(a) => seal(a),
        OperatorCommand::Rotate(a) => rotate(a),
        OperatorCommand::KeyStatus(a) => key_status(a),
        OperatorCommand::GenerateRoot(a) => super::operator_keys::generate_root(a),
        OperatorCommand::Rekey(a) => super::operator_keys::rekey(a),
    };
    result.unwrap_or_else(|code| code)
}

/// Vault's "Too many arguments" for commands without positionals.
fn no_args(args: &[String]) -> Result<(), u8> {
    if args.is_empty() {
        Ok(())
    } else {
        usage(&format!(
            "Too many arguments (expected 0, got {})",
            args.len()
        ))
    }
}

pub(super) fn bool_of(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k).and_then(Value::as_bool).unwrap_or(false)
}

pub(super) fn int_of(m: &Map<String, Value>, k: &str) -> i64 {
    m.get(k).and_then(Value::as_i64).unwrap_or(0)
}

pub(super) fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `status`: exit 0 unsealed, 2 sealed, 1 when the server can't be asked.
pub(crate) fn status(a: StatusArgs) -> u8 {
    let session = match Session::open(&a.common) {
        Ok(s) => s,
        Err(e) => {
            err(&e.to_string());
            return 1;
        }
    };
    let status = match fetch_seal_status(&session, "GET", None) {
        Ok(s) => s,
        Err(e) => {
            err(&format!("Error checking seal status: {e}"));
            return 1;
        }
    };
    let code = output_seal_status(&session, &status);
    if bool_of(&status, "sealed") {
        2
    } else {
        code
    }
}

/// Calls a seal-status-shaped endpoint (`sys/seal-status`, `sys/unseal`).
fn fetch_seal_status(
    session: &Session,
    method: &str,
    body: Option<&Value>,
) -> Result<Map<String, Value>, ClientError> {
    let path = if body.is_some() {
        "sys/unseal"
    } else {
        "sys/seal-status"
    };
    let secret = session
        .client
        .call(method, path, &[], body.map(Body::json))?;
    secret
        .map(|s| s.0)
        .ok_or_else(|| ClientError::Decode("empty seal status response".into()))
}

/// Vault's `OutputSealStatus`: adds the HA facts from `sys/leader` (only
/// asked when unsealed) and prints the table or JSON.
pub(crate) fn output_seal_status(session: &Session, status: &Map<String, Value>) -> u8 {
    let mut leader = Map::new();
    if !bool_of(status, "sealed") {
        match session.client.get("sys/leader") {
            Ok(Some(l)) => leader = l.0,
            Ok(None) => {}
            Err(e) if e.to_string().contains("Vault is sealed") => {
                leader.insert("ha_enabled".into(), Value::Bool(true));
            }
            Err(e) => {
                err(&format!("Error checking leader status: {e}"));
                return 1;
            }
        }
    }
    match session.format {
        Format::Table => out(&seal_status_table(status, &leader)),
        Format::Json => out(&seal_status_json(status, &leader)),
    }
    0
}

/// The Key/Value table of `vault status`, row for row.
pub(crate) fn seal_status_table(s: &Map<String, Value>, leader: &Map<String, Value>) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |k: &str, v: String| rows.push(vec![k.to_string(), v]);
    let sealed = bool_of(s, "sealed");
    let recovery = bool_of(s, "recovery_seal");
    row("Seal Type", str_of(s, "type").into());
    if recovery {
        row("Recovery Seal Type", str_of(s, "recovery_seal_type").into());
    }
    row("Initialized", bool_of(s, "initialized").to_string());
    row("Sealed", sealed.to_string());
    let prefix = if recovery { "Recovery " } else { "" };
    row(&format!("Total {prefix}Shares"), int_of(s, "n").to_string());
    row("Threshold", int_of(s, "t").to_string());
    if sealed {
        row(
            "Unseal Progress",
            format!("{}/{}", int_of(s, "progress"), int_of(s, "t")),
        );
        row("Unseal Nonce", str_of(s, "nonce").into());
    }
    if bool_of(s, "migration") {
        row("Seal Migration in Progress", "true".into());
    }
    for (key, label) in [
        ("version", "Version"),
        ("build_date", "Build Date"),
        ("commit_date", "Commit Date"),
        ("storage_type", "Storage Type"),
    ] {
        if !str_of(s, key).is_empty() {
            row(label, str_of(s, key).into());
        }
    }
    if !str_of(s, "cluster_name").is_empty() && !str_of(s, "cluster_id").is_empty() {
        row("Cluster Name", str_of(s, "cluster_name").into());
        row("Cluster ID", str_of(s, "cluster_id").into());
    }
    let ha = bool_of(leader, "ha_enabled");
    row("HA Enabled", ha.to_string());
    if ha && !sealed {
        let is_self = bool_of(leader, "is_self");
        row(
            "HA Cluster",
            str_of(leader, "leader_cluster_address").into(),
        );
        row("HA Mode", if is_self { "active" } else { "standby" }.into());
        let active = str_of(leader, "active_time");
        if is_self && !active.is_empty() && !active.starts_with("0001-01-01") {
            row("Active Since", active.into());
        }
        if !is_self && !str_of(leader, "leader_address").is_empty() {
            row(
                "Active Node Address",
                str_of(leader, "leader_address").into(),
            );
        }
    }
    for (key, label) in [
        ("raft_committed_index", "Raft Committed Index"),
        ("raft_applied_index", "Raft Applied Index"),
    ] {
        if int_of(leader, key) > 0 {
            row(label, int_of(leader, key).to_string());
        }
    }
    format::table(&["Key", "Value"], rows)
}

/// `status -format=json`: the CLI's `SealStatusOutput` struct in the field
/// order `bao` prints, with its `omitempty` fields dropped when empty.
pub(crate) fn seal_status_json(s: &Map<String, Value>, leader: &Map<String, Value>) -> String {
    let mut fields: Vec<(&str, Value)> = vec![
        ("type", Value::from(str_of(s, "type"))),
        ("initialized", Value::Bool(bool_of(s, "initialized"))),
        ("sealed", Value::Bool(bool_of(s, "sealed"))),
        ("t", Value::from(int_of(s, "t"))),
        ("n", Value::from(int_of(s, "n"))),
        ("progress", Value::from(int_of(s, "progress"))),
        ("nonce", Value::from(str_of(s, "nonce"))),
        ("version", Value::from(str_of(s, "version"))),
    ];
    if !str_of(s, "commit_date").is_empty() {
        fields.push(("commit_date", Value::from(str_of(s, "commit_date"))));
    }
    fields.push(("migration", Value::Bool(bool_of(s, "migration"))));
    for key in ["cluster_name", "cluster_id"] {
        if !str_of(s, key).is_empty() {
            fields.push((key, Value::from(str_of(s, key))));
        }
    }
    fields.push(("recovery_seal", Value::Bool(bool_of(s, "recovery_seal"))));
    for key in ["recovery_seal_type", "storage_type"] {
        if !str_of(s, key).is_empty() {
            fields.push((key, Value::from(str_of(s, key))));
        }
    }
    fields.push(("build_date", Value::from(str_of(s, "build_date"))));
    if let Some(w) = s
        .get("warnings")
        .filter(|w| w.as_array().is_some_and(|a| !a.is_empty()))
    {
        fields.push(("warnings", w.clone()));
    }
    fields.push(("ha_enabled", Value::Bool(bool_of(leader, "ha_enabled"))));
    if bool_of(leader, "is_self") {
        fields.push(("is_self", Value::Bool(true)));
    }
    for key in ["active_time", "leader_address", "leader_cluster_address"] {
        if !str_of(leader, key).is_empty() {
            fields.push((key, Value::from(str_of(leader, key))));
        }
    }
    for key in ["raft_committed_index", "raft_applied_index"] {
        if int_of(leader, key) > 0 {
            fields.push((key, Value::from(int_of(leader, key))));
        }
    }
    json_ordered(&fields)
}

fn init(a: InitArgs) -> Result<u8, u8> {
    no_args(&a.args)?;
    let session = Session::open_or_report(&a.common)?;
    if a.status {
        return Ok(init_status(&session));
    }
    let seal = match fetch_seal_status(&session, "GET", None) {
        Ok(s) => s,
        Err(e) => {
            err(&e.to_string());
            return Ok(2);
        }
    };
    let mut req = a;
    if bool_of(&seal, "recovery_seal") {
        req.recovery_shares = nonzero_or(req.recovery_shares, 5);
        req.recovery_threshold = nonzero_or(req.recovery_threshold, 3);
    } else {
        req.key_shares = nonzero_or(req.key_shares, 5);
        req.key_threshold = nonzero_or(req.key_threshold, 3);
    }
    let body = json!({
        "secret_shares": req.key_shares,
        "secret_threshold": req.key_threshold,
        "recovery_shares": req.recovery_shares,
        "recovery_threshold": req.recovery_threshold,
    });
    let resp = match session.client.put("sys/init", &body) {
        Ok(Some(s)) => s.0,
        Ok(None) => {
            err("Error initializing: empty response");
            return Ok(2);
        }
        Err(e) => {
            err(&format!("Error initializing: {e}"));
            return Ok(2);
        }
    };
    match session.format {
        Format::Json => out(&init_json(&req, &resp)),
        Format::Table => out(&init_text(&req, &resp)),
    }
    Ok(0)
}

fn nonzero_or(v: u64, default: u64) -> u64 {
    if v == 0 {
        default
    } else {
        v
    }
}

/// `operator init -status`: 0 initialized, 2 not, 1 on error.
fn init_status(session: &Session) -> u8 {
    let initialized = match session.client.get("sys/init") {
        Ok(Some(s)) => bool_of(&s.0, "initialized"),
        Ok(None) => false,
        Err(e) => {
            err(&format!("Error checking init status: {e}"));
            return 1;
        }
    };
    match session.format {
        Format::Table if initialized => out("Vault is initialized"),
        Format::Table => out("Vault is not initialized"),
        Format::Json => out(&json_ordered(&[("initialized", Value::Bool(initialized))])),
    }
    if initialized {
        0
    } else {
        2
    }
}

fn strings_of(m: &Map<String, Value>, k: &str) -> Vec<String> {
    m.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(format::go_value).collect())
        .unwrap_or_default()
}

/// Vault's `machineInit`: the JSON of `operator init -format=json`.
pub(crate) fn init_json(req: &InitArgs, resp: &Map<String, Value>) -> String {
    let keys = strings_of(resp, "keys");
    let (shares, threshold) = if keys.is_empty() {
        (1, 1)
    } else {
        (req.key_shares, req.key_threshold)
    };
    json_ordered(&[
        ("unseal_keys_b64", json!(strings_of(resp, "keys_base64"))),
        ("unseal_keys_hex", json!(keys)),
        ("unseal_shares", json!(shares)),
        ("unseal_threshold", json!(threshold)),
        (
            "recovery_keys_b64",
            json!(strings_of(resp, "recovery_keys_base64")),
        ),
        (
            "recovery_keys_hex",
            json!(strings_of(resp, "recovery_keys")),
        ),
        ("recovery_keys_shares", json!(req.recovery_shares)),
        ("recovery_keys_threshold", json!(req.recovery_threshold)),
        ("root_token", json!(str_of(resp, "root_token"))),
    ])
}

/// The human output of `operator init`: keys, root token, and Vault's
/// advice paragraphs.
pub(crate) fn init_text(req: &InitArgs, resp: &Map<String, Value>) -> String {
    let mut lines = Vec::new();
    let pick = |hex: Vec<String>, b64: Vec<String>| {
        if b64.len() == hex.len() {
            b64
        } else {
            hex
        }
    };
    let keys = pick(strings_of(resp, "keys"), strings_of(resp, "keys_base64"));
    for (i, k) in keys.iter().enumerate() {
        lines.push(format!("Unseal Key {}: {k}", i + 1));
    }
    let recovery = pick(
        strings_of(resp, "recovery_keys"),
        strings_of(resp, "recovery_keys_base64"),
    );
    for (i, k) in recovery.iter().enumerate() {
        lines.push(format!("Recovery Key {}: {k}", i + 1));
    }
    lines.push(String::new());
    lines.push(format!(
        "Initial Root Token: {}",
        str_of(resp, "root_token")
    ));
    lines.push(String::new());
    if keys.is_empty() {
        lines.push("Success! Vault is initialized".into());
    } else {
        let t = req.key_threshold;
        lines.push(wrap_at_length(&format!(
            "Vault initialized with {} key shares and a key threshold of {t}. Please \
             securely distribute the key shares printed above. When the Vault is \
             re-sealed, restarted, or stopped, you must supply at least {t} of \
             these keys to unseal it before it can start servicing requests.",
            req.key_shares
        )));
        lines.push(String::new());
        lines.push(wrap_at_length(&format!(
            "Vault does not store the generated root key. Without at least {t} \
             keys to reconstruct the root key, Vault will remain permanently sealed!"
        )));
        lines.push(String::new());
        lines.push(wrap_at_length(
            "It is possible to generate new unseal keys, provided you have a quorum \
             of existing unseal keys shares. See \"vault operator rekey\" for more \
             information.",
        ));
    }
    if !recovery.is_empty() {
        lines.push(String::new());
        lines.push(wrap_at_length(&format!(
            "Recovery key initialized with {} key shares and a key threshold of {}. \
             Please securely distribute the key shares printed above.",
            req.recovery_shares, req.recovery_threshold
        )));
    }
    lines.join("\n")
}

fn unseal(a: UnsealArgs) -> Result<u8, u8> {
    if a.args.len() > 1 {
        return usage(&format!(
            "Too many arguments (expected 0-1, got {})",
            a.args.len()
        ));
    }
    let session = Session::open_or_report(&a.common)?;
    if a.reset {
        return Ok(
            match fetch_seal_status(&session, "PUT", Some(&json!({"reset": true}))) {
                Ok(status) => output_seal_status(&session, &status),
                Err(e) => {
                    err(&format!("Error resetting unseal process: {e}"));
                    2
                }
            },
        );
    }
    let key = match a.args.first() {
        Some(k) => k.trim().to_string(),
        None => read_key()?,
    };
    Ok(
        match fetch_seal_status(&session, "PUT", Some(&json!({ "key": key }))) {
            Ok(status) => output_seal_status(&session, &status),
            Err(e) => {
                err(&format!("Error unsealing: {e}"));
                2
            }
        },
    )
}

/// Reads an unseal key from stdin, prompting (without echo, when `stty`
/// allows) if stdin is a terminal.
fn read_key() -> Result<String, u8> {
    let tty = std::io::stdin().is_terminal();
    if tty {
        let mut stdout = std::io::stdout();
        let _ = write!(stdout, "Unseal Key (will be hidden): ");
        let _ = stdout.flush();
        set_echo(false);
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if tty {
        set_echo(true);
        out("");
    }
    match read {
        Ok(_) => Ok(line.trim().to_string()),
        Err(e) => {
            err(&wrap_at_length(&format!(
                "An error occurred attempting to ask for an unseal key. The raw \
                 error message is shown below, but usually this is because you \
                 attempted to pipe a value into the unseal command or you are \
                 executing outside of a terminal (tty). If this is not an option, \
                 the unseal key can be provided as the first argument to the unseal \
                 command. The raw error was:\n\n{e}"
            )));
            Err(1)
        }
    }
}

/// Best effort: hides the typed key; without `stty` it simply echoes.
pub(crate) fn set_echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

fn seal(a: PlainArgs) -> Result<u8, u8> {
    no_args(&a.args)?;
    let session = Session::open_or_report(&a.common)?;
    match session.client.put("sys/seal", &json!({})) {
        Ok(_) => {
            out("Success! Vault is sealed.");
            Ok(0)
        }
        Err(e) => {
            err(&format!("Error sealing: {e}"));
            Ok(2)
        }
    }
}

fn rotate(a: PlainArgs) -> Result<u8, u8> {
    no_args(&a.args)?;
    let session = Session::open_or_report(&a.common)?;
    let rotated = session
        .client
        .call("POST", "sys/rotate", &[], Some(Body::json(&json!({}))));
    if let Err(e) = rotated {
        err(&format!("Error rotating key: {e}"));
        return Ok(2);
    }
    let status = fetch_key_status(&session)?;
    match session.format {
        Format::Table => {
            out("Success! Rotated key");
            out("");
            out(&key_status_table(&status));
        }
        Format::Json => out(&key_status_json(&status)),
    }
    Ok(0)
}

fn key_status(a: PlainArgs) -> Result<u8, u8> {
    no_args(&a.args)?;
    let session = Session::open_or_report(&a.common)?;
    let status = fetch_key_status(&session)?;
    match session.format {
        Format::Table => out(&key_status_table(&status)),
        Format::Json => out(&key_status_json(&status)),
    }
    Ok(0)
}

/// `sys/key-status`, whether the fields are under `data` or top-level.
fn fetch_key_status(session: &Session) -> Result<Map<String, Value>, u8> {
    match session.client.get("sys/key-status") {
        Ok(Some(s)) => Ok(s.data().cloned().unwrap_or(s.0)),
        Ok(None) => {
            err("Error reading key status: empty response");
            Err(2)
        }
        Err(e) => {
            err(&format!("Error reading key status: {e}"));
            Err(2)
        }
    }
}

/// Vault's `printKeyStatus`: no header, install time in RFC 822 (UTC).
pub(crate) fn key_status_table(s: &Map<String, Value>) -> String {
    let install = str_of(s, "install_time");
    let install = chrono::DateTime::parse_from_rfc3339(install)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%d %b %y %H:%M UTC")
                .to_string()
        })
        .unwrap_or_else(|_| install.to_string());
    columnize(&[
        vec!["Key Term".into(), int_of(s, "term").to_string()],
        vec!["Install Time".into(), install],
        vec![
            "Encryption Count".into(),
            int_of(s, "encryptions").to_string(),
        ],
    ])
}

/// Vault's `KeyStatus` struct as JSON.
pub(crate) fn key_status_json(s: &Map<String, Value>) -> String {
    json_ordered(&[
        ("term", Value::from(int_of(s, "term"))),
        ("install_time", Value::from(str_of(s, "install_time"))),
        ("encryptions", Value::from(int_of(s, "encryptions"))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn unsealed_status_table() {
        let s = obj(
            json!({"type":"shamir","initialized":true,"sealed":false,"t":1,"n":1,
            "progress":0,"nonce":"","recovery_seal":false,"version":"1.21.2",
            "build_date":"2026-01-06T08:33:05Z","migration":false,
            "cluster_name":"vault-cluster-1545af05",
            "cluster_id":"ebde7685-ae60-948f-1269-226252e53d54","storage_type":"inmem"}),
        );
        let leader = obj(json!({"ha_enabled": false}));
        assert_eq!(
            seal_status_table(&s, &leader),
            "Key             Value\n\
             ---             -----\n\
             Seal Type       shamir\n\
             Initialized     true\n\
             Sealed          false\n\
             Total Shares    1\n\
             Threshold       1\n\
             Version         1.21.2\n\
             Build Date      2026-01-06T08:33:05Z\n\
             Storage Type    inmem\n\
             Cluster Name    vault-cluster-1545af05\n\
             Cluster ID      ebde7685-ae60-948f-1269-226252e53d54\n\
             HA Enabled      false"
        );
    }

    #[test]
    fn sealed_status_table_shows_progress() {
        let s = obj(
            json!({"type":"shamir","initialized":true,"sealed":true,"t":3,"n":5,
            "progress":1,"nonce":"1b526495","version":"1.1.2"}),
        );
        let table = seal_status_table(&s, &Map::new());
        assert!(table.contains("\nUnseal Progress    1/3\n"));
        assert!(table.contains("\nUnseal Nonce       1b526495\n"));
        assert!(table.ends_with("HA Enabled         false"));
        let no_nonce = obj(json!({"type":"shamir","sealed":true,"t":1,"n":1,"nonce":""}));
        assert!(seal_status_table(&no_nonce, &Map::new()).contains("Unseal Nonce       n/a"));
    }

    #[test]
    fn status_json_field_order() {
        let s = obj(
            json!({"type":"shamir","initialized":true,"sealed":false,"t":1,"n":1,
            "progress":0,"nonce":"","version":"v","storage_type":"file"}),
        );
        let text = seal_status_json(&s, &obj(json!({"ha_enabled": false})));
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["sealed"], json!(false));
        assert_eq!(parsed["ha_enabled"], json!(false));
        assert!(text.starts_with("{\n  \"type\": \"shamir\",\n  \"initialized\": true,"));
        assert!(text.find("\"storage_type\"") < text.find("\"ha_enabled\""));
    }

    fn init_req(shares: u64, threshold: u64) -> InitArgs {
        InitArgs {
            common: CommonArgs::default(),
            key_shares: shares,
            key_threshold: threshold,
            recovery_shares: 0,
            recovery_threshold: 0,
            status: false,
            args: Vec::new(),
        }
    }

    #[test]
    fn init_outputs() {
        let resp = obj(
            json!({"keys": ["aa", "bb"], "keys_base64": ["qg==", "uw=="],
                              "root_token": "s.root"}),
        );
        let text = init_text(&init_req(2, 2), &resp);
        assert!(text.starts_with(
            "Unseal Key 1: qg==\nUnseal Key 2: uw==\n\nInitial Root Token: s.root\n\n"
        ));
        assert!(text.contains("Vault initialized with 2 key shares and a key threshold of 2."));
        let j: Value = serde_json::from_str(&init_json(&init_req(2, 2), &resp)).unwrap();
        assert_eq!(j["unseal_keys_b64"], json!(["qg==", "uw=="]));
        assert_eq!(j["unseal_keys_hex"], json!(["aa", "bb"]));
        assert_eq!(j["unseal_shares"], json!(2));
        assert_eq!(j["recovery_keys_b64"], json!([]));
        assert_eq!(j["root_token"], json!("s.root"));
    }

    #[test]
    fn key_status_rendering() {
        let s = obj(
            json!({"term": 2, "install_time": "2026-11-26T07:10:39.027901514Z",
                           "encryptions": 17}),
        );
        assert_eq!(
            key_status_table(&s),
            "Key Term            2\nInstall Time        26 Nov 26 07:10 UTC\nEncryption Count    17"
        );
        assert_eq!(
            key_status_json(&s),
            "{\n  \"term\": 2,\n  \"install_time\": \"2026-11-26T07:10:39.027901514Z\",\n  \"encryptions\": 17\n}"
        );
    }
}
