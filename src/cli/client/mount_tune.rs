//! `secrets tune`, `auth tune` (on `sys/mounts/:path/tune`) and `secrets
//! move`, `auth move` (on `sys/remount`), with Vault's flags and messages.

use std::time::Duration;

use clap::Args;
use serde_json::{json, Map, Value};

use super::api::Body;
use super::format::{err, out};
use super::policy::expect_n;
use super::token::parse_kv_flag;
use super::{parse_go_bool, sanitize_path, CommonArgs, Session};

/// A TTL flag: a duration (`72h`, seconds) or `system`, sent as the API
/// takes it (Vault's `ttlToAPI`: seconds with an `s`).
fn parse_ttl_flag(s: &str) -> Result<String, String> {
    if s.trim() == "system" {
        return Ok("system".into());
    }
    crate::logical::parse_duration_str(s).map(|n| format!("{n}s"))
}

/// The flags `secrets tune` and `auth tune` share.
#[derive(Args, Debug)]
pub(crate) struct TuneFlags {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Key not HMAC'd by audit devices in the request data (repeatable).
    #[arg(long = "audit-non-hmac-request-keys")]
    pub(crate) audit_non_hmac_request_keys: Vec<String>,
    /// Key not HMAC'd by audit devices in the response data (repeatable).
    #[arg(long = "audit-non-hmac-response-keys")]
    pub(crate) audit_non_hmac_response_keys: Vec<String>,
    /// The default lease TTL of the mount (or "system").
    #[arg(long = "default-lease-ttl", value_parser = parse_ttl_flag)]
    pub(crate) default_lease_ttl: Option<String>,
    /// The maximum lease TTL of the mount (or "system").
    #[arg(long = "max-lease-ttl", value_parser = parse_ttl_flag)]
    pub(crate) max_lease_ttl: Option<String>,
    /// Human-friendly description; replaces the stored one.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// Visibility of the mount in the UI listing ("unauth" or "hidden").
    #[arg(long = "listing-visibility")]
    pub(crate) listing_visibility: Option<String>,
    /// Request header sent to the plugin (repeatable).
    #[arg(long = "passthrough-request-headers")]
    pub(crate) passthrough_request_headers: Vec<String>,
    /// Response header plugins may set (repeatable).
    #[arg(long = "allowed-response-headers")]
    pub(crate) allowed_response_headers: Vec<String>,
    /// Managed key the mount may use (repeatable).
    #[arg(long = "allowed-managed-keys")]
    pub(crate) allowed_managed_keys: Vec<String>,
    /// Mount option key=value (repeatable).
    #[arg(long = "options", value_parser = parse_kv_flag)]
    pub(crate) options: Vec<(String, String)>,
    /// Engine version (`-version=2` upgrades a KV v1 mount).
    #[arg(long, default_value_t = 0)]
    pub(crate) version: u32,
    /// Semantic version of the plugin to run.
    #[arg(long = "plugin-version")]
    pub(crate) plugin_version: Option<String>,
    /// PATH
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct SecretsTuneArgs {
    #[command(flatten)]
    pub(crate) flags: TuneFlags,
}

#[derive(Args, Debug)]
pub(crate) struct AuthTuneArgs {
    #[command(flatten)]
    pub(crate) flags: TuneFlags,
    /// Forced token type of the mount.
    #[arg(long = "token-type")]
    pub(crate) token_type: Option<String>,
    /// Failed logins before a user is locked out.
    #[arg(long = "user-lockout-threshold")]
    pub(crate) user_lockout_threshold: Option<u64>,
    /// How long a user stays locked out.
    #[arg(long = "user-lockout-duration", value_parser = parse_ttl_flag)]
    pub(crate) user_lockout_duration: Option<String>,
    /// After how long the failed-login counter resets.
    #[arg(long = "user-lockout-counter-reset-duration", value_parser = parse_ttl_flag)]
    pub(crate) user_lockout_counter_reset_duration: Option<String>,
    /// Disable user lockout for this mount.
    #[arg(
        long = "user-lockout-disable",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) user_lockout_disable: Option<bool>,
}

#[derive(Args, Debug)]
pub(crate) struct MoveArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// SOURCE DESTINATION
    pub(crate) args: Vec<String>,
}

/// The `api.MountConfigInput` body of a tune: only what was given.
pub(crate) fn tune_body(f: &TuneFlags) -> Map<String, Value> {
    let mut body = Map::new();
    if let Some(v) = &f.default_lease_ttl {
        body.insert("default_lease_ttl".into(), json!(v));
    }
    if let Some(v) = &f.max_lease_ttl {
        body.insert("max_lease_ttl".into(), json!(v));
    }
    let mut options: Map<String, Value> = f
        .options
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if f.version > 0 {
        options.insert("version".into(), json!(f.version.to_string()));
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    for (key, list) in [
        (
            "audit_non_hmac_request_keys",
            &f.audit_non_hmac_request_keys,
        ),
        (
            "audit_non_hmac_response_keys",
            &f.audit_non_hmac_response_keys,
        ),
        (
            "passthrough_request_headers",
            &f.passthrough_request_headers,
        ),
        ("allowed_response_headers", &f.allowed_response_headers),
        ("allowed_managed_keys", &f.allowed_managed_keys),
    ] {
        if !list.is_empty() {
            body.insert(key.into(), json!(list));
        }
    }
    if let Some(v) = &f.description {
        body.insert("description".into(), json!(v));
    }
    if let Some(v) = &f.listing_visibility {
        body.insert("listing_visibility".into(), json!(v));
    }
    if let Some(v) = &f.plugin_version {
        body.insert("plugin_version".into(), json!(v));
    }
    body
}

/// The body of `auth tune`: the shared settings plus token type and lockout.
pub(crate) fn auth_tune_body(a: &AuthTuneArgs) -> Map<String, Value> {
    let mut body = tune_body(&a.flags);
    if let Some(v) = &a.token_type {
        body.insert("token_type".into(), json!(v));
    }
    let mut lockout = Map::new();
    if let Some(v) = a.user_lockout_threshold {
        lockout.insert("lockout_threshold".into(), json!(v.to_string()));
    }
    if let Some(v) = &a.user_lockout_duration {
        lockout.insert("lockout_duration".into(), json!(v));
    }
    if let Some(v) = &a.user_lockout_counter_reset_duration {
        lockout.insert("lockout_counter_reset_duration".into(), json!(v));
    }
    if let Some(v) = a.user_lockout_disable {
        lockout.insert("lockout_disable".into(), json!(v));
    }
    if !lockout.is_empty() {
        body.insert("user_lockout_config".into(), Value::Object(lockout));
    }
    body
}

fn with_slash(p: &str) -> String {
    format!("{}/", sanitize_path(p))
}

fn tune(f: &TuneFlags, body: Map<String, Value>, auth: bool) -> Result<u8, u8> {
    expect_n(&f.args, 1)?;
    let session = Session::open_or_report(&f.common)?;
    let path = with_slash(&f.args[0]);
    // Like Vault's CLI, auth methods are tuned through sys/mounts/auth/...
    let api = if auth {
        format!("sys/mounts/auth/{path}tune")
    } else {
        format!("sys/mounts/{path}tune")
    };
    let what = if auth {
        "auth method"
    } else {
        "secrets engine"
    };
    if let Err(e) = session
        .client
        .call("POST", &api, &[], Some(Body::json(&Value::Object(body))))
    {
        err(&format!("Error tuning {what} {path}: {e}"));
        return Ok(2);
    }
    out(&format!("Success! Tuned the {what} at: {path}"));
    Ok(0)
}

pub(crate) fn secrets_tune(a: SecretsTuneArgs) -> Result<u8, u8> {
    let body = tune_body(&a.flags);
    tune(&a.flags, body, false)
}

pub(crate) fn auth_tune(a: AuthTuneArgs) -> Result<u8, u8> {
    let body = auth_tune_body(&a);
    tune(&a.flags, body, true)
}

/// `secrets move` / `auth move`: start the remount, then poll its status
/// until it is final, as Vault's CLI does.
pub(crate) fn move_mount(a: MoveArgs, auth: bool) -> Result<u8, u8> {
    expect_n(&a.args, 2)?;
    let session = Session::open_or_report(&a.common)?;
    let ensure = |p: &str| {
        let p = with_slash(p);
        if auth && !p.starts_with("auth/") {
            format!("auth/{p}")
        } else {
            p
        }
    };
    let (source, destination) = (ensure(&a.args[0]), ensure(&a.args[1]));
    let what = if auth {
        "auth method"
    } else {
        "secrets engine"
    };
    let body = json!({"from": source, "to": destination});
    let started = match session
        .client
        .call("POST", "sys/remount", &[], Some(Body::json(&body)))
    {
        Ok(s) => s,
        Err(e) => {
            err(&format!(
                "Error moving {what} {source} to {destination}: {e}"
            ));
            return Ok(2);
        }
    };
    let id = started
        .as_ref()
        .and_then(|s| s.data())
        .and_then(|d| d.get("migration_id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    out(&format!(
        "Started moving {what} {source} to {destination}, with migration ID {id}"
    ));
    loop {
        let status =
            match session
                .client
                .call("GET", &format!("sys/remount/status/{id}"), &[], None)
            {
                Ok(s) => s,
                Err(e) => {
                    err(&format!(
                        "Error checking migration status of {what} {source} to {destination}: {e}"
                    ));
                    return Ok(2);
                }
            };
        let state = status
            .as_ref()
            .and_then(|s| s.data())
            .and_then(|d| d.get("migration_info"))
            .and_then(|i| i.get("status"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match state.as_str() {
            "success" => {
                out(&format!(
                    "Success! Finished moving {what} {source} to {destination}, with migration ID {id}"
                ));
                return Ok(0);
            }
            "failure" => {
                err(&format!(
                    "Failure! Error encountered moving {what} {source} to {destination}, with migration ID {id}"
                ));
                return Ok(0);
            }
            _ => {
                out(&format!(
                    "Waiting for terminal status in migration of {what} {source} to {destination}, with migration ID {id}"
                ));
                std::thread::sleep(Duration::from_secs(10));
            }
        }
    }
}
