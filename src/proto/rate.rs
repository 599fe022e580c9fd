//! Rate control: the send rate a connection's pacer runs at.
//!
//! Judged once per round trip (an epoch), from what that round trip saw:
//!
//! * **Congested** when even its *smallest* RTT sample sat well above the
//!   path's base RTT, or when more than `LOSS_TOLERANCE` of its packets were
//!   lost. A standing queue raises every sample, jitter only some, so the
//!   epoch's minimum tells them apart and jitter is not read as congestion.
//!   Game links lose packets at random (radio, busy Wi-Fi), jitter makes
//!   loss detection declare some packets lost that were only late, and a
//!   queue fills before it drops; so loss alone counts only when it is heavy,
//!   seen over enough packets while the sender pushed at the rate, and the
//!   path delivered less than half of it (a policer, or a queue overflowing
//!   faster than RTT samples can show).
//!   The rate then falls to what the path delivered (a little under), but at
//!   most by half per epoch, so one noisy measurement cannot collapse it.
//! * **Clear and sending at the rate**: the rate grows, doubling per epoch
//!   until the first congestion, then by a tenth, but never past twice what
//!   the path delivered in the epoch. What was delivered in an epoch left a
//!   round trip earlier, at the rate of the epoch before, so in slow start
//!   that bound alone would re-grant the current rate every other epoch.
//!   Each ack therefore also brings a delivery-rate sample (bytes acked over
//!   one packet's round trip, with how long they took to leave and to be
//!   acked; see `sent::RateSample`): when the acks came back as fast as the
//!   packets left, the path kept pace and has not shown its limit, and slow
//!   start doubles from the current rate, as a window doubling per round
//!   trip would, up to four times what the sample proved.
//! * **Clear but the game sent less**: the rate settles towards twice what
//!   was delivered (never under `INITIAL_RATE`), so an idle connection holds
//!   no credit the path has not shown it can carry, and the next burst
//!   starts again in slow start.
//!
//! A connection starts at `INITIAL_RATE`, or, once its first RTT sample
//! arrives, at the initial congestion window's worth per round trip if that
//! is more: on a short path a fixed starting rate would hold the sender far
//! below what a window-based sender sends in its first round trip, and slow
//! start would take many epochs to climb. Epochs last one RTT, at least
//! `MIN_EPOCH`.
//!
//! A cut for loss is undone when it proves to have been for nothing: once
//! enough of the epoch's losses turn out spurious (their originals
//! acknowledged late: reordering, not loss) that the epoch no longer counts
//! as lossy, the rate and slow start from before the cut come back. A cut
//! for a standing queue is never undone: the queue was real.
//!
//! The thresholds are absolute (a 10% loss, a queue of 15 ms or a quarter of
//! the base RTT), so a low-RTT link's tiny variations never look like
//! congestion, and the rate never drops below `MIN_RATE`, which keeps a
//! game's unreliable state stream flowing. A configured limit caps it.

use std::time::{Duration, Instant};

use super::sent::RateSample;

/// Fraction of an epoch's packets that may be lost before it counts as congested.
pub const LOSS_TOLERANCE: f64 = 0.30;

/// Packets an epoch must lose before its loss ratio is trusted.
const MIN_LOSSES: u32 = 8;

/// RTT samples an epoch needs before its minimum is trusted as a queue signal.
const MIN_SAMPLES: u32 = 4;

/// Lowest rate, bytes per second.
pub const MIN_RATE: f64 = 256.0 * 1024.0;

/// Rate at the start of a connection, bytes per second.
pub const INITIAL_RATE: f64 = 1024.0 * 1024.0;

/// Shortest epoch: below this an epoch holds too few acks to judge.
const MIN_EPOCH: Duration = Duration::from_millis(1);

/// Queueing delay always tolerated, above the base RTT.
const QUEUE_DELAY_FLOOR: Duration = Duration::from_millis(15);

/// How long the base RTT (the path's RTT without queues) is remembered; a
/// longer path after a route change is learned within this.
const BASE_RTT_WINDOW: Duration = Duration::from_secs(10);

/// Growth per clear epoch after the first congestion.
const GROWTH: f64 = 1.1;

/// How much longer than their sending a sample's acks may take and the path
/// still count as keeping pace: room for jitter and held acks, well below
/// the spreading a bottleneck at less than four fifths of the send rate causes.
const PACE_SLACK: f64 = 1.25;

/// Rate control state of one connection.
#[derive(Debug, Clone)]
pub struct RateControl {
    rate: f64,
    limit: f64,
    slow_start: bool,
    epoch_start: Option<Instant>,
    acked_bytes: u64,
    sent: u32,
    lost: u32,
    limited: bool,
    epoch_min_rtt: Option<Duration>,
    samples: u32,
    base_rtt: Option<Duration>,
    window_min_rtt: Option<Duration>,
    window_start: Option<Instant>,
    delivery_rate: f64,
    /// The highest delivery-rate sample of the epoch, bytes per second.
    sample_rate: f64,
    /// Whether the epoch's latest sample showed the path keeping pace.
    kept_pace: bool,
    /// Bytes the initial congestion window lets out in one round trip.
    initial_flight: f64,
    /// The latest cut for loss, while it may still be undone.
    cut: Option<Cut>,
}

/// What a cut for loss changed and what it was judged on, to undo it if its
/// losses prove spurious.
#[derive(Debug, Clone)]
struct Cut {
    rate: f64,
    slow_start: bool,
    /// When the epoch it judged began and ended.
    epoch_start: Instant,
    epoch_end: Instant,
    sent: u32,
    lost: u32,
    /// The epoch's delivery rate, and the rate it was judged against.
    delivery_rate: f64,
    judged_rate: f64,
}

impl RateControl {
    /// A controller capped at `limit` bytes per second, if given, for a
    /// connection whose initial congestion window holds `initial_flight`
    /// bytes.
    pub fn new(limit: Option<u64>, initial_flight: usize) -> Self {
        let limit = limit.map_or(f64::INFINITY, |l| (l as f64).max(1.0));
        RateControl {
            rate: INITIAL_RATE.min(limit),
            limit,
            slow_start: true,
            epoch_start: None,
            acked_bytes: 0,
            sent: 0,
            lost: 0,
            limited: false,
            epoch_min_rtt: None,
            samples: 0,
            base_rtt: None,
            window_min_rtt: None,
            window_start: None,
            delivery_rate: 0.0,
            sample_rate: 0.0,
            kept_pace: false,
            initial_flight: initial_flight as f64,
            cut: None,
        }
    }

    /// The send rate, bytes per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Bytes per second the peer acknowledged over the last epoch.
    pub fn delivery_rate(&self) -> f64 {
        self.delivery_rate
    }

    /// A packet went out.
    pub fn on_sent(&mut self) {
        self.sent += 1;
    }

    /// The pacer held data back: the connection wanted more than the rate.
    pub fn on_rate_limited(&mut self) {
        self.limited = true;
    }

    /// Packets of `bytes` bytes were acknowledged; `rtt` and `sample` are
    /// the RTT and delivery-rate samples they gave.
    pub fn on_acked(
        &mut self,
        bytes: u64,
        rtt: Option<Duration>,
        sample: Option<RateSample>,
        now: Instant,
    ) {
        self.acked_bytes += bytes;
        if let Some(sample) = sample {
            self.sample_rate = self.sample_rate.max(sample.rate());
            self.kept_pace = !sample.send_elapsed.is_zero()
                && sample.ack_elapsed.as_secs_f64()
                    <= sample.send_elapsed.as_secs_f64() * PACE_SLACK;
        }
        let Some(rtt) = rtt else { return };
        if self.base_rtt.is_none() && self.slow_start {
            // The first sample tells how long a round trip is: the initial
            // window's worth per round trip is what a window-based sender
            // would send, so pacing starts there rather than far below it
            // on a short path.
            let first_flight = self.initial_flight / rtt.as_secs_f64().max(1e-6);
            self.rate = self.rate.max(first_flight).min(self.limit);
            // The epoch so far was judged without knowing the round trip,
            // and the sender was held by the initial window, not the rate:
            // rate control starts its first epoch here.
            self.epoch_start = Some(now);
            self.acked_bytes = bytes;
            self.sent = 0;
            self.lost = 0;
            self.limited = false;
        }
        self.samples += 1;
        self.epoch_min_rtt = Some(self.epoch_min_rtt.map_or(rtt, |m| m.min(rtt)));
        self.window_min_rtt = Some(self.window_min_rtt.map_or(rtt, |m| m.min(rtt)));
        self.base_rtt = Some(self.base_rtt.map_or(rtt, |b| b.min(rtt)));
        let start = *self.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) >= BASE_RTT_WINDOW {
            // Forget what is older than the window: the path may have changed.
            self.base_rtt = self.window_min_rtt;
            self.window_min_rtt = Some(rtt);
            self.window_start = Some(now);
        }
    }

    /// `lost` packets were declared lost.
    pub fn on_lost(&mut self, lost: u32) {
        self.lost += lost;
    }

    /// Closes the epoch if one round trip (`rtt`) has passed, adjusting the rate.
    pub fn on_tick(&mut self, now: Instant, rtt: Duration) {
        let Some(start) = self.epoch_start else {
            self.epoch_start = Some(now);
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < rtt.max(MIN_EPOCH) {
            return;
        }
        self.delivery_rate = self.acked_bytes as f64 / elapsed.as_secs_f64();
        let lossy = lossy(
            self.limited,
            self.sent,
            self.lost,
            self.delivery_rate,
            self.rate,
        );
        let queued = self.queued();
        if lossy || queued {
            self.cut = (lossy && !queued).then_some(Cut {
                rate: self.rate,
                slow_start: self.slow_start,
                epoch_start: start,
                epoch_end: now,
                sent: self.sent,
                lost: self.lost,
                delivery_rate: self.delivery_rate,
                judged_rate: self.rate,
            });
            let floor = (self.rate * 0.5).max(self.delivery_rate * 0.9);
            self.rate = self.rate.min(floor).max(MIN_RATE);
            self.slow_start = false;
        } else if self.limited {
            // Growth is earned by delivery: a rate far above what the path
            // acknowledged is a guess, and a burst at it would fill queues.
            let delivered = self.delivery_rate.max(self.sample_rate);
            let mut proven = (delivered * 2.0).max(INITIAL_RATE);
            if self.slow_start && self.kept_pace {
                proven = proven.max((self.rate * 2.0).min(self.sample_rate * 4.0));
            }
            let grown = self.rate * if self.slow_start { 2.0 } else { GROWTH };
            self.rate = self.rate.max(grown.min(proven));
        } else {
            // Something else held the sender back (the game, a window): let
            // the rate settle towards twice what was delivered, so it never
            // stands far above what the path has shown; a later burst starts
            // from there in slow start.
            let settled = (self.delivery_rate * 2.0).max(INITIAL_RATE);
            if settled < self.rate {
                self.rate = (self.rate * 0.75).max(settled);
                self.slow_start = true;
            }
        }
        self.rate = self.rate.min(self.limit);
        self.epoch_start = Some(now);
        self.acked_bytes = 0;
        self.sent = 0;
        self.lost = 0;
        self.limited = false;
        self.epoch_min_rtt = None;
        self.samples = 0;
        self.sample_rate = 0.0;
        self.kept_pace = false;
    }

    /// `count` packets declared lost, the earliest at `declared_at`, were
    /// acknowledged after all. Losses of the open epoch no longer count
    /// against it; those of the epoch the latest cut for loss judged may
    /// undo the cut. Older ones are past mending.
    pub fn on_spurious(&mut self, count: u32, declared_at: Instant) {
        // A loss declared at the very instant an epoch closed was counted
        // in the closed one.
        if self.epoch_start.is_some_and(|s| declared_at > s) {
            self.lost = self.lost.saturating_sub(count);
            return;
        }
        let Some(cut) = self.cut.as_mut() else { return };
        if declared_at < cut.epoch_start || declared_at > cut.epoch_end {
            return;
        }
        cut.lost = cut.lost.saturating_sub(count);
        if !lossy(true, cut.sent, cut.lost, cut.delivery_rate, cut.judged_rate) {
            self.rate = self.rate.max(cut.rate).min(self.limit);
            self.slow_start = cut.slow_start;
            self.cut = None;
        }
    }

    /// Whether even the epoch's smallest RTT sample sat well above the base
    /// RTT: a standing queue.
    fn queued(&self) -> bool {
        match (self.epoch_min_rtt, self.base_rtt) {
            (Some(min), Some(base)) if self.samples >= MIN_SAMPLES => {
                min.saturating_sub(base) > QUEUE_DELAY_FLOOR.max(base / 4)
            }
            _ => false,
        }
    }
}

/// Whether an epoch that sent `sent` packets and lost `lost`, delivering
/// `delivery_rate` against a send rate of `rate`, lost enough to count as
/// congested (only when the sender pushed at the rate, `limited`).
fn lossy(limited: bool, sent: u32, lost: u32, delivery_rate: f64, rate: f64) -> bool {
    let judged = sent.max(lost).max(1);
    limited
        && lost >= MIN_LOSSES
        && f64::from(lost) / f64::from(judged) > LOSS_TOLERANCE
        && delivery_rate < rate * 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// One epoch of 20 ms in which the sender wanted more than the rate
    /// (when `limited`), the path delivered `delivered` bytes/s, lost `lost`
    /// of 100 packets, and gave RTT samples `rtts`.
    fn epoch(
        c: &mut RateControl,
        t: &mut Instant,
        limited: bool,
        delivered: f64,
        lost: u32,
        rtts: &[u64],
    ) {
        for _ in 0..100 {
            c.on_sent();
        }
        if limited {
            c.on_rate_limited();
        }
        c.on_lost(lost);
        let per = delivered * 0.020 / rtts.len().max(1) as f64;
        for r in rtts {
            c.on_acked(per as u64, Some(ms(*r)), None, *t);
        }
        *t += ms(20);
        c.on_tick(*t, ms(20));
    }

    /// The first RTT sample lifts the rate to the initial window per round
    /// trip on a short path, never past the configured limit, and never
    /// lowers it on a long one.
    #[test]
    fn starts_at_the_initial_window_per_round_trip() {
        let t = Instant::now();
        let flight = 64 * 1400;
        let mut short = RateControl::new(None, flight);
        short.on_acked(0, Some(Duration::from_micros(100)), None, t);
        assert!((short.rate() - flight as f64 / 100e-6).abs() < 1.0);
        let mut capped = RateControl::new(Some(2_000_000), flight);
        capped.on_acked(0, Some(Duration::from_micros(100)), None, t);
        assert_eq!(capped.rate(), 2_000_000.0);
        let mut long = RateControl::new(None, flight);
        long.on_acked(0, Some(ms(1000)), None, t);
        assert_eq!(long.rate(), INITIAL_RATE, "89.6 KB/s is below the start");
        // Only the first sample: later ones leave the rate to the epochs.
        short.on_acked(0, Some(Duration::from_micros(10)), None, t);
        assert!((short.rate() - flight as f64 / 100e-6).abs() < 1.0);
    }

    #[test]
    fn grows_on_a_clear_path_only_when_used() {
        let mut t = Instant::now();
        let mut c = RateControl::new(None, 0);
        c.on_tick(t, ms(20));
        epoch(&mut c, &mut t, false, 10_000.0, 0, &[20, 21]);
        assert_eq!(c.rate(), INITIAL_RATE, "an idle connection earns nothing");
        epoch(&mut c, &mut t, true, INITIAL_RATE, 0, &[20, 21]);
        assert!(
            (c.rate() - 2.0 * INITIAL_RATE).abs() < 1000.0,
            "slow start doubles: {}",
            c.rate()
        );
        // Not past twice what was delivered.
        epoch(&mut c, &mut t, true, 1.2 * INITIAL_RATE, 0, &[20, 21]);
        assert!(
            (c.rate() - 2.4 * INITIAL_RATE).abs() < 1000.0,
            "{}",
            c.rate()
        );
    }

    #[test]
    fn jitter_and_light_loss_are_not_congestion_but_a_queue_is() {
        let mut t = Instant::now();
        let mut c = RateControl::new(None, 0);
        c.on_tick(t, ms(20));
        for _ in 0..3 {
            epoch(&mut c, &mut t, true, 8e6, 0, &[20, 22]);
        }
        let before = c.rate();
        // 10±10 ms jitter: some samples high, the minimum stays at the base.
        epoch(&mut c, &mut t, true, 8e6, 5, &[20, 38, 29, 21, 40]);
        assert!(c.rate() >= before, "jitter and 5% loss: no cut");
        // Too few samples to judge a queue by.
        let before = c.rate();
        epoch(&mut c, &mut t, true, 8e6, 0, &[60, 70]);
        assert!(c.rate() >= before, "two high samples are not a queue");
        // A standing queue of 40 ms: every sample is high.
        let before = c.rate();
        epoch(&mut c, &mut t, true, 1e6, 0, &[60, 62, 70, 61]);
        assert!(c.rate() < before, "a queue backs off");
        assert!(c.rate() >= before * 0.5, "at most by half per epoch");
        // 20% loss with no queue is not congestion (random loss, late
        // packets); losing more while delivering under half the rate is,
        // and backs off until the rate is near what was delivered.
        let before = c.rate();
        epoch(&mut c, &mut t, true, 1e6, 20, &[20]);
        assert!(c.rate() >= before);
        for _ in 0..10 {
            epoch(&mut c, &mut t, true, 1e6, 60, &[20]);
        }
        assert!(c.rate() <= 2.2e6 && c.rate() >= 0.9e6, "rate {}", c.rate());
        // Recovery once it clears.
        for _ in 0..30 {
            epoch(&mut c, &mut t, true, 9e6, 0, &[20]);
        }
        assert!(c.rate() > 9e6, "rate {}", c.rate());
    }

    #[test]
    fn never_below_the_floor_nor_above_the_limit() {
        let mut t = Instant::now();
        let mut c = RateControl::new(Some(300_000), 0);
        c.on_tick(t, ms(20));
        assert_eq!(c.rate(), 300_000.0);
        for _ in 0..10 {
            epoch(&mut c, &mut t, true, 1e9, 0, &[1]);
        }
        assert_eq!(c.rate(), 300_000.0);
        for _ in 0..50 {
            epoch(&mut c, &mut t, true, 0.0, 90, &[]);
        }
        assert_eq!(c.rate(), MIN_RATE);
        // A quiet epoch's few losses prove nothing.
        for _ in 0..5 {
            c.on_lost(5);
            t += ms(20);
            c.on_tick(t, ms(20));
        }
        assert_eq!(c.rate(), MIN_RATE);
    }

    /// A cut for losses that prove spurious is undone; one with enough real
    /// losses left, or one for a standing queue, is not.
    #[test]
    fn a_cut_for_losses_that_were_not_is_undone() {
        let mut t = Instant::now();
        let mut c = RateControl::new(None, 0);
        c.on_tick(t, ms(20));
        for _ in 0..4 {
            epoch(&mut c, &mut t, true, 8e6, 0, &[20, 21, 20, 22]);
        }
        let before = c.rate();
        let lost_at = t + ms(5);
        epoch(&mut c, &mut t, true, 1e6, 60, &[20, 21, 20, 22]);
        let cut = c.rate();
        assert!(cut < before, "60% lost while delivering little: cut");
        // A late ack of a loss from before the cut's epoch is not the cut's.
        c.on_spurious(60, t - ms(30));
        assert_eq!(c.rate(), cut);
        c.on_spurious(25, lost_at);
        assert_eq!(c.rate(), cut, "35 of 100 lost for real still justify it");
        c.on_spurious(10, lost_at);
        assert_eq!(c.rate(), before, "25 of 100 does not: undone");
        // Losses of the open epoch taken back before it closes spare it.
        let before = c.rate();
        for _ in 0..100 {
            c.on_sent();
        }
        c.on_rate_limited();
        c.on_lost(60);
        c.on_spurious(60, t + ms(1));
        c.on_acked(2_000, Some(ms(20)), None, t + ms(10));
        t += ms(20);
        c.on_tick(t, ms(20));
        assert!(c.rate() >= before, "nothing was lost");
        // A queue's cut stays, whatever is taken back.
        let before = c.rate();
        let lost_at = t + ms(5);
        epoch(&mut c, &mut t, true, 1e6, 60, &[60, 62, 70, 61]);
        assert!(c.rate() < before);
        let cut = c.rate();
        c.on_spurious(60, lost_at);
        assert_eq!(c.rate(), cut, "the queue was real");
    }
}
