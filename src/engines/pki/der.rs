//! The few DER primitives the engine needs beyond its crates: reading one
//! TLV (to take PKCS#1 out of PKCS#8 and to walk OCSP requests) and writing
//! TLVs (OCSP responses).

/// Reads one DER TLV: `(tag, contents, rest)`. Only definite lengths up to
/// four length bytes; `None` on anything malformed.
pub(crate) fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | b as usize;
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Writes one TLV.
pub(crate) fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// A SEQUENCE of already encoded parts.
pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for n in [0usize, 5, 127, 128, 300, 70_000] {
            let body = vec![7u8; n];
            let enc = tlv(0x04, &body);
            let (tag, got, rest) = read_tlv(&enc).unwrap();
            assert_eq!((tag, got.len(), rest.len()), (0x04, n, 0));
        }
        assert!(read_tlv(&[0x30, 0x05, 1]).is_none());
        assert!(read_tlv(&[0x30]).is_none());
    }
}
