//! Which trusted entry a presented client chain logs in as (Vault's
//! `verifyCredentials`).
//!
//! 1. The leaf must be within its validity period.
//! 2. A pinned (non-CA) entry matches when its certificate is byte-for-byte
//!    the leaf (compared in constant time) and its constraints hold.
//! 3. A CA entry matches when the leaf chains to one of its certificates
//!    (rustls-webpki path building, with the presented intermediates and
//!    every trusted CA certificate as candidate intermediates), the leaf's
//!    extended key usages allow TLS client authentication, no certificate on the path (leaf,
//!    intermediates, the trusted CA itself) is revoked by a stored CRL, and
//!    the entry's constraints hold for the leaf. A revoked path makes path
//!    building try the next one, so a chain that also exists without the
//!    revoked certificate still logs in, as in Vault.
//!
//! Entries are tried in storage order (pinned ones first) and the first
//! match wins. Errors keep Vault's texts.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use subtle::ConstantTimeEq;
use webpki::{EndEntityCert, ExtendedKeyUsageValidator};
use x509_parser::der_parser::num_bigint::BigUint;

use super::entry::CertEntry;
use super::matching::matches_constraints;
use super::x509::{parse_der, rfc3339, CertInfo};

pub(super) const NO_CHAIN: &str = "invalid certificate or no client certificate supplied";
pub(super) const NO_MATCH: &str =
    "no chain matching all constraints could be found for this login certificate";

/// A stored entry with its certificates parsed.
pub(super) struct Trusted {
    pub(super) entry: CertEntry,
    pub(super) certs: Vec<CertInfo>,
}

impl Trusted {
    fn is_ca(&self) -> bool {
        self.certs.first().is_some_and(|c| c.is_ca)
    }
}

/// How one attempt to chain the leaf to one trusted certificate ended.
enum PathResult {
    Verified,
    /// Every path found went through a revoked certificate.
    Revoked,
    /// No path to this certificate (unknown issuer, bad signature, an
    /// expired intermediate...).
    NoPath,
    /// A path exists but cannot be used (wrong key usage...): Go's
    /// verification error, which Vault reports as such.
    Invalid(String),
}

/// The login's verdict: the index of the matched entry and the parsed
/// leaf, or Vault's error text.
pub(super) fn select(
    trusted: &[Trusted],
    chain: &[Vec<u8>],
    revoked: &BTreeSet<String>,
    now: i64,
) -> Result<(usize, CertInfo), String> {
    let Some(leaf_der) = chain.first() else {
        return Err("client certificate must be supplied".into());
    };
    let leaf = parse_der(leaf_der)
        .map_err(|e| format!("failed to verify client's certificate: x509: {e}"))?;
    if now < leaf.not_before {
        return Err(format!(
            "failed to verify client's certificate: x509: certificate has expired or is not yet valid: current time {} is before {}",
            rfc3339(now),
            rfc3339(leaf.not_before)
        ));
    }
    if now > leaf.not_after {
        return Err(format!(
            "failed to verify client's certificate: x509: certificate has expired or is not yet valid: current time {} is after {}",
            rfc3339(now),
            rfc3339(leaf.not_after)
        ));
    }

    for (i, t) in trusted.iter().enumerate().filter(|(_, t)| !t.is_ca()) {
        let Some(pinned) = t.certs.first() else {
            continue;
        };
        let same: bool = pinned.der.ct_eq(&leaf.der).into();
        if same
            && !t.certs.iter().any(|c| revoked.contains(&c.serial))
            && matches_constraints(&t.entry, &leaf)
        {
            return Ok((i, leaf));
        }
    }

    let leaf_cert = CertificateDer::from(leaf_der.as_slice());
    let end_entity = EndEntityCert::try_from(&leaf_cert)
        .map_err(|e| format!("failed to verify client's certificate: x509: {e:?}"))?;
    let mut candidates: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    for t in trusted.iter().filter(|t| t.is_ca()) {
        candidates.extend(
            t.certs
                .iter()
                .map(|c| CertificateDer::from(c.der.as_slice())),
        );
    }

    let mut chained = false;
    let mut invalid = None;
    for (i, t) in trusted.iter().enumerate().filter(|(_, t)| t.is_ca()) {
        for anchor in &t.certs {
            match chain_to(&end_entity, &leaf, anchor, &candidates, revoked, now) {
                PathResult::Verified if !leaf.client_auth_usage => {
                    invalid.get_or_insert(
                        "x509: certificate specifies an incompatible key usage".to_string(),
                    );
                }
                PathResult::Verified => {
                    if matches_constraints(&t.entry, &leaf) {
                        return Ok((i, leaf));
                    }
                    chained = true;
                }
                PathResult::Revoked => chained = true,
                PathResult::NoPath => {}
                PathResult::Invalid(e) => {
                    invalid.get_or_insert(e);
                }
            }
        }
    }
    if chained {
        return Err(NO_MATCH.into());
    }
    match invalid {
        Some(e) => Err(format!("failed to verify client's certificate: {e}")),
        None => Err(NO_CHAIN.into()),
    }
}

fn decimal_serial(raw: &[u8]) -> String {
    BigUint::from_bytes_be(raw).to_string()
}

/// Tries to build a path from the leaf to `anchor` that avoids every
/// revoked certificate.
fn chain_to(
    end_entity: &EndEntityCert<'_>,
    leaf: &CertInfo,
    anchor: &CertInfo,
    candidates: &[CertificateDer<'_>],
    revoked: &BTreeSet<String>,
    now: i64,
) -> PathResult {
    // Go checks the trusted certificate's own validity too.
    if now < anchor.not_before || now > anchor.not_after {
        return PathResult::NoPath;
    }
    let anchor_der = CertificateDer::from(anchor.der.as_slice());
    let Ok(ta) = webpki::anchor_from_trusted_cert(&anchor_der) else {
        return PathResult::NoPath;
    };
    let anchors = [ta];
    let saw_revoked = Cell::new(false);
    let check_path = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
        let hit = revoked.contains(&anchor.serial)
            || revoked.contains(&decimal_serial(path.end_entity().serial()))
            || path
                .intermediate_certificates()
                .any(|c| revoked.contains(&decimal_serial(c.serial())));
        if hit {
            saw_revoked.set(true);
            return Err(webpki::Error::CertRevoked);
        }
        Ok(())
    };
    let time = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).unwrap_or(0)));
    let result = end_entity.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        candidates,
        time,
        AnyUsage,
        None,
        Some(&check_path),
    );
    match result {
        Ok(_) => PathResult::Verified,
        Err(_) if saw_revoked.get() => PathResult::Revoked,
        // webpki refuses a CA certificate as the leaf before looking for
        // its issuer; only say so when a trusted CA issued it.
        Err(webpki::Error::CaUsedAsEndEntity) if leaf.issuer_raw == anchor.subject_raw => {
            PathResult::Invalid("x509: a CA certificate cannot log in as a client".into())
        }
        Err(_) => PathResult::NoPath,
    }
}

/// Accepts any extended key usage while building paths: as in Go, whether
/// the leaf may authenticate a TLS client is judged once a path exists
/// (an untrusted certificate is "invalid", whatever its usages).
struct AnyUsage;

impl ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _usages: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}
