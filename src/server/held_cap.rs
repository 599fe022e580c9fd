//! The server-wide cap on what peers make it hold for messages they have not
//! let it deliver yet (`Config::max_total_held_bytes`).
//!
//! Each connection already keeps its own holdings under `max_held_bytes`;
//! this keeps their sum under the server's cap, so many peers (or one host
//! behind many) cannot add up to more. When the sum is over, the heaviest
//! holder loses what it holds first, then the next heaviest, until the sum
//! fits: an honest peer holding little keeps its data while the peer that
//! hoards loses its own. A peer made to give its holdings back
//! [`STRIKES`] times within [`STRIKE_WINDOW`] is disconnected with
//! `DisconnectReason::HeldTooMuch`.
//!
//! This module only chooses whom to cut back and whom to drop; it never
//! reads a socket, and keeps state only for peers it already cut back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::proto::Connection;
use crate::PeerId;

/// Cut-backs within [`STRIKE_WINDOW`] that get a peer disconnected.
pub const STRIKES: u32 = 3;

/// How long a cut-back counts against a peer.
pub const STRIKE_WINDOW: Duration = Duration::from_secs(10);

/// How often the sum is taken: summing every peer's holdings on every update
/// would cost a busy server a pass over all its peers per update, and in one
/// millisecond a peer can add at most one update's datagrams to it.
const CHECK_EVERY: Duration = Duration::from_millis(1);

/// The cap and the peers it cut back recently.
#[derive(Debug)]
pub struct HeldCap {
    limit: usize,
    last_check: Option<Instant>,
    /// Cut-backs per peer: how many, and when the first still counting was.
    strikes: HashMap<PeerId, (u32, Instant)>,
}

/// What one check did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Enforced {
    /// Peers whose holdings were dropped.
    pub cut_back: Vec<PeerId>,
    /// Of those, the ones to disconnect: they keep forcing the cap.
    pub to_drop: Vec<PeerId>,
}

impl HeldCap {
    /// A cap of `limit` bytes over all peers.
    pub fn new(limit: usize) -> Self {
        HeldCap {
            limit,
            last_check: None,
            strikes: HashMap::new(),
        }
    }

    /// Whether a check is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.last_check
            .is_none_or(|last| now.saturating_duration_since(last) >= CHECK_EVERY)
    }

    /// Sums what `peers` hold and, while over the cap, drops the holdings of
    /// the heaviest. Returns who was cut back and who is to be dropped.
    pub fn enforce<'a>(
        &mut self,
        now: Instant,
        peers: impl Iterator<Item = (PeerId, &'a mut Connection)>,
    ) -> Enforced {
        self.last_check = Some(now);
        let mut done = Enforced::default();
        let mut holders: Vec<(usize, PeerId, &'a mut Connection)> = Vec::new();
        let mut total = 0usize;
        for (id, conn) in peers {
            let held = conn.held_bytes();
            total += held;
            if held > 0 {
                holders.push((held, id, conn));
            }
        }
        self.strikes
            .retain(|_, (_, since)| now.saturating_duration_since(*since) < STRIKE_WINDOW);
        if total <= self.limit {
            return done;
        }
        // Heaviest first; ties by id, so the choice is deterministic.
        holders.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (held, id, conn) in holders {
            if total <= self.limit {
                break;
            }
            conn.drop_held();
            total -= held - conn.held_bytes();
            done.cut_back.push(id);
            let (count, _) = self.strikes.entry(id).or_insert((0, now));
            *count += 1;
            if *count >= STRIKES {
                self.strikes.remove(&id);
                done.to_drop.push(id);
            }
        }
        done
    }

    /// Forgets a peer that left.
    pub fn forget(&mut self, id: PeerId) {
        self.strikes.remove(&id);
    }
}
