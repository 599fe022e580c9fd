//! The server's sans-IO core: its peers, the routing of every received
//! datagram, the handshake's server half, the schedule of whom an update
//! services, and the queue of datagrams ready to leave.
//!
//! It is handed the time and datagrams and hands out datagrams, events and
//! its next deadline; it never reads a clock or touches a socket (the
//! [`Server`](super::Server) around it does, through its driver). A connect
//! request whose cookie checks out comes back to the caller as a
//! [`PendingConnect`] for the game's handlers to decide.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::time::Instant;

use super::addr_table::AddrTable;
use super::budget::ReceiveBudget;
use super::held_cap::HeldCap;
use super::limiter::ReplyLimiter;
use super::schedule::{Schedule, Slot};
use super::slots::SlotCounts;
use super::{ServerEvent, ServerStats};
use crate::clock::UpdateCadence;
use crate::endpoint::{Owner, PeerEvent, Transmits};
use crate::metrics::BandwidthMeter;
use crate::proto::arena::Arena;
use crate::proto::server_handshake::ServerHandshake;
use crate::proto::{Connection, Payload, Route};
use crate::{Config, DisconnectReason, Error, PeerId};

/// Hashes peer ids for the peer table, looked up several times per datagram.
/// The server hands the ids out in sequence and nobody else picks them, so
/// the protection of the default hasher against crafted keys buys nothing
/// here; a multiply by an odd constant spreads them over the table.
#[derive(Default)]
pub(super) struct PeerIdHasher(u64);

impl Hasher for PeerIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The server's peers by id. Boxed: a table of whole peers (2 KiB each)
/// would hold that much per empty slot too, and tables grow in powers of two.
pub(super) type PeerTable = HashMap<PeerId, Box<Peer>, BuildHasherDefault<PeerIdHasher>>;

/// One accepted peer.
pub(super) struct Peer {
    pub(super) addr: SocketAddr,
    /// The nonce of the handshake that made it, to recognise a repeat.
    pub(super) nonce: u64,
    pub(super) conn: Connection,
    pub(super) meter: BandwidthMeter,
    pub(super) slot: Slot,
    /// The sealed accept, repeated if the client repeats its response.
    pub(super) accept: crate::wire::Accept,
}

/// The sans-IO server.
pub(super) struct ServerCore {
    pub(super) config: Config,
    /// How often the owner updates or flushes.
    pub(super) cadence: UpdateCadence,
    pub(super) cookies: ServerHandshake,
    /// The address the socket is bound to, once listening: a connect token
    /// names the servers it is good for.
    pub(super) local_addr: Option<SocketAddr>,
    pub(super) reply_limiter: ReplyLimiter,
    /// The server-wide cap on bytes held for undeliverable messages.
    pub(super) held_cap: HeldCap,
    /// Receive budgets in frames and bytes, per peer and per update.
    pub(super) budget: ReceiveBudget,
    /// Live connections per address and per prefix.
    pub(super) slots: SlotCounts,
    pub(super) schedule: Schedule,
    /// Peers an update services, kept to reuse its buffer.
    pub(super) due: Vec<PeerId>,
    pub(super) peers: PeerTable,
    pub(super) by_addr: AddrTable,
    pub(super) next_peer: PeerId,
    pub(super) accept_new: bool,
    /// Events raised, waiting for the game.
    pub(super) events: Vec<ServerEvent>,
    /// Datagrams ready to leave, for the driver.
    pub(super) transmits: Transmits,
    /// Peers' data packets are copied here, so their messages can be shared
    /// without an allocation per datagram.
    pub(super) recv_arena: Arena,
    pub(super) stats: ServerStats,
}

impl ServerCore {
    pub(super) fn new(config: Config, now: Instant) -> Self {
        let mtu = config.mtu;
        ServerCore {
            cookies: ServerHandshake::new(&config, now),
            local_addr: None,
            reply_limiter: ReplyLimiter::new(
                config.handshake_replies_per_source,
                config.handshake_replies_per_sec,
            ),
            held_cap: HeldCap::new(config.max_total_held_bytes),
            budget: ReceiveBudget::new(
                config.max_frames_per_peer_sec,
                config.max_bytes_per_peer_sec,
                config.max_frames_per_update,
            ),
            slots: SlotCounts::new(config.max_clients_per_ip, config.max_clients_per_prefix),
            config,
            cadence: UpdateCadence::default(),
            schedule: Schedule::default(),
            due: Vec::new(),
            peers: HashMap::default(),
            by_addr: AddrTable::default(),
            next_peer: 1,
            accept_new: true,
            events: Vec::new(),
            transmits: Transmits::new(mtu),
            recv_arena: Arena::for_datagrams(),
            stats: ServerStats::default(),
        }
    }

    /// Queues `payload` for `peer` on the channel `route` names, and marks
    /// the peer for the next update once it took it.
    pub(super) fn send(
        &mut self,
        peer: PeerId,
        route: Route,
        payload: Payload<'_>,
    ) -> Result<(), Error> {
        let p = self.peers.get_mut(&peer).ok_or(Error::UnknownPeer(peer))?;
        p.conn.set_update_interval(self.cadence.interval());
        p.conn.send_routed(route, payload)?;
        self.schedule.touch(&mut p.slot, peer);
        Ok(())
    }

    /// Queues `payload` for every connected peer; returns how many took it.
    /// Shared bytes are shared, not copied per peer.
    pub(super) fn broadcast(&mut self, route: Route, payload: Payload<'_>) -> usize {
        let mut reached = 0;
        let interval = self.cadence.interval();
        for (id, p) in self.peers.iter_mut().filter(|(_, p)| p.conn.is_open()) {
            p.conn.set_update_interval(interval);
            if p.conn.send_routed(route, payload.share()).is_ok() {
                self.schedule.touch(&mut p.slot, *id);
                reached += 1;
            }
        }
        reached
    }

    /// Starts a graceful close of `peer` (unknown peers are ignored).
    pub(super) fn close(&mut self, peer: PeerId, reason: DisconnectReason, now: Instant) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.conn.close(reason, now);
            self.schedule.touch(&mut p.slot, peer);
        }
    }

    /// Starts a graceful close of every peer.
    pub(super) fn close_all(&mut self, reason: &DisconnectReason, now: Instant) {
        for (id, p) in self.peers.iter_mut() {
            p.conn.close(reason.clone(), now);
            self.schedule.touch(&mut p.slot, *id);
        }
    }

    /// Queues what is waiting for every touched peer, within each
    /// connection's pacing and window, without running timers.
    pub(super) fn flush(&mut self, now: Instant) {
        let touched = self.schedule.touched();
        transmit_to(&mut self.peers, &mut self.transmits, touched, now, |_| true);
    }

    /// Counts the datagrams the driver could not send against their peers.
    pub(super) fn note_refused(&mut self, owners: &[Owner]) {
        for peer in owners.iter().flatten() {
            if let Some(p) = self.peers.get_mut(peer) {
                p.conn.note_send_failure();
            }
        }
    }

    /// When the core next has timer work (possibly early, never late).
    pub(super) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        self.schedule.next_deadline(now)
    }

    pub(super) fn remove_peer(&mut self, id: PeerId) {
        if let Some(p) = self.peers.remove(&id) {
            self.by_addr.remove_if(&p.addr, id);
            self.slots.remove(p.addr.ip());
        }
        self.held_cap.forget(id);
        self.budget.forget(id);
    }

    /// The server-wide cap on held bytes (see `held_cap`): peers cut back
    /// or dropped are serviced this update.
    pub(super) fn enforce_held_cap(&mut self, now: Instant) {
        if !self.held_cap.due(now) {
            return;
        }
        let peers = self.peers.iter_mut().map(|(id, p)| (*id, &mut p.conn));
        let done = self.held_cap.enforce(now, peers);
        for id in done.to_drop {
            if let Some(p) = self.peers.get_mut(&id) {
                p.conn.evict(DisconnectReason::HeldTooMuch);
                self.schedule.touch(&mut p.slot, id);
            }
        }
    }

    /// Runs `peer`'s timers if they may be due, queues what it has to send,
    /// and turns its connection's events into server events; a finished
    /// connection leaves the table.
    pub(super) fn service_peer(&mut self, id: PeerId, now: Instant) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        Schedule::serviced(&mut peer.slot);
        // A peer touched by a datagram or a queued message, with no timer
        // due, has nothing for its timers to do; a receive, a queued message
        // or an early send only ever moves deadlines into the future. A
        // closing peer is judged every time: an ack may have drained it.
        if Schedule::timer_may_be_due(&peer.slot, now) || !peer.conn.is_open() {
            peer.conn.handle_timeout(now);
        }
        self.transmits
            .push_conn(&mut peer.conn, now, peer.addr, Some(id));
        let s = peer.conn.stats();
        peer.meter.observe(now, s.in_bytes, s.out_bytes);
        while let Some(event) = PeerEvent::poll(&mut peer.conn) {
            self.events.push(ServerEvent::from_peer(id, event));
        }
        if peer.conn.is_finished() {
            self.remove_peer(id);
        } else {
            let deadline = peer.conn.next_deadline();
            self.schedule.set_timer(&mut peer.slot, id, deadline);
        }
    }

    /// One update's work apart from receiving: the replies queued since the
    /// last update go first (`before_receive`), then (`after_receive`) every
    /// peer touched or due is serviced.
    pub(super) fn before_receive(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        // Peers touched since the last update (a message queued, a close
        // asked for); they stay marked as taken, so the receive does not
        // list them twice.
        self.schedule.take_touched(&mut due);
        // Replies queued since the last update leave before the socket is
        // read, for connections updated often enough (`sends_early`).
        transmit_to(
            &mut self.peers,
            &mut self.transmits,
            &due,
            now,
            Connection::sends_early,
        );
        self.due = due;
    }

    /// See [`before_receive`](Self::before_receive).
    pub(super) fn after_receive(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        self.schedule.take_touched(&mut due);
        // Touched peers stay marked as taken while the due timers are popped,
        // so a peer both touched and due, and a stale entry, are skipped.
        // An entry that fired early (its peer heard from since) only sets
        // the timer again: the peer has nothing due, and a service would
        // find that out at the cost of its timers and a transmit.
        while let Some((at, id)) = self.schedule.pop_due(now) {
            if let Some(p) = self.peers.get_mut(&id) {
                let conn = &p.conn;
                if self
                    .schedule
                    .rearm_early(&mut p.slot, id, at, || conn.idle_until(now))
                {
                    continue;
                }
                if Schedule::take_due(&mut p.slot, at) {
                    due.push(id);
                }
            }
        }
        // Servicing touches nothing but the peer serviced, so each peer's
        // mark is cleared as it is serviced: one visit to its state, not two.
        for id in due.drain(..) {
            self.service_peer(id, now);
        }
        self.due = due;
        if self.schedule.needs_compaction(self.peers.len()) {
            let peers = &self.peers;
            self.schedule
                .compact(|id, at| peers.get(&id).is_some_and(|p| p.slot.is_live_timer(at)));
        }
    }
}

/// Queues what is waiting for those of `ids` whose connection `wants` to
/// send, without running their timers.
fn transmit_to(
    peers: &mut PeerTable,
    transmits: &mut Transmits,
    ids: &[PeerId],
    now: Instant,
    wants: fn(&Connection) -> bool,
) {
    for id in ids {
        if let Some(p) = peers.get_mut(id).filter(|p| wants(&p.conn)) {
            transmits.push_conn(&mut p.conn, now, p.addr, Some(*id));
        }
    }
}
