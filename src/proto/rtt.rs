//! Round-trip time estimation and the retransmission timeout derived from it.
//!
//! RFC 6298: smoothed RTT and RTT variance from each sample, RTO = SRTT + 4 *
//! RTTVAR clamped between a floor and a ceiling; a backoff doubles it after each
//! timeout without progress. Samples also feed a histogram for percentiles.

use std::time::Duration;

use hdrhistogram::Histogram;

/// When the owner updates this connection at least this often, an ack with
/// nothing to ride on waits up to this long for a packet with frames (a reply
/// to what it acknowledges, say) instead of leaving alone; the peer's RTT
/// sample grows by at most this much. An owner updating less often acks at
/// once, as the wait would last until its next update.
pub(crate) const ACK_DELAY: Duration = Duration::from_millis(1);

/// RTT estimator of one connection.
#[derive(Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    latest: Duration,
    min_rto: Duration,
    max_rto: Duration,
    initial_rto: Duration,
    /// Samples in microseconds, allocated at the first sample. One significant
    /// digit (buckets about 6 % wide) keeps it near 1.3 KiB per connection.
    histogram: Option<Histogram<u32>>,
}

/// Least margin the RTO keeps above the smoothed RTT: on a steady link the
/// variance shrinks to nothing, and an ack delayed by the peer's tick would
/// otherwise look like a loss.
const RTO_GRANULARITY: Duration = Duration::from_millis(5);

/// Least margin a probe timeout keeps above the smoothed RTT: the peer may
/// hold an ack for up to 1 ms (`ACK_DELAY`), and timers fire about 1 ms late.
/// Smaller than `RTO_GRANULARITY`: a needless probe costs one packet, a
/// needless timeout a loss event.
const PTO_GRANULARITY: Duration = Duration::from_millis(2);

/// Largest RTT the histogram records, in microseconds; larger samples are clamped.
const HISTOGRAM_MAX_US: u64 = 60_000_000;

impl RttEstimator {
    /// An estimator with no sample yet.
    pub fn new(min_rto: Duration, max_rto: Duration, initial_rto: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            latest: Duration::ZERO,
            min_rto,
            max_rto,
            initial_rto,
            histogram: None,
        }
    }

    /// Feeds one RTT sample.
    pub fn on_sample(&mut self, rtt: Duration) {
        self.latest = rtt;
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        if self.histogram.is_none() {
            self.histogram = Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 1).ok();
        }
        if let Some(h) = self.histogram.as_mut() {
            let us = (rtt.as_micros() as u64).clamp(1, HISTOGRAM_MAX_US);
            // Saturating record: a full count bucket must not fail the connection.
            let _ = h.record(us);
        }
    }

    /// Smoothed RTT, if any sample arrived.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variance.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// The most recent sample.
    pub fn latest(&self) -> Duration {
        self.latest
    }

    /// The retransmission timeout after `backoff` consecutive timeouts.
    pub fn rto(&self, backoff: u32) -> Duration {
        let base = match self.srtt {
            None => self.initial_rto,
            Some(srtt) => srtt + (self.rttvar * 4).max(RTO_GRANULARITY),
        };
        let base = base.clamp(self.min_rto, self.max_rto);
        base.saturating_mul(1u32 << backoff.min(16))
            .min(self.max_rto)
    }

    /// How long an ack-eliciting packet may go unacknowledged, with no
    /// later packet acked either, before a probe asks again, after
    /// `backoff` probes without an ack: SRTT + max(4 * RTTVAR, 2 ms) + the
    /// time the peer may hold its ack (`ACK_DELAY`), as QUIC's PTO, doubled
    /// per probe, within `[min_rto, max_rto]`. The same
    /// bound as the RTO with a smaller margin and without its backoff. The
    /// floor stays: on a short path the owner's update cadence and the
    /// scheduler, not the RTT, decide when an ack is late, and `min_rto` is
    /// the configured shortest wait for one. `None` before the first
    /// sample: the initial RTO, a guess, decides then.
    pub fn pto(&self, backoff: u32) -> Option<Duration> {
        let srtt = self.srtt?;
        let base = (srtt + (self.rttvar * 4).max(PTO_GRANULARITY) + ACK_DELAY).max(self.min_rto);
        Some(
            base.saturating_mul(1u32 << backoff.min(16))
                .min(self.max_rto),
        )
    }

    /// How long a packet sent before an acknowledged one may still be in
    /// flight (reordered) before it counts as lost: 9/8 of the larger of the
    /// smoothed and latest RTT, plus the variance (QUIC's time threshold, with
    /// room for jitter).
    pub fn loss_delay(&self) -> Duration {
        match self.srtt {
            None => self.initial_rto,
            Some(srtt) => {
                (srtt.max(self.latest) * 9 / 8 + self.rttvar).max(Duration::from_millis(1))
            }
        }
    }

    /// RTT at percentile `q` (0..=100), if any sample arrived.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        let h = self.histogram.as_ref()?;
        if h.is_empty() {
            return None;
        }
        Some(Duration::from_micros(h.value_at_quantile(q / 100.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn rto_follows_samples_and_clamps() {
        let mut rtt = RttEstimator::new(ms(15), ms(1000), ms(200));
        assert_eq!(rtt.rto(0), ms(200));
        for _ in 0..50 {
            rtt.on_sample(ms(100));
        }
        let rto = rtt.rto(0);
        assert!(rto >= ms(100) && rto < ms(150), "{rto:?}");
        assert_eq!(rtt.rto(10), ms(1000));
        let mut fast = RttEstimator::new(ms(15), ms(1000), ms(200));
        fast.on_sample(Duration::from_micros(50));
        assert_eq!(fast.rto(0), ms(15));
        assert_eq!(fast.rto(1), ms(30));
    }

    #[test]
    fn percentiles_reflect_samples() {
        let mut rtt = RttEstimator::new(ms(15), ms(1000), ms(200));
        assert_eq!(rtt.percentile(50.0), None);
        for i in 1..=100 {
            rtt.on_sample(ms(i));
        }
        let p50 = rtt.percentile(50.0).unwrap();
        let p99 = rtt.percentile(99.0).unwrap();
        assert!(p50 >= ms(45) && p50 <= ms(55), "{p50:?}");
        // One significant digit: buckets are about 6 % wide.
        assert!(p99 >= ms(93) && p99 <= ms(106), "{p99:?}");
    }
}
