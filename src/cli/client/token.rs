//! `token create|lookup|renew|revoke|capabilities`: the token store under
//! `auth/token/`, with `vault token`'s flags, output and exit codes.

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::api::{Body, ClientError, Secret};
use super::format::Format;
use super::format::{err, go_value, json_pretty, out, output_secret, print_field, raw_field};
use super::{parse_go_bool, usage, CommonArgs, Session};

#[derive(Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Create a new token.
    Create(Box<TokenCreateArgs>),
    /// Show a token's properties (the current token without an argument).
    Lookup(TokenLookupArgs),
    /// Extend a token's TTL (the current token without an argument).
    Renew(TokenRenewArgs),
    /// Revoke a token and, by default, its children.
    Revoke(TokenRevokeArgs),
    /// Print a token's capabilities on a path.
    Capabilities(TokenCapabilitiesArgs),
}

/// A duration flag as Vault takes it: seconds, or Go units (`90s`, `1h30m`,
/// `7d`).
pub(crate) fn parse_duration_flag(s: &str) -> Result<u64, String> {
    crate::logical::parse_duration_str(s)
}

/// A `-metadata=key=value` (or `-options=key=value`) pair.
pub(crate) fn parse_kv_flag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) => Ok((k.trim().to_string(), v.trim().to_string())),
        None => Err(format!("missing = in KV pair: {s:?}")),
    }
}

#[derive(Args, Debug)]
pub(crate) struct TokenCreateArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Print only this field.
    #[arg(long)]
    pub(crate) field: Option<String>,
    /// Value for the token (root tokens only).
    #[arg(long)]
    pub(crate) id: Option<String>,
    /// Name associated with the token.
    #[arg(long = "display-name", default_value = "")]
    pub(crate) display_name: String,
    /// Initial TTL.
    #[arg(long, value_parser = parse_duration_flag)]
    pub(crate) ttl: Option<u64>,
    /// Hard limit on the token's life, renewals included.
    #[arg(long = "explicit-max-ttl", value_parser = parse_duration_flag)]
    pub(crate) explicit_max_ttl: Option<u64>,
    /// Make a periodic token renewable forever by this period.
    #[arg(long, value_parser = parse_duration_flag)]
    pub(crate) period: Option<u64>,
    /// Whether the token can be renewed.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value = "true",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) renewable: bool,
    /// Number of uses before the token is revoked (0 = unlimited).
    #[arg(long = "use-limit", default_value_t = 0)]
    pub(crate) use_limit: i64,
    /// Create a token without a parent.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) orphan: bool,
    /// Do not attach the "default" policy.
    #[arg(
        long = "no-default-policy",
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) no_default_policy: bool,
    /// Policy to attach (repeatable).
    #[arg(long = "policy")]
    pub(crate) policies: Vec<String>,
    /// Metadata key=value (repeatable).
    #[arg(long, value_parser = parse_kv_flag)]
    pub(crate) metadata: Vec<(String, String)>,
    /// Create the token against this token role.
    #[arg(long)]
    pub(crate) role: Option<String>,
    /// "service" or "batch".
    #[arg(long = "type", default_value = "service")]
    pub(crate) token_type: String,
    /// Entity alias to associate (with -role).
    #[arg(long = "entity-alias", default_value = "")]
    pub(crate) entity_alias: String,
    #[arg(hide = true)]
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct TokenLookupArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Treat the argument as an accessor.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) accessor: bool,
    /// [TOKEN | ACCESSOR]
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct TokenRenewArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Treat the argument as an accessor.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) accessor: bool,
    /// Requested TTL extension (the server may cap it).
    #[arg(long, short = 'i', value_parser = parse_duration_flag, default_value = "0")]
    pub(crate) increment: u64,
    /// [TOKEN | ACCESSOR]
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct TokenRevokeArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Treat the argument as an accessor.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) accessor: bool,
    /// Revoke the token in use.
    #[arg(
        long = "self",
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) self_: bool,
    /// "orphan" keeps the children; "path" revokes by creation-path prefix.
    #[arg(long, default_value = "")]
    pub(crate) mode: String,
    /// TOKEN | ACCESSOR
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct TokenCapabilitiesArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// [TOKEN] PATH
    pub(crate) args: Vec<String>,
}

pub(crate) fn run(cmd: TokenCommand) -> u8 {
    let result = match cmd {
        TokenCommand::Create(a) => create(a),
        TokenCommand::Lookup(a) => lookup(a),
        TokenCommand::Renew(a) => renew(a),
        TokenCommand::Revoke(a) => revoke(a),
        TokenCommand::Capabilities(a) => capabilities(a),
    };
    result.unwrap_or_else(|code| code)
}

/// Seconds as Go's `time.Duration.String()` would send them; the server
/// parses either form.
fn secs(s: Option<u64>) -> String {
    format!("{}s", s.unwrap_or(0))
}

/// The `api.TokenCreateRequest` body, with its `omitempty` rules.
pub(crate) fn create_body(a: &TokenCreateArgs) -> Value {
    let mut body = Map::new();
    if let Some(id) = a.id.as_deref().filter(|i| !i.is_empty()) {
        body.insert("id".into(), json!(id));
    }
    if !a.policies.is_empty() {
        body.insert("policies".into(), json!(a.policies));
    }
    if !a.metadata.is_empty() {
        let meta: Map<String, Value> = a
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        body.insert("meta".into(), Value::Object(meta));
    }
    body.insert("ttl".into(), json!(secs(a.ttl)));
    body.insert("explicit_max_ttl".into(), json!(secs(a.explicit_max_ttl)));
    body.insert("period".into(), json!(secs(a.period)));
    if a.orphan {
        body.insert("no_parent".into(), json!(true));
    }
    if a.no_default_policy {
        body.insert("no_default_policy".into(), json!(true));
    }
    body.insert("display_name".into(), json!(a.display_name));
    body.insert("num_uses".into(), json!(a.use_limit));
    body.insert("renewable".into(), json!(a.renewable));
    body.insert("type".into(), json!(a.token_type));
    body.insert("entity_alias".into(), json!(a.entity_alias));
    Value::Object(body)
}

/// Where `token create` posts: a role, the orphan endpoint, or plain create.
pub(crate) fn create_path(a: &TokenCreateArgs) -> String {
    match a.role.as_deref().filter(|r| !r.is_empty()) {
        Some(role) => format!("auth/token/create/{role}"),
        None if a.orphan => "auth/token/create-orphan".into(),
        None => "auth/token/create".into(),
    }
}

/// A secret response or, for the empty bodies some endpoints give, a
/// message and exit 2.
fn show(
    session: &Session,
    result: Result<Option<Secret>, ClientError>,
    what: &str,
    field: Option<&str>,
) -> u8 {
    match result {
        Err(e) => {
            err(&format!("Error {what}: {e}"));
            2
        }
        Ok(None) => {
            err(&format!("Error {what}: empty response from the server"));
            2
        }
        Ok(Some(secret)) => match field {
            Some(f) => print_field(session.format, raw_field(&secret, f), f),
            None => {
                output_secret(session.format, &secret);
                0
            }
        },
    }
}

fn create(a: Box<TokenCreateArgs>) -> Result<u8, u8> {
    if !a.args.is_empty() {
        return usage(&format!(
            "Too many arguments (expected 0, got {})",
            a.args.len()
        ));
    }
    let session = Session::open_or_report(&a.common)?;
    let body = create_body(&a);
    let result = session
        .client
        .call("POST", &create_path(&a), &[], Some(Body::json(&body)));
    Ok(show(&session, result, "creating token", a.field.as_deref()))
}

fn lookup(a: TokenLookupArgs) -> Result<u8, u8> {
    let n = a.args.len();
    if a.accessor && n != 1 {
        let which = if n < 1 { "Not enough" } else { "Too many" };
        return usage(&format!(
            "{which} arguments with -accessor (expected 1, got {n})"
        ));
    }
    if n > 1 {
        return usage(&format!("Too many arguments (expected 0-1, got {n})"));
    }
    let session = Session::open_or_report(&a.common)?;
    let token = a.args.first().map(|t| t.trim().to_string());
    let client = &session.client;
    let result = match token {
        None => client.call("GET", "auth/token/lookup-self", &[], None),
        Some(t) if a.accessor => client.call(
            "POST",
            "auth/token/lookup-accessor",
            &[],
            Some(Body::json(&json!({ "accessor": t }))),
        ),
        Some(t) => client.call(
            "POST",
            "auth/token/lookup",
            &[],
            Some(Body::json(&json!({ "token": t }))),
        ),
    };
    Ok(show(&session, result, "looking up token", None))
}

fn renew(a: TokenRenewArgs) -> Result<u8, u8> {
    let n = a.args.len();
    if n > 1 {
        return usage(&format!("Too many arguments (expected 0-1, got {n})"));
    }
    let session = Session::open_or_report(&a.common)?;
    let token = a.args.first().map(|t| t.trim().to_string());
    let client = &session.client;
    let result = match token {
        None => client.put(
            "auth/token/renew-self",
            &json!({ "increment": a.increment }),
        ),
        Some(t) if a.accessor => client.put(
            "auth/token/renew-accessor",
            &json!({ "accessor": t, "increment": a.increment }),
        ),
        Some(t) => client.put(
            "auth/token/renew",
            &json!({ "token": t, "increment": a.increment }),
        ),
    };
    Ok(show(&session, result, "renewing token", None))
}

/// Vault's checks of `token revoke`'s flag combinations, in its order.
pub(crate) fn check_revoke(a: &TokenRevokeArgs) -> Result<(), String> {
    let n = a.args.len();
    let problem = if a.self_ && n > 0 {
        format!("Too many arguments with -self (expected 0, got {n})")
    } else if !a.self_ && n > 1 {
        format!("Too many arguments (expected 1 or -self, got {n})")
    } else if !a.self_ && n < 1 {
        format!("Not enough arguments (expected 1 or -self, got {n})")
    } else if a.self_ && a.accessor {
        "Cannot use -self with -accessor!".into()
    } else if a.self_ && !a.mode.is_empty() {
        "Cannot use -self with -mode!".into()
    } else if a.accessor && a.mode == "orphan" {
        "Cannot use -accessor with -mode=orphan!".into()
    } else if a.accessor && a.mode == "path" {
        "Cannot use -accessor with -mode=path!".into()
    } else if !matches!(a.mode.as_str(), "" | "orphan" | "path") {
        format!("Invalid mode: {}", a.mode)
    } else {
        return Ok(());
    };
    Err(problem)
}

fn revoke(a: TokenRevokeArgs) -> Result<u8, u8> {
    if let Err(problem) = check_revoke(&a) {
        return usage(&problem);
    }
    let session = Session::open_or_report(&a.common)?;
    let client = &session.client;
    let result = if a.self_ {
        client.put("auth/token/revoke-self", &json!({}))
    } else {
        let token = a.args[0].trim();
        match a.mode.as_str() {
            _ if a.accessor => {
                client.put("auth/token/revoke-accessor", &json!({ "accessor": token }))
            }
            "orphan" => client.put("auth/token/revoke-orphan", &json!({ "token": token })),
            "path" => client.put(&format!("sys/leases/revoke-prefix/{token}"), &json!({})),
            _ => client.put("auth/token/revoke", &json!({ "token": token })),
        }
    };
    match result {
        Err(e) => {
            err(&format!("Error revoking token: {e}"));
            Ok(2)
        }
        Ok(_) => {
            out("Success! Revoked token (if it existed)");
            Ok(0)
        }
    }
}

/// The capability list from a `sys/capabilities[-self]` answer: the
/// path's own key, else the legacy `capabilities`.
pub(crate) fn capability_list(data: &Map<String, Value>, path: &str) -> Option<Vec<String>> {
    let list = data
        .get(path)
        .filter(|v| v.is_array())
        .or_else(|| data.get("capabilities"))?
        .as_array()?;
    Some(list.iter().map(go_value).collect())
}

fn capabilities(a: TokenCapabilitiesArgs) -> Result<u8, u8> {
    let (token, path) = match a.args.as_slice() {
        [] => return usage("Not enough arguments (expected 1-2, got 0)"),
        [path] => (None, path.clone()),
        [token, path] => (Some(token.trim().to_string()), path.clone()),
        more => {
            return usage(&format!(
                "Too many arguments (expected 1-2, got {})",
                more.len()
            ))
        }
    };
    let session = Session::open_or_report(&a.common)?;
    let result = match &token {
        None => session.client.call(
            "POST",
            "sys/capabilities-self",
            &[],
            Some(Body::json(&json!({ "paths": [path] }))),
        ),
        Some(t) => session.client.call(
            "POST",
            "sys/capabilities",
            &[],
            Some(Body::json(&json!({ "token": t, "paths": [path] }))),
        ),
    };
    let secret = match result {
        Err(e) => {
            err(&format!("Error listing capabilities: {e}"));
            return Ok(2);
        }
        Ok(s) => s,
    };
    // The server may answer with the data at the top level (as Vault's
    // sys endpoints historically did) or under `data`.
    let caps = secret.as_ref().and_then(|s| {
        s.data()
            .and_then(|d| capability_list(d, &path))
            .or_else(|| capability_list(&s.0, &path))
    });
    let Some(mut caps) = caps else {
        err("No capabilities found");
        return Ok(1);
    };
    match session.format {
        Format::Table => {
            caps.sort();
            out(&caps.join(", "));
        }
        Format::Json => out(&json_pretty(&json!(caps))),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create_args(policies: &[&str]) -> TokenCreateArgs {
        TokenCreateArgs {
            common: CommonArgs::default(),
            field: None,
            id: None,
            display_name: String::new(),
            ttl: Some(3600),
            explicit_max_ttl: None,
            period: None,
            renewable: true,
            use_limit: 0,
            orphan: false,
            no_default_policy: false,
            policies: policies.iter().map(|p| p.to_string()).collect(),
            metadata: vec![("team".into(), "ops".into())],
            role: None,
            token_type: "service".into(),
            entity_alias: String::new(),
            args: Vec::new(),
        }
    }

    #[test]
    fn create_request_matches_vault() {
        let mut a = create_args(&["p"]);
        assert_eq!(
            create_body(&a),
            json!({"policies": ["p"], "meta": {"team": "ops"}, "ttl": "3600s",
                   "explicit_max_ttl": "0s", "period": "0s", "display_name": "",
                   "num_uses": 0, "renewable": true, "type": "service",
                   "entity_alias": ""})
        );
        assert_eq!(create_path(&a), "auth/token/create");
        a.orphan = true;
        assert_eq!(create_path(&a), "auth/token/create-orphan");
        assert_eq!(create_body(&a)["no_parent"], json!(true));
        a.role = Some("ci".into());
        assert_eq!(create_path(&a), "auth/token/create/ci");
    }

    #[test]
    fn flag_values() {
        assert_eq!(parse_duration_flag("1h30m"), Ok(5400));
        assert_eq!(parse_duration_flag("90"), Ok(90));
        assert!(parse_duration_flag("soon").is_err());
        assert_eq!(parse_kv_flag("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_kv_flag("nope").is_err());
    }

    #[test]
    fn revoke_flag_checks() {
        let args = |self_: bool, accessor: bool, mode: &str, n: usize| TokenRevokeArgs {
            common: CommonArgs::default(),
            accessor,
            self_,
            mode: mode.into(),
            args: vec!["t".to_string(); n],
        };
        assert_eq!(check_revoke(&args(false, false, "", 1)), Ok(()));
        assert_eq!(check_revoke(&args(true, false, "", 0)), Ok(()));
        assert_eq!(
            check_revoke(&args(false, false, "", 0)).unwrap_err(),
            "Not enough arguments (expected 1 or -self, got 0)"
        );
        assert_eq!(
            check_revoke(&args(false, true, "orphan", 1)).unwrap_err(),
            "Cannot use -accessor with -mode=orphan!"
        );
        assert_eq!(
            check_revoke(&args(false, false, "bogus", 1)).unwrap_err(),
            "Invalid mode: bogus"
        );
    }

    #[test]
    fn capability_lists() {
        let d = json!({"secret/x": ["read", "list"], "capabilities": ["read", "list"]});
        assert_eq!(
            capability_list(d.as_object().unwrap(), "secret/x"),
            Some(vec!["read".to_string(), "list".to_string()])
        );
        let legacy = json!({"capabilities": ["deny"]});
        assert_eq!(
            capability_list(legacy.as_object().unwrap(), "a"),
            Some(vec!["deny".to_string()])
        );
        assert_eq!(capability_list(&Map::new(), "a"), None);
    }
}
