//! The key schedule: X25519 key pairs, the handshake transcript, and
//! HKDF-SHA256 from the shared secrets and the transcript to the four
//! secrets of a session (each side's handshake and packet secrets), and
//! from a packet secret to the next one at a key update.
//!
//! Every secret lives in a [`Secret`] that is wiped when dropped. Nothing
//! here picks a packet number or touches a packet.

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::cipher::{PacketKey, IV_LEN};
use super::CryptoError;

/// Bytes of an X25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;

/// A 32-byte secret, wiped when dropped.
pub type Secret = Zeroizing<[u8; 32]>;

/// A long-lived X25519 key pair: the server's identity a client may pin.
#[derive(Clone)]
pub struct StaticKey {
    secret: StaticSecret,
    public: [u8; PUBLIC_KEY_LEN],
}

/// A short-lived X25519 key pair: one handshake's (client) or one cookie
/// period's (server), dropped soon after so past sessions stay secret.
pub type EphemeralKey = StaticKey;

impl std::fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "X25519Key(public {:02x?}..)", &self.public[..4])
    }
}

impl StaticKey {
    /// A fresh key pair from the operating system's random source.
    pub fn random() -> Self {
        Self::from_secret(StaticSecret::random_from_rng(rand::rngs::OsRng).to_bytes())
    }

    /// The key pair of secret scalar `bytes` (clamped as X25519 specifies).
    pub fn from_secret(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let secret = StaticSecret::from(*bytes);
        let public = PublicKey::from(&secret).to_bytes();
        StaticKey { secret, public }
    }

    /// The secret scalar, for saving a server's identity.
    pub fn secret_bytes(&self) -> Secret {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.public
    }

    /// The shared secret with `peer`; refused when it is all zeros (a
    /// low-order point), which would make the exchange contribute nothing.
    pub fn agree(&self, peer: &[u8; PUBLIC_KEY_LEN]) -> Result<Secret, CryptoError> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*peer));
        if !shared.was_contributory() {
            return Err(CryptoError::WeakKey);
        }
        Ok(Zeroizing::new(shared.to_bytes()))
    }
}

/// The handshake transcript: every value either side could have had swapped,
/// hashed in order, each length-prefixed.
#[derive(Clone, Default)]
pub struct Transcript {
    hash: Sha256,
}

impl Transcript {
    /// An empty transcript, opened with the protocol's label.
    pub fn new() -> Self {
        let mut t = Transcript::default();
        t.add(b"lentil handshake");
        t
    }

    /// Appends one value.
    pub fn add(&mut self, part: &[u8]) -> &mut Self {
        self.hash.update((part.len() as u32).to_be_bytes());
        self.hash.update(part);
        self
    }

    fn finish(self) -> [u8; 32] {
        self.hash.finalize().into()
    }
}

/// The secrets of one session, from the client's (`c2s`) and server's
/// (`s2c`) side: the handshake secrets seal the challenge response's
/// payload and the accept, the packet secrets every data packet.
pub struct SessionKeys {
    /// Seals what the client sends in the handshake.
    pub c2s_handshake: Secret,
    /// Seals what the server sends in the handshake.
    pub s2c_handshake: Secret,
    /// First packet secret, client to server.
    pub c2s_packets: Secret,
    /// First packet secret, server to client.
    pub s2c_packets: Secret,
}

fn expand(prk: &Hkdf<Sha256>, label: &[u8]) -> Secret {
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 8160.
    let _ = prk.expand(label, out.as_mut());
    out
}

/// Derives a session's secrets: HKDF-Extract with the transcript hash as
/// salt over the shared secrets (ephemeral-ephemeral, ephemeral-static) and
/// the pre-shared key (all zeros when there is none), then one Expand per
/// secret with its own label.
pub fn derive_session(
    transcript: Transcript,
    ee: &Secret,
    es: &Secret,
    psk: Option<&Secret>,
) -> SessionKeys {
    let salt = transcript.finish();
    let mut ikm = Zeroizing::new([0u8; 96]);
    ikm[..32].copy_from_slice(ee.as_ref());
    ikm[32..64].copy_from_slice(es.as_ref());
    if let Some(psk) = psk {
        ikm[64..].copy_from_slice(psk.as_ref());
    }
    let prk = Hkdf::<Sha256>::new(Some(&salt), ikm.as_ref());
    SessionKeys {
        c2s_handshake: expand(&prk, b"lentil c2s handshake"),
        s2c_handshake: expand(&prk, b"lentil s2c handshake"),
        c2s_packets: expand(&prk, b"lentil c2s packets"),
        s2c_packets: expand(&prk, b"lentil s2c packets"),
    }
}

/// The packet key (key and IV) of a secret.
pub fn packet_key(secret: &Secret) -> PacketKey {
    let prk = Hkdf::<Sha256>::from_prk(secret.as_ref()).expect("32 bytes is a valid PRK");
    let key = expand(&prk, b"lentil key");
    let mut iv = Zeroizing::new([0u8; IV_LEN]);
    let _ = prk.expand(b"lentil iv", iv.as_mut());
    PacketKey::new(&key, &iv)
}

/// The secret that follows `secret` at a key update.
pub fn next_secret(secret: &Secret) -> Secret {
    let prk = Hkdf::<Sha256>::from_prk(secret.as_ref()).expect("32 bytes is a valid PRK");
    expand(&prk, b"lentil key update")
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
    fn arr(s: &str) -> [u8; 32] {
        hex(s).try_into().unwrap()
    }

    /// RFC 7748 section 6.1: Alice's and Bob's keys and their shared secret.
    #[test]
    fn rfc7748_x25519_vector() {
        let alice = StaticKey::from_secret(arr(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let bob = StaticKey::from_secret(arr(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ));
        assert_eq!(
            alice.public(),
            arr("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        assert_eq!(
            bob.public(),
            arr("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        );
        let shared = arr("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(*alice.agree(&bob.public()).unwrap(), shared);
        assert_eq!(*bob.agree(&alice.public()).unwrap(), shared);
    }

    #[test]
    fn low_order_point_refused() {
        let k = StaticKey::random();
        assert_eq!(k.agree(&[0; 32]).err(), Some(CryptoError::WeakKey));
    }

    /// RFC 5869 test case 1, through the crate the schedule uses.
    #[test]
    fn rfc5869_hkdf_vector() {
        let ikm = [0x0bu8; 22];
        let salt = hex("000102030405060708090a0b0c");
        let info = hex("f0f1f2f3f4f5f6f7f8f9");
        let (prk, hk) = Hkdf::<Sha256>::extract(Some(&salt), &ikm);
        assert_eq!(
            prk.to_vec(),
            hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
        );
        let mut okm = [0u8; 42];
        hk.expand(&info, &mut okm).unwrap();
        assert_eq!(
            okm.to_vec(),
            hex(
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf
                 34007208d5b887185865"
            )
        );
    }

    #[test]
    fn both_sides_derive_the_same_keys_and_any_change_differs() {
        let c = StaticKey::random();
        let s_eph = StaticKey::random();
        let s_static = StaticKey::random();
        let mut t = Transcript::new();
        t.add(b"v3").add(&c.public()).add(&s_eph.public());
        let client = derive_session(
            t.clone(),
            &c.agree(&s_eph.public()).unwrap(),
            &c.agree(&s_static.public()).unwrap(),
            None,
        );
        let server = derive_session(
            t.clone(),
            &s_eph.agree(&c.public()).unwrap(),
            &s_static.agree(&c.public()).unwrap(),
            None,
        );
        assert_eq!(*client.c2s_packets, *server.c2s_packets);
        assert_eq!(*client.s2c_handshake, *server.s2c_handshake);
        assert_ne!(*client.c2s_packets, *client.s2c_packets);
        let ee = c.agree(&s_eph.public()).unwrap();
        let es = c.agree(&s_static.public()).unwrap();
        let mut other = Transcript::new();
        other.add(b"v4").add(&c.public()).add(&s_eph.public());
        let swapped = derive_session(other, &ee, &es, None);
        assert_ne!(*swapped.c2s_packets, *client.c2s_packets);
        let psk = Zeroizing::new([1u8; 32]);
        let with_psk = derive_session(t, &ee, &es, Some(&psk));
        assert_ne!(*with_psk.c2s_packets, *client.c2s_packets);
        assert_ne!(*next_secret(&client.c2s_packets), *client.c2s_packets);
    }
}
