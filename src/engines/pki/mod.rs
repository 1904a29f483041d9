//! The PKI secrets engine (Vault's `builtin/logical/pki`): a certificate
//! authority with roots, intermediates and several issuers per mount,
//! roles that bound what `issue`/`sign` may put in a certificate,
//! revocation with a CRL and an OCSP responder, and tidy.
//!
//! Scale-out: the issuer, its key, the role and the default-issuer config
//! are cached per node ([`GenerationCache`]) and every write of them is a
//! `batch_bump`. So `issue`/`sign` with a `no_store` role (and no lease)
//! reads nothing on a warm node and writes nothing, and is served by any
//! standby or Lambda instance; whatever stores fails there with ReadOnly
//! and the HTTP layer forwards it to the active node. CRLs are rebuilt on
//! the active node (on revoke and `crl/rotate`) and stored, so every node
//! serves the same signed CRL.
//!
//! Modules: `keys` (generation, PEM forms), `certs` (building and reading
//! certificates), `csr`, `names` (role name policy), `role`, `storage`
//! (records and caches), `issue` (issue/sign), `ca` (root, intermediate,
//! import), `fetch` (ca, cert, issuers, keys), `revoke` (revocation, CRL,
//! config/crl, config/urls), `ocsp`, `tidy`, `resign`/`der` (raw DER).

mod ca;
mod certs;
mod csr;
mod der;
mod fetch;
mod issue;
mod keys;
mod names;
mod ocsp;
mod resign;
mod revoke;
mod role;
mod storage;
mod tidy;

use crate::logical::cache::GenerationCache;
use crate::logical::framework::{Field, FrameworkBackend, PathSpec, Paths};
use crate::{existence, handler};

/// The engine's per-mount state: the caches (one per node) and the last
/// tidy run's status.
#[derive(Default)]
pub(crate) struct Pki {
    issuers: GenerationCache<storage::IssuerRecord>,
    keys: GenerationCache<keys::PrivateKey>,
    roles: GenerationCache<role::Role>,
    issuers_config: GenerationCache<storage::IssuersConfig>,
    urls: GenerationCache<revoke::UrlsConfig>,
    tidy: tidy::TidyState,
}

const HELP: &str = "The PKI backend dynamically generates X509 server and client certificates.";

const REF: &[Field] = &[Field::string("issuer_ref", "Reference to an issuer")];
const SERIAL: &[Field] = &[Field::string("serial", "Certificate serial number")];

/// Paths readable without a token, as Vault's `PathsSpecial.Unauthenticated`.
const UNAUTHENTICATED: &[&str] = &[
    "cert/*",
    "ca/pem",
    "ca_chain",
    "ca",
    "crl",
    "crl/pem",
    "crl/delta",
    "crl/delta/pem",
    "issuer/+/pem",
    "issuer/+/der",
    "issuer/+/json",
    "issuer/+/crl",
    "issuer/+/crl/der",
    "issuer/+/crl/pem",
    "issuers",
    "issuers/",
    "ocsp",
    "ocsp/*",
];

pub(crate) fn backend() -> FrameworkBackend<Pki> {
    use issue::ISSUE_FIELDS;
    let paths = vec![
        PathSpec::new("roles")
            .list(handler!(Pki::role_list))
            .help("List the existing roles in this backend", ""),
        PathSpec::new("roles/{name}")
            .fields(role::ROLE_FIELDS)
            .read(handler!(Pki::role_read))
            .write(handler!(Pki::role_write))
            .delete(handler!(Pki::role_delete))
            .exists(existence!(Pki::role_exists))
            .help(
                "Manage the roles that can be created with this backend.",
                "",
            ),
        PathSpec::new("issue/{role}")
            .fields(ISSUE_FIELDS)
            .write(handler!(Pki::issue))
            .help(
                "Request a certificate using a certain role with the provided details.",
                "",
            ),
        PathSpec::new("issuer/{issuer_ref}/issue/{role}")
            .fields(ISSUE_FIELDS)
            .write(handler!(Pki::issue))
            .help("Request a certificate from an issuer using a role.", ""),
        PathSpec::new("sign/{role}")
            .fields(ISSUE_FIELDS)
            .write(handler!(Pki::sign))
            .help(
                "Request certificates using a certain role with the provided details.",
                "",
            ),
        PathSpec::new("issuer/{issuer_ref}/sign/{role}")
            .fields(ISSUE_FIELDS)
            .write(handler!(Pki::sign))
            .help("Sign a CSR with an issuer using a role.", ""),
        PathSpec::new("sign-verbatim")
            .fields(ISSUE_FIELDS)
            .write(handler!(Pki::sign_verbatim))
            .help(
                "Request a certificate with the CSR's values, no role checks.",
                "",
            ),
        PathSpec::new("sign-verbatim/{role}")
            .fields(ISSUE_FIELDS)
            .write(handler!(Pki::sign_verbatim))
            .help(
                "Request a certificate with the CSR's values, no role checks.",
                "",
            ),
        PathSpec::new("issuer/{issuer_ref}/sign-verbatim")
            .fields(ISSUE_FIELDS)
            .write(handler!(Pki::sign_verbatim))
            .help("Sign a CSR verbatim with an issuer.", ""),
        PathSpec::new("root/generate/{exported}")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::root_generate))
            .help(
                "Generate a new CA certificate and private key used for signing.",
                "",
            ),
        PathSpec::new("issuers/generate/root/{exported}")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::root_generate))
            .help("Generate a new root issuer.", ""),
        PathSpec::new("intermediate/generate/{exported}")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::intermediate_generate))
            .help("Generate a new CSR and private key used for signing.", ""),
        PathSpec::new("issuers/generate/intermediate/{exported}")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::intermediate_generate))
            .help("Generate a new CSR and key for an intermediate issuer.", ""),
        PathSpec::new("root/sign-intermediate")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::sign_intermediate))
            .help(
                "Issue an intermediate CA certificate based on the provided CSR.",
                "",
            ),
        PathSpec::new("issuer/{issuer_ref}/sign-intermediate")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::sign_intermediate))
            .help("Issue an intermediate CA certificate with an issuer.", ""),
        PathSpec::new("root/sign-self-issued")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::sign_self_issued))
            .help("Signs another CA's self-issued certificate.", ""),
        PathSpec::new("issuer/{issuer_ref}/sign-self-issued")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::sign_self_issued))
            .help(
                "Signs another CA's self-issued certificate with an issuer.",
                "",
            ),
        PathSpec::new("intermediate/set-signed")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::set_signed))
            .help("Provide the signed intermediate CA cert.", ""),
        PathSpec::new("config/ca")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::config_ca))
            .help(
                "Set the CA certificate and private key used for generated credentials.",
                "",
            ),
        PathSpec::new("issuers/import/bundle")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::config_ca))
            .help("Import a PEM bundle of issuers and keys.", ""),
        PathSpec::new("issuers/import/cert")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::config_ca))
            .help("Import a PEM bundle of issuers.", ""),
        PathSpec::new("ca")
            .read(handler!(Pki::ca_der))
            .help("Fetch the default CA certificate (DER).", ""),
        PathSpec::new("ca/pem")
            .read(handler!(Pki::ca_pem))
            .help("Fetch the default CA certificate (PEM).", ""),
        PathSpec::new("ca_chain")
            .read(handler!(Pki::ca_chain))
            .help("Fetch the default CA chain (PEM).", ""),
        PathSpec::new("cert/ca_chain")
            .read(handler!(Pki::cert_ca_chain))
            .help("Fetch the CA chain.", ""),
        PathSpec::new("cert/{serial}")
            .fields(SERIAL)
            .read(handler!(Pki::cert_read))
            .help("Fetch a certificate by serial, or `ca`, `crl`.", ""),
        PathSpec::new("cert/{serial}/raw")
            .fields(SERIAL)
            .read(handler!(Pki::cert_raw_der))
            .help("Fetch a certificate (DER).", ""),
        PathSpec::new("cert/{serial}/raw/pem")
            .fields(SERIAL)
            .read(handler!(Pki::cert_raw_pem))
            .help("Fetch a certificate (PEM).", ""),
        PathSpec::new("certs")
            .list(handler!(Pki::certs_list))
            .help("List the stored certificates by serial.", ""),
        PathSpec::new("certs/revoked")
            .list(handler!(Pki::certs_revoked_list))
            .help("List the revoked certificates by serial.", ""),
        PathSpec::new("issuers")
            .list(handler!(Pki::issuers_list))
            .help("List the issuers of this mount.", ""),
        PathSpec::new("issuer/{issuer_ref}")
            .fields(fetch::ISSUER_FIELDS)
            .read(handler!(Pki::issuer_read))
            .write(handler!(Pki::issuer_update))
            .delete(handler!(Pki::issuer_delete))
            .help("Manage an issuer.", ""),
        PathSpec::new("issuer/{issuer_ref}/pem")
            .fields(REF)
            .read(handler!(Pki::issuer_pem))
            .help("Fetch an issuer's certificate (PEM).", ""),
        PathSpec::new("issuer/{issuer_ref}/der")
            .fields(REF)
            .read(handler!(Pki::issuer_der))
            .help("Fetch an issuer's certificate (DER).", ""),
        PathSpec::new("issuer/{issuer_ref}/json")
            .fields(REF)
            .read(handler!(Pki::issuer_json))
            .help("Fetch an issuer's certificate and chain.", ""),
        PathSpec::new("issuer/{issuer_ref}/crl")
            .fields(REF)
            .read(handler!(Pki::issuer_crl_json))
            .help("Fetch an issuer's CRL.", ""),
        PathSpec::new("issuer/{issuer_ref}/crl/der")
            .fields(REF)
            .read(handler!(Pki::issuer_crl_der))
            .help("Fetch an issuer's CRL (DER).", ""),
        PathSpec::new("issuer/{issuer_ref}/crl/pem")
            .fields(REF)
            .read(handler!(Pki::issuer_crl_pem))
            .help("Fetch an issuer's CRL (PEM).", ""),
        PathSpec::new("keys")
            .list(handler!(Pki::keys_list))
            .help("List the keys of this mount.", ""),
        PathSpec::new("keys/generate/{exported}")
            .fields(ca::CA_FIELDS)
            .write(handler!(Pki::key_generate))
            .help("Generate a new key.", ""),
        PathSpec::new("key/{key_ref}")
            .fields(fetch::KEY_FIELDS)
            .read(handler!(Pki::key_read))
            .write(handler!(Pki::key_update))
            .delete(handler!(Pki::key_delete))
            .help("Manage a key.", ""),
        PathSpec::new("config/issuers")
            .fields(fetch::CONFIG_ISSUERS_FIELDS)
            .read(handler!(Pki::config_issuers_read))
            .write(handler!(Pki::config_issuers_write))
            .help("Read and set the default issuer.", ""),
        PathSpec::new("root/replace")
            .fields(fetch::CONFIG_ISSUERS_FIELDS)
            .write(handler!(Pki::config_issuers_write))
            .help("Set the default issuer.", ""),
        PathSpec::new("config/keys")
            .fields(fetch::CONFIG_KEYS_FIELDS)
            .read(handler!(Pki::config_keys_read))
            .write(handler!(Pki::config_keys_write))
            .help("Read and set the default key.", ""),
        PathSpec::new("revoke")
            .fields(revoke::REVOKE_FIELDS)
            .write(handler!(Pki::revoke))
            .help("Revoke a certificate by serial number.", ""),
        PathSpec::new("revoke-with-key")
            .fields(revoke::REVOKE_FIELDS)
            .write(handler!(Pki::revoke_with_key))
            .help(
                "Revoke a certificate by serial number, proving possession of its key.",
                "",
            ),
        PathSpec::new("crl")
            .read(handler!(Pki::crl_der))
            .help("Fetch the current CRL (DER).", ""),
        PathSpec::new("crl/pem")
            .read(handler!(Pki::crl_pem))
            .help("Fetch the current CRL (PEM).", ""),
        PathSpec::new("crl/rotate")
            .read(handler!(Pki::crl_rotate))
            .help("Force a rebuild of the CRL.", ""),
        PathSpec::new("config/crl")
            .fields(revoke::CONFIG_CRL_FIELDS)
            .read(handler!(Pki::config_crl_read))
            .write(handler!(Pki::config_crl_write))
            .help("Configure the CRL expiration.", ""),
        PathSpec::new("config/urls")
            .fields(revoke::CONFIG_URLS_FIELDS)
            .read(handler!(Pki::config_urls_read))
            .write(handler!(Pki::config_urls_write))
            .help(
                "Set the URLs for the issuing CA, CRL distribution points, and OCSP servers.",
                "",
            ),
        PathSpec::new("ocsp")
            .write(handler!(Pki::ocsp_post))
            .arbitrary_input()
            .help(
                "Query a certificate's revocation status through OCSP (POST).",
                "",
            ),
        PathSpec::new("ocsp/{req+}")
            .read(handler!(Pki::ocsp_get))
            .help(
                "Query a certificate's revocation status through OCSP (GET).",
                "",
            ),
        PathSpec::new("tidy")
            .fields(tidy::TIDY_FIELDS)
            .write(handler!(Pki::tidy))
            .help(
                "Tidy up the backend by removing expired certificates and revocation info.",
                "",
            ),
        PathSpec::new("tidy-status")
            .read(handler!(Pki::tidy_status))
            .help("Status of the last tidy operation.", ""),
        PathSpec::new("tidy-cancel")
            .write(handler!(Pki::tidy_cancel))
            .help("Cancel a running tidy.", ""),
    ];
    FrameworkBackend::new(Pki::default(), Paths::new(HELP, paths))
        .unauthenticated(UNAUTHENTICATED)
        .revoke_secret(|s, internal, view| Box::pin(s.revoke_lease(internal, view)))
}

#[cfg(test)]
mod tests;
