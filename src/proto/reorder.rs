//! The reorder allowance: how much longer than the RTT-based loss delay a
//! packet sent before an acknowledged one may stay unacknowledged before it
//! counts as lost.
//!
//! It is learned, as in RACK (RFC 8985) and QUIC (RFC 9002): it starts at
//! nothing, so a link that does not reorder gets fast retransmit at about one
//! RTT; each time a declared loss turns out spurious (the original is
//! acknowledged after it was declared lost) it doubles, at most once per round
//! trip, at most to one smoothed RTT, and never past how late that ack came
//! after the verdict (what would have spared it), so one stray late ack on a
//! link that hardly reorders costs its real losses little waiting; after `QUIET_ROUND_TRIPS` round trips
//! with no spurious loss it halves, so a link that stopped reordering gets its
//! fast loss detection back. It only ever delays a loss verdict: it never
//! declares anything lost by itself, and never reads a clock (the time is
//! handed in).

use std::time::{Duration, Instant};

/// The allowance's first step when a spurious loss is seen with none yet,
/// as a fraction of the smoothed RTT (RACK's quarter of the minimum RTT).
const FIRST_STEP_DIVISOR: u32 = 4;

/// Least first step: below this the update cadence, not the path, decides
/// when an ack arrives.
const GRANULARITY: Duration = Duration::from_millis(1);

/// Round trips without a spurious loss after which the allowance halves.
const QUIET_ROUND_TRIPS: u32 = 16;

/// The learned reorder allowance of one connection.
#[derive(Debug, Clone, Default)]
pub struct ReorderWindow {
    allowance: Duration,
    /// When it last grew: one reordering episode's late acks arrive over a
    /// round trip, and count as one signal.
    grown_at: Option<Instant>,
    /// Since when no spurious loss was seen (or it last decayed).
    quiet_since: Option<Instant>,
}

impl ReorderWindow {
    /// The time to add to the RTT-based loss delay.
    pub fn allowance(&self) -> Duration {
        self.allowance
    }

    /// A loss declared at `declared_at` proved spurious at `now` (its ack
    /// came), with smoothed RTT `srtt`.
    pub fn on_spurious(&mut self, now: Instant, declared_at: Instant, srtt: Duration) {
        self.quiet_since = Some(now);
        if self.grown_at.is_some_and(|t| now < t + srtt) {
            return;
        }
        let first = (srtt / FIRST_STEP_DIVISOR).max(GRANULARITY);
        let needed = self.allowance + now.saturating_duration_since(declared_at) + GRANULARITY;
        // Capped at one RTT: beyond that a late packet costs less resent
        // than a real loss costs waited for.
        let grown = (self.allowance * 2)
            .max(first)
            .min(needed)
            .min(srtt.max(first));
        self.allowance = self.allowance.max(grown);
        self.grown_at = Some(now);
    }

    /// Lets the allowance decay once `QUIET_ROUND_TRIPS` round trips of
    /// `srtt` passed with no spurious loss.
    pub fn on_tick(&mut self, now: Instant, srtt: Duration) {
        if self.allowance.is_zero() {
            return;
        }
        let since = *self.quiet_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= srtt * QUIET_ROUND_TRIPS {
            self.allowance /= 2;
            if self.allowance < GRANULARITY {
                self.allowance = Duration::ZERO;
            }
            self.quiet_since = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Spurious losses whose acks came long after the verdict double the
    /// allowance from a quarter RTT up to one RTT, at most once per round trip.
    #[test]
    fn grows_by_doubling_once_per_round_trip_up_to_one_rtt() {
        let t0 = Instant::now();
        let srtt = ms(40);
        let late = |t: Instant| (t, t - ms(100));
        let mut w = ReorderWindow::default();
        assert_eq!(w.allowance(), Duration::ZERO);
        let (now, declared) = late(t0 + ms(100));
        w.on_spurious(now, declared, srtt);
        assert_eq!(w.allowance(), ms(10));
        for (after, expected, why) in [
            (139, 10, "same round trip: one signal"),
            (140, 20, "doubled"),
            (180, 40, "doubled"),
            (220, 40, "capped at one RTT"),
        ] {
            let (now, declared) = late(t0 + ms(after));
            w.on_spurious(now, declared, srtt);
            assert_eq!(w.allowance(), ms(expected), "{why}");
        }
        // On a sub-millisecond path the step is the granularity.
        let mut short = ReorderWindow::default();
        short.on_spurious(t0 + ms(1), t0, Duration::from_micros(200));
        assert_eq!(short.allowance(), GRANULARITY);
    }

    /// An ack only a little late grows the allowance only by as much as
    /// would have spared its packet, not by the full doubling.
    #[test]
    fn grows_no_further_than_the_late_ack_shows_is_needed() {
        let t0 = Instant::now();
        let srtt = ms(40);
        let mut w = ReorderWindow::default();
        w.on_spurious(t0 + ms(2), t0, srtt);
        assert_eq!(w.allowance(), ms(3), "2 ms late, plus the granularity");
        w.on_spurious(t0 + ms(100), t0 + ms(99), srtt);
        assert_eq!(w.allowance(), ms(5), "3 ms + 1 ms late + 1 ms");
        w.on_spurious(t0 + ms(200), t0, srtt);
        assert_eq!(w.allowance(), ms(10), "very late: doubled");
    }

    /// The allowance halves after a quiet stretch of round trips and not
    /// before; a spurious loss restarts the stretch; it ends at zero.
    #[test]
    fn decays_slowly_while_no_spurious_loss_is_seen() {
        let t0 = Instant::now();
        let srtt = ms(10);
        let mut w = ReorderWindow::default();
        for i in 0..3 {
            let now = t0 + ms(100) + srtt * i;
            w.on_spurious(now, now - ms(50), srtt);
        }
        assert_eq!(w.allowance(), ms(10));
        let quiet = srtt * QUIET_ROUND_TRIPS;
        let last = t0 + ms(100) + srtt * 2;
        w.on_tick(last + quiet - ms(1), srtt);
        assert_eq!(w.allowance(), ms(10), "not yet");
        // A spurious loss late in the stretch restarts it (and grows nothing
        // past the cap).
        w.on_spurious(last + quiet - ms(1), last, srtt);
        w.on_tick(last + quiet, srtt);
        assert_eq!(w.allowance(), ms(10));
        let restart = last + quiet - ms(1);
        w.on_tick(restart + quiet, srtt);
        assert_eq!(w.allowance(), ms(5), "halved after a quiet stretch");
        let mut t = restart + quiet;
        for _ in 0..4 {
            t += quiet;
            w.on_tick(t, srtt);
        }
        assert_eq!(w.allowance(), Duration::ZERO);
    }
}
