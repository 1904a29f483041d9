//! `policy write|read|list|delete`: ACL policies on `sys/policies/acl`,
//! with the `vault policy` wording and exit codes.

use std::io::Read;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::format::{err, json_pretty, out, Format};
use super::{usage, CommonArgs, Session};

#[derive(Subcommand, Debug)]
pub(crate) enum PolicyCommand {
    /// Upload a policy: NAME and a FILE, or `-` for stdin.
    Write(PolicyArgs),
    /// Print the rules of a policy.
    Read(PolicyArgs),
    /// List the installed policies.
    List(PolicyArgs),
    /// Delete a policy.
    Delete(PolicyArgs),
}

#[derive(Args, Debug)]
pub(crate) struct PolicyArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Positional arguments (NAME, and FILE for `write`).
    pub(crate) args: Vec<String>,
}

pub(crate) fn run(cmd: PolicyCommand) -> u8 {
    let result = match cmd {
        PolicyCommand::Write(a) => write(a),
        PolicyCommand::Read(a) => read(a),
        PolicyCommand::List(a) => list(a),
        PolicyCommand::Delete(a) => delete(a),
    };
    result.unwrap_or_else(|code| code)
}

/// Vault's "expected N" argument check.
pub(crate) fn expect_n(args: &[String], n: usize) -> Result<(), u8> {
    if args.len() < n {
        return usage(&format!(
            "Not enough arguments (expected {n}, got {})",
            args.len()
        ));
    }
    if args.len() > n {
        return usage(&format!(
            "Too many arguments (expected {n}, got {})",
            args.len()
        ));
    }
    Ok(())
}

/// Policy names are lowercase on the server; Vault normalizes them first.
pub(crate) fn normalize_name(name: &str) -> String {
    name.trim().to_lowercase()
}

/// An I/O error worded like Go's `*PathError` (`open F: no such file or
/// directory`).
pub(crate) fn go_open_error(path: &str, e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    format!("open {path}: {}", text.to_lowercase())
}

fn api_path(name: &str) -> String {
    format!("sys/policies/acl/{name}")
}

fn write(a: PolicyArgs) -> Result<u8, u8> {
    expect_n(&a.args, 2)?;
    let session = Session::open_or_report(&a.common)?;
    let given = &a.args[0];
    let name = normalize_name(given);
    let file = a.args[1].trim();
    let rules = if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .lock()
            .read_to_string(&mut text)
            .map_err(|e| {
                err(&format!("Error reading policy: {e}"));
                2u8
            })?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|e| {
            err(&format!(
                "Error opening policy file: {}",
                go_open_error(file, &e)
            ));
            2u8
        })?
    };
    if let Err(e) = session
        .client
        .put(&api_path(&name), &json!({ "policy": rules }))
    {
        err(&format!("Error uploading policy: {e}"));
        return Ok(2);
    }
    if *given != name {
        err(&format!(
            "Policy name was converted from \"{given}\" to \"{name}\""
        ));
    }
    out(&format!("Success! Uploaded policy: {name}"));
    Ok(0)
}

fn read(a: PolicyArgs) -> Result<u8, u8> {
    expect_n(&a.args, 1)?;
    let session = Session::open_or_report(&a.common)?;
    let name = normalize_name(&a.args[0]);
    let secret = match session.client.read("GET", &api_path(&name), &[]) {
        Err(e) => {
            err(&format!("Error reading policy named {name}: {e}"));
            return Ok(2);
        }
        Ok(None) => {
            err(&format!("No policy named: {name}"));
            return Ok(2);
        }
        Ok(Some(s)) => s,
    };
    let Some(rules) = secret
        .data()
        .and_then(|d| d.get("policy"))
        .and_then(Value::as_str)
    else {
        err(&format!(
            "Error reading policy named {name}: no policy found in response"
        ));
        return Ok(2);
    };
    match session.format {
        Format::Table => out(rules.trim()),
        Format::Json => out(&json_pretty(&json!({ "policy": rules }))),
    }
    Ok(0)
}

fn list(a: PolicyArgs) -> Result<u8, u8> {
    expect_n(&a.args, 0)?;
    let session = Session::open_or_report(&a.common)?;
    let secret = match session.client.call("LIST", "sys/policies/acl", &[], None) {
        Err(e) => {
            err(&format!("Error listing policies: {e}"));
            return Ok(2);
        }
        Ok(s) => s,
    };
    let names: Vec<Value> = secret
        .as_ref()
        .and_then(|s| s.data())
        .and_then(|d| d.get("keys"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match session.format {
        Format::Table => {
            for n in &names {
                out(&super::format::go_value(n));
            }
        }
        Format::Json => out(&json_pretty(&Value::Array(names))),
    }
    Ok(0)
}

fn delete(a: PolicyArgs) -> Result<u8, u8> {
    expect_n(&a.args, 1)?;
    let session = Session::open_or_report(&a.common)?;
    let name = normalize_name(&a.args[0]);
    if let Err(e) = session.client.call("DELETE", &api_path(&name), &[], None) {
        err(&format!("Error deleting {name}: {e}"));
        return Ok(2);
    }
    out(&format!("Success! Deleted policy: {name}"));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_errors() {
        assert_eq!(normalize_name(" Dev-Team "), "dev-team");
        let e = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(go_open_error("/x", &e).starts_with("open /x: "));
        let e = std::fs::read("/nonexistent/strongroom").unwrap_err();
        assert_eq!(
            go_open_error("/nonexistent/strongroom", &e),
            "open /nonexistent/strongroom: no such file or directory"
        );
        assert_eq!(expect_n(&["a".to_string()], 1), Ok(()));
    }
}
