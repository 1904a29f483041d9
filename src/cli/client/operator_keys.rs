//! `operator generate-root` and `operator rekey`: the operator-key
//! ceremonies, with Vault's flags and output. `-decode` runs locally (the
//! token is `base64(token XOR otp)`), so it needs no server.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use serde_json::{json, Map, Value};

use super::api::Body;
use super::format::{columnize, err, json_pretty, out, table, wrap_at_length, Format};
use super::operator::{bool_of, int_of, str_of};
use super::{parse_go_bool, usage, CommonArgs, Session};

#[derive(Args, Debug)]
pub(crate) struct GenerateRootArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Start a root token generation.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) init: bool,
    /// Cancel the root token generation in progress.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) cancel: bool,
    /// Print the status of the root token generation.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) status: bool,
    /// Print a one-time password to use with -init.
    #[arg(long = "generate-otp", num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) generate_otp: bool,
    /// Decode an encoded root token with -otp and print it.
    #[arg(long)]
    pub(crate) decode: Option<String>,
    /// The one-time password (for -init and -decode).
    #[arg(long, default_value = "")]
    pub(crate) otp: String,
    /// PGP key to encrypt the token with (not supported by Strongroom).
    #[arg(long = "pgp-key", default_value = "")]
    pub(crate) pgp_key: String,
    /// Nonce of the generation (read from the status when absent).
    #[arg(long, default_value = "")]
    pub(crate) nonce: String,
    /// [KEY]; prompted for (or read from stdin) when absent, "-" for stdin.
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct RekeyArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Start a rekey.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) init: bool,
    /// Cancel the rekey in progress (the current shares stay valid).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) cancel: bool,
    /// Print the status of the rekey.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) status: bool,
    /// With -init: require the new shares to be typed back before they take
    /// effect. Otherwise: submit a new share for that verification.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) verify: bool,
    /// Store PGP-encrypted shares in the server (needs -pgp-keys; not supported).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) backup: bool,
    /// Read the backed-up encrypted shares.
    #[arg(long = "backup-retrieve", num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) backup_retrieve: bool,
    /// Delete the backed-up encrypted shares.
    #[arg(long = "backup-delete", num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) backup_delete: bool,
    /// Number of new key shares.
    #[arg(long = "key-shares", short = 'n', default_value_t = 5)]
    pub(crate) key_shares: u64,
    /// Number of new shares needed to reconstruct the key.
    #[arg(long = "key-threshold", short = 't', default_value_t = 3)]
    pub(crate) key_threshold: u64,
    /// Nonce of the rekey (read from the status when absent).
    #[arg(long, default_value = "")]
    pub(crate) nonce: String,
    /// "barrier" (unseal keys) or "recovery" (recovery keys of an auto seal).
    #[arg(long, default_value = "barrier")]
    pub(crate) target: String,
    /// Comma-separated PGP keys (not supported by Strongroom).
    #[arg(long = "pgp-keys", value_delimiter = ',')]
    pub(crate) pgp_keys: Vec<String>,
    /// [KEY]; prompted for (or read from stdin) when absent, "-" for stdin.
    pub(crate) args: Vec<String>,
}

/// A share from the argument, stdin ("-" or piped), or a hidden prompt.
fn read_share(args: &[String], prompt: &str) -> Result<String, u8> {
    match args.first().map(String::as_str) {
        Some(k) if k != "-" => return Ok(k.trim().to_string()),
        _ => {}
    }
    let tty = std::io::stdin().is_terminal();
    if tty {
        let mut stdout = std::io::stdout();
        let _ = write!(stdout, "{prompt} (will be hidden): ");
        let _ = stdout.flush();
        super::operator::set_echo(false);
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if tty {
        super::operator::set_echo(true);
        out("");
    }
    match read {
        Ok(_) if !line.trim().is_empty() => Ok(line.trim().to_string()),
        Ok(_) => {
            err("Error reading key: no key was given");
            Err(1)
        }
        Err(e) => {
            err(&format!("Error reading key: {e}"));
            Err(1)
        }
    }
}

/// Calls an endpoint answering a bare JSON object (these endpoints do not
/// use the `data` envelope); `None` for 204.
fn call(
    session: &Session,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Map<String, Value>, String> {
    session
        .client
        .call(method, path, &[], body.map(Body::json))
        .map(|s| s.map(|s| s.0).unwrap_or_default())
        .map_err(|e| e.to_string())
}

pub(crate) fn generate_root(a: GenerateRootArgs) -> Result<u8, u8> {
    if a.args.len() > 1 {
        return usage(&format!(
            "Too many arguments (expected 0-1, got {})",
            a.args.len()
        ));
    }
    if let Some(encoded) = &a.decode {
        if a.otp.is_empty() {
            return usage("Missing -otp flag; the OTP is required to decode the token");
        }
        return Ok(
            match crate::core::generate_root::decode_token(encoded, &a.otp) {
                Ok(token) => {
                    out(token.as_str());
                    0
                }
                Err(e) => {
                    err(&format!("Error decoding root token: {e}"));
                    1
                }
            },
        );
    }
    if a.generate_otp {
        out(&crate::core::generate_root::base62(
            crate::core::generate_root::OTP_LENGTH,
        ));
        return Ok(0);
    }
    let session = Session::open_or_report(&a.common)?;
    let path = "sys/generate-root/attempt";
    if a.cancel {
        return Ok(match call(&session, "DELETE", path, None) {
            Ok(_) => {
                out("Success! Root token generation canceled (if it was started)");
                0
            }
            Err(e) => {
                err(&format!("Error canceling root token generation: {e}"));
                2
            }
        });
    }
    if a.init {
        let body = json!({"otp": a.otp, "pgp_key": a.pgp_key});
        return Ok(match call(&session, "PUT", path, Some(&body)) {
            Ok(s) => print_root_status(&session, &s),
            Err(e) => {
                err(&format!("Error initializing root generation: {e}"));
                2
            }
        });
    }
    let status = match call(&session, "GET", path, None) {
        Ok(s) => s,
        Err(e) => {
            err(&format!("Error getting root generation status: {e}"));
            return Ok(2);
        }
    };
    if a.status {
        return Ok(print_root_status(&session, &status));
    }
    let nonce = if a.nonce.is_empty() {
        if !bool_of(&status, "started") {
            err(&wrap_at_length(
                "No root generation is in progress. Start a root generation by running \"strongroom operator generate-root -init\".",
            ));
            return Ok(1);
        }
        str_of(&status, "nonce").to_string()
    } else {
        a.nonce.clone()
    };
    let key = read_share(&a.args, "Unseal Key (or Recovery Key)")?;
    let body = json!({"key": key, "nonce": nonce});
    Ok(
        match call(&session, "PUT", "sys/generate-root/update", Some(&body)) {
            Ok(s) => print_root_status(&session, &s),
            Err(e) => {
                err(&format!("Error posting unseal key: {e}"));
                2
            }
        },
    )
}

/// Vault's `printStatus` for generate-root.
fn print_root_status(session: &Session, s: &Map<String, Value>) -> u8 {
    if session.format == Format::Json {
        out(&json_pretty(&Value::Object(s.clone())));
        return 0;
    }
    let mut rows = vec![
        vec!["Nonce".into(), str_of(s, "nonce").to_string()],
        vec!["Started".into(), bool_of(s, "started").to_string()],
        vec![
            "Progress".into(),
            format!("{}/{}", int_of(s, "progress"), int_of(s, "required")),
        ],
        vec!["Complete".into(), bool_of(s, "complete").to_string()],
    ];
    if !str_of(s, "encoded_token").is_empty() {
        rows.push(vec![
            "Encoded Token".into(),
            str_of(s, "encoded_token").into(),
        ]);
    } else if !str_of(s, "encoded_root_token").is_empty() {
        rows.push(vec![
            "Encoded Root Token".into(),
            str_of(s, "encoded_root_token").into(),
        ]);
    }
    if !str_of(s, "otp").is_empty() {
        err(&wrap_at_length(
            "A One-Time-Password has been generated for you and is shown in the OTP field. You will need this value to decode the resulting root token, so keep it safe.",
        ));
        rows.push(vec!["OTP".into(), str_of(s, "otp").into()]);
    }
    if int_of(s, "otp_length") != 0 {
        rows.push(vec![
            "OTP Length".into(),
            int_of(s, "otp_length").to_string(),
        ]);
    }
    out(&columnize(&rows));
    0
}

pub(crate) fn rekey(a: RekeyArgs) -> Result<u8, u8> {
    if a.args.len() > 1 {
        return usage(&format!(
            "Too many arguments (expected 0-1, got {})",
            a.args.len()
        ));
    }
    let base = match a.target.as_str() {
        "barrier" => "sys/rekey",
        "recovery" => "sys/rekey-recovery-key",
        other => return usage(&format!("Unknown target: {other}")),
    };
    let session = Session::open_or_report(&a.common)?;
    if a.backup_retrieve || a.backup_delete {
        let path = if a.target == "recovery" {
            "sys/rekey/recovery-key-backup"
        } else {
            "sys/rekey/backup"
        };
        let method = if a.backup_delete { "DELETE" } else { "GET" };
        return Ok(match call(&session, method, path, None) {
            Ok(s) if a.backup_retrieve => {
                out(&json_pretty(&Value::Object(s)));
                0
            }
            Ok(_) => {
                out("Success! Delete stored keys (if they existed)");
                0
            }
            Err(e) => {
                err(&format!("Error with backed-up keys: {e}"));
                2
            }
        });
    }
    if a.cancel {
        let path = if a.verify {
            format!("{base}/verify")
        } else {
            format!("{base}/init")
        };
        return Ok(match call(&session, "DELETE", &path, None) {
            Ok(_) => {
                out("Success! Canceled rekeying (if it was started)");
                0
            }
            Err(e) => {
                err(&format!("Error canceling rekey: {e}"));
                2
            }
        });
    }
    if a.init {
        let pgp = if a.pgp_keys.is_empty() {
            Value::Null
        } else {
            json!(a.pgp_keys)
        };
        let body = json!({
            "secret_shares": a.key_shares,
            "secret_threshold": a.key_threshold,
            "pgp_keys": pgp,
            "backup": a.backup,
            "require_verification": a.verify,
        });
        return Ok(
            match call(&session, "PUT", &format!("{base}/init"), Some(&body)) {
                Ok(s) => print_rekey_status(&session, &s, false),
                Err(e) => {
                    err(&format!("Error initializing rekey: {e}"));
                    2
                }
            },
        );
    }
    let status_path = if a.verify {
        format!("{base}/verify")
    } else {
        format!("{base}/init")
    };
    let status = match call(&session, "GET", &status_path, None) {
        Ok(s) => s,
        Err(e) => {
            err(&format!("Error reading rekey status: {e}"));
            return Ok(2);
        }
    };
    if a.status {
        return Ok(print_rekey_status(&session, &status, a.verify));
    }
    let nonce = if a.nonce.is_empty() {
        if !bool_of(&status, "started") {
            err(&wrap_at_length(
                "No rekey is in progress. Start a rekey process by running \"strongroom operator rekey -init\".",
            ));
            return Ok(1);
        }
        str_of(&status, "nonce").to_string()
    } else {
        a.nonce.clone()
    };
    let prompt = match (a.target.as_str(), a.verify) {
        (_, true) => "New Key",
        ("recovery", _) => "Recovery Key",
        _ => "Unseal Key",
    };
    let key = read_share(&a.args, prompt)?;
    let body = json!({"key": key, "nonce": nonce});
    let path = if a.verify {
        format!("{base}/verify")
    } else {
        format!("{base}/update")
    };
    let resp = match call(&session, "PUT", &path, Some(&body)) {
        Ok(s) => s,
        Err(e) => {
            err(&format!("Error posting unseal key: {e}"));
            return Ok(2);
        }
    };
    if !bool_of(&resp, "complete") {
        return Ok(print_rekey_status(&session, &resp, a.verify));
    }
    if session.format == Format::Json {
        out(&json_pretty(&Value::Object(resp)));
        return Ok(0);
    }
    if a.verify {
        out(&wrap_at_length(&format!(
            "Success! Rekey verification was successful. The rekey operation is complete and the new keys are now active. Operation nonce: {}",
            str_of(&resp, "nonce")
        )));
        return Ok(0);
    }
    print_new_keys(&a, &status, &resp);
    Ok(0)
}

/// The new shares and Vault's advice paragraphs.
/// `status` is the rekey status read before the last share: its `n`/`t`
/// are the new configuration.
fn print_new_keys(a: &RekeyArgs, status: &Map<String, Value>, resp: &Map<String, Value>) {
    let keys: Vec<String> = resp
        .get("keys_base64")
        .or_else(|| resp.get("keys"))
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let what = if a.target == "recovery" {
        "Recovery key"
    } else {
        "Key"
    };
    for (i, k) in keys.iter().enumerate() {
        out(&format!("{what} {}: {k}", i + 1));
    }
    out("");
    out(&format!("Operation nonce: {}", str_of(resp, "nonce")));
    out("");
    let (n, t) = (int_of(status, "n"), int_of(status, "t"));
    if bool_of(resp, "verification_required") {
        out(&wrap_at_length(&format!(
            "Vault has created a new key, split into {n} key shares and a key threshold of {t}. These will not be active until after verification is complete. Please securely distribute the key shares printed above. When Vault is re-sealed, restarted, or stopped, you must supply at least {t} of these keys to unseal it before it can start servicing requests."
        )));
        out("");
        out(&wrap_at_length(
            "Again, these key shares are _not_ valid until verification is performed. Do not lose or discard your current key shares until after verification is complete or you will be unable to unseal Vault. If you cancel the rekey process or seal Vault before verification is complete the new shares will be discarded and the current shares will remain valid.",
        ));
        out("");
        out(&format!(
            "The verification nonce is {}; submit {t} of the new shares with \"strongroom operator rekey -verify\".",
            str_of(resp, "verification_nonce")
        ));
    } else {
        out(&wrap_at_length(&format!(
            "Vault rekeyed with {n} key shares and a key threshold of {t}. Please securely distribute the key shares printed above. When Vault is re-sealed, restarted, or stopped, you must supply at least {t} of these keys to unseal it before it can start servicing requests."
        )));
    }
}

/// Vault's `printStatus` for rekey and rekey verification.
fn print_rekey_status(session: &Session, s: &Map<String, Value>, verify: bool) -> u8 {
    if session.format == Format::Json {
        out(&json_pretty(&Value::Object(s.clone())));
        return 0;
    }
    let mut rows: Vec<Vec<String>> = vec![
        vec!["Nonce".into(), str_of(s, "nonce").into()],
        vec!["Started".into(), bool_of(s, "started").to_string()],
    ];
    if verify {
        rows.push(vec!["New Shares".into(), int_of(s, "n").to_string()]);
        rows.push(vec!["New Threshold".into(), int_of(s, "t").to_string()]);
        rows.push(vec![
            "Verification Progress".into(),
            format!("{}/{}", int_of(s, "progress"), int_of(s, "t")),
        ]);
    } else if bool_of(s, "started") {
        rows.push(vec![
            "Rekey Progress".into(),
            format!("{}/{}", int_of(s, "progress"), int_of(s, "required")),
        ]);
        rows.push(vec!["New Shares".into(), int_of(s, "n").to_string()]);
        rows.push(vec!["New Threshold".into(), int_of(s, "t").to_string()]);
        rows.push(vec![
            "Verification Required".into(),
            bool_of(s, "verification_required").to_string(),
        ]);
        if !str_of(s, "verification_nonce").is_empty() {
            rows.push(vec![
                "Verification Nonce".into(),
                str_of(s, "verification_nonce").into(),
            ]);
        }
    }
    out(&table(&["Key", "Value"], rows));
    0
}
