//! Pacing: a token bucket that lets a connection's datagrams out at its send
//! rate, across ticks.
//!
//! Tokens (bytes) accrue at the rate while time passes, up to a burst of
//! `BURST` worth of sending, so a game that calls `update()` once per frame
//! still sends its full rate in one go per frame, while a connection that was
//! idle cannot dump seconds of backlog at once. A packet may go whenever the
//! balance is positive and then takes it below zero: packets are never split
//! or delayed for want of a few bytes, and the debt is paid back before the
//! next one.

use std::time::{Duration, Instant};

/// Most sending time the bucket saves up: about one frame of a 50 Hz game loop.
pub const BURST: Duration = Duration::from_millis(20);

/// Least burst, in bytes: a few full packets, so even a slow rate can send a
/// fragment train's first packets together.
const MIN_BURST_BYTES: f64 = 4.0 * 1500.0;

/// A token bucket in bytes.
#[derive(Debug, Clone)]
pub struct Pacer {
    tokens: f64,
    last: Instant,
}

impl Pacer {
    /// A full bucket at `now` for a connection starting at `rate` bytes per
    /// second, with at least `credit` bytes to send at once:
    /// a connection's first flight (its initial window) need not trickle out
    /// at the starting rate before any RTT is known. Refills never take the
    /// balance below what is left of it.
    pub fn with_credit(now: Instant, rate: f64, credit: f64) -> Self {
        Pacer {
            tokens: burst_bytes(rate).max(credit),
            last: now,
        }
    }

    /// The balance at `at`, refilled at `rate` since the last refill (a
    /// time before it reads that refill's balance).
    fn refilled(&self, at: Instant, rate: f64) -> f64 {
        let elapsed = at.saturating_duration_since(self.last).as_secs_f64();
        let cap = burst_bytes(rate).max(self.tokens);
        (self.tokens + elapsed * rate).min(cap)
    }

    fn refill(&mut self, now: Instant, rate: f64) {
        self.tokens = self.refilled(now, rate);
        self.last = self.last.max(now);
    }

    /// Whether a packet may go now at `rate` bytes per second.
    pub fn may_send(&mut self, now: Instant, rate: f64) -> bool {
        self.refill(now, rate);
        self.tokens > 0.0
    }

    /// Bytes that may leave at once at `at`, at `rate` (never negative):
    /// the refill [`may_send`](Self::may_send) would make then, without
    /// making it.
    pub fn balance_at(&self, at: Instant, rate: f64) -> f64 {
        self.refilled(at, rate).max(0.0)
    }

    /// A packet of `bytes` went out.
    pub fn on_sent(&mut self, bytes: usize) {
        self.tokens -= bytes as f64;
    }

    /// When the balance turns positive again at `rate`, if it is not now.
    pub fn next_send_time(&self, rate: f64) -> Option<Instant> {
        if self.tokens > 0.0 || rate <= 0.0 {
            return None;
        }
        let wait = Duration::from_secs_f64((-self.tokens / rate).min(1.0) + 1e-6);
        Some(self.last + wait)
    }
}

fn burst_bytes(rate: f64) -> f64 {
    (rate * BURST.as_secs_f64()).max(MIN_BURST_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balance_at_a_later_time_counts_the_refill_up_to_the_burst() {
        let t0 = Instant::now();
        let rate = 1_000_000.0;
        let mut p = Pacer::with_credit(t0, rate, 0.0);
        assert!(p.may_send(t0, rate));
        p.on_sent(30_000);
        assert_eq!(p.balance_at(t0, rate), 0.0, "in debt");
        let later = t0 + Duration::from_millis(15);
        assert!((p.balance_at(later, rate) - 5_000.0).abs() < 1.0);
        let much_later = t0 + Duration::from_secs(5);
        assert!((p.balance_at(much_later, rate) - burst_bytes(rate)).abs() < 1.0);
        assert_eq!(p.balance_at(t0 - Duration::from_millis(1), rate), 0.0);
    }

    /// A first-flight credit larger than the burst survives refills until
    /// it is spent, and is never topped up again.
    #[test]
    fn a_first_flight_credit_is_spent_once() {
        let t0 = Instant::now();
        let rate = 100_000.0;
        let credit = 90_000.0;
        let mut p = Pacer::with_credit(t0, rate, credit);
        let mut sent = 0;
        let mut t = t0;
        while p.may_send(t, rate) {
            p.on_sent(1000);
            sent += 1000;
            t += Duration::from_micros(10);
        }
        assert!(sent >= 90_000, "the credit went at once: {sent}");
        // Later the bucket refills only to the ordinary burst.
        let later = t + Duration::from_secs(10);
        let mut again = 0;
        while p.may_send(later, rate) {
            p.on_sent(1000);
            again += 1000;
        }
        assert!(
            again <= burst_bytes(rate) as usize + 1000,
            "refilled to {again}"
        );
    }

    #[test]
    fn sends_at_the_rate_with_a_bounded_burst() {
        let t0 = Instant::now();
        let rate = 100_000.0;
        let mut p = Pacer::with_credit(t0, rate, 0.0);
        // A full bucket: the burst goes at once.
        let mut burst = 0;
        while p.may_send(t0, rate) {
            p.on_sent(1000);
            burst += 1000;
        }
        assert_eq!(burst, 6000, "the minimum burst of four 1500-byte packets");
        let next = p.next_send_time(rate).expect("in debt");
        assert!(next > t0 && next <= t0 + Duration::from_millis(1));
        // Over ten seconds of 1 ms ticks, what goes out is the rate.
        let mut sent = 0;
        for ms in 1..=10_000u64 {
            let now = t0 + Duration::from_millis(ms);
            while p.may_send(now, rate) {
                p.on_sent(1000);
                sent += 1000;
            }
        }
        let expected = rate * 10.0;
        assert!((f64::from(sent) - expected).abs() <= 2000.0, "sent {sent}");
        // Idle time saves at most the burst.
        let later = t0 + Duration::from_secs(60);
        let mut saved = 0;
        while p.may_send(later, rate) {
            p.on_sent(100);
            saved += 100;
        }
        assert!(saved <= 6000 + 100, "saved {saved}");
    }
}
