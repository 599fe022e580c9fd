//! The server's keyed world: entities to their serde state, each in one
//! topic (room) with an importance. It encodes each value once per change,
//! so building a snapshot for many clients copies bytes and never encodes;
//! it knows nothing of clients, baselines or the network.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{codec, ReplicateError};

/// A topic (room) entries belong to and clients subscribe to.
pub type Topic = u32;

/// Largest encoded entry (key and value) a world accepts: small enough that
/// any entry fits in one snapshot at the smallest MTU the engine allows.
pub const MAX_ENTRY_BYTES: usize = 480;

/// Importance of an entry unless set: its priority grows by this much per
/// second it waits.
pub const DEFAULT_IMPORTANCE: f32 = 1.0;

/// One entry as the world holds it.
#[derive(Debug, Clone)]
pub(crate) struct Entry<V> {
    pub(crate) value: V,
    /// The key's encoding, then the value's: what a snapshot carries.
    pub(crate) encoded: Vec<u8>,
    /// Bumped on every change; never reused, so a version names one value.
    pub(crate) version: u64,
    pub(crate) topic: Topic,
    pub(crate) importance: f32,
}

/// A keyed world replicated to clients: [`insert`](Self::insert) and
/// [`remove`](Self::remove) entries, each in a [`Topic`]; every subscribed
/// client receives what changed since the snapshot it last acknowledged.
#[derive(Debug, Clone)]
pub struct ReplicatedMap<K, V> {
    entries: BTreeMap<K, Entry<V>>,
    next_version: u64,
}

impl<K, V> Default for ReplicatedMap<K, V> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
            next_version: 1,
        }
    }
}

impl<K: Ord + Clone + Serialize, V: Serialize> ReplicatedMap<K, V> {
    /// An empty world.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` in `topic`, adding it or changing it (and moving
    /// it to `topic`). A value whose encoding equals the current one is not a
    /// change and sends nothing. Fails if the encoding exceeds
    /// [`MAX_ENTRY_BYTES`] or bincode refuses the value.
    pub fn insert(&mut self, key: K, topic: Topic, value: V) -> Result<(), ReplicateError> {
        let mut encoded = codec::encode(&key)?;
        codec::put(&mut encoded, &value)?;
        if encoded.len() > MAX_ENTRY_BYTES {
            return Err(ReplicateError::TooLarge {
                size: encoded.len(),
                max: MAX_ENTRY_BYTES,
            });
        }
        let version = self.next_version;
        match self.entries.get_mut(&key) {
            Some(entry) if entry.encoded == encoded && entry.topic == topic => {}
            Some(entry) => {
                entry.value = value;
                entry.encoded = encoded;
                entry.topic = topic;
                entry.version = version;
                self.next_version += 1;
            }
            None => {
                let entry = Entry {
                    value,
                    encoded,
                    version,
                    topic,
                    importance: DEFAULT_IMPORTANCE,
                };
                self.entries.insert(key, entry);
                self.next_version += 1;
            }
        }
        Ok(())
    }

    /// Sets `key`'s value, keeping its topic; fails with
    /// [`ReplicateError::Malformed`] if the key is absent.
    pub fn set(&mut self, key: K, value: V) -> Result<(), ReplicateError> {
        let topic = self
            .topic_of(&key)
            .ok_or(ReplicateError::Malformed("no such entry"))?;
        self.insert(key, topic, value)
    }

    /// Removes `key`; clients holding it are told it left their view.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|e| e.value)
    }

    /// How fast `key`'s priority grows while it waits to be sent (per
    /// second; clamped to at least 0.01 so nothing waits forever).
    pub fn set_importance(&mut self, key: &K, importance: f32) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.importance = importance.max(0.01);
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|e| &e.value)
    }

    /// The topic of `key`.
    pub fn topic_of(&self, key: &K) -> Option<Topic> {
        self.entries.get(key).map(|e| e.topic)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the world is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry in key order: key, topic, value.
    pub fn iter(&self) -> impl Iterator<Item = (&K, Topic, &V)> {
        self.entries.iter().map(|(k, e)| (k, e.topic, &e.value))
    }

    /// Encoded size of the entries in any of `topics`: what a full snapshot of
    /// that scope carries, without its frame header.
    pub fn scoped_bytes(&self, topics: &std::collections::BTreeSet<Topic>) -> usize {
        self.entries
            .values()
            .filter(|e| topics.contains(&e.topic))
            .map(|e| e.encoded.len())
            .sum()
    }
}

impl<K, V> ReplicatedMap<K, V> {
    pub(crate) fn entries(&self) -> &BTreeMap<K, Entry<V>> {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_real_change_bumps_the_version() {
        let mut world = ReplicatedMap::new();
        world.insert(1u32, 0, 10u32).unwrap();
        let v1 = world.entries()[&1].version;
        world.insert(1, 0, 10).unwrap();
        assert_eq!(world.entries()[&1].version, v1);
        world.set(1, 11).unwrap();
        let v2 = world.entries()[&1].version;
        assert!(v2 > v1);
        world.insert(1, 3, 11).unwrap();
        assert!(world.entries()[&1].version > v2, "moving topic is a change");
        assert_eq!(world.topic_of(&1), Some(3));
        assert!(world.set(9, 1).is_err());
    }

    #[test]
    fn oversized_entries_are_refused() {
        let mut world = ReplicatedMap::new();
        let big = vec![0u8; MAX_ENTRY_BYTES];
        assert!(matches!(
            world.insert(1u32, 0, big),
            Err(ReplicateError::TooLarge { .. })
        ));
        assert!(world.is_empty());
    }
}
