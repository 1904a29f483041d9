//! Request dispatch: normalize, authenticate, authorize, route, and finish
//! the response (issue login tokens, wrap responses).
//!
//! The order is the security argument: the path is normalized exactly once,
//! before anything looks at it; every path that is not explicitly
//! unauthenticated needs a live token; and the ACL is checked against the
//! same normalized path and operation the engine will execute.

use super::audit::{AuditPhase, PendingResponse};
use super::tokens::FoundToken;
use super::{path, sys, token_store, Core, Unsealed};
use crate::logical::{LogicalError, LogicalResult, Operation, Request, StorageView};
use crate::util::cidr_contains;

/// Paths that need `sudo` in addition to the operation's capability.
const SUDO_PATHS: &[&str] = &[
    "sys/seal",
    "sys/step-down",
    "sys/rotate",
    "sys/rotate/*",
    "sys/auth/*",
    "sys/audit",
    "sys/audit/*",
    "sys/raw/*",
    "sys/remount",
    "sys/leases/revoke-prefix/*",
    "sys/leases/revoke-force/*",
    "sys/leases/lookup/*",
    "sys/rekey/backup",
    "sys/rekey/recovery-key-backup",
    "sys/generate-root-token/*",
    "auth/token/revoke-orphan",
    "auth/token/accessors",
    "auth/token/accessors/*",
];

/// The sys endpoints served before authentication (no caches involved).
fn is_unauthenticated_sys(path: &str) -> bool {
    matches!(
        path,
        "sys/health" | "sys/seal-status" | "sys/init" | "sys/unseal" | "sys/leader"
    ) || super::rekey::is_operator_path(path)
}

fn needs_sudo(path: &str, op: Operation) -> bool {
    // Listing and reading sys/auth is allowed without sudo; changing it is not.
    if path.starts_with("sys/auth") && !op.is_write() {
        return false;
    }
    SUDO_PATHS.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == *p,
    })
}

/// `path-help` for the sys endpoints (the token store's comes from its
/// path declarations).
fn builtin_help() -> crate::logical::Response {
    let text = "The system backend is built in and serves the server's configuration and state: mounts, auth methods, policies, leases, seal, HA and health. See Vault's sys/ API documentation.";
    crate::logical::Response::raw(serde_json::json!({
        "help": format!("## DESCRIPTION\n\n{text}\n"),
        "see_also": serde_json::Value::Null,
    }))
}

/// The outcome of routing and authentication: `error` is set when the
/// request must not run; `target` and `caller` are whatever was learnt.
#[derive(Default)]
pub(crate) struct Admission {
    pub(crate) target: Option<Target>,
    pub(crate) caller: Option<FoundToken>,
    pub(crate) error: Option<LogicalError>,
}

/// A request after admission: answered already, or to be served audited.
enum Prepared {
    Done(LogicalResult),
    Audited(
        std::sync::Arc<crate::audit::Loaded>,
        std::sync::Arc<Unsealed>,
        Admission,
        Request,
    ),
}

/// How a request will be served once routed.
pub(crate) enum Target {
    Sys,
    TokenStore,
    Mount(crate::core::router::Route),
}

/// Vault's special-path patterns: a trailing `*` matches any suffix, and a
/// `+` segment matches exactly one segment (`issuer/+/pem`).
fn is_unauthenticated(patterns: &[&str], rel: &str) -> bool {
    patterns.iter().any(|p| {
        if p.contains('+') {
            let (ps, rs): (Vec<&str>, Vec<&str>) =
                (p.split('/').collect(), rel.split('/').collect());
            return ps.len() == rs.len()
                && ps
                    .iter()
                    .zip(&rs)
                    .all(|(a, b)| *a == *b || (*a == "+" && !b.is_empty()));
        }
        match p.strip_suffix('*') {
            Some(prefix) => rel.starts_with(prefix),
            None => rel == *p,
        }
    })
}

impl Core {
    /// Handles any request from any transport.
    ///
    /// Caches are validated against the cluster generation, which every
    /// storage read returns for free. A read-only request that learns of a
    /// newer generation while running may have been authorized with stale
    /// caches, so it is run once more with fresh ones (reads have no effects).
    pub(crate) async fn handle(&self, req: Request) -> LogicalResult {
        crate::barrier::GENERATION_SEEN
            // Boxed: a large future, moved by `scope` (bench/PROFILE.md).
            .scope(
                std::cell::Cell::new(false),
                Box::pin(self.handle_fresh(req)),
            )
            .await
    }

    async fn handle_fresh(&self, req: Request) -> LogicalResult {
        let before = self.barrier.seen_generation();
        if !self.is_sealed() {
            self.refresh_caches(&before).await?;
        }
        let _ = crate::barrier::GENERATION_SEEN.try_with(|seen| seen.set(false));
        // A single node is the only writer: its caches are never stale after
        // the refresh above, so there is nothing to replay and no need to
        // keep a copy of the request.
        if self.options.ha.is_none() {
            return self.handle_once(req, AuditPhase::Full).await.0;
        }
        let read_only = matches!(req.operation, Operation::Read | Operation::List);
        // The response entry waits until we know whether the request is
        // replayed: a replayed read is audited once.
        let (result, pending) = self.handle_once(req.clone(), AuditPhase::First).await;
        if self.is_sealed() || is_unauthenticated_sys(&req.path) {
            return PendingResponse::finish(pending, result).await;
        }
        // Served entirely from caches (a cached token looking itself up, a
        // denial by a cached policy): one read of the generation tells
        // whether another node changed something meanwhile.
        let seen = crate::barrier::GENERATION_SEEN
            .try_with(|s| s.get())
            .unwrap_or(true);
        if !seen {
            if let Err(e) = self.barrier.read_generation().await {
                return PendingResponse::finish(pending, Err(e.into())).await;
            }
        }
        let after = self.barrier.seen_generation();
        let changed_elsewhere = after != before && !self.barrier.is_own_generation(&after);
        // Replaying is safe only for requests that had no effect: reads, and
        // requests refused before they reached an engine.
        let no_effect = read_only
            || matches!(
                result,
                Err(LogicalError::NoRoute(_)
                    | LogicalError::PermissionDenied
                    | LogicalError::PermissionDeniedPolicy
                    | LogicalError::Forbidden(_))
            );
        if changed_elsewhere && no_effect {
            if let Err(e) = self.refresh_caches(&after).await {
                return PendingResponse::finish(pending, Err(e)).await;
            }
            // The first run's request entry stands; the replay writes the
            // response entry (or none was pending: nothing was audited).
            let phase = if pending.is_some() {
                AuditPhase::Replay
            } else {
                AuditPhase::Full
            };
            return self.handle_once(req, phase).await.0;
        }
        PendingResponse::finish(pending, result).await
    }

    async fn handle_once(
        &self,
        req: Request,
        phase: AuditPhase,
    ) -> (LogicalResult, Option<PendingResponse>) {
        match self.handle_prepared(req).await {
            Ok(Prepared::Done(r)) => (r, None),
            Ok(Prepared::Audited(loaded, state, admitted, req)) => {
                self.serve_audited(loaded, &state, admitted, req, phase)
                    .await
            }
            Err(e) => (Err(e), None),
        }
    }

    /// Everything before the audited part of a request: normalization,
    /// unauthenticated sys endpoints, admission, and the unaudited serve.
    async fn handle_prepared(&self, mut req: Request) -> Result<Prepared, LogicalError> {
        req.path = path::normalize(&req.path)?;
        // Vault refuses writes to `x/` (a key named `x/`, or the directory
        // `x`?) rather than guess; Go clients never send one (`path.Join`).
        let writes = matches!(
            req.operation,
            Operation::Update | Operation::Create | Operation::Patch
        );
        if req.path.ends_with('/') && writes {
            return Err(LogicalError::bad("cannot write to a path ending in '/'"));
        }
        // A trailing slash only means something to LIST. Dropping it for
        // everything else keeps `secret/x/` from slipping past a policy on
        // `secret/x` while reaching the same key.
        if req.operation != Operation::List {
            while req.path.ends_with('/') {
                req.path.pop();
            }
        }
        if let Some(resp) = sys::handle_unauthenticated(self, &req).await? {
            return Ok(Prepared::Done(Ok(resp)));
        }
        let state = self.unsealed_state()?;
        let admitted = self.admit(&state, &mut req).await;
        // Auditing: one atomic load when no device is enabled. A change to
        // the device table goes the audited way even then, so that enabling
        // the first device records the enable's response entry on it.
        let audit = self.audit.broker.active().or_else(|| {
            req.path
                .starts_with("sys/audit/")
                .then(|| self.audit.broker.loaded())
        });
        match audit {
            None => {
                if let Some(e) = admitted.error {
                    return Err(e);
                }
                let target = admitted.target.ok_or(LogicalError::PermissionDenied)?;
                let r = self
                    .serve(&state, &target, admitted.caller.as_ref(), &req)
                    .await;
                Ok(Prepared::Done(r))
            }
            Some(loaded) => Ok(Prepared::Audited(loaded, state, admitted, req)),
        }
    }

    /// Routes, authenticates and authorizes: what must succeed before the
    /// handler runs. A refusal keeps what was learnt (the mount, the
    /// caller) for the audit entry.
    async fn admit(&self, state: &Unsealed, req: &mut Request) -> Admission {
        let mut adm = Admission::default();
        let target = match self.route(state, req) {
            Ok(t) => t,
            Err(e) => {
                adm.error = Some(e);
                return adm;
            }
        };
        let unauthenticated = match &target {
            Target::Mount(r) => {
                is_unauthenticated(r.backend.unauthenticated_paths(), &req.relative_path)
            }
            _ => false,
        };
        if !unauthenticated {
            match self.authenticate(state, req).await {
                Ok(caller) => {
                    req.entity_id = caller.entry.entity_id.clone();
                    let checked = match self.authorize(state, &caller, &target, req).await {
                        Ok(()) => state.tokens.consume_use(&caller).await.map_err(Into::into),
                        Err(e) => Err(e),
                    };
                    adm.error = match checked {
                        Ok(true) => None,
                        Ok(false) => Some(LogicalError::PermissionDenied),
                        Err(e) => Some(e),
                    };
                    adm.caller = Some(caller);
                }
                Err(e) => adm.error = Some(e),
            }
        }
        adm.target = Some(target);
        adm
    }

    /// Runs an admitted request and finishes its response.
    pub(crate) async fn serve(
        &self,
        state: &Unsealed,
        target: &Target,
        caller: Option<&FoundToken>,
        req: &Request,
    ) -> LogicalResult {
        let mut resp = match (target, caller) {
            (Target::Sys, Some(_)) if req.operation == Operation::Help => builtin_help(),
            (Target::Sys, Some(c)) => sys::handle(self, state, req, c).await?,
            (Target::TokenStore, Some(c)) => token_store::handle(self, state, req, c).await?,
            (Target::Mount(route), _) => {
                let view = self.view_for(route, caller);
                let mut resp = route.backend.handle(req, &view).await?;
                if let Some(lease) = resp.secret.take() {
                    let now = state.tokens.now();
                    super::secret_leases::record(
                        &self.barrier,
                        &route.entry.path,
                        lease,
                        now,
                        &mut resp,
                    )
                    .await?;
                }
                resp
            }
            _ => return Err(LogicalError::PermissionDenied),
        };
        let wrap_ttl = crate::core::wrapping::requested_wrap_ttl(req)?;
        // A login grant: issue the token it describes.
        if let (Target::Mount(route), Some(auth)) = (target, resp.auth.as_mut()) {
            if auth.client_token.is_empty() {
                self.resolve_login_entity(&route.entry, auth).await?;
                let mut warnings = Vec::new();
                token_store::issue_for_login(
                    state,
                    &route.entry.path,
                    &req.path,
                    auth,
                    &mut warnings,
                )
                .await?;
                resp.warnings.extend(warnings);
            }
        }
        // Wrap on request, except what is already a wrapping operation.
        let already_wrapped = resp.wrap_info.is_some() || req.path.starts_with("sys/wrapping/");
        if let (Some(ttl), false) = (wrap_ttl, already_wrapped) {
            let has_content = resp.data.is_some() || resp.auth.is_some() || resp.raw.is_some();
            if has_content {
                let body = match resp.raw.take() {
                    Some(raw) => raw,
                    None => crate::core::wrapping::envelope(&req.id, &resp),
                };
                return crate::core::wrapping::wrap(self, state, body, ttl, &req.path).await;
            }
        }
        Ok(resp)
    }

    fn route(&self, state: &Unsealed, req: &mut Request) -> Result<Target, LogicalError> {
        if req.path == "sys" || req.path.starts_with("sys/") {
            return Ok(Target::Sys);
        }
        if req.path == "auth/token" || req.path.starts_with("auth/token/") {
            req.mount_point = "auth/token/".into();
            req.relative_path = req
                .path
                .strip_prefix("auth/token")
                .unwrap_or("")
                .trim_start_matches('/')
                .to_string();
            return Ok(Target::TokenStore);
        }
        let route = state.router.lookup(&req.path).ok_or_else(|| {
            LogicalError::NoRoute(format!(
                "no handler for route \"{}\". route entry not found.",
                req.path
            ))
        })?;
        req.mount_point = route.entry.path.clone();
        req.relative_path = req
            .path
            .strip_prefix(&route.entry.path)
            .unwrap_or("")
            .to_string();
        req.mount_ttls = state.system_ttls.for_mount(&route.entry.config);
        Ok(Target::Mount(route.clone()))
    }

    /// The storage view an engine gets: its mount's, or for cubbyhole the
    /// calling token's private one.
    fn view_for(
        &self,
        route: &crate::core::router::Route,
        caller: Option<&FoundToken>,
    ) -> StorageView {
        if route.entry.mount_type == "cubbyhole" {
            let hash = caller.map(|c| c.hash.as_str()).unwrap_or("anonymous");
            return StorageView::new(self.barrier.clone(), super::tokens::cubbyhole_prefix(hash));
        }
        StorageView::new(self.barrier.clone(), route.entry.view_prefix())
    }

    /// Resolves the request's token. Missing, unknown, expired and
    /// out-of-CIDR tokens are all denied with the same message so callers
    /// cannot probe which tokens exist.
    pub(crate) async fn authenticate(
        &self,
        state: &Unsealed,
        req: &Request,
    ) -> Result<FoundToken, LogicalError> {
        let Some(token) = req.client_token.as_deref() else {
            return Err(LogicalError::PermissionDenied);
        };
        let found = state
            .tokens
            .lookup(token)
            .await?
            .ok_or(LogicalError::PermissionDenied)?;
        if !found.entry.bound_cidrs.is_empty() {
            let allowed = req
                .remote_addr
                .is_some_and(|ip| found.entry.bound_cidrs.iter().any(|c| cidr_contains(c, ip)));
            if !allowed {
                return Err(LogicalError::PermissionDenied);
            }
        }
        Ok(found)
    }

    /// Checks the caller's ACL for the request. Refines Update into Create
    /// when the target does not exist yet, as Vault's ACLs distinguish them.
    async fn authorize(
        &self,
        state: &Unsealed,
        caller: &FoundToken,
        target: &Target,
        req: &mut Request,
    ) -> Result<(), LogicalError> {
        let policies = self.effective_policies(&caller.entry).await?;
        if caller.entry.is_root() {
            return Ok(());
        }
        if req.operation == Operation::Update {
            let exists = match target {
                Target::Mount(route) => {
                    let view = self.view_for(route, Some(caller));
                    route.backend.exists(req, &view).await?
                }
                Target::TokenStore => token_store::exists(self, state, req, caller).await?,
                Target::Sys => true,
            };
            if !exists {
                req.operation = Operation::Create;
            }
        }
        // The CLIs ask which mount serves a path before any kv command; any
        // valid token may learn that (Vault answers it without a policy).
        if req.path.starts_with("sys/internal/ui/mounts/") && req.operation == Operation::Read {
            return Ok(());
        }
        let acl = self.acl_for(&policies).await?;
        let wrap_ttl = req
            .header("x-vault-wrap-ttl")
            .and_then(|v| crate::logical::parse_duration_str(v).ok());
        let decision = acl.check(req.operation, &req.path, &req.data, wrap_ttl);
        if !decision.allowed || (needs_sudo(&req.path, req.operation) && !decision.root_privs) {
            return Err(LogicalError::PermissionDeniedPolicy);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "dispatch_replay_tests.rs"]
mod replay_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_paths() {
        assert!(needs_sudo("sys/seal", Operation::Update));
        assert!(needs_sudo("sys/auth/userpass", Operation::Update));
        assert!(!needs_sudo("sys/auth", Operation::Read));
        assert!(!needs_sudo("secret/data/x", Operation::Update));
        assert!(needs_sudo("auth/token/accessors", Operation::List));
    }

    #[test]
    fn cidrs() {
        let ip = "10.1.2.3".parse().unwrap();
        assert!(cidr_contains("10.0.0.0/8", ip));
        assert!(cidr_contains("10.1.2.3", ip));
        assert!(!cidr_contains("192.168.0.0/16", ip));
        assert!(!cidr_contains("garbage", ip));
    }

    #[test]
    fn unauthenticated_patterns() {
        assert!(is_unauthenticated(&["login/*"], "login/alice"));
        assert!(is_unauthenticated(&["login"], "login"));
        assert!(!is_unauthenticated(&["login"], "role/x"));
        assert!(is_unauthenticated(&["issuer/+/pem"], "issuer/default/pem"));
        assert!(!is_unauthenticated(
            &["issuer/+/pem"],
            "issuer/default/issue/x"
        ));
        assert!(!is_unauthenticated(&["issuer/+/pem"], "issuer//pem"));
    }
}
