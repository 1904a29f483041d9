//! The TLS certificate auth method, compatible with Vault's `auth/cert` API.
//!
//! Paths (relative to the mount), declared through
//! [`crate::logical::framework`]:
//! - `certs` (LIST), `certs/:name` (GET, POST, DELETE): trusted
//!   certificates, a CA or a pinned client certificate, with the
//!   `allowed_*` and `required_extensions` constraints and token fields
//!   ([`entry`])
//! - `crls` (LIST), `crls/:name` (GET, POST `crl`, DELETE) ([`crl`])
//! - `config` (GET, POST) ([`config`])
//! - `login` (POST, optional `name`; unauthenticated) ([`login`])
//!
//! The credential is the certificate chain the client presented in the TLS
//! handshake (`Request::client_cert_chain`, leaf first), whose possession
//! the handshake proved. [`verify`] decides which trusted entry it matches
//! (chain building with rustls-webpki, expiry, CRLs, [`matching`]), and the
//! login's identity alias is the leaf's subject common name, as in Vault.
//!
//! Storage layout inside the mount's view: `cert/<name>` (JSON
//! [`entry::CertEntry`]), `crls/<name>` (the revoked serials), `config`.
//! Nothing here is secret: certificates and CRLs are public.
//!
//! Left out: OCSP (`ocsp_enabled = true` is refused), fetching CRLs from a
//! `url`, and the renewal-time certificate check (`disable_binding`):
//! tokens are renewed by core without the method.

mod config;
mod crl;
mod entry;
mod login;
mod matching;
mod verify;
mod x509;

use std::sync::Arc;

use crate::auth::common::{LEGACY_TOKEN_FIELDS, TOKEN_FIELDS};
use crate::logical::framework::{DefaultValue, Field, FrameworkBackend, PathSpec, Paths};
use crate::util::{Clock, SystemClock};
use crate::{existence, handler};

/// The state the handlers share: the clock certificate validity is
/// judged by; everything else is in the mount's storage view.
pub(crate) struct CertAuth {
    clock: Arc<dyn Clock>,
}

/// The cert auth method: [`CertAuth`] behind its declared paths.
pub(crate) type CertBackend = FrameworkBackend<CertAuth>;

/// The cert backend core mounts.
pub(crate) fn backend() -> CertBackend {
    backend_with_clock(Arc::new(SystemClock))
}

pub(crate) fn backend_with_clock(clock: Arc<dyn Clock>) -> CertBackend {
    FrameworkBackend::new(CertAuth { clock }, paths()).unauthenticated(&["login"])
}

const CERT_FIELDS: &[Field] = &[
    Field::string(
        "certificate",
        "The public certificate that should be trusted. Must be x509 PEM encoded.",
    ),
    Field::string(
        "display_name",
        "The display name to use for clients using this certificate.",
    ),
    Field::comma_strings(
        "allowed_names",
        "A comma-separated list of names. At least one must exist in either the Common Name or SANs. Supports globbing. This parameter is deprecated, please use allowed_common_names, allowed_dns_sans, allowed_email_sans, allowed_uri_sans.",
    ),
    Field::comma_strings(
        "allowed_common_names",
        "A comma-separated list of names. At least one must exist in the Common Name. Supports globbing.",
    ),
    Field::comma_strings(
        "allowed_dns_sans",
        "A comma-separated list of DNS names. At least one must exist in the SANs. Supports globbing.",
    ),
    Field::comma_strings(
        "allowed_email_sans",
        "A comma-separated list of Email Addresses. At least one must exist in the SANs. Supports globbing.",
    ),
    Field::comma_strings(
        "allowed_uri_sans",
        "A comma-separated list of URIs. At least one must exist in the SANs. Supports globbing.",
    ),
    Field::comma_strings(
        "allowed_organizational_units",
        "A comma-separated list of Organizational Units names. At least one must exist in the OU field.",
    ),
    Field::comma_strings(
        "required_extensions",
        "A comma-separated string or array of extensions formatted as \"oid:value\". Expects the extension value to be some type of ASN1 encoded string. All values much match. Supports globbing on \"value\".",
    ),
    Field::comma_strings(
        "allowed_metadata_extensions",
        "A comma-separated string or array of oid extensions. Upon successful authentication, these extensions will be added as metadata if they are present in the certificate. The metadata key will be the string consisting of the oid numbers separated by a dash (-) instead of a dot (.) to allow usage in ACL templates.",
    ),
    Field::int("lease", "Use \"token_ttl\" instead."),
    Field::bool(
        "ocsp_enabled",
        "Whether to attempt OCSP verification of certificates at login (not supported: only false is accepted).",
    ),
    Field::string(
        "ocsp_ca_certificates",
        "Any additional CA certificates needed to communicate with OCSP servers (ignored: OCSP is not supported).",
    ),
    Field::comma_strings(
        "ocsp_servers_override",
        "A comma-separated list of OCSP server addresses (ignored: OCSP is not supported).",
    ),
    Field::bool("ocsp_fail_open", "Ignored: OCSP is not supported."),
    Field::bool("ocsp_query_all_servers", "Ignored: OCSP is not supported."),
];

const LIST_FIELDS: &[Field] = &[
    Field::string(
        "after",
        "Optional entry to list begin listing after, not required to exist.",
    ),
    Field::int(
        "limit",
        "Optional number of entries to return; defaults to all entries.",
    ),
];

const CRL_FIELDS: &[Field] = &[
    Field::string(
        "crl",
        "The public CRL that should be trusted to attest to certificates' validity statuses. May be DER or PEM encoded. Note: the expiration time is ignored; if the CRL is no longer valid, delete it using the same name as specified here.",
    ),
    Field::string(
        "url",
        "The URL of a CRL distribution point (not supported: send the CRL in 'crl').",
    ),
];

const CONFIG_FIELDS: &[Field] = &[
    Field::bool(
        "disable_binding",
        "If set, during renewal, skips the matching of presented client identity with the client identity used during login. Defaults to false.",
    )
    .default(DefaultValue::Bool(false)),
    Field::bool(
        "enable_identity_alias_metadata",
        "If set, metadata of the certificate including the metadata corresponding to allowed_metadata_extensions will be stored in the alias. Defaults to false.",
    )
    .default(DefaultValue::Bool(false)),
    Field::int(
        "ocsp_cache_size",
        "The size of the in memory OCSP response cache, shared by all configured certs",
    )
    .default(DefaultValue::Int(100)),
];

const LOGIN_FIELDS: &[Field] = &[Field::string(
    "name",
    "The name of the certificate role to authenticate against.",
)];

const HELP: &str = "The \"cert\" credential provider allows authentication using TLS client certificates. A client connects to Vault and uses the \"login\" endpoint to generate a client token.\n\nTrusted certificates are configured using the \"certs/\" endpoint by a user with root access. A certificate authority can be trusted, which permits all keys signed by it. Alternatively, self-signed certificates can be trusted avoiding the need for a CA.";

const CERT_SYN: &str = "Manage trusted certificates used for authentication.";
const CERT_DESC: &str = "This endpoint allows you to create, read, update, and delete trusted certificates that are allowed to authenticate.\n\nDeleting a certificate will not revoke auth for prior authenticated connections. To do this, do a revoke on \"login\". If you don't need to revoke login immediately, then the next renew will cause the lease to expire.";
const CRL_SYN: &str = "Manage Certificate Revocation Lists checked during authentication.";
const CRL_DESC: &str = "This endpoint allows you to list, create, read, update, and delete the Certificate Revocation Lists checked during authentication.\n\nWhen any CRLs are in effect, any login will check the trust chains sent by a client against the submitted CRLs. Any chain containing a serial number revoked by one or more of the CRLs causes that chain to be marked as invalid for the authentication attempt. Conversely, *any* valid chain -- that is, a chain in which none of the serials are revoked by any CRL -- allows authentication.";

fn paths() -> Paths<CertAuth> {
    Paths::new(
        HELP,
        vec![
            PathSpec::new("config")
                .fields(CONFIG_FIELDS)
                .read(handler!(CertAuth::read_config))
                .write(handler!(CertAuth::write_config))
                .help(
                    "Configure the cert auth method.",
                    "This endpoint sets the method-wide settings: disable_binding and enable_identity_alias_metadata.",
                ),
            PathSpec::new("login")
                .fields(LOGIN_FIELDS)
                .write(handler!(CertAuth::login))
                .help(
                    "Log in with the TLS client certificate of the connection.",
                    "This endpoint authenticates with the certificate the client presented in the TLS handshake, against every trusted certificate (or the one given in name).",
                ),
            PathSpec::new("certs")
                .fields(LIST_FIELDS)
                .list(handler!(CertAuth::list_certs))
                .help(CERT_SYN, CERT_DESC),
            PathSpec::new("certs/{name}")
                .fields(CERT_FIELDS)
                .fields(TOKEN_FIELDS)
                .fields(LEGACY_TOKEN_FIELDS)
                .read(handler!(CertAuth::read_cert))
                .write(handler!(CertAuth::write_cert))
                .delete(handler!(CertAuth::delete_cert))
                .exists(existence!(CertAuth::cert_exists))
                .help(CERT_SYN, CERT_DESC),
            PathSpec::new("crls")
                .list(handler!(CertAuth::list_crls))
                .help(CRL_SYN, CRL_DESC),
            PathSpec::new("crls/{name}")
                .fields(CRL_FIELDS)
                .read(handler!(CertAuth::read_crl))
                .write(handler!(CertAuth::write_crl))
                .delete(handler!(CertAuth::delete_crl))
                .help(CRL_SYN, CRL_DESC),
        ],
    )
}

#[cfg(test)]
mod tests;
