//! Identity token templates (Vault's identity templating in JSON mode): a
//! JSON object whose `{{identity.entity...}}` placeholders are filled from
//! the entity. Strings are inserted escaped but unquoted (the template
//! quotes them), lists and objects as JSON.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::engines::identity::model::{Entity, MountInfo, Snapshot};
use crate::logical::LogicalError;

/// The template as stored: JSON text, given as JSON or base64 of it.
pub(super) fn decode(raw: &str) -> Result<String, LogicalError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.starts_with('{') {
        return Ok(raw.to_string());
    }
    STANDARD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| LogicalError::bad("error parsing template: not JSON or base64-encoded JSON"))
}

/// Refuses templates that set reserved claims (checked with an empty entity).
pub(super) fn check_reserved(template: &str, reserved: &[&str]) -> Result<(), LogicalError> {
    let snap = Snapshot::default();
    let claims = render(template, &Entity::default(), &snap, &[])?;
    if let Some(k) = claims.keys().find(|k| reserved.contains(&k.as_str())) {
        return Err(LogicalError::bad(format!(
            "top level key {k:?} not allowed. Restricted keys: {}",
            reserved.join(", ")
        )));
    }
    Ok(())
}

fn value_of(path: &str, e: &Entity, snap: &Snapshot, mounts: &[MountInfo]) -> Value {
    let group_ids = || {
        let mut ids = snap.direct_groups(&e.id);
        ids.extend(snap.inherited_groups(&e.id));
        ids.sort();
        ids.dedup();
        ids
    };
    match path {
        "identity.entity.id" => json!(e.id),
        "identity.entity.name" => json!(e.name),
        "identity.entity.metadata" => json!(e.metadata),
        "identity.entity.groups.ids" => json!(group_ids()),
        "identity.entity.groups.names" => {
            let names: Vec<String> = group_ids()
                .iter()
                .filter_map(|g| snap.state.groups.get(g).map(|g| g.name.clone()))
                .collect();
            json!(names)
        }
        _ => {
            if let Some(k) = path.strip_prefix("identity.entity.metadata.") {
                return json!(e.metadata.get(k).cloned().unwrap_or_default());
            }
            if let Some(rest) = path.strip_prefix("identity.entity.aliases.") {
                if let Some((accessor, field)) = rest.split_once('.') {
                    let alias = e.aliases.iter().find(|a| a.mount_accessor == accessor);
                    let _ = mounts;
                    return match (alias, field) {
                        (Some(a), "id") => json!(a.id),
                        (Some(a), "name") => json!(a.name),
                        (Some(a), "metadata") => json!(a.metadata),
                        (Some(a), f) => match f.strip_prefix("metadata.") {
                            Some(k) => json!(a.metadata.get(k).cloned().unwrap_or_default()),
                            None => json!(""),
                        },
                        (None, _) => json!(""),
                    };
                }
            }
            json!("")
        }
    }
}

/// The claims a template gives for an entity.
pub(super) fn render(
    template: &str,
    e: &Entity,
    snap: &Snapshot,
    mounts: &[MountInfo],
) -> Result<Map<String, Value>, LogicalError> {
    if template.trim().is_empty() {
        return Ok(Map::new());
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| LogicalError::bad("error parsing template: unclosed {{"))?;
        let path = after[..end].trim();
        match value_of(path, e, snap, mounts) {
            Value::String(s) => {
                let quoted = Value::String(s).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    match serde_json::from_str::<Value>(&out) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(LogicalError::bad(
            "error parsing template JSON: the template must be a JSON object",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn placeholders_fill_strings_lists_and_objects() {
        let e = Entity {
            id: "e1".into(),
            name: "al\"ice".into(),
            metadata: BTreeMap::from([("team".to_string(), "eng".to_string())]),
            ..Default::default()
        };
        let snap = Snapshot::default();
        let t = r#"{"name": "{{identity.entity.name}}", "team": "{{identity.entity.metadata.team}}", "groups": {{identity.entity.groups.names}}, "md": {{identity.entity.metadata}}}"#;
        let m = render(t, &e, &snap, &[]).unwrap();
        assert_eq!(m["name"], "al\"ice");
        assert_eq!(m["team"], "eng");
        assert_eq!(m["groups"], json!([]));
        assert_eq!(m["md"], json!({"team": "eng"}));
        assert!(render("[1]", &e, &snap, &[]).is_err());
        assert!(check_reserved(r#"{"sub": "x"}"#, &["sub"]).is_err());
        assert_eq!(decode(&STANDARD.encode(t)).unwrap(), t);
    }
}
