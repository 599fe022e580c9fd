//! Frames waiting to be handed to the endpoint, in buffers that are reused.
//!
//! A frame stays here while the endpoint refuses it for backpressure, so an
//! answer is never lost to a full send queue; what it holds is bounded by
//! the call limits (each frame is a pending call or an incoming call in
//! progress). It never encodes a frame and never touches the endpoint.

use std::collections::VecDeque;

use crate::PeerId;

/// Buffers kept for reuse at most, and the largest capacity kept: a rare
/// large frame does not pin its memory, and what the pool keeps is at most
/// 8 MiB. A server answering 64 clients with 8 calls in flight each makes
/// 512 answers in one update; a pool smaller than a busy update's frames
/// allocates for the rest every time.
const POOL_BUFFERS: usize = 4096;
const POOL_CAPACITY: usize = 2 * 1024;

/// What the endpoint did with a frame handed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Queued on the connection.
    Sent,
    /// Refused for now (a full send queue): keep it and try again later.
    Retry,
    /// Refused for good (the peer is gone): forget it.
    Dropped,
}

/// One encoded frame for one peer's connection.
#[derive(Debug)]
pub(crate) struct OutFrame {
    pub(crate) peer: PeerId,
    /// The connection the frame belongs to; a frame outliving it is dropped.
    pub(crate) epoch: u64,
    /// An answer ends an incoming call in progress once it is sent.
    pub(crate) answer: bool,
    pub(crate) buf: Vec<u8>,
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<OutFrame>,
    pool: Vec<Vec<u8>>,
}

impl Outbox {
    /// An empty buffer, reused if one is free.
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        self.pool.pop().unwrap_or_default()
    }

    /// Gives a buffer back for reuse.
    pub(crate) fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < POOL_BUFFERS && buf.capacity() <= POOL_CAPACITY {
            buf.clear();
            self.pool.push(buf);
        }
    }

    pub(crate) fn push(&mut self, frame: OutFrame) {
        self.queue.push_back(frame);
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn pop(&mut self) -> Option<OutFrame> {
        self.queue.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_but_large_ones_are_not_kept() {
        let mut outbox = Outbox::default();
        let mut buf = outbox.buffer();
        buf.extend_from_slice(b"frame");
        let ptr = buf.as_ptr();
        outbox.recycle(buf);
        let again = outbox.buffer();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), ptr);
        outbox.recycle(Vec::with_capacity(POOL_CAPACITY + 1));
        assert_eq!(outbox.buffer().capacity(), 0);
    }
}
