//! Making and importing CAs: `root/generate/:type`,
//! `intermediate/generate/:type`, `root/sign-intermediate`,
//! `intermediate/set-signed`, `config/ca`, `root/sign-self-issued`.
//! Every change of issuers and keys is one `batch_bump`.

use serde_json::{json, Map, Value};

use super::certs::{self, CertSpec, Signer};
use super::csr;
use super::issue::{apply_ttl, build_spec, issued_chain, render_cert, Mode};
use super::keys::{validate_type_bits, KeyType, PrivateKey};
use super::role::permissive_role;
use super::storage::{
    put, serial_key, CertRecord, IssuerRecord, IssuersConfig, KeyRecord, KeysConfig,
    ISSUERS_CONFIG, KEYS_CONFIG,
};
use super::Pki;
use crate::logical::framework::{Ctx, DefaultValue as D, Field};
use crate::logical::{LogicalError, LogicalResult, Response};
use crate::storage::BatchItem;

pub(crate) const CA_FIELDS: &[Field] = &[
    Field::string("exported", "internal, exported, existing or kms"),
    Field::string("common_name", "The requested common name"),
    Field::string("alt_names", "Requested Subject Alternative Names"),
    Field::comma_strings("ip_sans", "Requested IP SANs"),
    Field::comma_strings("uri_sans", "Requested URI SANs"),
    Field::comma_strings("other_sans", "Requested other SANs"),
    Field::duration("ttl", "The requested Time To Live"),
    Field::string("not_after", "RFC 3339 not after"),
    Field::string("format", "pem, der or pem_bundle").default(D::Str("pem")),
    Field::string("private_key_format", "der, pem or pkcs8").default(D::Str("der")),
    Field::string("key_type", "rsa, ec or ed25519").default(D::Str("rsa")),
    Field::int("key_bits", "Key size").default(D::Int(0)),
    Field::int("signature_bits", "Signature hash size"),
    Field::bool("use_pss", "PSS signatures"),
    Field::int("max_path_length", "Maximum CA path length").default(D::Int(-1)),
    Field::bool("exclude_cn_from_sans", "Do not put the CN in the SANs"),
    Field::comma_strings("permitted_dns_domains", "Name constraints"),
    Field::comma_strings("ou", ""),
    Field::comma_strings("organization", ""),
    Field::comma_strings("country", ""),
    Field::comma_strings("locality", ""),
    Field::comma_strings("province", ""),
    Field::comma_strings("street_address", ""),
    Field::comma_strings("postal_code", ""),
    Field::string("serial_number", ""),
    Field::string("issuer_name", "Name of the new issuer"),
    Field::string("key_name", "Name of the new key"),
    Field::string("key_ref", "Existing key (for type existing)"),
    Field::string("issuer_ref", "The signing issuer").default(D::Str("default")),
    Field::string("csr", "The CSR to sign"),
    Field::bool("use_csr_values", "Copy the CSR's subject and extensions"),
    Field::string("certificate", "PEM certificate(s)"),
    Field::string("pem_bundle", "PEM bundle of certificates and keys"),
    Field::int("not_before_duration", "Backdating").default(D::Int(30)),
    Field::bool("add_basic_constraints", "Add basic constraints to the CSR"),
];

pub(crate) const AIA_WARNING: &str = "This mount hasn't configured any authority information access (AIA) fields; this may make it harder for systems to find missing certificates in the chain or to validate revocation status of certificates. Consider updating /config/urls or the newly generated issuer with this information.";

fn exported_kind(c: &Ctx<'_>) -> Result<String, LogicalError> {
    let e = c.path("exported").to_string();
    match e.as_str() {
        "internal" | "exported" | "existing" => Ok(e),
        "kms" => Err(LogicalError::bad("managed keys are not supported")),
        _ => Err(LogicalError::bad(
            "the \"exported\" path parameter must be \"internal\", \"existing\", exported\" or \"kms\"",
        )),
    }
}

/// The subject of a new CA from the request (any name allowed).
fn ca_spec(c: &Ctx<'_>, warnings: &mut Vec<String>) -> Result<CertSpec, LogicalError> {
    let mut role = permissive_role();
    let f = &c.fields;
    role.ou = f.list("ou");
    role.organization = f.list("organization");
    role.country = f.list("country");
    role.locality = f.list("locality");
    role.province = f.list("province");
    role.street_address = f.list("street_address");
    role.postal_code = f.list("postal_code");
    role.not_before_duration = f.get::<i64>("not_before_duration").unwrap_or(30).max(0) as u64;
    let mut spec = build_spec(c, &role, None, Mode::Issue, warnings)?;
    spec.ca = Some(f.get::<i64>("max_path_length").unwrap_or(-1));
    apply_ttl(c, &role, c.req.mount_ttls, None, &mut spec, warnings, true)?;
    Ok(spec)
}

impl Pki {
    /// A key for a new CA: fresh, or with `existing` the referenced one.
    async fn ca_key(
        &self,
        c: &Ctx<'_>,
        kind: &str,
    ) -> Result<(String, std::sync::Arc<PrivateKey>, bool), LogicalError> {
        if kind == "existing" {
            let r = c.fields.str("key_ref");
            let id = self.resolve_key_id(c.view, &r).await?.ok_or_else(|| {
                LogicalError::bad(format!("unable to find PKI key for reference: {r}"))
            })?;
            let key = self.key(c.view, &id).await?.ok_or_else(|| {
                LogicalError::bad(format!("unable to find PKI key for reference: {r}"))
            })?;
            return Ok((id, key, false));
        }
        let kt = c.fields.str("key_type");
        let bits = validate_type_bits(
            &kt,
            c.fields.get::<i64>("key_bits").unwrap_or(0).clamp(0, 65536) as u32,
        )?;
        let kt = KeyType::parse(&kt)
            .ok_or_else(|| LogicalError::bad(format!("unknown key type {kt}")))?;
        let key = PrivateKey::generate(kt, bits)?;
        Ok((
            uuid::Uuid::new_v4().to_string(),
            std::sync::Arc::new(key),
            true,
        ))
    }

    async fn name_free(&self, c: &Ctx<'_>, name: &str) -> Result<(), LogicalError> {
        if name.is_empty() {
            return Ok(());
        }
        if name == "default" {
            return Err(LogicalError::bad(
                "reserved name \"default\" cannot be used as an issuer or key name",
            ));
        }
        if self
            .all_issuers(c.view)
            .await?
            .iter()
            .any(|i| i.name == name)
        {
            return Err(LogicalError::bad(format!(
                "issuer name already in use: {name}"
            )));
        }
        Ok(())
    }

    /// Batch items that record a new key, and make it the default if none is.
    async fn key_items(
        &self,
        c: &Ctx<'_>,
        id: &str,
        key: &PrivateKey,
        batch: &mut Vec<BatchItem>,
    ) -> Result<(), LogicalError> {
        batch.push(put(
            &format!("keys/{id}"),
            &KeyRecord::new(id.into(), c.fields.str("key_name"), key),
        )?);
        let cfg: KeysConfig = super::storage::get_json(c.view, KEYS_CONFIG)
            .await?
            .unwrap_or_default();
        if cfg.default.is_empty() {
            batch.push(put(KEYS_CONFIG, &KeysConfig { default: id.into() })?);
        }
        Ok(())
    }

    pub(crate) async fn aia_configured(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        let u = self.urls_config(c.view).await?;
        Ok(!(u.issuing_certificates.is_empty()
            && u.crl_distribution_points.is_empty()
            && u.ocsp_servers.is_empty()))
    }

    pub(crate) async fn root_generate(&self, c: &Ctx<'_>) -> LogicalResult {
        let kind = exported_kind(c)?;
        let issuer_name = c.fields.str("issuer_name");
        self.name_free(c, &issuer_name).await?;
        let mut warnings = Vec::new();
        let mut spec = ca_spec(c, &mut warnings)?;
        let (key_id, key, new_key) = self.ca_key(c, &kind).await?;
        let urls = self.urls_config(c.view).await?;
        spec.issuing_certificates = urls.issuing_certificates.clone();
        spec.crl_distribution_points = urls.crl_distribution_points.clone();
        spec.ocsp_servers = urls.ocsp_servers.clone();
        let der = certs::sign(&spec, &key.pair, Signer::SelfSigned(&key.pair))?;
        let info = certs::inspect(&der)
            .ok_or_else(|| LogicalError::Internal("generated certificate does not parse".into()))?;
        let issuer = IssuerRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: issuer_name,
            key_id: key_id.clone(),
            certificate: certs::cert_pem(&der),
            serial: info.serial.clone(),
            not_after: info.not_after,
            subject_der: info.subject_der.clone(),
            key_hash: info.key_hash.clone(),
            ..IssuerRecord::default_usage()
        };
        let mut batch = Vec::new();
        if new_key {
            self.key_items(c, &key_id, &key, &mut batch).await?;
        }
        self.issuer_items(c, &issuer, &mut batch).await?;
        c.view.batch_bump(batch).await?;
        if !self.aia_configured(c).await? {
            warnings.push(AIA_WARNING.into());
        }
        let mut data = Map::new();
        render_cert(
            &mut data,
            &c.fields.str("format"),
            &der,
            &issuer.certificate,
            &[],
        )?;
        data.remove("ca_chain");
        data.insert("expiration".into(), json!(info.not_after));
        data.insert("issuer_id".into(), json!(issuer.id));
        data.insert("issuer_name".into(), json!(issuer.name));
        data.insert("key_id".into(), json!(key_id));
        data.insert("key_name".into(), json!(c.fields.str("key_name")));
        data.insert("serial_number".into(), json!(info.serial));
        if kind == "exported" {
            let kf = if c.fields.str("private_key_format") == "pkcs8" {
                "pkcs8"
            } else {
                ""
            };
            data.insert("private_key".into(), json!(key.export(kf)?));
            data.insert("private_key_type".into(), json!(key.key_type.name()));
        }
        let mut resp = Response::data(data);
        resp.warnings = warnings;
        Ok(resp)
    }

    /// Items that store a new issuer (and its certificate in the cert
    /// store), making it the default when there is none.
    async fn issuer_items(
        &self,
        c: &Ctx<'_>,
        issuer: &IssuerRecord,
        batch: &mut Vec<BatchItem>,
    ) -> Result<(), LogicalError> {
        batch.push(put(&format!("issuers/{}", issuer.id), issuer)?);
        batch.push(put(
            &format!("certs/{}", serial_key(&issuer.serial)),
            &CertRecord {
                certificate: issuer.certificate.clone(),
                issuer_id: issuer.id.clone(),
                not_after: issuer.not_after,
            },
        )?);
        let cfg = self.issuers_config(c.view).await?;
        let default_missing = self.issuer(c.view, &cfg.default).await?.is_none();
        if (default_missing || cfg.default_follows_latest_issuer) && !issuer.key_id.is_empty() {
            batch.push(put(
                ISSUERS_CONFIG,
                &IssuersConfig {
                    default: issuer.id.clone(),
                    default_follows_latest_issuer: cfg.default_follows_latest_issuer,
                },
            )?);
        }
        Ok(())
    }

    pub(crate) async fn intermediate_generate(&self, c: &Ctx<'_>) -> LogicalResult {
        let kind = exported_kind(c)?;
        let mut warnings = Vec::new();
        let role = permissive_role();
        let spec = build_spec(c, &role, None, Mode::Issue, &mut warnings)?;
        let (key_id, key, new_key) = self.ca_key(c, &kind).await?;
        let mut params = rcgen::CertificateParams::new(spec.dns.clone())
            .map_err(|e| LogicalError::bad(format!("invalid names: {e}")))?;
        let mut dn = rcgen::DistinguishedName::new();
        for v in &spec.organization {
            dn.push(rcgen::DnType::OrganizationName, v.as_str());
        }
        for v in &spec.ou {
            dn.push(rcgen::DnType::OrganizationalUnitName, v.as_str());
        }
        if !spec.common_name.is_empty() {
            dn.push(rcgen::DnType::CommonName, spec.common_name.as_str());
        }
        params.distinguished_name = dn;
        for ip in &spec.ips {
            params
                .subject_alt_names
                .push(rcgen::SanType::IpAddress(*ip));
        }
        if c.fields.flag("add_basic_constraints") {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let csr = params
            .serialize_request(&key.pair)
            .map_err(|e| LogicalError::Internal(format!("error creating the CSR: {e}")))?;
        let mut batch = Vec::new();
        if new_key {
            self.key_items(c, &key_id, &key, &mut batch).await?;
            c.view.batch_bump(batch).await?;
        }
        if !self.aia_configured(c).await? {
            warnings.push(format!("{AIA_WARNING} Since this certificate is an intermediate, it might be useful to regenerate this certificate after fixing this problem for the root mount."));
        }
        let mut data = Map::new();
        let der = csr.der().to_vec();
        if c.fields.str("format") == "der" {
            use base64::Engine;
            data.insert(
                "csr".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(&der)),
            );
        } else {
            data.insert(
                "csr".into(),
                json!(super::keys::pem_encode("CERTIFICATE REQUEST", &der)),
            );
        }
        data.insert("key_id".into(), json!(key_id));
        if kind == "exported" {
            let kf = if c.fields.str("private_key_format") == "pkcs8" {
                "pkcs8"
            } else {
                ""
            };
            data.insert("private_key".into(), json!(key.export(kf)?));
            data.insert("private_key_type".into(), json!(key.key_type.name()));
        }
        let mut resp = Response::data(data);
        resp.warnings = warnings;
        Ok(resp)
    }

    pub(crate) async fn sign_intermediate(&self, c: &Ctx<'_>) -> LogicalResult {
        let reference = match c.path("issuer_ref") {
            "" => c.fields.str("issuer_ref"),
            r => r.to_string(),
        };
        let ca = self.ca_signer(c, &reference).await?;
        let text = c.fields.str("csr");
        if text.trim().is_empty() {
            return Err(LogicalError::bad("\"csr\" is empty"));
        }
        let parsed = csr::parse(&text)?;
        csr::check_min_rsa(&parsed)?;
        let mut warnings = Vec::new();
        let role = permissive_role();
        let mode = if c.fields.flag("use_csr_values") {
            Mode::Verbatim
        } else {
            Mode::Sign
        };
        let mut spec = build_spec(c, &role, Some(&parsed), mode, &mut warnings)?;
        spec.ca = Some(c.fields.get::<i64>("max_path_length").unwrap_or(-1));
        apply_ttl(
            c,
            &role,
            c.req.mount_ttls,
            Some(&ca.issuer),
            &mut spec,
            &mut warnings,
            true,
        )?;
        self.apply_urls(c, &ca.issuer, &mut spec).await?;
        let spki = rcgen::SubjectPublicKeyInfo::from_der(&parsed.spki_der)
            .map_err(|_| LogicalError::bad("unsupported public key in the CSR"))?;
        let der = certs::sign(&spec, &spki, ca.signer())?;
        let pem = certs::cert_pem(&der);
        c.view
            .batch(vec![put(
                &format!("certs/{}", serial_key(&spec.serial_number)),
                &CertRecord {
                    certificate: pem.clone(),
                    issuer_id: ca.issuer.id.clone(),
                    not_after: spec.not_after,
                },
            )?])
            .await?;
        let mut chain = vec![pem];
        chain.extend(issued_chain(&ca.issuer, false));
        let mut data = Map::new();
        render_cert(
            &mut data,
            &c.fields.str("format"),
            &der,
            &ca.issuer.certificate,
            &chain,
        )?;
        data.insert("expiration".into(), json!(spec.not_after));
        data.insert("serial_number".into(), json!(spec.serial_number));
        let mut resp = Response::data(data);
        resp.warnings = warnings;
        Ok(resp)
    }

    pub(crate) async fn set_signed(&self, c: &Ctx<'_>) -> LogicalResult {
        let text = c.fields.str("certificate");
        self.import(c, &text, false).await
    }

    pub(crate) async fn config_ca(&self, c: &Ctx<'_>) -> LogicalResult {
        let text = c.fields.str("pem_bundle");
        self.import(c, &text, true).await
    }

    /// Imports certificates (and with `config/ca` private keys) from a PEM
    /// bundle; each new issuer is linked to a key of this mount with the
    /// same public key.
    async fn import(&self, c: &Ctx<'_>, text: &str, keys_allowed: bool) -> LogicalResult {
        if text.trim().is_empty() {
            return Err(LogicalError::bad(
                "'pem_bundle' and 'certificate' parameters were empty",
            ));
        }
        if text.trim().len() < 75 {
            return Err(LogicalError::bad("provided data for import was too short; perhaps a path was passed to the API rather than the contents of a PEM file"));
        }
        let blocks = certs::pem_blocks(text);
        let mut cert_ders = Vec::new();
        let mut new_keys = Vec::new();
        for (label, der) in blocks {
            if label == "CERTIFICATE" {
                cert_ders.push(der);
            } else if label.ends_with("PRIVATE KEY") {
                if !keys_allowed {
                    return Err(LogicalError::bad(
                        "private keys are not accepted here; use config/ca or keys/import",
                    ));
                }
                let pem = super::keys::pem_encode(&label, &der);
                new_keys.push(PrivateKey::from_pem(&pem)?);
            }
        }
        if cert_ders.is_empty() && new_keys.is_empty() {
            return Err(LogicalError::bad("no data found in PEM block"));
        }
        let mut batch = Vec::new();
        // Keys: existing ones by public key, new ones stored.
        let mut key_by_spki: Vec<(String, Vec<u8>)> = Vec::new();
        for id in c.view.list("keys/").await? {
            if let Some(k) = self.key(c.view, &id).await? {
                key_by_spki.push((id, k.spki_der()));
            }
        }
        let mut imported_keys = Vec::new();
        let mut existing_keys = Vec::new();
        for k in new_keys {
            let spki = k.spki_der();
            if let Some((id, _)) = key_by_spki.iter().find(|(_, s)| *s == spki) {
                existing_keys.push(id.clone());
                continue;
            }
            let id = uuid::Uuid::new_v4().to_string();
            self.key_items(c, &id, &k, &mut batch).await?;
            key_by_spki.push((id.clone(), spki));
            imported_keys.push(id);
        }
        let current = self.all_issuers(c.view).await?;
        let mut imported = Vec::new();
        let mut existing = Vec::new();
        let mut mapping = Map::new();
        let mut records = Vec::new();
        let mut default_set = false;
        for der in &cert_ders {
            let info = certs::inspect(der)
                .ok_or_else(|| LogicalError::bad("unable to parse certificate in the bundle"))?;
            let pem = certs::cert_pem(der);
            if let Some(i) = current.iter().find(|i| i.certificate == pem) {
                existing.push(i.id.clone());
                continue;
            }
            let key_id = key_by_spki
                .iter()
                .find(|(_, s)| *s == info.spki_der)
                .map(|(id, _)| id.clone())
                .unwrap_or_default();
            let rec = IssuerRecord {
                id: uuid::Uuid::new_v4().to_string(),
                key_id: key_id.clone(),
                certificate: pem,
                serial: info.serial.clone(),
                not_after: info.not_after,
                subject_der: info.subject_der.clone(),
                key_hash: info.key_hash.clone(),
                ..IssuerRecord::default_usage()
            };
            mapping.insert(rec.id.clone(), json!(key_id));
            imported.push(rec.id.clone());
            records.push(rec);
        }
        // Chains over every issuer, old and new.
        let mut all: Vec<IssuerRecord> = current.iter().map(|i| (**i).clone()).collect();
        all.extend(records.iter().cloned());
        let chains = build_parents(&all);
        for rec in &mut records {
            rec.parents = chains.get(&rec.id).cloned().unwrap_or_default();
            batch.push(put(&format!("issuers/{}", rec.id), &*rec)?);
            batch.push(put(
                &format!("certs/{}", serial_key(&rec.serial)),
                &CertRecord {
                    certificate: rec.certificate.clone(),
                    issuer_id: rec.id.clone(),
                    not_after: rec.not_after,
                },
            )?);
        }
        for old in &current {
            let parents = chains.get(&old.id).cloned().unwrap_or_default();
            if parents != old.parents {
                let mut updated = (**old).clone();
                updated.parents = parents;
                batch.push(put(&format!("issuers/{}", updated.id), &updated)?);
            }
        }
        let cfg = self.issuers_config(c.view).await?;
        if current.iter().all(|i| i.id != cfg.default) || cfg.default_follows_latest_issuer {
            if let Some(first) = records
                .iter()
                .find(|r| !r.key_id.is_empty())
                .or(records.first())
            {
                batch.push(put(
                    ISSUERS_CONFIG,
                    &IssuersConfig {
                        default: first.id.clone(),
                        default_follows_latest_issuer: cfg.default_follows_latest_issuer,
                    },
                )?);
                default_set = true;
            }
        }
        let _ = default_set;
        if !batch.is_empty() {
            c.view.batch_bump(batch).await?;
        }
        let list = |v: Vec<String>| if v.is_empty() { Value::Null } else { json!(v) };
        let mut resp = Response::json(json!({
            "existing_issuers": list(existing),
            "existing_keys": list(existing_keys),
            "imported_issuers": list(imported),
            "imported_keys": list(imported_keys),
            "mapping": mapping,
        }));
        if !self.aia_configured(c).await? {
            resp.warnings.push(AIA_WARNING.into());
        }
        Ok(resp)
    }

    /// `root/sign-self-issued`: re-signs a self-issued CA certificate with
    /// this issuer (its TBS with the issuer name and algorithm replaced).
    pub(crate) async fn sign_self_issued(&self, c: &Ctx<'_>) -> LogicalResult {
        let reference = match c.path("issuer_ref") {
            "" => c.fields.str("issuer_ref"),
            r => r.to_string(),
        };
        let ca = self.ca_signer(c, &reference).await?;
        let text = c.fields.str("certificate");
        let der = certs::pem_to_der(&text)
            .ok_or_else(|| LogicalError::bad("no certificate found in input"))?;
        let info = certs::inspect(&der)
            .ok_or_else(|| LogicalError::bad("unable to parse the certificate"))?;
        if info.subject_der != info.issuer_der {
            return Err(LogicalError::bad("given certificate is not self-issued"));
        }
        if !info.is_ca {
            return Err(LogicalError::bad(
                "given certificate is not a CA certificate",
            ));
        }
        let ca_info = certs::inspect(&ca.cert_der)
            .ok_or_else(|| LogicalError::Internal("issuer certificate does not parse".into()))?;
        let signed = super::resign::resign(&der, &ca_info.subject_der, &ca.key)?;
        let mut data = Map::new();
        data.insert("certificate".into(), json!(certs::cert_pem(&signed)));
        data.insert("issuing_ca".into(), json!(ca.issuer.certificate));
        Ok(Response::data(data))
    }
}

impl IssuerRecord {
    fn default_usage() -> Self {
        IssuerRecord {
            leaf_not_after_behavior: "err".into(),
            usage: "crl-signing,issuing-certificates,ocsp-signing,read-only".into(),
            ..IssuerRecord::default()
        }
    }
}

/// For each issuer, the chain of parents above it: the issuer whose
/// subject is its issuer and whose key verifies its signature, up to a
/// self-signed root.
pub(crate) fn build_parents(
    all: &[IssuerRecord],
) -> std::collections::HashMap<String, Vec<String>> {
    let parsed: Vec<(String, Vec<u8>, Option<certs::CertInfo>, String)> = all
        .iter()
        .map(|i| {
            let der = certs::pem_to_der(&i.certificate).unwrap_or_default();
            let info = certs::inspect(&der);
            (i.id.clone(), der, info, i.certificate.clone())
        })
        .collect();
    let parent_of = |idx: usize| -> Option<usize> {
        let (_, der, info, _) = &parsed[idx];
        let info = info.as_ref()?;
        if info.subject_der == info.issuer_der {
            return None;
        }
        parsed.iter().position(|(_, pder, pinfo, _)| {
            pinfo
                .as_ref()
                .is_some_and(|p| p.subject_der == info.issuer_der)
                && certs::signed_by(der, pder)
        })
    };
    let mut out = std::collections::HashMap::new();
    for idx in 0..parsed.len() {
        let mut chain = Vec::new();
        let mut cur = idx;
        while let Some(p) = parent_of(cur) {
            if chain.len() > 10 || p == idx {
                break;
            }
            chain.push(parsed[p].3.clone());
            cur = p;
        }
        out.insert(parsed[idx].0.clone(), chain);
    }
    out
}
