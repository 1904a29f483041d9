//! ACL policies with Vault's semantics.
//!
//! A [`Policy`] is parsed from HCL or JSON text ([`parse`]); a token's set of
//! policies is compiled into an [`Acl`] ([`Acl::new`]) that answers "may this
//! request proceed?" ([`Acl::check`]) and "what may I do here?"
//! ([`Acl::capabilities`], for `sys/capabilities`).
//!
//! Matching follows Vault exactly, because clients ship policies written for
//! Vault and expect the same answers:
//!
//! * Rules whose path is *identical* are merged across (and within) policies:
//!   capabilities are unioned, and an explicit `deny` replaces everything.
//! * For a request, the single most specific matching rule decides: an exact
//!   rule first, otherwise the highest-priority glob/`+` rule (see
//!   [`acl`] for the ordering). Less specific rules are *not* consulted, even
//!   when they come from another policy and would grant or deny more.
//! * No matching rule means deny.
//!
//! Matching is a pure string operation on the already-normalized request
//! path; nothing here normalizes paths.

mod acl;
mod capability;
mod default;
mod params;
mod parse;
/// Normalizes policy names: lower-case, trimmed, sorted, unique, no "".
pub(crate) fn normalize_policies(mut p: Vec<String>, add_default: bool) -> Vec<String> {
    for x in p.iter_mut() {
        *x = x.trim().to_lowercase();
    }
    p.retain(|x| !x.is_empty());
    if add_default && !p.iter().any(|x| x == "root") && !p.iter().any(|x| x == "default") {
        p.push("default".into());
    }
    p.sort();
    p.dedup();
    p
}

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

// The module's interface. Not every item is named by callers yet (some only
// infer `AclDecision`), so unused re-exports are not an error.
#[allow(unused_imports)]
pub(crate) use self::{
    acl::{Acl, AclDecision, DenialReason},
    capability::{Capability, CapabilitySet},
    default::default_policy_text,
    parse::parse,
};

/// The name of the built-in policy that grants everything.
pub(crate) const ROOT_POLICY_NAME: &str = "root";

/// The name of the built-in policy attached to every non-root token.
pub(crate) const DEFAULT_POLICY_NAME: &str = "default";

/// Why policy text was rejected. Messages name the offending path and key so
/// an operator can fix the policy without guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PolicyError {
    /// The text is not valid HCL or JSON; the message carries the parser's
    /// line and column.
    #[error("{0}")]
    Syntax(String),
    #[error("invalid key {key:?} at top level (expected \"path\" or \"name\")")]
    UnknownTopLevelKey { key: String },
    #[error("{0}")]
    Malformed(String),
    #[error("a path block has an empty path")]
    EmptyPath,
    #[error("path {path:?}: invalid key {key:?}")]
    UnknownKey { path: String, key: String },
    #[error(
        "path {path:?}: {key:?} is a Vault Enterprise feature that Strongroom does not support"
    )]
    Unsupported { path: String, key: String },
    #[error("path {path:?}: invalid capability {capability:?}")]
    InvalidCapability { path: String, capability: String },
    #[error("path {path:?}: invalid policy {policy:?}")]
    InvalidShorthand { path: String, policy: String },
    #[error("path {path:?}: invalid use of wildcards ('+*' is forbidden)")]
    InvalidWildcard { path: String },
    #[error("path {path:?}: {key}: {message}")]
    InvalidValue {
        path: String,
        key: String,
        message: String,
    },
    #[error("path {path:?}: max_wrapping_ttl cannot be less than min_wrapping_ttl")]
    WrappingTtlRange { path: String },
}

/// A parsed, named policy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Policy {
    pub(crate) name: String,
    /// The text the policy was parsed from, for `sys/policy` reads.
    pub(crate) raw: String,
    /// The path rules in the order they were written.
    pub(crate) rules: Vec<PathRule>,
}

impl Policy {
    /// The built-in `root` policy: no rules, but [`Acl::new`] treats its name
    /// as "grants everything".
    pub(crate) fn root() -> Policy {
        Policy {
            name: ROOT_POLICY_NAME.to_string(),
            raw: String::new(),
            rules: Vec::new(),
        }
    }
}

/// How a rule's path is compared with request paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PathKind {
    /// No wildcards: the request path must be equal.
    Exact,
    /// Ends in `*` with no `+` segment: the request path must start with
    /// [`PathRule::path`] (stored without the `*`).
    Prefix,
    /// Has at least one `+` segment, optionally ending in `*`; the stored
    /// path keeps its `*`.
    Segment,
}

/// One `path "..." { ... }` block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PathRule {
    /// The path as matched (see [`PathKind`] for how `*` is stored).
    pub(crate) path: String,
    pub(crate) kind: PathKind,
    /// The path uses `{{identity...}}` templating. Strongroom has no identity
    /// store yet, so such rules are skipped when building an ACL, which is
    /// what Vault does for tokens without an entity.
    pub(crate) templated: bool,
    pub(crate) permissions: Permissions,
}

/// Parameter name (lower-cased) → permitted or forbidden values.
pub(crate) type ParameterMap = BTreeMap<String, Vec<Value>>;

/// What a rule grants, and the conditions attached to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Permissions {
    pub(crate) capabilities: CapabilitySet,
    /// Zero means unset.
    pub(crate) min_wrapping_ttl: Duration,
    /// Zero means unset.
    pub(crate) max_wrapping_ttl: Duration,
    /// `None` when the policy has no `allowed_parameters`.
    pub(crate) allowed_parameters: Option<ParameterMap>,
    /// `None` when the policy has no `denied_parameters`.
    pub(crate) denied_parameters: Option<ParameterMap>,
    pub(crate) required_parameters: Vec<String>,
}
