//! `crls/:name`: certificate revocation lists a login is checked against.
//!
//! As in Vault, a CRL is stored as the set of serial numbers it revokes
//! (`crls/<name>`: `{"cdp": null, "serials": {"<decimal>": {}}}`), and a
//! login chain is refused when any certificate in it (the client's, an
//! intermediate, or the trusted CA) has a serial listed by any CRL. The
//! CRL's signature and dates are not checked: the operator vouches for it
//! by writing it, and replaces or deletes it by name.

use std::collections::{BTreeMap, BTreeSet};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateRevocationListDer;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::entry::entry_name;
use super::CertAuth;
use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};

const CRL_PREFIX: &str = "crls/";

/// A stored CRL: Vault's `CRLInfo`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CrlInfo {
    #[serde(default)]
    cdp: Option<Value>,
    #[serde(default)]
    serials: BTreeMap<String, Map<String, Value>>,
}

/// The decimal serials a CRL (PEM or DER) revokes.
pub(super) fn parse_crl(input: &[u8]) -> Result<BTreeSet<String>, String> {
    let der = match CertificateRevocationListDer::from_pem_slice(input) {
        Ok(der) => der.as_ref().to_vec(),
        Err(_) => input.to_vec(),
    };
    let (_, crl) = CertificateRevocationList::from_der(&der).map_err(|e| e.to_string())?;
    Ok(crl
        .iter_revoked_certificates()
        .map(|r| r.user_certificate.to_string())
        .collect())
}

/// Every serial revoked by any stored CRL.
pub(super) async fn revoked_serials(view: &StorageView) -> Result<BTreeSet<String>, LogicalError> {
    let mut out = BTreeSet::new();
    for name in view.list(CRL_PREFIX).await? {
        if let Some(info) = load(view, &name).await? {
            out.extend(info.serials.into_keys());
        }
    }
    Ok(out)
}

async fn load(view: &StorageView, name: &str) -> Result<Option<CrlInfo>, LogicalError> {
    match view.get(&format!("{CRL_PREFIX}{name}")).await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| LogicalError::Internal(format!("error decoding CRL {name:?}: {e}"))),
    }
}

fn crl_name(c: &Ctx<'_>) -> Result<String, LogicalError> {
    entry_name(c.path("name"))
}

impl CertAuth {
    /// `crls` (LIST).
    pub(super) async fn list_crls(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys = c.view.list(CRL_PREFIX).await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    pub(super) async fn read_crl(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = crl_name(c)?;
        let Some(info) = load(c.view, &name).await? else {
            return Err(LogicalError::bad(format!("no such CRL {name}")));
        };
        let mut data = Map::new();
        data.insert("cdp".into(), info.cdp.unwrap_or(Value::Null));
        data.insert("serials".into(), json!(info.serials));
        Ok(Response::data(data))
    }

    pub(super) async fn write_crl(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = crl_name(c)?;
        if let Some(crl) = c.fields.get_ok::<String>("crl") {
            let serials = parse_crl(crl.as_bytes())
                .map_err(|e| LogicalError::bad(format!("failed to parse CRL: {e}")))?;
            let info = CrlInfo {
                cdp: None,
                serials: serials.into_iter().map(|s| (s, Map::new())).collect(),
            };
            let bytes = serde_json::to_vec(&info)
                .map_err(|e| LogicalError::Internal(format!("encoding CRL: {e}")))?;
            c.view.put(&format!("{CRL_PREFIX}{name}"), &bytes).await?;
            return Ok(Response::empty());
        }
        if c.fields.get_ok::<String>("url").is_some() {
            return Err(LogicalError::bad(
                "fetching a CRL from a distribution point url is not supported by this server; send the CRL itself in 'crl'",
            ));
        }
        Err(LogicalError::bad("one of 'crl' or 'url' must be provided"))
    }

    pub(super) async fn delete_crl(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = crl_name(c)?;
        if load(c.view, &name).await?.is_none() {
            return Err(LogicalError::bad(format!("no such CRL {name}")));
        }
        c.view.delete(&format!("{CRL_PREFIX}{name}")).await?;
        Ok(Response::empty())
    }
}
