//! The server's side of the handshake: stateless challenges for connect
//! requests, and for a challenge response whose cookie checks out, the
//! application's decision and only then a new peer.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::schedule::Slot;
use super::{ConnectRequestInfo, Peer, Server, ServerEvent};
use crate::handlers::run_handlers;
use crate::metrics::BandwidthMeter;
use crate::proto::Connection;
use crate::wire::{self, Accept, ChallengeResponse, ConnectRequest, Reject, RejectCode};
use crate::{Error, PeerId, RejectReason};

impl Server {
    /// Sends `send_buf` to the unverified address `to` if the handshake reply
    /// budgets allow it.
    /// Returns whether it went out.
    pub(super) fn reply(&mut self, to: SocketAddr, now: Instant) -> bool {
        if !self.reply_limiter.allow(to.ip(), now) {
            self.stats.replies_rate_limited += 1;
            return false;
        }
        self.reply_verified(to);
        true
    }

    /// Sends `send_buf` to `to`, whose cookie proved it receives at that address.
    pub(super) fn reply_verified(&mut self, to: SocketAddr) {
        if let Some(socket) = self.socket.as_mut() {
            // A lost reply is repeated when the client repeats its request.
            let _ = socket.send_to(&self.send_buf, to);
        }
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
        self.send_buf.clear();
        if req.version != wire::PROTOCOL_VERSION {
            let code = RejectCode::VersionMismatch {
                server: wire::PROTOCOL_VERSION,
                client: req.version,
            };
            Reject {
                nonce: req.nonce,
                code,
            }
            .emit(&mut self.send_buf);
            self.stats.rejected += 1;
        } else {
            let cookie = self.cookies.issue(from, req.nonce, now);
            wire::emit_challenge(&mut self.send_buf, req.nonce, &cookie);
            if self.reply(from, now) {
                self.stats.challenges_sent += 1;
            }
            return;
        }
        self.reply(from, now);
    }

    /// Handles a challenge response whose cookie the caller has verified.
    pub(super) fn on_challenge_response(
        &mut self,
        from: SocketAddr,
        resp: ChallengeResponse<'_>,
        payload: Bytes,
        known: Option<PeerId>,
        now: Instant,
    ) {
        if let Some(id) = known {
            if let Some(peer) = self.peers.get(&id) {
                if peer.nonce == resp.nonce {
                    // Our Accept was lost (or this is a replay): repeat it, create nothing.
                    let accept = Accept {
                        nonce: resp.nonce,
                        token: peer.conn.token(),
                        window: self.config.reliable_window,
                    };
                    self.send_buf.clear();
                    accept.emit(&mut self.send_buf);
                    self.reply_verified(from);
                    return;
                }
            }
        }
        if !self.accept_new {
            self.stats.ignored_not_accepting += 1;
            return;
        }
        if resp.version != wire::PROTOCOL_VERSION {
            return;
        }
        // Every peer in the table holds a slot, closing ones too until they
        // leave it; one from this address is about to be replaced. Counted
        // without a scan: a handshake must not cost in proportion to the
        // peers, or repeated ones from a proven address would.
        let replaced = usize::from(self.by_addr.get(&from).is_some());
        let held_slots = self.peers.len().saturating_sub(replaced);
        let decision = if held_slots >= self.config.max_clients {
            Err(RejectReason::ServerFull)
        } else if let Err(crowded) = self.slots.check(from.ip(), replaced > 0) {
            Err(RejectReason::Custom(crowded.to_string()))
        } else {
            self.ask_connect_handlers(&ConnectRequestInfo {
                addr: from,
                payload,
            })
            .map_err(RejectReason::Custom)
        };
        self.send_buf.clear();
        match decision {
            Err(reason) => {
                let code = match &reason {
                    RejectReason::ServerFull => RejectCode::ServerFull,
                    RejectReason::VersionMismatch { server, client } => {
                        RejectCode::VersionMismatch {
                            server: *server,
                            client: *client,
                        }
                    }
                    RejectReason::Custom(text) => RejectCode::Custom(text),
                };
                Reject {
                    nonce: resp.nonce,
                    code,
                }
                .emit(&mut self.send_buf);
                self.stats.rejected += 1;
            }
            Ok(()) => {
                if let Some(old) = known {
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
                let mut conn = Connection::new(&self.config, token, resp.window, now);
                conn.set_keepalive_phase(crate::proto::spread(id));
                conn.set_passive_keepalive();
                self.peers.insert(
                    id,
                    Box::new(Peer {
                        addr: from,
                        nonce: resp.nonce,
                        conn,
                        meter: BandwidthMeter::default(),
                        slot: Slot::default(),
                    }),
                );
                if let Some(p) = self.peers.get_mut(&id) {
                    self.schedule.touch(&mut p.slot, id);
                }
                self.by_addr.insert(from, id);
                self.slots.add(from.ip());
                self.stats.accepted += 1;
                self.events.push(ServerEvent::Connected {
                    peer: id,
                    addr: from,
                });
                Accept {
                    nonce: resp.nonce,
                    token,
                    window: self.config.reliable_window,
                }
                .emit(&mut self.send_buf);
            }
        }
        self.reply_verified(from);
    }

    pub(super) fn ask_connect_handlers(&mut self, info: &ConnectRequestInfo) -> Result<(), String> {
        let mut list = std::mem::take(&mut self.handlers.connect_request);
        let mut decision = Ok(());
        run_handlers!(self, list, |h| {
            let verdict = h(self, info);
            if decision.is_ok() {
                decision = verdict;
            }
        });
        list.merge(
            std::mem::take(&mut self.handlers.connect_request),
            &self.registry,
        );
        self.handlers.connect_request = list;
        decision
    }
}
