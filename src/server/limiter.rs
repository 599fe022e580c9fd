//! Rate limits on handshake replies, so a flood of connect requests costs the
//! server bounded work and bandwidth.
//!
//! Two token buckets must both allow a reply: one per source IP and one for
//! the whole server. Source IPs are hashed (with a random key) into a fixed
//! table, so a flood from any number of spoofed addresses allocates nothing;
//! addresses that share a slot share its budget.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Instant;

/// Slots in the per-source table.
const SLOTS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Option<Instant>,
}

impl Bucket {
    const FULL: Bucket = Bucket {
        tokens: 0.0,
        refilled: None,
    };

    /// Takes one token if the bucket (refilling at `rate` per second, holding
    /// at most `rate`) has one.
    fn take(&mut self, rate: f64, now: Instant) -> bool {
        self.tokens = match self.refilled {
            None => rate,
            Some(t) => {
                (self.tokens + now.saturating_duration_since(t).as_secs_f64() * rate).min(rate)
            }
        };
        self.refilled = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Per-source and global budgets for handshake replies.
#[derive(Debug)]
pub(super) struct ReplyLimiter {
    key: RandomState,
    per_source: Box<[Bucket]>,
    global: Bucket,
    per_source_rate: f64,
    global_rate: f64,
}

impl ReplyLimiter {
    /// Budgets in replies per second (each also the burst size).
    pub(super) fn new(per_source_rate: u32, global_rate: u32) -> Self {
        ReplyLimiter {
            key: RandomState::new(),
            per_source: vec![Bucket::FULL; SLOTS].into_boxed_slice(),
            global: Bucket::FULL,
            per_source_rate: f64::from(per_source_rate),
            global_rate: f64::from(global_rate),
        }
    }

    /// Whether a reply to `ip` may go out now; spends the budget if so.
    pub(super) fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        let slot = (self.key.hash_one(ip) as usize) % SLOTS;
        // Check the source first so one noisy source cannot drain the global budget.
        self.per_source[slot].take(self.per_source_rate, now)
            && self.global.take(self.global_rate, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn per_source_budget_refills_with_time() {
        let t0 = Instant::now();
        let mut l = ReplyLimiter::new(4, 1000);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let allowed = (0..10).filter(|_| l.allow(ip, t0)).count();
        assert_eq!(allowed, 4);
        assert!(
            l.allow(ip, t0 + Duration::from_millis(250)),
            "one token back after 1/4 s"
        );
        assert!(!l.allow(ip, t0 + Duration::from_millis(250)));
    }

    #[test]
    fn global_budget_caps_many_sources() {
        let t0 = Instant::now();
        let mut l = ReplyLimiter::new(4, 100);
        let allowed = (0..10_000u32)
            .filter(|i| l.allow(IpAddr::from(i.to_be_bytes()), t0))
            .count();
        assert_eq!(allowed, 100);
    }
}
