//! What held structures really cost on the heap, so a connection is charged
//! for its maps' and queues' slots, not only for the payload bytes in them.
//!
//! A hash map's table is sized by the standard library (hashbrown): a power of
//! two of buckets, each one entry plus a control byte, plus one group of
//! control bytes. Its `capacity()` reads low once entries were removed
//! (tombstones), so [`MapCost`] remembers the table's size across removals
//! and learns it afresh only when the table is rebuilt. This module never
//! allocates and never decides what to keep; it only prices.

use std::collections::HashMap;
use std::hash::Hash;
use std::mem::size_of;

/// Control bytes past the last bucket (one SIMD group).
const GROUP_WIDTH: usize = 16;

/// Buckets of a table built for `items` entries.
fn buckets_for(items: usize) -> usize {
    match items {
        0 => 0,
        1..=3 => 4,
        4..=7 => 8,
        _ => (items * 8 / 7).next_power_of_two(),
    }
}

/// Buckets of a table whose full capacity is `capacity`.
fn buckets_of_capacity(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..=7 => capacity + 1,
        _ => capacity / 7 * 8,
    }
}

fn table_bytes<K, V>(buckets: usize) -> usize {
    if buckets == 0 {
        return 0;
    }
    buckets * (size_of::<(K, V)>() + 1) + GROUP_WIDTH
}

/// The heap a hash map's table takes, tracked across inserts and removals.
#[derive(Debug, Default, Clone, Copy)]
pub struct MapCost {
    /// Full capacity of the current table.
    capacity: usize,
}

impl MapCost {
    /// Bytes the table of `map` takes now.
    pub fn bytes<K, V>(&self, _map: &HashMap<K, V>) -> usize {
        table_bytes::<K, V>(buckets_of_capacity(self.capacity))
    }

    /// Bytes the table would grow by if one new key were inserted now.
    pub fn growth<K, V>(&self, map: &HashMap<K, V>) -> usize {
        if map.len() < self.capacity {
            return 0;
        }
        let now = buckets_of_capacity(self.capacity);
        let after = buckets_for(self.capacity + 1).max(now);
        table_bytes::<K, V>(after) - table_bytes::<K, V>(now)
    }

    /// Learns the table's size after an insert (which may have grown it).
    pub fn after_insert<K, V>(&mut self, map: &HashMap<K, V>) {
        self.capacity = self.capacity.max(map.capacity());
    }

    /// After removals: gives the table back once it is nearly empty, so a
    /// map a burst filled does not keep its size for the connection's life.
    /// Shrinking only below a quarter full keeps the rebuilds amortized.
    pub fn after_remove<K: Eq + Hash, V>(&mut self, map: &mut HashMap<K, V>) {
        if map.len() * 4 <= self.capacity {
            map.shrink_to(map.len() * 2);
            self.capacity = map.capacity();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The priced table size is what the allocator handed out, as far as
    /// `capacity()` shows it: never less than the entries' own size.
    #[test]
    fn prices_follow_the_table() {
        let mut map: HashMap<u64, [u8; 40]> = HashMap::new();
        let mut cost = MapCost::default();
        assert_eq!(cost.bytes(&map), 0);
        for i in 0..1_000u64 {
            let growth = cost.growth(&map);
            let before = cost.bytes(&map);
            map.insert(i, [0; 40]);
            cost.after_insert(&map);
            assert_eq!(cost.bytes(&map) - before, growth, "growth at {i}");
            assert!(cost.bytes(&map) >= map.len() * size_of::<(u64, [u8; 40])>());
        }
        for i in 0..1_000u64 {
            map.remove(&i);
            cost.after_remove(&mut map);
        }
        assert_eq!(cost.bytes(&map), 0, "an emptied map gives its table back");
    }
}
