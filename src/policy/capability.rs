//! Capabilities a policy rule grants, and a compact set of them.
//!
//! The set is a bitmap (as in Vault) so that merging rules from several
//! policies is a cheap union and "deny anywhere wins" is a single bit test.

use std::fmt;

/// One capability a policy path rule can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Capability {
    Create,
    Read,
    Update,
    Patch,
    Delete,
    List,
    /// Grants access to root-protected endpoints (reported as `root_privs`).
    Sudo,
    /// Overrides every other capability on the rule it appears in.
    Deny,
}

impl Capability {
    /// Every capability, in declaration order.
    pub(crate) const ALL: [Capability; 8] = [
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
        Capability::Deny,
    ];

    /// The name used in policy text and in `sys/capabilities` answers.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
        }
    }

    /// Parses a capability name exactly as Vault spells it (case-sensitive).
    pub(crate) fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of capabilities (bitflags-style).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct CapabilitySet(u16);

impl CapabilitySet {
    /// The empty set: grants nothing.
    pub(crate) const EMPTY: CapabilitySet = CapabilitySet(0);

    /// A set holding only `deny`, which is what any rule mentioning deny becomes.
    pub(crate) fn deny_only() -> CapabilitySet {
        CapabilitySet::EMPTY.with(Capability::Deny)
    }

    pub(crate) fn with(self, cap: Capability) -> CapabilitySet {
        CapabilitySet(self.0 | cap.bit())
    }

    pub(crate) fn union(self, other: CapabilitySet) -> CapabilitySet {
        CapabilitySet(self.0 | other.0)
    }

    pub(crate) fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the set carries an explicit deny.
    pub(crate) fn is_deny(self) -> bool {
        self.contains(Capability::Deny)
    }

    /// The capabilities in the set, in declaration order.
    pub(crate) fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        iter.into_iter()
            .fold(CapabilitySet::EMPTY, CapabilitySet::with)
    }
}
