//! The CRC32C trailer: what guards handshake packets against corruption in
//! every mode, and every packet in the explicit insecure mode. It detects
//! accidents, never an attacker (anyone can recompute it).

/// Bytes of the trailer.
pub const CRC_LEN: usize = 4;

/// Appends the CRC32C of `out` to it.
pub fn append_crc(out: &mut Vec<u8>) {
    let crc = crc32c::crc32c(out);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// The bytes before a correct trailer, or `None` when the datagram is too
/// short or its trailer does not match.
pub fn strip_crc(datagram: &[u8]) -> Option<&[u8]> {
    let body_len = datagram.len().checked_sub(CRC_LEN)?;
    let (body, trailer) = datagram.split_at(body_len);
    (crc32c::crc32c(body).to_be_bytes() == trailer).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3720 B.4: CRC32C of 32 zero bytes is 0x8a9136aa.
    #[test]
    fn published_vector_and_round_trip() {
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8a91_36aa);
        let mut v = b"lentil".to_vec();
        append_crc(&mut v);
        assert_eq!(strip_crc(&v), Some(&b"lentil"[..]));
        for i in 0..v.len() * 8 {
            let mut b = v.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert_eq!(strip_crc(&b), None);
        }
        assert_eq!(strip_crc(&v[..v.len() - 1]), None);
        assert_eq!(strip_crc(&v[..3]), None);
    }
}
