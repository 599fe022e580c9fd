//! Which peers one `update()` must service: those touched since the last one
//! (a datagram arrived, a message was queued, a close was asked for) and those
//! whose connection timer is due. An idle peer costs nothing until its next
//! deadline, so a server with thousands of idle clients updates in time
//! proportional to the few that are busy.
//!
//! Each peer has at most one live entry in the timer heap. A deadline that
//! moves later (every packet received pushes the peer's timeout and keepalive
//! back) keeps the earlier entry: it fires early, the peer is serviced, finds
//! nothing due and sets its timer again. So a busy peer costs a heap push
//! only when its deadline moves earlier, not on every service, and the heap
//! holds few stale entries.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::PeerId;

/// A peer's place in the schedule, kept in the peer.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Slot {
    /// Already in the touched list (or, while an update collects who is due,
    /// already taken).
    touched: bool,
    /// The deadline of its live timer entry, still in the heap; other heap
    /// entries for it are stale.
    scheduled: Option<Instant>,
}

/// Touched peers and a timer heap with lazy deletion.
#[derive(Debug, Default)]
pub(super) struct Schedule {
    touched: Vec<PeerId>,
    timers: BinaryHeap<Reverse<(Instant, PeerId)>>,
}

impl Slot {
    /// Whether the peer is in the touched list.
    pub(super) fn is_touched(&self) -> bool {
        self.touched
    }

    /// Whether its live timer entry is the one due at `at`.
    pub(super) fn is_live_timer(&self, at: Instant) -> bool {
        self.scheduled == Some(at)
    }
}

/// Stale timer entries tolerated beyond one per peer before the heap is
/// compacted: rebuilding costs a pass over it, so it waits until at least
/// half of it is stale.
const STALE_SLACK: usize = 64;

impl Schedule {
    /// Marks `id` for service on the next update.
    pub(super) fn touch(&mut self, slot: &mut Slot, id: PeerId) {
        if !slot.touched {
            slot.touched = true;
            self.touched.push(id);
        }
    }

    /// Makes sure `id` is serviced by `deadline` (none: it needs no timer).
    /// A live entry that fires no later is kept, and fires early.
    pub(super) fn set_timer(&mut self, slot: &mut Slot, id: PeerId, deadline: Option<Instant>) {
        let Some(at) = deadline else {
            return;
        };
        if slot.scheduled.is_none_or(|live| live > at) {
            slot.scheduled = Some(at);
            self.timers.push(Reverse((at, id)));
        }
    }

    /// The peers touched since the last update.
    pub(super) fn touched(&self) -> &[PeerId] {
        &self.touched
    }

    /// Takes the touched peers, who stay marked as taken until
    /// [`serviced`](Self::serviced).
    pub(super) fn take_touched(&mut self, into: &mut Vec<PeerId>) {
        into.append(&mut self.touched);
    }

    /// Pops the next timer entry due at `now`, stale or not; the caller
    /// passes it to [`take_due`](Self::take_due).
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, PeerId)> {
        match self.timers.peek() {
            Some(Reverse((at, _))) if *at <= now => self.timers.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }

    /// Takes in a popped entry: returns whether the peer is now due, which
    /// it is if the entry is its live timer and it was not taken already.
    /// The peer is then marked as taken until [`serviced`](Self::serviced).
    pub(super) fn take_due(slot: &mut Slot, at: Instant) -> bool {
        if slot.scheduled != Some(at) {
            return false;
        }
        slot.scheduled = None;
        !std::mem::replace(&mut slot.touched, true)
    }

    /// Takes in a popped entry that fired early: if it is the peer's live
    /// entry and `idle_until` (asked only then) names a later deadline (as
    /// every packet received moves the timeout and keepalive later), the
    /// timer is set again for it and true returned: the peer needs no
    /// service.
    pub(super) fn rearm_early(
        &mut self,
        slot: &mut Slot,
        id: PeerId,
        at: Instant,
        idle_until: impl FnOnce() -> Option<Instant>,
    ) -> bool {
        if slot.scheduled != Some(at) || slot.touched {
            return false;
        }
        let Some(later) = idle_until() else {
            return false;
        };
        slot.scheduled = None;
        self.set_timer(slot, id, Some(later));
        true
    }

    /// Whether a peer about to be serviced may have a connection timer due:
    /// its live entry was popped (or it has none yet), or it fires by `now`.
    /// Otherwise the peer was only touched, and no timer its connection
    /// reported at its last service has come due (entries never fire late).
    pub(super) fn timer_may_be_due(slot: &Slot, now: Instant) -> bool {
        slot.scheduled.is_none_or(|at| at <= now)
    }

    /// Marks a taken peer as serviced: it may be touched again. Its live
    /// timer entry, if any, stays in the heap.
    pub(super) fn serviced(slot: &mut Slot) {
        slot.touched = false;
    }

    /// Whether stale entries have come to outnumber the `live` peers' own:
    /// a busy peer whose deadline keeps moving earlier leaves one behind each
    /// time, each kept until its (later) time comes.
    pub(super) fn needs_compaction(&self, live: usize) -> bool {
        self.timers.len() > 2 * live + STALE_SLACK
    }

    /// Drops the stale entries, keeping those `is_live` names; the heap's
    /// memory is kept, so this allocates nothing.
    pub(super) fn compact(&mut self, is_live: impl Fn(PeerId, Instant) -> bool) {
        self.timers.retain(|Reverse((at, id))| is_live(*id, *at));
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
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut s = Schedule::default();
        let mut slot = Slot::default();
        s.set_timer(&mut slot, 1, Some(at(10)));
        s.set_timer(&mut slot, 1, Some(at(5)));
        assert_eq!(s.next_deadline(t0), Some(at(5)));
        let (first, id) = s.pop_due(at(20)).unwrap();
        assert_eq!((first, id), (at(5), 1));
        assert!(Schedule::take_due(&mut slot, first));
        Schedule::serviced(&mut slot);
        let (stale, _) = s.pop_due(at(20)).unwrap();
        assert!(!Schedule::take_due(&mut slot, stale));
        assert!(s.pop_due(at(20)).is_none());
        s.touch(&mut slot, 1);
        s.touch(&mut slot, 1);
        let mut due = Vec::new();
        s.take_touched(&mut due);
        assert_eq!(due, vec![1]);
    }

    #[test]
    fn compaction_keeps_only_live_entries_and_their_order() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut s = Schedule::default();
        let mut slots = [Slot::default(); 2];
        // A busy peer's deadline moves earlier over and over (an ack to
        // hold, say, after each timeout was set): one stale entry each time.
        for cycle in 0..1000u64 {
            let slot = &mut slots[0];
            s.set_timer(slot, 0, Some(at(10_000 + cycle)));
            s.set_timer(slot, 0, Some(at(cycle)));
            let (fired, _) = s.pop_due(at(cycle)).unwrap();
            assert!(Schedule::take_due(slot, fired));
            Schedule::serviced(slot);
        }
        s.set_timer(&mut slots[0], 0, Some(at(20_000)));
        s.set_timer(&mut slots[1], 1, Some(at(15_000)));
        assert!(s.needs_compaction(2), "{} entries", s.timers.len());
        s.compact(|id, when| slots[id as usize].is_live_timer(when));
        assert_eq!(s.timers.len(), 2);
        assert!(!s.needs_compaction(2));
        assert_eq!(s.pop_due(at(30_000)), Some((at(15_000), 1)));
        assert_eq!(s.pop_due(at(30_000)), Some((at(20_000), 0)));
    }

    #[test]
    fn a_later_deadline_keeps_the_live_entry_and_fires_early() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut s = Schedule::default();
        let mut slot = Slot::default();
        s.set_timer(&mut slot, 7, Some(at(10)));
        for later in 11..100 {
            s.set_timer(&mut slot, 7, Some(at(later)));
        }
        assert_eq!(s.timers.len(), 1, "moving later pushes nothing");
        assert!(s.pop_due(at(9)).is_none());
        let (fired, id) = s.pop_due(at(10)).unwrap();
        assert_eq!(id, 7);
        assert!(Schedule::take_due(&mut slot, fired));
        Schedule::serviced(&mut slot);
        // Serviced, the peer sets its real deadline: a new live entry.
        s.set_timer(&mut slot, 7, Some(at(99)));
        assert_eq!(s.next_deadline(at(10)), Some(at(99)));
    }

    #[test]
    fn a_touched_peer_is_taken_once_and_keeps_its_timer() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut s = Schedule::default();
        let mut slot = Slot::default();
        s.set_timer(&mut slot, 3, Some(at(5)));
        s.touch(&mut slot, 3);
        let mut due = Vec::new();
        s.take_touched(&mut due);
        // Its timer is due in the same update: consumed, not taken twice.
        let (fired, _) = s.pop_due(at(5)).unwrap();
        assert!(!Schedule::take_due(&mut slot, fired));
        assert!(Schedule::timer_may_be_due(&slot, at(5)), "its timers run");
        assert_eq!(due, vec![3]);
        Schedule::serviced(&mut slot);
        // A touch without a due timer leaves the live entry in place.
        s.set_timer(&mut slot, 3, Some(at(50)));
        s.touch(&mut slot, 3);
        s.take_touched(&mut due);
        assert!(!Schedule::timer_may_be_due(&slot, at(6)), "only touched");
        assert!(Schedule::timer_may_be_due(&slot, at(50)));
        Schedule::serviced(&mut slot);
        s.set_timer(&mut slot, 3, Some(at(60)));
        assert_eq!(s.timers.len(), 1);
        assert_eq!(s.next_deadline(at(6)), Some(at(50)));
    }

    #[test]
    fn an_early_entry_is_set_again_without_a_service() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut s = Schedule::default();
        let mut slot = Slot::default();
        s.set_timer(&mut slot, 4, Some(at(10)));
        s.set_timer(&mut slot, 4, Some(at(30)));
        let (fired, _) = s.pop_due(at(10)).unwrap();
        assert!(
            !s.rearm_early(&mut slot, 4, fired, || None),
            "busy: serviced"
        );
        assert!(s.rearm_early(&mut slot, 4, fired, || Some(at(30))));
        assert!(!slot.is_touched(), "not taken for service");
        assert_eq!(s.next_deadline(at(10)), Some(at(30)));
        // A touched peer is serviced anyway, without asking its connection.
        let (fired, _) = s.pop_due(at(30)).unwrap();
        s.touch(&mut slot, 4);
        assert!(!s.rearm_early(&mut slot, 4, fired, || unreachable!()));
        assert!(s.pop_due(at(40)).is_none());
    }
}
