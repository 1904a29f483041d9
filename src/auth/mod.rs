//! Auth methods (Vault's `builtin/credential`): each in its own folder,
//! each a [`crate::logical::Backend`] that answers logins with an
//! [`crate::logical::Auth`] grant. Core issues the token; an auth method
//! never creates one itself. What they share is in [`common`].

pub(crate) mod approle;
pub(crate) mod aws;
pub(crate) mod cert;
pub(crate) mod common;
pub(crate) mod jwt;
pub(crate) mod kubernetes;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod userpass;
