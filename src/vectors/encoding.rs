//! Byte encodings the vector tools (and the crate's tests) share: big-endian unsigned
//! integers as JWK and raw signatures hold them, and ECDSA signatures in DER.

/// A big-endian unsigned integer without its leading zero bytes (the JWK form of RSA values).
pub fn minimal(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

/// A big-endian unsigned integer left-padded with zeros (or stripped of them) to exactly
/// `len` bytes; `None` when its value does not fit.
pub fn fixed_width(b: &[u8], len: usize) -> Option<Vec<u8>> {
    let m = minimal(b);
    if m.len() > len {
        return None;
    }
    let mut out = vec![0u8; len - m.len()];
    out.extend_from_slice(m);
    Some(out)
}

/// A DER tag-length-value (definite lengths up to 0xffff bytes).
fn der_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match body.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(body);
    out
}

/// An ECDSA signature in Key Vault's raw `r||s` form as DER
/// (`ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`, RFC 3279 section 2.2.3).
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let m = minimal(b);
        let mut v = Vec::with_capacity(m.len() + 1);
        // A positive INTEGER whose first byte has its top bit set needs a leading zero.
        if m.first().is_none_or(|&x| x & 0x80 != 0) {
            v.push(0);
        }
        v.extend_from_slice(m);
        der_tlv(0x02, &v)
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    der_tlv(0x30, &[int(r), int(s)].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(minimal(&[0, 0, 1, 0]), &[1, 0]);
        assert_eq!(minimal(&[0, 0]), &[] as &[u8]);
        assert_eq!(fixed_width(&[0, 0, 1, 2], 3), Some(vec![0, 1, 2]));
        assert_eq!(fixed_width(&[1, 2], 4), Some(vec![0, 0, 1, 2]));
        assert_eq!(fixed_width(&[1, 2, 3], 2), None);
    }

    #[test]
    fn der_encoding() {
        let mut raw = vec![0u8; 64];
        raw[31] = 1;
        raw[32] = 0x80;
        let der = ecdsa_raw_to_der(&raw);
        assert_eq!(der[..5], [0x30, 0x26, 0x02, 0x01, 0x01]);
        assert_eq!(der[5..8], [0x02, 0x21, 0x00]);
        let long = ecdsa_raw_to_der(&[0xffu8; 132]);
        assert_eq!(long[..3], [0x30, 0x81, 0x8a]);
    }
}
