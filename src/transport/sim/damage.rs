//! Damage in flight: a datagram's bits flipped or its tail cut off, with the
//! probabilities a `LinkConditioner` sets. It draws no randomness when both
//! are zero, so seeded runs that use neither replay exactly as before.

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::engine::chance;
use super::{LinkConditioner, SimStats};

impl LinkConditioner {
    /// Sets the probability a datagram arrives with bits flipped (one to
    /// eight bits at random positions).
    #[must_use]
    pub fn corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }

    /// Sets the probability a datagram arrives cut short (to a random length
    /// below its own).
    #[must_use]
    pub fn truncate(mut self, p: f64) -> Self {
        self.truncate = p;
        self
    }
}

/// The datagram as it arrives after the damage `cond` draws for it.
pub(super) fn apply(
    rng: &mut ChaCha8Rng,
    cond: &LinkConditioner,
    data: &[u8],
    stats: &mut SimStats,
) -> Bytes {
    let flip = chance(rng, cond.corrupt) && !data.is_empty();
    let cut = chance(rng, cond.truncate) && !data.is_empty();
    if !flip && !cut {
        return Bytes::copy_from_slice(data);
    }
    let mut bytes = data.to_vec();
    if flip {
        stats.corrupted += 1;
        for _ in 0..rng.gen_range(1..=8) {
            let bit = rng.gen_range(0..bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
    }
    if cut {
        stats.truncated += 1;
        let len = rng.gen_range(0..bytes.len());
        bytes.truncate(len);
    }
    Bytes::from(bytes)
}
