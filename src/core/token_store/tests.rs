use super::*;
use crate::logical::Operation;

/// The declared pattern that serves `rel`, as the framework picks it.
fn route(rel: &str) -> Option<&'static str> {
    token_paths()
        .specs()
        .iter()
        .find(|s| s.pattern.matches(rel).is_some())
        .map(|s| s.pattern.source())
}

#[test]
fn every_vault_path_is_declared() {
    for (rel, pattern) in [
        ("create", "create"),
        ("create-orphan", "create-orphan"),
        ("create/web", "create/{role_name}"),
        ("lookup", "lookup"),
        ("lookup-self", "lookup-self"),
        ("lookup-accessor", "lookup-accessor"),
        ("renew", "renew"),
        ("renew-self", "renew-self"),
        ("renew-accessor", "renew-accessor"),
        ("revoke", "revoke"),
        ("revoke-self", "revoke-self"),
        ("revoke-orphan", "revoke-orphan"),
        ("revoke-accessor", "revoke-accessor"),
        ("roles", "roles"),
        ("roles/", "roles"),
        ("roles/web", "roles/{role_name}"),
        ("accessors/", "accessors"),
        ("tidy", "tidy"),
    ] {
        assert_eq!(route(rel), Some(pattern), "{rel}");
    }
    // A role name is one segment; unknown paths are not served.
    assert_eq!(route("roles/a/b"), None);
    assert_eq!(route("create/a/b"), None);
    assert_eq!(route("lookupx"), None);
}

#[test]
fn operations_are_vaults() {
    let paths = token_paths();
    let ops = |p: &str| -> Vec<Operation> {
        paths
            .specs()
            .iter()
            .find(|s| s.pattern.source() == p)
            .map(|s| s.operations().collect())
            .unwrap_or_default()
    };
    assert_eq!(ops("roles"), vec![Operation::List]);
    assert_eq!(ops("accessors"), vec![Operation::List]);
    assert!(ops("lookup").contains(&Operation::Read));
    assert!(!ops("lookup-accessor").contains(&Operation::Read));
    assert!(ops("roles/{role_name}").contains(&Operation::Delete));
}
