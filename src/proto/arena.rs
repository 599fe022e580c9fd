//! Copies of small byte strings cut from shared chunks, so that copying a
//! message or a datagram into a [`Bytes`] does not allocate in steady state.
//!
//! Each copy is a slice of a chunk. A chunk whose copies have all been
//! dropped is reused in place; the arena keeps two, so one can fill while the
//! copies of the other are still alive (in flight, queued, handed to the
//! application). When both are still in use the arena starts a new chunk,
//! twice as large up to its maximum, and lets go of the older one, which is
//! freed when its last copy drops. A copy therefore keeps at most one chunk
//! alive: whoever holds copies for long (an application keeping messages, a
//! reorder queue) should hold its own copy, and a string larger than a
//! quarter of the largest chunk gets a buffer of its own.

use bytes::{Bytes, BytesMut};

/// Two reusable chunks to copy byte strings into.
#[derive(Debug)]
pub(crate) struct Arena {
    current: BytesMut,
    spare: BytesMut,
    /// Size of the next chunk to allocate.
    chunk: usize,
    max_chunk: usize,
    /// Chunks allocated so far, up to two: growth starts once both are in use.
    made: u8,
    /// Chunks allocated in all, for the tests.
    #[cfg(test)]
    allocated: u32,
}

/// Sized for the messages of one channel: chunks of 1 KiB, growing to
/// 16 KiB while more is in flight at once. A channel keeps its two chunks
/// for the life of the connection, so the ceiling is what one costs idle.
impl Default for Arena {
    fn default() -> Self {
        Arena::new(1024, 16 * 1024)
    }
}

impl Arena {
    /// Sized for received datagrams: chunks of 8 KiB, growing to 64 KiB
    /// while more is alive at once. A message the application keeps holds
    /// at most one chunk.
    pub(crate) fn for_datagrams() -> Self {
        Arena::new(8 * 1024, 64 * 1024)
    }

    /// An arena whose chunks start at `min_chunk` bytes and grow up to
    /// `max_chunk`. Nothing is allocated until the first copy.
    pub(crate) fn new(min_chunk: usize, max_chunk: usize) -> Self {
        Arena {
            current: BytesMut::new(),
            spare: BytesMut::new(),
            chunk: min_chunk.max(1),
            max_chunk: max_chunk.max(min_chunk).max(1),
            made: 0,
            #[cfg(test)]
            allocated: 0,
        }
    }

    /// `data` as [`Bytes`] of its own, sharing a chunk with other copies.
    pub(crate) fn copy(&mut self, data: &[u8]) -> Bytes {
        if data.len() > self.max_chunk / 4 {
            return Bytes::copy_from_slice(data);
        }
        if self.current.capacity() < data.len() {
            self.make_room(data.len());
        }
        self.current.extend_from_slice(data);
        self.current.split().freeze()
    }

    /// Makes room for `len` more bytes in `current`: reuses a chunk whose
    /// copies are all gone, or else starts a new one.
    fn make_room(&mut self, len: usize) {
        // Room for four such strings, so a chunk is never used up by one.
        while self.chunk < self.max_chunk && self.chunk < len * 4 {
            self.chunk *= 2;
        }
        self.chunk = self.chunk.min(self.max_chunk);
        let free = self.reclaim(len);
        if free == Reclaim::Reused {
            return;
        }
        std::mem::swap(&mut self.current, &mut self.spare);
        let spare_free = self.reclaim(len);
        if spare_free == Reclaim::Reused {
            return;
        }
        // Both chunks are still in use (or not made yet): what is alive at
        // once outgrew them, so the next chunk is larger. The older chunk,
        // now in `current`, is let go; `spare` keeps the one just filled.
        if free == Reclaim::InUse && spare_free == Reclaim::InUse {
            if self.made < 2 {
                self.made += 1;
            } else {
                self.chunk = (self.chunk * 2).min(self.max_chunk);
            }
        }
        #[cfg(test)]
        {
            self.allocated += 1;
        }
        self.current = BytesMut::with_capacity(self.chunk.max(len));
    }

    /// Readies `current` for `len` bytes: what is left of it may do, or else
    /// it is reset to the start of its chunk if nobody else holds it
    /// (`try_reclaim` does so without allocating) and the chunk is not
    /// smaller than chunks are now: a small chunk kept as the spare would
    /// be outgrown each time round, and a new chunk made for nothing.
    fn reclaim(&mut self, len: usize) -> Reclaim {
        if self.current.capacity() >= len {
            Reclaim::Reused
        } else if !self.current.try_reclaim(len) {
            Reclaim::InUse
        } else if self.current.capacity() < self.chunk {
            Reclaim::Outgrown
        } else {
            Reclaim::Reused
        }
    }
}

/// The arena of one channel's messages, kept out of line and made at the
/// first copy: the channels of a connection are walked for every packet, and
/// an arena inline would spread them over more cache lines.
#[derive(Debug, Default)]
pub(crate) struct ChannelArena(Option<Box<Arena>>);

impl ChannelArena {
    /// `data` as [`Bytes`] of its own; see [`Arena::copy`].
    pub(crate) fn copy(&mut self, data: &[u8]) -> Bytes {
        self.0.get_or_insert_with(Box::default).copy(data)
    }
}

/// What became of a chunk [`Arena::reclaim`] looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reclaim {
    /// Reset to its start, ready for copies.
    Reused,
    /// Free, but smaller than chunks are now: to be replaced.
    Outgrown,
    /// Copies cut from it are still alive (or it was never made).
    InUse,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_exact_and_independent() {
        let mut arena = Arena::new(64, 1024);
        let a = arena.copy(b"hello");
        let b = arena.copy(b"world!");
        let empty = arena.copy(b"");
        assert_eq!(&a[..], b"hello");
        assert_eq!(&b[..], b"world!");
        assert!(empty.is_empty());
        let big = arena.copy(&[7u8; 300]);
        assert_eq!(&big[..], &[7u8; 300][..]);
    }

    #[test]
    fn chunks_are_reused_once_their_copies_are_gone() {
        let mut arena = Arena::new(64, 64);
        // Fill and drop many chunks' worth: the two chunks take turns.
        let first = arena.copy(&[1u8; 10]);
        let base = first.as_ptr();
        drop(first);
        let mut seen_other = false;
        for i in 0..1000u32 {
            let c = arena.copy(&i.to_le_bytes());
            assert_eq!(&c[..], &i.to_le_bytes());
            let offset = (c.as_ptr() as usize).wrapping_sub(base as usize);
            seen_other |= offset >= 64;
        }
        // Without holding copies, the first chunk is reused in place.
        assert!(!seen_other, "a chunk nobody holds is reused");
    }

    /// A window of copies alive at once, the oldest dropped as each new one
    /// is made (a channel's messages in flight): once the chunks have grown
    /// to hold it, no new chunk is made.
    #[test]
    fn a_sliding_window_settles_on_two_chunks() {
        let mut arena = Arena::default();
        let mut alive = std::collections::VecDeque::new();
        let mut warm = 0;
        for i in 0..100_000u32 {
            if i == 10_000 {
                warm = arena.allocated;
            }
            alive.push_back(arena.copy(&[i as u8; 32]));
            if alive.len() > 80 {
                alive.pop_front();
            }
        }
        assert_eq!(arena.allocated, warm, "chunks made after warming up");
        assert!(arena.chunk < arena.max_chunk, "grew to {}", arena.chunk);
    }

    #[test]
    fn held_copies_survive_reuse_and_growth() {
        let mut arena = Arena::new(16, 256);
        let held: Vec<(Bytes, u32)> = (0..500u32)
            .map(|i| (arena.copy(&i.to_be_bytes()), i))
            .collect();
        for (bytes, i) in &held {
            assert_eq!(&bytes[..], &i.to_be_bytes());
        }
        assert_eq!(arena.chunk, 256, "grew while everything was held");
    }
}
