//! The server's side of the handshake: stateless challenges for connect
//! requests, and for a challenge response whose cookie checks out, a
//! [`PendingConnect`] for the game's decision, and only then a new peer.
//! The cryptographic checks are `proto::server_handshake`'s; this file keeps
//! no state for a client before its response opens.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::core::{Peer, ServerCore};
use super::schedule::Slot;
use super::{log, ConnectRequestInfo, ServerEvent};
use crate::crypto::Protection;
use crate::metrics::BandwidthMeter;
use crate::proto::server_handshake::Refusal;
use crate::proto::Connection;
use crate::wire::{self, Accept, ChallengeResponse, ConnectRequest, Reject, RejectCode};
use crate::{Error, PeerId, RejectReason};

/// A proven client waiting for the game to accept or reject it.
#[derive(Debug)]
pub(super) struct PendingConnect {
    /// What the `on_connect_request` handlers see.
    pub(super) info: ConnectRequestInfo,
    nonce: u64,
    window: u16,
    /// The peer already at this address, replaced if this one is accepted.
    replaces: Option<PeerId>,
    /// The connection token the accept carries.
    token: u32,
    /// The session's packet protection, from the key exchange.
    protection: Protection,
    /// The accept, sealed for the client.
    accept: Accept,
}

impl ServerCore {
    /// Queues a reply to the unverified address `to` if the handshake reply
    /// budgets allow it; returns whether it was queued.
    fn reply(&mut self, to: SocketAddr, now: Instant, write: impl FnOnce(&mut Vec<u8>)) -> bool {
        if !self.reply_limiter.allow(to.ip(), now) {
            self.stats.replies_rate_limited += 1;
            return false;
        }
        // A lost reply is repeated when the client repeats its request.
        self.transmits.push_with(to, None, write);
        true
    }

    pub(super) fn on_connect_request_packet(
        &mut self,
        from: SocketAddr,
        req: ConnectRequest,
        known: bool,
        now: Instant,
    ) {
        if !self.accept_new && !known {
            self.stats.ignored_not_accepting += 1;
            return;
        }
        let reply = if req.version != wire::PROTOCOL_VERSION {
            Err(RejectCode::VersionMismatch {
                server: wire::PROTOCOL_VERSION,
                client: req.version,
            })
        } else {
            self.cookies.challenge(from, &req, now)
        };
        match reply {
            Ok(challenge) => {
                if self.reply(from, now, |buf| challenge.emit(buf)) {
                    self.stats.challenges_sent += 1;
                }
            }
            Err(code) => {
                self.stats.rejected += 1;
                log::rejected(from, &reason_of(&code), false);
                self.reply(from, now, |buf| {
                    Reject {
                        nonce: req.nonce,
                        code,
                    }
                    .emit(buf)
                });
            }
        }
    }

    /// Handles a challenge response whose cookie the caller has verified:
    /// repeats a lost accept, opens the response (mode, connect token, key
    /// exchange, sealed payload), rejects at once when the server is full,
    /// or hands back the request for the game's decision.
    pub(super) fn on_challenge_response(
        &mut self,
        from: SocketAddr,
        resp: &ChallengeResponse<'_>,
        known: Option<PeerId>,
        now: Instant,
    ) -> Option<PendingConnect> {
        if let Some(peer) = known.and_then(|id| self.peers.get(&id)) {
            if peer.nonce == resp.nonce {
                // Our Accept was lost (or this is a replay): repeat it, create nothing.
                let accept = peer.accept;
                self.transmits.push_with(from, None, |buf| accept.emit(buf));
                return None;
            }
            if !self.config.insecure && !peer.conn.silent_for(now, self.replace_after()) {
                // A live session is not replaced by a handshake anyone on
                // the path could make from its address: a restarted client
                // gets in once the old session has gone quiet.
                self.stats.ignored_live_session += 1;
                log::dropped(from, "a live session holds this address");
                return None;
            }
        }
        if !self.accept_new {
            self.stats.ignored_not_accepting += 1;
            log::dropped(from, "not accepting new connections");
            return None;
        }
        if resp.version != wire::PROTOCOL_VERSION {
            return None;
        }
        let local = self.local_addr?;
        let token = loop {
            let t: u32 = rand::random();
            if t != 0 {
                break t;
            }
        };
        // Connect tokens expire by the wall clock the backend minted them by.
        let now_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let opened = match self.cookies.open_response(
            resp,
            local,
            now_unix,
            token,
            self.config.reliable_window,
        ) {
            Ok(opened) => opened,
            Err(Refusal::BadCookie) => {
                self.stats.bad_cookies += 1;
                log::bad_cookie(from);
                return None;
            }
            Err(Refusal::Forged) => {
                self.stats.invalid_datagrams += 1;
                log::dropped(from, "challenge response failed authentication");
                return None;
            }
            Err(Refusal::Reject(code)) => {
                self.reject(from, resp.nonce, reason_of(&code));
                return None;
            }
        };
        // Every peer in the table holds a slot, closing ones too until they
        // leave it; one from this address is about to be replaced. Counted
        // without a scan: a handshake must not cost in proportion to the
        // peers, or repeated ones from a proven address would.
        let replaced = usize::from(known.is_some());
        let held_slots = self.peers.len().saturating_sub(replaced);
        if held_slots >= self.config.max_clients {
            self.reject(from, resp.nonce, RejectReason::ServerFull);
            return None;
        }
        if let Err(crowded) = self.slots.check(from.ip(), known.is_some()) {
            self.reject(from, resp.nonce, RejectReason::Custom(crowded.to_string()));
            return None;
        }
        let (client_id, user_data) = match opened.token {
            Some((id, data)) => (Some(id), Bytes::from(data)),
            None => (None, Bytes::new()),
        };
        Some(PendingConnect {
            info: ConnectRequestInfo {
                addr: from,
                payload: Bytes::from(opened.payload),
                client_id,
                user_data,
            },
            nonce: resp.nonce,
            window: resp.window,
            replaces: known,
            token,
            protection: opened.protection,
            accept: opened.accept,
        })
    }

    /// How long a session must have been silent before a new handshake from
    /// its address may replace it.
    fn replace_after(&self) -> std::time::Duration {
        self.config.effective_ping_interval() * 2
    }

    /// Carries out the game's decision on `pending`.
    pub(super) fn decide(
        &mut self,
        pending: PendingConnect,
        decision: Result<(), String>,
        now: Instant,
    ) {
        let from = pending.info.addr;
        if let Err(text) = decision {
            self.reject(from, pending.nonce, RejectReason::Custom(text));
            return;
        }
        if let Some(old) = pending.replaces {
            // The same address finished a new handshake: the client restarted.
            self.remove_peer(old);
            self.events.push(ServerEvent::Error {
                peer: old,
                error: Error::SessionReplaced,
            });
        }
        let id = self.next_peer;
        self.next_peer += 1;
        let mut conn = Connection::new(&self.config, pending.token, pending.window, now);
        conn.set_protection(pending.protection);
        conn.set_keepalive_phase(crate::proto::spread(id));
        conn.set_passive_keepalive();
        let accept = pending.accept;
        let mut peer = Box::new(Peer {
            addr: from,
            nonce: pending.nonce,
            conn,
            meter: BandwidthMeter::default(),
            slot: Slot::default(),
            accept,
        });
        self.schedule.touch(&mut peer.slot, id);
        self.peers.insert(id, peer);
        self.by_addr.insert(from, id);
        self.slots.add(from.ip());
        self.stats.accepted += 1;
        self.events.push(ServerEvent::Connected {
            peer: id,
            addr: from,
        });
        self.transmits.push_with(from, None, |buf| accept.emit(buf));
    }

    /// Sends a reject to `to`, whose cookie proved it receives there.
    fn reject(&mut self, to: SocketAddr, nonce: u64, reason: RejectReason) {
        self.stats.rejected += 1;
        log::rejected(to, &reason, true);
        let code = match &reason {
            RejectReason::ServerFull => RejectCode::ServerFull,
            RejectReason::VersionMismatch { server, client } => RejectCode::VersionMismatch {
                server: *server,
                client: *client,
            },
            RejectReason::Custom(text) => RejectCode::Custom(text),
            RejectReason::ModeMismatch { server_insecure } => RejectCode::ModeMismatch {
                server_insecure: *server_insecure,
            },
            RejectReason::TokenRefused => RejectCode::TokenRefused,
        };
        self.transmits
            .push_with(to, None, |buf| Reject { nonce, code }.emit(buf));
    }
}

/// The reason a reject of `code` gives, for the log.
fn reason_of(code: &RejectCode<'_>) -> RejectReason {
    match code {
        RejectCode::ServerFull => RejectReason::ServerFull,
        RejectCode::VersionMismatch { server, client } => RejectReason::VersionMismatch {
            server: *server,
            client: *client,
        },
        RejectCode::Custom(text) => RejectReason::Custom((*text).to_owned()),
        RejectCode::ModeMismatch { server_insecure } => RejectReason::ModeMismatch {
            server_insecure: *server_insecure,
        },
        RejectCode::TokenRefused => RejectReason::TokenRefused,
    }
}
