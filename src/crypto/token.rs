//! Connect tokens: what a game's backend mints for one client and one
//! match, and what a server checks before it keeps any state for that
//! client.
//!
//! The backend and its servers share a [`TokenKey`]. A token's private part
//! (client id, user data, the servers it is good for, the session's
//! pre-shared key) is sealed with XChaCha20-Poly1305 under that key, its
//! expiry being associated data; the client receives the sealed part along
//! with its own copy of the pre-shared key, the server list and the expiry,
//! over whatever secure channel the backend already has (HTTPS). This file
//! encodes, seals and opens tokens; it reads no clock (the caller passes
//! unix time) and remembers no token (that is `used.rs`).
//!
//! ```text
//! ConnectToken  "LNTK" | expires u64 | psk [32] | count u8 | address* | len u16 | sealed
//! sealed        nonce [24] | XChaCha20-Poly1305(private) | tag [16]
//! private       client_id u64 | psk [32] | len u16 | user data | count u8 | address*
//! address       4 | ipv4 [4] | port u16    or    6 | ipv6 [16] | port u16
//! ```

use std::net::{IpAddr, SocketAddr};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use super::cipher::TAG_LEN;
use super::schedule::Secret;
use crate::wire::Reader;

/// Most bytes of user data a token carries.
pub const MAX_USER_DATA: usize = 256;
/// Most server addresses a token lists (so a challenge response holding
/// the token, the connect payload and the handshake fields fits one packet).
pub const MAX_SERVER_ADDRS: usize = 8;
const NONCE_LEN: usize = 24;
const MAGIC: &[u8; 4] = b"LNTK";
/// Most bytes of a sealed private part.
pub const MAX_SEALED_LEN: usize =
    NONCE_LEN + 8 + 32 + 2 + MAX_USER_DATA + 1 + MAX_SERVER_ADDRS * 19 + TAG_LEN;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token, or fields that do not fit their bounds.
    #[error("malformed connect token")]
    Malformed,
    /// Not sealed under this server's token key, or altered.
    #[error("connect token not sealed by this backend")]
    Forged,
    /// Its expiry has passed.
    #[error("connect token expired")]
    Expired,
    /// This server's address is not among those it is good for.
    #[error("connect token not for this server")]
    WrongServer,
    /// It was used before (tokens are single use).
    #[error("connect token already used")]
    Reused,
    /// Too much user data, too many or no addresses.
    #[error("connect token fields out of bounds")]
    TooLarge,
}

/// The key a backend and its servers share to seal and open tokens.
pub struct TokenKey {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl Clone for TokenKey {
    fn clone(&self) -> Self {
        TokenKey {
            key: self.key.clone(),
        }
    }
}

impl TokenKey {
    /// A key from 32 bytes (kept by the backend and given to each server).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        TokenKey {
            key: Zeroizing::new(bytes),
        }
    }

    /// A fresh random key.
    pub fn random() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, key.as_mut());
        TokenKey { key }
    }

    fn aead(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(self.key.as_ref()))
    }

    /// Mints a token for `client_id` with `user_data`, good at `servers`
    /// until `expires_unix` (seconds since the Unix epoch).
    pub fn mint(
        &self,
        client_id: u64,
        user_data: &[u8],
        servers: &[SocketAddr],
        expires_unix: u64,
    ) -> Result<ConnectToken, TokenError> {
        if user_data.len() > MAX_USER_DATA || servers.is_empty() || servers.len() > MAX_SERVER_ADDRS
        {
            return Err(TokenError::TooLarge);
        }
        let mut psk = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, psk.as_mut());
        let mut nonce = [0u8; NONCE_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let mut private = Zeroizing::new(Vec::with_capacity(MAX_SEALED_LEN));
        private.extend_from_slice(&client_id.to_be_bytes());
        private.extend_from_slice(psk.as_ref());
        private.extend_from_slice(&(user_data.len() as u16).to_be_bytes());
        private.extend_from_slice(user_data);
        emit_addrs(&mut private, servers);
        let tag = self
            .aead()
            .encrypt_in_place_detached(
                XNonce::from_slice(&nonce),
                &associated(expires_unix),
                &mut private,
            )
            .map_err(|_| TokenError::TooLarge)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + private.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&private);
        sealed.extend_from_slice(&tag);
        Ok(ConnectToken {
            expires_unix,
            psk,
            servers: servers.to_vec(),
            sealed,
        })
    }

    /// Opens a sealed private part and checks its expiry against
    /// `now_unix` and that `server` is listed. Does not check reuse.
    pub fn open(
        &self,
        sealed: &[u8],
        expires_unix: u64,
        server: SocketAddr,
        now_unix: u64,
    ) -> Result<VerifiedToken, TokenError> {
        if sealed.len() < NONCE_LEN + TAG_LEN || sealed.len() > MAX_SEALED_LEN {
            return Err(TokenError::Malformed);
        }
        if now_unix >= expires_unix {
            return Err(TokenError::Expired);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut buf = [0u8; MAX_SEALED_LEN];
        let private = &mut buf[..body.len()];
        private.copy_from_slice(body);
        let opened = self.aead().decrypt_in_place_detached(
            XNonce::from_slice(nonce),
            &associated(expires_unix),
            private,
            Tag::from_slice(tag),
        );
        let result = opened
            .map_err(|_| TokenError::Forged)
            .and_then(|()| parse_private(private, nonce, server));
        zeroize::Zeroize::zeroize(&mut buf[..]);
        result
    }
}

fn associated(expires_unix: u64) -> [u8; 12] {
    let mut ad = [0u8; 12];
    ad[..4].copy_from_slice(MAGIC);
    ad[4..].copy_from_slice(&expires_unix.to_be_bytes());
    ad
}

fn parse_private(
    private: &[u8],
    nonce: &[u8],
    server: SocketAddr,
) -> Result<VerifiedToken, TokenError> {
    let mut r = Reader::new(private);
    let bad = |_| TokenError::Malformed;
    let client_id = r.u64().map_err(bad)?;
    let mut psk = Zeroizing::new([0u8; 32]);
    psk.copy_from_slice(r.bytes(32).map_err(bad)?);
    let len = usize::from(r.u16().map_err(bad)?);
    if len > MAX_USER_DATA {
        return Err(TokenError::Malformed);
    }
    let user_data = r.bytes(len).map_err(bad)?.to_vec();
    let mut listed = false;
    read_addrs(&mut r, |a| listed |= a == server)?;
    if !r.is_empty() {
        return Err(TokenError::Malformed);
    }
    if !listed {
        return Err(TokenError::WrongServer);
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&nonce[..16]);
    Ok(VerifiedToken {
        client_id,
        user_data,
        psk,
        id,
    })
}

fn emit_addrs(out: &mut Vec<u8>, addrs: &[SocketAddr]) {
    out.push(addrs.len() as u8);
    for a in addrs {
        match a.ip() {
            IpAddr::V4(ip) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&a.port().to_be_bytes());
    }
}

fn read_addrs(r: &mut Reader<'_>, mut each: impl FnMut(SocketAddr)) -> Result<(), TokenError> {
    let bad = |_| TokenError::Malformed;
    let count = usize::from(r.u8().map_err(bad)?);
    if count == 0 || count > MAX_SERVER_ADDRS {
        return Err(TokenError::Malformed);
    }
    for _ in 0..count {
        let ip = match r.u8().map_err(bad)? {
            4 => {
                let b: [u8; 4] = r
                    .bytes(4)
                    .map_err(bad)?
                    .try_into()
                    .map_err(|_| TokenError::Malformed)?;
                IpAddr::from(b)
            }
            6 => {
                let b: [u8; 16] = r
                    .bytes(16)
                    .map_err(bad)?
                    .try_into()
                    .map_err(|_| TokenError::Malformed)?;
                IpAddr::from(b)
            }
            _ => return Err(TokenError::Malformed),
        };
        each(SocketAddr::new(ip, r.u16().map_err(bad)?));
    }
    Ok(())
}

/// A token as the client holds it: the sealed part it hands the server,
/// with its own copy of the session's pre-shared key, the servers and the
/// expiry.
#[derive(Clone)]
pub struct ConnectToken {
    /// Seconds since the Unix epoch after which servers refuse it.
    pub expires_unix: u64,
    psk: Secret,
    /// The servers it is good for, in the order to try them.
    pub servers: Vec<SocketAddr>,
    sealed: Vec<u8>,
}

impl std::fmt::Debug for ConnectToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectToken")
            .field("expires_unix", &self.expires_unix)
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}

impl ConnectToken {
    /// The sealed private part, as sent to the server.
    pub fn sealed(&self) -> &[u8] {
        &self.sealed
    }

    /// The pre-shared key the client mixes into the key derivation.
    pub fn psk(&self) -> &Secret {
        &self.psk
    }

    /// The token in its transferable form (what a backend sends to a client).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.expires_unix.to_be_bytes());
        out.extend_from_slice(self.psk.as_ref());
        emit_addrs(&mut out, &self.servers);
        out.extend_from_slice(&(self.sealed.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.sealed);
        out
    }

    /// Reads a token from [`to_bytes`](Self::to_bytes) form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenError> {
        let bad = |_| TokenError::Malformed;
        let mut r = Reader::new(bytes);
        if r.bytes(4).map_err(bad)? != MAGIC {
            return Err(TokenError::Malformed);
        }
        let expires_unix = r.u64().map_err(bad)?;
        let mut psk = Zeroizing::new([0u8; 32]);
        psk.copy_from_slice(r.bytes(32).map_err(bad)?);
        let mut servers = Vec::new();
        read_addrs(&mut r, |a| servers.push(a))?;
        let len = usize::from(r.u16().map_err(bad)?);
        if len > MAX_SEALED_LEN {
            return Err(TokenError::Malformed);
        }
        let sealed = r.bytes(len).map_err(bad)?.to_vec();
        if !r.is_empty() {
            return Err(TokenError::Malformed);
        }
        Ok(ConnectToken {
            expires_unix,
            psk,
            servers,
            sealed,
        })
    }
}

/// What a server learns from a token that opened and checked out.
pub struct VerifiedToken {
    /// The client id the backend vouches for.
    pub client_id: u64,
    /// The backend's user data.
    pub user_data: Vec<u8>,
    /// The session's pre-shared key.
    pub psk: Secret,
    /// The token's identity for the single-use check.
    pub id: [u8; 16],
}

impl std::fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    /// RFC 8439 section 2.8.2, through the crate whose extended-nonce
    /// variant seals tokens.
    #[test]
    fn rfc8439_chacha20poly1305_vector() {
        use chacha20poly1305::ChaCha20Poly1305;
        fn hex(s: &str) -> Vec<u8> {
            let s: String = s.split_whitespace().collect();
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        }
        let key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        let nonce = hex("070000004041424344454647");
        let ad = hex("50515253c0c1c2c3c4c5c6c7");
        let mut buf = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_vec();
        let tag = ChaCha20Poly1305::new(Key::from_slice(&key))
            .encrypt_in_place_detached(chacha20poly1305::Nonce::from_slice(&nonce), &ad, &mut buf)
            .unwrap();
        assert_eq!(
            buf,
            hex(
                "d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6
                 3dbea45e8ca9671282fafb69da92728b 1a71de0a9e060b2905d6a5b67ecd3b36
                 92ddbd7f2d778b8c9803aee328091b58 fab324e4fad675945585808b4831d7bc
                 3ff4def08e4b7a9de576d26586cec64b 6116"
            )
        );
        assert_eq!(tag.to_vec(), hex("1ae10b594f09e26a7e902ecbd0600691"));
    }

    #[test]
    fn mint_transfer_open() {
        let key = TokenKey::random();
        let v6: SocketAddr = "[::1]:7000".parse().unwrap();
        let t = key
            .mint(42, b"account=alice", &[addr(1), v6], 1000)
            .unwrap();
        let t = ConnectToken::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!(t.servers, vec![addr(1), v6]);
        let v = key.open(t.sealed(), t.expires_unix, v6, 999).unwrap();
        assert_eq!(v.client_id, 42);
        assert_eq!(v.user_data, b"account=alice");
        assert_eq!(*v.psk, **t.psk());
        assert!(
            !t.sealed().windows(7).any(|w| w == b"account"),
            "user data sealed"
        );
    }

    #[test]
    fn expiry_server_key_and_tamper_checked() {
        let key = TokenKey::random();
        let t = key.mint(1, &[7; MAX_USER_DATA], &[addr(1)], 1000).unwrap();
        assert_eq!(
            key.open(t.sealed(), 1000, addr(1), 1000).err(),
            Some(TokenError::Expired)
        );
        assert_eq!(
            key.open(t.sealed(), 1000, addr(2), 10).err(),
            Some(TokenError::WrongServer)
        );
        assert_eq!(
            key.open(t.sealed(), 2000, addr(1), 10).err(),
            Some(TokenError::Forged),
            "expiry is bound"
        );
        assert_eq!(
            TokenKey::random().open(t.sealed(), 1000, addr(1), 10).err(),
            Some(TokenError::Forged)
        );
        for i in 0..t.sealed().len() {
            let mut s = t.sealed().to_vec();
            s[i] ^= 0x10;
            assert!(key.open(&s, 1000, addr(1), 10).is_err());
        }
        assert!(key.open(&t.sealed()[..30], 1000, addr(1), 10).is_err());
        assert_eq!(
            key.mint(1, &[0; MAX_USER_DATA + 1], &[addr(1)], 5).err(),
            Some(TokenError::TooLarge)
        );
        let many: Vec<_> = (0..=MAX_SERVER_ADDRS as u16).map(addr).collect();
        assert_eq!(key.mint(1, b"", &many, 5).err(), Some(TokenError::TooLarge));
        let full: Vec<_> = (0..MAX_SERVER_ADDRS as u16)
            .map(|p| SocketAddr::from(([0u16; 8], p)))
            .collect();
        let big = key.mint(1, &[0; MAX_USER_DATA], &full, 5).unwrap();
        assert_eq!(big.sealed().len(), MAX_SEALED_LEN);
    }

    #[test]
    fn malformed_bytes_are_errors() {
        let key = TokenKey::random();
        let bytes = key.mint(1, b"x", &[addr(1)], 9).unwrap().to_bytes();
        for cut in 0..bytes.len() {
            assert!(ConnectToken::from_bytes(&bytes[..cut]).is_err());
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(ConnectToken::from_bytes(&extra).is_err());
    }
}
