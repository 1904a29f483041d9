//! Parsing of the `storage "dynamodb"` stanza's options (see the module docs
//! of `storage::dynamodb` for the table of options).

use serde_json::{Map, Value};

/// Parsed `storage "dynamodb"` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DynamoOptions {
    pub(crate) table: String,
    pub(crate) region: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) access_key: Option<String>,
    pub(crate) secret_key: Option<String>,
    pub(crate) session_token: Option<String>,
    pub(crate) ha_enabled: bool,
    pub(crate) create_table: bool,
    pub(crate) consistent_reads: bool,
}

const KNOWN_OPTIONS: &[&str] = &[
    "table",
    "region",
    "endpoint",
    "access_key",
    "secret_key",
    "session_token",
    "ha_enabled",
    "create_table",
    "consistent_reads",
    // Read by the server's HA wiring, not by the backend.
    "lease_ttl",
    // Vault's DynamoDB options that do not apply here (on-demand tables).
    "max_parallel",
    "read_capacity",
    "write_capacity",
];

pub(super) fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A string option; numbers and booleans are accepted and stringified.
pub(crate) fn opt_string(
    options: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, String> {
    match options.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("option {name:?} must be a string, got {other}")),
    }
}

/// A boolean option given as a boolean or as a string ("true", "false", "1", "0").
fn opt_bool(options: &Map<String, Value>, name: &str) -> Result<Option<bool>, String> {
    match opt_string(options, name)? {
        None => Ok(None),
        Some(s) => parse_bool(&s)
            .map(Some)
            .ok_or_else(|| format!("option {name:?} must be true or false, got {s:?}")),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl DynamoOptions {
    /// Parses the stanza's options, falling back to the environment.
    pub(crate) fn parse(options: &Map<String, Value>) -> Result<Self, String> {
        for name in options.keys() {
            if !KNOWN_OPTIONS.contains(&name.as_str()) {
                tracing::warn!(option = %name, "ignoring unknown dynamodb storage option");
            }
        }
        let table = opt_string(options, "table")?
            .or_else(|| env_nonempty("AWS_DYNAMODB_TABLE"))
            .unwrap_or_else(|| "strongroom".to_string());
        if table.len() < 3
            || table.len() > 255
            || !table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(format!(
                "dynamodb table name {table:?} is invalid (3-255 characters of a-z, A-Z, 0-9, '_', '-', '.')"
            ));
        }
        let ha_enabled = match opt_bool(options, "ha_enabled")? {
            Some(b) => b,
            None => match env_nonempty("DYNAMODB_HA_ENABLED") {
                Some(s) => parse_bool(&s).ok_or_else(|| {
                    format!("DYNAMODB_HA_ENABLED must be true or false, got {s:?}")
                })?,
                None => false,
            },
        };
        let access_key = opt_string(options, "access_key")?;
        let secret_key = opt_string(options, "secret_key")?;
        if access_key.is_some() != secret_key.is_some() {
            return Err(
                "dynamodb options access_key and secret_key must be given together".to_string(),
            );
        }
        Ok(Self {
            table,
            region: opt_string(options, "region")?,
            endpoint: opt_string(options, "endpoint")?
                .or_else(|| env_nonempty("AWS_DYNAMODB_ENDPOINT")),
            access_key,
            secret_key,
            session_token: opt_string(options, "session_token")?,
            ha_enabled,
            create_table: opt_bool(options, "create_table")?.unwrap_or(false),
            consistent_reads: opt_bool(options, "consistent_reads")?.unwrap_or(true),
        })
    }
}
