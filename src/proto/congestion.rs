//! The congestion window: how many ack-eliciting packets may be in flight.
//!
//! Game links lose packets at random, and halving the rate on every loss (as
//! TCP does) would starve them. So losses are judged per round trip: the window
//! doubles each round trip until the first reduction (slow start), then grows
//! by one packet per window acknowledged; a round trip that loses more than
//! `LOSS_TOLERANCE` of what it sent cuts the window by a quarter. It stays
//! between `MIN_WINDOW` and `MAX_WINDOW`; the ceiling keeps every packet in
//! flight inside the receiver's 4096-packet history, and is large enough for
//! the bandwidth-delay product of a 200 ms path at 20 MB/s. Unreliable messages are
//! not held back by it.
//!
//! A cut is undone when it proves to have been for nothing: the window (and
//! slow start) from before it comes back once enough of the losses it was
//! judged on turn out spurious (their originals acknowledged late) that the
//! round trip no longer lost more than `LOSS_TOLERANCE` (every loss of it
//! proving spurious is the plainest such case), and the smoothed RTT has not
//! risen by more than an eighth since: late acks on a path whose RTT climbs
//! are a queue filling, and the cut stands.

use std::time::{Duration, Instant};

/// Smallest window, in packets.
pub const MIN_WINDOW: usize = 32;
/// Window at the start of a connection, in packets.
pub const INITIAL_WINDOW: usize = 64;
/// Largest window, in packets.
pub const MAX_WINDOW: usize = 3072;
/// Fraction of a round trip's packets that may be lost before the window shrinks.
pub const LOSS_TOLERANCE: f64 = 0.10;

/// Congestion state of one connection.
#[derive(Debug, Clone)]
pub struct Congestion {
    window: usize,
    slow_start: bool,
    acked_since_growth: usize,
    epoch_start: Option<Instant>,
    sent_in_epoch: u32,
    lost_in_epoch: u32,
    /// The latest cut, while it may still be undone.
    cut: Option<Cut>,
}

/// What a cut changed and what it was judged on, to undo it if its losses
/// prove spurious.
#[derive(Debug, Clone)]
struct Cut {
    window: usize,
    slow_start: bool,
    /// When the round trip it judged began and ended.
    epoch_start: Instant,
    epoch_end: Instant,
    /// The smoothed RTT it was judged with.
    rtt: Duration,
    sent: u32,
    lost: u32,
}

impl Default for Congestion {
    fn default() -> Self {
        Congestion {
            window: INITIAL_WINDOW,
            slow_start: true,
            acked_since_growth: 0,
            epoch_start: None,
            sent_in_epoch: 0,
            lost_in_epoch: 0,
            cut: None,
        }
    }
}

impl Congestion {
    /// Ack-eliciting packets allowed in flight.
    pub fn window(&self) -> usize {
        self.window
    }

    /// An ack-eliciting packet was sent.
    pub fn on_sent(&mut self) {
        self.sent_in_epoch += 1;
    }

    /// `acked` ack-eliciting packets were acknowledged.
    pub fn on_acked(&mut self, acked: usize) {
        if self.slow_start {
            self.window += acked;
        } else {
            self.acked_since_growth += acked;
            if self.acked_since_growth >= self.window {
                self.acked_since_growth -= self.window;
                self.window += 1;
            }
        }
        self.window = self.window.min(MAX_WINDOW);
    }

    /// `lost` packets were declared lost.
    pub fn on_lost(&mut self, lost: u32) {
        self.lost_in_epoch += lost;
    }

    /// Closes the round trip that began at least `rtt` ago, shrinking the
    /// window if it lost too much.
    pub fn on_tick(&mut self, now: Instant, rtt: Duration) {
        let Some(start) = self.epoch_start else {
            self.epoch_start = Some(now);
            return;
        };
        if now < start + rtt {
            return;
        }
        let sent = self.sent_in_epoch.max(self.lost_in_epoch).max(1);
        if too_lossy(sent, self.lost_in_epoch) {
            self.cut = Some(Cut {
                window: self.window,
                slow_start: self.slow_start,
                epoch_start: start,
                epoch_end: now,
                rtt,
                sent,
                lost: self.lost_in_epoch,
            });
            self.window = (self.window * 3 / 4).max(MIN_WINDOW);
            self.slow_start = false;
            self.acked_since_growth = 0;
        }
        self.epoch_start = Some(now);
        self.sent_in_epoch = 0;
        self.lost_in_epoch = 0;
    }

    /// `count` packets declared lost, the earliest at `declared_at`, were
    /// acknowledged after all, with the smoothed RTT now `rtt`. Losses of the
    /// open round trip no longer count against it; those of the round trip
    /// the latest cut judged may undo the cut. Older ones are past mending.
    pub fn on_spurious(&mut self, count: u32, declared_at: Instant, rtt: Duration) {
        // A loss declared at the very instant a round trip closed was
        // counted in the closed one.
        if self.epoch_start.is_some_and(|s| declared_at > s) {
            self.lost_in_epoch = self.lost_in_epoch.saturating_sub(count);
            return;
        }
        let Some(cut) = self.cut.as_mut() else { return };
        if declared_at < cut.epoch_start || declared_at > cut.epoch_end {
            return;
        }
        cut.lost = cut.lost.saturating_sub(count);
        if !too_lossy(cut.sent, cut.lost) && rtt <= cut.rtt + cut.rtt / 8 {
            self.window = self.window.max(cut.window);
            self.slow_start = cut.slow_start;
            self.cut = None;
        }
    }
}

/// Whether a round trip that sent `sent` packets (at least one) and lost
/// `lost` lost more than the window tolerates.
fn too_lossy(sent: u32, lost: u32) -> bool {
    f64::from(lost) / f64::from(sent) > LOSS_TOLERANCE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(c: &mut Congestion, t: &mut Instant, sent: u32, lost: u32) {
        let rtt = Duration::from_millis(20);
        for _ in 0..sent {
            c.on_sent();
        }
        c.on_lost(lost);
        c.on_acked((sent - lost) as usize);
        *t += rtt;
        c.on_tick(*t, rtt);
    }

    #[test]
    fn grows_on_a_clean_path_tolerates_noise_and_backs_off_on_heavy_loss() {
        let mut t = Instant::now();
        let mut c = Congestion::default();
        c.on_tick(t, Duration::from_millis(20));
        round_trip(&mut c, &mut t, 64, 0);
        assert_eq!(c.window(), 128, "slow start doubles per round trip");
        for _ in 0..5 {
            let w = c.window() as u32;
            round_trip(&mut c, &mut t, w, w / 20);
        }
        assert_eq!(c.window(), MAX_WINDOW, "5% random loss is noise");
        round_trip(&mut c, &mut t, 768, 200);
        assert_eq!(
            c.window(),
            MAX_WINDOW * 3 / 4,
            "heavy loss shrinks the window"
        );
        let w = c.window();
        round_trip(&mut c, &mut t, w as u32, 0);
        assert_eq!(
            c.window(),
            w + 1,
            "after a reduction: one packet per window"
        );
        for _ in 0..40 {
            round_trip(&mut c, &mut t, 100, 50);
        }
        assert_eq!(c.window(), MIN_WINDOW);
    }

    /// A cut whose losses prove spurious is undone, window and slow start
    /// both; one with real losses left over the tolerance is not; and late
    /// acks of losses from outside the cut's round trip change nothing.
    #[test]
    fn a_cut_for_losses_that_were_not_is_undone() {
        let rtt = Duration::from_millis(20);
        let mut t = Instant::now();
        let mut c = Congestion::default();
        c.on_tick(t, rtt);
        round_trip(&mut c, &mut t, 64, 0);
        assert_eq!(c.window(), 128);
        let lost_at = t + Duration::from_millis(5);
        // Slow start takes the window to 128 + 70 before the round trip closes.
        round_trip(&mut c, &mut t, 100, 30);
        assert_eq!(c.window(), 198 * 3 / 4, "30% lost: cut");
        // A loss from the round trip before the cut is not the cut's.
        c.on_spurious(30, t - rtt * 2, rtt);
        assert_eq!(c.window(), 148);
        c.on_spurious(15, lost_at, rtt);
        assert_eq!(c.window(), 148, "15 real losses of 100 still justify it");
        c.on_spurious(5, lost_at, rtt);
        assert_eq!(c.window(), 198, "10 of 100 is within tolerance: undone");
        round_trip(&mut c, &mut t, 128, 0);
        assert_eq!(c.window(), 326, "slow start again, as before the cut");
        // Losses of the open round trip taken back before it closes spare it.
        for _ in 0..c.window() {
            c.on_sent();
        }
        c.on_lost(100);
        c.on_spurious(100, t + Duration::from_millis(1), rtt);
        t += rtt;
        c.on_tick(t, rtt);
        assert_eq!(c.window(), 326);
        // A cut nothing takes back stays.
        round_trip(&mut c, &mut t, 100, 50);
        assert_eq!(c.window(), 376 * 3 / 4);
        c.on_spurious(10, t - Duration::from_millis(1), rtt);
        assert_eq!(c.window(), 376 * 3 / 4, "40 of 100 lost for real");
        // Nor does one whose late acks come as the RTT climbs: a queue.
        let lost_at = t + Duration::from_millis(5);
        round_trip(&mut c, &mut t, 100, 30);
        let cut = c.window();
        c.on_spurious(30, lost_at, rtt * 2);
        assert_eq!(c.window(), cut, "the RTT doubled since the cut");
    }
}
