//! Policy text (HCL or JSON) → [`Policy`].
//!
//! Both syntaxes are first reduced to a list of `(path, body)` pairs with a
//! `serde_json` body, so validation is written once and behaves the same for
//! either form.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{
    Capability, CapabilitySet, ParameterMap, PathKind, PathRule, Permissions, Policy, PolicyError,
};

/// Keys a path block may carry.
const VALID_KEYS: [&str; 8] = [
    "comment",
    "policy",
    "capabilities",
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
    "min_wrapping_ttl",
    "max_wrapping_ttl",
];

/// Vault Enterprise keys. Accepting and ignoring them would silently drop an
/// MFA or approval requirement the operator asked for, so they are refused.
const UNSUPPORTED_KEYS: [&str; 2] = ["mfa_methods", "control_group"];

/// A path block before validation.
type RawBlock = (String, Map<String, Value>);

/// Parses policy text, HCL or JSON (detected by a leading `{`), into a
/// policy named `name`.
pub(crate) fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
    let blocks = if text.trim_start().starts_with('{') {
        json_blocks(text)?
    } else {
        hcl_blocks(text)?
    };
    let rules = blocks
        .iter()
        .map(|(path, body)| parse_rule(path, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Policy {
        name: name.to_string(),
        raw: text.to_string(),
        rules,
    })
}

// ---------------------------------------------------------------------------
// HCL

fn hcl_blocks(text: &str) -> Result<Vec<RawBlock>, PolicyError> {
    let body = hcl::parse(text).map_err(|e| {
        // The parser's message opens with " --> "; the rest (line, column,
        // snippet, expectation) is what the operator needs.
        let message = e.to_string();
        PolicyError::Syntax(message.trim_start().trim_start_matches("--> ").to_string())
    })?;
    let mut blocks = Vec::new();
    for structure in body.0 {
        match structure {
            hcl::Structure::Attribute(attr) if attr.key.as_str() == "name" => {}
            hcl::Structure::Attribute(attr) if attr.key.as_str() == "path" => {
                return Err(PolicyError::Malformed(
                    "\"path\" must be a block: path \"<path>\" { ... }".to_string(),
                ))
            }
            hcl::Structure::Attribute(attr) => {
                return Err(PolicyError::UnknownTopLevelKey {
                    key: attr.key.to_string(),
                })
            }
            hcl::Structure::Block(block) if block.identifier.as_str() == "path" => {
                blocks.push(hcl_path_block(block)?);
            }
            hcl::Structure::Block(block) => {
                return Err(PolicyError::UnknownTopLevelKey {
                    key: block.identifier.to_string(),
                })
            }
        }
    }
    Ok(blocks)
}

fn hcl_path_block(block: hcl::Block) -> Result<RawBlock, PolicyError> {
    let path = match block.labels.as_slice() {
        [label] => label.as_str().to_string(),
        _ => {
            return Err(PolicyError::Malformed(format!(
                "a path block needs exactly one label (the path), found {}",
                block.labels.len()
            )))
        }
    };
    let mut body = Map::new();
    for structure in block.body.0 {
        match structure {
            hcl::Structure::Attribute(attr) => {
                let key = attr.key.to_string();
                let value = hcl_expr_to_json(&attr.expr)
                    .map_err(|message| invalid(&path, &key, message))?;
                body.insert(key, value);
            }
            hcl::Structure::Block(inner) => {
                let key = inner.identifier.to_string();
                check_key(&path, &key)?;
                return Err(invalid(
                    &path,
                    &key,
                    "must be written as `key = value`, not as a block",
                ));
            }
        }
    }
    Ok((path, body))
}

/// Converts a literal HCL expression to JSON. Policies are data, so
/// variables, function calls and operators are refused rather than evaluated.
fn hcl_expr_to_json(expr: &hcl::Expression) -> Result<Value, String> {
    use hcl::Expression as E;
    Ok(match expr {
        E::Null => Value::Null,
        E::Bool(b) => Value::Bool(*b),
        E::Number(n) => hcl_number_to_json(n)?,
        E::String(s) => Value::String(s.clone()),
        // Vault's HCL1 never interpolated `${...}`; keep the raw text.
        E::TemplateExpr(t) => Value::String(t.to_string()),
        E::Parenthesis(inner) => hcl_expr_to_json(inner)?,
        E::Array(items) => Value::Array(
            items
                .iter()
                .map(hcl_expr_to_json)
                .collect::<Result<_, _>>()?,
        ),
        E::Object(object) => {
            let mut map = Map::new();
            for (key, value) in object {
                map.insert(hcl_object_key(key)?, hcl_expr_to_json(value)?);
            }
            Value::Object(map)
        }
        _ => return Err("only literal values are allowed in policies".to_string()),
    })
}

fn hcl_number_to_json(n: &hcl::Number) -> Result<Value, String> {
    if let Some(i) = n.as_i64() {
        Ok(Value::from(i))
    } else if let Some(u) = n.as_u64() {
        Ok(Value::from(u))
    } else {
        n.as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("unrepresentable number {n}"))
    }
}

fn hcl_object_key(key: &hcl::ObjectKey) -> Result<String, String> {
    match key {
        hcl::ObjectKey::Identifier(ident) => Ok(ident.to_string()),
        hcl::ObjectKey::Expression(expr) => match hcl_expr_to_json(expr)? {
            Value::String(s) => Ok(s),
            other => Err(format!("object keys must be strings, found {other}")),
        },
        _ => Err("unsupported object key".to_string()),
    }
}

// ---------------------------------------------------------------------------
// JSON

fn json_blocks(text: &str) -> Result<Vec<RawBlock>, PolicyError> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| PolicyError::Syntax(format!("invalid JSON: {e}")))?;
    let Value::Object(root) = root else {
        return Err(PolicyError::Malformed(
            "the policy must be a JSON object".to_string(),
        ));
    };
    let mut blocks = Vec::new();
    for (key, value) in root {
        match key.as_str() {
            "name" => {}
            "path" => json_path_value(value, &mut blocks)?,
            _ => return Err(PolicyError::UnknownTopLevelKey { key }),
        }
    }
    Ok(blocks)
}

/// `"path"` holds either `{path: body, ...}` or, as HCL1's JSON form also
/// allowed, a list of such objects.
fn json_path_value(value: Value, blocks: &mut Vec<RawBlock>) -> Result<(), PolicyError> {
    match value {
        Value::Object(paths) => {
            for (path, body) in paths {
                let Value::Object(body) = body else {
                    return Err(PolicyError::Malformed(format!(
                        "path {path:?}: the rule must be a JSON object"
                    )));
                };
                blocks.push((path, body));
            }
            Ok(())
        }
        Value::Array(items) => items
            .into_iter()
            .try_for_each(|item| json_path_value(item, blocks)),
        _ => Err(PolicyError::Malformed(
            "\"path\" must map paths to rule objects".to_string(),
        )),
    }
}

// ---------------------------------------------------------------------------
// Validation

fn invalid(path: &str, key: &str, message: impl Into<String>) -> PolicyError {
    PolicyError::InvalidValue {
        path: path.to_string(),
        key: key.to_string(),
        message: message.into(),
    }
}

fn check_key(path: &str, key: &str) -> Result<(), PolicyError> {
    if VALID_KEYS.contains(&key) {
        Ok(())
    } else if UNSUPPORTED_KEYS.contains(&key) {
        Err(PolicyError::Unsupported {
            path: path.to_string(),
            key: key.to_string(),
        })
    } else {
        Err(PolicyError::UnknownKey {
            path: path.to_string(),
            key: key.to_string(),
        })
    }
}

/// Validates one path block and compiles it into a rule.
fn parse_rule(raw_path: &str, body: &Map<String, Value>) -> Result<PathRule, PolicyError> {
    body.keys().try_for_each(|key| check_key(raw_path, key))?;
    let (path, kind) = classify_path(raw_path)?;
    let capabilities = parse_capabilities(raw_path, body)?;
    let permissions = if capabilities.is_deny() {
        // Vault keeps nothing but the deny: conditions on a denied path are moot.
        Permissions {
            capabilities,
            ..Permissions::default()
        }
    } else {
        parse_conditions(raw_path, body, capabilities)?
    };
    let templated = path.contains("{{");
    Ok(PathRule {
        path,
        kind,
        templated,
        permissions,
    })
}

/// Strips one leading `/` (API paths start after it), rejects forbidden
/// wildcard forms and decides how the path is matched.
fn classify_path(raw_path: &str) -> Result<(String, PathKind), PolicyError> {
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    if path.is_empty() {
        return Err(PolicyError::EmptyPath);
    }
    if path.contains("+*") {
        return Err(PolicyError::InvalidWildcard {
            path: path.to_string(),
        });
    }
    // Vault's exact test: a `+` counts as a segment wildcard only at the
    // start of a segment.
    let has_segment_wildcards = path == "+" || path.contains("/+") || path.starts_with("+/");
    Ok(if has_segment_wildcards {
        (path.to_string(), PathKind::Segment)
    } else if let Some(prefix) = path.strip_suffix('*') {
        (prefix.to_string(), PathKind::Prefix)
    } else {
        (path.to_string(), PathKind::Exact)
    })
}

/// `capabilities` plus the deprecated `policy` shorthand; any `deny`
/// collapses the set to deny alone.
fn parse_capabilities(path: &str, body: &Map<String, Value>) -> Result<CapabilitySet, PolicyError> {
    let mut set = CapabilitySet::EMPTY;
    if let Some(value) = body.get("capabilities") {
        for name in string_list(path, "capabilities", value)? {
            let cap =
                Capability::from_name(&name).ok_or_else(|| PolicyError::InvalidCapability {
                    path: path.to_string(),
                    capability: name.clone(),
                })?;
            set = set.with(cap);
        }
    }
    if let Some(value) = body.get("policy") {
        let Value::String(shorthand) = value else {
            return Err(invalid(path, "policy", "must be a string"));
        };
        set = set.union(shorthand_capabilities(path, shorthand)?);
    }
    Ok(if set.is_deny() {
        CapabilitySet::deny_only()
    } else {
        set
    })
}

/// The pre-0.5 `policy = "..."` values, mapped as Vault maps them (note that
/// none of them includes `patch`).
fn shorthand_capabilities(path: &str, shorthand: &str) -> Result<CapabilitySet, PolicyError> {
    use Capability::*;
    let caps: &[Capability] = match shorthand {
        "deny" => &[Deny],
        "read" => &[Read, List],
        "write" => &[Create, Read, Update, Delete, List],
        "sudo" => &[Create, Read, Update, Delete, List, Sudo],
        _ => {
            return Err(PolicyError::InvalidShorthand {
                path: path.to_string(),
                policy: shorthand.to_string(),
            })
        }
    };
    Ok(caps.iter().copied().collect())
}

/// Parameter constraints and wrapping TTL bounds of a non-deny rule.
fn parse_conditions(
    path: &str,
    body: &Map<String, Value>,
    capabilities: CapabilitySet,
) -> Result<Permissions, PolicyError> {
    let permissions = Permissions {
        capabilities,
        min_wrapping_ttl: optional_duration(path, body, "min_wrapping_ttl")?,
        max_wrapping_ttl: optional_duration(path, body, "max_wrapping_ttl")?,
        allowed_parameters: optional_parameter_map(path, body, "allowed_parameters")?,
        denied_parameters: optional_parameter_map(path, body, "denied_parameters")?,
        required_parameters: required_parameters(path, body)?,
    };
    let (min, max) = (permissions.min_wrapping_ttl, permissions.max_wrapping_ttl);
    if !min.is_zero() && !max.is_zero() && max < min {
        return Err(PolicyError::WrappingTtlRange {
            path: path.to_string(),
        });
    }
    Ok(permissions)
}

fn string_list(path: &str, key: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    let Value::Array(items) = value else {
        return Err(invalid(path, key, "must be a list of strings"));
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(invalid(
                path,
                key,
                format!("must be a list of strings, found {other}"),
            )),
        })
        .collect()
}

fn required_parameters(path: &str, body: &Map<String, Value>) -> Result<Vec<String>, PolicyError> {
    const KEY: &str = "required_parameters";
    let Some(value) = body.get(KEY) else {
        return Ok(Vec::new());
    };
    let names = string_list(path, KEY, value)?;
    for name in &names {
        validate_parameter_key(path, KEY, name, false)?;
    }
    Ok(names)
}

/// `allowed_parameters` / `denied_parameters`: name → list of values. Names
/// are lower-cased because Vault matches request parameters case-insensitively.
fn optional_parameter_map(
    path: &str,
    body: &Map<String, Value>,
    key: &str,
) -> Result<Option<ParameterMap>, PolicyError> {
    let Some(value) = body.get(key) else {
        return Ok(None);
    };
    let Value::Object(entries) = value else {
        return Err(invalid(
            path,
            key,
            "must be a map of parameter names to lists of values",
        ));
    };
    let mut map = ParameterMap::new();
    for (name, values) in entries {
        validate_parameter_key(path, key, name, true)?;
        let Value::Array(values) = values else {
            return Err(invalid(
                path,
                key,
                format!("parameter {name:?}: values must be a list"),
            ));
        };
        map.insert(name.to_lowercase(), values.clone());
    }
    Ok(Some(map))
}

/// Wildcards in parameter names are only `*` on its own, or a trailing `/*`
/// on a JSON-pointer style name, as Vault allows.
fn validate_parameter_key(
    path: &str,
    key: &str,
    name: &str,
    wildcard_permitted: bool,
) -> Result<(), PolicyError> {
    if !name.contains('*') {
        return Ok(());
    }
    if !wildcard_permitted {
        return Err(invalid(
            path,
            key,
            format!("parameter key {name:?}: wildcard is not permitted here"),
        ));
    }
    let pointer_glob =
        name.starts_with('/') && name.ends_with("/*") && !name[..name.len() - 2].contains('*');
    if name == "*" || pointer_glob {
        Ok(())
    } else {
        Err(invalid(
            path,
            key,
            format!("parameter key {name:?} cannot contain non-tail wildcards"),
        ))
    }
}

fn optional_duration(
    path: &str,
    body: &Map<String, Value>,
    key: &str,
) -> Result<Duration, PolicyError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Duration::ZERO),
        Some(value) => parse_duration_value(value)
            .ok_or_else(|| invalid(path, key, format!("invalid duration {value}"))),
    }
}

/// Vault's `ParseDurationSecond`: a bare number (or numeric string) is
/// seconds, `"Nd"` is days, anything else is a Go duration such as `"1h30m"`.
fn parse_duration_value(value: &Value) -> Option<Duration> {
    match value {
        Value::Number(n) => {
            if let Some(secs) = n.as_u64() {
                Some(Duration::from_secs(secs))
            } else {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.is_finite())
                    .map(Duration::from_secs_f64)
            }
        }
        Value::String(s) => parse_duration_str(s.trim()),
        _ => None,
    }
}

pub(super) fn parse_duration_str(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return Some(Duration::ZERO);
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Some(days) = s.strip_suffix('d').and_then(|d| d.parse::<u64>().ok()) {
        return days.checked_mul(86_400).map(Duration::from_secs);
    }
    parse_go_duration(s)
}

/// A non-negative Go duration: one or more `<decimal><unit>` terms.
fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(number_len);
        let value: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        total += value * unit_seconds(unit)?;
        rest = tail;
    }
    total.is_finite().then(|| Duration::from_secs_f64(total))
}

fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-9,
        "us" | "µs" | "μs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    })
}
