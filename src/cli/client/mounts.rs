//! `auth enable|disable|list` (on `sys/auth`) and `secrets
//! enable|disable|list` (on `sys/mounts`), printed as Vault prints them.
//! `tune` and `move` are in `mount_tune.rs`.

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::api::Body;
use super::format::{
    err, go_struct, go_value, json_ordered_value, out, table as render_table, Format, GoField,
    Ordered,
};
use super::mount_tune::{AuthTuneArgs, MoveArgs, SecretsTuneArgs};
use super::policy::expect_n;
use super::token::{parse_duration_flag, parse_kv_flag};
use super::{parse_go_bool, sanitize_path, CommonArgs, Session};

#[derive(Subcommand, Debug)]
pub(crate) enum AuthCommand {
    /// Enable an auth method.
    Enable(Box<EnableArgs>),
    /// Disable an auth method.
    Disable(DisableArgs),
    /// List the enabled auth methods.
    List(ListMountsArgs),
    /// Tune an auth method's configuration.
    Tune(Box<AuthTuneArgs>),
    /// Move an auth method to a new path.
    Move(MoveArgs),
}

#[derive(Subcommand, Debug)]
pub(crate) enum SecretsCommand {
    /// Enable a secrets engine.
    Enable(Box<EnableArgs>),
    /// Disable a secrets engine.
    Disable(DisableArgs),
    /// List the enabled secrets engines.
    List(ListMountsArgs),
    /// Tune a secrets engine's configuration.
    Tune(Box<SecretsTuneArgs>),
    /// Move a secrets engine to a new path.
    Move(MoveArgs),
}

#[derive(Args, Debug)]
pub(crate) struct EnableArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Where to mount it (default: the type's name).
    #[arg(long, default_value = "")]
    pub(crate) path: String,
    /// Human-friendly description.
    #[arg(long, default_value = "")]
    pub(crate) description: String,
    /// Default lease TTL for this mount.
    #[arg(long = "default-lease-ttl", value_parser = parse_duration_flag)]
    pub(crate) default_lease_ttl: Option<u64>,
    /// Maximum lease TTL for this mount.
    #[arg(long = "max-lease-ttl", value_parser = parse_duration_flag)]
    pub(crate) max_lease_ttl: Option<u64>,
    /// Keep the mount local to this cluster (not replicated).
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) local: bool,
    /// Seal-wrap sensitive values.
    #[arg(
        long = "seal-wrap",
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) seal_wrap: bool,
    /// Mount option key=value (repeatable).
    #[arg(long = "options", value_parser = parse_kv_flag)]
    pub(crate) options: Vec<(String, String)>,
    /// "unauth" to list the mount in the UI's login page.
    #[arg(long = "listing-visibility", default_value = "")]
    pub(crate) listing_visibility: String,
    /// Token type for an auth mount: default-service, batch, ...
    #[arg(long = "token-type", default_value = "")]
    pub(crate) token_type: String,
    /// Engine version (`secrets enable -version=2 kv` is KV v2).
    #[arg(long, default_value_t = 0)]
    pub(crate) version: u32,
    /// TYPE
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct DisableArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// PATH
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct ListMountsArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Show all mount details.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) detailed: bool,
    #[arg(hide = true)]
    pub(crate) args: Vec<String>,
}

/// Which of the two mount tables a command works on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Table {
    Auth,
    Secrets,
}

impl Table {
    fn api(self) -> &'static str {
        match self {
            Self::Auth => "sys/auth",
            Self::Secrets => "sys/mounts",
        }
    }
}

pub(crate) fn run_auth(cmd: AuthCommand) -> u8 {
    let result = match cmd {
        AuthCommand::Enable(a) => enable(a, Table::Auth),
        AuthCommand::Disable(a) => disable(a, Table::Auth),
        AuthCommand::List(a) => list(a, Table::Auth),
        AuthCommand::Tune(a) => super::mount_tune::auth_tune(*a),
        AuthCommand::Move(a) => super::mount_tune::move_mount(a, true),
    };
    result.unwrap_or_else(|code| code)
}

pub(crate) fn run_secrets(cmd: SecretsCommand) -> u8 {
    let result = match cmd {
        SecretsCommand::Enable(a) => enable(a, Table::Secrets),
        SecretsCommand::Disable(a) => disable(a, Table::Secrets),
        SecretsCommand::List(a) => list(a, Table::Secrets),
        SecretsCommand::Tune(a) => super::mount_tune::secrets_tune(*a),
        SecretsCommand::Move(a) => super::mount_tune::move_mount(a, false),
    };
    result.unwrap_or_else(|code| code)
}

/// Vault's `ensureTrailingSlash`.
fn with_slash(p: &str) -> String {
    let p = p.trim();
    if p.is_empty() || p.ends_with('/') {
        p.to_string()
    } else {
        format!("{p}/")
    }
}

/// The `api.EnableAuthOptions`/`api.MountInput` body.
pub(crate) fn enable_body(a: &EnableArgs, kind: &str, table: Table) -> Value {
    let mut config = Map::new();
    if let Some(ttl) = a.default_lease_ttl {
        config.insert("default_lease_ttl".into(), json!(format!("{ttl}s")));
    }
    if let Some(ttl) = a.max_lease_ttl {
        config.insert("max_lease_ttl".into(), json!(format!("{ttl}s")));
    }
    if !a.listing_visibility.is_empty() {
        config.insert("listing_visibility".into(), json!(a.listing_visibility));
    }
    if table == Table::Auth && !a.token_type.is_empty() {
        config.insert("token_type".into(), json!(a.token_type));
    }
    let mut options: Map<String, Value> = a
        .options
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if table == Table::Secrets && a.version > 0 {
        options.insert("version".into(), json!(a.version.to_string()));
    }
    let mut body = json!({
        "type": kind,
        "description": a.description,
        "config": config,
        "local": a.local,
        "seal_wrap": a.seal_wrap,
    });
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    body
}

fn enable(a: Box<EnableArgs>, table: Table) -> Result<u8, u8> {
    expect_n(&a.args, 1)?;
    let session = Session::open_or_report(&a.common)?;
    let kind = a.args[0].trim().to_string();
    let path = with_slash(if a.path.is_empty() { &kind } else { &a.path });
    let api = format!("{}/{}", table.api(), sanitize_path(&path));
    let body = enable_body(&a, &kind, table);
    if let Err(e) = session
        .client
        .call("POST", &api, &[], Some(Body::json(&body)))
    {
        match table {
            Table::Auth => err(&format!("Error enabling {kind} auth: {e}")),
            Table::Secrets => err(&format!("Error enabling: {e}")),
        }
        return Ok(2);
    }
    match table {
        Table::Auth => out(&format!("Success! Enabled {kind} auth method at: {path}")),
        Table::Secrets => out(&format!(
            "Success! Enabled the {kind} secrets engine at: {path}"
        )),
    }
    Ok(0)
}

fn disable(a: DisableArgs, table: Table) -> Result<u8, u8> {
    expect_n(&a.args, 1)?;
    let session = Session::open_or_report(&a.common)?;
    let path = with_slash(&sanitize_path(&a.args[0]));
    let api = format!("{}/{}", table.api(), sanitize_path(&path));
    if let Err(e) = session.client.call("DELETE", &api, &[], None) {
        match table {
            Table::Auth => err(&format!("Error disabling auth method at {path}: {e}")),
            Table::Secrets => err(&format!("Error disabling secrets engine at {path}: {e}")),
        }
        return Ok(2);
    }
    match table {
        Table::Auth => out(&format!(
            "Success! Disabled the auth method (if it existed) at: {path}"
        )),
        Table::Secrets => out(&format!(
            "Success! Disabled the secrets engine (if it existed) at: {path}"
        )),
    }
    Ok(0)
}

/// The mounts of a `sys/auth` or `sys/mounts` answer: the `data` object
/// (or, from older servers, the top level), keeping only mount entries.
pub(crate) fn mounts_of(body: &Map<String, Value>) -> Map<String, Value> {
    let source = body.get("data").and_then(Value::as_object).unwrap_or(body);
    source
        .iter()
        .filter(|(k, v)| k.ends_with('/') && v.get("type").is_some())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A field of a mount as Go's `%s` prints it (empty for missing).
fn s(m: &Value, key: &str) -> String {
    match m.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(v) => go_value(v),
    }
}

/// Rows of `auth list` / `secrets list`, detailed or not.
pub(crate) fn mount_rows(
    mounts: &Map<String, Value>,
    table: Table,
    detailed: bool,
) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header: Vec<&str> = match (table, detailed) {
        (Table::Auth, false) => vec!["Path", "Type", "Accessor", "Description", "Version"],
        (Table::Secrets, false) => vec!["Path", "Type", "Accessor", "Description"],
        (Table::Auth, true) => vec![
            "Path",
            "Plugin",
            "Accessor",
            "Default TTL",
            "Max TTL",
            "Token Type",
            "Replication",
            "Seal Wrap",
            "External Entropy Access",
            "Options",
            "Description",
            "UUID",
            "Version",
            "Running Version",
            "Running SHA256",
            "Deprecation Status",
        ],
        (Table::Secrets, true) => vec![
            "Path",
            "Plugin",
            "Accessor",
            "Default TTL",
            "Max TTL",
            "Force No Cache",
            "Replication",
            "Seal Wrap",
            "External Entropy Access",
            "Options",
            "Description",
            "UUID",
            "Version",
            "Running Version",
            "Running SHA256",
            "Deprecation Status",
        ],
    };
    let mut paths: Vec<&String> = mounts.keys().collect();
    paths.sort();
    let rows = paths
        .into_iter()
        .map(|path| {
            let m = &mounts[path.as_str()];
            let kind = s(m, "type");
            if !detailed {
                let mut row = vec![path.clone(), kind, s(m, "accessor"), s(m, "description")];
                if table == Table::Auth {
                    row.push(s(m, "plugin_version"));
                }
                return row;
            }
            let config = m.get("config").cloned().unwrap_or(Value::Null);
            let ttl = |key: &str| {
                if table == Table::Secrets
                    && matches!(kind.as_str(), "system" | "cubbyhole" | "identity")
                {
                    return "n/a".to_string();
                }
                match config.get(key).and_then(Value::as_i64) {
                    Some(n) if n != 0 => n.to_string(),
                    _ => "system".to_string(),
                }
            };
            let flag = |key: &str| m.get(key).and_then(Value::as_bool).unwrap_or(false);
            let plugin = if kind == "plugin" {
                s(&config, "plugin_name")
            } else {
                kind.clone()
            };
            let options = match m.get("options") {
                Some(Value::Object(o)) => go_value(&Value::Object(o.clone())),
                _ => "map[]".to_string(),
            };
            let middle = match table {
                Table::Auth => s(&config, "token_type"),
                Table::Secrets => config
                    .get("force_no_cache")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string(),
            };
            vec![
                path.clone(),
                plugin,
                s(m, "accessor"),
                ttl("default_lease_ttl"),
                ttl("max_lease_ttl"),
                middle,
                if flag("local") { "local" } else { "replicated" }.to_string(),
                flag("seal_wrap").to_string(),
                flag("external_entropy_access").to_string(),
                options,
                s(m, "description"),
                s(m, "uuid"),
                s(m, "plugin_version"),
                s(m, "running_plugin_version"),
                s(m, "running_sha256"),
                s(m, "deprecation_status"),
            ]
        })
        .collect();
    (header, rows)
}

/// The mount list as Go marshals `map[string]*api.AuthMount` or
/// `map[string]*api.MountOutput`: sorted paths, struct field order.
pub(crate) fn mounts_json(mounts: &Map<String, Value>) -> Ordered {
    let text = |k: &'static str| (k, Value::from(""), false);
    let mut fields: Vec<GoField> = vec![text("uuid"), text("type"), text("description")];
    fields.push(text("accessor"));
    let rest: Vec<GoField> = vec![
        ("options", Value::Null, false),
        ("local", Value::Bool(false), false),
        ("seal_wrap", Value::Bool(false), false),
        ("external_entropy_access", Value::Bool(false), false),
        text("plugin_version"),
        text("running_plugin_version"),
        text("running_sha256"),
        text("deprecation_status"),
    ];
    let config_fields: Vec<GoField> = vec![
        ("default_lease_ttl", Value::from(0), false),
        ("max_lease_ttl", Value::from(0), false),
        ("force_no_cache", Value::Bool(false), false),
        ("audit_non_hmac_request_keys", Value::Null, true),
        ("audit_non_hmac_response_keys", Value::Null, true),
        ("listing_visibility", Value::Null, true),
        ("passthrough_request_headers", Value::Null, true),
        ("allowed_response_headers", Value::Null, true),
        ("token_type", Value::Null, true),
        ("allowed_managed_keys", Value::Null, true),
        ("user_lockout_config", Value::Null, true),
        ("plugin_name", Value::Null, true),
    ];
    let empty = Map::new();
    let mut paths: Vec<&String> = mounts.keys().collect();
    paths.sort();
    Ordered::Object(
        paths
            .into_iter()
            .map(|path| {
                let m = mounts[path.as_str()].as_object().unwrap_or(&empty);
                let config = m.get("config").and_then(Value::as_object).unwrap_or(&empty);
                let mut entry = go_struct(m, &fields);
                entry.push((
                    "config".into(),
                    Ordered::Object(go_struct(config, &config_fields)),
                ));
                entry.extend(go_struct(m, &rest));
                (path.clone(), Ordered::Object(entry))
            })
            .collect(),
    )
}

fn list(a: ListMountsArgs, table: Table) -> Result<u8, u8> {
    expect_n(&a.args, 0)?;
    let session = Session::open_or_report(&a.common)?;
    let secret = match session.client.get(table.api()) {
        Err(e) => {
            match table {
                Table::Auth => err(&format!("Error listing enabled authentications: {e}")),
                Table::Secrets => err(&format!("Error listing secrets engines: {e}")),
            }
            return Ok(2);
        }
        Ok(s) => s.unwrap_or_default(),
    };
    let mounts = mounts_of(&secret.0);
    match session.format {
        Format::Json => out(&json_ordered_value(&mounts_json(&mounts))),
        Format::Table => {
            let (header, rows) = mount_rows(&mounts, table, a.detailed);
            out(&render_table(&header, rows));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enable_args(path: &str) -> EnableArgs {
        EnableArgs {
            common: CommonArgs::default(),
            path: path.into(),
            description: "d".into(),
            default_lease_ttl: Some(3600),
            max_lease_ttl: None,
            local: false,
            seal_wrap: false,
            options: vec![],
            listing_visibility: String::new(),
            token_type: String::new(),
            version: 2,
            args: vec!["kv".into()],
        }
    }

    #[test]
    fn enable_bodies() {
        let a = enable_args("");
        assert_eq!(
            enable_body(&a, "kv", Table::Secrets),
            json!({"type": "kv", "description": "d", "config": {"default_lease_ttl": "3600s"},
                   "local": false, "seal_wrap": false, "options": {"version": "2"}})
        );
        let body = enable_body(&a, "userpass", Table::Auth);
        assert!(body.get("options").is_none(), "{body}");
        assert_eq!(with_slash("up"), "up/");
        assert_eq!(with_slash("up/"), "up/");
    }

    #[test]
    fn list_tables_match_vault() {
        let body = json!({"data": {
            "token/": {"type": "token", "accessor": "token_1", "description": "token based credentials",
                       "config": {"default_lease_ttl": 0, "max_lease_ttl": 0}, "local": false,
                       "options": null, "uuid": "u1", "plugin_version": ""},
            "userpass/": {"type": "userpass", "accessor": "userpass_2", "description": "",
                          "config": {"default_lease_ttl": 60, "max_lease_ttl": 0}, "local": true,
                          "options": {"a": "b"}, "uuid": "u2"}
        }, "token/": {"type": "token"}});
        let mounts = mounts_of(body.as_object().unwrap());
        assert_eq!(mounts.len(), 2);
        let (header, rows) = mount_rows(&mounts, Table::Auth, false);
        assert_eq!(
            render_table(&header, rows),
            "Path         Type        Accessor      Description                Version\n\
             ----         ----        --------      -----------                -------\n\
             token/       token       token_1       token based credentials    n/a\n\
             userpass/    userpass    userpass_2    n/a                        n/a"
        );
        let (_, rows) = mount_rows(&mounts, Table::Auth, true);
        assert_eq!(rows[1][3], "60");
        assert_eq!(rows[1][4], "system");
        assert_eq!(rows[1][6], "local");
        assert_eq!(rows[1][9], "map[a:b]");
        assert_eq!(rows[0][9], "map[]");
    }
}
