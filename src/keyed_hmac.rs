//! HMAC-SHA256 with the key schedule computed once.
//!
//! HMAC absorbs `key ^ ipad` and `key ^ opad` as one SHA-256 block each
//! before any message byte: two of the four compressions a short message
//! costs. Token lookup (every request) and audit entries (every logged
//! string) use the same key for the life of the process, so [`KeyedHmac`]
//! keeps the two midstates and each MAC starts from copies of them.
//!
//! The `hmac` crate's keyed state can be cloned too, but it cannot be wiped:
//! these midstates are as good as the key for forging MACs, so they live in
//! [`Zeroizing`] buffers (wiped on drop), and so does every per-call copy.

use sha2::digest::consts::U64;
use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

const BLOCK: usize = 64;

fn compress(state: &mut [u32; 8], block: &[u8]) {
    let block: &GenericArray<u8, U64> = GenericArray::from_slice(block);
    sha2::compress256(state, std::slice::from_ref(block));
}

/// An HMAC-SHA256 key with its inner and outer midstates precomputed.
pub(crate) struct KeyedHmac {
    inner: Zeroizing<[u32; 8]>,
    outer: Zeroizing<[u32; 8]>,
}

impl KeyedHmac {
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut k = Zeroizing::new([0u8; BLOCK]);
        if key.len() > BLOCK {
            let mut d = Sha256::digest(key);
            k[..32].copy_from_slice(&d);
            d.as_mut_slice().zeroize();
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut pad = Zeroizing::new([0u8; BLOCK]);
        let mut inner = Zeroizing::new(IV);
        let mut outer = Zeroizing::new(IV);
        for (p, b) in pad.iter_mut().zip(k.iter()) {
            *p = b ^ 0x36;
        }
        compress(&mut inner, &pad[..]);
        for (p, b) in pad.iter_mut().zip(k.iter()) {
            *p = b ^ 0x5c;
        }
        compress(&mut outer, &pad[..]);
        Self { inner, outer }
    }

    /// HMAC-SHA256(key, msg).
    pub(crate) fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let mut st = Zeroizing::new(*self.inner);
        let full = msg.len() - msg.len() % BLOCK;
        for chunk in msg[..full].chunks_exact(BLOCK) {
            compress(&mut st, chunk);
        }
        // The tail, 0x80, zeros and the bit length of ipad block + message.
        let rest = &msg[full..];
        let mut tail = Zeroizing::new([0u8; 2 * BLOCK]);
        tail[..rest.len()].copy_from_slice(rest);
        tail[rest.len()] = 0x80;
        let n = if rest.len() < BLOCK - 8 {
            BLOCK
        } else {
            2 * BLOCK
        };
        let bits = ((BLOCK + msg.len()) as u64).wrapping_mul(8);
        tail[n - 8..n].copy_from_slice(&bits.to_be_bytes());
        for chunk in tail[..n].chunks_exact(BLOCK) {
            compress(&mut st, chunk);
        }
        // Outer: opad block (precomputed) + the 32-byte inner digest.
        let mut block = Zeroizing::new([0u8; BLOCK]);
        for (i, w) in st.iter().enumerate() {
            block[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        block[32] = 0x80;
        block[56..].copy_from_slice(&(((BLOCK + 32) as u64) * 8).to_be_bytes());
        let mut out_st = Zeroizing::new(*self.outer);
        compress(&mut out_st, &block[..]);
        let mut out = [0u8; 32];
        for (i, w) in out_st.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// Appends the lower-case hex of HMAC-SHA256(key, msg) to `out`.
    pub(crate) fn hex_into(&self, msg: &[u8], out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in self.mac(msg) {
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
    }

    /// The lower-case hex of HMAC-SHA256(key, msg).
    pub(crate) fn hex(&self, msg: &[u8]) -> String {
        let mut out = Vec::with_capacity(64);
        self.hex_into(msg, &mut out);
        // Only ASCII hex digits were pushed.
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    fn reference(key: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        m.update(msg);
        m.finalize().into_bytes().into()
    }

    #[test]
    fn equals_the_hmac_crate_for_every_length_boundary() {
        let msg: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for klen in [0usize, 1, 32, 63, 64, 65, 100, 200] {
            let key: Vec<u8> = (0..klen).map(|i| (i * 13) as u8).collect();
            let k = KeyedHmac::new(&key);
            for mlen in 0..msg.len() {
                assert_eq!(
                    k.mac(&msg[..mlen]),
                    reference(&key, &msg[..mlen]),
                    "key {klen} msg {mlen}"
                );
            }
        }
    }

    #[test]
    fn rfc4231_case_2() {
        let k = KeyedHmac::new(b"Jefe");
        assert_eq!(
            k.hex(b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
