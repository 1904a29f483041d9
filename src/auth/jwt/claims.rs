//! Claims after a token verified: the JSON-pointer lookup Vault's roles use
//! (`/a/b` or a plain top-level name), `claim_mappings` → alias metadata,
//! `bound_claims` (exact or `glob`), the groups claim, and the `*` glob of
//! Vault's `go-glob` (also used for Kubernetes service-account bindings).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A scalar claim value as Vault compares them: numbers compare as their
/// decimal text, and never equal a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scalar {
    Str(String),
    Bool(bool),
    Num(String),
}

fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    match n.as_f64() {
        Some(f) if f == (f as i64) as f64 => (f as i64).to_string(),
        Some(f) => f.to_string(),
        None => n.to_string(),
    }
}

/// A claim by name, or by JSON pointer when it starts with `/`.
pub(crate) fn get_claim<'a>(claims: &'a Map<String, Value>, claim: &str) -> Option<&'a Value> {
    let v = if let Some(pointer) = claim.strip_prefix('/') {
        let mut cur: Option<&Value> = None;
        let root = claims;
        for (i, raw) in pointer.split('/').enumerate() {
            let seg = raw.replace("~1", "/").replace("~0", "~");
            cur = if i == 0 {
                root.get(&seg)
            } else {
                match cur? {
                    Value::Object(m) => m.get(&seg),
                    Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
                    _ => None,
                }
            };
        }
        cur
    } else {
        claims.get(claim)
    };
    v.filter(|v| !v.is_null())
}

fn scalar(v: &Value) -> Option<Scalar> {
    match v {
        Value::String(s) => Some(Scalar::Str(s.clone())),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Number(n) => Some(Scalar::Num(number_text(n))),
        _ => None,
    }
}

/// A string, bool, number or list of them, as a list (Vault's
/// `normalizeList`; `None` for anything else). List items that are not
/// scalars are kept out of the comparison.
pub(crate) fn normalize_list(v: &Value) -> Option<Vec<Option<Scalar>>> {
    match v {
        Value::Array(a) => Some(a.iter().map(scalar).collect()),
        other => scalar(other).map(|s| vec![Some(s)]),
    }
}

/// Vault's `go-glob`: `*` matches any run of characters; nothing else is
/// special.
pub(crate) fn glob(pattern: &str, subj: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == subj;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !subj.starts_with(first) {
        return false;
    }
    let mut rest = &subj[first.len()..];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Whether any of `patterns` glob-matches `s` (Vault's `StrListContainsGlob`).
pub(crate) fn list_contains_glob(patterns: &[String], s: &str) -> bool {
    patterns.iter().any(|p| glob(p, s))
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `bound_claims`: every listed claim must be present and match one of its
/// values (exactly, or as a glob with `bound_claims_type=glob`).
pub(crate) fn validate_bound_claims(
    glob_type: bool,
    bound: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> Result<(), String> {
    for (claim, expected) in bound {
        let Some(actual) = get_claim(claims, claim) else {
            return Err(format!("claim {claim:?} is missing"));
        };
        let Some(act) = normalize_list(actual) else {
            return Err(format!(
                "received claim is not a string, bool, int or list: {}",
                describe(actual)
            ));
        };
        let Some(exp) = normalize_list(expected) else {
            return Err(format!(
                "bound claim is not a string, bool, int or list: {}",
                describe(expected)
            ));
        };
        let mut found = false;
        'outer: for e in exp.iter().flatten() {
            for a in act.iter().flatten() {
                let hit = if glob_type {
                    let Scalar::Str(p) = e else {
                        return Err("received claim is not a glob string".into());
                    };
                    matches!(a, Scalar::Str(s) if glob(p, s))
                } else {
                    a == e
                };
                if hit {
                    found = true;
                    break 'outer;
                }
            }
        }
        if !found {
            return Err(format!(
                "claim {claim:?} does not match any associated bound claim values"
            ));
        }
    }
    Ok(())
}

/// `claim_mappings` (claim → metadata key): each present claim must be a
/// string.
pub(crate) fn extract_metadata(
    claims: &Map<String, Value>,
    mappings: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (source, target) in mappings {
        if let Some(v) = get_claim(claims, source) {
            let Value::String(s) = v else {
                return Err(format!("error converting claim '{source}' to string"));
            };
            out.insert(target.clone(), s.clone());
        }
    }
    Ok(out)
}

/// The groups claim as group alias names (empty names skipped).
pub(crate) fn groups(
    claims: &Map<String, Value>,
    groups_claim: &str,
) -> Result<Vec<String>, String> {
    let Some(raw) = get_claim(claims, groups_claim) else {
        return Err(format!(
            "failed to fetch groups: {groups_claim:?} claim not found in token"
        ));
    };
    let items: Vec<&Value> = match raw {
        Value::Array(a) => a.iter().collect(),
        Value::String(_) | Value::Bool(_) | Value::Number(_) => vec![raw],
        _ => {
            return Err(format!(
                "{groups_claim:?} claim could not be converted to string list"
            ))
        }
    };
    let mut out = Vec::new();
    for g in items {
        let Value::String(s) = g else {
            return Err(format!(
                "value {} in groups claim could not be parsed as string",
                describe(g)
            ));
        };
        if !s.is_empty() {
            out.push(s.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn glob_matches_like_go_glob() {
        assert!(glob("*", "anything"));
        assert!(glob("ci-*", "ci-main"));
        assert!(!glob("ci-*", "prod"));
        assert!(glob("*-sa", "app-sa"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("exact", "exact"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn pointers_reach_nested_claims() {
        let c = m(json!({"a": {"b/c": [1, {"d": "x"}]}, "top": "t"}));
        assert_eq!(get_claim(&c, "top"), Some(&json!("t")));
        assert_eq!(get_claim(&c, "/a/b~1c/1/d"), Some(&json!("x")));
        assert_eq!(get_claim(&c, "/a/missing"), None);
    }

    #[test]
    fn bound_claims_exact_and_glob() {
        let c = m(json!({"repo": "acme/widgets", "groups": ["eng", "ops"], "n": 5, "ok": true}));
        validate_bound_claims(false, &m(json!({"repo": "acme/widgets"})), &c).unwrap();
        validate_bound_claims(
            false,
            &m(json!({"groups": ["x", "ops"], "n": 5, "ok": true})),
            &c,
        )
        .unwrap();
        assert_eq!(
            validate_bound_claims(false, &m(json!({"repo": "acme/*"})), &c).unwrap_err(),
            "claim \"repo\" does not match any associated bound claim values"
        );
        validate_bound_claims(true, &m(json!({"repo": "acme/*"})), &c).unwrap();
        assert_eq!(
            validate_bound_claims(false, &m(json!({"env": "prod"})), &c).unwrap_err(),
            "claim \"env\" is missing"
        );
        // A number never equals its text.
        assert!(validate_bound_claims(false, &m(json!({"n": "5"})), &c).is_err());
    }

    #[test]
    fn metadata_and_groups() {
        let c = m(json!({"repository": "acme/w", "n": 3, "groups": ["a", "", "b"], "one": "solo"}));
        let maps = BTreeMap::from([("repository".to_string(), "repo".to_string())]);
        assert_eq!(extract_metadata(&c, &maps).unwrap()["repo"], "acme/w");
        let bad = BTreeMap::from([("n".to_string(), "n".to_string())]);
        assert_eq!(
            extract_metadata(&c, &bad).unwrap_err(),
            "error converting claim 'n' to string"
        );
        assert_eq!(groups(&c, "groups").unwrap(), vec!["a", "b"]);
        assert_eq!(groups(&c, "one").unwrap(), vec!["solo"]);
        assert!(groups(&c, "nope").is_err());
    }
}
