//! Which peers one `update()` must service: those touched since the last one
//! (a datagram arrived, a message was queued, a close was asked for) and those
//! whose connection timer is due. An idle peer costs nothing until its next
//! deadline, so a server with thousands of idle clients updates in time
//! proportional to the few that are busy.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::PeerId;

/// A peer's place in the schedule, kept in the peer.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Slot {
    /// Already in the touched list.
    touched: bool,
    /// The deadline of its live timer entry; other heap entries for it are stale.
    scheduled: Option<Instant>,
}

/// Touched peers and a timer heap with lazy deletion.
#[derive(Debug, Default)]
pub(super) struct Schedule {
    touched: Vec<PeerId>,
    timers: BinaryHeap<Reverse<(Instant, PeerId)>>,
}

impl Schedule {
    /// Marks `id` for service on the next update.
    pub(super) fn touch(&mut self, slot: &mut Slot, id: PeerId) {
        if !slot.touched {
            slot.touched = true;
            self.touched.push(id);
        }
    }

    /// Sets `id`'s timer to `deadline` (none: no timer).
    pub(super) fn set_timer(&mut self, slot: &mut Slot, id: PeerId, deadline: Option<Instant>) {
        if slot.scheduled != deadline {
            slot.scheduled = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, id)));
            }
        }
    }

    /// Takes the touched peers; the caller clears their slots with [`serviced`](Self::serviced).
    pub(super) fn take_touched(&mut self, into: &mut Vec<PeerId>) {
        into.append(&mut self.touched);
    }

    /// Pops the next timer entry due at `now`, stale or not; the caller checks
    /// it with [`is_live`](Self::is_live).
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, PeerId)> {
        match self.timers.peek() {
            Some(Reverse((at, _))) if *at <= now => self.timers.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }

    /// Whether a popped entry is the peer's live timer (and the peer not yet taken).
    pub(super) fn is_live(slot: &Slot, at: Instant) -> bool {
        slot.scheduled == Some(at) && !slot.touched
    }

    /// Marks a peer as taken for service: no longer touched, timer consumed.
    pub(super) fn serviced(slot: &mut Slot) {
        slot.touched = false;
        slot.scheduled = None;
    }

    /// The earliest timer (possibly stale, so possibly early), or `now` if a peer is touched.
    pub(super) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if !self.touched.is_empty() {
            return Some(now);
        }
        self.timers.peek().map(|Reverse((at, _))| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stale_entries_are_recognised() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        let mut slot = Slot::default();
        s.set_timer(&mut slot, 1, Some(t0 + Duration::from_millis(10)));
        s.set_timer(&mut slot, 1, Some(t0 + Duration::from_millis(5)));
        assert_eq!(s.next_deadline(t0), Some(t0 + Duration::from_millis(5)));
        let (at, id) = s.pop_due(t0 + Duration::from_millis(20)).unwrap();
        assert_eq!((at, id), (t0 + Duration::from_millis(5), 1));
        assert!(Schedule::is_live(&slot, at));
        Schedule::serviced(&mut slot);
        let (stale, _) = s.pop_due(t0 + Duration::from_millis(20)).unwrap();
        assert!(!Schedule::is_live(&slot, stale));
        assert!(s.pop_due(t0 + Duration::from_millis(20)).is_none());
        s.touch(&mut slot, 1);
        s.touch(&mut slot, 1);
        let mut due = Vec::new();
        s.take_touched(&mut due);
        assert_eq!(due, vec![1]);
    }
}
