//! The simulated network's moving parts: datagrams in flight, bound
//! endpoints with their delivery queues, blackouts, and the state that
//! routes, conditions and delivers every datagram. [`SimNetwork`](super::SimNetwork)
//! and its sockets are the public face over it.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::*;

/// A datagram waiting in a destination's queue.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) deliver_at: Instant,
    /// Send order, so datagrams due at the same instant leave in the order
    /// they were sent and the heap order is total (hence deterministic).
    pub(super) seq: u64,
    pub(super) from: SocketAddr,
    pub(super) data: Bytes,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for InFlight {}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.deliver_at, self.seq).cmp(&(other.deliver_at, other.seq))
    }
}

/// A bound address: its identity (so a stale handle cannot unbind a newer
/// socket) and its delivery queue, earliest first.
#[derive(Debug)]
pub(super) struct Endpoint {
    pub(super) id: u64,
    pub(super) queue: BinaryHeap<Reverse<InFlight>>,
}

/// A blackout interval `[start, end)`; `end` is `None` while a blackout set
/// with `set_blackout(true)` is still on.
#[derive(Clone, Copy, Debug)]
pub(super) struct Blackout {
    pub(super) start: Instant,
    pub(super) end: Option<Instant>,
}

impl Blackout {
    pub(super) fn covers(&self, t: Instant) -> bool {
        t >= self.start && self.end.is_none_or(|end| t < end)
    }
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) clock: VirtualClock,
    pub(super) rng: ChaCha8Rng,
    pub(super) default_conditioner: LinkConditioner,
    pub(super) link_conditioners: FastMap<(SocketAddr, SocketAddr), LinkConditioner>,
    /// Gilbert–Elliott state per directed link: `true` while in the bad state.
    pub(super) burst_bad: FastMap<(SocketAddr, SocketAddr), bool>,
    /// Bottleneck per directed link, keyed by the destination as addressed.
    /// It belongs to the link, not to a conditioner: each sender→receiver
    /// pair has its own under the default conditioner too, and datagrams
    /// already in it stay put when the conditioner changes. Removed once
    /// empty, so only links with datagrams in flight cost memory.
    pub(super) bottlenecks: FastMap<(SocketAddr, SocketAddr), Bottleneck>,
    /// Blackout intervals that may still matter: open ones, and closed ones a
    /// queued datagram's delivery time could still fall into.
    pub(super) blackouts: Vec<Blackout>,
    pub(super) down: FastSet<SocketAddr>,
    pub(super) endpoints: FastMap<SocketAddr, Endpoint>,
    pub(super) next_endpoint_id: u64,
    pub(super) next_seq: u64,
    pub(super) max_in_flight: usize,
    pub(super) stats: SimStats,
    pub(super) bytes_between: FastMap<(SocketAddr, SocketAddr), u64>,
    pub(super) bytes_sent_by: FastMap<SocketAddr, u64>,
    pub(super) bytes_received_by: FastMap<SocketAddr, u64>,
}

/// Draws `true` with probability `p`, clamped to `0..=1` (NaN is 0). Never
/// panics, unlike `Rng::gen_bool` on out-of-range input.
pub(super) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    if p.is_nan() || p <= 0.0 {
        return false;
    }
    // `gen::<f64>()` is in `[0, 1)`, so `p >= 1` always succeeds.
    rng.gen::<f64>() < p
}

/// A uniform duration in `0..=max`; a zero `max` consumes no randomness.
pub(super) fn uniform_up_to(rng: &mut ChaCha8Rng, max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.gen_range(0..=nanos))
}

/// `addr` with its IP replaced by the unspecified address of the same family,
/// for matching sockets bound to `0.0.0.0` / `[::]`.
pub(super) fn wildcard_of(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, addr.port())
}

impl Inner {
    pub(super) fn blackout_at(&self, t: Instant) -> bool {
        self.blackouts.iter().any(|b| b.covers(t))
    }

    /// The bound address a datagram to `to` lands on: an exact match, else a
    /// socket bound to the wildcard address on that port.
    pub(super) fn resolve(&self, to: SocketAddr) -> Option<SocketAddr> {
        if self.endpoints.contains_key(&to) {
            return Some(to);
        }
        let wildcard = wildcard_of(to);
        self.endpoints.contains_key(&wildcard).then_some(wildcard)
    }

    pub(super) fn next_delivery_time(&self) -> Option<Instant> {
        self.endpoints
            .values()
            .filter_map(|e| e.queue.peek().map(|Reverse(d)| d.deliver_at))
            .min()
    }

    /// Forgets closed blackouts no queued or future datagram can fall into:
    /// those that ended before both now and the earliest queued delivery.
    pub(super) fn prune_blackouts(&mut self) {
        let now = self.clock.now();
        let horizon = self.next_delivery_time().map_or(now, |t| t.min(now));
        self.blackouts
            .retain(|b| b.end.is_none_or(|end| end > horizon));
    }

    /// Steps the Gilbert–Elliott chain of a link and says whether it loses
    /// this datagram.
    pub(super) fn burst_loses(&mut self, link: (SocketAddr, SocketAddr), burst: BurstLoss) -> bool {
        let was_bad = self.burst_bad.get(&link).copied().unwrap_or(false);
        let bad = if was_bad {
            !chance(&mut self.rng, burst.p_leave_bad)
        } else {
            chance(&mut self.rng, burst.p_enter_bad)
        };
        self.burst_bad.insert(link, bad);
        bad && chance(&mut self.rng, burst.loss_in_bad)
    }

    /// Passes a datagram of `len` bytes through the bottleneck of `link` if
    /// `cond` limits its capacity. Returns how long until it has fully left
    /// (zero without a capacity limit), or `None` if it was dropped and
    /// counted.
    pub(super) fn through_bottleneck(
        &mut self,
        link: (SocketAddr, SocketAddr),
        len: u64,
        cond: &LinkConditioner,
    ) -> Option<Duration> {
        let now = self.clock.now();
        let (Some(bandwidth), Some(limit)) = (cond.bandwidth, cond.effective_queue_limit()) else {
            // No capacity limit now: the datagram skips the bottleneck, and
            // whatever an earlier conditioner left in it drains on its own.
            if let Some(bottleneck) = self.bottlenecks.get_mut(&link) {
                bottleneck.prune(now);
                if bottleneck.is_empty() {
                    self.bottlenecks.remove(&link);
                }
            }
            return Some(Duration::ZERO);
        };
        let bottleneck = self.bottlenecks.entry(link).or_default();
        let admission = bottleneck.admit(now, len, bandwidth, limit);
        if bottleneck.is_empty() {
            self.bottlenecks.remove(&link);
        }
        match admission {
            Admission::Departs(after) => Some(after),
            Admission::Overflow => {
                self.stats.dropped_queue_overflow += 1;
                None
            }
            Admission::Unrepresentable => {
                // Like any other delay past the end of representable time.
                self.stats.dropped_loss += 1;
                None
            }
        }
    }

    /// Queues one copy for `dest`, or counts it dropped if the queue is full
    /// or the delay cannot be represented.
    pub(super) fn enqueue(
        &mut self,
        dest: SocketAddr,
        from: SocketAddr,
        data: Bytes,
        delay: Duration,
    ) {
        let Some(deliver_at) = self.clock.now().checked_add(delay) else {
            // A delay past the end of representable time never arrives.
            self.stats.dropped_loss += 1;
            return;
        };
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let max_in_flight = self.max_in_flight;
        let Some(endpoint) = self.endpoints.get_mut(&dest) else {
            self.stats.dropped_no_receiver += 1;
            return;
        };
        if endpoint.queue.len() >= max_in_flight {
            self.stats.dropped_queue_full += 1;
            return;
        }
        endpoint.queue.push(Reverse(InFlight {
            deliver_at,
            seq,
            from,
            data,
        }));
    }

    pub(super) fn send(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let len = data.len() as u64;
        self.stats.sent += 1;
        self.stats.bytes_sent += len;
        *self.bytes_between.entry((from, to)).or_insert(0) += len;
        *self.bytes_sent_by.entry(from).or_insert(0) += len;

        let now = self.clock.now();
        if self.blackout_at(now) {
            self.stats.dropped_blackout += 1;
            return;
        }
        if self.down.contains(&from) || self.down.contains(&to) {
            self.stats.dropped_down += 1;
            return;
        }
        // Cloned so the RNG and the maps can be borrowed mutably below; a
        // conditioner is a few words.
        let cond = self
            .link_conditioners
            .get(&(from, to))
            .unwrap_or(&self.default_conditioner)
            .clone();
        if cond.mtu.is_some_and(|mtu| data.len() > mtu) {
            self.stats.dropped_mtu += 1;
            return;
        }
        // The bottleneck comes before loss: a datagram lost further along the
        // path still took its share of the link's capacity.
        let Some(serialized) = self.through_bottleneck((from, to), len, &cond) else {
            return;
        };
        // Loss is decided before the receiver is looked up, so the share of
        // datagrams lost does not depend on whether anyone is listening.
        let burst_lost = match cond.burst_loss {
            Some(burst) => self.burst_loses((from, to), burst),
            None => false,
        };
        if burst_lost || chance(&mut self.rng, cond.loss) {
            self.stats.dropped_loss += 1;
            return;
        }
        let Some(dest) = self.resolve(to) else {
            self.stats.dropped_no_receiver += 1;
            return;
        };

        // Latency, jitter and reordering start once the datagram has left
        // the bottleneck; a duplicate is made after it, so it costs no
        // capacity and shares the original's departure.
        let after_bottleneck = serialized.saturating_add(cond.latency);
        let mut delay = after_bottleneck.saturating_add(uniform_up_to(&mut self.rng, cond.jitter));
        if chance(&mut self.rng, cond.reorder) {
            delay = delay.saturating_add(cond.reorder_delay);
        }
        let duplicate_delay = chance(&mut self.rng, cond.duplicate)
            .then(|| after_bottleneck.saturating_add(uniform_up_to(&mut self.rng, cond.jitter)));

        let data = damage::apply(&mut self.rng, &cond, data, &mut self.stats);
        if let Some(dup_delay) = duplicate_delay {
            self.stats.duplicated += 1;
            self.enqueue(dest, from, data.clone(), dup_delay);
        }
        self.enqueue(dest, from, data, delay);
    }

    pub(super) fn recv(&mut self, at: SocketAddr, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let now = self.clock.now();
        loop {
            let endpoint = self.endpoints.get_mut(&at)?;
            match endpoint.queue.peek() {
                Some(Reverse(d)) if d.deliver_at <= now => {}
                _ => return None,
            }
            let Reverse(datagram) = endpoint.queue.pop()?;
            // Delivery-time checks: a blackout covering the moment it would
            // arrive, or either end having vanished meanwhile, loses it.
            if self.blackout_at(datagram.deliver_at) {
                self.stats.dropped_blackout += 1;
                continue;
            }
            if self.down.contains(&datagram.from) || self.down.contains(&at) {
                self.stats.dropped_down += 1;
                continue;
            }
            let len = datagram.data.len();
            let n = len.min(buf.len());
            buf[..n].copy_from_slice(&datagram.data[..n]);
            self.stats.delivered += 1;
            self.stats.bytes_delivered += len as u64;
            *self.bytes_received_by.entry(at).or_insert(0) += len as u64;
            return Some((n, datagram.from));
        }
    }
}
