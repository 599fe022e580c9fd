//! The server's half of the handshake: stateless challenges, and for a
//! challenge response, every check in order (cookie, mode, connect token,
//! the sealed payload) before the caller keeps any state.
//!
//! The cookie is an HMAC-SHA256 (truncated to 16 bytes) under a key made
//! when the server starts, over the client's address, nonce and mode, the
//! server ephemeral key offered and the expiry. The server ephemeral key is
//! shared by every handshake of one cookie period (`COOKIE_LIFETIME`) and
//! dropped two periods after it was made, so answering a request costs one
//! MAC, no key exchange, and a session's keys cannot be rebuilt from what
//! the server still holds once that key is gone. This file keeps nothing
//! per client except the ids of connect tokens already used (bounded).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::crypto::{
    derive_session, packet_key, CookieKey, EphemeralKey, Protection, StaticKey, TokenError,
    TokenKey, UsedTokens, TAG_LEN,
};
use crate::proto::handshake::{protection_for, transcript};
use crate::wire::{self, Accept, Challenge, ChallengeResponse, ConnectRequest, Cookie, RejectCode};
use crate::Config;

/// How long a challenge cookie stays valid.
pub const COOKIE_LIFETIME: Duration = Duration::from_secs(5);
/// Most connect tokens remembered as used at once.
pub const MAX_USED_TOKENS: usize = 65_536;

/// Why a challenge response was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The cookie is not ours, has expired, or does not match: dropped silently.
    BadCookie,
    /// The sealed payload did not open: dropped silently.
    Forged,
    /// Answered with a reject of this code.
    Reject(RejectCode<'static>),
}

/// What a response that checked out yields.
pub struct Opened {
    /// The client's connect payload, opened.
    pub payload: Vec<u8>,
    /// The client id and user data of its connect token, when one was required.
    pub token: Option<(u64, Vec<u8>)>,
    /// The session's packet protection for the server.
    pub protection: Protection,
    /// The accept, sealed for the client (to send, and to repeat if lost).
    pub accept: Accept,
}

/// The server's handshake keys.
pub struct ServerHandshake {
    cookie_key: CookieKey,
    epoch: Instant,
    static_key: StaticKey,
    current: (EphemeralKey, Instant),
    previous: Option<EphemeralKey>,
    token_key: Option<TokenKey>,
    used: UsedTokens,
    insecure: bool,
}

impl std::fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandshake")
            .field("static_key", &self.static_key)
            .field("tokens", &self.token_key.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerHandshake {
    /// Keys for a server with `config` (its static key, token key and mode).
    pub fn new(config: &Config, now: Instant) -> Self {
        ServerHandshake {
            cookie_key: CookieKey::random(),
            epoch: now,
            static_key: config.static_key.clone().unwrap_or_else(StaticKey::random),
            current: (EphemeralKey::random(), now),
            previous: None,
            token_key: config.token_key.clone(),
            used: UsedTokens::new(MAX_USED_TOKENS),
            insecure: config.insecure,
        }
    }

    /// The server's static public key, for clients to pin.
    pub fn static_public_key(&self) -> [u8; 32] {
        self.static_key.public()
    }

    fn millis(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    fn mac(
        &self,
        addr: SocketAddr,
        nonce: u64,
        insecure: bool,
        server_ephemeral: &[u8; 32],
        expires_ms: u64,
    ) -> [u8; 16] {
        let ip = match addr.ip() {
            std::net::IpAddr::V4(ip) => ip.to_ipv6_mapped().octets(),
            std::net::IpAddr::V6(ip) => ip.octets(),
        };
        self.cookie_key.mac(&[
            &ip,
            &addr.port().to_be_bytes(),
            &nonce.to_be_bytes(),
            &[u8::from(insecure)],
            server_ephemeral,
            &expires_ms.to_be_bytes(),
        ])
    }

    fn rotate(&mut self, now: Instant) {
        if now.saturating_duration_since(self.current.1) >= COOKIE_LIFETIME {
            let old = std::mem::replace(&mut self.current, (EphemeralKey::random(), now));
            self.previous = Some(old.0);
        }
    }

    /// The challenge for a request from `addr`, or the reject to send.
    pub fn challenge(
        &mut self,
        addr: SocketAddr,
        req: &ConnectRequest,
        now: Instant,
    ) -> Result<Challenge, RejectCode<'static>> {
        if req.insecure != self.insecure {
            return Err(RejectCode::ModeMismatch {
                server_insecure: self.insecure,
            });
        }
        self.rotate(now);
        let server_ephemeral = self.current.0.public();
        let expires_ms = self.millis(now) + COOKIE_LIFETIME.as_millis() as u64;
        Ok(Challenge {
            nonce: req.nonce,
            server_static: self.static_key.public(),
            server_ephemeral,
            cookie: Cookie {
                expires_ms,
                mac: self.mac(addr, req.nonce, req.insecure, &server_ephemeral, expires_ms),
            },
        })
    }

    /// Whether `resp`'s cookie was issued by this server for `addr` and has
    /// not expired: the first check, one MAC, before anything else is read.
    pub fn cookie_valid(
        &self,
        addr: SocketAddr,
        resp: &ChallengeResponse<'_>,
        now: Instant,
    ) -> bool {
        let now_ms = self.millis(now);
        let expires_ms = resp.cookie.expires_ms;
        let fresh =
            now_ms <= expires_ms && expires_ms <= now_ms + COOKIE_LIFETIME.as_millis() as u64;
        let mac = self.mac(
            addr,
            resp.nonce,
            resp.insecure,
            &resp.server_ephemeral,
            expires_ms,
        );
        let mac_ok = subtle::ConstantTimeEq::ct_eq(&mac[..], &resp.cookie.mac[..]);
        fresh && bool::from(mac_ok)
    }

    fn ephemeral_for(&self, public: &[u8; 32]) -> Option<&EphemeralKey> {
        if self.current.0.public() == *public {
            return Some(&self.current.0);
        }
        self.previous.as_ref().filter(|k| k.public() == *public)
    }

    /// Checks a response whose cookie is valid, from `addr` (this server's
    /// address as the client sees it is `local`), at `now_unix` seconds, and
    /// on success seals an accept of `token` and `window`.
    #[allow(clippy::too_many_arguments)]
    pub fn open_response(
        &mut self,
        resp: &ChallengeResponse<'_>,
        local: SocketAddr,
        now_unix: u64,
        conn_token: u32,
        window: u16,
    ) -> Result<Opened, Refusal> {
        if resp.insecure != self.insecure {
            return Err(Refusal::Reject(RejectCode::ModeMismatch {
                server_insecure: self.insecure,
            }));
        }
        let verified = match (&self.token_key, resp.token.is_empty()) {
            (None, true) => None,
            (Some(key), false) => Some(
                key.open(resp.token, resp.token_expires, local, now_unix)
                    .map_err(|_: TokenError| Refusal::Reject(RejectCode::TokenRefused))?,
            ),
            _ => return Err(Refusal::Reject(RejectCode::TokenRefused)),
        };
        let ephemeral = self
            .ephemeral_for(&resp.server_ephemeral)
            .ok_or(Refusal::BadCookie)?;
        let ee = ephemeral
            .agree(&resp.client_ephemeral)
            .map_err(|_| Refusal::Forged)?;
        let es = self
            .static_key
            .agree(&resp.client_ephemeral)
            .map_err(|_| Refusal::Forged)?;
        let t = transcript(
            resp.version,
            resp.insecure,
            resp.nonce,
            resp.window,
            &resp.cookie,
            &resp.client_ephemeral,
            &resp.server_ephemeral,
            &self.static_key.public(),
            resp.token_expires,
            resp.token,
        );
        let keys = derive_session(t, &ee, &es, verified.as_ref().map(|v| &v.psk));
        let sealed_len = resp.sealed.len() - TAG_LEN;
        let mut payload = vec![0u8; sealed_len];
        payload.copy_from_slice(&resp.sealed[..sealed_len]);
        let tag: [u8; TAG_LEN] = resp.sealed[sealed_len..]
            .try_into()
            .map_err(|_| Refusal::Forged)?;
        packet_key(&keys.c2s_handshake)
            .open(0, resp.header, &mut payload, &tag)
            .map_err(|_| Refusal::Forged)?;
        // Only a client that proved it holds the token's key uses it up.
        if let Some(v) = &verified {
            if !self.used.use_once(v.id, resp.token_expires, now_unix) {
                return Err(Refusal::Reject(RejectCode::TokenRefused));
            }
        }
        let mut sealed = [0u8; wire::ACCEPT_SEALED_LEN];
        sealed[..4].copy_from_slice(&conn_token.to_be_bytes());
        sealed[4..6].copy_from_slice(&window.to_be_bytes());
        let (plain, tag_out) = sealed.split_at_mut(6);
        let tag = packet_key(&keys.s2c_handshake).seal(0, &Accept::associated(resp.nonce), plain);
        tag_out.copy_from_slice(&tag);
        Ok(Opened {
            payload,
            token: verified.map(|v| (v.client_id, v.user_data.clone())),
            protection: protection_for(&keys, self.insecure, false),
            accept: Accept {
                nonce: resp.nonce,
                sealed,
            },
        })
    }
}
