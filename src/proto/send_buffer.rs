//! Outgoing messages of one connection, per channel, until they are sent
//! (unreliable) or acknowledged (reliable).
//!
//! A reliable channel keeps its messages in a deque indexed by
//! `id - base_id`: the front is the oldest unacknowledged message, so acking
//! and window checks are O(1). Messages declared lost wait in a resend queue
//! and go out before anything new.
//!
//! A message too large for one packet is queued as fragments, one slot and
//! one id each. The sender also bounds what the peer may have to hold for
//! this channel while messages are incomplete (fragments waiting for their
//! siblings, ordered messages waiting for a gap): see [`HeldBudget`].

use std::collections::VecDeque;

use bytes::Bytes;

use super::arena::ChannelArena;
use super::payload::Payload;
use super::reassembly::HELD_PIECE_OVERHEAD;
use super::seq::seq_diff;
use crate::wire::Fragment;

#[derive(Debug)]
struct Slot {
    payload: Payload,
    fragment: Option<Fragment>,
    acked: bool,
    queued_for_resend: bool,
}

/// One message (or fragment) to put in a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing<'a> {
    /// Message id on the channel.
    pub id: u16,
    /// The bytes.
    pub payload: &'a [u8],
    /// Where it sits in its message, if fragmented.
    pub fragment: Option<Fragment>,
    /// Whether it was sent before.
    pub resend: bool,
}

/// The limit on the bytes the peer may have to hold for one reliable channel.
///
/// The receiver holds a piece only while its message is incomplete: a
/// fragment whose siblings are missing, or (on an ordered channel) any message
/// waiting for an earlier one. Such a piece was sent and is either still in
/// the sent span (slots not yet slid out) or, for fragments, already slid out
/// while a later fragment of the same message is not; the sender's `straddle`
/// counts those. Slots slide out in id order and a message's fragments have
/// consecutive ids, so `straddle` resets when a message's last fragment
/// slides out. Charging each piece as the receiver does keeps the bound exact
/// enough that an honest sender never trips the receiver's cap.
#[derive(Debug, Clone, Copy)]
pub struct HeldBudget {
    /// Most bytes the peer may have to hold for this channel.
    pub limit: usize,
    /// Whether every message counts (ordered channel) or only fragments.
    pub ordered: bool,
}

impl Default for HeldBudget {
    fn default() -> Self {
        HeldBudget {
            limit: usize::MAX,
            ordered: false,
        }
    }
}

/// Sender side of one reliable channel.
#[derive(Debug, Default)]
pub struct ReliableSender {
    base_id: u16,
    slots: VecDeque<Slot>,
    /// Index into `slots` of the first message never sent.
    next_unsent: usize,
    /// Messages to send again, and whether each is the second copy of a resend.
    resend: VecDeque<(u16, bool)>,
    /// Messages resent in the packet being built, to go once more in a later one.
    echo: Vec<u16>,
    bytes: usize,
    unsent_bytes: usize,
    budget: HeldBudget,
    /// Charged bytes of counted slots sent and not slid out.
    span_held: usize,
    /// Charged bytes of fragments slid out whose message has not.
    straddle: usize,
    /// Where copied messages live. Slots leave in id order, so its chunks
    /// are freed in order too: what it keeps alive is what this channel
    /// holds, plus at most two chunks.
    arena: ChannelArena,
}

fn charge(len: usize) -> usize {
    len + HELD_PIECE_OVERHEAD
}

impl ReliableSender {
    /// A sender that keeps the peer's held bytes under `budget`.
    pub fn with_budget(budget: HeldBudget) -> Self {
        ReliableSender {
            budget,
            ..ReliableSender::default()
        }
    }

    fn counts(&self, slot: &Slot) -> bool {
        self.budget.ordered || slot.fragment.is_some()
    }

    /// Queues a message; returns its id.
    pub fn push(&mut self, payload: Bytes) -> u16 {
        self.push_slot(payload.into(), None)
    }

    /// Queues a copy of a message that fits one packet; returns its id.
    pub fn push_copy(&mut self, payload: &[u8]) -> u16 {
        let arena = &mut self.arena;
        let payload = Payload::copy(payload, |data| arena.copy(data));
        self.push_slot(payload, None)
    }

    /// Queues a message split into pieces of at most `piece` bytes (at least
    /// two pieces; the caller checked it needs them). Returns the first id.
    pub fn push_fragmented(&mut self, payload: Bytes, piece: usize) -> u16 {
        let piece = piece.max(1);
        let count = payload
            .len()
            .div_ceil(piece)
            .clamp(2, usize::from(u16::MAX)) as u16;
        let piece = payload.len().div_ceil(usize::from(count));
        let first = self.base_id.wrapping_add(self.slots.len() as u16);
        for index in 0..count {
            let start = (usize::from(index) * piece).min(payload.len());
            let end = (start + piece).min(payload.len());
            self.push_slot(
                payload.slice(start..end).into(),
                Some(Fragment { index, count }),
            );
        }
        first
    }

    fn push_slot(&mut self, payload: Payload, fragment: Option<Fragment>) -> u16 {
        let id = self.base_id.wrapping_add(self.slots.len() as u16);
        self.bytes += payload.len();
        self.unsent_bytes += payload.len();
        self.slots.push_back(Slot {
            payload,
            fragment,
            acked: false,
            queued_for_resend: false,
        });
        id
    }

    /// The next message to put in a packet, if `fits(len, fragmented)` says it
    /// fits: a lost message first, else a new one whose index is inside
    /// `window` and whose sending keeps the peer's held bytes in budget.
    pub fn next(
        &mut self,
        window: usize,
        fits: impl Fn(usize, bool) -> bool,
    ) -> Option<Outgoing<'_>> {
        while let Some(&(id, second)) = self.resend.front() {
            let Some(index) = self.index_of(id) else {
                self.resend.pop_front();
                continue;
            };
            let slot = &mut self.slots[index];
            if slot.acked {
                slot.queued_for_resend = false;
                self.resend.pop_front();
                continue;
            }
            if !fits(slot.payload.len(), slot.fragment.is_some()) {
                return None;
            }
            slot.queued_for_resend = false;
            self.resend.pop_front();
            if !second {
                self.echo.push(id);
            }
            let slot = &self.slots[index];
            return Some(Outgoing {
                id,
                payload: slot.payload.as_slice(),
                fragment: slot.fragment,
                resend: true,
            });
        }
        if self.next_unsent >= self.slots.len() || self.next_unsent >= window {
            return None;
        }
        let slot = &self.slots[self.next_unsent];
        let len = slot.payload.len();
        if !fits(len, slot.fragment.is_some()) {
            return None;
        }
        if self.counts(slot) {
            let held = self.span_held + self.straddle;
            let cost = charge(len);
            // Something held always drains as acks slide the span, so waiting
            // here cannot deadlock; with nothing held, go regardless.
            if held > 0 && held + cost > self.budget.limit {
                return None;
            }
            self.span_held += cost;
        }
        self.unsent_bytes -= len;
        let index = self.next_unsent;
        self.next_unsent += 1;
        let slot = &self.slots[index];
        Some(Outgoing {
            id: self.base_id.wrapping_add(index as u16),
            payload: slot.payload.as_slice(),
            fragment: slot.fragment,
            resend: false,
        })
    }

    /// Starts a new packet: what the last one resent is queued once more, so
    /// every resend goes in two packets. A message lost once waits a loss
    /// detection; lost again it would wait another, and on an ordered channel
    /// everything behind it with it. Two copies make that as rare as losing
    /// both, for a few percent more bytes when the path loses packets.
    pub fn begin_packet(&mut self) {
        let mut echo = std::mem::take(&mut self.echo);
        for id in echo.drain(..) {
            let Some(slot) = self.slot_mut(id) else {
                continue;
            };
            if !slot.acked && !slot.queued_for_resend {
                slot.queued_for_resend = true;
                self.resend.push_back((id, true));
            }
        }
        // Handed back empty, so its capacity serves the next packet.
        self.echo = echo;
    }

    /// Bytes the peer may be holding for this channel (an upper bound).
    #[cfg(test)]
    fn held_bytes_bound(&self) -> usize {
        self.span_held + self.straddle
    }

    /// Where message `id` sits in `slots`, if it is still held.
    fn index_of(&self, id: u16) -> Option<usize> {
        usize::try_from(seq_diff(id, self.base_id))
            .ok()
            .filter(|&i| i < self.slots.len())
    }

    fn slot_mut(&mut self, id: u16) -> Option<&mut Slot> {
        let index = self.index_of(id)?;
        self.slots.get_mut(index)
    }

    /// A packet carrying `id` was acknowledged.
    pub fn on_acked(&mut self, id: u16) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        if slot.acked {
            return;
        }
        slot.acked = true;
        let len = slot.payload.len();
        self.bytes -= len;
        while self.slots.front().is_some_and(|s| s.acked) {
            let Some(slot) = self.slots.pop_front() else {
                break;
            };
            if self.counts(&slot) {
                let cost = charge(slot.payload.len());
                self.span_held = self.span_held.saturating_sub(cost);
                match slot.fragment {
                    Some(f) if f.index + 1 < f.count => self.straddle += cost,
                    Some(_) => self.straddle = 0,
                    None => {}
                }
            }
            self.base_id = self.base_id.wrapping_add(1);
            self.next_unsent = self.next_unsent.saturating_sub(1);
        }
    }

    /// A packet carrying `id` was lost: send it again unless it was acked by another.
    pub fn on_lost(&mut self, id: u16) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        if slot.acked || slot.queued_for_resend {
            return;
        }
        slot.queued_for_resend = true;
        self.resend.push_back((id, false));
    }

    /// Whether messages wait to be sent, new or again.
    pub fn has_pending(&self) -> bool {
        !self.resend.is_empty() || !self.echo.is_empty() || self.next_unsent < self.slots.len()
    }

    /// Whether every message has been acknowledged.
    pub fn is_drained(&self) -> bool {
        self.slots.is_empty()
    }

    /// Payload bytes held (unsent or unacknowledged).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Payload bytes never sent yet.
    pub fn unsent_bytes(&self) -> usize {
        self.unsent_bytes
    }

    /// Messages held (unsent or unacknowledged).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Messages never sent yet.
    pub fn unsent_len(&self) -> usize {
        self.slots.len().saturating_sub(self.next_unsent)
    }

    /// Messages sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.next_unsent.min(self.slots.len())
    }
}

/// Sender side of an unreliable channel: a plain FIFO, with ids for the sequenced mode.
#[derive(Debug, Default)]
pub struct UnreliableSender {
    queue: VecDeque<(u16, Bytes)>,
    next_id: u16,
    bytes: usize,
    /// Where copied messages live; they leave in order, as they are sent.
    arena: ChannelArena,
}

impl UnreliableSender {
    /// Queues a message.
    pub fn push(&mut self, payload: Bytes) {
        self.bytes += payload.len();
        self.queue.push_back((self.next_id, payload));
        self.next_id = self.next_id.wrapping_add(1);
    }

    /// Queues a copy of a message.
    pub fn push_copy(&mut self, payload: &[u8]) {
        let payload = self.arena.copy(payload);
        self.push(payload);
    }

    /// The next message if `fits(len)`.
    pub fn next(&mut self, fits: impl Fn(usize) -> bool) -> Option<(u16, Bytes)> {
        let (_, payload) = self.queue.front()?;
        if !fits(payload.len()) {
            return None;
        }
        let (id, payload) = self.queue.pop_front()?;
        self.bytes -= payload.len();
        Some((id, payload))
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Payload bytes queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: u8) -> Bytes {
        Bytes::from(vec![v; 4])
    }

    #[test]
    fn window_limits_new_sends_and_acks_slide_it() {
        let mut s = ReliableSender::default();
        for i in 0..5 {
            s.push(b(i));
        }
        assert_eq!(s.next(2, |_, _| true).map(|m| m.id), Some(0));
        assert_eq!(s.next(2, |_, _| true).map(|m| m.id), Some(1));
        assert!(s.next(2, |_, _| true).is_none());
        s.on_acked(1);
        assert!(
            s.next(2, |_, _| true).is_none(),
            "0 still unacked holds the window"
        );
        s.on_acked(0);
        assert_eq!(s.next(2, |_, _| true).map(|m| m.id), Some(2));
        assert_eq!(s.bytes(), 12);
    }

    #[test]
    fn lost_messages_resend_first_once() {
        let mut s = ReliableSender::default();
        s.push(b(1));
        s.push(b(2));
        s.next(10, |_, _| true);
        s.on_lost(0);
        s.on_lost(0);
        assert_eq!(
            s.next(10, |_, _| true).map(|m| (m.id, m.resend)),
            Some((0, true))
        );
        assert_eq!(
            s.next(10, |_, _| true).map(|m| (m.id, m.resend)),
            Some((1, false))
        );
        assert!(s.next(10, |_, _| true).is_none());
        s.on_lost(1);
        s.on_acked(1);
        assert!(s.next(10, |_, _| true).is_none(), "acked before resend");
        s.on_acked(0);
        assert!(s.is_drained());
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn a_resend_goes_once_more_in_the_next_packet_only() {
        let mut s = ReliableSender::default();
        for i in 0..3 {
            s.push(b(i));
        }
        let all = |_: usize, _: bool| true;
        let sent: Vec<u16> = std::iter::from_fn(|| s.next(10, all).map(|m| m.id)).collect();
        assert_eq!(sent, [0, 1, 2]);
        s.on_lost(0);
        s.on_lost(2);
        s.begin_packet();
        let first: Vec<u16> = std::iter::from_fn(|| s.next(10, all).map(|m| m.id)).collect();
        assert_eq!(first, [0, 2], "the resends, once in this packet");
        assert!(
            s.has_pending(),
            "their second copies wait for the next packet"
        );
        // Acked in between: message 2 needs no second copy.
        s.on_acked(2);
        s.begin_packet();
        let second: Vec<(u16, bool)> =
            std::iter::from_fn(|| s.next(10, all).map(|m| (m.id, m.resend))).collect();
        assert_eq!(second, [(0, true)]);
        s.begin_packet();
        assert!(
            s.next(10, all).is_none(),
            "a second copy is not copied again"
        );
        assert!(!s.has_pending());
    }

    #[test]
    fn a_second_copy_of_a_message_slid_out_touches_no_other() {
        let mut s = ReliableSender::default();
        s.push(b(0));
        s.push(b(1));
        let all = |_: usize, _: bool| true;
        s.next(10, all);
        s.next(10, all);
        s.on_lost(0);
        s.begin_packet();
        assert_eq!(s.next(10, all).map(|m| m.id), Some(0));
        // Acked and slid out before its second copy's packet.
        s.on_acked(0);
        s.begin_packet();
        assert!(s.next(10, all).is_none());
        // Message 1 still resends when its own packet is lost.
        s.on_lost(1);
        s.begin_packet();
        assert_eq!(s.next(10, all).map(|m| (m.id, m.resend)), Some((1, true)));
    }

    #[test]
    fn ids_wrap() {
        let mut s = ReliableSender::default();
        for round in 0..70_000u32 {
            let id = s.push(b(0));
            assert_eq!(id, round as u16);
            let sent = s.next(8, |_, _| true).unwrap().id;
            assert_eq!(sent, id);
            s.on_acked(id);
        }
        assert!(s.is_drained());
    }

    #[test]
    fn a_large_message_goes_as_consecutive_fragments_of_even_size() {
        let mut s = ReliableSender::default();
        s.push(b(9));
        let first = s.push_fragmented(Bytes::from(vec![1u8; 2500]), 1000);
        assert_eq!(first, 1);
        assert_eq!(s.len(), 4);
        let shape: Vec<_> = std::iter::from_fn(|| {
            s.next(100, |_, _| true).map(|o| {
                (
                    o.id,
                    o.payload.len(),
                    o.fragment.map(|f| (f.index, f.count)),
                )
            })
        })
        .collect();
        assert_eq!(
            shape,
            vec![
                (0, 4, None),
                (1, 834, Some((0, 3))),
                (2, 834, Some((1, 3))),
                (3, 832, Some((2, 3)))
            ]
        );
    }

    #[test]
    fn the_held_budget_holds_back_new_pieces_until_messages_complete() {
        let cost = |len| len + HELD_PIECE_OVERHEAD;
        let budget = HeldBudget {
            limit: 3 * cost(1000),
            ordered: false,
        };
        let mut s = ReliableSender::with_budget(budget);
        s.push_fragmented(Bytes::from(vec![0u8; 2000]), 1000);
        s.push_fragmented(Bytes::from(vec![0u8; 2000]), 1000);
        s.push(b(1)); // unfragmented on an unordered channel: never held
        let ids: Vec<u16> = std::iter::from_fn(|| s.next(100, |_, _| true).map(|o| o.id)).collect();
        assert_eq!(
            ids,
            vec![0, 1, 2],
            "a fourth held piece would pass the budget"
        );
        assert_eq!(s.held_bytes_bound(), 3 * cost(1000));
        // The first message's pieces slide out: its siblings are complete.
        s.on_acked(0);
        assert_eq!(
            s.held_bytes_bound(),
            3 * cost(1000),
            "piece 0 is held until piece 1 lands"
        );
        s.on_acked(1);
        assert_eq!(s.held_bytes_bound(), cost(1000));
        let rest: Vec<u16> =
            std::iter::from_fn(|| s.next(100, |_, _| true).map(|o| o.id)).collect();
        assert_eq!(rest, vec![3, 4]);
        // An ordered channel counts every message.
        let mut o = ReliableSender::with_budget(HeldBudget {
            limit: 2 * cost(4),
            ordered: true,
        });
        for i in 0..3 {
            o.push(b(i));
        }
        assert_eq!(
            std::iter::from_fn(|| o.next(100, |_, _| true).map(|m| m.id)).count(),
            2
        );
        o.on_acked(0);
        assert!(o.next(100, |_, _| true).is_some());
    }

    #[test]
    fn unreliable_fifo_respects_fit() {
        let mut u = UnreliableSender::default();
        u.push(b(1));
        u.push(Bytes::from(vec![0; 100]));
        assert!(u.next(|n| n < 10).is_some());
        assert!(u.next(|n| n < 10).is_none());
        assert_eq!(u.next(|_| true).map(|m| m.0), Some(1));
        assert_eq!(u.len(), 0);
    }
}
