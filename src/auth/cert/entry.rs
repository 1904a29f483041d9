//! `certs/:name`: the trusted certificates (Vault calls them "roles"): a CA
//! (any certificate it issued may log in) or a client certificate pinned
//! as is, with the constraints a login must meet and the token it gets.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map};

use super::x509::parse_pem;
use super::CertAuth;
use crate::auth::common::TokenParams;
use crate::logical::framework::Ctx;
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};

pub(super) const CERT_PREFIX: &str = "cert/";

/// A stored trusted certificate entry (`cert/<lower-cased name>`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct CertEntry {
    pub(super) name: String,
    /// PEM text, as given (one or more certificates).
    pub(super) certificate: String,
    pub(super) display_name: String,
    #[serde(default)]
    pub(super) allowed_names: Vec<String>,
    #[serde(default)]
    pub(super) allowed_common_names: Vec<String>,
    #[serde(default)]
    pub(super) allowed_dns_sans: Vec<String>,
    #[serde(default)]
    pub(super) allowed_email_sans: Vec<String>,
    #[serde(default)]
    pub(super) allowed_uri_sans: Vec<String>,
    #[serde(default)]
    pub(super) allowed_organizational_units: Vec<String>,
    #[serde(default)]
    pub(super) required_extensions: Vec<String>,
    #[serde(default)]
    pub(super) allowed_metadata_extensions: Vec<String>,
    #[serde(flatten)]
    pub(super) token: TokenParams,
}

/// Vault's name pattern (`framework.GenericNameRegex`): word characters,
/// `-` and `.`, starting and ending with a word character.
fn valid_name(name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    !name.is_empty()
        && name.starts_with(word)
        && name.ends_with(word)
        && name.chars().all(|c| word(c) || c == '-' || c == '.')
}

pub(super) fn entry_name(raw: &str) -> Result<String, LogicalError> {
    let name = raw.to_lowercase();
    if !valid_name(&name) {
        return Err(LogicalError::bad(format!("invalid name {raw:?}")));
    }
    Ok(name)
}

pub(super) async fn load(
    view: &StorageView,
    name: &str,
) -> Result<Option<CertEntry>, LogicalError> {
    match view
        .get(&format!("{CERT_PREFIX}{}", name.to_lowercase()))
        .await?
    {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            LogicalError::Internal(format!("corrupt certificate entry {name:?}: {e}"))
        }),
    }
}

/// The names of every stored entry, in storage (sorted) order.
pub(super) async fn names(view: &StorageView) -> Result<Vec<String>, LogicalError> {
    Ok(view
        .list(CERT_PREFIX)
        .await?
        .into_iter()
        .filter(|k| !k.ends_with('/'))
        .collect())
}

impl CertAuth {
    /// `certs` (LIST), with Vault's `after` and `limit` paging.
    pub(super) async fn list_certs(&self, c: &Ctx<'_>) -> LogicalResult {
        let after = c.fields.str("after");
        let limit = c.fields.get::<i64>("limit").unwrap_or(0);
        let mut keys: Vec<String> = names(c.view)
            .await?
            .into_iter()
            .filter(|k| after.is_empty() || k.as_str() > after.as_str())
            .collect();
        if limit > 0 {
            keys.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    pub(super) async fn cert_exists(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        Ok(load(c.view, c.path("name")).await?.is_some())
    }

    pub(super) async fn read_cert(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(e) = load(c.view, c.path("name")).await? else {
            return Err(LogicalError::NotFound);
        };
        let mut data = Map::new();
        data.insert("certificate".into(), json!(e.certificate));
        data.insert("display_name".into(), json!(e.display_name));
        data.insert("allowed_names".into(), json!(e.allowed_names));
        data.insert("allowed_common_names".into(), json!(e.allowed_common_names));
        data.insert("allowed_dns_sans".into(), json!(e.allowed_dns_sans));
        data.insert("allowed_email_sans".into(), json!(e.allowed_email_sans));
        data.insert("allowed_uri_sans".into(), json!(e.allowed_uri_sans));
        data.insert(
            "allowed_organizational_units".into(),
            json!(e.allowed_organizational_units),
        );
        data.insert("required_extensions".into(), json!(e.required_extensions));
        data.insert(
            "allowed_metadata_extensions".into(),
            json!(e.allowed_metadata_extensions),
        );
        // OCSP is not implemented; its settings read back as unset.
        data.insert("ocsp_ca_certificates".into(), json!(""));
        data.insert("ocsp_enabled".into(), json!(false));
        data.insert("ocsp_servers_override".into(), json!([]));
        data.insert("ocsp_fail_open".into(), json!(false));
        data.insert("ocsp_query_all_servers".into(), json!(false));
        e.token.write_json(&mut data);
        Ok(Response::data(data))
    }

    pub(super) async fn write_cert(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = entry_name(c.path("name"))?;
        if c.fields.get_ok::<bool>("ocsp_enabled") == Some(true) {
            return Err(LogicalError::bad(
                "OCSP checking is not supported by this server; use crls/ for revocation",
            ));
        }
        let mut e = load(c.view, &name).await?.unwrap_or_else(|| CertEntry {
            name: name.clone(),
            ..Default::default()
        });
        let list = |field: &str, target: &mut Vec<String>| {
            if let Some(v) = c.fields.get_ok::<Vec<String>>(field) {
                *target = v;
            }
        };
        if let Some(pem) = c.fields.get_ok::<String>("certificate") {
            e.certificate = pem;
        }
        if let Some(d) = c.fields.get_ok::<String>("display_name") {
            e.display_name = d;
        }
        list("allowed_names", &mut e.allowed_names);
        list("allowed_common_names", &mut e.allowed_common_names);
        list("allowed_dns_sans", &mut e.allowed_dns_sans);
        list("allowed_email_sans", &mut e.allowed_email_sans);
        list("allowed_uri_sans", &mut e.allowed_uri_sans);
        list(
            "allowed_organizational_units",
            &mut e.allowed_organizational_units,
        );
        list("required_extensions", &mut e.required_extensions);
        list(
            "allowed_metadata_extensions",
            &mut e.allowed_metadata_extensions,
        );
        e.token.update_from_fields(&c.fields, true)?;
        // The pre-`ttl` name, honored only when neither newer one is set.
        if c.fields.get_ok::<u64>("token_ttl").is_none() && c.fields.get_ok::<u64>("ttl").is_none()
        {
            if let Some(lease) = c.fields.get_ok::<i64>("lease") {
                e.token.token_ttl = u64::try_from(lease)
                    .map_err(|_| LogicalError::bad("lease cannot be negative"))?;
            }
        }
        e.token.validate()?;
        if e.display_name.is_empty() {
            e.display_name = name.clone();
        }
        let parsed = parse_pem(&e.certificate);
        let Some(first) = parsed.first() else {
            return Err(LogicalError::bad("failed to parse certificate"));
        };
        if !first.is_ca && !first.client_auth_usage {
            return Err(LogicalError::bad(
                "nonCA certificates should have TLS client authentication set as an extended key usage",
            ));
        }
        let bytes = serde_json::to_vec(&e)
            .map_err(|err| LogicalError::Internal(format!("encoding certificate entry: {err}")))?;
        c.view.put(&format!("{CERT_PREFIX}{name}"), &bytes).await?;
        Ok(Response::empty())
    }

    pub(super) async fn delete_cert(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name").to_lowercase();
        c.view.delete(&format!("{CERT_PREFIX}{name}")).await?;
        Ok(Response::empty())
    }
}
