//! The compiled ACL: rule lookup with Vault's priority order, and the
//! per-request authorization check.
//!
//! # Priority
//!
//! An exact rule always wins. Otherwise every matching glob (`*`) and
//! segment-wildcard (`+`) rule is ranked and only the best one is used; for
//! two candidates `P1` and `P2` (Vault's "priority matching" rules, in order):
//!
//! 1. if the first `+` or `*` occurs earlier in `P1`, `P1` is lower priority;
//! 2. if `P1` ends in `*` and `P2` doesn't, `P1` is lower priority;
//! 3. if `P1` has more `+` segments, `P1` is lower priority;
//! 4. if `P1` is shorter, it is lower priority;
//! 5. if `P1` is smaller lexicographically, it is lower priority.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{params, Capability, ParameterMap, PathKind, Permissions, Policy, ROOT_POLICY_NAME};
use crate::logical::Operation;

/// Why a request was denied. Kept out of client responses (which just say
/// "permission denied", as Vault does) but useful in logs and audit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DenialReason {
    #[error("no policy rule matches the path")]
    NoMatchingRule,
    #[error("the matching rule explicitly denies access")]
    ExplicitDeny,
    #[error("the matching rule lacks the {0:?} capability")]
    MissingCapability(Capability),
    #[error("the matching rule requires the response to be wrapped")]
    WrappingRequired,
    #[error("the requested wrapping TTL is outside the rule's bounds")]
    WrappingTtlOutOfBounds,
    #[error("required parameter {0:?} is missing")]
    MissingRequiredParameter(String),
    #[error("parameter {0:?} is denied")]
    DeniedParameter(String),
    #[error("parameter {0:?} is not allowed")]
    ParameterNotAllowed(String),
    #[error("the value of parameter {0:?} is not allowed")]
    ParameterValueNotAllowed(String),
}

/// The answer to [`Acl::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AclDecision {
    pub(crate) allowed: bool,
    /// The matching rule grants `sudo` (always true for root). Callers
    /// serving root-protected endpoints must also require this.
    pub(crate) root_privs: bool,
    pub(crate) is_root: bool,
    /// Set whenever `allowed` is false.
    pub(crate) denial: Option<DenialReason>,
}

impl AclDecision {
    fn root() -> AclDecision {
        AclDecision {
            allowed: true,
            root_privs: true,
            is_root: true,
            denial: None,
        }
    }

    fn denied(reason: DenialReason, root_privs: bool) -> AclDecision {
        AclDecision {
            allowed: false,
            root_privs,
            is_root: false,
            denial: Some(reason),
        }
    }

    /// Whether the request may proceed on an endpoint that does
    /// (`needs_sudo`) or does not require root privileges.
    #[allow(dead_code)] // interface: callers may use it instead of combining the fields
    pub(crate) fn permits(&self, needs_sudo: bool) -> bool {
        self.allowed && (!needs_sudo || self.root_privs)
    }
}

/// A token's policies compiled for lookup.
#[derive(Debug, Clone, Default)]
pub(crate) struct Acl {
    root: bool,
    /// Exact paths.
    exact: HashMap<String, Permissions>,
    /// Glob paths, keyed without their trailing `*`.
    prefix: HashMap<String, Permissions>,
    /// Paths with `+` segments, keyed with any trailing `*`.
    segment: HashMap<String, Permissions>,
}

impl Acl {
    /// Compiles `policies`. Rules with identical paths are merged (union of
    /// capabilities; deny replaces everything). A policy named `root` makes
    /// the ACL grant everything. Templated rules are skipped (no identity).
    pub(crate) fn new(policies: &[Policy]) -> Acl {
        let mut acl = Acl::default();
        for policy in policies {
            acl.root |= policy.name == ROOT_POLICY_NAME;
            for rule in policy.rules.iter().filter(|rule| !rule.templated) {
                let table = match rule.kind {
                    PathKind::Exact => &mut acl.exact,
                    PathKind::Prefix => &mut acl.prefix,
                    PathKind::Segment => &mut acl.segment,
                };
                match table.get_mut(&rule.path) {
                    Some(existing) => merge(existing, &rule.permissions),
                    None => {
                        table.insert(rule.path.clone(), rule.permissions.clone());
                    }
                }
            }
        }
        acl
    }

    #[allow(dead_code)] // interface: callers currently check the token instead
    pub(crate) fn is_root(&self) -> bool {
        self.root
    }

    /// Decides whether `op` on `path` with request body `data` (and, if the
    /// response is to be wrapped, `wrap_ttl` seconds) is allowed.
    pub(crate) fn check(
        &self,
        op: Operation,
        path: &str,
        data: &Map<String, Value>,
        wrap_ttl: Option<u64>,
    ) -> AclDecision {
        if self.root {
            return AclDecision::root();
        }
        match self.lookup(op, path) {
            Some(permissions) => authorize(permissions, op, data, wrap_ttl),
            None => AclDecision::denied(DenialReason::NoMatchingRule, false),
        }
    }

    /// The capabilities the ACL grants on `path`, for `sys/capabilities`:
    /// sorted names, `["root"]` for root, `["deny"]` for nothing or deny.
    pub(crate) fn capabilities(&self, path: &str) -> Vec<String> {
        if self.root {
            return vec!["root".to_string()];
        }
        // Vault looks up as a list operation so the trailing-slash fallbacks apply.
        let caps = self
            .lookup(Operation::List, path)
            .map(|p| p.capabilities)
            .unwrap_or_default();
        if caps.is_deny() || caps.is_empty() {
            return vec![Capability::Deny.as_str().to_string()];
        }
        let mut names: Vec<String> = caps.iter().map(|c| c.as_str().to_string()).collect();
        names.sort();
        names
    }

    /// Finds the rule that governs `path`, in Vault's order: exact; for
    /// lists, exact without the trailing `/`; for lists, globs against the
    /// path without its trailing `/`; globs against the path.
    fn lookup(&self, op: Operation, path: &str) -> Option<&Permissions> {
        if let Some(permissions) = self.exact.get(path) {
            return Some(permissions);
        }
        let trimmed = match op {
            Operation::List => path.strip_suffix('/'),
            _ => None,
        };
        if let Some(trimmed) = trimmed {
            if let Some(permissions) = self.exact.get(trimmed) {
                return Some(permissions);
            }
            if let Some(permissions) = self.best_wildcard_match(trimmed) {
                return Some(permissions);
            }
        }
        self.best_wildcard_match(path)
    }

    /// The highest-priority glob or segment-wildcard rule matching `path`.
    fn best_wildcard_match(&self, path: &str) -> Option<&Permissions> {
        let prefix = self.longest_prefix(path);
        let parts: Vec<&str> = path.split('/').collect();
        let segment = self
            .segment
            .iter()
            .filter_map(|(full, perms)| match_segment_rule(full, perms, &parts));
        prefix
            .into_iter()
            .chain(segment)
            .max_by(|a, b| a.priority().cmp(&b.priority()))
            .map(|c| c.permissions)
    }

    /// Only the longest matching glob can win: a longer prefix has its `*`
    /// later, which is the first priority criterion.
    fn longest_prefix(&self, path: &str) -> Option<Candidate<'_>> {
        (0..=path.len())
            .rev()
            .filter(|&end| path.is_char_boundary(end))
            .find_map(|end| {
                let (key, permissions) = self.prefix.get_key_value(&path[..end])?;
                Some(Candidate {
                    first_wildcard: key.len(),
                    is_prefix: true,
                    wildcards: 0,
                    path: key,
                    permissions,
                })
            })
    }
}

/// A matching wildcard rule with what the priority rules need to know.
struct Candidate<'a> {
    /// Byte offset of the first `+` or `*`.
    first_wildcard: usize,
    /// Ends in `*`.
    is_prefix: bool,
    /// Number of `+` segments.
    wildcards: usize,
    /// The rule path without its trailing `*`.
    path: &'a str,
    permissions: &'a Permissions,
}

impl Candidate<'_> {
    /// A key whose maximum is the winner (see the module docs).
    fn priority(&self) -> (usize, bool, Reverse<usize>, usize, &str) {
        (
            self.first_wildcard,
            !self.is_prefix,
            Reverse(self.wildcards),
            self.path.len(),
            self.path,
        )
    }
}

/// Matches a `+` rule against the request path's segments: `+` matches any
/// one segment, other segments must be equal, and with a trailing `*` the
/// last rule segment is a prefix of the corresponding path segment and any
/// further path segments are accepted.
fn match_segment_rule<'a>(
    full: &'a str,
    permissions: &'a Permissions,
    parts: &[&str],
) -> Option<Candidate<'a>> {
    let first_wildcard = full.find('+')?;
    let (path, is_prefix) = match full.strip_suffix('*') {
        Some(stripped) => (stripped, true),
        None => (full, false),
    };
    let rule_parts: Vec<&str> = path.split('/').collect();
    if parts.len() < rule_parts.len() || (!is_prefix && parts.len() != rule_parts.len()) {
        return None;
    }
    let last = rule_parts.len() - 1;
    let mut wildcards = 0;
    for (i, (rule_part, part)) in rule_parts.iter().zip(parts).enumerate() {
        if *rule_part == "+" {
            wildcards += 1;
        } else if rule_part != part && !(is_prefix && i == last && part.starts_with(rule_part)) {
            return None;
        }
    }
    Some(Candidate {
        first_wildcard,
        is_prefix,
        wildcards,
        path,
        permissions,
    })
}

/// Checks the governing rule's capability, wrapping and parameter conditions.
fn authorize(
    permissions: &Permissions,
    op: Operation,
    data: &Map<String, Value>,
    wrap_ttl: Option<u64>,
) -> AclDecision {
    let caps = permissions.capabilities;
    let root_privs = caps.contains(Capability::Sudo);
    if caps.is_deny() {
        return AclDecision::denied(DenialReason::ExplicitDeny, root_privs);
    }
    let needed = required_capability(op);
    if !caps.contains(needed) {
        return AclDecision::denied(DenialReason::MissingCapability(needed), root_privs);
    }
    if let Err(reason) = check_wrapping(permissions, wrap_ttl) {
        return AclDecision::denied(reason, root_privs);
    }
    if checks_parameters(op) {
        if let Err(reason) = params::check(permissions, data) {
            return AclDecision::denied(reason, root_privs);
        }
    }
    AclDecision {
        allowed: true,
        root_privs,
        is_root: false,
        denial: None,
    }
}

fn required_capability(op: Operation) -> Capability {
    match op {
        // Help describes a path; whoever may read it may read its help.
        Operation::Read | Operation::Help => Capability::Read,
        Operation::Create => Capability::Create,
        Operation::Update => Capability::Update,
        Operation::Patch => Capability::Patch,
        Operation::Delete => Capability::Delete,
        Operation::List => Capability::List,
    }
}

/// Parameter constraints describe what a caller may *write*, so they apply
/// to the operations that carry a body.
fn checks_parameters(op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update | Operation::Patch)
}

/// With `max_wrapping_ttl`/`min_wrapping_ttl` set the response must be
/// wrapped with a TTL inside the bounds (merging can yield max < min, which
/// nothing satisfies).
fn check_wrapping(permissions: &Permissions, wrap_ttl: Option<u64>) -> Result<(), DenialReason> {
    let (min, max) = (permissions.min_wrapping_ttl, permissions.max_wrapping_ttl);
    if min.is_zero() && max.is_zero() {
        return Ok(());
    }
    let ttl = wrap_ttl
        .map(Duration::from_secs)
        .ok_or(DenialReason::WrappingRequired)?;
    let too_long = !max.is_zero() && ttl > max;
    let too_short = !min.is_zero() && ttl < min;
    let inverted = !min.is_zero() && !max.is_zero() && max < min;
    if too_long || too_short || inverted {
        return Err(DenialReason::WrappingTtlOutOfBounds);
    }
    Ok(())
}

/// Merges a rule into an existing rule with the same path, as Vault does:
/// deny is sticky, capabilities union, wrapping bounds take the smaller
/// value, parameter lists merge, required parameters union.
fn merge(existing: &mut Permissions, new: &Permissions) {
    if existing.capabilities.is_deny() {
        return;
    }
    if new.capabilities.is_deny() {
        existing.capabilities = new.capabilities;
        existing.allowed_parameters = None;
        existing.denied_parameters = None;
        return;
    }
    existing.capabilities = existing.capabilities.union(new.capabilities);
    existing.max_wrapping_ttl =
        smaller_set_duration(existing.max_wrapping_ttl, new.max_wrapping_ttl);
    existing.min_wrapping_ttl =
        smaller_set_duration(existing.min_wrapping_ttl, new.min_wrapping_ttl);
    merge_parameter_map(&mut existing.allowed_parameters, &new.allowed_parameters);
    merge_parameter_map(&mut existing.denied_parameters, &new.denied_parameters);
    for name in &new.required_parameters {
        if !existing.required_parameters.contains(name) {
            existing.required_parameters.push(name.clone());
        }
    }
}

/// The smaller of two durations where zero means "unset".
fn smaller_set_duration(existing: Duration, new: Duration) -> Duration {
    if !new.is_zero() && (existing.is_zero() || new < existing) {
        new
    } else {
        existing
    }
}

/// Per name, an empty list (any value) wins; otherwise the value lists are
/// concatenated.
fn merge_parameter_map(existing: &mut Option<ParameterMap>, new: &Option<ParameterMap>) {
    let Some(new) = new.as_ref().filter(|m| !m.is_empty()) else {
        return;
    };
    let Some(existing) = existing.as_mut() else {
        *existing = Some(new.clone());
        return;
    };
    for (name, values) in new {
        let merged = match existing.get(name) {
            Some(current) if current.is_empty() => Vec::new(),
            _ if values.is_empty() => Vec::new(),
            current => values
                .iter()
                .chain(current.into_iter().flatten())
                .cloned()
                .collect(),
        };
        existing.insert(name.clone(), merged);
    }
}
