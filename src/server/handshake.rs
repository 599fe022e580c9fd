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
use crate::proto::server_handshake::Refusal;
use crate::proto::Connection;
use crate::wire::{self, ChallengeResponse, ConnectRequest, Reject, RejectCode};
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
        req: ConnectRequest,
        known: bool,
        now: Instant,
    ) {
        if !self.accept_new && !known {
            self.stats.ignored_not_accepting += 1;
            return;
        }
        self.send_buf.clear();
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
                challenge.emit(&mut self.send_buf);
                if self.reply(from, now) {
                    self.stats.challenges_sent += 1;
                }
            }
            Err(code) => {
                Reject {
                    nonce: req.nonce,
                    code,
                }
                .emit(&mut self.send_buf);
                self.stats.rejected += 1;
                self.reply(from, now);
            }
        }
    }

    /// Handles a challenge response whose cookie the caller has verified.
    pub(super) fn on_challenge_response(
        &mut self,
        from: SocketAddr,
        resp: &ChallengeResponse<'_>,
        known: Option<PeerId>,
        now: Instant,
    ) {
        if let Some(id) = known {
            if let Some(peer) = self.peers.get(&id) {
                if peer.nonce == resp.nonce {
                    // Our Accept was lost (or this is a replay): repeat it, create nothing.
                    self.send_buf.clear();
                    peer.accept.emit(&mut self.send_buf);
                    self.reply_verified(from);
                    return;
                }
                if !self.config.insecure && !peer.conn.silent_for(now, self.replace_after()) {
                    // A live session is not replaced by a handshake anyone on
                    // the path could make from its address: a restarted
                    // client gets in once the old session has gone quiet.
                    self.stats.ignored_live_session += 1;
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
        let token = loop {
            let t: u32 = rand::random();
            if t != 0 {
                break t;
            }
        };
        let local = self.socket.as_ref().map(|s| s.local_addr());
        let now_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let opened = match local.map(|local| {
            self.cookies
                .open_response(resp, local, now_unix, token, self.config.reliable_window)
        }) {
            None => return,
            Some(Ok(opened)) => opened,
            Some(Err(Refusal::BadCookie)) => {
                self.stats.bad_cookies += 1;
                return;
            }
            Some(Err(Refusal::Forged)) => {
                self.stats.invalid_datagrams += 1;
                return;
            }
            Some(Err(Refusal::Reject(code))) => {
                self.send_buf.clear();
                Reject {
                    nonce: resp.nonce,
                    code,
                }
                .emit(&mut self.send_buf);
                self.stats.rejected += 1;
                self.reply_verified(from);
                return;
            }
        };
        // Every peer in the table holds a slot, closing ones too until they
        // leave it; one from this address is about to be replaced. Counted
        // without a scan: a handshake must not cost in proportion to the
        // peers, or repeated ones from a proven address would.
        let replaced = usize::from(self.by_addr.get(&from).is_some());
        let held_slots = self.peers.len().saturating_sub(replaced);
        let (client_id, user_data) = match opened.token {
            Some((id, data)) => (Some(id), Bytes::from(data)),
            None => (None, Bytes::new()),
        };
        let decision = if held_slots >= self.config.max_clients {
            Err(RejectReason::ServerFull)
        } else {
            self.ask_connect_handlers(&ConnectRequestInfo {
                addr: from,
                payload: Bytes::from(opened.payload),
                client_id,
                user_data,
            })
            .map_err(RejectReason::Custom)
        };
        self.send_buf.clear();
        match decision {
            Err(reason) => {
                let code = match &reason {
                    RejectReason::ServerFull => RejectCode::ServerFull,
                    RejectReason::Custom(text) => RejectCode::Custom(text),
                    _ => RejectCode::ServerFull,
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
                let id = self.next_peer;
                self.next_peer += 1;
                let mut conn = Connection::new(&self.config, token, resp.window, now);
                conn.set_protection(opened.protection);
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
                        accept: opened.accept,
                    }),
                );
                if let Some(p) = self.peers.get_mut(&id) {
                    self.schedule.touch(&mut p.slot, id);
                }
                self.by_addr.insert(from, id);
                self.stats.accepted += 1;
                self.events.push(ServerEvent::Connected {
                    peer: id,
                    addr: from,
                });
                opened.accept.emit(&mut self.send_buf);
            }
        }
        self.reply_verified(from);
    }

    /// How long a session must have been silent before a handshake from its
    /// address may replace it: two keepalive intervals, so a live client
    /// (which sends at least one per interval) is never replaced.
    fn replace_after(&self) -> std::time::Duration {
        self.config.effective_ping_interval() * 2
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
