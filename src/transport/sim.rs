//! The in-memory simulated network ("sandbox") with virtual time.
//!
//! A [`SimNetwork`] owns a [`VirtualClock`], the table of bound
//! [`SimSocket`]s, one delivery queue per socket, the [`LinkConditioner`]s
//! that decide what happens to each datagram, and the counters tests assert
//! on. Nothing here sleeps or spawns: a datagram sent now becomes receivable
//! once the virtual clock reaches its delivery time, and the test (or a
//! driver using [`SimNetwork::next_delivery_time`]) moves the clock.
//!
//! A conditioner with a bandwidth gives each directed link (sender address,
//! destination address) a bottleneck: datagrams are serialized through it one
//! after another at that rate, behind a drop-tail queue measured in bytes, and
//! only then get their latency and jitter. [`SimNetwork::queued_bytes`] and
//! [`SimNetwork::queue_delay`] show how full a bottleneck is, so tests of
//! bandwidth and congestion control can check that queues stay bounded.
//!
//! Every random decision comes from one `ChaCha8Rng` seeded at construction,
//! so the same seed and the same sequence of sends and clock moves give the
//! same losses, delays and delivery order on every run and platform.

mod capacity;
mod damage;
mod engine;
mod socket;

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use self::capacity::{Admission, Bottleneck};
use self::engine::{Blackout, Endpoint, Inner};
pub use self::socket::SimSocket;
use super::Socket;
use crate::clock::VirtualClock;

/// The network's tables by address, read several times per datagram. The
/// simulation runs in-process, its addresses made up by the program, so no
/// sender can craft colliding keys; the fast hasher is seeded anyway.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// First port handed out when a socket binds port 0, like an OS ephemeral
/// range; far from the well-known ports tests tend to bind explicitly.
const EPHEMERAL_START: u16 = 40_000;

/// Default bound on datagrams queued per destination, so a test that sends
/// without ever receiving cannot grow memory without limit.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 65_536;

/// The queue limit of a capacity-limited link without an explicit
/// [`LinkConditioner::queue_limit`], as a delay: the bytes the link sends in
/// this long. A delay rather than a fixed size keeps the worst queueing delay
/// the same whatever the bandwidth, and the limit follows a bandwidth change.
pub const DEFAULT_QUEUE_DELAY: Duration = Duration::from_millis(50);

/// Gilbert–Elliott burst loss: the link flips between a good state (no burst
/// loss) and a bad state (loses with `loss_in_bad`), so losses cluster the way
/// they do on congested or wireless links.
///
/// The state is kept per direction of each link and steps once per datagram
/// sent on it. Probabilities outside `0..=1` are clamped; NaN counts as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BurstLoss {
    /// Probability, per datagram, of moving from the good to the bad state.
    pub p_enter_bad: f64,
    /// Probability, per datagram, of moving from the bad back to the good state.
    pub p_leave_bad: f64,
    /// Probability a datagram is lost while the link is in the bad state.
    pub loss_in_bad: f64,
}

/// What a link does to the datagrams crossing it. `Default` is a perfect
/// link: no loss, no delay, no duplication, no reordering, no size limit, no
/// capacity limit.
///
/// A datagram goes through, in order: the MTU check, the bottleneck (only
/// with a `bandwidth`), loss, then latency, jitter and reordering on top of
/// the time it left the bottleneck. So datagrams lost on the way still used
/// the link's capacity, as on a real path whose losses happen after the
/// bottleneck.
///
/// Probabilities outside `0..=1` are clamped and NaN counts as 0, and the
/// capacity settings accept any value, so no setting can make a send panic.
///
/// ```
/// use std::time::Duration;
///
/// use lentil::{LinkConditioner, SimNetwork};
///
/// // A mobile link: 3 % loss, 40 ms one way plus up to 10 ms of jitter,
/// // 1 MB/s of capacity.
/// let mobile = LinkConditioner::new()
///     .loss(0.03)
///     .latency(Duration::from_millis(40))
///     .jitter(Duration::from_millis(10))
///     .bandwidth(1_000_000);
/// let net = SimNetwork::new(3);
/// net.set_conditioner(mobile); // every link, both directions
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkConditioner {
    /// Probability each datagram is dropped, independently of the others.
    pub loss: f64,
    /// Correlated (bursty) loss on top of `loss`.
    pub burst_loss: Option<BurstLoss>,
    /// One-way delay every datagram gets.
    pub latency: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per datagram. Jitter
    /// larger than the gap between sends reorders datagrams by itself.
    pub jitter: Duration,
    /// Probability a datagram is delivered twice; the copy draws its own jitter.
    pub duplicate: f64,
    /// Probability a datagram is held back by an extra `reorder_delay`, so
    /// later datagrams overtake it.
    pub reorder: f64,
    /// The extra delay of a datagram picked for reordering.
    pub reorder_delay: Duration,
    /// Datagrams longer than this many bytes are dropped, as a path MTU
    /// without fragmentation would.
    pub mtu: Option<usize>,
    /// Link capacity in payload bytes per second (no header overhead is
    /// added). `None` is unlimited. Each datagram is serialized after the
    /// ones before it on the same directed link: it leaves the bottleneck at
    /// `max(now, link free) + len / bandwidth`, rounded up to the nanosecond,
    /// and then gets the latency and jitter. `Some(0)` counts as 1 byte/s,
    /// the slowest link there is, rather than as no limit.
    pub bandwidth: Option<u64>,
    /// Size in bytes of the bottleneck's drop-tail queue; only matters with a
    /// `bandwidth`. `None` means 50 ms worth of bytes at
    /// the current bandwidth. The datagram being serialized counts until its
    /// last byte has left. A datagram that would take the queue past the
    /// limit is dropped and counted in [`SimStats::dropped_queue_overflow`],
    /// except one that finds the link idle: it goes straight onto the wire,
    /// so a limit smaller than a datagram means "no queueing", not "nothing
    /// passes".
    pub queue_limit: Option<u64>,
    /// Probability a datagram arrives with bits flipped (`damage.rs`).
    pub corrupt: f64,
    /// Probability a datagram arrives cut short (`damage.rs`).
    pub truncate: f64,
}

impl LinkConditioner {
    /// A perfect link; chain the builder methods to degrade it.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the independent loss probability.
    #[must_use]
    pub fn loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }

    /// Sets Gilbert–Elliott burst loss.
    #[must_use]
    pub fn burst_loss(mut self, burst: BurstLoss) -> Self {
        self.burst_loss = Some(burst);
        self
    }

    /// Sets the one-way latency.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the maximum extra uniform delay.
    #[must_use]
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the duplication probability.
    #[must_use]
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Holds back a fraction `p` of datagrams by an extra `delay`.
    #[must_use]
    pub fn reorder(mut self, p: f64, delay: Duration) -> Self {
        self.reorder = p;
        self.reorder_delay = delay;
        self
    }

    /// Drops datagrams longer than `mtu` bytes.
    #[must_use]
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Limits the link to `bytes_per_sec` payload bytes per second. Zero is
    /// clamped to 1 byte/s, since a link that carries nothing is a blackout,
    /// which [`SimNetwork::set_blackout`] models directly.
    #[must_use]
    pub fn bandwidth(mut self, bytes_per_sec: u64) -> Self {
        self.bandwidth = Some(bytes_per_sec.max(1));
        self
    }

    /// Sets the bottleneck's queue limit in bytes, replacing the default of
    /// 50 ms worth of bytes.
    #[must_use]
    pub fn queue_limit(mut self, bytes: u64) -> Self {
        self.queue_limit = Some(bytes);
        self
    }

    /// The queue limit in force in bytes: the explicit one, else
    /// 50 ms worth at the bandwidth. `None` when the link
    /// has no capacity limit.
    pub fn effective_queue_limit(&self) -> Option<u64> {
        let bandwidth = self.bandwidth?.max(1);
        Some(
            self.queue_limit
                .unwrap_or_else(|| capacity::bytes_in(DEFAULT_QUEUE_DELAY, bandwidth)),
        )
    }
}

/// Counters over the whole network since it was made.
///
/// Every sent datagram ends up in exactly one of: delivered, one of the
/// `dropped_*` counters, or still in flight. Duplicated copies count in
/// `duplicated` when made and then like any other datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Datagrams handed to `send_to`.
    pub sent: u64,
    /// Datagrams (including duplicate copies) returned by `recv_from`.
    pub delivered: u64,
    /// Dropped by independent or burst loss (or a delay too large to represent).
    pub dropped_loss: u64,
    /// Dropped because a blackout was on when sent or when due for delivery.
    pub dropped_blackout: u64,
    /// Dropped for being longer than the link's MTU.
    pub dropped_mtu: u64,
    /// Dropped because nothing was bound at the destination when sent, or the
    /// destination unbound while they were in flight.
    pub dropped_no_receiver: u64,
    /// Dropped because the sender or the destination was marked down.
    pub dropped_down: u64,
    /// Dropped because the destination already had `max_in_flight` queued.
    pub dropped_queue_full: u64,
    /// Dropped at the tail of a capacity-limited link's bottleneck queue,
    /// before the link: the sender offered more than the link carries.
    pub dropped_queue_overflow: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Bytes handed to `send_to`, whatever became of them.
    pub bytes_sent: u64,
    /// Bytes returned by `recv_from` (before truncation to the caller's buffer).
    pub bytes_delivered: u64,
    /// Delivered with bits flipped by the conditioner's `corrupt`.
    pub corrupted: u64,
    /// Delivered cut short by the conditioner's `truncate`.
    pub truncated: u64,
}

/// An in-memory network of [`SimSocket`]s sharing one virtual clock and one
/// seeded random source. Cloning is cheap and yields a handle to the same
/// network.
///
/// `Server::sandbox` and `Client::sandbox` put endpoints on it (see the
/// crate's first example); its sockets can also be driven directly. Time
/// passes only when the clock is advanced, so a run is deterministic for a
/// given seed:
///
/// ```
/// use std::time::Duration;
///
/// use lentil::{LinkConditioner, SimNetwork, Socket};
///
/// let net = SimNetwork::new(7);
/// net.set_conditioner(LinkConditioner::new().latency(Duration::from_millis(20)));
/// let mut a = net.bind("127.0.0.1:1000".parse().unwrap())?;
/// let mut b = net.bind("127.0.0.1:2000".parse().unwrap())?;
/// a.send_to(b"ping", b.local_addr())?;
///
/// let mut buf = [0u8; 64];
/// assert_eq!(b.recv_from(&mut buf)?, None, "still on the way");
/// net.clock().advance(Duration::from_millis(20));
/// assert_eq!(b.recv_from(&mut buf)?, Some((4, a.local_addr())));
/// assert_eq!(&buf[..4], b"ping");
/// assert_eq!(net.stats().delivered, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct SimNetwork {
    inner: Arc<Mutex<Inner>>,
}

impl fmt::Debug for SimNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("SimNetwork")
            .field("elapsed", &inner.clock.elapsed())
            .field("sockets", &inner.endpoints.len())
            .field("stats", &inner.stats)
            .finish_non_exhaustive()
    }
}

impl SimNetwork {
    /// A network with a perfect link everywhere, a fresh [`VirtualClock`] and
    /// all randomness drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with_clock(seed, VirtualClock::new())
    }

    /// Like [`SimNetwork::new`] but on an existing clock, e.g. one shared
    /// with other simulated components.
    pub fn with_clock(seed: u64, clock: VirtualClock) -> Self {
        SimNetwork {
            inner: Arc::new(Mutex::new(Inner {
                clock,
                rng: ChaCha8Rng::seed_from_u64(seed),
                default_conditioner: LinkConditioner::default(),
                link_conditioners: FastMap::default(),
                burst_bad: FastMap::default(),
                bottlenecks: FastMap::default(),
                blackouts: Vec::new(),
                down: FastSet::default(),
                endpoints: FastMap::default(),
                next_endpoint_id: 0,
                next_seq: 0,
                max_in_flight: DEFAULT_MAX_IN_FLIGHT,
                stats: SimStats::default(),
                bytes_between: FastMap::default(),
                bytes_sent_by: FastMap::default(),
                bytes_received_by: FastMap::default(),
            })),
        }
    }

    /// The network's virtual clock; advance it to let datagrams arrive.
    pub fn clock(&self) -> VirtualClock {
        self.inner.lock().clock.clone()
    }

    /// Binds a socket at `addr`. Port 0 assigns the first free port from
    /// 40000 upwards on that IP. Fails with `AddrInUse` if `addr` is taken,
    /// or `AddrNotAvailable` if no ephemeral port is left.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<SimSocket> {
        let mut inner = self.inner.lock();
        let addr = if addr.port() == 0 {
            (EPHEMERAL_START..=u16::MAX)
                .map(|port| SocketAddr::new(addr.ip(), port))
                .find(|a| !inner.endpoints.contains_key(a))
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::AddrNotAvailable,
                        "no free ephemeral port on the simulated network",
                    )
                })?
        } else if inner.endpoints.contains_key(&addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr} is already bound on the simulated network"),
            ));
        } else {
            addr
        };
        let id = inner.next_endpoint_id;
        inner.next_endpoint_id = inner.next_endpoint_id.wrapping_add(1);
        inner.endpoints.insert(
            addr,
            Endpoint {
                id,
                queue: BinaryHeap::new(),
            },
        );
        Ok(SimSocket {
            network: self.clone(),
            addr,
            id,
        })
    }

    /// Sets the conditioner of every link without a per-link override.
    pub fn set_conditioner(&self, conditioner: LinkConditioner) {
        self.inner.lock().default_conditioner = conditioner;
    }

    /// Overrides the conditioner of the one direction `from` → `to`.
    pub fn set_link_conditioner(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        conditioner: LinkConditioner,
    ) {
        self.inner
            .lock()
            .link_conditioners
            .insert((from, to), conditioner);
    }

    /// Removes the override of `from` → `to`, returning it to the default.
    pub fn clear_link_conditioner(&self, from: SocketAddr, to: SocketAddr) {
        self.inner.lock().link_conditioners.remove(&(from, to));
    }

    /// Turns a network-wide blackout on or off. While on, every datagram sent
    /// is dropped, and so is every in-flight datagram whose delivery time
    /// falls inside the blackout.
    pub fn set_blackout(&self, on: bool) {
        let mut inner = self.inner.lock();
        let now = inner.clock.now();
        let open = inner.blackouts.iter().position(|b| b.end.is_none());
        match (on, open) {
            (true, None) => inner.blackouts.push(Blackout {
                start: now,
                end: None,
            }),
            (false, Some(i)) => inner.blackouts[i].end = Some(now),
            // Already in the requested state.
            _ => {}
        }
        inner.prune_blackouts();
    }

    /// A blackout from now until `now + duration` in virtual time, with the
    /// same effect as [`SimNetwork::set_blackout`] during that interval.
    pub fn blackout_for(&self, duration: Duration) {
        let mut inner = self.inner.lock();
        let now = inner.clock.now();
        // An end beyond representable time is a blackout that never ends.
        let end = now.checked_add(duration);
        inner.blackouts.push(Blackout { start: now, end });
        inner.prune_blackouts();
    }

    /// Whether a blackout covers the current virtual time.
    pub fn is_blackout(&self) -> bool {
        let inner = self.inner.lock();
        inner.blackout_at(inner.clock.now())
    }

    /// Marks `addr` as down (or back up): datagrams from or to it are dropped,
    /// when sent and when due for delivery, as if the host vanished without
    /// closing anything. Its socket stays bound.
    pub fn set_address_down(&self, addr: SocketAddr, down: bool) {
        let mut inner = self.inner.lock();
        if down {
            inner.down.insert(addr);
        } else {
            inner.down.remove(&addr);
        }
    }

    /// Caps datagrams queued per destination (default
    /// 65,536); datagrams beyond it are dropped and counted.
    /// Datagrams already queued are kept.
    pub fn set_max_in_flight(&self, max: usize) {
        self.inner.lock().max_in_flight = max;
    }

    /// The earliest delivery time of any queued datagram, so a driver can
    /// jump the clock straight to it. `None` when nothing is in flight.
    pub fn next_delivery_time(&self) -> Option<Instant> {
        self.inner.lock().next_delivery_time()
    }

    /// Advances the clock to the next delivery time, if any, and returns it.
    /// A delivery time already in the past leaves the clock where it is.
    pub fn advance_to_next_delivery(&self) -> Option<Instant> {
        let inner = self.inner.lock();
        let next = inner.next_delivery_time()?;
        inner.clock.advance_to(next);
        Some(next)
    }

    /// Datagrams queued across all destinations, duplicates included.
    pub fn in_flight(&self) -> usize {
        self.inner
            .lock()
            .endpoints
            .values()
            .map(|e| e.queue.len())
            .sum()
    }

    /// Bytes in the bottleneck of the directed link `from` → `to` (the
    /// destination as addressed) at the current virtual time: datagrams
    /// accepted by a capacity-limited link whose last byte has not left yet.
    /// Never more than the link's queue limit, or one datagram's length if
    /// that is larger. Zero for a link that never had a capacity limit.
    pub fn queued_bytes(&self, from: SocketAddr, to: SocketAddr) -> u64 {
        let inner = self.inner.lock();
        let now = inner.clock.now();
        inner
            .bottlenecks
            .get(&(from, to))
            .map_or(0, |b| b.queued_bytes(now))
    }

    /// How long the bottleneck of `from` → `to` needs to send everything in
    /// it: the queueing delay a datagram sent now on that capacity-limited
    /// link waits before its first byte goes out, not counting its own
    /// serialization time, latency or jitter. Zero when the bottleneck is
    /// idle or the link never had a capacity limit.
    pub fn queue_delay(&self, from: SocketAddr, to: SocketAddr) -> Duration {
        let inner = self.inner.lock();
        let now = inner.clock.now();
        inner
            .bottlenecks
            .get(&(from, to))
            .map_or(Duration::ZERO, |b| b.delay(now))
    }

    /// A snapshot of the network's counters.
    pub fn stats(&self) -> SimStats {
        self.inner.lock().stats
    }

    /// Bytes handed to `send_to` by the socket at `addr`, whatever became of them.
    pub fn bytes_sent_by(&self, addr: SocketAddr) -> u64 {
        self.inner
            .lock()
            .bytes_sent_by
            .get(&addr)
            .copied()
            .unwrap_or(0)
    }

    /// Bytes the socket at `addr` received through `recv_from` (full datagram
    /// lengths, before truncation to the caller's buffer).
    pub fn bytes_received_by(&self, addr: SocketAddr) -> u64 {
        self.inner
            .lock()
            .bytes_received_by
            .get(&addr)
            .copied()
            .unwrap_or(0)
    }

    /// Bytes sent from `from` addressed to `to`, whatever became of them:
    /// what an amplification check compares against `bytes_between(to, from)`.
    pub fn bytes_between(&self, from: SocketAddr, to: SocketAddr) -> u64 {
        self.inner
            .lock()
            .bytes_between
            .get(&(from, to))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Drains everything receivable now into `(payload, from)` pairs.
    fn drain(socket: &mut SimSocket) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(Some((len, from))) = socket.recv_from(&mut buf) {
            out.push((buf[..len].to_vec(), from));
        }
        out
    }

    /// Sends `count` numbered datagrams a→b, one per millisecond, then runs
    /// the clock until everything has arrived; returns the received numbers.
    fn run_numbered(net: &SimNetwork, count: u32) -> Vec<u32> {
        let mut a = net.bind(addr("10.0.0.1:1000")).expect("bind a");
        let mut b = net.bind(addr("10.0.0.2:2000")).expect("bind b");
        let clock = net.clock();
        let mut got = Vec::new();
        let mut collect = |b: &mut SimSocket| {
            for (payload, _) in drain(b) {
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
    fn perfect_link_delivers_in_order_after_latency() {
        let net = SimNetwork::new(1);
        net.set_conditioner(LinkConditioner::new().latency(ms(50)));
        let mut a = net.bind(addr("10.0.0.1:1000")).expect("bind a");
        let mut b = net.bind(addr("10.0.0.2:2000")).expect("bind b");
        for i in 0..5u8 {
            a.send_to(&[i], b.local_addr()).expect("send");
        }
        let clock = net.clock();
        clock.advance(ms(49));
        assert!(
            drain(&mut b).is_empty(),
            "visible before the latency passed"
        );
        assert_eq!(net.next_delivery_time(), Some(clock.now() + ms(1)));
        clock.advance(ms(1));
        let got = drain(&mut b);
        let payloads: Vec<u8> = got.iter().map(|(p, _)| p[0]).collect();
        assert_eq!(payloads, vec![0, 1, 2, 3, 4]);
        assert!(got.iter().all(|(_, from)| *from == a.local_addr()));
        assert_eq!(net.next_delivery_time(), None);
        let stats = net.stats();
        assert_eq!(stats.sent, 5);
        assert_eq!(stats.delivered, 5);
        assert_eq!(stats.bytes_sent, 5);
    }

    #[test]
    fn loss_one_drops_everything() {
        let net = SimNetwork::new(2);
        net.set_conditioner(LinkConditioner::new().loss(1.0));
        assert!(run_numbered(&net, 100).is_empty());
        assert_eq!(net.stats().dropped_loss, 100);
    }

    #[test]
    fn loss_fraction_is_close_to_configured() {
        let net = SimNetwork::new(3);
        net.set_conditioner(LinkConditioner::new().loss(0.2));
        let got = run_numbered(&net, 10_000).len();
        let lost = 10_000 - got;
        assert!((1_500..=2_500).contains(&lost), "lost {lost}");
        assert_eq!(net.stats().dropped_loss, lost as u64);
    }

    #[test]
    fn out_of_range_probabilities_do_not_panic() {
        let net = SimNetwork::new(4);
        net.set_conditioner(LinkConditioner {
            loss: f64::NAN,
            duplicate: -3.0,
            reorder: 7.0,
            reorder_delay: Duration::MAX,
            jitter: Duration::MAX,
            burst_loss: Some(BurstLoss {
                p_enter_bad: f64::INFINITY,
                p_leave_bad: f64::NAN,
                loss_in_bad: -1.0,
            }),
            ..LinkConditioner::default()
        });
        let mut a = net.bind(addr("10.0.0.1:1000")).expect("bind a");
        let mut b = net.bind(addr("10.0.0.2:2000")).expect("bind b");
        for i in 0..10u8 {
            a.send_to(&[i], b.local_addr()).expect("send");
        }
        net.clock().advance(ms(10));
        let got = drain(&mut b);
        // Delays are unrepresentable or centuries long: nothing arrives soon,
        // nothing panics, and every datagram is accounted for.
        let stats = net.stats();
        assert_eq!(
            stats.delivered + stats.dropped_loss + net.in_flight() as u64,
            10 + stats.duplicated
        );
        assert_eq!(got.len() as u64, stats.delivered);
    }

    #[test]
    fn burst_loss_clusters_losses() {
        let net = SimNetwork::new(5);
        net.set_conditioner(LinkConditioner::new().burst_loss(BurstLoss {
            p_enter_bad: 0.01,
            p_leave_bad: 0.1,
            loss_in_bad: 1.0,
        }));
        let got = run_numbered(&net, 10_000);
        let lost = 10_000 - got.len();
        // Stationary bad share is 0.01 / (0.01 + 0.1) ≈ 9%.
        assert!((400..=1_500).contains(&lost), "lost {lost}");
        // Mean burst length is 1 / p_leave_bad = 10: far fewer gaps than losses.
        let gaps = got.windows(2).filter(|w| w[1] != w[0] + 1).count();
        assert!(gaps * 3 < lost, "{gaps} gaps for {lost} losses");
    }

    #[test]
    fn duplicate_delivers_two_copies() {
        let net = SimNetwork::new(6);
        net.set_conditioner(LinkConditioner::new().duplicate(1.0));
        let got = run_numbered(&net, 3);
        assert_eq!(got, vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(net.stats().duplicated, 3);
        assert_eq!(net.stats().delivered, 6);
    }

    #[test]
    fn reorder_reorders_some() {
        let net = SimNetwork::new(7);
        net.set_conditioner(LinkConditioner::new().latency(ms(10)).reorder(0.1, ms(20)));
        let got = run_numbered(&net, 1_000);
        assert_eq!(got.len(), 1_000, "reordering loses nothing");
        let inversions = got.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(inversions > 10, "only {inversions} inversions");
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1_000).collect::<Vec<_>>());
    }

    #[test]
    fn mtu_drops_big_datagrams() {
        let net = SimNetwork::new(8);
        net.set_conditioner(LinkConditioner::new().mtu(100));
        let mut a = net.bind(addr("10.0.0.1:1000")).expect("bind a");
        let mut b = net.bind(addr("10.0.0.2:2000")).expect("bind b");
        a.send_to(&[1; 100], b.local_addr()).expect("send small");
        a.send_to(&[2; 101], b.local_addr()).expect("send big");
        let got = drain(&mut b);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.len(), 100);
        assert_eq!(net.stats().dropped_mtu, 1);
    }

    #[test]
    fn blackout_for_drops_during_and_not_after() {
        let net = SimNetwork::new(9);
        net.set_conditioner(LinkConditioner::new().latency(ms(10)));
        let mut a = net.bind(addr("10.0.0.1:1000")).expect("bind a");
        let mut b = net.bind(addr("10.0.0.2:2000")).expect("bind b");
        let clock = net.clock();
        // In flight when the blackout starts, due inside it: lost.
        a.send_to(b"early", b.local_addr()).expect("send");
        clock.advance(ms(5));
        net.blackout_for(ms(100));
        assert!(net.is_blackout());
        a.send_to(b"during", b.local_addr()).expect("send");
        clock.advance(ms(50));
        assert!(drain(&mut b).is_empty());
        clock.advance(ms(50));
        assert!(!net.is_blackout());
        a.send_to(b"after", b.local_addr()).expect("send");
        clock.advance(ms(10));
        let got = drain(&mut b);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, b"after");
        assert_eq!(net.stats().dropped_blackout, 2);
    }

    #[test]
    fn set_blackout_toggles() {
        let net = SimNetwork::new(10);
        let mut a = net.bind(addr("10.0.0.1:1000")).expect("bind a");
        let mut b = net.bind(addr("10.0.0.2:2000")).expect("bind b");
        net.set_blackout(true);
        a.send_to(b"x", b.local_addr()).expect("send");
        assert!(drain(&mut b).is_empty());
        net.set_blackout(false);
        a.send_to(b"y", b.local_addr()).expect("send");
        assert_eq!(drain(&mut b).len(), 1);
        assert_eq!(net.stats().dropped_blackout, 1);
    }

    #[test]
    fn address_down_drops_both_directions() {
        let net = SimNetwork::new(11);
        let mut a = net.bind(addr("10.0.0.1:1000")).expect("bind a");
        let mut b = net.bind(addr("10.0.0.2:2000")).expect("bind b");
        net.set_address_down(b.local_addr(), true);
        a.send_to(b"to b", b.local_addr()).expect("send");
        b.send_to(b"to a", a.local_addr()).expect("send");
        assert!(drain(&mut a).is_empty());
        assert!(drain(&mut b).is_empty());
        net.set_address_down(b.local_addr(), false);
        a.send_to(b"to b", b.local_addr()).expect("send");
        assert_eq!(drain(&mut b).len(), 1);
        assert_eq!(net.stats().dropped_down, 2);
    }

    #[test]
    fn same_seed_same_outcome() {
        let run = |seed| {
            let net = SimNetwork::new(seed);
            net.set_conditioner(
                LinkConditioner::new()
                    .loss(0.1)
                    .latency(ms(20))
                    .jitter(ms(15))
                    .duplicate(0.05)
                    .reorder(0.05, ms(30)),
            );
            (run_numbered(&net, 2_000), net.stats())
        };
        let first = run(42);
        assert_eq!(first, run(42));
        assert_ne!(first.0, run(43).0);
    }

    #[test]
    fn port_zero_assigns_distinct_ports() {
        let net = SimNetwork::new(12);
        let a = net.bind(addr("10.0.0.1:0")).expect("bind a");
        let b = net.bind(addr("10.0.0.1:0")).expect("bind b");
        assert_eq!(a.local_addr().port(), EPHEMERAL_START);
        assert_ne!(a.local_addr(), b.local_addr());
        assert_eq!(a.local_addr().ip(), b.local_addr().ip());
    }

    #[test]
    fn bind_twice_is_addr_in_use() {
        let net = SimNetwork::new(13);
        let _a = net.bind(addr("10.0.0.1:1000")).expect("bind");
        let err = net.bind(addr("10.0.0.1:1000")).expect_err("second bind");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn drop_unbinds() {
        let net = SimNetwork::new(14);
        let mut a = net.bind(addr("10.0.0.1:1000")).expect("bind a");
        let b = net.bind(addr("10.0.0.2:2000")).expect("bind b");
        let b_addr = b.local_addr();
        drop(b);
        a.send_to(b"gone", b_addr).expect("send");
        assert_eq!(net.stats().dropped_no_receiver, 1);
        let _b_again = net.bind(b_addr).expect("rebind after drop");
    }

    #[test]
    fn queue_is_bounded() {
        let net = SimNetwork::new(15);
        net.set_max_in_flight(3);
        net.set_conditioner(LinkConditioner::new().latency(ms(1)));
        let mut a = net.bind(addr("10.0.0.1:1000")).expect("bind a");
        let mut b = net.bind(addr("10.0.0.2:2000")).expect("bind b");
        for _ in 0..5 {
            a.send_to(b"x", b.local_addr()).expect("send");
        }
        assert_eq!(net.in_flight(), 3);
        assert_eq!(net.stats().dropped_queue_full, 2);
        net.clock().advance(ms(1));
        assert_eq!(drain(&mut b).len(), 3);
    }

    #[test]
    fn per_link_conditioner_and_byte_counts() {
        let net = SimNetwork::new(16);
        let mut a = net.bind(addr("10.0.0.1:1000")).expect("bind a");
        let mut b = net.bind(addr("10.0.0.2:2000")).expect("bind b");
        net.set_link_conditioner(
            a.local_addr(),
            b.local_addr(),
            LinkConditioner::new().loss(1.0),
        );
        a.send_to(&[0; 10], b.local_addr()).expect("send a→b");
        b.send_to(&[0; 30], a.local_addr()).expect("send b→a");
        assert!(drain(&mut b).is_empty());
        assert_eq!(drain(&mut a).len(), 1);
        assert_eq!(net.bytes_between(a.local_addr(), b.local_addr()), 10);
        assert_eq!(net.bytes_between(b.local_addr(), a.local_addr()), 30);
        assert_eq!(net.bytes_sent_by(b.local_addr()), 30);
        assert_eq!(net.bytes_received_by(a.local_addr()), 30);
        assert_eq!(net.bytes_received_by(b.local_addr()), 0);
        net.clear_link_conditioner(a.local_addr(), b.local_addr());
        a.send_to(&[0; 10], b.local_addr()).expect("send a→b");
        assert_eq!(drain(&mut b).len(), 1);
    }

    #[test]
    fn wildcard_bind_receives_and_truncates() {
        let net = SimNetwork::new(17);
        let mut server = net.bind(addr("0.0.0.0:5000")).expect("bind server");
        let mut client = net.bind(addr("10.0.0.2:0")).expect("bind client");
        client
            .send_to(&[9; 20], addr("10.0.0.1:5000"))
            .expect("send");
        let mut buf = [0u8; 8];
        let (len, from) = server
            .recv_from(&mut buf)
            .expect("recv")
            .expect("a datagram");
        assert_eq!((len, from), (8, client.local_addr()));
        assert_eq!(net.bytes_received_by(server.local_addr()), 20);
    }

    #[test]
    fn sim_socket_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<SimSocket>();
        assert_send::<SimNetwork>();
    }
}
