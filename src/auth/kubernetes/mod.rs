//! The Kubernetes auth method, compatible with Vault's
//! `vault-plugin-auth-kubernetes` API: workloads log in with their
//! service-account token.
//!
//! Paths (relative to the mount):
//! - `config` (GET, POST; [`config`]): `kubernetes_host`,
//!   `kubernetes_ca_cert`, `token_reviewer_jwt` (never returned),
//!   `pem_keys`, `issuer`, `disable_iss_validation`, `disable_local_ca_jwt`.
//! - `role/{name}` (GET, POST, DELETE), `role` (LIST; [`role`]).
//! - `login` (POST, unauthenticated; [`login`]): `role`, `jwt`.
//!
//! A token is proven either locally, by its signature against `pem_keys`
//! (no call to the cluster), or, with no `pem_keys`, by the API server's
//! TokenReview ([`review`]), which also catches tokens of deleted service
//! accounts. Vault calls TokenReview in both cases; Strongroom's local mode
//! exists for clusters whose API server it cannot reach (it cannot notice a
//! deleted service account before its token expires).
//!
//! Every login returns an identity alias: the service account's UID
//! (`alias_name_source=serviceaccount_uid`, the default) or
//! `<namespace>/<name>`, with the service account as alias metadata.
//!
//! Not implemented: `bound_service_account_namespace_selector`,
//! `use_annotations_as_alias_metadata`.

mod config;
mod login;
mod review;
mod role;

use crate::auth::common::TOKEN_FIELDS;
use crate::auth::jwt::fetch::Clients;
use crate::logical::framework::{FrameworkBackend, PathSpec, Paths};
use crate::{existence, handler};

/// The state the handlers share: the HTTP clients for TokenReview.
#[derive(Default)]
pub(crate) struct KubernetesAuth {
    http: Clients,
}

/// The mountable Kubernetes auth method.
pub(crate) type KubernetesAuthBackend = FrameworkBackend<KubernetesAuth>;

const HELP: &str = "\
The Kubernetes Auth Backend allows authentication for Kubernetes service accounts.
";

/// The Kubernetes auth method with its declared paths.
pub(crate) fn backend() -> KubernetesAuthBackend {
    let role_fields: Vec<_> = role::ROLE_FIELDS
        .iter()
        .chain(TOKEN_FIELDS)
        .copied()
        .collect();
    FrameworkBackend::new(
        KubernetesAuth::default(),
        Paths::new(
            HELP,
            vec![
                PathSpec::new("login")
                    .fields(login::LOGIN_FIELDS)
                    .write(handler!(KubernetesAuth::login))
                    .help(
                        "Authenticates Kubernetes service accounts with Strongroom.",
                        "Authenticate Kubernetes service accounts.",
                    ),
                PathSpec::new("config")
                    .fields(config::CONFIG_FIELDS)
                    .read(handler!(KubernetesAuth::read_config))
                    .write(handler!(KubernetesAuth::write_config))
                    .help(
                        "Configures the JWT Public Key and Kubernetes API information.",
                        "The Kubernetes Auth backend validates service account JWTs and verifies \
                         their existence with the Kubernetes TokenReview API, or locally with \
                         pem_keys.",
                    ),
                PathSpec::new("role/{name}")
                    .fields(&role_fields)
                    .read(handler!(KubernetesAuth::read_role))
                    .write(handler!(KubernetesAuth::write_role))
                    .delete(handler!(KubernetesAuth::delete_role))
                    .exists(existence!(KubernetesAuth::role_exists))
                    .help(
                        "Register an role with the backend.",
                        "A role is required to authenticate with this backend. The role binds \
                         Kubernetes service account metadata with token policies and settings.",
                    ),
                PathSpec::new("role")
                    .list(handler!(KubernetesAuth::list_roles))
                    .help(
                        "Lists all the roles registered with the backend.",
                        "The list will contain the names of the roles.",
                    ),
            ],
        ),
    )
    .unauthenticated(&["login"])
}

#[cfg(test)]
mod tests;
