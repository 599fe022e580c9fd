//! Joining the fragments of large reliable messages back into messages.
//!
//! On an unordered reliable channel fragments arrive in any order; each is
//! placed by its index into the message whose first fragment has id
//! `id - index`. On an ordered channel the reorder queue already hands
//! fragments over in id order, so a message grows by appending, one per
//! channel at a time.
//!
//! The peer decides what arrives, so nothing here trusts it: a fragment whose
//! count differs from its siblings', whose size does not match theirs, or that
//! would make the message larger than `max_message_size` drops its whole
//! message, and a fragment that would push held bytes past the cap is
//! dropped; both are counted. Memory grows only with fragments that arrived
//! (never with a claimed count), each charged the heap it really takes (its
//! copy, its slot in the lists and tables that track it), the tables shrink
//! back as they empty, and an unordered message that stops making progress
//! expires. Messages are keyed by the full 64-bit id of their first
//! fragment, so a message from before a wrap of the wire's ids is never
//! joined with a new one, and a fragment index already held is refused: a
//! message completes only once every distinct index has arrived.

use std::collections::HashMap;
use std::mem::size_of;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::heap::MapCost;

use crate::wire::Fragment;

/// Bytes a sender budgets for each piece the receiver may hold, on top of its
/// payload. The receiver charges what its structures really take (see
/// `Reassembly::held_bytes`); for the pieces of an honest sender (dense
/// ordered queues, messages of several fragments) that stays within this.
pub const HELD_PIECE_OVERHEAD: usize = 128;

/// What became of a fragment handed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    /// Kept; its message is not complete yet.
    Held,
    /// It completed its message.
    Complete(Bytes),
    /// It broke a rule or the cap; this many pieces (it and any siblings
    /// already held) were dropped.
    Dropped(u64),
}

/// Sizes a message's pieces must agree on.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    count: u16,
    /// Length of every piece but the last, once one has been seen (0: not yet).
    piece_len: u32,
    /// Length of the last piece, once seen (0: not yet).
    last_len: u32,
}

impl Shape {
    /// Records `fragment`'s length, or says the pieces do not fit together.
    fn admit(&mut self, fragment: Fragment, len: usize, max_message: usize) -> bool {
        let Ok(len32) = u32::try_from(len) else {
            return false;
        };
        if fragment.count != self.count || len == 0 {
            return false;
        }
        if fragment.index + 1 < fragment.count {
            if self.piece_len != 0 && self.piece_len != len32 {
                return false;
            }
            self.piece_len = len32;
        } else {
            self.last_len = len32;
        }
        match (self.piece_len as usize, self.last_len as usize) {
            (0, 0) => true,
            (0, last) => last <= max_message,
            (piece, last) => {
                let last = last.max(1);
                let total = (usize::from(self.count) - 1)
                    .checked_mul(piece)
                    .and_then(|t| t.checked_add(last));
                last <= piece && total.is_some_and(|t| t <= max_message)
            }
        }
    }
}

/// One held piece of an unordered message: its index and its own copy.
type HeldPiece = (u16, Box<[u8]>);

#[derive(Debug)]
struct Unordered {
    shape: Shape,
    pieces: Vec<HeldPiece>,
    /// Bit `i` set: index `i` is held. Grown only as far as the highest
    /// index that arrived.
    seen: Vec<u64>,
    /// Heap bytes of the pieces, their list and `seen`.
    charged: usize,
    touched: Instant,
}

impl Unordered {
    /// Heap bytes taking in a piece of `len` bytes at bit-word `word` adds.
    fn growth(&self, word: usize, len: usize) -> usize {
        let pieces = if self.pieces.len() == self.pieces.capacity() {
            self.pieces.capacity().max(1) * size_of::<HeldPiece>()
        } else {
            0
        };
        let seen = (word + 1).saturating_sub(self.seen.capacity()) * size_of::<u64>();
        len + pieces + seen
    }

    /// Takes in a piece [`growth`](Self::growth) priced, growing each list
    /// by exactly what was priced.
    fn take(&mut self, index: u16, word: usize, bit: u64, payload: &[u8], growth: usize) {
        if self.pieces.len() == self.pieces.capacity() {
            self.pieces.reserve_exact(self.pieces.capacity().max(1));
        }
        if self.seen.len() <= word {
            self.seen.reserve_exact(word + 1 - self.seen.len());
            self.seen.resize(word + 1, 0);
        }
        self.seen[word] |= bit;
        self.pieces.push((index, Box::from(payload)));
        self.charged += growth;
    }
}

#[derive(Debug)]
struct InOrder {
    shape: Shape,
    next_index: u16,
    data: BytesMut,
    /// Heap bytes of `data`.
    charged: usize,
}

/// Partly received messages of one connection, all channels.
#[derive(Debug)]
pub struct Reassembly {
    max_message: usize,
    expiry: Duration,
    unordered: HashMap<(u8, u64), Unordered>,
    unordered_table: MapCost,
    in_order: HashMap<u8, InOrder>,
    in_order_table: MapCost,
    /// Heap bytes of every partial message's own allocations.
    bytes: usize,
}

impl Reassembly {
    /// Messages up to `max_message` bytes; an unordered message with no new
    /// fragment for `expiry` is dropped.
    pub fn new(max_message: usize, expiry: Duration) -> Self {
        Reassembly {
            max_message,
            expiry,
            unordered: HashMap::new(),
            unordered_table: MapCost::default(),
            in_order: HashMap::new(),
            in_order_table: MapCost::default(),
            bytes: 0,
        }
    }

    /// Heap bytes held: every piece's copy, the lists and bits that track
    /// them, and the tables that key the partial messages.
    pub fn held_bytes(&self) -> usize {
        self.bytes
            + self.unordered_table.bytes(&self.unordered)
            + self.in_order_table.bytes(&self.in_order)
    }

    /// Whether an unordered message is partly received: only those expire.
    pub fn has_unordered(&self) -> bool {
        !self.unordered.is_empty()
    }

    /// Messages partly received.
    pub fn partial_messages(&self) -> usize {
        self.unordered.len() + self.in_order.len()
    }

    /// A fragment with full id `id` from an unordered channel, `room` bytes
    /// of the cap left.
    pub fn insert_unordered(
        &mut self,
        channel: u8,
        id: u64,
        fragment: Fragment,
        payload: &[u8],
        room: usize,
        now: Instant,
    ) -> Assembled {
        // A message cannot start before the first id there is.
        let Some(first) = id.checked_sub(u64::from(fragment.index)) else {
            return Assembled::Dropped(1);
        };
        let key = (channel, first);
        let max_message = self.max_message;
        let (word, bit) = (
            usize::from(fragment.index / 64),
            1u64 << (fragment.index % 64),
        );
        let mut room = room;
        if !self.unordered.contains_key(&key) {
            let fresh = Unordered {
                shape: Shape {
                    count: fragment.count,
                    ..Shape::default()
                },
                pieces: Vec::new(),
                seen: Vec::new(),
                charged: 0,
                touched: now,
            };
            let table = self.unordered_table.growth(&self.unordered);
            let cost = table + fresh.growth(word, payload.len());
            let mut shape = fresh.shape;
            if cost > room || !shape.admit(fragment, payload.len(), max_message) {
                return Assembled::Dropped(1);
            }
            room -= table;
            self.unordered.insert(key, fresh);
            self.unordered_table.after_insert(&self.unordered);
        }
        let Some(partial) = self.unordered.get_mut(&key) else {
            return Assembled::Dropped(1);
        };
        if partial.seen.get(word).is_some_and(|w| w & bit != 0) {
            // A second copy of a held index: the peer lies; its message can
            // no longer be trusted to join right.
            return self.drop_unordered(key, 1);
        }
        if !partial.shape.admit(fragment, payload.len(), max_message) {
            return self.drop_unordered(key, 1);
        }
        let growth = partial.growth(word, payload.len());
        if growth > room {
            if partial.pieces.is_empty() {
                return self.drop_unordered(key, 1);
            }
            return Assembled::Dropped(1);
        }
        // A held piece gets its own copy: a slice would keep its whole
        // datagram alive while siblings are missing.
        partial.take(fragment.index, word, bit, payload, growth);
        partial.touched = now;
        self.bytes += growth;
        if partial.pieces.len() < usize::from(fragment.count) {
            return Assembled::Held;
        }
        let Some(mut done) = self.unordered.remove(&key) else {
            return Assembled::Held;
        };
        self.unordered_table.after_remove(&mut self.unordered);
        self.bytes -= done.charged;
        done.pieces.sort_unstable_by_key(|(index, _)| *index);
        let total = done.pieces.iter().map(|(_, p)| p.len()).sum();
        let mut message = BytesMut::with_capacity(total);
        for (_, piece) in &done.pieces {
            message.extend_from_slice(piece);
        }
        Assembled::Complete(message.freeze())
    }

    fn drop_unordered(&mut self, key: (u8, u64), extra: u64) -> Assembled {
        let held = self.unordered.remove(&key).map_or(0, |p| {
            self.bytes -= p.charged;
            p.pieces.len() as u64
        });
        self.unordered_table.after_remove(&mut self.unordered);
        Assembled::Dropped(held + extra)
    }

    /// The next in-order piece of an ordered channel, `room` bytes of the cap left.
    pub fn push_in_order(
        &mut self,
        channel: u8,
        fragment: Fragment,
        payload: &[u8],
        room: usize,
    ) -> Assembled {
        let mut dropped = 0;
        let mut room = room;
        if fragment.index == 0 {
            // A new message while one is unfinished: the peer broke the order.
            dropped += self.drop_in_order(channel);
            let table = self.in_order_table.growth(&self.in_order);
            if table > room {
                return Assembled::Dropped(dropped + 1);
            }
            room -= table;
            self.in_order.insert(
                channel,
                InOrder {
                    shape: Shape {
                        count: fragment.count,
                        ..Shape::default()
                    },
                    next_index: 0,
                    data: BytesMut::new(),
                    charged: 0,
                },
            );
            self.in_order_table.after_insert(&self.in_order);
        }
        let max_message = self.max_message;
        let Some(partial) = self.in_order.get_mut(&channel) else {
            return Assembled::Dropped(dropped + 1);
        };
        // Nothing is reserved from the claimed count: the message grows
        // with what arrived, doubling, and is charged its real capacity.
        let need = partial.data.len() + payload.len();
        let capacity = partial.data.capacity();
        // Doubling stops at what the pieces' shape allows the whole message.
        let whole = usize::from(fragment.count)
            .saturating_mul(payload.len().max(partial.shape.piece_len as usize));
        let grown = if need > capacity {
            need.max((capacity * 2).min(whole)).max(8)
        } else {
            capacity
        };
        if partial.next_index != fragment.index
            || !partial.shape.admit(fragment, payload.len(), max_message)
            || grown - capacity > room
        {
            return Assembled::Dropped(dropped + 1 + self.drop_in_order(channel));
        }
        if grown > capacity {
            partial.data.reserve(grown - partial.data.len());
        }
        partial.data.extend_from_slice(payload);
        let charged = partial.data.capacity();
        self.bytes = self.bytes - partial.charged + charged;
        partial.charged = charged;
        partial.next_index += 1;
        if partial.next_index < fragment.count {
            return if dropped > 0 {
                Assembled::Dropped(dropped)
            } else {
                Assembled::Held
            };
        }
        let Some(done) = self.in_order.remove(&channel) else {
            return Assembled::Held;
        };
        self.in_order_table.after_remove(&mut self.in_order);
        self.bytes -= done.charged;
        Assembled::Complete(done.data.freeze())
    }

    /// A whole message arrived in order on `channel`: any unfinished
    /// fragmented message there can never complete. Returns pieces dropped.
    pub fn on_whole_in_order(&mut self, channel: u8) -> u64 {
        // Every ordered message passes here; almost never is one unfinished.
        if self.in_order.is_empty() {
            return 0;
        }
        self.drop_in_order(channel)
    }

    fn drop_in_order(&mut self, channel: u8) -> u64 {
        let dropped = self.in_order.remove(&channel).map_or(0, |p| {
            self.bytes -= p.charged;
            u64::from(p.next_index)
        });
        self.in_order_table.after_remove(&mut self.in_order);
        dropped
    }

    /// Drops every partial message (the connection must give back what it
    /// holds). Returns the pieces dropped.
    pub fn clear(&mut self) -> u64 {
        let unordered: u64 = self.unordered.values().map(|p| p.pieces.len() as u64).sum();
        let in_order: u64 = self
            .in_order
            .values()
            .map(|p| u64::from(p.next_index))
            .sum();
        self.unordered.clear();
        self.in_order.clear();
        self.unordered_table.after_remove(&mut self.unordered);
        self.in_order_table.after_remove(&mut self.in_order);
        self.bytes = 0;
        unordered + in_order
    }

    /// Drops unordered messages that made no progress for the expiry.
    /// Returns the pieces dropped.
    pub fn expire(&mut self, now: Instant) -> u64 {
        let expiry = self.expiry;
        let mut dropped = 0;
        let mut freed = 0;
        self.unordered.retain(|_, p| {
            let keep = now.saturating_duration_since(p.touched) < expiry;
            if !keep {
                dropped += p.pieces.len() as u64;
                freed += p.charged;
            }
            keep
        });
        self.bytes -= freed;
        if dropped > 0 {
            self.unordered_table.after_remove(&mut self.unordered);
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(index: u16, count: u16) -> Fragment {
        Fragment { index, count }
    }

    #[test]
    fn unordered_pieces_join_by_index_in_any_order() {
        let now = Instant::now();
        let mut r = Reassembly::new(1000, Duration::from_secs(1));
        let pieces: [&[u8]; 3] = [b"abcd", b"efgh", b"ij"];
        // First id 10: pieces have ids 10, 11, 12; they arrive 12, 10, 11.
        for i in [2u16, 0] {
            let id = 10 + u64::from(i);
            let got = r.insert_unordered(1, id, frag(i, 3), pieces[i as usize], 10_000, now);
            assert_eq!(got, Assembled::Held);
        }
        assert_eq!(r.partial_messages(), 1);
        let got = r.insert_unordered(1, 11, frag(1, 3), pieces[1], 10_000, now);
        assert_eq!(got, Assembled::Complete(Bytes::from_static(b"abcdefghij")));
        assert_eq!(r.held_bytes(), 0);
        assert_eq!(r.partial_messages(), 0);
    }

    /// A second copy of a held index never stands in for a missing one,
    /// and messages 65 536 ids apart are never joined.
    #[test]
    fn a_repeated_index_is_refused_and_wrapped_ids_stay_apart() {
        let now = Instant::now();
        let mut r = Reassembly::new(1000, Duration::from_secs(1));
        assert_eq!(
            r.insert_unordered(0, 7, frag(0, 2), b"AAAA", 10_000, now),
            Assembled::Held
        );
        // The same first id's index 0 again, under another full id:
        // 65 536 later, as a wrapped wire id would be read.
        assert_eq!(
            r.insert_unordered(0, 7 + (1 << 16), frag(0, 2), b"BBBB", 10_000, now),
            Assembled::Held
        );
        assert_eq!(
            r.partial_messages(),
            2,
            "two messages, not one of two pieces"
        );
        // Index 0 of the first message a second time: refused, and its
        // message dropped with it.
        assert_eq!(
            r.insert_unordered(0, 7, frag(0, 2), b"BBBB", 10_000, now),
            Assembled::Dropped(2)
        );
        assert_eq!(r.partial_messages(), 1);
        assert_eq!(
            r.insert_unordered(0, 8 + (1 << 16), frag(1, 2), b"CC", 10_000, now),
            Assembled::Complete(Bytes::from_static(b"BBBBCC"))
        );
        // An index that would put the message before id 0.
        assert_eq!(
            r.insert_unordered(0, 2, frag(5, 9), b"AAAA", 10_000, now),
            Assembled::Dropped(1)
        );
        assert_eq!(r.held_bytes(), 0);
    }

    #[test]
    fn inconsistent_pieces_drop_their_message() {
        let now = Instant::now();
        let mut r = Reassembly::new(1000, Duration::from_secs(1));
        assert_eq!(
            r.insert_unordered(0, 0, frag(0, 3), b"abcd", 10_000, now),
            Assembled::Held
        );
        // Count changes mid-message.
        assert_eq!(
            r.insert_unordered(0, 1, frag(1, 4), b"efgh", 10_000, now),
            Assembled::Dropped(2)
        );
        assert_eq!(r.held_bytes(), 0);
        // A middle piece of another size.
        r.insert_unordered(0, 10, frag(0, 3), b"abcd", 10_000, now);
        assert_eq!(
            r.insert_unordered(0, 11, frag(1, 3), b"efg", 10_000, now),
            Assembled::Dropped(2)
        );
        // A last piece longer than the others.
        r.insert_unordered(0, 20, frag(0, 2), b"ab", 10_000, now);
        assert_eq!(
            r.insert_unordered(0, 21, frag(1, 2), b"cde", 10_000, now),
            Assembled::Dropped(2)
        );
        // A claimed size past the maximum: 1000 pieces of 4 bytes > 1000.
        assert_eq!(
            r.insert_unordered(0, 30, frag(0, 1000), b"abcd", 10_000, now),
            Assembled::Dropped(1)
        );
        assert_eq!(r.partial_messages(), 0);
        assert_eq!(r.held_bytes(), 0);
    }

    #[test]
    fn the_cap_and_the_expiry_bound_what_is_held() {
        let t0 = Instant::now();
        let mut r = Reassembly::new(100_000, Duration::from_secs(2));
        let piece = [7u8; 100];
        let mut room = 1000;
        let mut held = 0u64;
        for first in (0..100u64).map(|m| m * 10) {
            match r.insert_unordered(0, first, frag(0, 5), &piece, room, t0) {
                Assembled::Held => held += 1,
                Assembled::Dropped(1) => {}
                other => panic!("unexpected {other:?}"),
            }
            room = 1000usize.saturating_sub(r.held_bytes());
        }
        // Each 100-byte piece costs its copy, its list slot, its index bit
        // and its table slot: far fewer than ten fit, and never past the cap.
        assert!((1..10).contains(&held), "{held} held");
        assert!(r.held_bytes() <= 1000);
        assert!(r.held_bytes() >= held as usize * 100);
        assert_eq!(r.expire(t0 + Duration::from_secs(1)), 0);
        assert_eq!(r.expire(t0 + Duration::from_secs(2)), held);
        assert_eq!(r.held_bytes(), 0);
    }

    #[test]
    fn in_order_pieces_append_and_breaks_drop() {
        let mut r = Reassembly::new(1000, Duration::from_secs(1));
        assert_eq!(
            r.push_in_order(3, frag(0, 2), b"abc", 10_000),
            Assembled::Held
        );
        assert_eq!(
            r.push_in_order(3, frag(1, 2), b"de", 10_000),
            Assembled::Complete(Bytes::from_static(b"abcde"))
        );
        // A piece out of place drops the message.
        r.push_in_order(3, frag(0, 3), b"abc", 10_000);
        assert_eq!(
            r.push_in_order(3, frag(2, 3), b"abc", 10_000),
            Assembled::Dropped(2)
        );
        // A piece with no start is dropped.
        assert_eq!(
            r.push_in_order(3, frag(1, 3), b"abc", 10_000),
            Assembled::Dropped(1)
        );
        // A whole message in the middle ends the unfinished one.
        r.push_in_order(3, frag(0, 3), b"abc", 10_000);
        assert_eq!(r.on_whole_in_order(3), 1);
        assert_eq!(r.held_bytes(), 0);
    }
}
