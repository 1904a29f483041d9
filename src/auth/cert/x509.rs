//! What the cert method reads from a certificate, parsed once with
//! x509-parser: names and SANs for the `allowed_*` constraints, extensions
//! for `required_extensions`, the serial for CRLs, the key identifiers and
//! validity for the login's metadata and expiry check.

use std::collections::BTreeMap;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The parts of one certificate the method uses.
#[derive(Debug, Clone, Default)]
pub(super) struct CertInfo {
    pub(super) der: Vec<u8>,
    /// The subject's common name (the last CN attribute, as Go reads it).
    pub(super) common_name: String,
    pub(super) organizational_units: Vec<String>,
    pub(super) dns_names: Vec<String>,
    pub(super) email_addresses: Vec<String>,
    pub(super) uris: Vec<String>,
    /// Extension OID (dotted) → its value read as an ASN.1 string (empty
    /// when it is not one), as Vault's `required_extensions` compares them.
    pub(super) extensions: BTreeMap<String, String>,
    /// Decimal, as Vault keys CRL entries.
    pub(super) serial: String,
    pub(super) subject_key_id: Vec<u8>,
    pub(super) authority_key_id: Vec<u8>,
    pub(super) is_ca: bool,
    /// The extended key usages allow TLS client authentication (or there
    /// are none, or `anyExtendedKeyUsage` is among them).
    pub(super) client_auth_usage: bool,
    pub(super) not_before: i64,
    pub(super) not_after: i64,
    /// The DER subject and issuer names, to tell who issued whom.
    pub(super) subject_raw: Vec<u8>,
    pub(super) issuer_raw: Vec<u8>,
}

/// Parses one DER certificate.
pub(super) fn parse_der(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    let subject = cert.subject();
    let common_name = subject
        .iter_common_name()
        .filter_map(|a| a.as_str().ok())
        .last()
        .unwrap_or_default()
        .to_string();
    let organizational_units = subject
        .iter_organizational_unit()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    let mut info = CertInfo {
        der: der.to_vec(),
        common_name,
        organizational_units,
        serial: cert.serial.to_string(),
        is_ca: cert.is_ca(),
        client_auth_usage: true,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        subject_raw: subject.as_raw().to_vec(),
        issuer_raw: cert.issuer().as_raw().to_vec(),
        ..Default::default()
    };
    for ext in cert.extensions() {
        info.extensions.insert(
            ext.oid.to_id_string(),
            der_string(ext.value).unwrap_or_default(),
        );
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(n) => info.dns_names.push(n.to_string()),
                        GeneralName::RFC822Name(n) => info.email_addresses.push(n.to_string()),
                        GeneralName::URI(n) => info.uris.push(n.to_string()),
                        _ => {}
                    }
                }
            }
            ParsedExtension::SubjectKeyIdentifier(id) => info.subject_key_id = id.0.to_vec(),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                if let Some(id) = &aki.key_identifier {
                    info.authority_key_id = id.0.to_vec();
                }
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                info.client_auth_usage = eku.any || eku.client_auth;
            }
            _ => {}
        }
    }
    Ok(info)
}

/// Every certificate in a PEM text (other blocks are skipped, as Vault's
/// `parsePEM` does); unparsable ones are skipped too.
pub(super) fn parse_pem(pem: &str) -> Vec<CertInfo> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .filter_map(|der| parse_der(der.as_ref()).ok())
        .collect()
}

/// Reads a DER value as one of the ASN.1 string types Go's `asn1.Unmarshal`
/// accepts into a string (UTF8, Printable, IA5, T61, Numeric, General,
/// BMP), as Vault does for `required_extensions` and
/// `allowed_metadata_extensions`.
pub(super) fn der_string(value: &[u8]) -> Option<String> {
    let (&tag, rest) = value.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, body) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    let content = body.get(..len)?;
    match tag {
        // UTF8String, NumericString, PrintableString, T61String, IA5String, GeneralString
        0x0c | 0x12 | 0x13 | 0x14 | 0x16 | 0x1b => {
            std::str::from_utf8(content).ok().map(str::to_string)
        }
        // BMPString: UTF-16 big-endian
        0x1e if content.len() % 2 == 0 => {
            let units: Vec<u16> = content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// Bytes as lower-case hex pairs joined by `:` (Vault's
/// `certutil.GetHexFormatted`).
pub(super) fn hex_colons(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A Unix time as Go's `time.Time` prints it in UTC in x509 errors.
pub(super) fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}
