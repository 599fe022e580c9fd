//! Taking in a data packet: packet-level deduplication, the ack it carries
//! (and the losses that reveals), then each frame to its channel, where
//! messages are deduplicated, sequenced, reordered and joined from fragments.

use std::time::{Duration, Instant};

use arrayvec::ArrayVec;
use bytes::Bytes;

use super::{
    disconnect_reason, CloseCause, ConnEvent, Connection, State, IMMEDIATE_ACK_AFTER, KEPT_QUEUE,
    LATE_ACK_DISTANCE, MAX_BACKOFF, MAX_LATE_ACKS,
};
use crate::proto::channel::{Channel, Inbox};
use crate::proto::channel_receivers::{Arrival, Piece};
use crate::proto::packet_history::Stale;
use crate::proto::reassembly::Assembled;
use crate::proto::seq::seq_newer;
use crate::wire::{DataHeader, Fragment, Frame, FrameIter};
use crate::Delivery;

/// Frames of a packet kept from the check that precedes taking any in, so
/// they need not be parsed again; a packet with more is parsed twice. A
/// full 1400-byte packet holds 37 messages of 32 bytes: bulk streams of
/// small messages fit (with 8, a 32-message packet's ack cycle cost 13 %
/// more).
const KEPT_FRAMES: usize = 40;

/// A message frame as the channel sees it.
struct Incoming {
    channel: u8,
    id: u16,
    fragment: Option<Fragment>,
    /// The full number of the packet that carried it.
    packet: u64,
    payload: Bytes,
}

impl Connection {
    /// Processes a data packet whose token the owner has already checked.
    /// `frames` must be a slice of `datagram`, so payloads are shared, not copied.
    pub fn handle_data(
        &mut self,
        now: Instant,
        header: &DataHeader,
        frames: &[u8],
        datagram: &Bytes,
    ) {
        if self.state == State::Closed {
            return;
        }
        // A packet older than the receive history cannot be told from a
        // replay, so none of it is applied: not its ack, not one frame. An
        // honest sender resends what it carried.
        let full_seq = match self.received.check(header.seq) {
            Ok(full) => full,
            Err(Stale::Duplicate) => {
                self.stats.duplicates_dropped += 1;
                return;
            }
            Err(Stale::TooOld) => {
                self.stats.late_packets += 1;
                self.stats.in_packets += 1;
                self.stats.in_bytes += datagram.len() as u64;
                return;
            }
            Err(Stale::TooFarAhead) => {
                self.stats.invalid_packets += 1;
                return;
            }
        };
        // Frames are parsed and checked before any takes effect, and kept,
        // so the common packet of a few frames is parsed once.
        let mut parsed = ArrayVec::<Frame<'_>, KEPT_FRAMES>::new();
        let all_kept = match self.validate_frames(frames, &mut parsed) {
            Ok(all_kept) => all_kept,
            Err(violation) => {
                match violation {
                    Some(reason) => self.close_with(CloseCause::Violation(reason)),
                    None => self.stats.invalid_packets += 1,
                }
                return;
            }
        };
        // An ack-only packet never asks for an ack, not even a late one.
        let ack_only = frames.is_empty();
        let late = self.received.distance_behind(header.seq) >= LATE_ACK_DISTANCE;
        if late && !ack_only && self.late_acks.len() < MAX_LATE_ACKS {
            self.late_acks.push_back(header.seq);
        } else if !ack_only
            && self
                .oldest_unacked_arrival
                .is_none_or(|o| seq_newer(o, header.seq))
        {
            self.oldest_unacked_arrival = Some(header.seq);
        }
        self.received.record(full_seq);
        for c in self.sequenced_live.iter() {
            if let Some(Inbox::Sequenced(s)) = self.channels.get_mut(c).map(|c| &mut c.inbox) {
                if !s.on_fresh_packet(full_seq) {
                    self.sequenced_live.remove(c);
                }
            }
        }
        if !ack_only {
            self.received_since_sent += 1;
            if self.received_since_sent >= IMMEDIATE_ACK_AFTER {
                self.ack_pending = true;
            }
        }
        // Only a new packet proves the peer alive: a replayed old one must
        // not hold a dead connection open.
        self.last_recv = now;
        self.stats.in_packets += 1;
        self.stats.in_bytes += datagram.len() as u64;
        self.on_ack(now, header);

        // Taken in order until one says to stop; a packet with more frames
        // than were kept is parsed again.
        let arrival = (now, full_seq);
        let mut apply = |frame| self.apply_frame(arrival, frame, datagram);
        if all_kept {
            parsed.into_iter().all(&mut apply);
        } else {
            FrameIter::new(frames).flatten().all(&mut apply);
        }
    }

    /// Takes in one frame of a new packet that arrived at `now` with full
    /// sequence number `packet`. Returns false when the rest of the packet
    /// is to be ignored.
    fn apply_frame(
        &mut self,
        (now, packet): (Instant, u64),
        frame: Frame<'_>,
        datagram: &Bytes,
    ) -> bool {
        match frame {
            Frame::Message {
                delivery,
                channel,
                id,
                fragment,
                payload,
            } => {
                if delivery.is_reliable() {
                    self.ack_pending = true;
                }
                let incoming = Incoming {
                    channel,
                    id,
                    fragment,
                    packet,
                    payload: datagram.slice_ref(payload),
                };
                self.receive_message(now, incoming);
            }
            Frame::Ping => {
                self.stats.keepalive_count += 1;
                self.ack_pending = true;
            }
            Frame::Disconnect { code, text } => {
                self.close_with(CloseCause::PeerClosed(disconnect_reason(code, text)));
                return false;
            }
        }
        true
    }

    fn on_ack(&mut self, now: Instant, header: &DataHeader) {
        let largest_before = self.sent.largest_acked();
        let (channels, pending) = (&mut self.channels, &mut self.maybe_pending);
        let outcome = self
            .sent
            .on_ack(header.ack, header.ack_bits, self.next_seq, now, |m, f| {
                Channel::route_fate(channels, pending, m.channel, m.id, f);
            });
        if let Some(sample) = outcome.rtt_sample {
            self.rtt.on_sample(sample);
        }
        // Only an ack of an ack-eliciting packet proves the timeout long
        // enough: acks of unreliable-only packets keep coming while every
        // reliable packet times out before its ack, and resetting on those
        // would keep the backoff, and the RTT estimate, from ever catching up
        // with a path whose RTT grew.
        if outcome.acked_eliciting > 0 {
            self.rto_backoff = 0;
            self.probe_count = 0;
        }
        self.stats.packets_acked += u64::from(outcome.acked);
        self.stats.spurious_losses += u64::from(outcome.spurious_losses);
        if let Some(declared_at) = outcome.spurious_declared_at {
            self.on_spurious_losses(
                now,
                outcome.spurious_losses,
                declared_at,
                outcome.reordered_declared_at,
            );
        }
        self.congestion.on_acked(outcome.acked_eliciting as usize);
        self.rate.on_acked(
            outcome.acked_bytes,
            outcome.rtt_sample,
            outcome.rate_sample,
            now,
        );
        // Only an ack that resolved something or moved the newest acked
        // packet can reveal a loss; the timers run on every update anyway.
        if outcome.acked > 0 || self.sent.largest_acked() != largest_before {
            self.detect_losses(now);
        }
    }

    /// Sends a probe when the oldest packet no ack has judged went a probe
    /// timeout without its own (see `SentPackets::probe`). Not a loss: the
    /// rate and the window hear of a loss only once the probe's ack, or the
    /// RTO, shows one.
    pub(super) fn probe(&mut self, now: Instant) {
        let Some(pto) = self.rtt.pto(self.probe_count) else {
            return;
        };
        let (channels, pending) = (&mut self.channels, &mut self.maybe_pending);
        let probed = self.sent.probe(now, pto, |m, f| {
            Channel::route_fate(channels, pending, m.channel, m.id, f);
        });
        let Some(ping_only) = probed else { return };
        self.stats.probes += 1;
        self.probe_count = (self.probe_count + 1).min(MAX_BACKOFF);
        self.probe_pending = true;
        // Its messages may have been acked in another packet since: then a
        // ping is what asks for the ack.
        if ping_only || !self.has_pending_data() {
            self.ping_pending = true;
        }
    }

    /// Packets declared lost, the earliest at `declared_at`, were acked
    /// after all: they were late. Those declared for a later packet's ack
    /// (the earliest at `reordered_at`) were reordered past the loss delay,
    /// so loss detection learns to wait longer; and the window and rate cuts
    /// they all caused are undone if nothing else justified them.
    fn on_spurious_losses(
        &mut self,
        now: Instant,
        count: u32,
        declared_at: Instant,
        reordered_at: Option<Instant>,
    ) {
        if let (Some(srtt), Some(at)) = (self.rtt.srtt(), reordered_at) {
            self.reorder.on_spurious(now, at, srtt);
        }
        if let Some(srtt) = self.rtt.srtt() {
            self.congestion.on_spurious(count, declared_at, srtt);
        }
        self.rate.on_spurious(count, declared_at);
    }

    /// How long a packet sent before an acked one may stay unacked before it
    /// counts as lost: the RTT-based delay plus the learned reorder allowance.
    pub(super) fn loss_delay(&self) -> Duration {
        self.rtt.loss_delay() + self.reorder.allowance()
    }

    pub(super) fn detect_losses(&mut self, now: Instant) {
        let backoff = self.rto_backoff;
        // Nothing sent is remembered on most updates of a quiet connection:
        // then there is nothing to judge, and no timeout to work out for it.
        if !self.sent.is_empty() {
            let rto = self.rtt.rto(self.rto_backoff);
            let loss_delay = self.loss_delay();
            let (channels, pending) = (&mut self.channels, &mut self.maybe_pending);
            let losses = self.sent.detect_losses(now, loss_delay, rto, |m, f| {
                Channel::route_fate(channels, pending, m.channel, m.id, f);
            });
            if losses.total() > 0 {
                self.stats.packets_lost += u64::from(losses.total());
                self.congestion.on_lost(losses.total());
                self.rate.on_lost(losses.total());
            }
            if losses.by_timeout > 0 {
                self.rto_backoff = (self.rto_backoff + 1).min(MAX_BACKOFF);
            }
        }
        if let Some(srtt) = self.rtt.srtt() {
            self.reorder.on_tick(now, srtt);
        }
        let rtt = self.rtt.srtt().unwrap_or_else(|| self.rtt.rto(backoff));
        self.congestion.on_tick(now, rtt);
        self.rate.on_tick(now, rtt);
    }

    /// Checks every frame of a packet before any takes effect, keeping the
    /// first [`KEPT_FRAMES`] in `kept`. `Ok(true)`: every frame was kept;
    /// `Ok(false)`: there were more, to be parsed again.
    /// `Err(None)`: malformed, drop the packet. `Err(Some(why))`: the peer lies.
    fn validate_frames<'a>(
        &mut self,
        frames: &'a [u8],
        kept: &mut ArrayVec<Frame<'a>, KEPT_FRAMES>,
    ) -> Result<bool, Option<&'static str>> {
        let mut all_kept = true;
        for frame in FrameIter::new(frames) {
            self.stats.frames_in += 1;
            let Ok(frame) = frame else { return Err(None) };
            self.validate_frame(&frame).map_err(Some)?;
            all_kept &= kept.try_push(frame).is_ok();
        }
        Ok(all_kept)
    }

    /// Whether a parsed frame fits this side's channels and receive windows.
    fn validate_frame(&self, frame: &Frame<'_>) -> Result<(), &'static str> {
        let Frame::Message {
            delivery,
            channel,
            id,
            ..
        } = *frame
        else {
            return Ok(());
        };
        let Some(c) = self.channels.get(usize::from(channel)) else {
            return Err("message on a channel this side does not have");
        };
        if c.delivery != delivery {
            return Err("message with another delivery mode than its channel's");
        }
        let arrival = match &c.inbox {
            Inbox::Reliable(r) => r.check(r.full_id(id)),
            Inbox::Ordered(o) => o.check(o.full_id(id)),
            _ => Arrival::New,
        };
        if arrival == Arrival::OutOfWindow {
            return Err("message id beyond the receive window");
        }
        Ok(())
    }

    fn deliver(&mut self, delivery: Delivery, channel: u8, payload: Bytes) {
        self.stats.in_messages += 1;
        self.events.push_back(ConnEvent::Message {
            delivery,
            channel,
            payload,
        });
    }

    fn held_room(&self) -> usize {
        self.max_held_bytes.saturating_sub(self.held_bytes())
    }

    fn receive_message(&mut self, now: Instant, m: Incoming) {
        // `validate_frames` checked the channel exists.
        let Some(c) = self.channels.get_mut(usize::from(m.channel)) else {
            return;
        };
        let delivery = c.delivery;
        match &mut c.inbox {
            Inbox::Unreliable => self.deliver(delivery, m.channel, m.payload),
            Inbox::Sequenced(s) => {
                if s.accept(m.packet, m.id) {
                    self.sequenced_live.insert(usize::from(m.channel));
                    self.deliver(delivery, m.channel, m.payload);
                } else {
                    self.stats.stale_sequenced_dropped += 1;
                }
            }
            Inbox::Reliable(r) => {
                let id = r.full_id(m.id);
                if r.check(id) != Arrival::New {
                    self.stats.duplicates_dropped += 1;
                    return;
                }
                r.record(id);
                let Some(fragment) = m.fragment else {
                    return self.deliver(delivery, m.channel, m.payload);
                };
                let room = self.held_room();
                let assembled = self
                    .reassembly
                    .insert_unordered(m.channel, id, fragment, &m.payload, room, now);
                self.on_assembled(delivery, m.channel, assembled);
            }
            Inbox::Ordered(o) => {
                let id = o.full_id(m.id);
                if o.check(id) != Arrival::New {
                    self.stats.duplicates_dropped += 1;
                    return;
                }
                let charge = o.hold_cost(id, m.payload.len());
                if o.would_hold(id) && charge > self.held_room() {
                    // Only a peer ignoring the shared budget gets here; the
                    // message is not recorded, so the channel waits for it.
                    self.stats.fragments_dropped += 1;
                    return;
                }
                // Re-borrow: `held_room` needed all of `self`.
                let Some(Inbox::Ordered(o)) = self
                    .channels
                    .get_mut(usize::from(m.channel))
                    .map(|c| &mut c.inbox)
                else {
                    return;
                };
                let mut released = std::mem::take(&mut self.released);
                let piece = Piece {
                    payload: m.payload,
                    fragment: m.fragment,
                };
                o.insert(id, piece, |p| released.push(p));
                for piece in released.drain(..) {
                    self.on_in_order(delivery, m.channel, piece);
                }
                if released.capacity() > KEPT_QUEUE {
                    released = Vec::new();
                }
                self.released = released;
            }
        }
    }

    /// An ordered channel's next message or fragment, in order.
    fn on_in_order(&mut self, delivery: Delivery, channel: u8, piece: Piece) {
        let Some(fragment) = piece.fragment else {
            self.stats.fragments_dropped += self.reassembly.on_whole_in_order(channel);
            return self.deliver(delivery, channel, piece.payload);
        };
        let room = self.held_room();
        let assembled = self
            .reassembly
            .push_in_order(channel, fragment, &piece.payload, room);
        self.on_assembled(delivery, channel, assembled);
    }

    fn on_assembled(&mut self, delivery: Delivery, channel: u8, assembled: Assembled) {
        match assembled {
            Assembled::Held => {}
            Assembled::Complete(message) => {
                self.stats.messages_reassembled += 1;
                self.deliver(delivery, channel, message);
            }
            Assembled::Dropped(pieces) => self.stats.fragments_dropped += pieces,
        }
    }
}
