//! How much receive work the server does per update and per peer, counted in
//! frames and bytes rather than datagrams: a datagram of 1 387 pings costs
//! as much as 35 ordinary packets, so a count of datagrams bounds nothing.
//!
//! * Per update, at most `Config::max_frames_per_update` frames are taken in;
//!   once they are, the socket is not read again until the next update, so
//!   what remains waits in the socket's buffer (and what overflows it is the
//!   kernel's to drop). That also bounds the events one update raises.
//! * Per peer, a token bucket refills at `Config::max_frames_per_peer_sec`
//!   frames and `Config::max_bytes_per_peer_sec` bytes per second, saving up
//!   at most [`BURST`] of each. A peer whose bucket is empty has its
//!   datagrams dropped and counted; one that stays over for [`PERSIST`] is
//!   disconnected with `DisconnectReason::Flooding`.
//!
//! State is kept only for peers the server already accepted. This module
//! never reads a socket or parses a datagram; it only keeps the accounts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::PeerId;

/// How much of its rate a quiet peer may save up and spend at once.
pub const BURST: Duration = Duration::from_millis(20);

/// How long a peer may stay over its budget before it is disconnected.
pub const PERSIST: Duration = Duration::from_secs(2);

/// What to do with a peer's next datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Take it in.
    Take,
    /// Drop it: the peer is over its budget.
    Drop,
    /// The peer has been over its budget for too long: disconnect it.
    Evict,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    frames: f64,
    bytes: f64,
    refilled: Instant,
    /// Since when the peer has been over its budget without recovering.
    over_since: Option<Instant>,
}

/// The receive budgets of one server.
#[derive(Debug)]
pub struct ReceiveBudget {
    frames_per_sec: f64,
    bytes_per_sec: f64,
    per_update: usize,
    left_this_update: usize,
    peers: HashMap<PeerId, Bucket>,
}

impl ReceiveBudget {
    /// Budgets of `frames_per_sec` and `bytes_per_sec` per peer and
    /// `per_update` frames per update.
    pub fn new(frames_per_sec: u64, bytes_per_sec: u64, per_update: usize) -> Self {
        ReceiveBudget {
            frames_per_sec: frames_per_sec as f64,
            bytes_per_sec: bytes_per_sec as f64,
            per_update,
            left_this_update: per_update,
            peers: HashMap::new(),
        }
    }

    /// A new update begins: its frame budget is whole again.
    pub fn begin_update(&mut self) {
        self.left_this_update = self.per_update;
    }

    /// Whether this update's frames are spent (stop reading the socket).
    pub fn update_spent(&self) -> bool {
        self.left_this_update == 0
    }

    fn burst(&self) -> (f64, f64) {
        let s = BURST.as_secs_f64();
        (self.frames_per_sec * s, self.bytes_per_sec * s)
    }

    /// What to do with a datagram from `peer` arriving at `now`.
    pub fn admit(&mut self, peer: PeerId, now: Instant) -> Verdict {
        let (max_frames, max_bytes) = self.burst();
        let (fps, bps) = (self.frames_per_sec, self.bytes_per_sec);
        let b = self.peers.entry(peer).or_insert(Bucket {
            frames: max_frames,
            bytes: max_bytes,
            refilled: now,
            over_since: None,
        });
        let dt = now.saturating_duration_since(b.refilled).as_secs_f64();
        b.refilled = now;
        b.frames = (b.frames + dt * fps).min(max_frames);
        b.bytes = (b.bytes + dt * bps).min(max_bytes);
        if b.frames >= max_frames && b.bytes >= max_bytes {
            // Recovered: the peer kept under its rate long enough to save up
            // a whole burst again, so an honest burst never adds up to a
            // disconnect, while a peer always above its rate never recovers.
            b.over_since = None;
        }
        if b.frames > 0.0 && b.bytes > 0.0 {
            return Verdict::Take;
        }
        let since = *b.over_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= PERSIST {
            Verdict::Evict
        } else {
            Verdict::Drop
        }
    }

    /// Charges `peer` for a datagram taken in: `frames` parsed, `bytes` long.
    pub fn charge(&mut self, peer: PeerId, frames: u64, bytes: usize) {
        self.left_this_update = self.left_this_update.saturating_sub(frames as usize);
        if let Some(b) = self.peers.get_mut(&peer) {
            b.frames -= frames as f64;
            b.bytes -= bytes as f64;
        }
    }

    /// Forgets a peer that left.
    pub fn forget(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_over_its_rate_is_dropped_then_evicted() {
        let t0 = Instant::now();
        // 1 000 frames/s: a burst of 20.
        let mut b = ReceiveBudget::new(1_000, 1 << 30, 10_000);
        assert_eq!(b.admit(1, t0), Verdict::Take);
        b.charge(1, 60, 100);
        assert_eq!(b.admit(1, t0), Verdict::Drop);
        // It keeps sending 15 frames per 10 ms against a rate of 10.
        let mut first_drop = None;
        let mut evicted = None;
        for step in 1..=400u32 {
            let t = t0 + Duration::from_millis(10) * step;
            match b.admit(1, t) {
                Verdict::Take => b.charge(1, 15, 100),
                Verdict::Drop => {
                    first_drop.get_or_insert(t);
                }
                Verdict::Evict => {
                    evicted = Some(t);
                    break;
                }
            }
        }
        let (first, evicted) = (first_drop.expect("dropped"), evicted.expect("evicted"));
        assert!(evicted - t0 >= PERSIST && evicted - first <= PERSIST + BURST);
        // Another peer is untouched; the update budget is its own.
        assert_eq!(b.admit(2, t0), Verdict::Take);
        b.begin_update();
        assert!(!b.update_spent());
        b.charge(2, 10_000, 1);
        assert!(b.update_spent());
    }

    #[test]
    fn a_burst_then_quiet_recovers() {
        let t0 = Instant::now();
        let mut b = ReceiveBudget::new(1_000, 1 << 30, 10_000);
        assert_eq!(b.admit(1, t0), Verdict::Take);
        b.charge(1, 100, 100);
        assert_eq!(b.admit(1, t0), Verdict::Drop);
        // 200 ms of quiet refill the whole burst: over is forgotten.
        assert_eq!(b.admit(1, t0 + Duration::from_millis(200)), Verdict::Take);
        b.charge(1, 100, 100);
        let late = t0 + PERSIST + Duration::from_millis(200);
        assert_eq!(b.admit(1, late), Verdict::Take, "refilled by then");
        b.charge(1, 100, 100);
        assert_eq!(b.admit(1, late), Verdict::Drop, "over again, not evicted");
    }
}
