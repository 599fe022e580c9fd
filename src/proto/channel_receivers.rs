//! Receiver side of each channel: deduplication, sequencing and reordering.
//!
//! * `Reliable`: a window of bits starting at the oldest id not yet received;
//!   an id below it or already marked is a duplicate.
//! * `ReliableOrdered`: the reorder queue. Say ids 5, 7 and 8 arrive while 6 is
//!   missing: 5 is delivered, 7 and 8 wait in slots 1 and 2 after `next = 6`;
//!   when 6 arrives it is delivered, then 7 and 8 are released in order.
//! * `UnreliableSequenced`: only ids newer than the newest delivered pass.
//!
//! Windows are bounded by the offered `reliable_window`; an honest sender never
//! sends past it, so an id beyond it is a protocol violation.
//!
//! Ids are 64-bit here: each wire id is rebuilt as the full id closest to the
//! oldest one the receiver still waits for (`seq::reconstruct`), and every
//! check and record uses the full id, so an id the window moved past long
//! ago, 65 536 or a million ids back, is never taken for a new one. This
//! module never owns message bytes beyond the ordered receiver's held slots.

use std::collections::VecDeque;

use bytes::Bytes;

use std::mem::size_of;

use super::packet_history::HISTORY;
use super::seq::{reconstruct, seq_newer};
use crate::wire::Fragment;

/// A message (or fragment) the ordered receiver holds or hands over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Its bytes.
    pub payload: Bytes,
    /// Its place in a fragmented message.
    pub fragment: Option<Fragment>,
}

/// Verdict on an arriving message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// New: deliver (or hold, for ordered).
    New,
    /// Already received.
    Duplicate,
    /// Beyond the receive window.
    OutOfWindow,
}

/// Keeps only messages newer than the newest delivered one.
///
/// Sequenced messages are never resent and leave in id order, so a message in
/// a newer packet is always newer. Judging by the packet first keeps this true
/// after an outage that skipped more than half the id space: the sender's
/// packet numbers never run that far ahead of what the peer acknowledged.
#[derive(Debug, Default)]
pub struct SequencedReceiver {
    latest: Option<(u64, u16)>,
}

impl SequencedReceiver {
    /// Forgets the newest delivered message once fresh packets have moved well
    /// past it: a packet `HISTORY` or more newer is older than the receive history,
    /// so any later packet that passes as fresh is newer. Without this, an
    /// idle sequenced channel would look "newer" again only after a wrap.
    /// Returns whether a delivered message is still remembered.
    pub fn on_fresh_packet(&mut self, packet: u64) -> bool {
        if self
            .latest
            .is_some_and(|(p, _)| packet.saturating_sub(p) >= HISTORY as u64)
        {
            self.latest = None;
        }
        self.latest.is_some()
    }

    /// Whether message `id`, carried by packet `packet`, should be delivered;
    /// records it if so.
    pub fn accept(&mut self, packet: u64, id: u16) -> bool {
        if let Some((latest_packet, latest_id)) = self.latest {
            let newer =
                packet > latest_packet || (packet == latest_packet && seq_newer(id, latest_id));
            if !newer {
                return false;
            }
        }
        self.latest = Some((packet, id));
        true
    }
}

/// Exactly-once filter for the unordered reliable channel.
#[derive(Debug)]
pub struct ReliableReceiver {
    /// The oldest id not received yet.
    base: u64,
    window: u16,
    /// Bit `i` (ring-indexed by id) set: id received. Allocated at first gap.
    bits: Vec<u64>,
}

impl ReliableReceiver {
    /// A receiver offering `window` ids.
    pub fn new(window: u16) -> Self {
        ReliableReceiver {
            base: 0,
            window,
            bits: Vec::new(),
        }
    }

    fn bit_index(&self, id: u64) -> (usize, u64) {
        let i = (id % u64::from(self.window)) as usize;
        (i / 64, 1 << (i % 64))
    }

    /// The full id of wire id `id`.
    pub fn full_id(&self, id: u16) -> u64 {
        reconstruct(self.base, id)
    }

    /// Checks a full id without recording it.
    pub fn check(&self, id: u64) -> Arrival {
        let Some(offset) = id.checked_sub(self.base) else {
            return Arrival::Duplicate;
        };
        if offset >= u64::from(self.window) {
            return Arrival::OutOfWindow;
        }
        if self.bits.is_empty() {
            return Arrival::New;
        }
        let (word, mask) = self.bit_index(id);
        if self.bits[word] & mask != 0 {
            Arrival::Duplicate
        } else {
            Arrival::New
        }
    }

    /// Records an id that [`check`](Self::check) found new.
    pub fn record(&mut self, id: u64) {
        if id == self.base && self.bits.is_empty() {
            self.base += 1;
            return;
        }
        if self.bits.is_empty() {
            self.bits = vec![0; (self.window as usize).div_ceil(64)];
        }
        let (word, mask) = self.bit_index(id);
        self.bits[word] |= mask;
        loop {
            let (word, mask) = self.bit_index(self.base);
            if self.bits[word] & mask == 0 {
                break;
            }
            self.bits[word] &= !mask;
            self.base += 1;
        }
    }
}

/// The reorder queue of the ordered reliable channel.
#[derive(Debug)]
pub struct OrderedReceiver {
    /// The full id of the next message to deliver.
    next: u64,
    window: u16,
    /// `held[i]` is the message with id `next + 1 + i`, if it arrived.
    held: VecDeque<Option<Piece>>,
    held_count: usize,
    /// Payload bytes of the held copies.
    held_payload: usize,
}

/// Heap bytes of one reorder slot, filled or not.
const SLOT: usize = size_of::<Option<Piece>>();

impl OrderedReceiver {
    /// A receiver offering `window` ids.
    pub fn new(window: u16) -> Self {
        OrderedReceiver {
            next: 0,
            window,
            held: VecDeque::new(),
            held_count: 0,
            held_payload: 0,
        }
    }

    /// The full id of wire id `id`.
    pub fn full_id(&self, id: u16) -> u64 {
        reconstruct(self.next, id)
    }

    /// Checks a full id without recording it.
    pub fn check(&self, id: u64) -> Arrival {
        let Some(offset) = id.checked_sub(self.next) else {
            return Arrival::Duplicate;
        };
        if offset >= u64::from(self.window) {
            return Arrival::OutOfWindow;
        }
        if offset > 0
            && self
                .held
                .get(offset as usize - 1)
                .is_some_and(Option::is_some)
        {
            return Arrival::Duplicate;
        }
        Arrival::New
    }

    /// Whether a new message with this id would be held rather than delivered.
    pub fn would_hold(&self, id: u64) -> bool {
        id > self.next
    }

    /// Heap bytes holding message `id` of `len` bytes would add: its copy
    /// and, when it lies past the slots there are, the slots up to it.
    pub fn hold_cost(&self, id: u64, len: usize) -> usize {
        let slots = id.saturating_sub(self.next) as usize;
        let capacity = self.held.capacity();
        let grown = if slots > capacity {
            slots.max(capacity * 2)
        } else {
            capacity
        };
        len + (grown - capacity) * SLOT
    }

    /// Takes a message that [`check`](Self::check) found new and hands every
    /// message now in order to `deliver`.
    pub fn insert(&mut self, id: u64, piece: Piece, mut deliver: impl FnMut(Piece)) {
        let offset = id.saturating_sub(self.next);
        if offset > 0 {
            let slot = offset as usize - 1;
            if self.held.len() <= slot {
                // Grown exactly as `hold_cost` priced it.
                let capacity = self.held.capacity();
                if slot + 1 > capacity {
                    let grown = (slot + 1).max(capacity * 2);
                    self.held.reserve_exact(grown - self.held.len());
                }
                self.held.resize(slot + 1, None);
            }
            // A held message gets its own copy: a slice would keep its whole
            // datagram alive for as long as the gap stays open.
            self.held_payload += piece.payload.len();
            self.held[slot] = Some(Piece {
                payload: Bytes::copy_from_slice(&piece.payload),
                fragment: piece.fragment,
            });
            self.held_count += 1;
            return;
        }
        deliver(piece);
        self.next += 1;
        while let Some(front) = self.held.pop_front() {
            match front {
                Some(p) => {
                    self.held_count -= 1;
                    self.held_payload -= p.payload.len();
                    deliver(p);
                    self.next += 1;
                }
                None => break,
            }
        }
        // Slots a burst opened are given back as the queue drains; only
        // below a quarter full, so the rebuilds stay amortized.
        if self.held.len() * 4 <= self.held.capacity() {
            self.held.shrink_to(self.held.len() * 2);
        }
    }

    /// Messages waiting for a gap to fill.
    pub fn len(&self) -> usize {
        self.held_count
    }

    /// Heap bytes held: the messages' copies and every reorder slot.
    pub fn held_bytes(&self) -> usize {
        self.held_payload + self.held.capacity() * SLOT
    }

    /// Drops every held message: they are not delivered and, never having
    /// been delivered, the channel stops at the first of them. Returns how
    /// many there were.
    pub fn clear(&mut self) -> usize {
        let dropped = self.held_count;
        self.held = VecDeque::new();
        self.held_count = 0;
        self.held_payload = 0;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequenced_never_goes_back() {
        let mut s = SequencedReceiver::default();
        assert!(s.accept(10, 65_535));
        assert!(s.accept(11, 2));
        assert!(!s.accept(10, 1));
        assert!(!s.accept(11, 2));
        assert!(s.accept(11, 3));
        // Ids far ahead (an outage skipped over half the id space) still pass.
        assert!(s.accept(12, 3 + 40_000));
        // An idle channel while 40,000 other packets pass stays usable.
        for p in 13..40_000u64 {
            s.on_fresh_packet(p);
        }
        assert!(s.accept(40_000, 7));
    }

    #[test]
    fn reliable_dedups_in_any_order_across_wrap() {
        let mut r = ReliableReceiver::new(64);
        let mut delivered = 0u32;
        let mut id = 0u16;
        for _ in 0..3000 {
            // Deliver in a shuffled pattern: id+1 before id.
            for x in [id.wrapping_add(1), id, id.wrapping_add(1), id] {
                let full = r.full_id(x);
                if r.check(full) == Arrival::New {
                    r.record(full);
                    delivered += 1;
                }
            }
            id = id.wrapping_add(2);
        }
        assert_eq!(delivered, 6000);
        assert_eq!(
            r.check(r.full_id(id.wrapping_add(64))),
            Arrival::OutOfWindow
        );
        assert_eq!(r.check(r.full_id(id.wrapping_sub(1))), Arrival::Duplicate);
    }

    /// Past 2^20 ids, in shuffled order with every id sent twice, each id is
    /// taken exactly once, and a wire id equal to an old one's low bits is
    /// read as the new id, never the old.
    #[test]
    fn reliable_takes_each_full_id_once_past_a_million() {
        let mut r = ReliableReceiver::new(64);
        let end = (1u64 << 20) + 1000;
        let mut taken = 0u64;
        let mut block = 0u64;
        while block < end {
            // 16 ids, sent backwards, then again forwards.
            let ids = (block..block + 16).rev().chain(block..block + 16);
            for full in ids {
                let got = r.full_id(full as u16);
                assert_eq!(got, full, "wire id {} rebuilt wrong", full as u16);
                if r.check(got) == Arrival::New {
                    r.record(got);
                    taken += 1;
                }
            }
            block += 16;
        }
        assert_eq!(taken, block);
        assert_eq!(r.check(block - (1 << 16)), Arrival::Duplicate);
        assert_eq!(r.check(block - (1 << 20)), Arrival::Duplicate);
    }

    #[test]
    fn ordered_delivers_in_order_past_a_million_ids() {
        let mut r = OrderedReceiver::new(32);
        let mut out = 0u64;
        let mut block = 0u64;
        while block < (1 << 20) + 64 {
            for full in (block..block + 8).rev() {
                let id = r.full_id(full as u16);
                assert_eq!(id, full);
                assert_eq!(r.check(id), Arrival::New);
                let piece = Piece {
                    payload: Bytes::copy_from_slice(&full.to_le_bytes()),
                    fragment: None,
                };
                r.insert(id, piece, |p| {
                    assert_eq!(p.payload[..], out.to_le_bytes()[..], "out of order");
                    out += 1;
                });
                assert_eq!(r.check(id), Arrival::Duplicate);
            }
            block += 8;
        }
        assert_eq!(out, block);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn ordered_holds_until_gap_fills() {
        let mut r = OrderedReceiver::new(16);
        let mut out = Vec::new();
        let piece = |id: u16| Piece {
            payload: Bytes::from(vec![id as u8]),
            fragment: None,
        };
        for id in [0u64, 2, 3] {
            assert_eq!(r.check(id), Arrival::New);
            r.insert(id, piece(id as u16), |p| out.push(p.payload[0]));
        }
        assert_eq!(out, vec![0]);
        assert_eq!(r.len(), 2);
        assert_eq!(r.held_bytes(), 2 + r.held.capacity() * SLOT);
        assert!(r.held.capacity() >= 2);
        assert_eq!(r.check(2), Arrival::Duplicate);
        r.insert(1, piece(1), |p| out.push(p.payload[0]));
        assert_eq!(out, vec![0, 1, 2, 3]);
        assert_eq!(r.len(), 0);
        assert_eq!(r.held_bytes(), 0);
        assert_eq!(r.check(0), Arrival::Duplicate);
        assert_eq!(r.check(20), Arrival::OutOfWindow);
    }
}
