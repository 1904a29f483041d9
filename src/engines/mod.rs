//! Secrets engines (Vault's `builtin/logical`): each in its own folder,
//! each a [`crate::logical::Backend`] over its mount's storage view.

pub(crate) mod cubbyhole;
pub(crate) mod identity;
pub(crate) mod kv;
pub(crate) mod kv2;
pub(crate) mod pki;
pub(crate) mod transit;
