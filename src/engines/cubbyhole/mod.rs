//! The cubbyhole secrets engine: a private key/value store for each token.
//!
//! Core hands this engine a storage view scoped to the calling token (see
//! `view_for` in core's dispatch), so no token can see another's cubbyhole,
//! and the token's revocation deletes it. Inside that view it is a flat
//! store exactly like KV v1 and reuses KV v1's storage handlers; the only
//! difference is that a `ttl` field is plain data here, as in Vault (a
//! cubbyhole has no leases: its lifetime is the token's).

use crate::engines::kv::{flat_path, FlatStore};
use crate::logical::framework::{FrameworkBackend, Paths};

/// The cubbyhole engine. Stateless: the per-token view holds everything.
pub(crate) struct Cubbyhole;

impl FlatStore for Cubbyhole {
    const TTL_IS_LEASE: bool = false;
}

const HELP: &str = "The cubbyhole secrets engine stores arbitrary secrets in storage private \
to the token that reads or writes them. They are destroyed when the token expires or is revoked.";

const SYNOPSIS: &str = "Pass-through secret storage to a token-specific cubbyhole in the storage \
    backend, allowing anyone with the token to read and write secrets.";
const DESCRIPTION: &str = "Any key can be written with any data and only the same token can read \
    it back; a write replaces the whole secret. LIST a folder (ending in `/`) \
    to see the keys below it.";

impl Cubbyhole {
    /// The mountable engine: its paths are declared once, here.
    pub(crate) fn new() -> FrameworkBackend<Self> {
        let path = flat_path::<Self>("{path*}").help(SYNOPSIS, DESCRIPTION);
        FrameworkBackend::new(Self, Paths::new(HELP, vec![path]))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::engines::kv::tests::{call_on, view};
    use crate::logical::{LogicalResult, Operation, StorageView};

    async fn call(view: &StorageView, op: Operation, path: &str, body: Value) -> LogicalResult {
        call_on(&Cubbyhole::new(), view, op, path, body).await
    }

    #[tokio::test]
    async fn crud_list_and_no_leases() {
        let v = view().await;
        // A ttl is data, not a lease: any value is stored as it is.
        let any_ttl = json!({"k":"v","ttl":"whenever"});
        call(&v, Operation::Update, "a/b", any_ttl).await.unwrap();
        call(&v, Operation::Update, "c", json!({"ttl":"1h"}))
            .await
            .unwrap();
        let r = call(&v, Operation::Read, "c", json!({})).await.unwrap();
        assert_eq!(r.lease_duration, 0);
        assert_eq!(Value::Object(r.data.unwrap()), json!({"ttl":"1h"}));
        let r = call(&v, Operation::List, "", json!({})).await.unwrap();
        assert_eq!(r.data.unwrap()["keys"], json!(["a/", "c"]));
        // Any body key is the secret's: no unrecognized-parameter warning.
        let r = call(&v, Operation::Update, "c", json!({"anything":1}))
            .await
            .unwrap();
        assert!(r.warnings.is_empty());
        call(&v, Operation::Delete, "c", json!({})).await.unwrap();
        let e = call(&v, Operation::Read, "c", json!({})).await.unwrap_err();
        assert_eq!(e.status(), 404);
    }

    #[tokio::test]
    async fn help_is_served() {
        let v = view().await;
        let r = call(&v, Operation::Help, "", json!({})).await.unwrap();
        let help = r.raw.unwrap()["help"].as_str().unwrap().to_string();
        assert!(help.contains("private"), "{help}");
    }
}
