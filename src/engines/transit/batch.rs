//! `batch_input`: the items of a batched operation and the answer.
//!
//! Without `batch_input` the request's own fields are the one item, and an
//! item's failure is the request's (400 for the caller's mistakes, 500 for
//! ours). With it, every item is processed; the answer is 200 with
//! `batch_results`, or 400 (still with every result, no `errors`) when an
//! item failed, and each result echoes the item's `reference`.

use serde_json::{Map, Value};

use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult, Response};

use super::crypto::b64_decode;
use super::TransitError;

pub(crate) struct Items {
    pub(crate) items: Vec<Map<String, Value>>,
    pub(crate) batched: bool,
}

/// The items of the request.
pub(crate) fn items(c: &Ctx<'_>) -> Result<Items, LogicalError> {
    match c.req.data.get("batch_input") {
        None | Some(Value::Null) => Ok(Items {
            items: vec![c.req.data.clone()],
            batched: false,
        }),
        Some(Value::Array(list)) => {
            if list.is_empty() {
                return Err(LogicalError::bad("missing batch input to process"));
            }
            let items = list
                .iter()
                .map(|v| match v {
                    Value::Object(m) => Ok(m.clone()),
                    _ => Err(LogicalError::bad(
                        "failed to parse batch input: each item must be an object",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Items {
                items,
                batched: true,
            })
        }
        Some(_) => Err(LogicalError::bad(
            "failed to parse batch input: batch_input must be a list of objects",
        )),
    }
}

/// A string field of an item (scalars are rendered as strings).
pub(crate) fn text(item: &Map<String, Value>, key: &str) -> Option<String> {
    match item.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An integer field of an item (numbers or numeric strings); 0 when unset.
pub(crate) fn int(item: &Map<String, Value>, key: &str) -> Result<i64, TransitError> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| TransitError::user(format!("{key} must be an integer"))),
        Some(Value::String(s)) if s.is_empty() => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| TransitError::user(format!("{key} must be an integer"))),
        Some(_) => Err(TransitError::user(format!("{key} must be an integer"))),
    }
}

/// A base64 field of an item, decoded; empty when unset.
pub(crate) fn bytes(
    item: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Vec<u8>, TransitError> {
    match text(item, key) {
        None => Ok(Vec::new()),
        Some(s) if s.is_empty() => Ok(Vec::new()),
        Some(s) => b64_decode(&s)
            .map_err(|e| TransitError::user(format!("failed to base64-decode {what}: {e}"))),
    }
}

/// One item's outcome.
pub(crate) type ItemResult = Result<Map<String, Value>, TransitError>;

/// Renders the results. `error_extra` adds fields Vault shows on a failed
/// item (decrypt shows `"plaintext":""`).
pub(crate) fn respond(
    items: &Items,
    results: Vec<ItemResult>,
    error_extra: &[(&str, Value)],
) -> LogicalResult {
    if !items.batched {
        let first = results
            .into_iter()
            .next()
            .ok_or_else(|| LogicalError::Internal("no result".into()))?;
        return first.map(Response::data).map_err(LogicalError::from);
    }
    let mut failed = false;
    let mut out = Vec::with_capacity(results.len());
    for (item, r) in items.items.iter().zip(results) {
        let reference = text(item, "reference").unwrap_or_default();
        let mut m = match r {
            Ok(m) => m,
            Err(e) => {
                failed = true;
                let mut m = Map::new();
                for (k, v) in error_extra {
                    m.insert((*k).to_string(), v.clone());
                }
                m.insert("error".into(), Value::String(e.to_string()));
                m
            }
        };
        m.insert("reference".into(), Value::String(reference));
        out.push(Value::Object(m));
    }
    let mut data = Map::new();
    data.insert("batch_results".into(), Value::Array(out));
    let mut resp = Response::data(data);
    if failed {
        resp.status = Some(400);
    }
    Ok(resp)
}
