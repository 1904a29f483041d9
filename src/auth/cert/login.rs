//! `login`: the client's TLS certificate is the credential.
//!
//! The chain comes from the TLS handshake only (`Request::client_cert_chain`,
//! which the listener fills in, or the signed forwarding envelope of a
//! standby); no request header or body can supply it. The optional `name`
//! limits the login to one trusted entry.

use std::collections::BTreeMap;

use super::entry::{self, CertEntry};
use super::matching::extension_metadata;
use super::verify::{select, Trusted};
use super::x509::{hex_colons, parse_pem, CertInfo};
use super::{config, crl, CertAuth};
use crate::auth::common::addr_allowed;
use crate::logical::auth::Alias;
use crate::logical::framework::Ctx;
use crate::logical::{Auth, LogicalError, LogicalResult, Response, StorageView};

/// The entries a login may match: the one named, or all of them.
async fn trusted(view: &StorageView, name: &str) -> Result<Vec<Trusted>, LogicalError> {
    let names = if name.is_empty() {
        entry::names(view).await?
    } else {
        vec![name.to_lowercase()]
    };
    let mut out = Vec::new();
    for n in names {
        let Some(e) = entry::load(view, &n).await? else {
            continue;
        };
        let certs = parse_pem(&e.certificate);
        if certs.is_empty() {
            tracing::warn!(name = %n, "trusted certificate entry holds no parsable certificate");
            continue;
        }
        out.push(Trusted { entry: e, certs });
    }
    Ok(out)
}

/// The login's metadata (Vault's keys), plus `allowed_metadata_extensions`.
fn metadata(entry: &CertEntry, leaf: &CertInfo) -> BTreeMap<String, String> {
    let mut m = BTreeMap::from([
        ("cert_name".to_string(), entry.name.clone()),
        ("common_name".to_string(), leaf.common_name.clone()),
        ("serial_number".to_string(), leaf.serial.clone()),
        (
            "subject_key_id".to_string(),
            hex_colons(&leaf.subject_key_id),
        ),
        (
            "authority_key_id".to_string(),
            hex_colons(&leaf.authority_key_id),
        ),
    ]);
    m.extend(extension_metadata(entry, leaf));
    m
}

/// The grant for a leaf that matched `entry`.
pub(super) fn grant(entry: &CertEntry, leaf: &CertInfo, alias_metadata: bool) -> Auth {
    let meta = metadata(entry, leaf);
    let mut auth = entry.token.auth();
    auth.display_name = entry.display_name.clone();
    // Vault's cert method names the identity alias by the subject's
    // common name (path_login.go); core resolves it to an entity.
    auth.alias = Some(Alias {
        name: leaf.common_name.clone(),
        metadata: if alias_metadata {
            meta.clone()
        } else {
            BTreeMap::new()
        },
    });
    auth.metadata = meta;
    auth
}

impl CertAuth {
    pub(super) async fn login(&self, c: &Ctx<'_>) -> LogicalResult {
        let chain = &c.req.client_cert_chain;
        if chain.is_empty() {
            return Err(LogicalError::bad("client certificate must be supplied"));
        }
        let cfg = config::load(c.view).await?;
        let trusted = trusted(c.view, &c.fields.str("name")).await?;
        let revoked = crl::revoked_serials(c.view).await?;
        let now = self.clock.now().timestamp();
        let (i, leaf) = select(&trusted, chain, &revoked, now).map_err(LogicalError::BadRequest)?;
        let entry = &trusted[i].entry;
        if !entry.token.token_bound_cidrs.is_empty()
            && !addr_allowed(&entry.token.token_bound_cidrs, c.req.remote_addr)
        {
            return Err(LogicalError::PermissionDenied);
        }
        Ok(Response {
            auth: Some(grant(entry, &leaf, cfg.enable_identity_alias_metadata)),
            ..Default::default()
        })
    }
}
