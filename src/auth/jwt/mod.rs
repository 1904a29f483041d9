//! The JWT/OIDC auth method, compatible with Vault's `vault-plugin-auth-jwt`
//! API. One backend serves both mount types `jwt` and `oidc`, as Vault's
//! plugin does.
//!
//! Paths (relative to the mount):
//! - `config` (GET, POST; [`config`]): exactly one key source:
//!   `jwt_validation_pubkeys` (PEM), `jwks_url` (+ `jwks_ca_pem`) or
//!   `oidc_discovery_url` (+ `oidc_discovery_ca_pem`); `bound_issuer`,
//!   `default_role`, `jwt_supported_algs`, the OIDC client.
//! - `role/{name}` (GET, POST, DELETE), `role` (LIST; [`role`]).
//! - `login` (POST, unauthenticated; [`login`]): `role`, `jwt`.
//! - `oidc/auth_url`, `oidc/callback` (unauthenticated; [`oidc`]): the
//!   browser flow against a discovery document.
//!
//! Verification is [`jose`] (signatures, algorithms, registered claims),
//! keys come from [`keys`] (static, JWKS with a per-node cache refreshed on
//! an unknown `kid`, discovery), claim rules are [`claims`], and outbound
//! HTTP is [`fetch`] (shared with the Kubernetes method).
//!
//! Every login returns an identity alias: its name is the role's
//! `user_claim`, its metadata the `claim_mappings` plus `role`; the
//! `groups_claim` values are the login's group aliases.
//!
//! Not implemented: `jwks_pairs`, `provider_config` (custom providers),
//! distributed claims, the device flow, ES512 (no backend support).

pub(crate) mod claims;
mod config;
pub(crate) mod fetch;
pub(crate) mod jose;
mod keys;
mod login;
mod oidc;
mod role;

use crate::auth::common::TOKEN_FIELDS;
use crate::logical::framework::{FrameworkBackend, PathSpec, Paths};
use crate::{existence, handler};

/// The state the handlers share: the outbound HTTP clients and the key and
/// discovery caches (pending OIDC logins are in storage, see [`oidc`]).
#[derive(Default)]
pub(crate) struct JwtAuth {
    http: fetch::Clients,
    keys: keys::KeyCache,
}

/// The mountable JWT/OIDC auth method.
pub(crate) type JwtAuthBackend = FrameworkBackend<JwtAuth>;

const HELP: &str = "\
The JWT backend plugin allows authentication using JWTs (including OIDC).
";

/// The JWT/OIDC auth method with its declared paths.
pub(crate) fn backend() -> JwtAuthBackend {
    let role_fields: Vec<_> = role::ROLE_FIELDS
        .iter()
        .chain(TOKEN_FIELDS)
        .copied()
        .collect();
    FrameworkBackend::new(
        JwtAuth::default(),
        Paths::new(
            HELP,
            vec![
                PathSpec::new("login")
                    .fields(login::LOGIN_FIELDS)
                    .write(handler!(JwtAuth::login))
                    .help(
                        "Authenticates to Strongroom using a JWT (or OIDC) token.",
                        "Authenticates JWTs.",
                    ),
                PathSpec::new("config")
                    .fields(config::CONFIG_FIELDS)
                    .read(handler!(JwtAuth::read_config))
                    .write(handler!(JwtAuth::write_config))
                    .help(
                        "Configures the JWT authentication backend.",
                        "The JWT authentication backend validates JWTs (or OIDC) using the \
                         configured credentials: static public keys, a JWKS URL, or an OIDC \
                         discovery URL.",
                    ),
                PathSpec::new("role/{name}")
                    .fields(&role_fields)
                    .read(handler!(JwtAuth::read_role))
                    .write(handler!(JwtAuth::write_role))
                    .delete(handler!(JwtAuth::delete_role))
                    .exists(existence!(JwtAuth::role_exists))
                    .help(
                        "Register an role with the backend.",
                        "A role is required to authenticate with this backend. The role binds \
                         JWT token information with token policies and settings.",
                    ),
                PathSpec::new("role")
                    .list(handler!(JwtAuth::list_roles))
                    .help(
                        "Lists all the roles registered with the backend.",
                        "The list will contain the names of the roles.",
                    ),
                PathSpec::new("oidc/auth_url")
                    .fields(oidc::AUTH_URL_FIELDS)
                    .write(handler!(JwtAuth::auth_url))
                    .help(
                        "Request an authorization URL to start an OIDC login flow.",
                        "",
                    ),
                PathSpec::new("oidc/callback")
                    .fields(oidc::CALLBACK_FIELDS)
                    .read(handler!(JwtAuth::callback))
                    .write(handler!(JwtAuth::callback))
                    .help("Callback endpoint to complete an OIDC login.", ""),
            ],
        ),
    )
    .unauthenticated(&["login", "oidc/auth_url", "oidc/callback"])
}

#[cfg(test)]
pub(crate) mod tests;
