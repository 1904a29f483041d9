//! Reading CAs and certificates (`ca`, `ca/pem`, `ca_chain`,
//! `cert/:serial`, `certs`, `certs/revoked`) and the multi-issuer API
//! (`issuers`, `issuer/:ref`, `keys`, `key/:ref`, `config/issuers`,
//! `config/keys`, `keys/generate`).

use serde_json::{json, Map, Value};

use super::certs;
use super::keys::{validate_type_bits, KeyType, PrivateKey};
use super::storage::{
    get_json, put, serial_key, CertRecord, IssuerRecord, IssuersConfig, KeyRecord, KeyRecordMeta,
    KeysConfig, RevokedRecord, ISSUERS_CONFIG, KEYS_CONFIG,
};
use super::Pki;
use crate::logical::framework::{Ctx, Field};
use crate::logical::{LogicalError, LogicalResult, Response};
use crate::storage::BatchItem;

pub(crate) const ISSUER_FIELDS: &[Field] = &[
    Field::string("issuer_ref", "Reference to an issuer"),
    Field::string("issuer_name", "Issuer name"),
    Field::string("leaf_not_after_behavior", "err, truncate or permit"),
    Field::comma_strings("usage", "Allowed usages"),
    Field::comma_strings("manual_chain", "Chain override"),
    Field::comma_strings("issuing_certificates", "AIA issuing certificate URLs"),
    Field::comma_strings("crl_distribution_points", "CRL distribution point URLs"),
    Field::comma_strings("ocsp_servers", "OCSP server URLs"),
    Field::comma_strings("delta_crl_distribution_points", "Delta CRL URLs"),
    Field::string(
        "revocation_signature_algorithm",
        "Signature algorithm for CRLs",
    ),
    Field::bool("enable_aia_url_templating", "AIA templating"),
];

pub(crate) const KEY_FIELDS: &[Field] = &[
    Field::string("key_ref", "Reference to a key"),
    Field::string("key_name", "Key name"),
];

pub(crate) const CONFIG_ISSUERS_FIELDS: &[Field] = &[
    Field::string("default", "Reference to the default issuer"),
    Field::bool(
        "default_follows_latest_issuer",
        "Whether new issuers become the default",
    ),
];

pub(crate) const CONFIG_KEYS_FIELDS: &[Field] =
    &[Field::string("default", "Reference to the default key")];

const PEM_CHAIN: &str = "application/pem-certificate-chain";
const PKIX_CERT: &str = "application/pkix-cert";

fn text(content_type: &'static str, body: String) -> Response {
    Response {
        status: body.is_empty().then_some(204),
        text: Some((content_type, body)),
        ..Default::default()
    }
}

fn binary(content_type: &'static str, body: Vec<u8>) -> Response {
    Response {
        status: body.is_empty().then_some(204),
        binary: Some((content_type, body)),
        ..Default::default()
    }
}

/// The name of the CRL signature algorithm of a key type, as Vault shows it.
fn revocation_alg(key_type: Option<KeyType>) -> &'static str {
    match key_type {
        Some(KeyType::Ec) => "ECDSAWithSHA256",
        Some(KeyType::Ed25519) => "PureEd25519",
        _ => "SHA256WithRSA",
    }
}

impl Pki {
    async fn default_issuer(
        &self,
        c: &Ctx<'_>,
    ) -> Result<Option<std::sync::Arc<IssuerRecord>>, LogicalError> {
        self.resolve_issuer(c.view, "default").await
    }

    async fn named_issuer(
        &self,
        c: &Ctx<'_>,
    ) -> Result<std::sync::Arc<IssuerRecord>, LogicalError> {
        let r = c.path("issuer_ref");
        self.resolve_issuer(c.view, r).await?.ok_or_else(|| {
            if r == "default" {
                LogicalError::bad("no default issuer currently configured")
            } else {
                LogicalError::bad(format!("unable to find PKI issuer for reference: {r}"))
            }
        })
    }

    pub(crate) async fn ca_der(&self, c: &Ctx<'_>) -> LogicalResult {
        let der = match self.default_issuer(c).await? {
            Some(i) => i.cert_der()?,
            None => Vec::new(),
        };
        Ok(binary(PKIX_CERT, der))
    }

    pub(crate) async fn ca_pem(&self, c: &Ctx<'_>) -> LogicalResult {
        let pem = self
            .default_issuer(c)
            .await?
            .map(|i| i.certificate.clone())
            .unwrap_or_default();
        Ok(text(PEM_CHAIN, pem))
    }

    pub(crate) async fn ca_chain(&self, c: &Ctx<'_>) -> LogicalResult {
        let chain = self
            .default_issuer(c)
            .await?
            .map(|i| i.chain().join("\n"))
            .unwrap_or_default();
        Ok(text(PKIX_CERT, chain))
    }

    pub(crate) async fn cert_ca_chain(&self, c: &Ctx<'_>) -> LogicalResult {
        let chain = self
            .default_issuer(c)
            .await?
            .map(|i| i.chain().join("\n"))
            .unwrap_or_default();
        Ok(Response::json(json!({
            "ca_chain": chain,
            "certificate": chain,
            "revocation_time": 0,
            "revocation_time_rfc3339": "",
        })))
    }

    /// The PEM of `cert/:serial` (`ca`, `crl` and serials), or 404.
    async fn cert_pem_of(
        &self,
        c: &Ctx<'_>,
        serial: &str,
    ) -> Result<(String, Option<RevokedRecord>), LogicalError> {
        match serial {
            "ca" => {
                let i = self
                    .default_issuer(c)
                    .await?
                    .ok_or(LogicalError::NotFound)?;
                Ok((i.certificate.clone(), None))
            }
            "crl" => {
                let i = self
                    .default_issuer(c)
                    .await?
                    .ok_or(LogicalError::NotFound)?;
                let crl = self.crl_bytes(c, &i).await?;
                Ok((super::keys::pem_encode("X509 CRL", &crl), None))
            }
            s => {
                let key = serial_key(s);
                let rec: CertRecord = get_json(c.view, &format!("certs/{key}"))
                    .await?
                    .ok_or(LogicalError::NotFound)?;
                let revoked: Option<RevokedRecord> =
                    get_json(c.view, &format!("revoked/{key}")).await?;
                Ok((rec.certificate, revoked))
            }
        }
    }

    pub(crate) async fn cert_read(&self, c: &Ctx<'_>) -> LogicalResult {
        let serial = c.path("serial").to_string();
        let (pem, revoked) = self.cert_pem_of(c, &serial).await?;
        let (t, t3339) = revoked
            .map(|r| (r.revocation_time, r.revocation_time_rfc3339))
            .unwrap_or((0, String::new()));
        Ok(Response::json(json!({
            "certificate": pem,
            "revocation_time": t,
            "revocation_time_rfc3339": t3339,
        })))
    }

    pub(crate) async fn cert_raw_der(&self, c: &Ctx<'_>) -> LogicalResult {
        let (pem, _) = self.cert_pem_of(c, c.path("serial")).await?;
        Ok(binary(
            PKIX_CERT,
            certs::pem_to_der(&pem).unwrap_or_default(),
        ))
    }

    pub(crate) async fn cert_raw_pem(&self, c: &Ctx<'_>) -> LogicalResult {
        let (pem, _) = self.cert_pem_of(c, c.path("serial")).await?;
        Ok(text(PEM_CHAIN, pem))
    }

    pub(crate) async fn certs_list(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys: Vec<String> = c
            .view
            .list("certs/")
            .await?
            .into_iter()
            .map(|k| k.replace('-', ":"))
            .collect();
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    pub(crate) async fn certs_revoked_list(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys: Vec<String> = c
            .view
            .list("revoked/")
            .await?
            .into_iter()
            .map(|k| k.replace('-', ":"))
            .collect();
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    pub(crate) async fn issuers_list(&self, c: &Ctx<'_>) -> LogicalResult {
        let cfg = self.issuers_config(c.view).await?;
        let mut keys = Vec::new();
        let mut info = Map::new();
        for i in self.all_issuers(c.view).await? {
            keys.push(i.id.clone());
            info.insert(
                i.id.clone(),
                json!({
                    "is_default": i.id == cfg.default,
                    "issuer_name": i.name,
                    "key_id": i.key_id,
                    "serial_number": i.serial,
                }),
            );
        }
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        keys.sort();
        Ok(Response::json(json!({ "keys": keys, "key_info": info })))
    }

    async fn issuer_key_type(
        &self,
        c: &Ctx<'_>,
        i: &IssuerRecord,
    ) -> Result<Option<KeyType>, LogicalError> {
        Ok(self.key(c.view, &i.key_id).await?.map(|k| k.key_type))
    }

    pub(crate) async fn issuer_read(&self, c: &Ctx<'_>) -> LogicalResult {
        let i = self.named_issuer(c).await?;
        let kt = self.issuer_key_type(c, &i).await?;
        Ok(Response::data(issuer_json(&i, kt)))
    }

    pub(crate) async fn issuer_update(&self, c: &Ctx<'_>) -> LogicalResult {
        let current = self.named_issuer(c).await?;
        let mut i = (*current).clone();
        let f = &c.fields;
        if let Some(name) = f.get_ok::<String>("issuer_name") {
            let taken = name != i.name
                && !name.is_empty()
                && (name == "default"
                    || self
                        .all_issuers(c.view)
                        .await?
                        .iter()
                        .any(|o| o.name == name && o.id != i.id));
            if taken {
                return Err(LogicalError::bad(format!(
                    "issuer name already in use: {name}"
                )));
            }
            i.name = name;
        }
        if let Some(b) = f.get_ok::<String>("leaf_not_after_behavior") {
            if !matches!(b.as_str(), "err" | "truncate" | "permit") {
                return Err(LogicalError::bad(format!("Unknown value for field `leaf_not_after_behavior`. Possible values are `err`, `truncate`, and `permit`; got `{b}`.")));
            }
            i.leaf_not_after_behavior = b;
        }
        if let Some(u) = f.get_ok::<Vec<String>>("usage") {
            i.usage = u.join(",");
        }
        if let Some(v) = f.get_ok::<Vec<String>>("issuing_certificates") {
            i.issuing_certificates = v;
        }
        if let Some(v) = f.get_ok::<Vec<String>>("crl_distribution_points") {
            i.crl_distribution_points = v;
        }
        if let Some(v) = f.get_ok::<Vec<String>>("ocsp_servers") {
            i.ocsp_servers = v;
        }
        if let Some(v) = f.get_ok::<Vec<String>>("manual_chain") {
            i.manual_chain = (!v.is_empty()).then_some(v);
        }
        c.view
            .batch_bump(vec![put(&format!("issuers/{}", i.id), &i)?])
            .await?;
        let kt = self.issuer_key_type(c, &i).await?;
        Ok(Response::data(issuer_json(&i, kt)))
    }

    pub(crate) async fn issuer_delete(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(i) = self.resolve_issuer(c.view, c.path("issuer_ref")).await? else {
            return Ok(Response::empty());
        };
        let mut batch = vec![BatchItem::delete(format!("issuers/{}", i.id))];
        let cfg = self.issuers_config(c.view).await?;
        let mut resp = Response::empty();
        if cfg.default == i.id {
            batch.push(put(
                ISSUERS_CONFIG,
                &IssuersConfig {
                    default: String::new(),
                    ..cfg
                },
            )?);
            resp.warnings
                .push("Deleted issuer was the default; set another issuer as the default.".into());
        }
        c.view.batch_bump(batch).await?;
        self.issuers.remove(&format!("issuers/{}", i.id));
        Ok(resp)
    }

    pub(crate) async fn issuer_pem(&self, c: &Ctx<'_>) -> LogicalResult {
        let i = self.named_issuer(c).await?;
        Ok(text(PEM_CHAIN, format!("{}\n", i.certificate)))
    }

    pub(crate) async fn issuer_der(&self, c: &Ctx<'_>) -> LogicalResult {
        let i = self.named_issuer(c).await?;
        Ok(binary(PKIX_CERT, i.cert_der()?))
    }

    pub(crate) async fn issuer_json(&self, c: &Ctx<'_>) -> LogicalResult {
        let i = self.named_issuer(c).await?;
        Ok(Response::json(json!({
            "ca_chain": i.chain().iter().map(|p| format!("{p}\n")).collect::<Vec<_>>(),
            "certificate": format!("{}\n", i.certificate),
            "issuer_id": i.id,
            "issuer_name": i.name,
        })))
    }

    pub(crate) async fn keys_list(&self, c: &Ctx<'_>) -> LogicalResult {
        let mut keys = Vec::new();
        let mut info = Map::new();
        for id in c.view.list("keys/").await? {
            if let Some(m) = get_json::<KeyRecordMeta>(c.view, &format!("keys/{id}")).await? {
                info.insert(id.clone(), json!({ "key_name": m.name }));
                keys.push(id);
            }
        }
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::json(json!({ "keys": keys, "key_info": info })))
    }

    async fn named_key(&self, c: &Ctx<'_>) -> Result<KeyRecordMeta, LogicalError> {
        let r = c.path("key_ref");
        let id = self.resolve_key_id(c.view, r).await?.ok_or_else(|| {
            LogicalError::bad(format!("unable to find PKI key for reference: {r}"))
        })?;
        let mut m: KeyRecordMeta =
            get_json(c.view, &format!("keys/{id}"))
                .await?
                .ok_or_else(|| {
                    LogicalError::bad(format!("unable to find PKI key for reference: {r}"))
                })?;
        m.id = id;
        Ok(m)
    }

    pub(crate) async fn key_read(&self, c: &Ctx<'_>) -> LogicalResult {
        let m = self.named_key(c).await?;
        Ok(Response::json(key_json(&m)))
    }

    pub(crate) async fn key_update(&self, c: &Ctx<'_>) -> LogicalResult {
        let m = self.named_key(c).await?;
        let key = self
            .key(c.view, &m.id)
            .await?
            .ok_or_else(|| LogicalError::Internal("key vanished".into()))?;
        let name = c.fields.str("key_name");
        if name == "default" {
            return Err(LogicalError::bad(
                "reserved name \"default\" cannot be used as an issuer or key name",
            ));
        }
        c.view
            .batch_bump(vec![put(
                &format!("keys/{}", m.id),
                &KeyRecord::new(m.id.clone(), name.clone(), &key),
            )?])
            .await?;
        Ok(Response::json(key_json(&KeyRecordMeta { name, ..m })))
    }

    pub(crate) async fn key_delete(&self, c: &Ctx<'_>) -> LogicalResult {
        let Ok(m) = self.named_key(c).await else {
            return Ok(Response::empty());
        };
        if self
            .all_issuers(c.view)
            .await?
            .iter()
            .any(|i| i.key_id == m.id)
        {
            return Err(LogicalError::bad(format!(
                "unable to delete key as it is in use by one or more issuers: {}",
                m.id
            )));
        }
        let mut batch = vec![BatchItem::delete(format!("keys/{}", m.id))];
        let cfg: KeysConfig = get_json(c.view, KEYS_CONFIG).await?.unwrap_or_default();
        if cfg.default == m.id {
            batch.push(put(KEYS_CONFIG, &KeysConfig::default())?);
        }
        c.view.batch_bump(batch).await?;
        self.keys.remove(&format!("keys/{}", m.id));
        Ok(Response::empty())
    }

    pub(crate) async fn key_generate(&self, c: &Ctx<'_>) -> LogicalResult {
        let kind = c.path("exported").to_string();
        if !matches!(kind.as_str(), "internal" | "exported") {
            return Err(LogicalError::bad(
                "the \"exported\" path parameter must be \"internal\" or \"exported\"",
            ));
        }
        let kt = c.fields.str("key_type");
        let bits = validate_type_bits(
            &kt,
            c.fields.get::<i64>("key_bits").unwrap_or(0).clamp(0, 65536) as u32,
        )?;
        let kt = KeyType::parse(&kt)
            .ok_or_else(|| LogicalError::bad(format!("unknown key type {kt}")))?;
        let key = PrivateKey::generate(kt, bits)?;
        let id = uuid::Uuid::new_v4().to_string();
        let name = c.fields.str("key_name");
        let mut batch = vec![put(
            &format!("keys/{id}"),
            &KeyRecord::new(id.clone(), name.clone(), &key),
        )?];
        let cfg: KeysConfig = get_json(c.view, KEYS_CONFIG).await?.unwrap_or_default();
        if cfg.default.is_empty() {
            batch.push(put(
                KEYS_CONFIG,
                &KeysConfig {
                    default: id.clone(),
                },
            )?);
        }
        c.view.batch_bump(batch).await?;
        let mut data = Map::new();
        data.insert("key_id".into(), json!(id));
        data.insert("key_name".into(), json!(name));
        data.insert("key_type".into(), json!(kt.name()));
        if kind == "exported" {
            data.insert("private_key".into(), json!(key.export("")?));
        }
        Ok(Response::data(data))
    }

    pub(crate) async fn config_issuers_read(&self, c: &Ctx<'_>) -> LogicalResult {
        let cfg = self.issuers_config(c.view).await?;
        Ok(Response::json(json!({
            "default": cfg.default,
            "default_follows_latest_issuer": cfg.default_follows_latest_issuer,
        })))
    }

    pub(crate) async fn config_issuers_write(&self, c: &Ctx<'_>) -> LogicalResult {
        let mut cfg = self.issuers_config(c.view).await?;
        if let Some(r) = c.fields.get_ok::<String>("default") {
            let i = self.resolve_issuer(c.view, &r).await?.ok_or_else(|| {
                LogicalError::bad(format!("unable to find PKI issuer for reference: {r}"))
            })?;
            cfg.default = i.id.clone();
        }
        if let Some(b) = c.fields.get_ok::<bool>("default_follows_latest_issuer") {
            cfg.default_follows_latest_issuer = b;
        }
        c.view.batch_bump(vec![put(ISSUERS_CONFIG, &cfg)?]).await?;
        Ok(Response::json(json!({
            "default": cfg.default,
            "default_follows_latest_issuer": cfg.default_follows_latest_issuer,
        })))
    }

    pub(crate) async fn config_keys_read(&self, c: &Ctx<'_>) -> LogicalResult {
        let cfg: KeysConfig = get_json(c.view, KEYS_CONFIG).await?.unwrap_or_default();
        Ok(Response::json(json!({ "default": cfg.default })))
    }

    pub(crate) async fn config_keys_write(&self, c: &Ctx<'_>) -> LogicalResult {
        let r = c.fields.str("default");
        let id = self.resolve_key_id(c.view, &r).await?.ok_or_else(|| {
            LogicalError::bad(format!("unable to find PKI key for reference: {r}"))
        })?;
        c.view
            .batch_bump(vec![put(
                KEYS_CONFIG,
                &KeysConfig {
                    default: id.clone(),
                },
            )?])
            .await?;
        Ok(Response::json(json!({ "default": id })))
    }
}

fn issuer_json(i: &IssuerRecord, key_type: Option<KeyType>) -> Map<String, Value> {
    let chain: Vec<String> = match &i.manual_chain {
        Some(m) => m.clone(),
        None => i.chain().iter().map(|p| format!("{p}\n")).collect(),
    };
    match json!({
        "ca_chain": chain,
        "certificate": format!("{}\n", i.certificate),
        "crl_distribution_points": i.crl_distribution_points,
        "delta_crl_distribution_points": [],
        "issuer_id": i.id,
        "issuer_name": i.name,
        "issuing_certificates": i.issuing_certificates,
        "key_id": i.key_id,
        "leaf_not_after_behavior": i.leaf_not_after_behavior,
        "manual_chain": i.manual_chain,
        "ocsp_servers": i.ocsp_servers,
        "revocation_signature_algorithm": revocation_alg(key_type),
        "revoked": i.revoked,
        "usage": i.usage,
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn key_json(m: &KeyRecordMeta) -> Value {
    json!({
        "key_id": m.id,
        "key_name": m.name,
        "key_type": m.key_type.name(),
        "key_bits": m.bits,
    })
}
