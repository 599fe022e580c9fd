//! Outgoing messages of one connection, per channel, until they are sent
//! (unreliable) or acknowledged (reliable).
//!
//! A reliable channel keeps its messages in a deque indexed by
//! `id - base_id`: the front is the oldest unacknowledged message, so acking
//! and window checks are O(1). Messages declared lost wait in a resend queue
//! and go out before anything new.

use std::collections::VecDeque;

use bytes::Bytes;

use super::seq::seq_diff;

#[derive(Debug)]
struct Slot {
    payload: Bytes,
    acked: bool,
    queued_for_resend: bool,
}

/// Sender side of one reliable channel.
#[derive(Debug, Default)]
pub struct ReliableSender {
    base_id: u16,
    slots: VecDeque<Slot>,
    /// Index into `slots` of the first message never sent.
    next_unsent: usize,
    resend: VecDeque<u16>,
    bytes: usize,
    unsent_bytes: usize,
}

impl ReliableSender {
    /// Queues a message; returns its id.
    pub fn push(&mut self, payload: Bytes) -> u16 {
        let id = self.base_id.wrapping_add(self.slots.len() as u16);
        self.bytes += payload.len();
        self.unsent_bytes += payload.len();
        self.slots.push_back(Slot {
            payload,
            acked: false,
            queued_for_resend: false,
        });
        id
    }

    /// The next message to put in a packet, if `fits(len)` says it fits:
    /// a lost message first, else a new one whose index is inside `window`.
    /// Returns the id, the payload, and whether it is a resend.
    pub fn next(
        &mut self,
        window: usize,
        fits: impl Fn(usize) -> bool,
    ) -> Option<(u16, Bytes, bool)> {
        while let Some(&id) = self.resend.front() {
            let Some(slot) = self.slot_mut(id) else {
                self.resend.pop_front();
                continue;
            };
            if slot.acked {
                slot.queued_for_resend = false;
                self.resend.pop_front();
                continue;
            }
            if !fits(slot.payload.len()) {
                return None;
            }
            slot.queued_for_resend = false;
            let payload = slot.payload.clone();
            self.resend.pop_front();
            return Some((id, payload, true));
        }
        if self.next_unsent >= self.slots.len() || self.next_unsent >= window {
            return None;
        }
        let slot = &self.slots[self.next_unsent];
        if !fits(slot.payload.len()) {
            return None;
        }
        let id = self.base_id.wrapping_add(self.next_unsent as u16);
        let payload = slot.payload.clone();
        self.unsent_bytes -= payload.len();
        self.next_unsent += 1;
        Some((id, payload, false))
    }

    fn slot_mut(&mut self, id: u16) -> Option<&mut Slot> {
        let index = seq_diff(id, self.base_id);
        if index < 0 {
            return None;
        }
        self.slots.get_mut(index as usize)
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
            self.slots.pop_front();
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
        self.resend.push_back(id);
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
}

impl UnreliableSender {
    /// Queues a message.
    pub fn push(&mut self, payload: Bytes) {
        self.bytes += payload.len();
        self.queue.push_back((self.next_id, payload));
        self.next_id = self.next_id.wrapping_add(1);
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
        assert_eq!(s.next(2, |_| true).map(|m| m.0), Some(0));
        assert_eq!(s.next(2, |_| true).map(|m| m.0), Some(1));
        assert!(s.next(2, |_| true).is_none());
        s.on_acked(1);
        assert!(
            s.next(2, |_| true).is_none(),
            "0 still unacked holds the window"
        );
        s.on_acked(0);
        assert_eq!(s.next(2, |_| true).map(|m| m.0), Some(2));
        assert_eq!(s.bytes(), 12);
    }

    #[test]
    fn lost_messages_resend_first_once() {
        let mut s = ReliableSender::default();
        s.push(b(1));
        s.push(b(2));
        s.next(10, |_| true);
        s.on_lost(0);
        s.on_lost(0);
        assert_eq!(s.next(10, |_| true).map(|m| (m.0, m.2)), Some((0, true)));
        assert_eq!(s.next(10, |_| true).map(|m| (m.0, m.2)), Some((1, false)));
        assert!(s.next(10, |_| true).is_none());
        s.on_lost(1);
        s.on_acked(1);
        assert!(s.next(10, |_| true).is_none(), "acked before resend");
        s.on_acked(0);
        assert!(s.is_drained());
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn ids_wrap() {
        let mut s = ReliableSender::default();
        for round in 0..70_000u32 {
            let id = s.push(b(0));
            assert_eq!(id, round as u16);
            let (sent, _, _) = s.next(8, |_| true).unwrap();
            assert_eq!(sent, id);
            s.on_acked(id);
        }
        assert!(s.is_drained());
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
