//! `issue/:role`, `sign/:role`, `sign-verbatim(/:role)` and the
//! `issuer/:ref/...` forms: names and TTL checked against the role, the
//! certificate signed by the issuer, stored unless the role says
//! `no_store`. A `no_store` issue (and no lease) never writes, so a
//! standby or Lambda instance serves it from its cached CA.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::certs::{self, CertSpec, Signer};
use super::csr::{self, Csr};
use super::keys::{validate_type_bits, KeyType, PrivateKey};
use super::names;
use super::role::{permissive_role, Role};
use super::storage::{put, serial_key, CertRecord, IssuerRecord};
use super::Pki;
use crate::logical::framework::{Ctx, DefaultValue as D, Field};
use crate::logical::{LogicalError, LogicalResult, Response};

pub(crate) const ISSUE_FIELDS: &[Field] = &[
    Field::string("role", "The desired role"),
    Field::string("issuer_ref", "Reference to the issuer").default(D::Str("default")),
    Field::string("common_name", "The requested common name"),
    Field::string(
        "alt_names",
        "Requested Subject Alternative Names, comma-separated",
    ),
    Field::comma_strings("ip_sans", "Requested IP SANs"),
    Field::comma_strings("uri_sans", "Requested URI SANs"),
    Field::comma_strings("other_sans", "Requested other SANs"),
    Field::duration("ttl", "The requested Time To Live for the certificate"),
    Field::string(
        "not_after",
        "Set the not after field of the certificate (RFC 3339)",
    ),
    Field::string("format", "pem, der or pem_bundle").default(D::Str("pem")),
    Field::string("private_key_format", "der, pem or pkcs8").default(D::Str("der")),
    Field::bool("exclude_cn_from_sans", "Do not put the CN in the SANs"),
    Field::string("key_type", "Ignored unless the role's key_type is any"),
    Field::int("key_bits", "Ignored unless the role's key_type is any"),
    Field::string("csr", "PEM-format CSR to be signed"),
    Field::string("serial_number", "The Subject's requested serial number"),
    Field::bool(
        "remove_roots_from_chain",
        "Only return non-root certificates in ca_chain",
    ),
    Field::comma_strings("user_ids", "User IDs"),
    Field::int("signature_bits", "Signature hash size"),
    Field::bool("use_pss", "Use PSS signatures"),
    Field::comma_strings("key_usage", "sign-verbatim key usages"),
    Field::comma_strings("ext_key_usage", "sign-verbatim extended key usages"),
    Field::comma_strings(
        "ext_key_usage_oids",
        "sign-verbatim extended key usage OIDs",
    ),
];

/// Where the request came from (changes which checks apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Issue,
    Sign,
    Verbatim,
}

/// The issuer that signs, with its key (cached per node).
pub(crate) struct CaSigner {
    pub(crate) issuer: Arc<IssuerRecord>,
    pub(crate) key: Arc<PrivateKey>,
    pub(crate) cert_der: Vec<u8>,
}

impl CaSigner {
    pub(crate) fn signer(&self) -> Signer<'_> {
        Signer::Issuer {
            cert_der: &self.cert_der,
            key: &self.key.pair,
        }
    }
}

impl Pki {
    /// The issuer named by `reference` and its key, or Vault's 400s.
    pub(crate) async fn ca_signer(
        &self,
        c: &Ctx<'_>,
        reference: &str,
    ) -> Result<CaSigner, LogicalError> {
        let issuer = self
            .resolve_issuer(c.view, reference)
            .await?
            .ok_or_else(|| {
                if reference.is_empty() || reference == "default" {
                    LogicalError::bad("no default issuer currently configured")
                } else {
                    LogicalError::bad(format!(
                        "unable to find PKI issuer for reference: {reference}"
                    ))
                }
            })?;
        let key = self.key(c.view, &issuer.key_id).await?.ok_or_else(|| {
            LogicalError::bad(format!(
                "unable to fetch corresponding key for issuer {}; unable to use this issuer for signing",
                issuer.id
            ))
        })?;
        let cert_der = issuer.cert_der()?;
        Ok(CaSigner {
            issuer,
            key,
            cert_der,
        })
    }

    pub(crate) async fn issue(&self, c: &Ctx<'_>) -> LogicalResult {
        self.issue_or_sign(c, Mode::Issue).await
    }

    pub(crate) async fn sign(&self, c: &Ctx<'_>) -> LogicalResult {
        self.issue_or_sign(c, Mode::Sign).await
    }

    pub(crate) async fn sign_verbatim(&self, c: &Ctx<'_>) -> LogicalResult {
        self.issue_or_sign(c, Mode::Verbatim).await
    }

    async fn issue_or_sign(&self, c: &Ctx<'_>, mode: Mode) -> LogicalResult {
        let role_name = c.path("role").to_string();
        let role: Arc<Role> = if mode == Mode::Verbatim && role_name.is_empty() {
            Arc::new(permissive_role())
        } else {
            match self.role(c, &role_name).await? {
                Some(r) if mode == Mode::Verbatim => {
                    // sign-verbatim with a role: only its TTLs and storage apply.
                    let mut p = permissive_role();
                    p.ttl = r.ttl;
                    p.max_ttl = r.max_ttl;
                    p.no_store = r.no_store;
                    p.generate_lease = r.generate_lease;
                    p.issuer_ref = r.issuer_ref.clone();
                    Arc::new(p)
                }
                Some(r) => r,
                None => return Err(LogicalError::bad(format!("unknown role: {role_name}"))),
            }
        };
        // An `issuer/:ref/...` path names the issuer; else the role's.
        let reference = match c.path("issuer_ref") {
            "" => role.issuer_ref.clone(),
            r => r.to_string(),
        };
        let ca = self.ca_signer(c, &reference).await?;
        let mut warnings = Vec::new();
        let (csr, key) = match mode {
            Mode::Issue => {
                let (kt, bits) = self.leaf_key_type(c, &role, &mut warnings)?;
                (None, Some(PrivateKey::generate(kt, bits)?))
            }
            Mode::Sign | Mode::Verbatim => {
                let text = c.fields.str("csr");
                if text.trim().is_empty() {
                    return Err(LogicalError::bad("\"csr\" is empty"));
                }
                let parsed = csr::parse(&text)?;
                csr::check_key(&role, &parsed)?;
                csr::check_min_rsa(&parsed)?;
                (Some(parsed), None)
            }
        };
        let ttls = c.req.mount_ttls;
        let mut spec = build_spec(c, &role, csr.as_ref(), mode, &mut warnings)?;
        apply_ttl(
            c,
            &role,
            ttls,
            Some(&ca.issuer),
            &mut spec,
            &mut warnings,
            false,
        )?;
        self.apply_urls(c, &ca.issuer, &mut spec).await?;
        let der = match (&key, &csr) {
            (Some(k), _) => certs::sign(&spec, &k.pair, ca.signer())?,
            (None, Some(r)) => {
                let spki = rcgen::SubjectPublicKeyInfo::from_der(&r.spki_der)
                    .map_err(|_| LogicalError::bad("unsupported public key in the CSR"))?;
                certs::sign(&spec, &spki, ca.signer())?
            }
            (None, None) => return Err(LogicalError::Internal("nothing to sign".into())),
        };
        let pem = certs::cert_pem(&der);
        let leased = role.generate_lease;
        if !role.no_store || leased {
            let rec = CertRecord {
                certificate: pem.clone(),
                issuer_id: ca.issuer.id.clone(),
                not_after: spec.not_after,
            };
            c.view
                .batch(vec![put(
                    &format!("certs/{}", serial_key(&spec.serial_number)),
                    &rec,
                )?])
                .await?;
        }
        let mut data = Map::new();
        let chain = issued_chain(&ca.issuer, c.fields.flag("remove_roots_from_chain"));
        let format = c.fields.str("format");
        render_cert(&mut data, &format, &der, &ca.issuer.certificate, &chain)?;
        data.insert("expiration".into(), json!(spec.not_after));
        if mode == Mode::Issue {
            data.insert("not_before".into(), json!(spec.not_before));
        }
        data.insert("serial_number".into(), json!(spec.serial_number));
        if let Some(k) = &key {
            let kf = match (c.fields.str("private_key_format").as_str(), format.as_str()) {
                ("pkcs8", _) => "pkcs8",
                (_, "der") => "der",
                _ => "",
            };
            let exported = k.export(kf)?;
            if format == "pem_bundle" {
                let bundle = format!(
                    "{}\n{}",
                    exported,
                    data["certificate"].as_str().unwrap_or_default()
                );
                data.insert("certificate".into(), json!(bundle));
            }
            data.insert("private_key".into(), json!(exported));
            data.insert("private_key_type".into(), json!(k.key_type.name()));
        }
        let mut resp = Response::data(data);
        resp.warnings = warnings;
        if leased {
            let ttl = (spec.not_after - chrono::Utc::now().timestamp()).max(0) as u64;
            resp.secret = Some(crate::logical::SecretLease {
                id: format!(
                    "{}{}/{}",
                    c.req.mount_point,
                    c.req.relative_path,
                    uuid::Uuid::new_v4()
                ),
                ttl,
                renewable: false,
                internal: json!({ "serial_number": spec.serial_number }),
            });
        }
        Ok(resp)
    }

    /// The key type and size `issue` generates: the role's, or with
    /// `key_type=any` the request's (default rsa 2048).
    fn leaf_key_type(
        &self,
        c: &Ctx<'_>,
        role: &Role,
        warnings: &mut Vec<String>,
    ) -> Result<(KeyType, u32), LogicalError> {
        let asked_type = c.fields.get_ok::<String>("key_type");
        let asked_bits = c.fields.get_ok::<i64>("key_bits");
        if role.key_type == "any" {
            let t = asked_type.unwrap_or_else(|| "rsa".into());
            let bits = validate_type_bits(&t, asked_bits.unwrap_or(0).clamp(0, 65536) as u32)?;
            let kt = KeyType::parse(&t)
                .ok_or_else(|| LogicalError::bad(format!("unknown key type {t}")))?;
            return Ok((kt, bits));
        }
        if asked_type.is_some() || asked_bits.is_some() {
            warnings.push(
                "parameters key_type and key_bits ignored as role had specific values".into(),
            );
        }
        let kt = KeyType::parse(&role.key_type)
            .ok_or_else(|| LogicalError::bad(format!("unknown key type {}", role.key_type)))?;
        let bits = if role.key_bits == 0 {
            kt.default_bits()
        } else {
            role.key_bits
        };
        Ok((kt, bits))
    }

    /// Adds the AIA and CRL URLs of the issuer, else of `config/urls`.
    pub(crate) async fn apply_urls(
        &self,
        c: &Ctx<'_>,
        issuer: &IssuerRecord,
        spec: &mut CertSpec,
    ) -> Result<(), LogicalError> {
        let has_own = !issuer.issuing_certificates.is_empty()
            || !issuer.crl_distribution_points.is_empty()
            || !issuer.ocsp_servers.is_empty();
        if has_own {
            spec.issuing_certificates = issuer.issuing_certificates.clone();
            spec.crl_distribution_points = issuer.crl_distribution_points.clone();
            spec.ocsp_servers = issuer.ocsp_servers.clone();
            return Ok(());
        }
        let urls = self.urls_config(c.view).await?;
        spec.issuing_certificates = urls.issuing_certificates;
        spec.crl_distribution_points = urls.crl_distribution_points;
        spec.ocsp_servers = urls.ocsp_servers;
        Ok(())
    }
}

/// The `ca_chain` an issued certificate comes with: the issuer's chain,
/// optionally without self-signed roots.
pub(crate) fn issued_chain(issuer: &IssuerRecord, remove_roots: bool) -> Vec<String> {
    issuer
        .chain()
        .into_iter()
        .filter(|pem| {
            !remove_roots
                || certs::pem_to_der(pem)
                    .and_then(|d| certs::inspect(&d))
                    .is_none_or(|i| i.subject_der != i.issuer_der)
        })
        .collect()
}

/// `certificate`, `issuing_ca` and `ca_chain` in the requested format.
pub(crate) fn render_cert(
    data: &mut Map<String, Value>,
    format: &str,
    der: &[u8],
    issuing_pem: &str,
    chain: &[String],
) -> Result<(), LogicalError> {
    use base64::Engine;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    match format {
        "der" => {
            data.insert("certificate".into(), json!(b64(der)));
            let to_der = |p: &str| certs::pem_to_der(p).map(|d| b64(&d)).unwrap_or_default();
            data.insert("issuing_ca".into(), json!(to_der(issuing_pem)));
            data.insert(
                "ca_chain".into(),
                json!(chain.iter().map(|p| to_der(p)).collect::<Vec<_>>()),
            );
        }
        "pem" | "pem_bundle" | "" => {
            let pem = certs::cert_pem(der);
            let cert = if format == "pem_bundle" {
                let mut parts = vec![pem.clone()];
                parts.extend(chain.iter().filter(|c| **c != pem).cloned());
                parts.join("\n")
            } else {
                pem
            };
            data.insert("certificate".into(), json!(cert));
            data.insert("issuing_ca".into(), json!(issuing_pem));
            data.insert("ca_chain".into(), json!(chain));
        }
        other => {
            return Err(LogicalError::bad(format!(
                "unknown format \"{other}\"; must be one of pem, der, or pem_bundle"
            )))
        }
    }
    Ok(())
}

fn split_alt_names(raw: &str) -> (Vec<String>, Vec<String>) {
    let mut dns = Vec::new();
    let mut emails = Vec::new();
    let mut all: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    all.sort();
    all.dedup();
    for v in all {
        if v.contains('@') {
            emails.push(v);
        } else {
            dns.push(v);
        }
    }
    (dns, emails)
}

/// Names and subject of the new certificate, each checked against the role
/// (Vault's `generateCreationBundle`).
pub(crate) fn build_spec(
    c: &Ctx<'_>,
    role: &Role,
    csr: Option<&Csr>,
    mode: Mode,
    warnings: &mut Vec<String>,
) -> Result<CertSpec, LogicalError> {
    let f = &c.fields;
    let use_csr_cn = csr.is_some() && (role.use_csr_common_name || mode == Mode::Verbatim);
    let use_csr_sans = csr.is_some() && (role.use_csr_sans || mode == Mode::Verbatim);
    let mut cn = String::new();
    if let (Some(r), true) = (csr, use_csr_cn) {
        cn = r.common_name.clone();
        if !cn.is_empty()
            && f.get_ok::<String>("common_name")
                .is_some_and(|s| !s.is_empty())
            && mode == Mode::Sign
        {
            warnings.push("the common_name field was provided but the role is set with \"use_csr_common_name\" set to true".into());
        }
    }
    if cn.is_empty() {
        cn = f.str("common_name");
        if cn.is_empty() && role.require_cn {
            return Err(LogicalError::bad("the common_name field is required, or must be provided in a CSR with \"use_csr_common_name\" set to true, unless \"require_cn\" is set to false"));
        }
    }
    let (mut dns, mut emails) = match (csr, use_csr_sans) {
        (Some(r), true) => (r.dns.clone(), r.emails.clone()),
        _ => split_alt_names(&f.str("alt_names")),
    };
    if !cn.is_empty() && !f.flag("exclude_cn_from_sans") {
        if cn.contains('@') {
            emails.push(cn.clone());
        } else if !dns.contains(&cn) && is_dns_like(&cn) {
            dns.push(cn.clone());
        }
    }
    if mode != Mode::Verbatim {
        if !cn.is_empty() {
            let bad = !names::cn_shape_ok(role, &cn)
                || names::first_disallowed(role, std::slice::from_ref(&cn)).is_some();
            if bad {
                return Err(LogicalError::bad(format!(
                    "common name {cn} not allowed by this role"
                )));
            }
        }
        if let Some(bad) = names::first_disallowed(role, &dns) {
            return Err(LogicalError::bad(format!(
                "subject alternate name {bad} not allowed by this role"
            )));
        }
        if let Some(bad) = names::first_disallowed(role, &emails) {
            return Err(LogicalError::bad(format!(
                "email address {bad} not allowed by this role"
            )));
        }
    }
    let ips = ip_sans(c, role, csr, use_csr_sans)?;
    let uris = uri_sans(c, role, csr, use_csr_sans, mode)?;
    let (src_ou, src_org, src_country, src_locality, src_province) = match (csr, mode) {
        (Some(r), Mode::Verbatim) => (
            r.ou.clone(),
            r.organization.clone(),
            r.country.clone(),
            r.locality.clone(),
            r.province.clone(),
        ),
        _ => (
            role.ou.clone(),
            role.organization.clone(),
            role.country.clone(),
            role.locality.clone(),
            role.province.clone(),
        ),
    };
    let mut ext = role.ext_key_usage.clone();
    let mut ku = role.key_usage.clone();
    if mode == Mode::Verbatim {
        ku = f.get_ok::<Vec<String>>("key_usage").unwrap_or_else(|| {
            vec![
                "DigitalSignature".into(),
                "KeyAgreement".into(),
                "KeyEncipherment".into(),
            ]
        });
        ext = f.list("ext_key_usage");
    } else {
        for (flag, name) in [
            (role.server_flag, "ServerAuth"),
            (role.client_flag, "ClientAuth"),
            (role.code_signing_flag, "CodeSigning"),
            (role.email_protection_flag, "EmailProtection"),
        ] {
            if flag && !ext.iter().any(|e| e == name) {
                ext.push(name.into());
            }
        }
    }
    Ok(CertSpec {
        common_name: cn,
        dns,
        emails,
        ips,
        uris,
        ou: src_ou,
        organization: src_org,
        country: src_country,
        locality: src_locality,
        province: src_province,
        street_address: role.street_address.clone(),
        postal_code: role.postal_code.clone(),
        serial_number: certs::format_serial(&certs::new_serial()),
        key_usage: ku,
        ext_key_usage: ext,
        basic_constraints_non_ca: role.basic_constraints_valid_for_non_ca,
        ..Default::default()
    })
}

fn is_dns_like(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'*')
}

fn ip_sans(
    c: &Ctx<'_>,
    role: &Role,
    csr: Option<&Csr>,
    from_csr: bool,
) -> Result<Vec<IpAddr>, LogicalError> {
    let ips = match (csr, from_csr) {
        (Some(r), true) => {
            if !r.ips.is_empty() && !role.allow_ip_sans {
                return Err(LogicalError::bad("IP Subject Alternative Names are not allowed in this role, but was provided some via CSR"));
            }
            r.ips.clone()
        }
        _ => {
            let asked = c.fields.list("ip_sans");
            if asked.is_empty() {
                return Ok(vec![]);
            }
            if !role.allow_ip_sans {
                return Err(LogicalError::bad(format!(
                    "IP Subject Alternative Names are not allowed in this role, but was provided [{}]",
                    asked.join(" ")
                )));
            }
            asked
                .iter()
                .map(|v| {
                    v.parse::<IpAddr>().map_err(|_| {
                        LogicalError::bad(format!("the value {v:?} is not a valid IP address"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    if !role.allowed_ip_sans_cidr.is_empty() {
        for ip in &ips {
            let inside = role
                .allowed_ip_sans_cidr
                .iter()
                .any(|cidr| crate::util::cidr_contains(cidr, *ip));
            if !inside {
                return Err(LogicalError::bad(format!(
                    "IP Subject Alternative Name {ip} is not allowed by this role"
                )));
            }
        }
    }
    Ok(ips)
}

fn uri_sans(
    c: &Ctx<'_>,
    role: &Role,
    csr: Option<&Csr>,
    from_csr: bool,
    mode: Mode,
) -> Result<Vec<String>, LogicalError> {
    let (uris, via) = match (csr, from_csr) {
        (Some(r), true) => (r.uris.clone(), "CSR"),
        _ => (c.fields.list("uri_sans"), "the API"),
    };
    if uris.is_empty() || mode == Mode::Verbatim {
        return Ok(uris);
    }
    if role.allowed_uri_sans.is_empty() {
        return Err(LogicalError::bad(format!(
            "URI Subject Alternative Names are not allowed in this role, but were provided via {via}"
        )));
    }
    for u in &uris {
        if !names::uri_allowed(role, u) {
            return Err(LogicalError::bad(format!(
                "URI Subject Alternative Names were provided via {via} which are not valid for this role"
            )));
        }
    }
    Ok(uris)
}

/// Validity: `ttl` (or the role's, or the mount default) capped by the
/// role's `max_ttl` (or the mount max) with Vault's warning; `not_after`
/// instead of a TTL; then the issuer's notAfter per its
/// `leaf_not_after_behavior` (CA signing permits with a warning).
pub(crate) fn apply_ttl(
    c: &Ctx<'_>,
    role: &Role,
    mount_ttls: (u64, u64),
    issuer: Option<&IssuerRecord>,
    spec: &mut CertSpec,
    warnings: &mut Vec<String>,
    signing_ca: bool,
) -> Result<(), LogicalError> {
    let (mount_default, mount_max) = match mount_ttls {
        (0, 0) => (32 * 24 * 3600, 32 * 24 * 3600),
        t => t,
    };
    let mut ttl = c.fields.get::<u64>("ttl").unwrap_or(0);
    let not_after_alt = if role.not_after.is_empty() {
        c.fields.str("not_after")
    } else {
        role.not_after.clone()
    };
    if ttl > 0 && !not_after_alt.is_empty() {
        return Err(LogicalError::bad("Either ttl or not_after should be provided. Both should not be provided in the same request."));
    }
    if ttl == 0 {
        ttl = role.ttl;
    }
    let max = if role.max_ttl > 0 {
        role.max_ttl
    } else {
        mount_max
    };
    if ttl == 0 {
        ttl = mount_default;
    }
    if ttl > max {
        warnings.push(format!(
            "TTL \"{}\" is longer than permitted maxTTL \"{}\", so maxTTL is being used",
            certs::go_duration(ttl),
            certs::go_duration(max)
        ));
        ttl = max;
    }
    let now = chrono::Utc::now().timestamp();
    let mut not_after = if not_after_alt.is_empty() {
        now + ttl as i64
    } else {
        chrono::DateTime::parse_from_rfc3339(&not_after_alt)
            .map_err(|e| LogicalError::bad(format!("parsing time {not_after_alt:?}: {e}")))?
            .timestamp()
    };
    if let Some(ca) = issuer {
        if not_after > ca.not_after {
            let behavior = if signing_ca {
                "permit"
            } else {
                ca.leaf_not_after_behavior.as_str()
            };
            match behavior {
                "permit" => {
                    if signing_ca {
                        warnings.push("The expiration time for the signed certificate is after the CA's expiration time. If the new certificate is not treated as a root, validation paths with the certificate past the issuing CA's expiration time will fail.".into());
                    }
                }
                "truncate" => not_after = ca.not_after,
                _ => {
                    return Err(LogicalError::bad(format!(
                        "cannot satisfy request, as TTL would result in notAfter {} that is beyond the expiration of the CA certificate at {}",
                        rfc3339(not_after),
                        rfc3339(ca.not_after)
                    )))
                }
            }
        }
    }
    spec.not_before = now - role.not_before_duration as i64;
    spec.not_after = not_after;
    Ok(())
}

pub(crate) fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}
