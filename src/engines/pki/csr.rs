//! Certificate signing requests: parsed and their signature verified
//! (x509-parser) before anything in them is looked at, then their key type
//! and size checked against the role.

use std::net::IpAddr;

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::keys::{key_info, KeyType};
use super::role::Role;
use crate::logical::LogicalError;

/// What the engine takes from a verified CSR.
#[derive(Debug, Clone, Default)]
pub(crate) struct Csr {
    pub(crate) spki_der: Vec<u8>,
    pub(crate) key_type: Option<KeyType>,
    pub(crate) key_bits: u32,
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
    pub(crate) is_ca: bool,
}

/// Parses a PEM (or bare base64 DER) CSR and checks its self-signature.
pub(crate) fn parse(text: &str) -> Result<Csr, LogicalError> {
    let der = match super::certs::pem_blocks(text).into_iter().next() {
        Some((_, d)) => d,
        None => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .unwrap_or_default()
        }
    };
    if der.is_empty() {
        return Err(LogicalError::bad("csr contains no data"));
    }
    let (_, req) = X509CertificationRequest::from_der(&der)
        .map_err(|e| LogicalError::bad(format!("certificate request could not be parsed: {e}")))?;
    let info = &req.certification_request_info;
    let spki = &info.subject_pki;
    let (key_type, key_bits) = match key_info(spki) {
        Some((t, b)) => (Some(t), b),
        None => (None, 0),
    };
    // The verifier refuses RSA keys under 2048 bits outright; such a CSR
    // is refused by the key checks with Vault's message instead.
    let small_rsa = key_type == Some(KeyType::Rsa) && key_bits < 2048;
    if req.verify_signature().is_err() && !small_rsa {
        return Err(LogicalError::bad("request signature invalid"));
    }
    let strings = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
        it.filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let mut csr = Csr {
        spki_der: spki.raw.to_vec(),
        key_type,
        key_bits,
        common_name: strings(&mut info.subject.iter_common_name())
            .into_iter()
            .next()
            .unwrap_or_default(),
        ou: strings(&mut info.subject.iter_organizational_unit()),
        organization: strings(&mut info.subject.iter_organization()),
        country: strings(&mut info.subject.iter_country()),
        locality: strings(&mut info.subject.iter_locality()),
        province: strings(&mut info.subject.iter_state_or_province()),
        ..Default::default()
    };
    if let Some(exts) = req.requested_extensions() {
        for ext in exts {
            match ext {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => csr.dns.push(d.to_string()),
                            GeneralName::RFC822Name(e) => csr.emails.push(e.to_string()),
                            GeneralName::URI(u) => csr.uris.push(u.to_string()),
                            GeneralName::IPAddress(b) => {
                                if let Some(ip) = ip_from_bytes(b) {
                                    csr.ips.push(ip);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::BasicConstraints(bc) => csr.is_ca = bc.ca,
                _ => {}
            }
        }
    }
    Ok(csr)
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Vault's key checks on a CSR: the role's type (unless `any`), its
/// minimum size, and 2048 bits for RSA whatever the role says.
pub(crate) fn check_key(role: &Role, csr: &Csr) -> Result<(), LogicalError> {
    let Some(actual) = csr.key_type else {
        return Err(LogicalError::bad("Unknown key type in CSR"));
    };
    if role.key_type != "any" && role.key_type != actual.name() {
        return Err(LogicalError::bad(format!(
            "role requires keys of type {}",
            role.key_type
        )));
    }
    let bits = csr.key_bits;
    if matches!(actual, KeyType::Rsa | KeyType::Ec) && bits < role.key_bits {
        return Err(LogicalError::bad(format!(
            "role requires a minimum of a {}-bit key, but CSR's key is {} bits",
            role.key_bits, bits
        )));
    }
    check_min_rsa(csr)
}

/// Vault's floor for any RSA key it signs (the CSR's signature was not
/// verifiable below it, so nothing else may accept such a CSR).
pub(crate) fn check_min_rsa(csr: &Csr) -> Result<(), LogicalError> {
    let bits = csr.key_bits;
    if csr.key_type == Some(KeyType::Rsa) && bits < 2048 {
        return Err(LogicalError::bad(format!(
            "Vault requires a minimum of a 2048-bit key, but CSR's key is {bits} bits"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EC CSR of capture 433/435.
    const EC_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----\nMIHSMHoCAQAwGDEWMBQGA1UEAwwNYi5leGFtcGxlLmNvbTBZMBMGByqGSM49AgEG\nCCqGSM49AwEHA0IABM4XgyQGv0BHrmMT+r7dJsFZfuMw6O6GcUTvwGs3bbW7DG3A\nt3CBm+OeKOBQgjqwrFBXyocIz50ZqUEh05pmi/GgADAKBggqhkjOPQQDAgNIADBF\nAiEAsZeGGjnbTxNQ1t/woP0sitUIVPGyjyUHdShX1huYSMYCIAUK7n0fWK5VYsp+\np6N9V1iP91pPMHKb1zKzjq+J/oKv\n-----END CERTIFICATE REQUEST-----\n";

    #[test]
    fn parses_and_checks_an_ec_csr() {
        let csr = parse(EC_CSR).unwrap();
        assert_eq!(csr.common_name, "b.example.com");
        assert_eq!((csr.key_type, csr.key_bits), (Some(KeyType::Ec), 256));
        let rsa_role = Role::default();
        assert_eq!(
            check_key(&rsa_role, &csr).unwrap_err().to_string(),
            "role requires keys of type rsa"
        );
        let any = Role {
            key_type: "any".into(),
            key_bits: 0,
            ..Role::default()
        };
        check_key(&any, &csr).unwrap();
        let big = Role {
            key_type: "ec".into(),
            key_bits: 384,
            ..Role::default()
        };
        assert!(check_key(&big, &csr)
            .unwrap_err()
            .to_string()
            .contains("minimum of a 384-bit"));
    }

    #[test]
    fn garbage_and_tampered_csrs_are_refused() {
        let e = parse(
            "-----BEGIN CERTIFICATE REQUEST-----\nnot a csr\n-----END CERTIFICATE REQUEST-----\n",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "csr contains no data");
        let mut tampered = EC_CSR.replace("Yi5leGFtcGxl", "Yy5leGFtcGxl");
        assert!(parse(&tampered).is_err());
        tampered.clear();
    }
}
