//! The OCSP responder (RFC 6960): `ocsp` (POST, DER body) and
//! `ocsp/<base64 request>` (GET). Each answer is a BasicOCSPResponse
//! signed by the issuer that issued the certificate asked about; the
//! request's nonce is echoed. Nothing is written, so every node answers.

use super::certs::sha1_hash::sha1;
use super::der::{read_tlv, seq, tlv};
use super::resign::{alg_id, bit_string, sign_raw};
use super::storage::{get_json, serial_key, CertRecord, IssuerRecord, RevokedRecord};
use super::Pki;
use crate::logical::framework::Ctx;
use crate::logical::{LogicalResult, Response};

const SHA1_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a];
const SHA256_OID: &[u8] = &[
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
];
const NONCE_OID: &[u8] = &[
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02,
];
const BASIC_OID: &[u8] = &[
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01,
];

/// OCSP response statuses.
const MALFORMED: u8 = 1;
const INTERNAL: u8 = 2;
const UNAUTHORIZED: u8 = 6;

fn status_only(status: u8) -> Vec<u8> {
    seq(&[&tlv(0x0a, &[status])])
}

fn answer(der: Vec<u8>) -> Response {
    Response {
        binary: Some(("application/ocsp-response", der)),
        ..Default::default()
    }
}

fn generalized(unix: i64) -> Vec<u8> {
    let t = chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default();
    tlv(0x18, t.format("%Y%m%d%H%M%SZ").to_string().as_bytes())
}

/// One parsed CertID: (raw DER, hash algorithm OID, name hash, key hash, serial bytes).
struct CertId<'a> {
    raw: Vec<u8>,
    alg_oid: &'a [u8],
    name_hash: &'a [u8],
    key_hash: &'a [u8],
    serial: &'a [u8],
}

/// The first request's CertID and the nonce extension (if any).
fn parse_request(der: &[u8]) -> Option<(CertId<'_>, Option<Vec<u8>>)> {
    let (_, req, _) = read_tlv(der)?;
    let (_, tbs, _) = read_tlv(req)?;
    let mut rest = tbs;
    let mut list = None;
    let mut nonce = None;
    while !rest.is_empty() {
        let (tag, body, r) = read_tlv(rest)?;
        match tag {
            0x30 if list.is_none() => list = Some(body),
            0xa2 => nonce = find_nonce(body),
            _ => {}
        }
        rest = r;
    }
    let (_, first, _) = read_tlv(list?)?; // Request
    let (tag, cert_id, _) = read_tlv(first)?;
    if tag != 0x30 {
        return None;
    }
    let (_, alg, r) = read_tlv(cert_id)?;
    let (_, alg_oid_body, _) = read_tlv(alg)?;
    let alg_oid_len = alg.len() - read_tlv(alg)?.2.len();
    let (_, name_hash, r) = read_tlv(r)?;
    let (_, key_hash, r) = read_tlv(r)?;
    let (_, serial, _) = read_tlv(r)?;
    let _ = alg_oid_body;
    Some((
        CertId {
            raw: tlv(0x30, cert_id),
            alg_oid: &alg[..alg_oid_len],
            name_hash,
            key_hash,
            serial,
        },
        nonce,
    ))
}

/// The nonce Extension (whole DER) inside `[2] Extensions`.
fn find_nonce(explicit: &[u8]) -> Option<Vec<u8>> {
    let (_, exts, _) = read_tlv(explicit)?;
    let mut rest = exts;
    while !rest.is_empty() {
        let (_, ext, r) = read_tlv(rest)?;
        if ext.starts_with(NONCE_OID) {
            return Some(tlv(0x30, ext));
        }
        rest = r;
    }
    None
}

fn hash(alg: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    if alg == SHA1_OID {
        Some(sha1(data))
    } else if alg == SHA256_OID {
        Some(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
                .as_ref()
                .to_vec(),
        )
    } else {
        None
    }
}

impl Pki {
    pub(crate) async fn ocsp_post(&self, c: &Ctx<'_>) -> LogicalResult {
        let body = c.req.raw_body.clone().unwrap_or_default();
        self.ocsp_answer(c, &body).await
    }

    pub(crate) async fn ocsp_get(&self, c: &Ctx<'_>) -> LogicalResult {
        use base64::Engine;
        let raw = c.path("req");
        let der = base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(raw.as_bytes()))
            .unwrap_or_default();
        self.ocsp_answer(c, &der).await
    }

    async fn ocsp_answer(&self, c: &Ctx<'_>, der: &[u8]) -> LogicalResult {
        let Some((id, nonce)) = parse_request(der) else {
            return Ok(answer(status_only(MALFORMED)));
        };
        let mut found: Option<std::sync::Arc<IssuerRecord>> = None;
        for i in self.all_issuers(c.view).await? {
            let name_ok = hash(id.alg_oid, &i.subject_der).is_some_and(|h| h == id.name_hash);
            let key_ok = if id.alg_oid == SHA1_OID {
                i.key_hash == id.key_hash
            } else {
                super::certs::pem_to_der(&i.certificate)
                    .and_then(|d| super::certs::inspect(&d))
                    .and_then(|info| {
                        x509_parser::parse_x509_certificate(&super::certs::pem_to_der(
                            &i.certificate,
                        )?)
                        .ok()
                        .and_then(|(_, x)| {
                            hash(
                                id.alg_oid,
                                &x.tbs_certificate.subject_pki.subject_public_key.data,
                            )
                        })
                        .map(|h| (h, info))
                    })
                    .is_some_and(|(h, _)| h == id.key_hash)
            };
            if name_ok && key_ok && !i.key_id.is_empty() {
                found = Some(i);
                break;
            }
        }
        let Some(issuer) = found else {
            return Ok(answer(status_only(UNAUTHORIZED)));
        };
        let Some(key) = self.key(c.view, &issuer.key_id).await? else {
            return Ok(answer(status_only(UNAUTHORIZED)));
        };
        let serial = super::certs::format_serial(id.serial);
        let skey = serial_key(&serial);
        let now = chrono::Utc::now().timestamp();
        let cert: Option<CertRecord> = get_json(c.view, &format!("certs/{skey}")).await?;
        let revoked: Option<RevokedRecord> = get_json(c.view, &format!("revoked/{skey}")).await?;
        let status = match (cert, revoked) {
            (_, Some(r)) => tlv(0xa1, &generalized(r.revocation_time)),
            (Some(cr), None) if cr.issuer_id == issuer.id || cr.issuer_id.is_empty() => {
                vec![0x80, 0x00]
            }
            _ => vec![0x82, 0x00],
        };
        let single = seq(&[
            &id.raw,
            &status,
            &generalized(now),
            &tlv(0xa0, &generalized(now + 12 * 3600)),
        ]);
        let responder = tlv(0xa2, &tlv(0x04, &issuer.key_hash));
        let mut parts: Vec<Vec<u8>> = vec![responder, generalized(now), seq(&[&single])];
        if let Some(n) = nonce {
            parts.push(tlv(0xa1, &seq(&[&n])));
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let tbs = seq(&refs);
        let sig = match sign_raw(&key, &tbs) {
            Ok(s) => s,
            Err(_) => return Ok(answer(status_only(INTERNAL))),
        };
        let basic = seq(&[&tbs, alg_id(&key), &bit_string(&sig)]);
        let bytes = seq(&[BASIC_OID, &tlv(0x04, &basic)]);
        let resp = seq(&[&tlv(0x0a, &[0]), &tlv(0xa0, &bytes)]);
        Ok(answer(resp))
    }
}
