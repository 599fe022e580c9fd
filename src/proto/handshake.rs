//! The connection handshake, client side; the server's half is in
//! `server_handshake.rs`.
//!
//! ```text
//! client                                     server
//!   ConnectRequest(version, nonce, mode, pad) -->  stateless: keys and a cookie
//!      <-- Challenge(nonce, static key, ephemeral key, cookie)  (never larger)
//!   ChallengeResponse(ephemeral key, cookie, token, sealed payload) -->
//!                                         cookie, token, then the sealed payload
//!                                         check out: now, and only now, ask the
//!      <-- Accept(sealed token, window) | Reject(reason)   application, keep state
//! ```
//!
//! The client answers the first challenge it can use with an ephemeral
//! X25519 key of its own; both sides derive the session's keys from the
//! two exchanges (ephemeral-ephemeral, client ephemeral with server static)
//! and the token's pre-shared key, salted with the whole transcript. The
//! client's payload and the server's accept are sealed under those keys, so
//! each side knows the other derived the same ones. It never keeps a secret
//! past the handshake except the session keys it hands on.

use std::time::{Duration, Instant};

use crate::crypto::{
    derive_session, packet_key, ConnectToken, EphemeralKey, Protection, SessionKeys, Transcript,
    TAG_LEN,
};
use crate::wire::{
    self, Accept, Challenge, ConnectRequest, Cookie, Packet, RejectCode, ResponseHeader,
};
use crate::{Config, RejectReason};

/// The transcript both sides hash, in one place so they cannot drift apart.
#[allow(clippy::too_many_arguments)]
pub(crate) fn transcript(
    client_version: u16,
    insecure: bool,
    nonce: u64,
    window: u16,
    cookie: &Cookie,
    client_ephemeral: &[u8; 32],
    server_ephemeral: &[u8; 32],
    server_static: &[u8; 32],
    token_expires: u64,
    token: &[u8],
) -> Transcript {
    let mut t = Transcript::new();
    t.add(&client_version.to_be_bytes())
        .add(&wire::PROTOCOL_VERSION.to_be_bytes())
        .add(&[u8::from(insecure)])
        .add(&nonce.to_be_bytes())
        .add(&window.to_be_bytes())
        .add(&cookie.to_bytes())
        .add(client_ephemeral)
        .add(server_ephemeral)
        .add(server_static)
        .add(&token_expires.to_be_bytes())
        .add(token);
    t
}

/// The session's packet protection for one side.
pub(crate) fn protection_for(keys: &SessionKeys, insecure: bool, client: bool) -> Protection {
    if insecure {
        return Protection::Crc;
    }
    let (send, recv) = if client {
        (&keys.c2s_packets, &keys.s2c_packets)
    } else {
        (&keys.s2c_packets, &keys.c2s_packets)
    };
    Protection::sealed(send.clone(), recv.clone())
}

/// A challenge answered: the response to repeat and the keys it was sealed with.
struct Answered {
    response: Vec<u8>,
    keys: SessionKeys,
}

/// Client side of the handshake.
pub struct ClientHandshake {
    nonce: u64,
    window: u16,
    payload: Vec<u8>,
    insecure: bool,
    pinned: Option<[u8; 32]>,
    token: Option<ConnectToken>,
    ephemeral: EphemeralKey,
    answered: Option<Answered>,
    protection: Option<Protection>,
    started: Instant,
    last_sent: Option<Instant>,
    resend_interval: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("nonce", &self.nonce)
            .field("answered", &self.answered.is_some())
            .finish_non_exhaustive()
    }
}

/// What the client learned from a handshake packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeOutcome {
    /// Accepted: the connection token and the server's receive window.
    /// The session's protection is then taken with
    /// [`ClientHandshake::take_protection`].
    Accepted {
        /// Connection token.
        token: u32,
        /// The server's receive window.
        window: u16,
    },
    /// Refused, with the server's reason.
    Rejected(RejectReason),
}

impl ClientHandshake {
    /// Starts a handshake with a random `nonce` and a fresh ephemeral key.
    pub fn new(config: &Config, nonce: u64, now: Instant) -> Self {
        ClientHandshake {
            nonce,
            window: config.reliable_window,
            payload: config.connect_payload.clone(),
            insecure: config.insecure,
            pinned: config.server_public_key,
            token: config.connect_token.clone(),
            ephemeral: EphemeralKey::random(),
            answered: None,
            protection: None,
            started: now,
            last_sent: None,
            resend_interval: config.handshake_resend_interval,
            timeout: config.timeout,
        }
    }

    /// Writes the next handshake datagram into `out` if one is due.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self
            .last_sent
            .is_some_and(|t| now < t + self.resend_interval)
        {
            return false;
        }
        self.last_sent = Some(now);
        match &self.answered {
            None => ConnectRequest {
                version: wire::PROTOCOL_VERSION,
                nonce: self.nonce,
                window: self.window,
                insecure: self.insecure,
            }
            .emit(out),
            Some(answered) => out.extend_from_slice(&answered.response),
        }
        true
    }

    /// Derives the keys for `challenge` and seals the response; `None` when
    /// the challenge is unusable (not the pinned key, a weak key).
    fn answer(&self, c: &Challenge) -> Option<Answered> {
        if self.pinned.is_some_and(|pin| pin != c.server_static) {
            return None;
        }
        let ee = self.ephemeral.agree(&c.server_ephemeral).ok()?;
        let es = self.ephemeral.agree(&c.server_static).ok()?;
        let (token_expires, token) = self
            .token
            .as_ref()
            .map_or((0, &[][..]), |t| (t.expires_unix, t.sealed()));
        let t = transcript(
            wire::PROTOCOL_VERSION,
            self.insecure,
            self.nonce,
            self.window,
            &c.cookie,
            &self.ephemeral.public(),
            &c.server_ephemeral,
            &c.server_static,
            token_expires,
            token,
        );
        let keys = derive_session(t, &ee, &es, self.token.as_ref().map(|t| t.psk()));
        let header = ResponseHeader {
            version: wire::PROTOCOL_VERSION,
            nonce: self.nonce,
            window: self.window,
            insecure: self.insecure,
            client_ephemeral: self.ephemeral.public(),
            server_ephemeral: c.server_ephemeral,
            cookie: c.cookie,
            token_expires,
            token,
        };
        let payload = &self.payload[..self.payload.len().min(wire::MAX_CONNECT_PAYLOAD)];
        let mut response = Vec::with_capacity(256 + token.len() + payload.len());
        let ad_len = header.emit(&mut response, payload.len() + TAG_LEN);
        let body_at = response.len();
        response.extend_from_slice(payload);
        let (head, body) = response.split_at_mut(body_at);
        let tag = packet_key(&keys.c2s_handshake).seal(0, &head[..ad_len], body);
        response.extend_from_slice(&tag);
        wire::finish_handshake_packet(&mut response);
        Some(Answered { response, keys })
    }

    /// Handles a packet from the server; packets for another nonce, and an
    /// accept that does not open under the session's keys, are ignored.
    pub fn handle(&mut self, packet: &Packet<'_>) -> Option<HandshakeOutcome> {
        match *packet {
            Packet::Challenge(ref c) if c.nonce == self.nonce => {
                if self.answered.is_none() {
                    self.answered = self.answer(c);
                    if self.answered.is_some() {
                        self.last_sent = None; // answer at once
                    }
                }
                None
            }
            Packet::Accept(accept) if accept.nonce == self.nonce => self.open_accept(&accept),
            Packet::Reject(reject) if reject.nonce == self.nonce => {
                Some(HandshakeOutcome::Rejected(match reject.code {
                    RejectCode::ServerFull => RejectReason::ServerFull,
                    RejectCode::VersionMismatch { server, client } => {
                        RejectReason::VersionMismatch { client, server }
                    }
                    RejectCode::Custom(text) => RejectReason::Custom(text.to_owned()),
                    RejectCode::ModeMismatch { server_insecure } => {
                        RejectReason::ModeMismatch { server_insecure }
                    }
                    RejectCode::TokenRefused => RejectReason::TokenRefused,
                }))
            }
            _ => None,
        }
    }

    fn open_accept(&mut self, accept: &Accept) -> Option<HandshakeOutcome> {
        let answered = self.answered.as_ref()?;
        let mut body = accept.sealed;
        let (plain, tag) = body.split_at_mut(6);
        let tag: [u8; TAG_LEN] = (&*tag).try_into().ok()?;
        packet_key(&answered.keys.s2c_handshake)
            .open(0, &Accept::associated(accept.nonce), plain, &tag)
            .ok()?;
        let token = u32::from_be_bytes([plain[0], plain[1], plain[2], plain[3]]);
        let window = u16::from_be_bytes([plain[4], plain[5]]);
        self.protection = Some(protection_for(&answered.keys, self.insecure, true));
        Some(HandshakeOutcome::Accepted { token, window })
    }

    /// The session's packet protection, once accepted.
    pub fn take_protection(&mut self) -> Option<Protection> {
        self.protection.take()
    }

    /// Whether the server has not answered within the timeout.
    pub fn timed_out(&self, now: Instant) -> bool {
        now >= self.started + self.timeout
    }

    /// How long the client has been trying.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// When the next resend or the timeout is due.
    pub fn next_deadline(&self) -> Instant {
        let resend = self
            .last_sent
            .map_or(self.started, |t| t + self.resend_interval);
        resend.min(self.started + self.timeout)
    }

    /// The nonce of this attempt.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }
}
