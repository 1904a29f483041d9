//! Revocation (`revoke`, `revoke-with-key`, lease revocation), the CRL of
//! each issuer (`crl`, `crl/pem`, `crl/rotate`, `issuer/:ref/crl`), and
//! `config/crl`, `config/urls`. A CRL is rebuilt on the node that revokes
//! (the active one: revoking writes) and stored, so every node serves the
//! same signed bytes.

use rcgen::{CertificateRevocationListParams, RevokedCertParams, SerialNumber};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::certs;
use super::keys::PrivateKey;
use super::storage::{
    get_json, put, serial_key, CertRecord, CrlRecord, IssuerRecord, RevokedRecord,
};
use super::Pki;
use crate::logical::framework::{Ctx, DefaultValue as D, Field};
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};

pub(crate) const REVOKE_FIELDS: &[Field] = &[
    Field::string(
        "serial_number",
        "Certificate serial number, in colon- or hyphen-separated octal",
    ),
    Field::string("certificate", "The certificate to revoke (PEM)"),
    Field::string(
        "private_key",
        "The certificate's private key (revoke-with-key)",
    ),
];

pub(crate) const CONFIG_CRL_FIELDS: &[Field] = &[
    Field::string(
        "expiry",
        "The amount of time the generated CRL should be valid",
    )
    .default(D::Str("72h")),
    Field::bool("disable", "Disable the CRL"),
    Field::bool("ocsp_disable", "Disable the OCSP responder"),
    Field::string("ocsp_expiry", "OCSP response validity").default(D::Str("12h")),
    Field::bool("auto_rebuild", "Rebuild the CRL automatically"),
    Field::string("auto_rebuild_grace_period", "Auto rebuild grace period").default(D::Str("12h")),
    Field::bool("enable_delta", "Delta CRLs"),
    Field::string("delta_rebuild_interval", "Delta rebuild interval").default(D::Str("15m")),
    Field::bool("cross_cluster_revocation", "Cross-cluster revocation"),
    Field::bool("unified_crl", "Unified CRL"),
    Field::bool(
        "unified_crl_on_existing_paths",
        "Unified CRL on existing paths",
    ),
];

pub(crate) const CONFIG_URLS_FIELDS: &[Field] = &[
    Field::comma_strings("issuing_certificates", "Issuing CA URLs"),
    Field::comma_strings("crl_distribution_points", "CRL distribution point URLs"),
    Field::comma_strings("ocsp_servers", "OCSP server URLs"),
    Field::comma_strings("delta_crl_distribution_points", "Delta CRL URLs"),
    Field::bool("enable_templating", "AIA templating"),
];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct UrlsConfig {
    pub(crate) issuing_certificates: Vec<String>,
    pub(crate) crl_distribution_points: Vec<String>,
    pub(crate) ocsp_servers: Vec<String>,
    pub(crate) delta_crl_distribution_points: Vec<String>,
    pub(crate) enable_templating: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct CrlConfig {
    pub(crate) expiry: String,
    pub(crate) disable: bool,
    pub(crate) ocsp_disable: bool,
    pub(crate) ocsp_expiry: String,
    pub(crate) auto_rebuild: bool,
    pub(crate) auto_rebuild_grace_period: String,
    pub(crate) enable_delta: bool,
    pub(crate) delta_rebuild_interval: String,
    pub(crate) cross_cluster_revocation: bool,
    pub(crate) unified_crl: bool,
    pub(crate) unified_crl_on_existing_paths: bool,
}

impl Default for CrlConfig {
    fn default() -> Self {
        Self {
            expiry: "72h".into(),
            disable: false,
            ocsp_disable: false,
            ocsp_expiry: "12h".into(),
            auto_rebuild: false,
            auto_rebuild_grace_period: "12h".into(),
            enable_delta: false,
            delta_rebuild_interval: "15m".into(),
            cross_cluster_revocation: false,
            unified_crl: false,
            unified_crl_on_existing_paths: false,
        }
    }
}

const URLS: &str = "config/urls";
const CRL_CONFIG: &str = "config/crl";

fn revoked_json(r: &RevokedRecord) -> Value {
    json!({
        "revocation_time": r.revocation_time,
        "revocation_time_rfc3339": r.revocation_time_rfc3339,
        "state": "revoked",
    })
}

impl Pki {
    /// `config/urls`, cached per node (absence too: every issue reads it,
    /// and a `no_store` issue must not cost a storage read for it).
    pub(crate) async fn urls_config(&self, view: &StorageView) -> Result<UrlsConfig, LogicalError> {
        let cfg = self
            .urls
            .get_or_default(view, URLS, super::storage::parse::<UrlsConfig>)
            .await?;
        Ok((*cfg).clone())
    }

    async fn crl_config(&self, view: &StorageView) -> Result<CrlConfig, LogicalError> {
        Ok(get_json(view, CRL_CONFIG).await?.unwrap_or_default())
    }

    /// Revokes a stored certificate and rebuilds its issuer's CRL. Revoking
    /// twice answers the first revocation (Vault).
    pub(crate) async fn revoke_serial(
        &self,
        view: &StorageView,
        serial: &str,
    ) -> Result<RevokedRecord, LogicalError> {
        let key = serial_key(serial);
        let Some(cert) = get_json::<CertRecord>(view, &format!("certs/{key}")).await? else {
            return Err(LogicalError::bad(format!(
                "certificate with serial {serial} not found."
            )));
        };
        if let Some(existing) = get_json::<RevokedRecord>(view, &format!("revoked/{key}")).await? {
            return Ok(existing);
        }
        for i in self.all_issuers(view).await? {
            if serial_key(&i.serial) == key {
                return Err(LogicalError::bad(format!(
                    "adding issuer (id: {}) to its own CRL is not allowed",
                    i.id
                )));
            }
        }
        let now = chrono::Utc::now();
        let rec = RevokedRecord {
            serial_number: key.replace('-', ":"),
            revocation_time: now.timestamp(),
            revocation_time_rfc3339: now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            issuer_id: cert.issuer_id.clone(),
            not_after: cert.not_after,
        };
        // The revocation entry and the CRL that lists it in one batch: a
        // retried revoke never finds the entry without its CRL.
        let mut batch = vec![put(&format!("revoked/{key}"), &rec)?];
        if let Some(issuer) = self.issuer(view, &cert.issuer_id).await? {
            if !issuer.key_id.is_empty() {
                batch.push(self.crl_item(view, &issuer, Some(&rec)).await?);
            }
        }
        view.batch(batch).await?;
        Ok(rec)
    }

    /// A certificate lease was revoked: revoke the certificate.
    pub(crate) async fn revoke_lease(
        &self,
        internal: &Value,
        view: &StorageView,
    ) -> Result<(), LogicalError> {
        let serial = internal["serial_number"].as_str().unwrap_or_default();
        if serial.is_empty() {
            return Ok(());
        }
        match self.revoke_serial(view, serial).await {
            Ok(_) => Ok(()),
            // Tidied away already: nothing left to revoke.
            Err(LogicalError::BadRequest(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn revoke(&self, c: &Ctx<'_>) -> LogicalResult {
        let serial = self.serial_from_request(c)?;
        let rec = self.revoke_serial(c.view, &serial).await?;
        Ok(Response::json(revoked_json(&rec)))
    }

    fn serial_from_request(&self, c: &Ctx<'_>) -> Result<String, LogicalError> {
        let serial = c.fields.str("serial_number");
        let cert = c.fields.str("certificate");
        match (serial.is_empty(), cert.is_empty()) {
            (true, true) => Err(LogicalError::bad(
                "The serial number or certificate to revoke must be provided.",
            )),
            (false, false) => Err(LogicalError::bad(
                "Must provide either the certificate or the serial to revoke; not both.",
            )),
            (false, true) => Ok(serial),
            (true, false) => {
                let der = certs::pem_to_der(&cert)
                    .ok_or_else(|| LogicalError::bad("certificate could not be parsed"))?;
                let info = certs::inspect(&der)
                    .ok_or_else(|| LogicalError::bad("certificate could not be parsed"))?;
                Ok(info.serial)
            }
        }
    }

    pub(crate) async fn revoke_with_key(&self, c: &Ctx<'_>) -> LogicalResult {
        let serial = self.serial_from_request(c)?;
        let key_pem = c.fields.str("private_key");
        if key_pem.is_empty() {
            return Err(LogicalError::bad(
                "The private_key must be provided to revoke with a key.",
            ));
        }
        let stored: CertRecord = get_json(c.view, &format!("certs/{}", serial_key(&serial)))
            .await?
            .ok_or_else(|| {
                LogicalError::bad(format!("certificate with serial {serial} not found."))
            })?;
        let der = certs::pem_to_der(&stored.certificate)
            .ok_or_else(|| LogicalError::Internal("stored certificate is corrupt".into()))?;
        let info = certs::inspect(&der)
            .ok_or_else(|| LogicalError::Internal("stored certificate is corrupt".into()))?;
        let key = PrivateKey::from_pem(&key_pem)?;
        let matches =
            subtle::ConstantTimeEq::ct_eq(key.spki_der().as_slice(), info.spki_der.as_slice());
        if !bool::from(matches) {
            return Err(LogicalError::bad(
                "failed to validate private key match with certificate: public keys do not match",
            ));
        }
        let rec = self.revoke_serial(c.view, &serial).await?;
        Ok(Response::json(revoked_json(&rec)))
    }

    /// Signs a fresh CRL for `issuer` and stores it.
    pub(crate) async fn rebuild_crl(
        &self,
        view: &StorageView,
        issuer: &IssuerRecord,
    ) -> Result<(), LogicalError> {
        let item = self.crl_item(view, issuer, None).await?;
        view.batch(vec![item]).await?;
        Ok(())
    }

    /// The write of a freshly signed CRL for `issuer` (with `extra`, a
    /// revocation not stored yet).
    async fn crl_item(
        &self,
        view: &StorageView,
        issuer: &IssuerRecord,
        extra: Option<&RevokedRecord>,
    ) -> Result<crate::storage::BatchItem, LogicalError> {
        let prev: Option<CrlRecord> = get_json(view, &format!("crls/{}", issuer.id)).await?;
        let number = prev.map(|p| p.number + 1).unwrap_or(1);
        let der = self.sign_crl(view, issuer, number, extra).await?;
        use base64::Engine;
        let rec = CrlRecord {
            der: base64::engine::general_purpose::STANDARD.encode(&der),
            number,
        };
        put(&format!("crls/{}", issuer.id), &rec)
    }

    async fn sign_crl(
        &self,
        view: &StorageView,
        issuer: &IssuerRecord,
        number: u64,
        extra: Option<&RevokedRecord>,
    ) -> Result<Vec<u8>, LogicalError> {
        let key = self.key(view, &issuer.key_id).await?.ok_or_else(|| {
            LogicalError::bad("this issuer has no key in this mount; it cannot sign a CRL")
        })?;
        let cfg = self.crl_config(view).await?;
        let expiry = crate::logical::parse_duration_str(&cfg.expiry)
            .unwrap_or(72 * 3600)
            .max(60);
        let mut records = Vec::new();
        for k in view.list("revoked/").await? {
            if let Some(r) = get_json::<RevokedRecord>(view, &format!("revoked/{k}")).await? {
                records.push(r);
            }
        }
        if let Some(e) = extra {
            if !records.iter().any(|r| r.serial_number == e.serial_number) {
                records.push(e.clone());
            }
        }
        let mut revoked = Vec::new();
        for r in records {
            if !r.issuer_id.is_empty() && r.issuer_id != issuer.id {
                continue;
            }
            let Some(serial) = certs::parse_serial(&r.serial_number) else {
                continue;
            };
            revoked.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial),
                revocation_time: time::OffsetDateTime::from_unix_timestamp(r.revocation_time)
                    .map_err(|_| LogicalError::Internal("bad revocation time".into()))?,
                reason_code: None,
                invalidity_date: None,
            });
        }
        let now = time::OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + time::Duration::seconds(expiry as i64),
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let cert_der = issuer.cert_der()?;
        let ca = rcgen::Issuer::from_ca_cert_der(&cert_der.into(), &key.pair)
            .map_err(|e| LogicalError::Internal(format!("error building the CRL: {e}")))?;
        let crl = params
            .signed_by(&ca)
            .map_err(|e| LogicalError::Internal(format!("error building the CRL: {e}")))?;
        Ok(crl.der().to_vec())
    }

    /// The stored CRL of an issuer, or (none stored yet: nothing revoked)
    /// a fresh one signed for this read and not stored, so standbys can
    /// serve it without writing.
    pub(crate) async fn crl_bytes(
        &self,
        c: &Ctx<'_>,
        issuer: &IssuerRecord,
    ) -> Result<Vec<u8>, LogicalError> {
        if let Some(rec) = get_json::<CrlRecord>(c.view, &format!("crls/{}", issuer.id)).await? {
            use base64::Engine;
            return base64::engine::general_purpose::STANDARD
                .decode(rec.der.as_bytes())
                .map_err(|_| LogicalError::Internal("stored CRL is corrupt".into()));
        }
        self.sign_crl(c.view, issuer, 1, None).await
    }

    async fn crl_of(&self, c: &Ctx<'_>, reference: &str) -> Result<Vec<u8>, LogicalError> {
        match self.resolve_issuer(c.view, reference).await? {
            Some(i) => self.crl_bytes(c, &i).await,
            None => Ok(Vec::new()),
        }
    }

    pub(crate) async fn crl_der(&self, c: &Ctx<'_>) -> LogicalResult {
        let der = self.crl_of(c, "default").await?;
        Ok(Response {
            status: der.is_empty().then_some(204),
            binary: Some(("application/pkix-crl", der)),
            ..Default::default()
        })
    }

    pub(crate) async fn crl_pem(&self, c: &Ctx<'_>) -> LogicalResult {
        let der = self.crl_of(c, "default").await?;
        let pem = if der.is_empty() {
            String::new()
        } else {
            super::keys::pem_encode("X509 CRL", &der)
        };
        Ok(Response {
            status: pem.is_empty().then_some(204),
            text: Some(("application/x-pem-file", pem)),
            ..Default::default()
        })
    }

    pub(crate) async fn issuer_crl_der(&self, c: &Ctx<'_>) -> LogicalResult {
        let der = self.crl_of(c, c.path("issuer_ref")).await?;
        Ok(Response {
            binary: Some(("application/pkix-crl", der)),
            ..Default::default()
        })
    }

    pub(crate) async fn issuer_crl_pem(&self, c: &Ctx<'_>) -> LogicalResult {
        let der = self.crl_of(c, c.path("issuer_ref")).await?;
        Ok(Response {
            text: Some((
                "application/x-pem-file",
                format!("{}\n", super::keys::pem_encode("X509 CRL", &der)),
            )),
            ..Default::default()
        })
    }

    pub(crate) async fn issuer_crl_json(&self, c: &Ctx<'_>) -> LogicalResult {
        let der = self.crl_of(c, c.path("issuer_ref")).await?;
        Ok(Response::json(
            json!({ "crl": format!("{}\n", super::keys::pem_encode("X509 CRL", &der)) }),
        ))
    }

    pub(crate) async fn crl_rotate(&self, c: &Ctx<'_>) -> LogicalResult {
        for i in self.all_issuers(c.view).await? {
            if !i.key_id.is_empty() {
                self.rebuild_crl(c.view, &i).await?;
            }
        }
        Ok(Response::json(json!({ "success": true })))
    }

    pub(crate) async fn config_crl_read(&self, c: &Ctx<'_>) -> LogicalResult {
        Ok(Response::json(
            serde_json::to_value(self.crl_config(c.view).await?).unwrap_or_default(),
        ))
    }

    pub(crate) async fn config_crl_write(&self, c: &Ctx<'_>) -> LogicalResult {
        let mut cfg = self.crl_config(c.view).await?;
        let f = &c.fields;
        for (name, slot) in [
            ("expiry", &mut cfg.expiry),
            ("ocsp_expiry", &mut cfg.ocsp_expiry),
            (
                "auto_rebuild_grace_period",
                &mut cfg.auto_rebuild_grace_period,
            ),
            ("delta_rebuild_interval", &mut cfg.delta_rebuild_interval),
        ] {
            if let Some(v) = f.get_ok::<String>(name) {
                crate::logical::parse_duration_str(&v).map_err(|_| {
                    LogicalError::bad(format!("given {name} could not be decoded: {v}"))
                })?;
                *slot = v;
            }
        }
        for (name, slot) in [
            ("disable", &mut cfg.disable),
            ("ocsp_disable", &mut cfg.ocsp_disable),
            ("auto_rebuild", &mut cfg.auto_rebuild),
            ("enable_delta", &mut cfg.enable_delta),
            (
                "cross_cluster_revocation",
                &mut cfg.cross_cluster_revocation,
            ),
            ("unified_crl", &mut cfg.unified_crl),
            (
                "unified_crl_on_existing_paths",
                &mut cfg.unified_crl_on_existing_paths,
            ),
        ] {
            if let Some(v) = f.get_ok::<bool>(name) {
                *slot = v;
            }
        }
        c.view.batch(vec![put(CRL_CONFIG, &cfg)?]).await?;
        Ok(Response::json(
            serde_json::to_value(&cfg).unwrap_or_default(),
        ))
    }

    pub(crate) async fn config_urls_read(&self, c: &Ctx<'_>) -> LogicalResult {
        Ok(Response::json(
            serde_json::to_value(self.urls_config(c.view).await?).unwrap_or_default(),
        ))
    }

    pub(crate) async fn config_urls_write(&self, c: &Ctx<'_>) -> LogicalResult {
        let mut cfg = self.urls_config(c.view).await?;
        let f = &c.fields;
        for (name, slot) in [
            ("issuing_certificates", &mut cfg.issuing_certificates),
            ("crl_distribution_points", &mut cfg.crl_distribution_points),
            ("ocsp_servers", &mut cfg.ocsp_servers),
            (
                "delta_crl_distribution_points",
                &mut cfg.delta_crl_distribution_points,
            ),
        ] {
            if let Some(v) = f.get_ok::<Vec<String>>(name) {
                *slot = v;
            }
        }
        if let Some(b) = f.get_ok::<bool>("enable_templating") {
            cfg.enable_templating = b;
        }
        // Bumped: `config/urls` is cached per node (see `urls_config`).
        c.view.batch_bump(vec![put(URLS, &cfg)?]).await?;
        Ok(Response::json(
            serde_json::to_value(&cfg).unwrap_or_default(),
        ))
    }
}
