//! The server's side of the handshake: stateless challenges for connect
//! requests, and for a challenge response whose cookie checks out, a
//! [`PendingConnect`] for the game's decision, and only then a new peer.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::core::{Peer, ServerCore};
use super::schedule::Slot;
use super::{log, ConnectRequestInfo, ServerEvent};
use crate::metrics::BandwidthMeter;
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
        req: ConnectRequest<'_>,
        known: bool,
        now: Instant,
    ) {
        if !self.accept_new && !known {
            self.stats.ignored_not_accepting += 1;
            return;
        }
        if req.version != wire::PROTOCOL_VERSION {
            let code = RejectCode::VersionMismatch {
                server: wire::PROTOCOL_VERSION,
                client: req.version,
            };
            self.stats.rejected += 1;
            let reason = RejectReason::VersionMismatch {
                server: wire::PROTOCOL_VERSION,
                client: req.version,
            };
            log::rejected(from, &reason, false);
            self.reply(from, now, |buf| {
                Reject {
                    nonce: req.nonce,
                    code,
                }
                .emit(buf)
            });
            return;
        }
        let cookie = self.cookies.issue(from, req.nonce, now);
        if self.reply(from, now, |buf| {
            wire::emit_challenge(buf, req.nonce, &cookie)
        }) {
            self.stats.challenges_sent += 1;
        }
    }

    /// Handles a challenge response whose cookie the caller has verified:
    /// repeats a lost accept, rejects at once when the server is full, or
    /// hands back the request for the game's decision.
    pub(super) fn on_challenge_response(
        &mut self,
        from: SocketAddr,
        resp: ChallengeResponse<'_>,
        payload: Bytes,
        known: Option<PeerId>,
    ) -> Option<PendingConnect> {
        if let Some(peer) = known.and_then(|id| self.peers.get(&id)) {
            if peer.nonce == resp.nonce {
                // Our Accept was lost (or this is a replay): repeat it, create nothing.
                let accept = Accept {
                    nonce: resp.nonce,
                    token: peer.conn.token(),
                    window: self.config.reliable_window,
                };
                self.transmits.push_with(from, None, |buf| accept.emit(buf));
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
        Some(PendingConnect {
            info: ConnectRequestInfo {
                addr: from,
                payload,
            },
            nonce: resp.nonce,
            window: resp.window,
            replaces: known,
        })
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
        let token = loop {
            let t: u32 = rand::random();
            if t != 0 {
                break t;
            }
        };
        let id = self.next_peer;
        self.next_peer += 1;
        let mut conn = Connection::new(&self.config, token, pending.window, now);
        conn.set_keepalive_phase(crate::proto::spread(id));
        conn.set_passive_keepalive();
        let mut peer = Box::new(Peer {
            addr: from,
            nonce: pending.nonce,
            conn,
            meter: BandwidthMeter::default(),
            slot: Slot::default(),
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
        let accept = Accept {
            nonce: pending.nonce,
            token,
            window: self.config.reliable_window,
        };
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
        };
        self.transmits
            .push_with(to, None, |buf| Reject { nonce, code }.emit(buf));
    }
}
