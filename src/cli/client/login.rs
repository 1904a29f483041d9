//! `login`: authenticate with the token, userpass or approle method and keep
//! the token in `~/.vault-token`, as Vault's built-in token helper does, so
//! later commands pick it up.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Map, Value};

use super::api::{Secret, VaultClient};
use super::args_data::parse_args_data;
use super::format::{
    err, go_value, out, output_secret, print_field, raw_field, wrap_at_length, Format,
};
use super::{parse_go_bool, sanitize_path, CommonArgs, Session};

/// The methods `login` knows how to drive.
const METHODS: &[&str] = &["token", "userpass", "approle"];

#[derive(Args, Debug)]
pub(crate) struct LoginArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Auth method type: token, userpass or approle.
    #[arg(long, default_value = "token")]
    pub(crate) method: String,
    /// Mount path of the method (default: the method's name).
    #[arg(long, default_value = "")]
    pub(crate) path: String,
    /// Do not write the token to the token helper (~/.vault-token).
    #[arg(
        long = "no-store",
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) no_store: bool,
    /// Print nothing on success.
    #[arg(
        long = "no-print",
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) no_print: bool,
    /// Print only the token and do not store it (implies -no-store).
    #[arg(
        long = "token-only",
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) token_only: bool,
    /// Print only this field.
    #[arg(long)]
    pub(crate) field: Option<String>,
    /// [TOKEN] or K=V configuration for the method.
    pub(crate) args: Vec<String>,
}

/// The method, the mount and the K=V configuration `login` works from.
#[derive(Debug, PartialEq)]
pub(crate) struct LoginPlan {
    pub(crate) method: String,
    pub(crate) mount: String,
    pub(crate) config: Map<String, Value>,
}

/// Why a login could not be planned; Vault exits 1 for both.
#[derive(Debug, PartialEq)]
pub(crate) enum PlanError {
    UnknownMethod(String),
    Config(String),
}

/// Vault's argument handling: a bare first argument of the token method is
/// the token, everything else is K=V; `mount` defaults to `-path`, then to
/// the method's name.
pub(crate) fn plan(
    method: &str,
    path: &str,
    args: &[String],
    stdin: &mut dyn std::io::Read,
) -> Result<LoginPlan, PlanError> {
    let method = match sanitize_path(method) {
        m if m.is_empty() => "token".to_string(),
        m => m,
    };
    if !METHODS.contains(&method.as_str()) {
        return Err(PlanError::UnknownMethod(method));
    }
    let mut args = args.to_vec();
    if method == "token" && args.first().is_some_and(|a| !a.contains('=')) {
        args[0] = format!("token={}", args[0]);
    }
    let mut config = parse_args_data(&args, stdin).map_err(|e| PlanError::Config(e.to_string()))?;
    let mount = match config.remove("mount").map(|v| go_value(&v)) {
        Some(m) if !m.is_empty() => m,
        _ if !path.is_empty() => path.to_string(),
        _ => method.clone(),
    };
    Ok(LoginPlan {
        method,
        mount: sanitize_path(&mount),
        config,
    })
}

/// A config value as the string Vault's `map[string]string` would hold.
fn config_str(config: &Map<String, Value>, key: &str) -> String {
    config.get(key).map(go_value).unwrap_or_default()
}

pub(crate) fn login(a: LoginArgs) -> u8 {
    login_inner(a).unwrap_or_else(|code| code)
}

fn login_inner(a: LoginArgs) -> Result<u8, u8> {
    let mut stdin = std::io::stdin().lock();
    let plan = match plan(&a.method, &a.path, &a.args, &mut stdin) {
        Ok(p) => p,
        Err(PlanError::UnknownMethod(m)) => {
            err(&wrap_at_length(&format!(
                "Unknown auth method: {m}. Use \"vault auth list\" to see the complete \
                 list of auth methods. Additionally, some auth methods are only available \
                 via the HTTP API."
            )));
            return Err(1);
        }
        Err(PlanError::Config(e)) => {
            err(&format!("Error parsing configuration: {e}"));
            return Err(1);
        }
    };
    drop(stdin);
    let mut session = Session::open_or_report(&a.common)?;
    if plan.method != "token" {
        // As Vault: a stored or exported token must not ride along.
        session.client.set_token(None);
    }
    let secret = match authenticate(&mut session.client, &plan) {
        Ok(s) => s,
        Err(e) => {
            err(&format!("Error authenticating: {e}"));
            return Ok(2);
        }
    };
    let Some(token) = secret
        .object("auth")
        .and_then(|auth| auth.get("client_token"))
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        err(&wrap_at_length(
            "Vault returned a secret, but the secret has no authentication \
             information attached. This should never happen and is likely a bug.",
        ));
        return Ok(2);
    };
    let (no_store, field) = if a.token_only {
        (true, Some("token".to_string()))
    } else {
        (a.no_store, a.field.clone())
    };
    if !no_store {
        if let Err(e) = store_token(home_dir().as_deref(), &token) {
            err(&format!("Error storing token: {e}"));
            err(&(wrap_at_length(
                "Authentication was successful, but the token was not persisted. The \
                 resulting token is shown below for your records.",
            ) + "\n"));
            output_secret(session.format, &secret);
            return Ok(2);
        }
        if let Some(var) = ["VAULT_TOKEN", "BAO_TOKEN"]
            .into_iter()
            .find(|v| std::env::var(v).is_ok_and(|t| !t.is_empty()))
        {
            err(&(wrap_at_length(&format!(
                "WARNING! The {var} environment variable is set! The value of this \
                 variable will take precedence; if this is unwanted please unset {var} \
                 or update its value accordingly."
            )) + "\n"));
        }
    } else if !a.token_only {
        err(&(wrap_at_length(
            "The token was not stored in token helper. Set the VAULT_TOKEN environment \
             variable or pass the token below with each request to Vault.",
        ) + "\n"));
    }
    if a.no_print {
        return Ok(0);
    }
    if let Some(field) = field.as_deref() {
        return Ok(print_field(
            session.format,
            raw_field(&secret, field),
            field,
        ));
    }
    if session.format == Format::Table {
        out(&(wrap_at_length(
            "Success! You are now authenticated. The token information displayed below \
             is already stored in the token helper. You do NOT need to run \"vault login\" \
             again. Future Vault requests will automatically use this token.",
        ) + "\n"));
    }
    output_secret(session.format, &secret);
    Ok(0)
}

/// Runs the method's handler; the error text follows Vault's handlers.
fn authenticate(client: &mut VaultClient, plan: &LoginPlan) -> Result<Secret, String> {
    match plan.method.as_str() {
        "token" => token_auth(client, &plan.config),
        "userpass" => {
            let username = config_str(&plan.config, "username");
            if username.is_empty() {
                return Err("'username' must be specified".into());
            }
            let mut password = config_str(&plan.config, "password");
            if password.is_empty() {
                password = prompt_hidden("Password (will be hidden): ", true)
                    .map_err(|e| e.to_string())?;
            }
            let mut body = Map::new();
            body.insert("password".into(), json!(password));
            for key in ["passcode", "method"] {
                let v = config_str(&plan.config, key);
                if !v.is_empty() {
                    body.insert(key.into(), json!(v));
                }
            }
            login_write(
                client,
                &format!("auth/{}/login/{username}", plan.mount),
                Value::Object(body),
            )
        }
        "approle" => {
            let role_id = config_str(&plan.config, "role_id");
            if role_id.is_empty() {
                return Err("'role_id' must be specified".into());
            }
            let mut body = json!({ "role_id": role_id });
            let secret_id = config_str(&plan.config, "secret_id");
            if !secret_id.is_empty() {
                body["secret_id"] = json!(secret_id);
            }
            login_write(client, &format!("auth/{}/login", plan.mount), body)
        }
        other => Err(format!("unsupported auth method {other}")),
    }
}

fn login_write(client: &VaultClient, path: &str, body: Value) -> Result<Secret, String> {
    client
        .put(path, &body)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "empty response from credential provider".to_string())
}

/// The token method: look the token up and dress the answer as an auth
/// response, as Vault's token CLI handler does.
fn token_auth(client: &mut VaultClient, config: &Map<String, Value>) -> Result<Secret, String> {
    let lookup = match config.get("lookup") {
        None => true,
        Some(v) => parse_go_bool(&go_value(v))
            .map_err(|e| format!("Failed to parse \"lookup\" as boolean: {e}"))?,
    };
    let token = match config.get("token") {
        Some(v) => go_value(v),
        None => prompt_hidden("Token (will be hidden): ", false).map_err(|e| {
            format!(
                "An error occurred attempting to ask for a token. The raw error \
                 message is shown below, but usually this is because you attempted to \
                 pipe a value into the command or you are executing outside of a \
                 terminal (tty). If you want to pipe the value, pass \"-\" as the \
                 argument to read from stdin. The raw error was: {e}"
            )
        })?,
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(
            "a token must be passed to auth, please view the help for more information".into(),
        );
    }
    if !lookup {
        return Ok(Secret(
            json!({ "auth": { "client_token": token } })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ));
    }
    client.set_token(Some(token.clone()));
    let secret = client
        .get("auth/token/lookup-self")
        .map_err(|e| format!("error looking up token: {e}"))?
        .ok_or_else(|| "empty response from lookup-self".to_string())?;
    Ok(token_lookup_as_auth(&token, &secret))
}

/// A `lookup-self` answer reshaped like an auth method's response.
pub(crate) fn token_lookup_as_auth(token: &str, lookup: &Secret) -> Secret {
    let empty = Map::new();
    let data = lookup.data().unwrap_or(&empty);
    let id = data
        .get("id")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())
        .unwrap_or(token);
    let policies = data.get("policies").cloned().unwrap_or(Value::Null);
    let auth = json!({
        "client_token": id,
        "accessor": data.get("accessor").cloned().unwrap_or(json!("")),
        "policies": policies,
        "token_policies": policies,
        "identity_policies": null,
        "metadata": null,
        "orphan": false,
        "entity_id": "",
        "lease_duration": data.get("ttl").and_then(Value::as_i64).unwrap_or(0),
        "renewable": data.get("renewable").and_then(Value::as_bool).unwrap_or(false),
        "mfa_requirement": null,
    });
    let mut m = Map::new();
    m.insert("auth".into(), auth);
    Secret(m)
}

/// Reads one line from stdin, after a prompt and without echo when stdin
/// is a terminal. Unlike Vault, a piped value is accepted too.
fn prompt_hidden(prompt: &str, on_stderr: bool) -> std::io::Result<String> {
    let tty = std::io::stdin().is_terminal();
    let show = |s: &str| {
        if on_stderr {
            let mut e = std::io::stderr();
            let _ = write!(e, "{s}");
            let _ = e.flush();
        } else {
            let mut o = std::io::stdout();
            let _ = write!(o, "{s}");
            let _ = o.flush();
        }
    };
    show(prompt);
    if tty {
        super::operator::set_echo(false);
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if tty {
        super::operator::set_echo(true);
    }
    show("\n");
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Vault's internal token helper: `~/.vault-token`, mode 0600, written to
/// a temporary file and renamed into place.
pub(crate) fn store_token(home: Option<&Path>, token: &str) -> Result<(), String> {
    let home = home.ok_or("error getting user's home directory: $HOME is not defined")?;
    let path = home.join(".vault-token");
    let tmp = home.join(".vault-token.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        let mut f = options.open(&tmp)?;
        f.write_all(token.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plans_logins() {
        let p = plan("token", "", &strings(&["s.abc"]), &mut "".as_bytes()).unwrap();
        assert_eq!(p.method, "token");
        assert_eq!(p.mount, "token");
        assert_eq!(p.config["token"], json!("s.abc"));

        let p = plan(
            "userpass",
            "people/",
            &strings(&["username=alice", "password=x"]),
            &mut "".as_bytes(),
        )
        .unwrap();
        assert_eq!(
            (p.method.as_str(), p.mount.as_str()),
            ("userpass", "people")
        );
        assert_eq!(p.config["username"], json!("alice"));

        let p = plan(
            "approle",
            "",
            &strings(&["role_id=r", "secret_id=-"]),
            &mut "s3cret".as_bytes(),
        )
        .unwrap();
        assert_eq!(p.mount, "approle");
        assert_eq!(p.config["secret_id"], json!("s3cret"));

        let p = plan("userpass", "", &strings(&["mount=up2"]), &mut "".as_bytes()).unwrap();
        assert_eq!(p.mount, "up2");
        assert!(!p.config.contains_key("mount"));

        assert_eq!(
            plan("github", "", &[], &mut "".as_bytes()),
            Err(PlanError::UnknownMethod("github".into()))
        );
        assert!(matches!(
            plan("userpass", "", &strings(&["oops"]), &mut "".as_bytes()),
            Err(PlanError::Config(_))
        ));
    }

    #[test]
    fn token_lookup_becomes_auth() {
        let lookup = Secret(
            json!({"data": {"id": "s.x", "accessor": "acc", "policies": ["default", "p"],
                            "ttl": 3600, "renewable": true}})
            .as_object()
            .unwrap()
            .clone(),
        );
        let s = token_lookup_as_auth("s.x", &lookup);
        let auth = s.object("auth").unwrap();
        assert_eq!(auth["client_token"], json!("s.x"));
        assert_eq!(auth["accessor"], json!("acc"));
        assert_eq!(auth["token_policies"], json!(["default", "p"]));
        assert_eq!(auth["lease_duration"], json!(3600));
        assert_eq!(raw_field(&s, "token"), Some(json!("s.x")));
    }

    #[test]
    fn stores_token_privately() {
        let home = tempdir();
        store_token(Some(&home), "s.first").unwrap();
        store_token(Some(&home), "s.second").unwrap();
        let file = home.join(".vault-token");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "s.second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(store_token(None, "x").is_err());
        let _ = std::fs::remove_dir_all(home);
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sr-login-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
