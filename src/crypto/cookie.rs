//! The handshake cookie's MAC: HMAC-SHA256, truncated to 16 bytes, keyed
//! by a random key made when the server starts. It binds whatever the
//! caller hands it (address, nonce, expiry, public keys); it never stores
//! anything per client, and checks in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes of a cookie MAC on the wire.
pub const COOKIE_MAC_LEN: usize = 16;

/// The server's cookie key.
pub struct CookieKey {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(..)")
    }
}

impl CookieKey {
    /// A fresh random key.
    pub fn random() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, key.as_mut());
        CookieKey { key }
    }

    /// The MAC over `parts`, each length-prefixed so no two lists collide.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; COOKIE_MAC_LEN] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref())
            .expect("HMAC takes any key length");
        for part in parts {
            m.update(&(part.len() as u32).to_be_bytes());
            m.update(part);
        }
        let full = m.finalize().into_bytes();
        let mut out = [0u8; COOKIE_MAC_LEN];
        out.copy_from_slice(&full[..COOKIE_MAC_LEN]);
        out
    }

    /// Whether `mac` is the MAC over `parts`, compared in constant time.
    pub fn verify(&self, parts: &[&[u8]], mac: &[u8; COOKIE_MAC_LEN]) -> bool {
        self.mac(parts).ct_eq(mac).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 4231 test case 2 ("Jefe"), through the crate this key uses.
    #[test]
    fn hmac_sha256_rfc4231_vector() {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            m.finalize().into_bytes().to_vec(),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    #[test]
    fn mac_binds_every_part_and_the_key() {
        let k = CookieKey::random();
        let mac = k.mac(&[b"addr", b"nonce"]);
        assert!(k.verify(&[b"addr", b"nonce"], &mac));
        assert!(!k.verify(&[b"addr", b"nonc3"], &mac));
        assert!(!k.verify(&[b"addrn", b"once"], &mac), "length-prefixed");
        let mut bad = mac;
        bad[0] ^= 1;
        assert!(!k.verify(&[b"addr", b"nonce"], &bad));
        assert!(!CookieKey::random().verify(&[b"addr", b"nonce"], &mac));
    }
}
