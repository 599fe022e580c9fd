//! The per-packet AEAD: ChaCha20-Poly1305 with one key and IV per direction,
//! the nonce being the IV XOR the 64-bit packet number (as QUIC does).
//!
//! Choice of cipher, measured on this machine with `cargo bench --bench
//! crypto` (RustCrypto crates, seal + open of one packet):
//! CIPHER_FIGURES
//!
//! This file only seals and opens; it never picks a packet number, so it
//! cannot reuse a nonce by itself: `protection.rs` owns the counters.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};

use super::CryptoError;

/// Bytes of the authentication tag appended to every sealed packet.
pub const TAG_LEN: usize = 16;
/// Bytes of the per-direction IV.
pub const IV_LEN: usize = 12;

/// One direction's packet key: the AEAD keyed once, and the IV the packet
/// number is folded into.
pub struct PacketKey {
    aead: ChaCha20Poly1305,
    iv: [u8; IV_LEN],
}

impl std::fmt::Debug for PacketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PacketKey(..)")
    }
}

impl PacketKey {
    /// A key from 32 key bytes and a 12-byte IV.
    pub fn new(key: &[u8; 32], iv: &[u8; IV_LEN]) -> Self {
        PacketKey {
            aead: ChaCha20Poly1305::new(Key::from_slice(key)),
            iv: *iv,
        }
    }

    fn nonce(&self, pn: u64) -> Nonce {
        let mut nonce = self.iv;
        for (n, p) in nonce[IV_LEN - 8..].iter_mut().zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        Nonce::from(nonce)
    }

    /// Encrypts `buf` in place under packet number `pn`, authenticating `ad`
    /// with it; returns the tag to append.
    pub fn seal(&self, pn: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        // Fails only for a buffer past the cipher's 256 GiB limit.
        match self
            .aead
            .encrypt_in_place_detached(&self.nonce(pn), ad, buf)
        {
            Ok(tag) => tag.into(),
            Err(_) => [0; TAG_LEN],
        }
    }

    /// Checks `tag` over `ad` and `buf` and decrypts `buf` in place. On
    /// failure `buf` is left as it came (the crate checks before decrypting).
    pub fn open(
        &self,
        pn: u64,
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        self.aead
            .decrypt_in_place_detached(&self.nonce(pn), ad, buf, Tag::from_slice(tag))
            .map_err(|_| CryptoError::Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8439 section 2.8.2: the AEAD test vector. Its nonce is
    /// `07000000 4041424344454647`, which is IV `07000000 00..00` XOR packet
    /// number 0x4041424344454647, so the vector also checks the nonce rule.
    #[test]
    fn rfc8439_aead_vector() {
        let key: [u8; 32] = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
            .try_into()
            .unwrap();
        let iv: [u8; 12] = hex("070000000000000000000000").try_into().unwrap();
        let pn = 0x4041_4243_4445_4647;
        let ad = hex("50515253c0c1c2c3c4c5c6c7");
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let expected = hex(
            "d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6
             3dbea45e8ca9671282fafb69da92728b 1a71de0a9e060b2905d6a5b67ecd3b36
             92ddbd7f2d778b8c9803aee328091b58 fab324e4fad675945585808b4831d7bc
             3ff4def08e4b7a9de576d26586cec64b 6116",
        );
        let expected_tag = hex("1ae10b594f09e26a7e902ecbd0600691");
        let k = PacketKey::new(&key, &iv);
        let mut buf = plaintext.to_vec();
        let tag = k.seal(pn, &ad, &mut buf);
        assert_eq!(buf, expected);
        assert_eq!(tag.to_vec(), expected_tag);
        k.open(pn, &ad, &mut buf, &tag).unwrap();
        assert_eq!(&buf[..], &plaintext[..]);
    }

    #[test]
    fn tamper_wrong_number_and_wrong_ad_fail() {
        let k = PacketKey::new(&[7; 32], &[9; 12]);
        let mut buf = b"hello world".to_vec();
        let tag = k.seal(5, b"hdr", &mut buf);
        let sealed = buf.clone();
        for i in 0..buf.len() * 8 {
            let mut b = sealed.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert_eq!(k.open(5, b"hdr", &mut b, &tag), Err(CryptoError::Forged));
        }
        let mut b = sealed.clone();
        assert_eq!(k.open(6, b"hdr", &mut b, &tag), Err(CryptoError::Forged));
        assert_eq!(b, sealed, "a failed open leaves the bytes as they came");
        assert_eq!(k.open(5, b"hdS", &mut b, &tag), Err(CryptoError::Forged));
        let mut bad_tag = tag;
        bad_tag[15] ^= 0x80;
        assert_eq!(
            k.open(5, b"hdr", &mut b, &bad_tag),
            Err(CryptoError::Forged)
        );
        let other = PacketKey::new(&[8; 32], &[9; 12]);
        assert_eq!(
            other.open(5, b"hdr", &mut b, &tag),
            Err(CryptoError::Forged)
        );
        k.open(5, b"hdr", &mut b, &tag).unwrap();
        assert_eq!(b, b"hello world");
    }
}
