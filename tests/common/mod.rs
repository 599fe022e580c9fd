//! Shared helpers for integration tests: the same scenario body runs on the
//! simulated network (virtual time, deterministic) or over real UDP on
//! loopback (wall clock, bounded loops).
//!
//! * [`Net`] says where endpoints live and how time moves: [`Net::tick`]
//!   advances the virtual clock by one step, or sleeps a millisecond on UDP.
//!   [`Net::run_until`] repeats a closure until it returns `true` or a
//!   deadline (virtual or wall-clock) passes, so no loop runs forever.
//! * [`Pair`] is a listening server plus one client, pumped together.
//! * [`payload`] / [`check_payload`] make self-checking message bodies that
//!   carry a tag and an index, so loss, reordering, duplication and corruption
//!   cannot hide.
//! * [`Log`] collects what handlers saw (handlers are `'static + Send`).
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lentil::{Client, Config, LinkConditioner, PeerId, Server, SimNetwork};

/// Milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Where endpoints live and how time moves.
#[derive(Clone, Debug)]
pub enum Net {
    /// A simulated network; each tick advances its virtual clock by `step`.
    Sim {
        /// The network.
        net: SimNetwork,
        /// How far one tick moves the clock.
        step: Duration,
    },
    /// Real UDP on loopback; each tick sleeps `sleep` of wall-clock time.
    Udp {
        /// When this harness was made; [`Net::now`] counts from here.
        start: Instant,
        /// How long one tick sleeps.
        sleep: Duration,
    },
}

impl Net {
    /// A simulated network seeded with `seed`, ticking 1 ms of virtual time.
    pub fn sim(seed: u64) -> Self {
        Self::sim_with_step(seed, ms(1))
    }

    /// A simulated network ticking `step` of virtual time.
    pub fn sim_with_step(seed: u64, step: Duration) -> Self {
        Net::Sim {
            net: SimNetwork::new(seed),
            step,
        }
    }

    /// Real UDP on loopback, ticking with 1 ms sleeps.
    pub fn udp() -> Self {
        Net::Udp {
            start: Instant::now(),
            sleep: ms(1),
        }
    }

    /// Whether this is the simulated network.
    pub fn is_sim(&self) -> bool {
        matches!(self, Net::Sim { .. })
    }

    /// The simulated network, if this is one.
    pub fn sim_net(&self) -> Option<&SimNetwork> {
        match self {
            Net::Sim { net, .. } => Some(net),
            Net::Udp { .. } => None,
        }
    }

    /// How long one tick is (virtual step, or wall-clock sleep).
    pub fn step(&self) -> Duration {
        match self {
            Net::Sim { step, .. } => *step,
            Net::Udp { sleep, .. } => *sleep,
        }
    }

    /// Time since this harness started: virtual on the simulated network,
    /// wall-clock on UDP.
    pub fn now(&self) -> Duration {
        match self {
            Net::Sim { net, .. } => net.clock().elapsed(),
            Net::Udp { start, .. } => start.elapsed(),
        }
    }

    /// Lets one step of time pass.
    pub fn tick(&self) {
        match self {
            Net::Sim { net, step } => net.clock().advance(*step),
            Net::Udp { sleep, .. } => std::thread::sleep(*sleep),
        }
    }

    /// Sets the default link conditioner on the simulated network; a real
    /// loopback link cannot be degraded, so on UDP this does nothing.
    pub fn set_conditioner(&self, conditioner: LinkConditioner) {
        if let Some(net) = self.sim_net() {
            net.set_conditioner(conditioner);
        }
    }

    /// A connection timeout fit for this harness: the default 10 s on the
    /// simulated network (virtual time is free), 1 s on UDP (wall time is not).
    pub fn short_timeout(&self) -> Duration {
        if self.is_sim() {
            Config::default().timeout
        } else {
            secs(1)
        }
    }

    /// `Config::default()` with [`short_timeout`](Self::short_timeout) (and a
    /// ping interval well below it).
    pub fn config(&self) -> Config {
        let timeout = self.short_timeout();
        Config {
            timeout,
            ping_interval: Config::default().ping_interval.min(timeout / 4),
            ..Config::default()
        }
    }

    /// Slack to allow on a measured time: a few ticks on the simulated
    /// network, generous scheduling slack on a real one.
    pub fn slack(&self) -> Duration {
        match self {
            Net::Sim { step, .. } => *step * 3,
            Net::Udp { .. } => ms(400),
        }
    }

    /// A server on this network, not yet listening.
    pub fn new_server(&self, config: Config) -> Server {
        match self {
            Net::Sim { net, .. } => Server::sandbox(config, net),
            Net::Udp { .. } => Server::new(config),
        }
    }

    /// A server listening on `127.0.0.1`, on a port the transport picks.
    pub fn server(&self, config: Config) -> Server {
        let mut server = self.new_server(config);
        server.listen("127.0.0.1:0").expect("listen on 127.0.0.1:0");
        server
    }

    /// A client on this network, not yet connecting.
    pub fn client(&self, config: Config) -> Client {
        match self {
            Net::Sim { net, .. } => Client::sandbox(config, net),
            Net::Udp { .. } => Client::new(config),
        }
    }

    /// Calls `f` once per tick until it returns `true` (then `true`) or
    /// `limit` of this harness's time has passed (then `false`).
    pub fn run_until(&self, limit: Duration, mut f: impl FnMut() -> bool) -> bool {
        let deadline = self.now() + limit;
        loop {
            if f() {
                return true;
            }
            if self.now() >= deadline {
                return false;
            }
            self.tick();
        }
    }

    /// Calls `f` once per tick for `duration` of this harness's time.
    pub fn run_for(&self, duration: Duration, mut f: impl FnMut()) {
        let deadline = self.now() + duration;
        while self.now() < deadline {
            f();
            self.tick();
        }
    }
}

/// A listening server and one client on the same [`Net`].
pub struct Pair {
    /// Where they live.
    pub net: Net,
    /// The server, listening.
    pub server: Server,
    /// The client.
    pub client: Client,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("server", &self.server)
            .field("client", &self.client)
            .finish()
    }
}

impl Pair {
    /// A listening server and a client that has not connected yet (so
    /// handlers can be registered first); call [`connect`](Self::connect).
    pub fn new(net: &Net, server_config: Config, client_config: Config) -> Self {
        Pair {
            net: net.clone(),
            server: net.server(server_config),
            client: net.client(client_config),
        }
    }

    /// A pair whose client is connected; panics if it does not connect
    /// within 2 s (virtual or wall-clock).
    pub fn connected(net: &Net, server_config: Config, client_config: Config) -> Self {
        let mut pair = Self::new(net, server_config, client_config);
        pair.connect();
        pair
    }

    /// The address the server listens on.
    pub fn server_addr(&self) -> SocketAddr {
        self.server.local_addr().expect("server is listening")
    }

    /// Starts the client's connect and pumps until both sides see the
    /// connection; panics after 2 s.
    pub fn connect(&mut self) {
        let addr = self.server_addr();
        self.client.connect(addr).expect("connect");
        assert!(
            self.pump_until(secs(2), |s, c| c.is_connected() && s.peer_count() >= 1),
            "client did not connect within 2 s: {:?}",
            self
        );
    }

    /// The one connected peer; panics unless exactly one is connected.
    pub fn peer(&self) -> PeerId {
        let peers = self.server.peers();
        assert_eq!(peers.len(), 1, "expected exactly one peer, got {peers:?}");
        peers[0]
    }

    /// Updates the server, then the client (one tick's work, no time passes).
    pub fn update(&mut self) {
        self.server.update();
        self.client.update();
    }

    /// Updates both each tick until `pred` holds (then `true`) or `limit`
    /// passes (then `false`). `pred` runs after the updates of each tick.
    pub fn pump_until(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&mut Server, &mut Client) -> bool,
    ) -> bool {
        let net = self.net.clone();
        net.run_until(limit, || {
            self.server.update();
            self.client.update();
            pred(&mut self.server, &mut self.client)
        })
    }

    /// Updates both each tick for `duration`.
    pub fn pump_for(&mut self, duration: Duration) {
        let net = self.net.clone();
        net.run_for(duration, || {
            self.server.update();
            self.client.update();
        });
    }
}

/// Updates `server` and every client each tick until `pred` holds or
/// `limit` passes; returns whether it held.
pub fn pump_many(
    net: &Net,
    server: &mut Server,
    clients: &mut [Client],
    limit: Duration,
    mut pred: impl FnMut(&Server, &[Client]) -> bool,
) -> bool {
    net.run_until(limit, || {
        server.update();
        for c in clients.iter_mut() {
            c.update();
        }
        pred(server, clients)
    })
}

/// A list shared between a test and the handlers it registers.
#[derive(Debug)]
pub struct Log<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Log<T> {
    fn clone(&self) -> Self {
        Log(Arc::clone(&self.0))
    }
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T: Clone> Log<T> {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `item`.
    pub fn push(&self, item: T) {
        self.0.lock().unwrap().push(item);
    }

    /// A copy of everything logged so far.
    pub fn items(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }

    /// How many items were logged.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Whether nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns everything logged so far.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Length of the tag and index at the start of every [`payload`].
pub const PAYLOAD_HEADER: usize = 5;

fn body_byte(tag: u8, index: u32, position: usize) -> u8 {
    let mixed = index
        .wrapping_mul(0x9E37_79B1)
        .rotate_left((position % 32) as u32);
    (mixed as u8) ^ (mixed >> 13) as u8 ^ (position as u8).wrapping_mul(31) ^ tag
}

/// A self-checking message body of `len` bytes (at least [`PAYLOAD_HEADER`]):
/// `tag`, `index` big-endian, then bytes derived from both and the position.
pub fn payload(tag: u8, index: u32, len: usize) -> Vec<u8> {
    assert!(
        len >= PAYLOAD_HEADER,
        "payload needs {PAYLOAD_HEADER} bytes"
    );
    let mut out = Vec::with_capacity(len);
    out.push(tag);
    out.extend_from_slice(&index.to_be_bytes());
    out.extend((PAYLOAD_HEADER..len).map(|i| body_byte(tag, index, i)));
    out
}

/// A varied payload length for message `index`, between 5 and `max` bytes.
pub fn varied_len(index: u32, max: usize) -> usize {
    let span = max.saturating_sub(PAYLOAD_HEADER).max(1);
    PAYLOAD_HEADER + (index as usize).wrapping_mul(7919) % span
}

/// Checks a body made by [`payload`] byte for byte and returns its tag and
/// index; panics (naming the index) on a corrupted or truncated body.
pub fn check_payload(bytes: &[u8]) -> (u8, u32) {
    assert!(
        bytes.len() >= PAYLOAD_HEADER,
        "payload of {} bytes is shorter than its header",
        bytes.len()
    );
    let tag = bytes[0];
    let index = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    for (i, &b) in bytes.iter().enumerate().skip(PAYLOAD_HEADER) {
        assert_eq!(
            b,
            body_byte(tag, index, i),
            "payload tag {tag} index {index} corrupted at byte {i}"
        );
    }
    (tag, index)
}

/// Runs `f(seed)` for every seed on up to 8 threads (each seed is its own
/// deterministic world); returns the results in seed order.
pub fn run_seeds<R: Send>(
    seeds: impl IntoIterator<Item = u64>,
    f: impl Fn(u64) -> R + Sync,
) -> Vec<R> {
    let seeds: Vec<u64> = seeds.into_iter().collect();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let r = f(seed);
                results.lock().expect("results lock").push((seed, r));
            });
        }
    });
    let mut results = results.into_inner().expect("results lock");
    results.sort_by_key(|(seed, _)| *seed);
    results.into_iter().map(|(_, r)| r).collect()
}
