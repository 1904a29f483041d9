//! The path-level commands `read`, `write`, `list` and `delete`: raw API
//! access with Vault's output conventions.

use clap::Args;
use serde_json::{Map, Value};

use super::api::Body;
use super::args_data::parse_args_data;
use super::format::{err, out, output_secret, print_field, raw_field, Format};
use super::kv::output_list;
use super::{parse_go_bool, sanitize_path, usage, CommonArgs, Session};

#[derive(Args, Debug)]
pub(crate) struct ReadArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Print only this field.
    #[arg(long)]
    pub(crate) field: Option<String>,
    /// PATH [K=V...]; the pairs become query parameters.
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct WriteArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Print only this field of the response.
    #[arg(long)]
    pub(crate) field: Option<String>,
    /// Allow writing without any data.
    #[arg(
        long,
        short = 'f',
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub(crate) force: bool,
    /// PATH [K=V...] (`k=@file`, `k=-`, or `-` for JSON on stdin).
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// PATH
    pub(crate) args: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct DeleteArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// PATH [K=V...]; the pairs become query parameters.
    pub(crate) args: Vec<String>,
}

/// Parses K=V arguments from the real stdin, with Vault's error text.
fn data_args(args: &[String]) -> Result<Map<String, Value>, u8> {
    let mut stdin = std::io::stdin().lock();
    parse_args_data(args, &mut stdin).or_else(|e| usage(&format!("Failed to parse K=V data: {e}")))
}

/// K=V data as query parameters; a list value repeats the parameter.
fn to_query(data: &Map<String, Value>) -> Vec<(String, String)> {
    let mut query = Vec::new();
    for (k, v) in data {
        match v {
            Value::Array(items) => query.extend(
                items
                    .iter()
                    .map(|i| (k.clone(), super::format::go_value(i))),
            ),
            other => query.push((k.clone(), super::format::go_value(other))),
        }
    }
    query
}

/// The leading path argument, or Vault's usage error.
fn path_arg(args: &[String]) -> Result<String, u8> {
    match args.first() {
        Some(p) => Ok(sanitize_path(p)),
        None => usage("Not enough arguments (expected 1, got 0)"),
    }
}

pub(crate) fn read(a: ReadArgs) -> u8 {
    read_inner(a).unwrap_or_else(|code| code)
}

fn read_inner(a: ReadArgs) -> Result<u8, u8> {
    let path = path_arg(&a.args)?;
    let session = Session::open_or_report(&a.common)?;
    let query = to_query(&data_args(&a.args[1..])?);
    let secret = match session.client.read("GET", &path, &query) {
        Err(e) => {
            err(&format!("Error reading {path}: {e}"));
            return Ok(2);
        }
        Ok(None) => {
            err(&format!("No value found at {path}"));
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
    output_secret(session.format, &secret);
    Ok(0)
}

pub(crate) fn write(a: WriteArgs) -> u8 {
    write_inner(a).unwrap_or_else(|code| code)
}

fn write_inner(a: WriteArgs) -> Result<u8, u8> {
    let path = path_arg(&a.args)?;
    if a.args.len() == 1 && !a.force {
        return usage("Must supply data or use -force");
    }
    let session = Session::open_or_report(&a.common)?;
    let data = Value::Object(data_args(&a.args[1..])?);
    match session
        .client
        .call("PUT", &path, &[], Some(Body::json(&data)))
    {
        Err(e) => {
            err(&format!("Error writing data to {path}: {e}"));
            Ok(2)
        }
        Ok(None) => {
            if session.format == Format::Table {
                out(&format!("Success! Data written to: {path}"));
            }
            Ok(0)
        }
        Ok(Some(secret)) => {
            if let Some(field) = a.field.as_deref() {
                return Ok(print_field(
                    session.format,
                    raw_field(&secret, field),
                    field,
                ));
            }
            output_secret(session.format, &secret);
            Ok(0)
        }
    }
}

pub(crate) fn list(a: ListArgs) -> u8 {
    list_inner(a).unwrap_or_else(|code| code)
}

fn list_inner(a: ListArgs) -> Result<u8, u8> {
    let path = super::expect_one(&a.args)?;
    let path = sanitize_path(path);
    let session = Session::open_or_report(&a.common)?;
    match session.client.read("LIST", &path, &[]) {
        Err(e) => {
            err(&format!("Error listing {path}: {e}"));
            Ok(2)
        }
        Ok(secret) => Ok(output_list(session.format, secret.as_ref(), &path)),
    }
}

pub(crate) fn delete(a: DeleteArgs) -> u8 {
    delete_inner(a).unwrap_or_else(|code| code)
}

fn delete_inner(a: DeleteArgs) -> Result<u8, u8> {
    let path = path_arg(&a.args)?;
    let session = Session::open_or_report(&a.common)?;
    let query = to_query(&data_args(&a.args[1..])?);
    match session.client.call("DELETE", &path, &query, None) {
        Err(e) => {
            err(&format!("Error deleting {path}: {e}"));
            Ok(2)
        }
        Ok(None) => {
            if session.format == Format::Table {
                out(&format!("Success! Data deleted (if it existed) at: {path}"));
            }
            Ok(0)
        }
        Ok(Some(secret)) => {
            output_secret(session.format, &secret);
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_from_pairs() {
        let data = json!({"a": "1", "b": ["x", "y"]});
        assert_eq!(
            to_query(data.as_object().unwrap()),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "x".to_string()),
                ("b".to_string(), "y".to_string())
            ]
        );
    }
}
