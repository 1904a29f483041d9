//! Building and signing certificates (rcgen), and what the engine reads
//! back out of them (x509-parser): serials, expiry, subjects.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose as Eku, IsCa, KeyPair, KeyUsagePurpose as Ku, PublicKeyData,
    SanType, SerialNumber,
};
use time::OffsetDateTime;

use super::der;
use crate::logical::LogicalError;

/// Everything that goes into one certificate.
#[derive(Debug, Clone, Default)]
pub(crate) struct CertSpec {
    pub(crate) common_name: String,
    pub(crate) dns: Vec<String>,
    pub(crate) emails: Vec<String>,
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) uris: Vec<String>,
    pub(crate) ou: Vec<String>,
    pub(crate) organization: Vec<String>,
    pub(crate) country: Vec<String>,
    pub(crate) locality: Vec<String>,
    pub(crate) province: Vec<String>,
    pub(crate) street_address: Vec<String>,
    pub(crate) postal_code: Vec<String>,
    pub(crate) serial_number: String,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    /// `Some(max_path_length)` for a CA (-1: unlimited).
    pub(crate) ca: Option<i64>,
    pub(crate) key_usage: Vec<String>,
    pub(crate) ext_key_usage: Vec<String>,
    pub(crate) issuing_certificates: Vec<String>,
    pub(crate) crl_distribution_points: Vec<String>,
    pub(crate) ocsp_servers: Vec<String>,
    pub(crate) basic_constraints_non_ca: bool,
}

/// Who signs: the new certificate's own key (a root), or an issuer.
pub(crate) enum Signer<'a> {
    SelfSigned(&'a KeyPair),
    Issuer {
        cert_der: &'a [u8],
        key: &'a KeyPair,
    },
}

fn internal(e: impl std::fmt::Display) -> LogicalError {
    LogicalError::Internal(format!("error signing the certificate: {e}"))
}

fn time_of(unix: i64) -> Result<OffsetDateTime, LogicalError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|_| LogicalError::bad("invalid validity period"))
}

/// A fresh serial: 20 random bytes, positive, no leading zero byte.
pub(crate) fn new_serial() -> Vec<u8> {
    use rand::RngCore;
    let mut b = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut b);
    b[0] = (b[0] & 0x7f).max(1);
    b.to_vec()
}

/// Vault's serial format: lower-case hex bytes joined by `:`.
pub(crate) fn format_serial(bytes: &[u8]) -> String {
    let trimmed: &[u8] = {
        let skip = bytes
            .iter()
            .take_while(|b| **b == 0)
            .count()
            .min(bytes.len().saturating_sub(1));
        &bytes[skip..]
    };
    trimmed
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub(crate) fn parse_serial(s: &str) -> Option<Vec<u8>> {
    let hex: String = s.chars().filter(|c| *c != ':' && *c != '-').collect();
    let hex = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    };
    hex::decode(hex).ok().filter(|b| !b.is_empty())
}

fn key_usage(name: &str) -> Option<Ku> {
    Some(match name {
        "DigitalSignature" => Ku::DigitalSignature,
        "ContentCommitment" => Ku::ContentCommitment,
        "KeyEncipherment" => Ku::KeyEncipherment,
        "DataEncipherment" => Ku::DataEncipherment,
        "KeyAgreement" => Ku::KeyAgreement,
        "CertSign" => Ku::KeyCertSign,
        "CRLSign" => Ku::CrlSign,
        "EncipherOnly" => Ku::EncipherOnly,
        "DecipherOnly" => Ku::DecipherOnly,
        _ => return None,
    })
}

fn ext_key_usage(name: &str) -> Option<Eku> {
    Some(match name {
        "Any" => Eku::Any,
        "ServerAuth" => Eku::ServerAuth,
        "ClientAuth" => Eku::ClientAuth,
        "CodeSigning" => Eku::CodeSigning,
        "EmailProtection" => Eku::EmailProtection,
        "TimeStamping" => Eku::TimeStamping,
        "OCSPSigning" => Eku::OcspSigning,
        _ => return None,
    })
}

/// The Authority Information Access extension (rcgen has none built in).
fn aia_extension(issuing: &[String], ocsp: &[String]) -> CustomExtension {
    // id-ad-ocsp 1.3.6.1.5.5.7.48.1, id-ad-caIssuers 1.3.6.1.5.5.7.48.2
    const OCSP: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    const CA_ISSUERS: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    let mut parts = Vec::new();
    for u in ocsp {
        parts.push(der::seq(&[OCSP, &der::tlv(0x86, u.as_bytes())]));
    }
    for u in issuing {
        parts.push(der::seq(&[CA_ISSUERS, &der::tlv(0x86, u.as_bytes())]));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], der::seq(&refs))
}

fn params(spec: &CertSpec) -> Result<CertificateParams, LogicalError> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for v in &spec.country {
        dn.push(DnType::CountryName, v.as_str());
    }
    for v in &spec.province {
        dn.push(DnType::StateOrProvinceName, v.as_str());
    }
    for v in &spec.locality {
        dn.push(DnType::LocalityName, v.as_str());
    }
    for v in &spec.street_address {
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 9]), v.as_str());
    }
    for v in &spec.postal_code {
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 17]), v.as_str());
    }
    for v in &spec.organization {
        dn.push(DnType::OrganizationName, v.as_str());
    }
    for v in &spec.ou {
        dn.push(DnType::OrganizationalUnitName, v.as_str());
    }
    if !spec.common_name.is_empty() {
        dn.push(DnType::CommonName, spec.common_name.as_str());
    }
    p.distinguished_name = dn;
    let bad_san = |n: &str| LogicalError::bad(format!("invalid subject alternative name {n}"));
    for d in &spec.dns {
        p.subject_alt_names.push(SanType::DnsName(
            d.clone().try_into().map_err(|_| bad_san(d))?,
        ));
    }
    for e in &spec.emails {
        p.subject_alt_names.push(SanType::Rfc822Name(
            e.clone().try_into().map_err(|_| bad_san(e))?,
        ));
    }
    for ip in &spec.ips {
        p.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    for u in &spec.uris {
        p.subject_alt_names
            .push(SanType::URI(u.clone().try_into().map_err(|_| bad_san(u))?));
    }
    let serial = super::certs::parse_serial(&spec.serial_number)
        .ok_or_else(|| LogicalError::Internal("bad serial".into()))?;
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    p.not_before = time_of(spec.not_before)?;
    p.not_after = time_of(spec.not_after)?;
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = rcgen::KeyIdMethod::Sha256;
    match spec.ca {
        Some(n) if n < 0 => {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![Ku::KeyCertSign, Ku::CrlSign];
        }
        Some(n) => {
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(n.min(255) as u8));
            p.key_usages = vec![Ku::KeyCertSign, Ku::CrlSign];
        }
        None => {
            if spec.basic_constraints_non_ca {
                p.is_ca = IsCa::ExplicitNoCa;
            }
            p.key_usages = spec.key_usage.iter().filter_map(|k| key_usage(k)).collect();
            p.extended_key_usages = spec
                .ext_key_usage
                .iter()
                .filter_map(|k| ext_key_usage(k))
                .collect();
        }
    }
    if !spec.crl_distribution_points.is_empty() {
        p.crl_distribution_points = vec![CrlDistributionPoint {
            uris: spec.crl_distribution_points.clone(),
        }];
    }
    if !spec.issuing_certificates.is_empty() || !spec.ocsp_servers.is_empty() {
        p.custom_extensions.push(aia_extension(
            &spec.issuing_certificates,
            &spec.ocsp_servers,
        ));
    }
    Ok(p)
}

/// Signs a certificate for `subject_key`; returns its DER.
pub(crate) fn sign(
    spec: &CertSpec,
    subject_key: &impl PublicKeyData,
    signer: Signer<'_>,
) -> Result<Vec<u8>, LogicalError> {
    let p = params(spec)?;
    let cert = match signer {
        Signer::SelfSigned(key) => p.self_signed(key).map_err(internal)?,
        Signer::Issuer { cert_der, key } => {
            let issuer = rcgen::Issuer::from_ca_cert_der(&cert_der.to_vec().into(), key)
                .map_err(internal)?;
            p.signed_by(subject_key, &issuer).map_err(internal)?
        }
    };
    Ok(cert.der().to_vec())
}

/// PEM text of a DER certificate (no trailing newline).
pub(crate) fn cert_pem(der: &[u8]) -> String {
    super::keys::pem_encode("CERTIFICATE", der)
}

/// The first PEM block's DER, whatever its label.
pub(crate) fn pem_to_der(text: &str) -> Option<Vec<u8>> {
    pem_blocks(text).into_iter().next().map(|(_, d)| d)
}

/// Every PEM block in `text`: (label, DER).
pub(crate) fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(end_label) = after.find("-----") else {
            break;
        };
        let label = after[..end_label].to_string();
        let body_start = &after[end_label + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_start.find(&end_marker) else {
            break;
        };
        let b64: String = body_start[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
            out.push((label, der));
        }
        rest = &body_start[end + end_marker.len()..];
    }
    out
}

/// What the engine needs to know about a certificate it stores or imports.
#[derive(Debug, Clone)]
pub(crate) struct CertInfo {
    pub(crate) serial: String,
    pub(crate) not_after: i64,
    pub(crate) is_ca: bool,
    pub(crate) subject_der: Vec<u8>,
    pub(crate) issuer_der: Vec<u8>,
    pub(crate) spki_der: Vec<u8>,
    /// SHA-1 of the subjectPublicKey bits (OCSP's `issuerKeyHash`).
    pub(crate) key_hash: Vec<u8>,
}

pub(crate) fn inspect(der: &[u8]) -> Option<CertInfo> {
    use sha1_hash::sha1;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let info = CertInfo {
        serial: format_serial(tbs.raw_serial()),
        not_after: tbs.validity.not_after.timestamp(),
        is_ca: tbs.is_ca(),
        subject_der: tbs.subject.as_raw().to_vec(),
        issuer_der: tbs.issuer.as_raw().to_vec(),
        spki_der: tbs.subject_pki.raw.to_vec(),
        key_hash: sha1(&tbs.subject_pki.subject_public_key.data),
    };
    Some(info)
}

/// Whether `child` carries a valid signature by `parent`'s key.
pub(crate) fn signed_by(child: &[u8], parent: &[u8]) -> bool {
    let (Ok((_, c)), Ok((_, p))) = (
        x509_parser::parse_x509_certificate(child),
        x509_parser::parse_x509_certificate(parent),
    ) else {
        return false;
    };
    c.verify_signature(Some(p.public_key())).is_ok()
}

/// SHA-1 through aws-lc-rs (OCSP identifiers only, never for signatures).
pub(crate) mod sha1_hash {
    pub(crate) fn sha1(data: &[u8]) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
            .as_ref()
            .to_vec()
    }
}

/// Go's `time.Duration.String()` for whole seconds: `72h0m0s`, `5m0s`, `30s`.
pub(crate) fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::pki::keys::{KeyType, PrivateKey};

    #[test]
    fn serials_and_durations() {
        assert_eq!(format_serial(&[0x15, 0x62, 0x0a]), "15:62:0a");
        assert_eq!(parse_serial("15:62:0a").unwrap(), vec![0x15, 0x62, 0x0a]);
        assert_eq!(parse_serial("15-62-0a").unwrap(), vec![0x15, 0x62, 0x0a]);
        let s = new_serial();
        assert_eq!(s.len(), 20);
        assert!(s[0] > 0 && s[0] < 0x80);
        assert_eq!(go_duration(259200), "72h0m0s");
        assert_eq!(go_duration(360000), "100h0m0s");
        assert_eq!(go_duration(90), "1m30s");
    }

    #[test]
    fn root_signs_leaf_and_parses_back() {
        let ca_key = PrivateKey::generate(KeyType::Ec, 256).unwrap();
        let now = chrono::Utc::now().timestamp();
        let root = CertSpec {
            common_name: "example.com".into(),
            serial_number: format_serial(&new_serial()),
            not_before: now - 30,
            not_after: now + 3600,
            ca: Some(-1),
            ..Default::default()
        };
        let root_der = sign(&root, &ca_key.pair, Signer::SelfSigned(&ca_key.pair)).unwrap();
        let info = inspect(&root_der).unwrap();
        assert!(info.is_ca);
        let leaf_key = PrivateKey::generate(KeyType::Ec, 256).unwrap();
        let leaf = CertSpec {
            common_name: "a.example.com".into(),
            dns: vec!["a.example.com".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
            serial_number: format_serial(&new_serial()),
            not_before: now - 30,
            not_after: now + 60,
            key_usage: vec!["DigitalSignature".into()],
            ext_key_usage: vec!["ServerAuth".into()],
            issuing_certificates: vec!["http://x/v1/pki/ca".into()],
            ..Default::default()
        };
        let leaf_der = sign(
            &leaf,
            &leaf_key.pair,
            Signer::Issuer {
                cert_der: &root_der,
                key: &ca_key.pair,
            },
        )
        .unwrap();
        assert!(signed_by(&leaf_der, &root_der));
        assert!(!signed_by(&root_der, &leaf_der));
        let li = inspect(&leaf_der).unwrap();
        assert_eq!(li.issuer_der, info.subject_der);
        assert_eq!(li.serial, leaf.serial_number);
        assert!(!li.is_ca);
        let pem = cert_pem(&leaf_der);
        assert_eq!(pem_to_der(&pem).unwrap(), leaf_der);
    }
}
