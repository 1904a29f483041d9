//! ACL policy storage (`sys/policies/acl/*`, legacy `sys/policy/*`) and the
//! per-request ACL built from a token's policies.
//!
//! Parsed policies are cached by name; every write through this node clears
//! the entry. (Standbys will need a generation check; see the HA issue.)

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{json, Value};

use super::Core;
use crate::logical::{field_str, LogicalError, LogicalResult, Operation, Request, Response};
use crate::policy::{self, Acl, Policy};
use crate::storage::BatchItem;

const POLICY_PREFIX: &str = "sys/policy/";

type ParsedPolicies = HashMap<String, Arc<Policy>>;

/// Parsed-policy cache, valid for one cluster generation.
#[derive(Default)]
pub(crate) struct PolicyCache {
    // std RwLock: never held across an await.
    parsed: RwLock<(Vec<u8>, ParsedPolicies)>,
}

impl PolicyCache {
    fn get(&self, name: &str) -> Option<Arc<Policy>> {
        self.parsed.read().ok()?.1.get(name).cloned()
    }

    /// Caches a policy read at `generation` unless the cache moved on.
    fn put(&self, p: Arc<Policy>, generation: &[u8]) {
        if let Ok(mut m) = self.parsed.write() {
            if m.0 == generation {
                m.1.insert(p.name.clone(), p);
            }
        }
    }

    /// Drops everything: the cluster generation is now `generation`.
    pub(crate) fn clear(&self, generation: Vec<u8>) {
        if let Ok(mut m) = self.parsed.write() {
            m.1.clear();
            m.0 = generation;
        }
    }

    pub(crate) fn forget(&self, name: &str) {
        if let Ok(mut m) = self.parsed.write() {
            m.1.remove(name);
        }
    }
}

fn valid_name(name: &str) -> Result<String, LogicalError> {
    let n = name.trim().to_lowercase();
    if n.is_empty() || n.contains('/') || n.len() > 128 {
        return Err(LogicalError::bad(format!("invalid policy name {name:?}")));
    }
    Ok(n)
}

impl Core {
    /// The policy's text, if it exists (`default` exists until overwritten).
    async fn policy_text(&self, name: &str) -> Result<Option<String>, LogicalError> {
        Ok(self.policy_text_at(name).await?.0)
    }

    /// The policy text and the cluster generation it was read at.
    async fn policy_text_at(&self, name: &str) -> Result<(Option<String>, Vec<u8>), LogicalError> {
        if name == super::wrapping::RESPONSE_WRAPPING_POLICY {
            let text = super::wrapping::RESPONSE_WRAPPING_POLICY_TEXT.to_string();
            return Ok((Some(text), self.barrier.seen_generation()));
        }
        match self
            .barrier
            .get_versioned(&format!("{POLICY_PREFIX}{name}"))
            .await?
        {
            Some(v) => Ok((
                Some(String::from_utf8_lossy(&v.plaintext).into_owned()),
                v.generation,
            )),
            None => {
                let builtin = (name == policy::DEFAULT_POLICY_NAME)
                    .then(|| policy::default_policy_text().to_string());
                Ok((builtin, self.barrier.seen_generation()))
            }
        }
    }

    async fn load_policy(&self, name: &str) -> Result<Option<Arc<Policy>>, LogicalError> {
        if name == policy::ROOT_POLICY_NAME {
            return Ok(Some(Arc::new(Policy::root())));
        }
        if let Some(p) = self.policies.get(name) {
            return Ok(Some(p));
        }
        let (text, generation) = self.policy_text_at(name).await?;
        let Some(text) = text else {
            return Ok(None);
        };
        let parsed = policy::parse(name, &text).map_err(|e| {
            LogicalError::Internal(format!("stored policy {name} does not parse: {e}"))
        })?;
        let parsed = Arc::new(parsed);
        self.policies.put(parsed.clone(), &generation);
        Ok(Some(parsed))
    }

    /// Builds the ACL for a set of policy names. Unknown names grant nothing.
    pub(crate) async fn acl_for(&self, names: &[String]) -> Result<Acl, LogicalError> {
        let mut loaded = Vec::with_capacity(names.len());
        for n in names {
            if let Some(p) = self.load_policy(n).await? {
                loaded.push((*p).clone());
            }
        }
        Ok(Acl::new(&loaded))
    }

    /// `sys/policies/acl[/name]` and legacy `sys/policy[/name]`.
    pub(crate) async fn policy_endpoint(
        &self,
        req: &Request,
        name: &str,
        legacy: bool,
    ) -> LogicalResult {
        let op = req.operation;
        if name.is_empty() {
            let mut names: Vec<String> = self
                .barrier
                .list(POLICY_PREFIX)
                .await?
                .into_iter()
                .filter(|n| !n.ends_with('/'))
                .collect();
            if !names.iter().any(|n| n == "default") {
                names.push("default".into());
            }
            names.push("root".into());
            names.sort();
            return match (op, legacy) {
                (Operation::List, _) => Ok(Response::list(names)),
                // The legacy endpoint repeats its data at the top level.
                (Operation::Read, true) => {
                    let data = json!({"policies": names.clone(), "keys": names});
                    let data = data.as_object().cloned().unwrap_or_default();
                    Ok(super::sys::enveloped(req, data))
                }
                _ => Err(LogicalError::UnsupportedOperation),
            };
        }
        let name = valid_name(name)?;
        match op {
            Operation::Read => {
                let text = if name == "root" {
                    Some(String::new())
                } else {
                    self.policy_text(&name).await?
                };
                let Some(text) = text else {
                    return Err(LogicalError::NotFound);
                };
                if legacy {
                    Ok(Response::json(json!({"name": name, "rules": text})))
                } else {
                    Ok(Response::json(json!({"name": name, "policy": text})))
                }
            }
            // PATCH replaces the text of a policy that exists (a patch of
            // nothing is 404, as for any framework path in Vault).
            Operation::Patch if !legacy => {
                if name != "root" && self.policy_text(&name).await?.is_none() {
                    return Err(LogicalError::NotFound);
                }
                self.write_policy(req, &name).await
            }
            Operation::Update | Operation::Create => self.write_policy(req, &name).await,
            Operation::Delete => {
                if name == "root" || name == "default" {
                    return Err(LogicalError::bad(format!(
                        "cannot delete \"{name}\" policy"
                    )));
                }
                let key = format!("{POLICY_PREFIX}{name}");
                self.barrier
                    .batch_bump(vec![BatchItem::delete(key)])
                    .await?;
                self.policies.forget(&name);
                Ok(Response::empty())
            }
            _ => Err(LogicalError::UnsupportedOperation),
        }
    }

    /// Stores the `policy` (or legacy `rules`) text of a write or patch.
    async fn write_policy(&self, req: &Request, name: &str) -> LogicalResult {
        if name == "root" {
            return Err(LogicalError::bad("cannot update \"root\" policy"));
        }
        let text = field_str(&req.data, "policy")
            .or_else(|| field_str(&req.data, "rules"))
            .ok_or_else(|| LogicalError::bad("'policy' parameter not supplied or empty"))?;
        // Policies may be sent base64-encoded, as the CLI sometimes does.
        let text = decode_policy_text(text);
        policy::parse(name, &text)
            .map_err(|e| LogicalError::bad(format!("failed to parse policy: {e}")))?;
        let key = format!("{POLICY_PREFIX}{name}");
        self.barrier
            .batch_bump(vec![BatchItem::put(key, text.into_bytes())])
            .await?;
        self.policies.forget(name);
        Ok(Response::empty())
    }
}

/// Accepts a policy given as base64 of the HCL text (Vault allows it).
fn decode_policy_text(text: &str) -> String {
    use base64::Engine;
    let t = text.trim();
    if !t.contains(['{', '"', ' ', '\n']) {
        if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(t) {
            if let Ok(s) = String::from_utf8(b) {
                return s;
            }
        }
    }
    text.to_string()
}

/// Capabilities JSON for `sys/capabilities*`: per path, plus `capabilities`
/// for the first path (Vault's shape).
pub(crate) fn capabilities_json(acl: &Acl, paths: &[String]) -> Value {
    let mut out = serde_json::Map::new();
    for (i, p) in paths.iter().enumerate() {
        let normalized = super::path::normalize(p).unwrap_or_else(|_| p.clone());
        let caps = acl.capabilities(&normalized);
        if i == 0 {
            out.insert("capabilities".into(), json!(caps));
        }
        out.insert(p.clone(), json!(caps));
    }
    Value::Object(out)
}
