//! The state machine of one established connection, either side.
//!
//! Sans-IO, as in quinn-proto: the owner hands in datagrams with
//! [`handle_data`](Connection::handle_data), calls
//! [`handle_timeout`](Connection::handle_timeout) at
//! [`next_deadline`](Connection::next_deadline), drains datagrams to send with
//! [`poll_transmit`](Connection::poll_transmit) and events with
//! [`poll_event`](Connection::poll_event). It never reads a clock or touches a
//! socket, so every behaviour can be driven deterministically.

mod close;
mod protect;
mod receive;
mod send_path;
mod snapshot;
mod transmit;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::channel::{Channel, ChannelSet, Outbox};
use super::channel_receivers::Piece;
use super::congestion::{Congestion, INITIAL_WINDOW, MAX_WINDOW};
use super::pacer::Pacer;
use super::packet_history::{ReceivedPackets, MAX_JUMP};
use super::rate::RateControl;
use super::reassembly::Reassembly;
use super::reorder::ReorderWindow;
use super::rtt::RttEstimator;
use super::sent::SentPackets;
use super::stats::ConnectionStats;
use crate::wire;
use crate::{Config, Delivery, DisconnectReason};

/// How many copies of the final disconnect packet are sent; it is never acked,
/// so redundancy is what makes a graceful close survive a lossy path.
const DISCONNECT_COPIES: u8 = 3;

/// Entries a drained event queue or release list may keep allocated: more,
/// and it is given back, so a burst's size is not held for the connection's
/// life.
pub(super) const KEPT_QUEUE: usize = 256;

/// After this many packets received without sending one, an ack goes out at
/// once: the ack bitfield covers 32 packets, and a packet that falls out of it
/// unacknowledged would be resent for nothing.
const IMMEDIATE_ACK_AFTER: u32 = 16;

pub(super) use super::rtt::ACK_DELAY;

/// Unreliable messages wait while the peer has acknowledged nothing of the
/// last this-many packets: the peer refuses packets that jump `MAX_JUMP`
/// ahead, and half of that leaves room for ack-only packets, which never wait.
const MAX_UNACKED_RUN: i32 = MAX_JUMP / 2;

/// A packet arriving this far behind the newest one may miss the ack
/// bitfield of the next ack, so it gets an ack of its own.
const LATE_ACK_DISTANCE: i32 = 24;

/// Most separate acks for late packets waiting to be sent.
const MAX_LATE_ACKS: usize = 128;

/// Bytes each held message is charged against `max_send_buffer_bytes` on top
/// of its payload: its queue slot and buffer handle. Without it a queue of
/// tiny or empty messages would outgrow the cap many times over.
pub const MESSAGE_OVERHEAD: usize = 64;

/// Unsent bytes a connection accepts beyond what could leave at once,
/// whatever `max_send_queue_delay` says, so a slow path still queues a few
/// packets' worth.
const SEND_QUEUE_FLOOR: usize = 4 * 1024;

/// Longest gap between the owner's updates that the send-queue bound allows
/// for.
const MAX_UPDATE_GAP: Duration = Duration::from_millis(100);

/// Largest retransmission backoff exponent.
const MAX_BACKOFF: u32 = 10;

/// How often unfinished fragmented messages are checked for expiry.
const REASSEMBLY_SWEEP: Duration = Duration::from_secs(1);

/// Something the owner must react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// A message for the application.
    Message {
        /// Its delivery mode.
        delivery: Delivery,
        /// The channel it came on.
        channel: u8,
        /// Its bytes.
        payload: Bytes,
    },
    /// The connection ended; nothing more will be delivered.
    Closed(CloseCause),
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseCause {
    /// The peer closed gracefully.
    PeerClosed(DisconnectReason),
    /// This side's graceful close finished (queued data flushed or linger passed).
    LocalClosed,
    /// Nothing was heard from the peer for the timeout.
    TimedOut(Duration),
    /// The peer broke the protocol.
    Violation(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Open,
    Closing {
        reason: DisconnectReason,
        linger_until: Instant,
    },
    Closed,
}

/// One established connection.
#[derive(Debug)]
pub struct Connection {
    token: u32,
    /// Seals what leaves and opens what arrives (`protect.rs`).
    protection: crate::crypto::Protection,
    state: State,
    mtu: usize,
    timeout: Duration,
    ping_interval: Duration,
    linger: Duration,
    max_send_buffer_bytes: usize,
    max_send_queue_delay: Option<Duration>,
    /// How often the owner lets the connection send; see `send_queue_limit`.
    update_interval: Duration,
    send_window: usize,
    next_seq: u16,
    received: ReceivedPackets,
    ack_pending: bool,
    /// Since when the pending ack has been held back for a packet with
    /// frames to carry it.
    ack_held_since: Option<Instant>,
    /// The `now` of the latest transmit, and how long after the one before
    /// it came: how often the owner updates this connection.
    last_transmit: Instant,
    transmit_gap: Duration,
    received_since_sent: u32,
    late_acks: VecDeque<u16>,
    /// The oldest packet with frames received since the last ack went out:
    /// if the newest moved more than the ack bitfield past it meanwhile,
    /// no regular ack names it, and it gets a late ack of its own.
    oldest_unacked_arrival: Option<u16>,
    sent: SentPackets,
    rtt: RttEstimator,
    /// Learned from spurious losses: added to the loss delay.
    reorder: ReorderWindow,
    rto_backoff: u32,
    /// Probes sent since the last ack of an ack-eliciting packet (their backoff).
    probe_count: u32,
    /// A probe's messages are queued: the next packet may pass the
    /// congestion window and the pacer, as the probe exists to get an ack
    /// out of a path that went quiet.
    probe_pending: bool,
    congestion: Congestion,
    rate: RateControl,
    pacer: Pacer,
    channels: Vec<Channel>,
    /// The channels that may have messages to send: every one that has,
    /// and some that no longer have.
    maybe_pending: ChannelSet,
    /// The sequenced channels that remember a delivered message, which
    /// every fresh packet may make them forget.
    sequenced_live: ChannelSet,
    /// Fragments of large messages waiting for their siblings.
    reassembly: Reassembly,
    max_message_size: usize,
    max_held_bytes: usize,
    next_sweep: Instant,
    /// Pieces the ordered receive path hands over, kept to reuse its allocation.
    released: Vec<Piece>,
    last_recv: Instant,
    last_eliciting_sent: Instant,
    ping_pending: bool,
    passive_keepalive: bool,
    disconnect_to_send: Option<(DisconnectReason, u8)>,
    close_reason: Option<DisconnectReason>,
    events: VecDeque<ConnEvent>,
    stats: ConnectionStats,
    rotation: usize,
}

fn disconnect_code(reason: &DisconnectReason) -> (u8, &str) {
    match reason {
        DisconnectReason::ClientDisconnected => (1, ""),
        DisconnectReason::Kicked => (2, ""),
        DisconnectReason::ServerShutdown => (3, ""),
        DisconnectReason::Custom(text) => (4, text.as_str()),
        DisconnectReason::HeldTooMuch => (5, ""),
        DisconnectReason::Flooding => (6, ""),
    }
}

fn disconnect_reason(code: u8, text: &str) -> DisconnectReason {
    match code {
        1 => DisconnectReason::ClientDisconnected,
        2 => DisconnectReason::Kicked,
        3 => DisconnectReason::ServerShutdown,
        5 => DisconnectReason::HeldTooMuch,
        6 => DisconnectReason::Flooding,
        _ => DisconnectReason::Custom(text.to_owned()),
    }
}

impl Connection {
    /// A new open connection with `token`, the peer offering `peer_window`.
    pub fn new(config: &Config, token: u32, peer_window: u16, now: Instant) -> Self {
        let window = config.reliable_window.clamp(1, wire::MAX_RELIABLE_WINDOW);
        let rate = RateControl::new(config.max_send_rate, INITIAL_WINDOW * config.mtu);
        Connection {
            token,
            protection: crate::crypto::Protection::Crc,
            state: State::Open,
            mtu: config.mtu,
            timeout: config.timeout,
            ping_interval: config.effective_ping_interval(),
            linger: config.linger,
            max_send_buffer_bytes: config.max_send_buffer_bytes,
            max_send_queue_delay: config.max_send_queue_delay,
            update_interval: Duration::ZERO,
            send_window: usize::from(window.min(peer_window.max(1))),
            // Until the peer has heard anything its ack field reads 0: no packet may have that number yet.
            next_seq: 1,
            received: ReceivedPackets::default(),
            ack_pending: false,
            ack_held_since: None,
            last_transmit: now,
            transmit_gap: Duration::MAX,
            received_since_sent: 0,
            late_acks: VecDeque::new(),
            oldest_unacked_arrival: None,
            sent: SentPackets::new(now),
            rtt: RttEstimator::new(config.min_rto, config.max_rto, config.initial_rto),
            reorder: ReorderWindow::default(),
            rto_backoff: 0,
            probe_count: 0,
            probe_pending: false,
            congestion: Congestion::default(),
            pacer: Pacer::with_credit(
                now,
                rate.rate(),
                // A configured rate is a budget: no first-flight credit past it.
                match config.max_send_rate {
                    None => (INITIAL_WINDOW * config.mtu) as f64,
                    Some(_) => 0.0,
                },
            ),
            rate,
            channels: config
                .channels
                .iter()
                .take(wire::MAX_CHANNELS)
                .map(|d| Channel::new(*d, window, config.held_bytes_per_channel()))
                .collect(),
            maybe_pending: ChannelSet::default(),
            sequenced_live: ChannelSet::default(),
            reassembly: Reassembly::new(config.max_message_size, config.reassembly_timeout),
            max_message_size: config.max_message_size,
            max_held_bytes: config.max_held_bytes,
            next_sweep: now + REASSEMBLY_SWEEP,
            released: Vec::new(),
            last_recv: now,
            last_eliciting_sent: now,
            ping_pending: false,
            passive_keepalive: false,
            disconnect_to_send: None,
            close_reason: None,
            events: VecDeque::new(),
            stats: ConnectionStats::default(),
            rotation: 0,
        }
    }

    /// Staggers this connection's keepalive: the first ping comes `fraction`
    /// (0..1) of the interval early, so connections made at the same moment (a
    /// wave of players joining) do not all ping on the same server tick.
    pub fn set_keepalive_phase(&mut self, fraction: f64) {
        let early = self.ping_interval.mul_f64(fraction.clamp(0.0, 1.0));
        self.last_eliciting_sent = self
            .last_eliciting_sent
            .checked_sub(early)
            .unwrap_or(self.last_eliciting_sent);
    }

    /// Makes this side's keepalive passive: it pings only after hearing
    /// nothing for twice the ping interval. One side pinging keeps both alive
    /// (the other's acks answer), so a server with many idle clients leaves
    /// the pinging to them and handles half the packets.
    pub fn set_passive_keepalive(&mut self) {
        self.passive_keepalive = true;
    }

    fn next_ping_at(&self) -> Instant {
        let after_send = self.last_eliciting_sent + self.ping_interval;
        if self.passive_keepalive {
            after_send.max(self.last_recv + self.ping_interval * 2)
        } else {
            after_send
        }
    }

    /// The connection token every data packet carries.
    pub fn token(&self) -> u32 {
        self.token
    }

    /// Whether messages may be sent.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the connection has ended (it may still have disconnect copies to send).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the connection is done: closed with nothing left to send.
    pub fn is_finished(&self) -> bool {
        self.is_closed() && self.disconnect_to_send.is_none()
    }

    /// Tells the connection how often its owner lets it send (the time
    /// between the endpoint's last two updates or flushes): the send-queue
    /// bound holds at least two such intervals' worth at the current rate.
    pub fn set_update_interval(&mut self, interval: Duration) {
        self.update_interval = interval;
    }

    /// The delivery mode of each channel, by id.
    pub fn channel_modes(&self) -> impl Iterator<Item = Delivery> + '_ {
        self.channels.iter().map(|c| c.delivery)
    }

    /// Runs timers: peer timeout, retransmission timeout, keepalive, linger.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        let silent = now.saturating_duration_since(self.last_recv);
        if silent >= self.timeout {
            self.close_with(CloseCause::TimedOut(self.timeout));
            return;
        }
        self.detect_losses(now);
        self.probe(now);
        if now >= self.next_sweep {
            self.next_sweep = now + REASSEMBLY_SWEEP;
            self.stats.fragments_dropped += self.reassembly.expire(now);
        }
        if now >= self.next_ping_at() {
            self.ping_pending = true;
        }
        self.finish_close_if_drained(now);
    }

    /// The earliest time [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let mut deadline = self.last_recv + self.timeout;
        if !self.sent.is_empty() {
            let rto = self.rtt.rto(self.rto_backoff);
            if let Some(t) = self.sent.next_loss_time(self.loss_delay(), rto) {
                deadline = deadline.min(t);
            }
            if let Some(t) = self
                .rtt
                .pto(self.probe_count)
                .and_then(|pto| self.sent.next_probe_time(pto))
            {
                deadline = deadline.min(t);
            }
        }
        if !self.ping_pending {
            deadline = deadline.min(self.next_ping_at());
        }
        if let Some(since) = self.ack_held_since.filter(|_| self.ack_pending) {
            deadline = deadline.min(since + ACK_DELAY);
        }
        if let State::Closing { linger_until, .. } = self.state {
            deadline = deadline.min(linger_until);
        }
        // Only unordered messages expire; with none partly received the
        // sweep has nothing to do.
        if self.reassembly.has_unordered() {
            deadline = deadline.min(self.next_sweep);
        }
        if self.has_pending_data() {
            if let Some(t) = self.pacer.next_send_time(self.rate.rate()) {
                deadline = deadline.min(t);
            }
        }
        Some(deadline)
    }

    /// The connection's next deadline, if it is later than `now` and until
    /// then neither [`handle_timeout`](Self::handle_timeout) nor a transmit
    /// has anything to do: open, no ping, ack or message waiting to leave.
    /// An owner woken early may then sleep on without servicing it.
    pub fn idle_until(&self, now: Instant) -> Option<Instant> {
        if self.state != State::Open || self.may_transmit() {
            return None;
        }
        self.next_deadline().filter(|d| *d > now)
    }

    /// Whether what is queued should leave before the owner reads the socket
    /// this update: while updates come more often than `ACK_DELAY`, acks of
    /// what arrives next are held for a later packet anyway, and a reply
    /// need not wait for a receive. Slower owners read first, so one packet
    /// carries both the messages and the acks.
    pub fn sends_early(&self) -> bool {
        self.transmit_gap < ACK_DELAY && self.state != State::Closed && self.has_pending_data()
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) may have anything to
    /// send: a cheap superset test, so an owner's flush of a quiet
    /// connection need not even read the clock.
    pub fn may_transmit(&self) -> bool {
        self.state == State::Closed
            || self.ping_pending
            || self.ack_pending
            || !self.late_acks.is_empty()
            || !self.maybe_pending.is_empty()
    }

    /// Whether an ack should go out before more datagrams are processed; the
    /// owner then drains [`poll_transmit`](Self::poll_transmit) at once.
    pub fn ack_due(&self) -> bool {
        self.received_since_sent >= IMMEDIATE_ACK_AFTER && self.state != State::Closed
    }

    /// The congestion window, in ack-eliciting packets: the loss-driven
    /// window, but never less than twice the bandwidth-delay product of the
    /// current send rate, so a long path is not capped by a window that
    /// recovers one packet per round trip; pacing then sets the pace.
    pub fn congestion_window(&self) -> usize {
        let bdp = self.rtt.srtt().map_or(0.0, |rtt| {
            2.0 * self.rate.rate() * rtt.as_secs_f64() / self.mtu.max(1) as f64
        });
        let bdp = bdp.min(MAX_WINDOW as f64) as usize;
        self.congestion.window().max(bdp)
    }

    /// The reason this side gave when it closed gracefully.
    pub fn close_reason(&self) -> Option<&DisconnectReason> {
        self.close_reason.as_ref()
    }

    /// Whether this side asked for the close (a graceful close in progress,
    /// or one that ended), as against the peer closing or the connection
    /// being lost.
    pub fn closed_here(&self) -> bool {
        matches!(self.state, State::Closing { .. }) || self.close_reason.is_some()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ConnEvent> {
        let event = self.events.pop_front();
        // A burst (a gap filling that releases thousands of held messages)
        // must not leave its queue's size behind for the connection's life.
        if event.is_none() && self.events.capacity() > KEPT_QUEUE {
            self.events = VecDeque::new();
        }
        event
    }

    /// Bytes charged against `max_send_buffer_bytes`: the payload of every
    /// message held for sending or awaiting acknowledgement, plus
    /// [`MESSAGE_OVERHEAD`] for each.
    pub fn buffered_bytes(&self) -> usize {
        self.channels
            .iter()
            .map(|c| c.bytes() + c.len() * MESSAGE_OVERHEAD)
            .sum()
    }

    /// Whether any channel has messages waiting to go out (new or resent).
    pub fn has_pending_data(&self) -> bool {
        self.maybe_pending
            .iter()
            .any(|c| self.channel_has_pending(c))
    }

    pub(super) fn channel_has_pending(&self, channel: usize) -> bool {
        self.channels.get(channel).is_some_and(Channel::has_pending)
    }

    /// Like [`has_pending_data`](Self::has_pending_data), and forgets the
    /// channels found with nothing to send.
    fn refresh_pending(&mut self) -> bool {
        for c in self.maybe_pending.iter() {
            if !self.channel_has_pending(c) {
                self.maybe_pending.remove(c);
            }
        }
        !self.maybe_pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Packet, DATA_HEADER_LEN};

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    /// Hands `datagram` to `conn` at `now`; returns the ack it carried.
    fn feed(conn: &mut Connection, now: Instant, datagram: &[u8]) -> u16 {
        let datagram = Bytes::copy_from_slice(datagram);
        let Ok(Packet::Data { header, .. }) = Packet::parse(&datagram) else {
            panic!("not a data packet");
        };
        conn.handle_data(now, &header, &datagram[DATA_HEADER_LEN..], &datagram);
        header.ack
    }

    /// A connection whose owner last updated it at `t0 - gap` and `t0`.
    fn updated_every(gap: Duration, t0: Instant) -> Connection {
        let start = t0 - gap * 2;
        let mut conn = Connection::new(&Config::default(), 7, 64, start);
        let mut out = Vec::new();
        assert!(!conn.poll_transmit(t0 - gap, &mut out));
        assert!(!conn.poll_transmit(t0, &mut out));
        conn
    }

    /// A reliable message from a peer, in packet number `seq`.
    fn request(seq: u16) -> Vec<u8> {
        let mut peer = Connection::new(&Config::default(), 7, 64, Instant::now());
        peer.next_seq = seq;
        peer.send_slice(b"ping", Delivery::ReliableOrdered)
            .expect("queued");
        let mut out = Vec::new();
        assert!(peer.poll_transmit(Instant::now(), &mut out));
        out
    }

    #[test]
    fn a_frequently_updated_connection_holds_an_ack_for_the_reply() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut conn = updated_every(us(20), t0);
        let mut out = Vec::new();
        feed(&mut conn, t0 + us(10), &request(5));
        assert!(!conn.poll_transmit(t0 + us(10), &mut out), "held");
        assert_eq!(conn.next_deadline(), Some(t0 + us(10) + ACK_DELAY));
        // The reply, queued before the hold runs out, carries the ack.
        conn.send_slice(b"pong", Delivery::ReliableOrdered)
            .expect("queued");
        assert!(conn.poll_transmit(t0 + us(30), &mut out));
        assert!(out.len() > DATA_HEADER_LEN, "a packet with frames");
        let mut peer = Connection::new(&Config::default(), 7, 64, t0);
        assert_eq!(feed(&mut peer, t0 + us(40), &out), 5);
        assert!(
            !conn.poll_transmit(t0 + us(30), &mut out),
            "no ack-only after it"
        );
    }

    #[test]
    fn a_held_ack_leaves_alone_when_no_reply_comes() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut conn = updated_every(us(20), t0);
        let mut out = Vec::new();
        feed(&mut conn, t0 + us(10), &request(5));
        assert!(!conn.poll_transmit(t0 + us(10), &mut out));
        assert!(!conn.poll_transmit(t0 + us(500), &mut out), "still held");
        assert!(conn.poll_transmit(t0 + us(10) + ACK_DELAY, &mut out));
        assert_eq!(out.len(), DATA_HEADER_LEN, "an ack-only packet");
    }

    #[test]
    fn a_slowly_updated_connection_acks_at_once() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut conn = updated_every(Duration::from_millis(16), t0);
        let mut out = Vec::new();
        let later = t0 + Duration::from_millis(16);
        feed(&mut conn, later, &request(5));
        assert!(conn.poll_transmit(later, &mut out));
        assert_eq!(out.len(), DATA_HEADER_LEN, "an ack-only packet, not held");
    }
}
