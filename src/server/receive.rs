//! How the server core routes one received datagram: a known peer's data
//! packet to its connection, handshake packets to the handshake, and
//! everything else to the invalid-datagram count.

use std::net::SocketAddr;
use std::time::Instant;

use super::budget::Verdict;
use super::core::ServerCore;
use super::handshake::PendingConnect;
use super::log;
use crate::endpoint::take_data;
use crate::wire::Packet;
use crate::DisconnectReason;

impl ServerCore {
    /// Looks up the peers of datagrams received and not yet handled,
    /// reading a little of each: their lookups and first reads do not
    /// depend on one another, so the processor waits on memory for all of
    /// them at once, and each datagram then finds its peer in cache. A
    /// server hears from hundreds of peers a tick, and between ticks their
    /// state leaves the cache.
    pub(super) fn look_ahead(&mut self, senders: &[Option<SocketAddr>]) {
        let mut read = 0u64;
        for id in self.by_addr.look_ahead(senders) {
            if let Some(p) = self.peers.get(&id) {
                let s = p.conn.stats();
                read ^= u64::from(p.conn.token()) ^ s.in_packets ^ u64::from(p.slot.is_touched());
            }
        }
        std::hint::black_box(read);
    }

    /// Takes in `datagram` from `from` at `now`. A challenge response whose
    /// cookie checks out comes back for the game to decide
    /// ([`decide`](Self::decide)); everything else is done here, replies
    /// and acks queued in `transmits`.
    pub(super) fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &mut [u8],
    ) -> Option<PendingConnect> {
        self.stats.datagrams_in += 1;
        // Cheapest checks first: only a known peer's data packet is copied.
        let known = self.by_addr.get_next(&from);
        match Packet::parse(datagram) {
            Ok(Packet::Data { header, .. }) => {
                // Opened in place by `take_data`: the parse above only read
                // the header, which travels in clear.
                let Some(id) = known else {
                    self.stats.invalid_datagrams += 1;
                    log::dropped(from, "data from no peer");
                    return None;
                };
                let peer = self.peers.get_mut(&id)?;
                // Only the peer's own packets spend its receive budget: one
                // with another session's token is refused below, uncharged.
                if header.token == peer.conn.token() {
                    match self.budget.admit(id, now) {
                        Verdict::Take => {}
                        verdict => {
                            self.stats.datagrams_throttled += 1;
                            if verdict == Verdict::Evict {
                                peer.conn.evict(DisconnectReason::Flooding);
                                self.schedule.touch(&mut peer.slot, id);
                            }
                            return None;
                        }
                    }
                }
                let frames_before = peer.conn.stats().frames_in;
                let len = datagram.len();
                if let Err(refused) =
                    take_data(&mut peer.conn, &mut self.recv_arena, now, &header, datagram)
                {
                    self.stats.invalid_datagrams += 1;
                    log::dropped(from, refused.reason());
                    return None;
                }
                let parsed = peer.conn.stats().frames_in - frames_before;
                self.budget.charge(id, parsed.max(1), len);
                self.schedule.touch(&mut peer.slot, id);
                if peer.conn.ack_due() {
                    self.transmits
                        .push_conn(&mut peer.conn, now, from, Some(id));
                }
                None
            }
            Ok(Packet::ConnectRequest(req)) => {
                let before = log::Handshake::counters(&self.stats);
                self.on_connect_request_packet(from, req, known.is_some(), now);
                before.log_outcome(from, &self.stats);
                None
            }
            Ok(Packet::ChallengeResponse(resp)) => {
                // Check the cookie before anything is opened or allocated.
                if !self.cookies.cookie_valid(from, &resp, now) {
                    self.stats.bad_cookies += 1;
                    log::bad_cookie(from);
                    return None;
                }
                let before = log::Handshake::counters(&self.stats);
                let pending = self.on_challenge_response(from, &resp, known, now);
                before.log_outcome(from, &self.stats);
                pending
            }
            Ok(_) => {
                self.stats.invalid_datagrams += 1;
                log::dropped(from, "packet kind a server does not take");
                None
            }
            Err(_) => {
                self.stats.invalid_datagrams += 1;
                log::dropped(from, "unparsable");
                None
            }
        }
    }
}
