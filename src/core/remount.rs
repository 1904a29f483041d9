//! `sys/remount` and `sys/remount/status/:migration_id`: move a secrets
//! engine, or an auth method (both paths under `auth/`), to a new path with
//! its data.
//!
//! A mount's data lives under `logical/<uuid>/`, keyed by the mount's uuid
//! and not its path, so a move is one mount-table write (which bumps the
//! cluster generation, so HA standbys reload the table) and no data is
//! copied. As in Vault, leases issued through the old path are revoked
//! first (for an auth method: the tokens its logins created), and policies
//! that name the old path are not rewritten.
//!
//! Vault runs the move in the background and reports a `migration_id` to
//! poll; here the move is done before answering, and the migration record
//! (stored through the barrier, so any node can answer the status) already
//! says `success`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::mounts::normalize_mount_path;
use super::{Core, Unsealed};
use crate::logical::{field_str, LogicalError, LogicalResult, Operation, Request, Response};

/// Where migration records are kept (one per remount).
const MIGRATION_PREFIX: &str = "core/mount-migrations/";

/// Secrets-engine paths that can be neither moved nor moved onto
/// (Vault's `protectedMounts`).
const PROTECTED_MOUNTS: &[&str] = &["audit/", "auth/", "sys/", "cubbyhole/", "identity/"];

/// Auth paths that can be neither moved nor moved onto (`protectedAuths`).
const PROTECTED_AUTHS: &[&str] = &["auth/token"];

const QUEUED_WARNING: &str = "Mount move has been queued. Progress will be reported in Strongroom's server log, tagged with the returned migration_id";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Migration {
    source_mount: String,
    target_mount: String,
    status: String,
    /// Unix seconds.
    #[serde(default)]
    started: i64,
}

/// Vault's `sanitizePath`: no leading slash, one trailing slash.
fn sanitize(p: &str) -> String {
    let p = p.trim_start_matches('/');
    if p.ends_with('/') {
        p.to_string()
    } else {
        format!("{p}/")
    }
}

/// Checks `from` and `to` as Vault does, returning the two mount paths.
fn check_paths(from: &str, to: &str) -> Result<(String, String), LogicalError> {
    if from.is_empty() || to.is_empty() {
        return Err(LogicalError::bad(
            "both 'from' and 'to' path must be specified as a string",
        ));
    }
    if from.trim() != from {
        return Err(LogicalError::bad(
            "'from' path cannot contain trailing whitespace",
        ));
    }
    if to.trim() != to {
        return Err(LogicalError::bad(
            "'to' path cannot contain trailing whitespace",
        ));
    }
    let from = sanitize(from);
    let to_path = sanitize(to);
    let cleaned = normalize_mount_path(&to_path)
        .map_err(|e| LogicalError::bad(format!("invalid destination mount: {e}")))?;
    if cleaned != to_path {
        return Err(LogicalError::bad(format!(
            "invalid destination mount: path '{to_path}' does not match cleaned path '{cleaned}'"
        )));
    }
    let to = to_path;
    if from.starts_with("auth/") {
        if !to.starts_with("auth/") {
            return Err(LogicalError::bad(format!(
                "cannot remount auth mount to non-auth mount \"{to}\""
            )));
        }
        if PROTECTED_AUTHS.iter().any(|p| from.starts_with(p)) || from == "auth/" {
            return Err(LogicalError::bad(format!("cannot remount \"{from}\"")));
        }
        if PROTECTED_AUTHS.iter().any(|p| to.starts_with(p)) || to == "auth/" {
            return Err(LogicalError::bad(format!(
                "cannot remount to destination \"{to}\""
            )));
        }
    } else {
        for p in PROTECTED_MOUNTS {
            if from.starts_with(p) {
                return Err(LogicalError::bad(format!("cannot remount \"{from}\"")));
            }
            if to.starts_with(p) {
                return Err(LogicalError::bad(format!(
                    "cannot remount to destination {to}"
                )));
            }
        }
    }
    Ok((from, to))
}

/// The mount whose path collides with `to` (equal, under it or above it).
fn conflict<'a>(paths: impl Iterator<Item = &'a str>, to: &str) -> Option<String> {
    paths
        .into_iter()
        .find(|p| p.starts_with(to) || to.starts_with(p))
        .map(str::to_string)
}

/// `POST sys/remount` with `from` and `to`.
pub(crate) async fn remount(core: &Core, state: &Unsealed, req: &Request) -> LogicalResult {
    if !matches!(req.operation, Operation::Update | Operation::Create) {
        return Err(LogicalError::UnsupportedOperation);
    }
    // A standby's cached table may predate the last change: let the active
    // node, the only writer, check and move.
    if !core.is_active() {
        return Err(LogicalError::Standby(
            "sys/remount must run on the active node".into(),
        ));
    }
    let from = field_str(&req.data, "from").unwrap_or("");
    let to = field_str(&req.data, "to").unwrap_or("");
    let (from, to) = check_paths(from, to)?;
    let no_match = || LogicalError::bad(format!("no matching mount at \"{from}\""));
    if state.mounts.get(&from).is_none() {
        return Err(no_match());
    }
    let in_use = |at: String| LogicalError::bad(format!("path already in use at \"{at}\""));
    if let Some(at) = conflict(state.mounts.entries.iter().map(|e| e.path.as_str()), &to) {
        return Err(in_use(at));
    }

    let migration_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(
        migration_id,
        from,
        to,
        "moving a mount: revoking its leases"
    );
    // Leases (tokens) issued through the old path; their paths name it.
    for found in state.tokens.all().await? {
        if found.entry.path.starts_with(&from) {
            state.tokens.revoke_tree(&found.hash).await?;
        }
    }
    core.update_mounts(|table| {
        if let Some(at) = conflict(table.entries.iter().map(|e| e.path.as_str()), &to) {
            return Err(in_use(at));
        }
        let entry = table
            .entries
            .iter_mut()
            .find(|e| e.path == from)
            .ok_or_else(no_match)?;
        entry.path = to.clone();
        Ok(())
    })
    .await?;
    let record = Migration {
        source_mount: from.clone(),
        target_mount: to.clone(),
        status: "success".into(),
        started: chrono::Utc::now().timestamp(),
    };
    let bytes = serde_json::to_vec(&record).map_err(|e| LogicalError::Internal(e.to_string()))?;
    core.barrier
        .put(&format!("{MIGRATION_PREFIX}{migration_id}"), &bytes)
        .await?;
    tracing::info!(migration_id, from, to, "completed the mount move");
    prune_old_records(core).await;

    let mut data = Map::new();
    data.insert("migration_id".into(), Value::from(migration_id));
    let mut resp = super::sys::enveloped(req, data);
    if let Some(body) = resp.raw.as_mut() {
        body["warnings"] = json!([QUEUED_WARNING]);
    }
    Ok(resp)
}

/// How long a migration record stays answerable (Vault keeps them in
/// memory only, so any bound is at least as generous).
const RECORD_TTL_SECS: i64 = 30 * 24 * 3600;

/// Deletes migration records older than [`RECORD_TTL_SECS`], so repeated
/// remounts do not grow storage forever. Best effort: a failure only logs.
async fn prune_old_records(core: &Core) {
    let cutoff = chrono::Utc::now().timestamp() - RECORD_TTL_SECS;
    let Ok(ids) = core.barrier.list(MIGRATION_PREFIX).await else {
        return;
    };
    for id in ids {
        let key = format!("{MIGRATION_PREFIX}{id}");
        let old = match core.barrier.get(&key).await {
            Ok(Some(b)) => serde_json::from_slice::<Migration>(&b)
                .map(|m| m.started < cutoff)
                .unwrap_or(true),
            _ => false,
        };
        if old {
            if let Err(e) = core.barrier.delete(&key).await {
                tracing::warn!(error = %e, "could not delete an old migration record");
            }
        }
    }
}

/// `GET sys/remount/status/:migration_id`.
pub(crate) async fn status(core: &Core, req: &Request, id: &str) -> LogicalResult {
    if req.operation != Operation::Read {
        return Err(LogicalError::UnsupportedOperation);
    }
    let id = id.trim_end_matches('/');
    if id.is_empty() {
        return Err(LogicalError::bad("migrationID must be specified"));
    }
    if id.contains('/') {
        return Err(LogicalError::NotFound);
    }
    let Some(bytes) = core.barrier.get(&format!("{MIGRATION_PREFIX}{id}")).await? else {
        return Err(LogicalError::NotFound);
    };
    let m: Migration = serde_json::from_slice(&bytes)
        .map_err(|e| LogicalError::Internal(format!("migration record is corrupt: {e}")))?;
    Ok(Response::json(json!({
        "migration_id": id,
        "migration_info": {
            "source_mount": m.source_mount,
            "target_mount": m.target_mount,
            "status": m.status,
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(from: &str, to: &str) -> String {
        check_paths(from, to).unwrap_err().to_string()
    }

    #[test]
    fn path_checks_use_vaults_messages() {
        assert_eq!(
            check_paths("kv-old", "kv-new").unwrap(),
            ("kv-old/".into(), "kv-new/".into())
        );
        assert_eq!(
            err("kv", ""),
            "both 'from' and 'to' path must be specified as a string"
        );
        assert_eq!(
            err(" kv", "x"),
            "'from' path cannot contain trailing whitespace"
        );
        assert_eq!(
            err("kv", "x "),
            "'to' path cannot contain trailing whitespace"
        );
        assert_eq!(err("sys", "x"), "cannot remount \"sys/\"");
        assert_eq!(err("cubbyhole/", "x"), "cannot remount \"cubbyhole/\"");
        assert_eq!(err("identity", "x"), "cannot remount \"identity/\"");
        assert_eq!(err("kv", "sys/kv"), "cannot remount to destination sys/kv/");
        assert_eq!(
            err("kv", "auth/kv"),
            "cannot remount to destination auth/kv/"
        );
        assert_eq!(
            err("auth/userpass", "people"),
            "cannot remount auth mount to non-auth mount \"people/\""
        );
        assert_eq!(
            err("auth/token", "auth/t2"),
            "cannot remount \"auth/token/\""
        );
        assert_eq!(
            err("auth/userpass", "auth/token/x"),
            "cannot remount to destination \"auth/token/x/\""
        );
        assert!(err("kv", "a//b").starts_with("invalid destination mount"));
        assert!(err("kv", "a/../b").starts_with("invalid destination mount"));
        assert_eq!(
            check_paths("auth/userpass/", "auth/people").unwrap(),
            ("auth/userpass/".into(), "auth/people/".into())
        );
    }

    #[test]
    fn conflicts_are_path_segments() {
        let paths = ["secret/", "team/kv/"];
        assert_eq!(
            conflict(paths.iter().copied(), "secret/"),
            Some("secret/".into())
        );
        assert_eq!(
            conflict(paths.iter().copied(), "team/"),
            Some("team/kv/".into())
        );
        assert_eq!(
            conflict(paths.iter().copied(), "team/kv/x/"),
            Some("team/kv/".into())
        );
        assert_eq!(conflict(paths.iter().copied(), "secrets/"), None);
    }
}
