//! Field schemas and Vault's input coercions.
//!
//! Vault's `sdk/framework` decodes request data "weakly": a duration may be
//! `"1h"` or a number of seconds, a bool may be `"true"` or `1`, a list may be
//! a comma-separated string. Clients (the CLIs send every `key=value` as a
//! string) rely on this, so every engine must coerce the same way. Fields are
//! validated once, before the handler runs, so handlers read typed values
//! and never see a malformed one.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::super::parse_duration_str;

/// The type of a declared field, after Vault's `FieldType`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    /// Any JSON scalar, rendered as a string (numbers and bools too).
    String,
    /// A signed integer; numeric strings are accepted.
    Int,
    /// A bool; `"true"`, `"1"`, `"t"` ... and numbers are accepted.
    Bool,
    /// Seconds: a number or a Go duration string (`"90s"`, `"1h30m"`, `"7d"`).
    Duration,
    /// A list of strings, given as a JSON array or a comma-separated string.
    CommaStrings,
    /// A list of integers, as an array or a comma-separated string.
    CommaInts,
    /// A JSON object, passed through as it is.
    Map,
    /// String key-value pairs: an object of strings, or `["k=v", ...]`, or
    /// a comma-separated `"k=v,k2=v2"` string.
    KvPairs,
    /// Any JSON value, not coerced (KV v1 data, KV v2 `data`).
    Raw,
}

impl FieldType {
    /// The type name `path-help` prints, as Vault's `FieldType.String()`
    /// (every slice is `slice`; a raw field is `unknown type`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Bool => "bool",
            FieldType::Duration => "duration (sec)",
            FieldType::CommaStrings | FieldType::CommaInts => "slice",
            FieldType::Map => "map",
            FieldType::KvPairs => "keypair",
            FieldType::Raw => "unknown type",
        }
    }
}

/// A declared default, usable in `const` schemas.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DefaultValue {
    Str(&'static str),
    Int(i64),
    Bool(bool),
}

/// One declared input field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) ty: FieldType,
    pub(crate) default: Option<DefaultValue>,
    pub(crate) description: &'static str,
    /// Type errors omit the `Field validation failed: ` prefix. Vault's
    /// shared token parameters (`token_ttl`, ...) are parsed by its
    /// `tokenutil`, not the framework, and answer that way.
    pub(crate) bare_errors: bool,
}

impl Field {
    pub(crate) const fn new(name: &'static str, ty: FieldType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            default: None,
            description,
            bare_errors: false,
        }
    }
    pub(crate) const fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, FieldType::String, description)
    }
    pub(crate) const fn int(name: &'static str, description: &'static str) -> Self {
        Self::new(name, FieldType::Int, description)
    }
    pub(crate) const fn bool(name: &'static str, description: &'static str) -> Self {
        Self::new(name, FieldType::Bool, description)
    }
    pub(crate) const fn duration(name: &'static str, description: &'static str) -> Self {
        Self::new(name, FieldType::Duration, description)
    }
    pub(crate) const fn comma_strings(name: &'static str, description: &'static str) -> Self {
        Self::new(name, FieldType::CommaStrings, description)
    }
    pub(crate) const fn comma_ints(name: &'static str, description: &'static str) -> Self {
        Self::new(name, FieldType::CommaInts, description)
    }
    pub(crate) const fn map(name: &'static str, description: &'static str) -> Self {
        Self::new(name, FieldType::Map, description)
    }
    pub(crate) const fn kv_pairs(name: &'static str, description: &'static str) -> Self {
        Self::new(name, FieldType::KvPairs, description)
    }
    pub(crate) const fn raw(name: &'static str, description: &'static str) -> Self {
        Self::new(name, FieldType::Raw, description)
    }
    pub(crate) const fn default(mut self, d: DefaultValue) -> Self {
        self.default = Some(d);
        self
    }
    pub(crate) const fn bare_errors(mut self) -> Self {
        self.bare_errors = true;
        self
    }
}

/// A parsed field value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldValue {
    Str(String),
    Int(i64),
    Bool(bool),
    Duration(u64),
    Strings(Vec<String>),
    Ints(Vec<i64>),
    Map(Map<String, Value>),
    KvPairs(BTreeMap<String, String>),
    Raw(Value),
}

impl FieldValue {
    fn from_default(d: &DefaultValue) -> Self {
        match d {
            DefaultValue::Str(s) => FieldValue::Str((*s).to_string()),
            DefaultValue::Int(i) => FieldValue::Int(*i),
            DefaultValue::Bool(b) => FieldValue::Bool(*b),
        }
    }
}

/// Why a value could not be converted; rendered as Vault renders it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn parse_int_str(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(0);
    }
    t.parse::<i64>().map_err(|_| {
        format!("cannot parse '' as int: strconv.ParseInt: parsing {s:?}: invalid syntax")
    })
}

fn parse_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .ok_or_else(|| format!("cannot parse '' as int: value {n} out of range")),
        Value::String(s) => parse_int_str(s),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Null => Ok(0),
        other => Err(format!(
            "'' expected type 'int', got unconvertible type '{}'",
            go_type(other)
        )),
    }
}

fn parse_bool(v: &Value) -> Result<bool, String> {
    const ERR: &str = "'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax";
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
        Value::String(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" | "" => Ok(false),
            _ => Err(ERR.into()),
        },
        Value::Null => Ok(false),
        other => Err(format!(
            "'' expected type 'bool', got unconvertible type '{}'",
            go_type(other)
        )),
    }
}

fn parse_duration(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Ok(u)
            } else if let Some(f) = n.as_f64().filter(|f| *f >= 0.0 && f.is_finite()) {
                Ok(f as u64)
            } else {
                Err(format!("time: invalid duration \"{n}\""))
            }
        }
        Value::String(s) => {
            parse_duration_str(s).map_err(|_| format!("time: invalid duration {s:?}"))
        }
        Value::Null => Ok(0),
        other => Err(format!(
            "could not parse duration from input of type '{}'",
            go_type(other)
        )),
    }
}

fn split_comma(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_strings(v: &Value, split: bool) -> Result<Vec<String>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if split => Ok(split_comma(s)),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                scalar_string(item)
                    .map(|s| if split { s.trim().to_string() } else { s })
                    .ok_or_else(|| {
                        format!(
                            "'[{i}]' expected type 'string', got unconvertible type '{}'",
                            go_type(item)
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| {
                if split {
                    v.into_iter().filter(|s| !s.is_empty()).collect()
                } else {
                    v
                }
            }),
        Value::Number(_) | Value::Bool(_) => Ok(scalar_string(v).into_iter().collect()),
        Value::Object(_) => Err(format!(
            "'' source data must be an array or slice, got {}",
            "map"
        )),
    }
}

fn parse_ints(v: &Value) -> Result<Vec<i64>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => split_comma(s).iter().map(|p| parse_int_str(p)).collect(),
        Value::Array(items) => items.iter().map(parse_int).collect(),
        Value::Number(_) => parse_int(v).map(|i| vec![i]),
        other => Err(format!(
            "'' expected type 'int', got unconvertible type '{}'",
            go_type(other)
        )),
    }
}

fn parse_kv_pairs(name: &str, v: &Value) -> Result<BTreeMap<String, String>, String> {
    let pairs_from = |items: Vec<String>| {
        let mut out = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            match item.split_once('=') {
                Some((k, val)) if !k.is_empty() => {
                    out.insert(k.to_string(), val.to_string());
                }
                _ => return Err(format!("invalid key pair at index {i} in field {name:?}")),
            }
        }
        Ok(out)
    };
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, val)| {
                scalar_string(val).map(|s| (k.clone(), s)).ok_or_else(|| {
                    format!(
                        "'[{k}]' expected type 'string', got unconvertible type '{}'",
                        go_type(val)
                    )
                })
            })
            .collect(),
        Value::String(s) if s.trim().is_empty() => Ok(BTreeMap::new()),
        Value::String(s) => pairs_from(split_comma(s)),
        Value::Array(_) => pairs_from(parse_strings(v, false)?),
        other => Err(format!(
            "'' expected a map, got '{}'",
            go_type(other).trim_start_matches("[]")
        )),
    }
}

/// Converts `raw` to the declared type of `field`.
pub(crate) fn convert(field: &Field, raw: &Value) -> Result<FieldValue, String> {
    Ok(match field.ty {
        FieldType::String => FieldValue::Str(scalar_string(raw).ok_or_else(|| {
            format!(
                "'' expected type 'string', got unconvertible type '{}'",
                go_type(raw)
            )
        })?),
        FieldType::Int => FieldValue::Int(parse_int(raw)?),
        FieldType::Bool => FieldValue::Bool(parse_bool(raw)?),
        FieldType::Duration => FieldValue::Duration(parse_duration(raw)?),
        FieldType::CommaStrings => FieldValue::Strings(parse_strings(raw, true)?),
        FieldType::CommaInts => FieldValue::Ints(parse_ints(raw)?),
        FieldType::Map => match raw {
            Value::Object(m) => FieldValue::Map(m.clone()),
            Value::Null => FieldValue::Map(Map::new()),
            other => return Err(format!("'' expected a map, got '{}'", go_type(other))),
        },
        FieldType::KvPairs => FieldValue::KvPairs(parse_kv_pairs(field.name, raw)?),
        FieldType::Raw => FieldValue::Raw(raw.clone()),
    })
}

/// The validation error text for a field, in Vault's shape.
pub(crate) fn validation_error(field: &Field, err: &str) -> String {
    let inner = format!("error converting input for field {:?}: {err}", field.name);
    if field.bare_errors {
        inner
    } else {
        format!("Field validation failed: {inner}")
    }
}

/// Named path segments and their values, in pattern order.
pub(crate) type Captures = Vec<(&'static str, String)>;

/// A request's fields, converted to their declared types.
///
/// Getters return the value the request set, else the declared default; the
/// `*_ok` forms (Vault's `GetOk`) return only what the request set, so update
/// handlers can leave unset fields alone.
#[derive(Debug, Default)]
pub(crate) struct FieldData {
    set: HashMap<&'static str, FieldValue>,
    defaults: HashMap<&'static str, DefaultValue>,
    captures: Captures,
}

/// Types a field can be read as.
pub(crate) trait FromField: Sized {
    fn from_field(v: &FieldValue) -> Option<Self>;
}

impl FromField for String {
    fn from_field(v: &FieldValue) -> Option<Self> {
        match v {
            FieldValue::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl FromField for i64 {
    fn from_field(v: &FieldValue) -> Option<Self> {
        match v {
            FieldValue::Int(i) => Some(*i),
            FieldValue::Duration(d) => i64::try_from(*d).ok(),
            _ => None,
        }
    }
}
impl FromField for u64 {
    fn from_field(v: &FieldValue) -> Option<Self> {
        match v {
            FieldValue::Int(i) => u64::try_from(*i).ok(),
            FieldValue::Duration(d) => Some(*d),
            _ => None,
        }
    }
}
impl FromField for bool {
    fn from_field(v: &FieldValue) -> Option<Self> {
        match v {
            FieldValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
}
impl FromField for Vec<String> {
    fn from_field(v: &FieldValue) -> Option<Self> {
        match v {
            FieldValue::Strings(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl FromField for Vec<i64> {
    fn from_field(v: &FieldValue) -> Option<Self> {
        match v {
            FieldValue::Ints(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl FromField for Map<String, Value> {
    fn from_field(v: &FieldValue) -> Option<Self> {
        match v {
            FieldValue::Map(m) => Some(m.clone()),
            _ => None,
        }
    }
}
impl FromField for BTreeMap<String, String> {
    fn from_field(v: &FieldValue) -> Option<Self> {
        match v {
            FieldValue::KvPairs(m) => Some(m.clone()),
            _ => None,
        }
    }
}
impl FromField for Value {
    fn from_field(v: &FieldValue) -> Option<Self> {
        match v {
            FieldValue::Raw(r) => Some(r.clone()),
            _ => None,
        }
    }
}

impl FieldData {
    /// Validates `data` against `schema`. Returns the parsed fields and the
    /// sorted names of keys the schema does not declare.
    pub(crate) fn parse(
        schema: &[Field],
        data: &Map<String, Value>,
        captures: Captures,
    ) -> Result<(Self, Vec<String>), String> {
        let mut out = FieldData {
            captures,
            ..Default::default()
        };
        let mut unknown = Vec::new();
        for (key, raw) in data {
            if out.captures.iter().any(|(n, _)| n == key) {
                continue;
            }
            match schema.iter().find(|f| f.name == key) {
                Some(field) => {
                    let value = convert(field, raw).map_err(|e| validation_error(field, &e))?;
                    out.set.insert(field.name, value);
                }
                None => unknown.push(key.clone()),
            }
        }
        for f in schema {
            if let Some(d) = f.default {
                out.defaults.insert(f.name, d);
            }
        }
        unknown.sort();
        Ok((out, unknown))
    }

    /// A named path segment (`{name}` in the pattern). Empty when the
    /// pattern has no such segment.
    pub(crate) fn path(&self, name: &str) -> &str {
        self.captures
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The value the request set, else the field's default.
    pub(crate) fn get<T: FromField>(&self, name: &str) -> Option<T> {
        if let Some(v) = self.set.get(name) {
            return T::from_field(v);
        }
        if let Some((_, c)) = self.captures.iter().find(|(n, _)| *n == name) {
            return T::from_field(&FieldValue::Str(c.clone()));
        }
        self.defaults
            .get(name)
            .and_then(|d| T::from_field(&FieldValue::from_default(d)))
    }

    /// The value the request set (Vault's `GetOk`); `None` when unset.
    pub(crate) fn get_ok<T: FromField>(&self, name: &str) -> Option<T> {
        self.set.get(name).and_then(T::from_field)
    }

    /// A string field: set, else default, else empty.
    pub(crate) fn str(&self, name: &str) -> String {
        self.get::<String>(name).unwrap_or_default()
    }

    /// A bool field: set, else default, else false.
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.get::<bool>(name).unwrap_or(false)
    }

    /// A list field: set, else default, else empty.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.get::<Vec<String>>(name).unwrap_or_default()
    }
}
