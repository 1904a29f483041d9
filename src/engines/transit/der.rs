//! The little DER RSA keys need: PKCS#1 `RSAPrivateKey` inside PKCS#8
//! (aws-lc-rs's form), its integers (for Vault's backup format), and
//! building it back from them.

use super::TransitError;

fn bad() -> TransitError {
    TransitError::internal("stored RSA key is invalid")
}

/// Reads one TLV; returns (tag, value, rest).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), TransitError> {
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let mut len = 0usize;
        for b in &rest[..n] {
            len = (len << 8) | usize::from(*b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// The PKCS#1 `RSAPrivateKey` DER inside a PKCS#8 `PrivateKeyInfo`.
pub(crate) fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Result<Vec<u8>, TransitError> {
    let (_, seq, _) = tlv(pkcs8)?;
    let (_, _version, rest) = tlv(seq)?;
    let (_, _alg, rest) = tlv(rest)?;
    let (tag, key, _) = tlv(rest)?;
    if tag != 0x04 {
        return Err(bad());
    }
    Ok(key.to_vec())
}

/// n, e, d, p, q, dp, dq, qinv (big-endian, no leading zeros).
pub(crate) fn rsa_components(pkcs8: &[u8]) -> Result<Vec<Vec<u8>>, TransitError> {
    let pkcs1 = pkcs1_from_pkcs8(pkcs8)?;
    let (_, mut seq, _) = tlv(&pkcs1)?;
    let mut out = Vec::new();
    for i in 0..9 {
        let (tag, v, rest) = tlv(seq)?;
        if tag != 0x02 {
            return Err(bad());
        }
        if i > 0 {
            let first = v.iter().position(|b| *b != 0).unwrap_or(v.len());
            out.push(v[first..].to_vec());
        }
        seq = rest;
    }
    Ok(out)
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

fn integer(out: &mut Vec<u8>, v: &[u8]) {
    let first = v.iter().position(|b| *b != 0).unwrap_or(v.len());
    let mut body = v[first..].to_vec();
    if body.first().is_none_or(|b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    out.push(0x02);
    push_len(out, body.len());
    out.extend(body);
}

/// PKCS#1 `RSAPrivateKey` from n, e, d, p, q, dp, dq, qinv.
pub(crate) fn rsa_pkcs1(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    integer(&mut body, &[0]);
    for p in parts {
        integer(&mut body, p);
    }
    let mut out = vec![0x30];
    push_len(&mut out, body.len());
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;

    #[test]
    fn components_rebuild_the_same_key() {
        let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let pkcs8 = kp.as_der().unwrap().as_ref().to_vec();
        let parts = rsa_components(&pkcs8).unwrap();
        assert_eq!(parts.len(), 8);
        assert_eq!(parts[1], vec![1, 0, 1], "e = 65537");
        let pkcs1 = rsa_pkcs1(&parts);
        assert_eq!(pkcs1, pkcs1_from_pkcs8(&pkcs8).unwrap());
        aws_lc_rs::rsa::KeyPair::from_der(&pkcs1).unwrap();
    }
}
