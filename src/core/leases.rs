//! `sys/leases/*`: leases by id. Every lease Strongroom hands out today is a
//! token lease (KV issues none), with id `<creation path>/<token hash>` —
//! the same shape as Vault's `auth/token/create/<id>`, and the hash is not
//! a credential.

use serde_json::json;

use super::secret_leases;
use super::tokens::{FoundToken, RenewError};
use super::Unsealed;
use crate::logical::duration_field;
use crate::logical::{field_str, LogicalError, LogicalResult, Operation, Request, Response};

/// Vault registers no lease for a root token minted by init or
/// generate-root (path `auth/token/root`), so lease listing, lookup and
/// `revoke-prefix auth/token` never reach it: the operator keeps the
/// token the cluster was set up with.
fn has_lease(found: &FoundToken) -> bool {
    found.entry.path != "auth/token/root"
}

pub(crate) fn lease_id(found: &FoundToken) -> String {
    format!("{}/{}", found.entry.path.trim_end_matches('/'), found.hash)
}

async fn by_lease_id(state: &Unsealed, wanted: &str) -> Result<FoundToken, LogicalError> {
    let invalid = || LogicalError::bad("invalid lease");
    let hash = wanted
        .rsplit('/')
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(invalid)?;
    let found = state.tokens.lookup_hash(hash).await?.ok_or_else(invalid)?;
    if !has_lease(&found) || lease_id(&found) != wanted {
        return Err(invalid());
    }
    Ok(found)
}

fn lease_from(req: &Request, suffix: &str) -> Result<String, LogicalError> {
    match field_str(&req.data, "lease_id").filter(|s| !s.is_empty()) {
        Some(l) => Ok(l.to_string()),
        None if !suffix.is_empty() => Ok(suffix.to_string()),
        None => Err(LogicalError::bad("lease_id must be specified")),
    }
}

/// Whether `lease` is under `prefix` by whole path segments, as Vault's
/// `RevokePrefix` matches: the lease itself, or one below `prefix/`. So
/// prefix `a` does not reach `auth/...`, nor `auth/tok` `auth/token/...`.
fn under_prefix(lease: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        return lease.starts_with(prefix);
    }
    lease == prefix
        || lease
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Handles `sys/leases/<rest>` and the legacy `sys/renew`, `sys/revoke`.
pub(crate) async fn handle(state: &Unsealed, req: &Request, rest: &str) -> LogicalResult {
    let op = req.operation;
    let ts = &state.tokens;
    let (action, suffix) = rest.split_once('/').unwrap_or((rest, ""));
    match action {
        "lookup" if op == Operation::List => {
            // As Vault, a prefix names a folder whether or not the client
            // sent its trailing slash (the bao CLI strips it).
            let prefix = match suffix {
                "" => String::new(),
                s if s.ends_with('/') => s.to_string(),
                s => format!("{s}/"),
            };
            let mut keys: Vec<String> = Vec::new();
            let mut ids: Vec<String> = ts
                .all()
                .await?
                .iter()
                .filter(|f| has_lease(f))
                .map(lease_id)
                .collect();
            ids.extend(
                secret_leases::all(ts.barrier())
                    .await?
                    .into_iter()
                    .map(|e| e.id),
            );
            for id in ids {
                if let Some(rel) = id.strip_prefix(prefix.as_str()) {
                    let child = match rel.find('/') {
                        Some(i) => rel[..=i].to_string(),
                        None => rel.to_string(),
                    };
                    if !keys.contains(&child) {
                        keys.push(child);
                    }
                }
            }
            if keys.is_empty() {
                return Err(LogicalError::NotFound);
            }
            keys.sort();
            Ok(Response::list(keys))
        }
        "lookup" => {
            let wanted = lease_from(req, "")?;
            if let Some(e) = secret_leases::find(ts.barrier(), &wanted).await? {
                return Ok(Response::json(secret_leases::lookup_json(&e, ts.now())));
            }
            let found = by_lease_id(state, &wanted).await?;
            let e = &found.entry;
            let expire = chrono::DateTime::from_timestamp(e.expire_time, 0)
                .filter(|_| e.expire_time != 0)
                .map(crate::util::rfc3339);
            Ok(Response::json(json!({
                "id": lease_id(&found),
                "issue_time": e.issue_time,
                "expire_time": expire,
                "last_renewal": null,
                "renewable": e.renewable,
                "ttl": e.remaining_ttl(ts.now()),
            })))
        }
        "renew" => {
            let wanted = lease_from(req, suffix)?;
            if let Some(e) = secret_leases::find(ts.barrier(), &wanted).await? {
                if !e.renewable {
                    return Err(LogicalError::bad("lease is not renewable"));
                }
            }
            let found = by_lease_id(state, &wanted).await?;
            let increment = duration_field(&req.data, "increment")?.unwrap_or(0);
            let (entry, warning) = ts.renew(&found, increment).await.map_err(|e| match e {
                RenewError::NotRenewable => LogicalError::bad("lease is not renewable"),
                RenewError::Storage(b) => b.into(),
            })?;
            let mut resp = Response::empty();
            resp.lease_id = lease_id(&found);
            resp.renewable = entry.renewable;
            resp.lease_duration = entry.ttl;
            resp.warnings.extend(warning);
            resp.data = Some(serde_json::Map::new());
            Ok(resp)
        }
        "revoke" => {
            let wanted = lease_from(req, suffix)?;
            if let Some(e) = secret_leases::find(ts.barrier(), &wanted).await? {
                secret_leases::revoke(state, ts.barrier(), &e).await?;
                return Ok(Response::empty());
            }
            if let Ok(found) = by_lease_id(state, &wanted).await {
                ts.revoke_tree(&found.hash).await?;
            }
            Ok(Response::empty())
        }
        "revoke-prefix" | "revoke-force" => {
            if suffix.is_empty() {
                return Err(LogicalError::bad("prefix must be specified"));
            }
            for f in ts.all().await?.into_iter().filter(has_lease) {
                if under_prefix(&lease_id(&f), suffix) {
                    ts.revoke_tree(&f.hash).await?;
                }
            }
            for e in secret_leases::all(ts.barrier()).await? {
                if under_prefix(&e.id, suffix) {
                    secret_leases::revoke(state, ts.barrier(), &e).await?;
                }
            }
            Ok(Response::empty())
        }
        "tidy" => {
            ts.sweep_expired().await?;
            secret_leases::sweep_expired(state, ts.barrier(), ts.now()).await?;
            Ok(Response::empty())
        }
        _ => Err(LogicalError::NoRoute(format!(
            "unsupported path: sys/leases/{rest}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::under_prefix;

    #[test]
    fn prefixes_match_whole_segments() {
        let lease = "auth/token/create/abc";
        assert!(under_prefix(lease, "auth/token"));
        assert!(under_prefix(lease, "auth/token/"));
        assert!(under_prefix(lease, "auth"));
        assert!(under_prefix(lease, lease));
        assert!(!under_prefix(lease, "a"));
        assert!(!under_prefix(lease, "auth/tok"));
        assert!(!under_prefix(lease, "auth/token/create/ab"));
        assert!(!under_prefix(lease, "auth/userpass"));
    }
}
