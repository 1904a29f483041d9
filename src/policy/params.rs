//! Request-parameter constraints: `required_parameters`,
//! `denied_parameters` and `allowed_parameters`, checked in Vault's order
//! and with Vault's value matching.

use serde_json::{Map, Value};

use super::{DenialReason, ParameterMap, Permissions};

/// Checks the request body against a rule's parameter constraints.
pub(super) fn check(
    permissions: &Permissions,
    data: &Map<String, Value>,
) -> Result<(), DenialReason> {
    check_required(&permissions.required_parameters, data)?;
    // As in Vault, a request without parameters passes the denied/allowed
    // lists (only `required_parameters` can demand a body).
    if data.is_empty() {
        return Ok(());
    }
    if let Some(denied) = &permissions.denied_parameters {
        check_denied(denied, data)?;
    }
    match &permissions.allowed_parameters {
        Some(allowed) if !allowed.is_empty() => check_allowed(allowed, data),
        _ => Ok(()),
    }
}

/// Policy names are lower-cased at parse time and looked up verbatim in the
/// request, as Vault does.
fn check_required(required: &[String], data: &Map<String, Value>) -> Result<(), DenialReason> {
    match required
        .iter()
        .find(|name| !data.contains_key(&name.to_lowercase()))
    {
        Some(name) => Err(DenialReason::MissingRequiredParameter(name.clone())),
        None => Ok(()),
    }
}

fn check_denied(denied: &ParameterMap, data: &Map<String, Value>) -> Result<(), DenialReason> {
    if denied.contains_key("*") {
        return Err(DenialReason::DeniedParameter("*".to_string()));
    }
    for (name, value) in data {
        if let Some(list) = denied.get(&name.to_lowercase()) {
            if value_in_denied_list(value, list) {
                return Err(DenialReason::DeniedParameter(name.clone()));
            }
        }
    }
    Ok(())
}

fn check_allowed(allowed: &ParameterMap, data: &Map<String, Value>) -> Result<(), DenialReason> {
    let allowed_all = allowed.contains_key("*");
    if allowed_all && allowed.len() == 1 {
        return Ok(());
    }
    for (name, value) in data {
        match allowed.get(&name.to_lowercase()) {
            None if !allowed_all => return Err(DenialReason::ParameterNotAllowed(name.clone())),
            Some(list) if !value_in_allowed_list(value, list) => {
                return Err(DenialReason::ParameterValueNotAllowed(name.clone()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// An empty list allows any value. Otherwise the whole value must match, or
/// every element of a list value, or every item of a comma-separated string
/// (Vault assumes strings may be comma-separated lists; note this makes an
/// empty string pass, as it does in Vault).
fn value_in_allowed_list(value: &Value, list: &[Value]) -> bool {
    if list.is_empty() || value_in_list(value, list) {
        return true;
    }
    match value {
        Value::Array(items) => items.iter().all(|item| value_in_list(item, list)),
        Value::String(s) => comma_items(s).all(|item| string_in_list(item, list)),
        _ => false,
    }
}

/// An empty list denies any value. Otherwise the whole value, any element of
/// a list value, or any item of a comma-separated string matching denies.
fn value_in_denied_list(value: &Value, list: &[Value]) -> bool {
    if list.is_empty() || value_in_list(value, list) {
        return true;
    }
    match value {
        Value::Array(items) => items.iter().any(|item| value_in_list(item, list)),
        Value::String(s) => comma_items(s).any(|item| string_in_list(item, list)),
        _ => false,
    }
}

/// Vault's `ParseCommaStringSlice`: split on `,`, trim each item; the empty
/// string is the empty list.
fn comma_items(s: &str) -> impl Iterator<Item = &str> {
    let items = if s.is_empty() {
        None
    } else {
        Some(s.split(',').map(str::trim))
    };
    items.into_iter().flatten()
}

fn string_in_list(item: &str, list: &[Value]) -> bool {
    list.iter()
        .any(|el| matches!(el, Value::String(pattern) if globbed_match(pattern, item)))
}

/// String list entries match with globs; other values must be equal.
fn value_in_list(value: &Value, list: &[Value]) -> bool {
    list.iter().any(|el| match (el, value) {
        (Value::String(pattern), Value::String(s)) => globbed_match(pattern, s),
        (Value::String(_), _) => false,
        (el, value) => el == value,
    })
}

/// Vault's `GlobbedStringsMatch`: a leading and/or trailing `*` matches any
/// suffix/prefix/substring. A pattern shorter than two characters
/// (including a lone `*`) only matches itself.
pub(super) fn globbed_match(pattern: &str, value: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == value;
    }
    let leading = pattern.starts_with('*');
    let trailing = pattern.ends_with('*');
    match (leading, trailing) {
        (true, true) => value.contains(&pattern[1..pattern.len() - 1]),
        (true, false) => value.ends_with(&pattern[1..]),
        (false, true) => value.starts_with(&pattern[..pattern.len() - 1]),
        (false, false) => pattern == value,
    }
}
