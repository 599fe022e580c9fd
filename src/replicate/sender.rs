//! The server's side of one client's replication: which topics it sees, the
//! snapshots sent to it (bounded history), the newest it acknowledged, and
//! each waiting entry's accumulated priority. It builds each snapshot as a
//! delta against that acknowledged snapshot, within a byte budget; it never
//! takes a baseline the client has not acknowledged, and never touches a
//! socket or a clock (time comes in as `now`).
//!
//! A snapshot's view (what the client holds once it applies it) is its
//! baseline's view with the snapshot's removals and upserts applied, so the
//! server knows every view exactly as (key, version) pairs. An entry whose
//! version differs from the baseline's is a candidate; candidates gain
//! `importance x seconds waited` each build and go in order of that sum
//! until the budget is spent; a sent entry starts again from zero, one left
//! out keeps what it gained, so none waits forever. An entry that a snapshot
//! sent since the baseline carried, left out of this one, is listed by key
//! as kept: the client keeps the value it shows (it may hold that snapshot),
//! so its view never steps back to the baseline's value.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::world::{Entry, ReplicatedMap, Topic};
use super::{codec, ReplicateError};

/// Snapshots remembered per client: once the acknowledged one falls out
/// (this many sent without an ack), the next snapshot is a full one.
pub const SNAPSHOT_HISTORY: usize = 32;

/// Worst-case frame header: tag, then five varints of up to five bytes.
const HEADER_BYTES: usize = 26;

/// The version of a kept entry in a snapshot's view: the client holds some
/// value at least as new as the baseline's, which one is unknown.
const UNKNOWN_VERSION: u64 = 0;

/// The longest wait priority accumulates for between two builds, so a client
/// idle for minutes does not come back with absurd priorities.
const MAX_STEP: Duration = Duration::from_secs(1);

/// One snapshot sent and not yet superseded by an acknowledgement.
#[derive(Debug, Clone)]
struct Sent<K> {
    seq: u32,
    /// The client's view once it applies this snapshot, sorted by key.
    view: Vec<(K, u64)>,
    /// Keys it removed, kept or carried, sorted: what a client holding it
    /// may show differently from an older baseline.
    touched: Vec<K>,
}

/// What a client's replication has sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Snapshots built.
    pub snapshots: u64,
    /// Of those, taken against the empty view (no baseline left).
    pub full_snapshots: u64,
    /// Entries carried (added or changed).
    pub entries_sent: u64,
    /// Removals carried.
    pub removals_sent: u64,
    /// Snapshot bytes built.
    pub bytes: u64,
    /// Acknowledgements refused: for a snapshot not in the history.
    pub unknown_acks: u64,
    /// Builds that sent nothing because the keys unacknowledged snapshots
    /// carried did not fit the budget.
    pub deferred: u64,
}

/// One client's replication state on the server.
#[derive(Debug, Clone)]
pub struct PeerReplica<K> {
    topics: BTreeSet<Topic>,
    history: VecDeque<Sent<K>>,
    acked: Option<u32>,
    next_seq: u32,
    /// Priority gained by each candidate left out so far.
    priority: HashMap<K, f32>,
    last_build: Option<Instant>,
    stats: SenderStats,
}

impl<K> Default for PeerReplica<K> {
    fn default() -> Self {
        Self {
            topics: BTreeSet::new(),
            history: VecDeque::new(),
            acked: None,
            next_seq: 1,
            priority: HashMap::new(),
            last_build: None,
            stats: SenderStats::default(),
        }
    }
}

impl<K: Ord + Clone + Hash + Serialize> PeerReplica<K> {
    /// A client that sees nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `topic` to the client's scope; its current entries go in the
    /// next snapshots. Returns whether it was new.
    pub fn subscribe(&mut self, topic: Topic) -> bool {
        self.topics.insert(topic)
    }

    /// Removes `topic` from the scope: the next snapshots tell the client
    /// its entries left, and none of them is sent again.
    pub fn unsubscribe(&mut self, topic: Topic) -> bool {
        self.topics.remove(&topic)
    }

    /// The topics in scope.
    pub fn topics(&self) -> &BTreeSet<Topic> {
        &self.topics
    }

    /// The newest snapshot the client acknowledged that is still a baseline.
    pub fn acked(&self) -> Option<u32> {
        self.acked
    }

    /// What was sent so far.
    pub fn stats(&self) -> SenderStats {
        self.stats
    }

    /// Takes the client's acknowledgement of snapshot `seq`. Only a
    /// snapshot in the history, newer than the current baseline, counts;
    /// older snapshots are then dropped, since baselines only move forward.
    pub fn handle_ack(&mut self, seq: u32) -> bool {
        if self.acked.is_some_and(|a| a >= seq) {
            return false;
        }
        if !self.history.iter().any(|s| s.seq == seq) {
            self.stats.unknown_acks += 1;
            return false;
        }
        self.acked = Some(seq);
        while self.history.front().is_some_and(|s| s.seq < seq) {
            self.history.pop_front();
        }
        true
    }

    /// Builds the next snapshot for this client, at most `budget` bytes, or
    /// `None` when the client already acknowledged the current scoped world
    /// (or the budget cannot hold a frame).
    pub fn build<V>(
        &mut self,
        now: Instant,
        world: &ReplicatedMap<K, V>,
        budget: usize,
    ) -> Result<Option<Vec<u8>>, ReplicateError> {
        let waited = self
            .last_build
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
            .min(MAX_STEP)
            .as_secs_f32();
        self.last_build = Some(now);
        let baseline_index = self
            .acked
            .and_then(|a| self.history.iter().position(|s| s.seq == a));
        let empty = Vec::new();
        let baseline = baseline_index.map_or(&empty, |i| &self.history[i].view);
        let (removals, mut candidates) = diff(baseline, world, &self.topics);

        let mut priority = HashMap::with_capacity(candidates.len());
        for c in &mut candidates {
            c.priority =
                self.priority.get(c.key).copied().unwrap_or(0.0) + c.entry.importance * waited;
        }
        // Highest accumulated priority first; equal ones in key order.
        candidates.sort_by(|a, b| b.priority.total_cmp(&a.priority));

        let outstanding = self.acked != self.history.back().map(|s| s.seq);
        if removals.is_empty() && candidates.is_empty() && !outstanding {
            self.priority.clear();
            return Ok(None);
        }
        if budget < HEADER_BYTES {
            return Ok(None);
        }
        // Keys a snapshot sent since the baseline touched: the client may hold
        // that snapshot, so each one this snapshot does not carry is listed
        // as kept (the client keeps what it shows), or the view would step
        // back to the baseline's value. Their keys are reserved first. A key
        // no later snapshot touched shows as the baseline has it.
        let after_baseline = baseline_index.map_or(0, |i| i + 1);
        let mut carried: Vec<&K> = self
            .history
            .iter()
            .skip(after_baseline)
            .flat_map(|s| s.touched.iter())
            .collect();
        carried.sort_unstable();
        carried.dedup();
        let mut kept_keys = Vec::new();
        let mut key_lens = Vec::with_capacity(carried.len());
        for key in &carried {
            let before = kept_keys.len();
            codec::put(&mut kept_keys, *key)?;
            key_lens.push(kept_keys.len() - before);
        }
        let mut room = budget - HEADER_BYTES;
        if kept_keys.len() > room {
            self.stats.deferred += 1;
            return Ok(None);
        }
        room -= kept_keys.len();
        let refund = |key: &K| carried.binary_search(&key).map_or(0, |i| key_lens[i]);
        let mut removed_keys = Vec::new();
        let mut chosen_removals = Vec::new();
        for key in removals {
            let before = removed_keys.len();
            codec::put(&mut removed_keys, key)?;
            let cost = (removed_keys.len() - before).saturating_sub(refund(key));
            if cost > room {
                removed_keys.truncate(before);
                break;
            }
            room -= cost;
            chosen_removals.push(key);
        }
        let mut taken = 0;
        for c in &candidates {
            // Stop at the first that does not fit rather than skipping to
            // smaller ones: the budget it waits for would never come.
            let cost = c.entry.encoded.len().saturating_sub(refund(c.key));
            if cost > room {
                break;
            }
            room -= cost;
            taken += 1;
        }
        let (chosen, waiting) = candidates.split_at(taken);
        for c in waiting {
            priority.insert(c.key.clone(), c.priority);
        }
        let mut chosen_keys: Vec<&K> = chosen.iter().map(|c| c.key).collect();
        chosen_keys.sort_unstable();
        let kept: Vec<&K> = carried
            .iter()
            .copied()
            .filter(|k| chosen_keys.binary_search(k).is_err())
            .filter(|k| chosen_removals.binary_search(k).is_err())
            .collect();
        if chosen.is_empty() && chosen_removals.is_empty() && !outstanding {
            self.priority = priority;
            return Ok(None);
        }

        let seq = self.next_seq;
        let back = baseline_index.map_or(0, |i| seq - self.history[i].seq);
        let mut frame = vec![codec::SNAPSHOT];
        codec::put(&mut frame, &seq)?;
        codec::put(&mut frame, &back)?;
        codec::put(&mut frame, &(chosen_removals.len() as u32))?;
        frame.extend_from_slice(&removed_keys);
        codec::put(&mut frame, &(kept.len() as u32))?;
        for key in &kept {
            codec::put(&mut frame, *key)?;
        }
        codec::put(&mut frame, &(chosen.len() as u32))?;
        for c in chosen {
            frame.extend_from_slice(&c.entry.encoded);
        }

        // A kept key's version is unknown (0, which no value has): the client
        // holds the baseline's value or a later one, so it stays a candidate.
        let mut changes: Vec<(&K, Option<u64>)> =
            chosen_removals.iter().map(|k| (*k, None)).collect();
        changes.extend(kept.iter().map(|k| (*k, Some(UNKNOWN_VERSION))));
        changes.extend(chosen.iter().map(|c| (c.key, Some(c.entry.version))));
        changes.sort_by(|a, b| a.0.cmp(b.0));
        let view = apply(baseline, &changes);
        let touched = changes.iter().map(|(k, _)| (*k).clone()).collect();

        self.stats.snapshots += 1;
        self.stats.full_snapshots += u64::from(baseline_index.is_none());
        self.stats.entries_sent += chosen.len() as u64;
        self.stats.removals_sent += chosen_removals.len() as u64;
        self.stats.bytes += frame.len() as u64;
        self.priority = priority;
        self.next_seq += 1;
        self.history.push_back(Sent { seq, view, touched });
        if self.history.len() > SNAPSHOT_HISTORY {
            let gone = self.history.pop_front().map(|s| s.seq);
            if gone == self.acked {
                self.acked = None;
            }
        }
        Ok(Some(frame))
    }
}

/// An entry that differs from the baseline.
struct Candidate<'a, K, V> {
    key: &'a K,
    entry: &'a Entry<V>,
    priority: f32,
}

/// Walks the baseline and the world together, both in key order: keys of the
/// baseline outside the scoped world are removals, scoped entries absent
/// from the baseline or at another version are candidates.
fn diff<'a, K: Ord, V>(
    baseline: &'a [(K, u64)],
    world: &'a ReplicatedMap<K, V>,
    topics: &BTreeSet<Topic>,
) -> (Vec<&'a K>, Vec<Candidate<'a, K, V>>) {
    let mut removals = Vec::new();
    let mut candidates = Vec::new();
    let mut base = baseline.iter().peekable();
    for (key, entry) in world.entries() {
        if !topics.contains(&entry.topic) {
            continue;
        }
        while let Some((k, _)) = base.next_if(|(k, _)| k < key) {
            removals.push(k);
        }
        let held = base.next_if(|(k, _)| k == key).map(|(_, v)| *v);
        if held != Some(entry.version) {
            candidates.push(Candidate {
                key,
                entry,
                priority: 0.0,
            });
        }
    }
    removals.extend(base.map(|(k, _)| k));
    (removals, candidates)
}

/// The view after `changes` (sorted by key; `None` removes) on `baseline`.
fn apply<K: Ord + Clone>(baseline: &[(K, u64)], changes: &[(&K, Option<u64>)]) -> Vec<(K, u64)> {
    let mut view = Vec::with_capacity(baseline.len() + changes.len());
    let mut change = changes.iter().peekable();
    for (key, version) in baseline {
        while let Some((k, v)) = change.next_if(|(k, _)| *k < key) {
            if let Some(v) = v {
                view.push(((*k).clone(), *v));
            }
        }
        match change.next_if(|(k, _)| *k == key) {
            Some((_, Some(v))) => view.push((key.clone(), *v)),
            Some((_, None)) => {}
            None => view.push((key.clone(), *version)),
        }
    }
    for (k, v) in change {
        if let Some(v) = v {
            view.push(((*k).clone(), *v));
        }
    }
    view
}
