//! Packet protection and the key material behind it.
//!
//! This module owns every cryptographic operation lentil performs: the AEAD
//! that seals each packet after the handshake, the reconstruction of packet
//! numbers from their low bits, the replay window, the key schedule (X25519
//! and HKDF-SHA256 over the handshake transcript, key update by packet
//! count), connect tokens minted by a game's backend, the single-use record
//! of tokens, the handshake cookie's MAC and the CRC32C guard of the insecure
//! mode. It is pure and sans-IO: bytes and numbers in, bytes and verdicts
//! out. It never implements a primitive itself (all come from RustCrypto and
//! dalek crates), never compares a secret with `==`, and never keeps a key
//! in memory that is not wiped when dropped.

mod cipher;
mod cookie;
mod crc;
mod pn;
mod protection;
mod replay;
mod schedule;
mod token;
mod used;

pub use cipher::{PacketKey, TAG_LEN};
pub use cookie::{CookieKey, COOKIE_MAC_LEN};
pub use crc::{append_crc, strip_crc, CRC_LEN};
pub use pn::decode_packet_number;
pub use protection::{Protection, Unprotected, KEY_UPDATE_INTERVAL};
pub use replay::{ReplayWindow, REPLAY_WINDOW};
pub use schedule::{
    derive_session, next_secret, packet_key, EphemeralKey, Secret, SessionKeys, StaticKey,
    Transcript, PUBLIC_KEY_LEN,
};
pub use token::{
    ConnectToken, TokenError, TokenKey, VerifiedToken, MAX_SEALED_LEN as MAX_SEALED_TOKEN_LEN,
    MAX_SERVER_ADDRS, MAX_USER_DATA,
};
pub use used::UsedTokens;

/// Why a sealed item did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Shorter than its tag, or its parts do not add up.
    #[error("truncated")]
    Truncated,
    /// The tag does not match: altered, forged, or sealed under another key.
    #[error("authentication failed")]
    Forged,
    /// A packet number already seen, or older than the replay window.
    #[error("replayed")]
    Replayed,
    /// The key exchange gave a non-contributory (all-zero) shared secret.
    #[error("weak public key")]
    WeakKey,
}
