//! Link capacity: the bottleneck queue of a bandwidth-limited link.
//!
//! A link with a bandwidth serializes its datagrams one after another at that
//! rate, first come first served, through a drop-tail buffer measured in
//! bytes. A [`Bottleneck`] remembers when each datagram still in it finishes
//! leaving, so the bytes it holds are exact even after the rate changes: a
//! datagram keeps the departure time computed at the rate in force when it was
//! sent, and only datagrams sent later see the new rate.
//!
//! Nothing here draws randomness or reads a clock; the caller passes `now`,
//! which keeps the network deterministic for a given seed and clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// How long `len` bytes take to cross a link of `bytes_per_sec`, rounded up
/// to the nanosecond so a link never carries more than its rate. A zero rate
/// counts as 1 byte/s; a time beyond `Duration`'s nanosecond range saturates.
pub(super) fn serialization_time(len: u64, bytes_per_sec: u64) -> Duration {
    let rate = u128::from(bytes_per_sec.max(1));
    let nanos = (u128::from(len) * NANOS_PER_SEC).div_ceil(rate);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The bytes a link of `bytes_per_sec` sends in `delay`, rounded down and
/// saturating: how the default queue limit turns a delay into bytes.
pub(super) fn bytes_in(delay: Duration, bytes_per_sec: u64) -> u64 {
    let bytes = delay.as_nanos().saturating_mul(u128::from(bytes_per_sec)) / NANOS_PER_SEC;
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

/// A datagram still in the bottleneck: when its last byte leaves, and its
/// length. Datagrams finishing at the same instant share one entry.
#[derive(Clone, Copy, Debug)]
struct Departure {
    at: Instant,
    bytes: u64,
}

/// What the bottleneck does with a datagram offered to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// Accepted; its last byte leaves the bottleneck this long after `now`.
    Departs(Duration),
    /// Dropped at the tail: the bytes already waiting plus this datagram
    /// would exceed the queue limit.
    Overflow,
    /// Its departure time is past the end of representable time, so it would
    /// never arrive.
    Unrepresentable,
}

/// The bottleneck of one directed link: the datagrams still being serialized
/// or waiting to be, in departure order.
#[derive(Debug, Default)]
pub(super) struct Bottleneck {
    /// Non-decreasing `at`; every entry holds at least one byte, so the
    /// length is bounded by the bytes queued.
    queue: VecDeque<Departure>,
    /// Sum of `bytes` over `queue`, departed entries not yet pruned included.
    total: u64,
}

impl Bottleneck {
    /// Forgets the datagrams that have fully left by `now`.
    pub(super) fn prune(&mut self, now: Instant) {
        while let Some(front) = self.queue.front().copied() {
            if front.at > now {
                break;
            }
            self.queue.pop_front();
            self.total -= front.bytes;
        }
    }

    /// Whether nothing is left in the bottleneck as of the last prune.
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes in the bottleneck at `now`: every datagram whose last byte has
    /// not left yet, the one being serialized counted whole, as a router
    /// holds a packet in its buffer until it is fully on the wire.
    pub(super) fn queued_bytes(&self, now: Instant) -> u64 {
        let departed: u64 = self
            .queue
            .iter()
            .take_while(|d| d.at <= now)
            .map(|d| d.bytes)
            .sum();
        self.total - departed
    }

    /// How long a datagram arriving at `now` waits before its first byte goes
    /// out: zero when the link is idle.
    pub(super) fn delay(&self, now: Instant) -> Duration {
        self.queue
            .back()
            .map_or(Duration::ZERO, |d| d.at.saturating_duration_since(now))
    }

    /// Offers a datagram of `len` bytes at `now` to a link of
    /// `bytes_per_sec` with a drop-tail buffer of `limit` bytes.
    ///
    /// A datagram that finds the link idle is always accepted, as it goes
    /// straight onto the wire; otherwise it is accepted only if the bytes
    /// queued plus its own fit in `limit`. So the bytes queued never exceed
    /// `limit`, or the length of a single datagram if that is larger.
    pub(super) fn admit(
        &mut self,
        now: Instant,
        len: u64,
        bytes_per_sec: u64,
        limit: u64,
    ) -> Admission {
        self.prune(now);
        let queued = self.total;
        if queued > 0 && queued.saturating_add(len) > limit {
            return Admission::Overflow;
        }
        // Departures never go back in time: a datagram starts when the one
        // ahead of it has finished, or now if the link is idle.
        let start = self.queue.back().map_or(now, |d| d.at.max(now));
        let Some(at) = start.checked_add(serialization_time(len, bytes_per_sec)) else {
            return Admission::Unrepresentable;
        };
        if at > now {
            match self.queue.back_mut() {
                Some(back) if back.at == at => back.bytes += len,
                _ => self.queue.push_back(Departure { at, bytes: len }),
            }
            self.total += len;
        }
        // Zero serialization time on an idle link (an empty datagram, or a
        // rate so high it rounds to nothing): gone at once, nothing to keep.
        Admission::Departs(at - now)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{LinkConditioner, SimNetwork, SimSocket, DEFAULT_QUEUE_DELAY};
    use super::*;
    use crate::transport::Socket;
    use std::net::SocketAddr;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    fn pair(net: &SimNetwork) -> (SimSocket, SimSocket) {
        let a = net.bind(addr("10.0.0.1:1000")).expect("bind a");
        let b = net.bind(addr("10.0.0.2:2000")).expect("bind b");
        (a, b)
    }

    /// Drains everything receivable now; returns the payloads.
    fn drain(socket: &mut SimSocket) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(Some((len, _))) = socket.recv_from(&mut buf) {
            out.push(buf[..len].to_vec());
        }
        out
    }

    /// Arrival records `(elapsed, bytes)` of a sender that keeps the link's
    /// queue as full as its limit allows.
    struct Saturator {
        net: SimNetwork,
        a: SimSocket,
        b: SimSocket,
        arrivals: Vec<(Duration, usize)>,
        sent: u64,
    }

    impl Saturator {
        fn new(net: SimNetwork) -> Self {
            let (a, b) = pair(&net);
            Saturator {
                net,
                a,
                b,
                arrivals: Vec::new(),
                sent: 0,
            }
        }

        /// For `duration`, every `step`: tops the bottleneck up to `limit`
        /// with `size`-byte datagrams, moves the clock, collects arrivals.
        fn run(&mut self, duration: Duration, step: Duration, size: usize, limit: u64) {
            let clock = self.net.clock();
            let end = clock.elapsed() + duration;
            let payload = vec![0xAB; size];
            while clock.elapsed() < end {
                while self
                    .net
                    .queued_bytes(self.a.local_addr(), self.b.local_addr())
                    + size as u64
                    <= limit
                {
                    self.a.send_to(&payload, self.b.local_addr()).expect("send");
                    self.sent += 1;
                }
                clock.advance(step);
                self.collect();
            }
        }

        /// Runs the clock until nothing is in flight, collecting arrivals.
        fn finish(&mut self) {
            while self.net.advance_to_next_delivery().is_some() {
                self.collect();
            }
        }

        fn collect(&mut self) {
            let now = self.net.clock().elapsed();
            for payload in drain(&mut self.b) {
                self.arrivals.push((now, payload.len()));
            }
        }

        /// Bytes per second delivered between `from` and `to` of elapsed time.
        fn rate_between(&self, from: Duration, to: Duration) -> f64 {
            let bytes: usize = self
                .arrivals
                .iter()
                .filter(|(t, _)| *t > from && *t <= to)
                .map(|(_, n)| n)
                .sum();
            bytes as f64 / (to - from).as_secs_f64()
        }
    }

    fn assert_close(actual: f64, expected: f64, tolerance: f64) {
        let error = (actual - expected).abs() / expected;
        assert!(
            error <= tolerance,
            "{actual:.0} B/s is {:.1}% off {expected:.0} B/s",
            error * 100.0
        );
    }

    #[test]
    fn serialization_time_rounds_up_and_saturates() {
        assert_eq!(serialization_time(1_000, 1_000_000), ms(1));
        assert_eq!(serialization_time(1, 3), Duration::from_nanos(333_333_334));
        assert_eq!(serialization_time(0, 1_000), Duration::ZERO);
        assert_eq!(serialization_time(5, 0), Duration::from_secs(5));
        assert_eq!(
            serialization_time(u64::MAX, 1),
            Duration::from_nanos(u64::MAX)
        );
        assert_eq!(
            serialization_time(u64::MAX, u64::MAX),
            Duration::from_secs(1)
        );
        assert_eq!(bytes_in(ms(50), 1_000_000), 50_000);
        assert_eq!(bytes_in(Duration::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn bottleneck_serializes_and_drops_at_the_tail() {
        let now = Instant::now();
        let mut link = Bottleneck::default();
        // 1000 bytes/s: 100 bytes take 100 ms. Limit 250 bytes.
        assert_eq!(
            link.admit(now, 100, 1_000, 250),
            Admission::Departs(ms(100))
        );
        assert_eq!(
            link.admit(now, 100, 1_000, 250),
            Admission::Departs(ms(200))
        );
        assert_eq!(link.queued_bytes(now), 200);
        assert_eq!(link.admit(now, 100, 1_000, 250), Admission::Overflow);
        assert_eq!(link.admit(now, 50, 1_000, 250), Admission::Departs(ms(250)));
        assert_eq!(link.delay(now), ms(250));
        // The first has left by 100 ms; the next joins behind the rest.
        let later = now + ms(100);
        assert_eq!(link.queued_bytes(later), 150);
        assert_eq!(
            link.admit(later, 100, 1_000, 250),
            Admission::Departs(ms(250))
        );
        assert_eq!(link.queued_bytes(now + ms(349)), 100);
        assert_eq!(link.queued_bytes(now + ms(350)), 0);
        link.prune(now + ms(349));
        assert!(!link.is_empty());
        link.prune(now + ms(350));
        assert!(link.is_empty());
    }

    #[test]
    fn idle_bottleneck_takes_a_datagram_larger_than_its_limit() {
        let now = Instant::now();
        let mut link = Bottleneck::default();
        assert_eq!(link.admit(now, 500, 1_000, 0), Admission::Departs(ms(500)));
        assert_eq!(link.admit(now, 1, 1_000, 0), Admission::Overflow);
        assert_eq!(link.queued_bytes(now), 500);
        let idle_again = now + ms(500);
        assert_eq!(
            link.admit(idle_again, 10, 1_000, 0),
            Admission::Departs(ms(10))
        );
    }

    #[test]
    fn empty_datagrams_leave_no_trace() {
        let now = Instant::now();
        let mut link = Bottleneck::default();
        for _ in 0..1_000 {
            assert_eq!(
                link.admit(now, 0, 1_000, 0),
                Admission::Departs(Duration::ZERO)
            );
        }
        assert!(link.queue.is_empty());
        assert_eq!(link.admit(now, 10, 1_000, 100), Admission::Departs(ms(10)));
        // Behind a backlog they share its departure instead of piling up.
        for _ in 0..1_000 {
            assert_eq!(link.admit(now, 0, 1_000, 100), Admission::Departs(ms(10)));
        }
        assert_eq!(link.queue.len(), 1);
    }

    /// 1 MB/s, 2 s of 1000-byte datagrams as fast as the queue takes them:
    /// delivered throughput over virtual time matches the link rate.
    #[test]
    fn saturated_link_delivers_its_bandwidth() {
        let net = SimNetwork::new(100);
        let cond = LinkConditioner::new().bandwidth(1_000_000).latency(ms(20));
        let limit = cond.effective_queue_limit().expect("capacity-limited");
        assert_eq!(limit, bytes_in(DEFAULT_QUEUE_DELAY, 1_000_000));
        net.set_conditioner(cond);
        let mut run = Saturator::new(net.clone());
        run.run(ms(2_000), us(250), 1_000, limit);
        run.finish();

        let stats = net.stats();
        assert_eq!(
            stats.dropped_queue_overflow, 0,
            "the sender respected the limit"
        );
        assert_eq!(stats.delivered, run.sent);
        // Over virtual time, from the first arrival to the last.
        let first = run.arrivals.first().expect("arrivals").0;
        let last = run.arrivals.last().expect("arrivals").0;
        let bytes_after_first = (run.arrivals.len() - 1) * 1_000;
        let rate = bytes_after_first as f64 / (last - first).as_secs_f64();
        assert_close(rate, 1_000_000.0, 0.05);
        // The sender ran 2 s and the queue was full at the end, so about
        // 2 MB plus one queue's worth got through.
        assert_close(
            stats.bytes_delivered as f64,
            2_000_000.0 + limit as f64,
            0.05,
        );
        // Latency comes on top of serialization: the first of them left the
        // bottleneck after 1 ms and arrived 20 ms later.
        assert_eq!(first, ms(21));
    }

    #[test]
    fn blasting_overflows_the_queue_and_counts_it() {
        let net = SimNetwork::new(101);
        let limit = 10_000;
        net.set_conditioner(
            LinkConditioner::new()
                .bandwidth(100_000)
                .queue_limit(limit)
                .latency(ms(5)),
        );
        let (mut a, mut b) = pair(&net);
        let clock = net.clock();
        let (from, to) = (a.local_addr(), b.local_addr());
        // 10 MB/s offered to a 100 kB/s link for one second.
        let mut delivered = 0u64;
        for _ in 0..1_000 {
            for _ in 0..10 {
                a.send_to(&[7; 1_000], to).expect("send");
                assert!(net.queued_bytes(from, to) <= limit);
                assert!(net.queue_delay(from, to) <= ms(100));
            }
            clock.advance(ms(1));
            delivered += drain(&mut b).len() as u64;
        }
        let stats = net.stats();
        assert_eq!(stats.sent, 10_000);
        // 100 kB/s for 1 s is about 100 datagrams, plus a full queue of 10
        // still in flight; everything else overflowed.
        assert!((95..=101).contains(&delivered), "delivered {delivered}");
        assert_eq!(
            stats.sent,
            stats.delivered + stats.dropped_queue_overflow + net.in_flight() as u64
        );
        assert!(stats.dropped_queue_overflow > 9_800);
        // The receiver queue was never the limit.
        assert_eq!(stats.dropped_queue_full, 0);
        // Left alone, the bottleneck drains.
        clock.advance(ms(200));
        assert_eq!(net.queued_bytes(from, to), 0);
        assert_eq!(net.queue_delay(from, to), Duration::ZERO);
    }

    #[test]
    fn bandwidth_change_at_runtime_changes_the_rate() {
        let net = SimNetwork::new(102);
        net.set_conditioner(LinkConditioner::new().bandwidth(10_000_000));
        let mut run = Saturator::new(net.clone());
        let fast_limit = bytes_in(DEFAULT_QUEUE_DELAY, 10_000_000);
        run.run(ms(300), us(100), 1_000, fast_limit);
        // Drop to a tenth with a full 10 MB/s queue in the bottleneck.
        net.set_conditioner(LinkConditioner::new().bandwidth(1_000_000));
        let slow_limit = bytes_in(DEFAULT_QUEUE_DELAY, 1_000_000);
        run.run(ms(700), us(100), 1_000, slow_limit);
        // And back up, given as a per-link override this time.
        let (from, to) = (run.a.local_addr(), run.b.local_addr());
        net.set_link_conditioner(from, to, LinkConditioner::new().bandwidth(5_000_000));
        let mid_limit = bytes_in(DEFAULT_QUEUE_DELAY, 5_000_000);
        run.run(ms(500), us(100), 1_000, mid_limit);
        run.finish();

        assert_close(run.rate_between(ms(100), ms(300)), 10_000_000.0, 0.05);
        // The old queue drains at the old rate within 50 ms of the change.
        assert_close(run.rate_between(ms(400), ms(1_000)), 1_000_000.0, 0.05);
        assert_close(run.rate_between(ms(1_100), ms(1_500)), 5_000_000.0, 0.05);
        // No time went backwards: on a link without jitter, arrivals are in
        // send order and at non-decreasing times.
        assert!(run.arrivals.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(net.stats().delivered, run.sent);
    }

    #[test]
    fn removing_bandwidth_lifts_the_limit_for_later_datagrams() {
        let net = SimNetwork::new(103);
        net.set_conditioner(
            LinkConditioner::new()
                .bandwidth(1_000)
                .queue_limit(1_000_000),
        );
        let (mut a, mut b) = pair(&net);
        let (from, to) = (a.local_addr(), b.local_addr());
        a.send_to(&[1; 500], to).expect("send");
        assert_eq!(net.queue_delay(from, to), ms(500));
        net.set_conditioner(LinkConditioner::new());
        a.send_to(&[2; 500], to).expect("send");
        // The later datagram does not wait behind the earlier one.
        assert_eq!(drain(&mut b), vec![vec![2; 500]]);
        assert_eq!(net.queued_bytes(from, to), 500);
        net.clock().advance(ms(500));
        assert_eq!(drain(&mut b), vec![vec![1; 500]]);
        assert_eq!(net.queued_bytes(from, to), 0);
    }

    #[test]
    fn each_directed_pair_has_its_own_bottleneck() {
        let net = SimNetwork::new(104);
        net.set_conditioner(LinkConditioner::new().bandwidth(1_000).queue_limit(0));
        let (mut a, mut b) = pair(&net);
        let mut c = net.bind(addr("10.0.0.3:3000")).expect("bind c");
        // Each of a→b, b→a, c→b is idle, so each takes one datagram; a second
        // on a→b finds it busy and overflows the zero-byte queue.
        a.send_to(&[0; 100], b.local_addr()).expect("send");
        b.send_to(&[0; 100], a.local_addr()).expect("send");
        c.send_to(&[0; 100], b.local_addr()).expect("send");
        a.send_to(&[0; 100], b.local_addr()).expect("send");
        assert_eq!(net.stats().dropped_queue_overflow, 1);
        assert_eq!(net.queued_bytes(a.local_addr(), b.local_addr()), 100);
        assert_eq!(net.queued_bytes(c.local_addr(), b.local_addr()), 100);
        assert_eq!(net.queued_bytes(a.local_addr(), c.local_addr()), 0);
        net.clock().advance(ms(100));
        assert_eq!(drain(&mut b).len(), 2);
        assert_eq!(drain(&mut a).len(), 1);
    }

    #[test]
    fn extreme_settings_do_not_panic() {
        for (bandwidth, limit) in [
            (0, None),
            (0, Some(0)),
            (1, Some(u64::MAX)),
            (u64::MAX, None),
            (u64::MAX, Some(u64::MAX)),
        ] {
            let net = SimNetwork::new(105);
            let mut cond = LinkConditioner::new().bandwidth(bandwidth);
            cond.queue_limit = limit;
            net.set_conditioner(cond);
            // Also a zero written straight into the field.
            net.set_link_conditioner(
                addr("10.0.0.2:2000"),
                addr("10.0.0.1:1000"),
                LinkConditioner {
                    bandwidth: Some(0),
                    ..LinkConditioner::default()
                },
            );
            let (mut a, mut b) = pair(&net);
            for len in [0, 1, 1_500, 65_535] {
                a.send_to(&vec![0; len], b.local_addr()).expect("send");
                b.send_to(&vec![0; len], a.local_addr()).expect("send");
            }
            net.clock().advance(ms(10));
            drain(&mut a);
            drain(&mut b);
            let stats = net.stats();
            assert_eq!(
                stats.sent,
                stats.delivered
                    + stats.dropped_queue_overflow
                    + stats.dropped_loss
                    + net.in_flight() as u64
            );
        }
    }

    #[test]
    fn zero_bandwidth_is_the_slowest_link() {
        let cond = LinkConditioner::new().bandwidth(0);
        assert_eq!(cond.bandwidth, Some(1));
        assert_eq!(cond.effective_queue_limit(), Some(0));
        assert_eq!(LinkConditioner::new().effective_queue_limit(), None);
        assert_eq!(
            LinkConditioner::new()
                .queue_limit(7)
                .bandwidth(5)
                .effective_queue_limit(),
            Some(7)
        );
    }

    /// Paced below capacity, so the bottleneck only adds serialization time.
    fn paced_numbered(net: &SimNetwork, count: u32) -> Vec<u32> {
        let (mut a, mut b) = pair(net);
        let clock = net.clock();
        let mut got = Vec::new();
        let mut collect = |b: &mut SimSocket| {
            for payload in drain(b) {
                let bytes: [u8; 4] = payload[..4].try_into().expect("4-byte payload");
                got.push(u32::from_le_bytes(bytes));
            }
        };
        for i in 0..count {
            a.send_to(&i.to_le_bytes(), b.local_addr()).expect("send");
            clock.advance(ms(1));
            collect(&mut b);
        }
        while net.advance_to_next_delivery().is_some() {
            collect(&mut b);
        }
        got
    }

    #[test]
    fn impairments_still_apply_with_bandwidth() {
        let capped = || LinkConditioner::new().bandwidth(1_000_000);

        // Latency on top of serialization: 4 bytes at 1 MB/s take 4 µs.
        let net = SimNetwork::new(106);
        net.set_conditioner(capped().latency(ms(50)));
        let (mut a, mut b) = pair(&net);
        a.send_to(&[0; 4], b.local_addr()).expect("send");
        assert_eq!(
            net.next_delivery_time(),
            Some(net.clock().now() + ms(50) + us(4))
        );
        net.clock().advance(ms(50) + us(3));
        assert!(drain(&mut b).is_empty());
        net.clock().advance(us(1));
        assert_eq!(drain(&mut b).len(), 1);
        drop(a);

        let net = SimNetwork::new(107);
        net.set_conditioner(capped().loss(0.2));
        let lost = 10_000 - paced_numbered(&net, 10_000).len();
        assert!((1_500..=2_500).contains(&lost), "lost {lost}");
        assert_eq!(net.stats().dropped_loss, lost as u64);
        assert_eq!(net.stats().dropped_queue_overflow, 0);

        let net = SimNetwork::new(108);
        net.set_conditioner(capped().latency(ms(10)).jitter(ms(20)));
        let got = paced_numbered(&net, 1_000);
        assert_eq!(got.len(), 1_000);
        assert!(
            got.windows(2).filter(|w| w[1] < w[0]).count() > 10,
            "jitter reorders"
        );

        let net = SimNetwork::new(109);
        net.set_conditioner(capped().latency(ms(10)).reorder(0.1, ms(20)));
        let got = paced_numbered(&net, 1_000);
        assert_eq!(got.len(), 1_000);
        assert!(
            got.windows(2).filter(|w| w[1] < w[0]).count() > 10,
            "reorder reorders"
        );

        let net = SimNetwork::new(110);
        net.set_conditioner(capped().duplicate(1.0));
        assert_eq!(paced_numbered(&net, 3), vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(net.stats().duplicated, 3);

        let net = SimNetwork::new(111);
        net.set_conditioner(capped().mtu(100));
        let (mut a, mut b) = pair(&net);
        a.send_to(&[1; 100], b.local_addr()).expect("send small");
        a.send_to(&[2; 101], b.local_addr()).expect("send big");
        net.clock().advance(ms(1));
        assert_eq!(drain(&mut b).len(), 1);
        assert_eq!(net.stats().dropped_mtu, 1);
        // The oversized datagram never reached the bottleneck.
        assert_eq!(net.queued_bytes(a.local_addr(), b.local_addr()), 0);
    }

    #[test]
    fn same_seed_same_outcome_with_capacity() {
        let run = |seed| {
            let net = SimNetwork::new(seed);
            net.set_conditioner(
                LinkConditioner::new()
                    .bandwidth(200_000)
                    .queue_limit(8_000)
                    .loss(0.05)
                    .latency(ms(20))
                    .jitter(ms(5)),
            );
            let (mut a, mut b) = pair(&net);
            let clock = net.clock();
            let mut arrivals = Vec::new();
            for i in 0..2_000u32 {
                // Bursts of three every millisecond: 3x the link's rate.
                for _ in 0..3 {
                    a.send_to(&i.to_le_bytes().repeat(100), b.local_addr())
                        .expect("send");
                }
                clock.advance(ms(1));
                for payload in drain(&mut b) {
                    arrivals.push((clock.elapsed(), payload[0]));
                }
            }
            (arrivals, net.stats())
        };
        let first = run(7);
        assert!(first.1.dropped_queue_overflow > 0);
        assert_eq!(first, run(7));
        assert_ne!(first.0, run(8).0);
    }
}
