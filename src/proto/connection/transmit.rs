//! Building outgoing packets: the header with the latest ack state, then a
//! ping if due and the channels in turn, within the mtu, the congestion window
//! and the send-ahead guard; also the ack-only packets for late arrivals and
//! the final disconnect copies. An ack with nothing to ride on goes alone,
//! unless the owner updates often enough that waiting a little for a packet
//! with frames costs little (see `ACK_DELAY`).

use std::time::Instant;

use super::{
    disconnect_code, Connection, State, ACK_DELAY, IMMEDIATE_ACK_AFTER, MAX_LATE_ACKS,
    MAX_UNACKED_RUN,
};
use crate::proto::channel::{Channel, Outbox};
use crate::proto::sent::MsgRef;
use crate::proto::seq::seq_diff;
use crate::wire::{self, DataHeader, MessageHeader};

/// Packets below the one an ack names that its bitfield covers.
const ACK_BITS: i32 = 32;

impl Connection {
    /// Writes the next datagram to send into `out` (cleared first). Returns
    /// false when there is nothing to send; call until it does.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        out.clear();
        if now > self.last_transmit {
            self.transmit_gap = now - self.last_transmit;
            self.last_transmit = now;
        }
        if self.state == State::Closed {
            return self.transmit_disconnect(out);
        }
        while let Some(late) = self.late_acks.pop_front() {
            if self.received.in_history(late) {
                return self.transmit_late_ack(late, out);
            }
        }
        let count = self.channels.len();
        let ack_now = self.ack_goes_now(now);
        // Every drain ends with a call that finds nothing to send, and most
        // updates of a quiet connection are nothing else: answer those
        // before building a packet.
        if !self.ping_pending && !self.refresh_pending() && !ack_now {
            self.rotate(count);
            return false;
        }
        let (ack, ack_bits) = self.received.ack_state();
        let seq = self.next_seq;
        DataHeader {
            token: self.token,
            seq,
            ack,
            ack_bits,
        }
        .emit(out);
        // A list for the messages carried is taken only when a channel is
        // read: most packets of a quiet connection are acks or pings, and
        // the spare lists are memory nothing else touches.
        let mut carried = Vec::new();
        let mut eliciting = false;
        let mut frames = 0usize;
        // Acks and pings are tiny and never wait; messages go at the rate.
        let paced = self.pacer.may_send(now, self.rate.rate());
        if !paced && self.has_pending_data() {
            self.rate.on_rate_limited();
        }
        let window = self.congestion_window();
        // One probe packet passes the window and the pacer: the packet it
        // repeats still counts in flight, and waiting for room would wait
        // for the very ack that is overdue.
        let probe = std::mem::take(&mut self.probe_pending);
        let may_elicit = probe || paced && self.sent.eliciting_in_flight() < window;
        let peer_listening = paced && self.sent.ahead_of_acked(seq) < MAX_UNACKED_RUN;
        if self.ping_pending && (probe || self.sent.eliciting_in_flight() < window) {
            wire::emit_ping(out);
            self.ping_pending = false;
            self.stats.keepalive_count += 1;
            eliciting = true;
            frames += 1;
        }
        for k in 0..count {
            // `rotation < count`: one subtraction wraps it, no division.
            let channel = match self.rotation + k {
                c if c >= count => c - count,
                c => c,
            };
            if !self.maybe_pending.contains(channel) {
                continue;
            }
            let reliable = self.channels[channel].delivery.is_reliable();
            let allowed = if reliable { may_elicit } else { peer_listening };
            if !allowed {
                continue;
            }
            if carried.capacity() == 0 {
                carried = self.sent.take_list();
            }
            let added = self.fill_channel(channel, out, &mut carried);
            if !self.channel_has_pending(channel) {
                self.maybe_pending.remove(channel);
            }
            if added > 0 && reliable {
                eliciting = true;
            }
            frames += added;
        }
        self.rotate(count);
        if frames == 0 && !ack_now {
            out.clear();
            self.sent.recycle(carried);
            return false;
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        // Packets arriving behind the newest while it runs ahead fast (a
        // burst reordered by jitter) can fall below this ack's bitfield
        // before any ack named them: they would be declared lost.
        // A burst of more than the bitfield's worth between two acks does
        // the same. Late acks name them: each a packet that arrived, with
        // the 32 before it, from just below this ack's bitfield down.
        if let Some(oldest) = self.oldest_unacked_arrival.take() {
            if self.received.in_history(oldest) {
                self.queue_late_acks(oldest, ack);
            }
        }
        self.ack_pending = false;
        self.ack_held_since = None;
        self.received_since_sent = 0;
        self.stats.out_packets += 1;
        self.stats.out_bytes += out.len() as u64;
        if frames > 0 {
            self.pacer.on_sent(out.len());
            self.rate.on_sent();
            let (channels, pending) = (&mut self.channels, &mut self.maybe_pending);
            let lost = self
                .sent
                .on_sent(seq, now, eliciting, out.len(), carried, |m, f| {
                    Channel::route_fate(channels, pending, m.channel, m.id, f);
                });
            self.stats.packets_lost += u64::from(lost);
        } else {
            self.sent.recycle(carried);
        }
        if eliciting {
            self.congestion.on_sent();
            self.last_eliciting_sent = now;
        }
        true
    }

    /// Moves the channel packing starts from to the next of `count`.
    fn rotate(&mut self, count: usize) {
        self.rotation += 1;
        if self.rotation >= count {
            self.rotation = 0;
        }
    }

    /// Whether a pending ack must leave now, in a packet of its own if need
    /// be. It is held for up to `ACK_DELAY` while updates come more often
    /// than that and no burst of packets is waiting for it.
    fn ack_goes_now(&mut self, now: Instant) -> bool {
        if !self.ack_pending {
            return false;
        }
        let since = *self.ack_held_since.get_or_insert(now);
        let may_wait = self.received_since_sent < IMMEDIATE_ACK_AFTER
            && self.transmit_gap < ACK_DELAY
            && now.saturating_duration_since(since) < ACK_DELAY;
        !may_wait
    }

    fn fill_channel(
        &mut self,
        index: usize,
        out: &mut Vec<u8>,
        carried: &mut Vec<MsgRef>,
    ) -> usize {
        let channel = index as u8;
        let window = self.send_window;
        let mtu = self.mtu;
        let c = &mut self.channels[index];
        let delivery = c.delivery;
        if let Outbox::Reliable(sender) = &mut c.outbox {
            sender.begin_packet();
        }
        let mut added = 0;
        loop {
            // The trailer (tag or checksum) is appended after packing.
            let room = mtu.saturating_sub(out.len() + wire::PACKET_TRAILER_LEN);
            let fits = |len: usize, fragmented: bool| {
                wire::message_frame_len(delivery, fragmented, len) <= room
            };
            let emit = |out: &mut Vec<u8>, id, fragment, payload: &[u8]| {
                let header = MessageHeader {
                    delivery,
                    channel,
                    id,
                    fragment,
                };
                wire::emit_message(out, &header, payload);
            };
            let sent = match &mut c.outbox {
                Outbox::Unreliable(queue) => {
                    queue.next(|len| fits(len, false)).map(|(id, payload)| {
                        emit(out, id, None, &payload);
                        (id, None, false)
                    })
                }
                Outbox::Reliable(sender) => sender.next(window, fits).map(|o| {
                    emit(out, o.id, o.fragment, o.payload);
                    (o.id, o.fragment, o.resend)
                }),
            };
            let Some((id, fragment, resend)) = sent else {
                return added;
            };
            if delivery.is_reliable() {
                carried.push(MsgRef { channel, id });
            }
            if resend {
                self.stats.resends += 1;
            } else if fragment.is_none_or(|f| f.index == 0) {
                self.stats.out_messages += 1;
            }
            added += 1;
        }
    }

    /// Queues late acks covering every arrival from `oldest` up to below the
    /// bitfield of an ack naming `ack`.
    fn queue_late_acks(&mut self, oldest: u16, ack: u16) {
        let below_bits = |seq: u16| seq.wrapping_sub(ACK_BITS as u16 + 1);
        let mut top = below_bits(ack);
        while seq_diff(top, oldest) >= 0 && self.late_acks.len() < MAX_LATE_ACKS {
            let mut named = top;
            while seq_diff(named, oldest) > 0 && !self.received.has(named) {
                named = named.wrapping_sub(1);
            }
            if !self.received.has(named) {
                return;
            }
            self.late_acks.push_back(named);
            top = below_bits(named);
        }
    }

    /// An ack-only packet naming a packet that arrived late, with the bits below it.
    fn transmit_late_ack(&mut self, late: u16, out: &mut Vec<u8>) -> bool {
        let ack_bits = self.received.bits_below(late);

        DataHeader {
            token: self.token,
            seq: self.next_seq,
            ack: late,
            ack_bits,
        }
        .emit(out);
        self.next_seq = self.next_seq.wrapping_add(1);
        self.stats.out_packets += 1;
        self.stats.out_bytes += out.len() as u64;
        true
    }

    fn transmit_disconnect(&mut self, out: &mut Vec<u8>) -> bool {
        let Some((reason, copies)) = self.disconnect_to_send.as_mut() else {
            return false;
        };
        let (ack, ack_bits) = self.received.ack_state();
        DataHeader {
            token: self.token,
            seq: self.next_seq,
            ack,
            ack_bits,
        }
        .emit(out);
        let (code, text) = disconnect_code(reason);
        wire::emit_disconnect(out, code, text);
        *copies -= 1;
        if *copies == 0 {
            self.disconnect_to_send = None;
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        self.stats.out_packets += 1;
        self.stats.out_bytes += out.len() as u64;
        true
    }
}
