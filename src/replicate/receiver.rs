//! The client's side of the keyed world: the snapshots it applied (bounded),
//! the newest of which is its view, and the changes each one made. A
//! snapshot is applied only onto the baseline it names, and only if the
//! client still holds that baseline; an older snapshot than the view is
//! dropped (it would show the past). It never trusts a count or a length
//! from the frame beyond the frame's own size, and never panics on one.

use std::collections::{BTreeMap, VecDeque};

use serde::de::DeserializeOwned;

use super::{codec, ReplicateError};

/// Snapshots a client keeps as possible baselines. The server only ever
/// takes the newest the client acknowledged, so the ones before the
/// baseline of the newest applied snapshot are dropped early; this bounds
/// the rest when acknowledgements keep getting lost.
pub const VIEW_HISTORY: usize = 64;

/// Default most entries a view accepts: a snapshot that would grow it past
/// this is refused.
pub const DEFAULT_MAX_ENTRIES: usize = 1 << 16;

/// How an entry of the view changed with an applied snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewChange<K> {
    /// It entered the view (new, or its topic came into scope).
    Added(K),
    /// Its value changed.
    Changed(K),
    /// It left the view: removed from the world, moved out of scope, or its
    /// topic was unsubscribed.
    Left(K),
}

/// What happened to the snapshots a view received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewStats {
    /// Snapshots applied.
    pub applied: u64,
    /// Dropped: not newer than the view.
    pub stale: u64,
    /// Dropped: their baseline is not held.
    pub missing_baseline: u64,
    /// Dropped: did not parse, or too many entries.
    pub malformed: u64,
}

/// A client's copy of the entries in its scope.
#[derive(Debug, Clone)]
pub struct WorldView<K, V> {
    held: VecDeque<(u32, BTreeMap<K, V>)>,
    max_entries: usize,
    changes: Vec<ViewChange<K>>,
    stats: ViewStats,
    empty: BTreeMap<K, V>,
}

impl<K, V> Default for WorldView<K, V> {
    fn default() -> Self {
        Self {
            held: VecDeque::new(),
            max_entries: DEFAULT_MAX_ENTRIES,
            changes: Vec::new(),
            stats: ViewStats::default(),
            empty: BTreeMap::new(),
        }
    }
}

impl<K, V> WorldView<K, V>
where
    K: Ord + Clone + DeserializeOwned,
    V: Clone + PartialEq + DeserializeOwned,
{
    /// An empty view accepting [`DEFAULT_MAX_ENTRIES`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty view accepting at most `max_entries`.
    pub fn with_max_entries(max_entries: usize) -> Self {
        Self {
            max_entries,
            ..Self::default()
        }
    }

    /// The entries as of the newest applied snapshot.
    pub fn entries(&self) -> &BTreeMap<K, V> {
        self.held.back().map_or(&self.empty, |(_, m)| m)
    }

    /// The value of `key` in the view.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries().get(key)
    }

    /// The newest applied snapshot.
    pub fn newest(&self) -> Option<u32> {
        self.held.back().map(|(s, _)| *s)
    }

    /// What the snapshots did so far.
    pub fn stats(&self) -> ViewStats {
        self.stats
    }

    /// The changes made since the last drain, oldest first.
    pub fn drain_changes(&mut self) -> std::vec::Drain<'_, ViewChange<K>> {
        self.changes.drain(..)
    }

    /// Applies a snapshot frame. `Ok(Some(seq))`: applied, acknowledge
    /// `seq`; `Ok(None)`: dropped as stale or for a missing baseline.
    pub fn apply(&mut self, frame: &[u8]) -> Result<Option<u32>, ReplicateError> {
        let result = self.try_apply(frame);
        if result.is_err() {
            self.stats.malformed += 1;
        }
        result
    }

    fn try_apply(&mut self, frame: &[u8]) -> Result<Option<u32>, ReplicateError> {
        let mut r = codec::Reader::new(frame);
        if r.tag()? != codec::SNAPSHOT {
            return Err(ReplicateError::Malformed("not a snapshot"));
        }
        let seq: u32 = r.value()?;
        let back: u32 = r.value()?;
        if self.newest().is_some_and(|n| n >= seq) {
            self.stats.stale += 1;
            return Ok(None);
        }
        let baseline_seq = match back {
            0 => None,
            _ => Some(
                seq.checked_sub(back)
                    .ok_or(ReplicateError::Malformed("baseline before 0"))?,
            ),
        };
        let baseline = match baseline_seq {
            None => &self.empty,
            Some(b) => match self.held.iter().find(|(s, _)| *s == b) {
                Some((_, m)) => m,
                None => {
                    self.stats.missing_baseline += 1;
                    return Ok(None);
                }
            },
        };
        let mut view = baseline.clone();
        for _ in 0..r.count()? {
            let key: K = r.value()?;
            view.remove(&key);
        }
        let current = self.held.back().map_or(&self.empty, |(_, m)| m);
        for _ in 0..r.count()? {
            // Kept: the server left it out but a snapshot since the baseline
            // may have carried it; what the view shows is at least as new.
            let key: K = r.value()?;
            match current.get(&key) {
                Some(value) => view.insert(key, value.clone()),
                None => view.remove(&key),
            };
        }
        for _ in 0..r.count()? {
            let key: K = r.value()?;
            let value: V = r.value()?;
            view.insert(key, value);
            if view.len() > self.max_entries {
                return Err(ReplicateError::TooManyEntries(self.max_entries));
            }
        }
        r.finish()?;
        let current = self.held.back().map_or(&self.empty, |(_, m)| m);
        record_changes(current, &view, &mut self.changes);
        self.held.push_back((seq, view));
        if let Some(b) = baseline_seq {
            while self.held.front().is_some_and(|(s, _)| *s < b) {
                self.held.pop_front();
            }
        }
        while self.held.len() > VIEW_HISTORY {
            self.held.pop_front();
        }
        self.stats.applied += 1;
        Ok(Some(seq))
    }
}

/// Walks the old and the new view together, in key order.
fn record_changes<K: Ord + Clone, V: PartialEq>(
    old: &BTreeMap<K, V>,
    new: &BTreeMap<K, V>,
    out: &mut Vec<ViewChange<K>>,
) {
    let mut old = old.iter().peekable();
    for (key, value) in new {
        while let Some((k, _)) = old.next_if(|(k, _)| *k < key) {
            out.push(ViewChange::Left(k.clone()));
        }
        match old.next_if(|(k, _)| *k == key) {
            Some((_, v)) if v == value => {}
            Some(_) => out.push(ViewChange::Changed(key.clone())),
            None => out.push(ViewChange::Added(key.clone())),
        }
    }
    out.extend(old.map(|(k, _)| ViewChange::Left(k.clone())));
}
