//! The connection handshake, both sides.
//!
//! ```text
//! client                                   server
//!   ConnectRequest(version, nonce, pad) -->   stateless: reply with a cookie
//!                 <-- Challenge(nonce, cookie)   (never larger than the request)
//!   ChallengeResponse(nonce, cookie, payload) -->   cookie checks out: now, and only
//!                                                   now, ask the application and
//!                 <-- Accept(token) | Reject(reason) allocate peer state
//! ```
//!
//! The cookie is a keyed hash of the client's address, nonce and an expiry
//! time, so the server remembers nothing about a client until it proves it can
//! receive at its claimed address.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::{self, ChallengeResponse, ConnectRequest, Cookie, Packet, RejectCode};
use crate::{Config, RejectReason};

/// How long a challenge cookie stays valid.
pub const COOKIE_LIFETIME: Duration = Duration::from_secs(5);

/// Client side of the handshake.
#[derive(Debug)]
pub struct ClientHandshake {
    nonce: u64,
    window: u16,
    payload: Vec<u8>,
    cookie: Option<Cookie>,
    started: Instant,
    last_sent: Option<Instant>,
    resend_interval: Duration,
    timeout: Duration,
}

/// What the client learned from a handshake packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeOutcome {
    /// Accepted: the connection token and the server's receive window.
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
    /// Starts a handshake with a random `nonce`.
    pub fn new(config: &Config, nonce: u64, now: Instant) -> Self {
        ClientHandshake {
            nonce,
            window: config.reliable_window,
            payload: config.connect_payload.clone(),
            cookie: None,
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
        match self.cookie {
            None => ConnectRequest {
                version: wire::PROTOCOL_VERSION,
                nonce: self.nonce,
                window: self.window,
                payload: &self.payload,
            }
            .emit(out),
            Some(cookie) => ChallengeResponse {
                version: wire::PROTOCOL_VERSION,
                nonce: self.nonce,
                window: self.window,
                cookie,
                payload: &self.payload,
            }
            .emit(out),
        }
        true
    }

    /// Handles a packet from the server; packets for another nonce are ignored.
    pub fn handle(&mut self, packet: &Packet<'_>) -> Option<HandshakeOutcome> {
        match *packet {
            Packet::Challenge { nonce, cookie } if nonce == self.nonce => {
                if self.cookie.is_none() {
                    self.cookie = Some(cookie);
                    self.last_sent = None; // answer at once
                }
                None
            }
            Packet::Accept(accept) if accept.nonce == self.nonce => {
                Some(HandshakeOutcome::Accepted {
                    token: accept.token,
                    window: accept.window,
                })
            }
            Packet::Reject(reject) if reject.nonce == self.nonce => {
                Some(HandshakeOutcome::Rejected(match reject.code {
                    RejectCode::ServerFull => RejectReason::ServerFull,
                    RejectCode::VersionMismatch { server, client } => {
                        RejectReason::VersionMismatch { client, server }
                    }
                    RejectCode::Custom(text) => RejectReason::Custom(text.to_owned()),
                }))
            }
            _ => None,
        }
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

/// Server side: issues and checks stateless cookies.
#[derive(Debug)]
pub struct CookieJar {
    key: RandomState,
    epoch: Instant,
}

impl CookieJar {
    /// A jar with a fresh random key.
    pub fn new(now: Instant) -> Self {
        CookieJar {
            key: RandomState::new(),
            epoch: now,
        }
    }

    fn mac(&self, addr: SocketAddr, nonce: u64, expires_ms: u64) -> u64 {
        self.key.hash_one((addr, nonce, expires_ms))
    }

    fn millis(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// A cookie for `addr` and `nonce`, valid for [`COOKIE_LIFETIME`].
    pub fn issue(&self, addr: SocketAddr, nonce: u64, now: Instant) -> Cookie {
        let expires_ms = self.millis(now) + COOKIE_LIFETIME.as_millis() as u64;
        Cookie {
            expires_ms,
            mac: self.mac(addr, nonce, expires_ms),
        }
    }

    /// Whether `cookie` was issued by this jar for `addr` and `nonce` and has not expired.
    pub fn verify(&self, addr: SocketAddr, nonce: u64, cookie: &Cookie, now: Instant) -> bool {
        let now_ms = self.millis(now);
        now_ms <= cookie.expires_ms
            && cookie.expires_ms <= now_ms + COOKIE_LIFETIME.as_millis() as u64
            && self.mac(addr, nonce, cookie.expires_ms) == cookie.mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{emit_challenge, Accept, Reject};

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn cookie_binds_address_nonce_and_time() {
        let t0 = Instant::now();
        let jar = CookieJar::new(t0);
        let c = jar.issue(addr(1), 7, t0);
        assert!(jar.verify(addr(1), 7, &c, t0 + Duration::from_secs(1)));
        assert!(!jar.verify(addr(2), 7, &c, t0));
        assert!(!jar.verify(addr(1), 8, &c, t0));
        assert!(!jar.verify(
            addr(1),
            7,
            &c,
            t0 + COOKIE_LIFETIME + Duration::from_millis(1)
        ));
        let forged = Cookie {
            expires_ms: c.expires_ms,
            mac: c.mac ^ 1,
        };
        assert!(!jar.verify(addr(1), 7, &forged, t0));
        let other = CookieJar::new(t0);
        assert!(!other.verify(addr(1), 7, &c, t0));
    }

    #[test]
    fn client_walks_request_challenge_response_accept() {
        let t0 = Instant::now();
        let config = Config::default();
        let mut hs = ClientHandshake::new(&config, 99, t0);
        let mut out = Vec::new();
        assert!(hs.poll_transmit(t0, &mut out));
        assert!(matches!(Packet::parse(&out), Ok(Packet::ConnectRequest(_))));
        assert!(
            !hs.poll_transmit(t0, &mut out),
            "no resend before the interval"
        );
        assert!(hs.poll_transmit(t0 + config.handshake_resend_interval, &mut out));

        let jar = CookieJar::new(t0);
        let cookie = jar.issue(addr(5), 99, t0);
        let mut buf = Vec::new();
        emit_challenge(&mut buf, 1234, &cookie);
        assert_eq!(
            hs.handle(&Packet::parse(&buf).unwrap()),
            None,
            "wrong nonce ignored"
        );
        buf.clear();
        emit_challenge(&mut buf, 99, &cookie);
        assert_eq!(hs.handle(&Packet::parse(&buf).unwrap()), None);
        assert!(
            hs.poll_transmit(t0, &mut out),
            "answers the challenge at once"
        );
        let Ok(Packet::ChallengeResponse(resp)) = Packet::parse(&out) else {
            panic!("expected response")
        };
        assert!(jar.verify(addr(5), resp.nonce, &resp.cookie, t0));

        let accept = Packet::Accept(Accept {
            nonce: 99,
            token: 5,
            window: 100,
        });
        assert_eq!(
            hs.handle(&accept),
            Some(HandshakeOutcome::Accepted {
                token: 5,
                window: 100
            })
        );
        let reject = Packet::Reject(Reject {
            nonce: 99,
            code: RejectCode::Custom("banned"),
        });
        assert_eq!(
            hs.handle(&reject),
            Some(HandshakeOutcome::Rejected(RejectReason::Custom(
                "banned".into()
            )))
        );
        assert!(!hs.timed_out(t0));
        assert!(hs.timed_out(t0 + config.timeout));
    }
}
