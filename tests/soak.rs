//! Seeded soak on the simulated network, in virtual time.
//!
//! Per seed: one server and two clients on a hostile link (20% loss, 10%
//! duplication, 10% of datagrams held back 15 ms, 10 ms latency plus up to
//! 10 ms jitter, both directions), game-like traffic both ways on all four
//! delivery modes, and in the middle a 2 s total blackout. Then the senders
//! stop and every reliable message must arrive. Checked throughout:
//! `Reliable` exactly once, `ReliableOrdered` exactly once and in send order,
//! `Unreliable` never twice, `UnreliableSequenced` never backwards, every
//! payload intact and on the right connection, and the hard caps (reorder
//! queue, congestion window, reliable in flight, send buffer) never passed.
//!
//! Then a separate connection with `Config::timeout` = 2 s on both ends
//! meets a 5 s blackout: both ends must end in `Error::TimedOut` within the
//! timeout + 1 s of the blackout's start (not stall), refuse further sends,
//! and stay dead after the link returns; the two main connections (10 s
//! timeout) must survive the same blackout and carry a message each way after it.
//!
//! * Short form, run by `cargo test --release --test soak`: 50 seeds, 60
//!   virtual seconds of traffic each in 5 ms ticks; about 5 s of wall time on
//!   two cores (the budget is 30 s). A debug build runs 10 seeds x 20 s.
//! * Long form, `cargo test --release --test soak -- --ignored`: 400 seeds,
//!   60 virtual seconds of traffic each, ticks of 1, 2, 5 or 16 ms by seed
//!   (a few minutes).
//!   `LENTIL_SOAK_SEEDS=<n>` and `LENTIL_SOAK_SECS=<s>` override its seed
//!   count and traffic duration; `LENTIL_SOAK_VERBOSE=1` prints one line per seed.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::run_seeds;
use lentil::transport::sim::SimStats;
use lentil::{
    Client, ClientEvent, ClientState, Config, Delivery, Error, LinkConditioner, Message, PeerId,
    Server, ServerEvent, SimNetwork,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// 20% loss, 10% duplication, 10% reordered by 15 ms, 10 ms + up to 10 ms.
fn hostile() -> LinkConditioner {
    LinkConditioner::new()
        .loss(0.20)
        .duplicate(0.10)
        .reorder(0.10, ms(15))
        .latency(ms(10))
        .jitter(ms(10))
}

const CLIENTS: usize = 2;
const SERVER_ADDR: &str = "10.0.0.1:9000";
const BURST_SERVER_ADDR: &str = "10.0.0.2:9001";
const BLACKOUT: Duration = Duration::from_secs(2);
const BURST: Duration = Duration::from_secs(5);
const BURST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long reliable data may take to finish once the senders stop.
const DRAIN_LIMIT: Duration = Duration::from_secs(20);
/// Kept running after completion so late duplicates would still be seen.
const TAIL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
struct Soak {
    seed: u64,
    /// Virtual time of game traffic (the 2 s blackout starts half way).
    traffic: Duration,
    /// Virtual time per tick; every endpoint updates once per tick.
    step: Duration,
}

// ---------------------------------------------------------------------------
// Payloads and per-stream checks.

/// xorshift64*, for the traffic pattern (the network has its own generator).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next() % den < num
    }

    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

fn body_byte(tag: u8, index: u32, pos: usize) -> u8 {
    (index.wrapping_mul(0x9E37_79B1).rotate_left(pos as u32 % 32) as u8)
        ^ (pos as u8).wrapping_mul(31)
        ^ tag
}

/// `tag`, `index` big-endian, then bytes derived from both.
fn make_payload(tag: u8, index: u32, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(len.max(5));
    p.push(tag);
    p.extend_from_slice(&index.to_be_bytes());
    p.extend((5..len).map(|pos| body_byte(tag, index, pos)));
    p
}

fn read_payload(p: &[u8]) -> Result<(u8, u32), String> {
    if p.len() < 5 {
        return Err(format!("payload of {} bytes", p.len()));
    }
    let (tag, index) = (p[0], u32::from_be_bytes([p[1], p[2], p[3], p[4]]));
    match (5..p.len()).find(|&pos| p[pos] != body_byte(tag, index, pos)) {
        Some(pos) => Err(format!("tag {tag} index {index} corrupt at byte {pos}")),
        None => Ok((tag, index)),
    }
}

/// Stream `tag`: client `c`, direction (0 up, 1 down), mode `m`.
fn tag(client: usize, down: bool, mode: usize) -> u8 {
    (client * 8 + usize::from(down) * 4 + mode) as u8
}

/// What the receiving end of one stream saw.
#[derive(Debug, Clone)]
struct Stream {
    delivery: Delivery,
    sent: u32,
    seen: Vec<bool>,
    distinct: u32,
    arrivals: u64,
    last: Option<u32>,
}

impl Stream {
    fn new(delivery: Delivery) -> Self {
        Stream {
            delivery,
            sent: 0,
            seen: Vec::new(),
            distinct: 0,
            arrivals: 0,
            last: None,
        }
    }

    fn on_sent(&mut self) {
        self.sent += 1;
        self.seen.push(false);
    }

    /// Checks one arrival against the mode's guarantee.
    fn on_arrival(&mut self, index: u32) -> Result<(), String> {
        self.arrivals += 1;
        let d = self.delivery;
        let Some(seen) = self.seen.get_mut(index as usize) else {
            return Err(format!("{d:?}: index {index} was never sent"));
        };
        if *seen {
            return Err(format!("{d:?}: index {index} arrived twice"));
        }
        *seen = true;
        match d {
            Delivery::ReliableOrdered if index != self.distinct => {
                return Err(format!(
                    "ReliableOrdered: index {index} arrived when {} was due",
                    self.distinct
                ));
            }
            Delivery::UnreliableSequenced if self.last.is_some_and(|l| index <= l) => {
                return Err(format!(
                    "UnreliableSequenced: index {index} after {:?}",
                    self.last
                ));
            }
            _ => {}
        }
        self.distinct += 1;
        self.last = Some(index);
        Ok(())
    }

    fn complete(&self) -> bool {
        self.distinct == self.sent
    }
}

// ---------------------------------------------------------------------------
// One seed.

#[derive(Debug, Clone, Default)]
struct Report {
    seed: u64,
    problems: Vec<String>,
    /// Virtual time of the whole run.
    virtual_total: Duration,
    /// Virtual time from the senders stopping to every reliable message in.
    drain: Duration,
    messages_sent: u64,
    messages_delivered: u64,
    /// When each end of the burst connection timed out, after the burst began.
    burst_client_error_after: Option<Duration>,
    burst_server_error_after: Option<Duration>,
    /// Least delivered share over the unreliable and sequenced streams.
    unreliable_share: f64,
    sequenced_share: f64,
    net: SimStats,
    wall: Duration,
}

impl Report {
    fn problem(&mut self, at: Duration, what: impl std::fmt::Display) {
        if self.problems.len() < 20 {
            self.problems
                .push(format!("[{:.3}s] {what}", at.as_secs_f64()));
        }
    }

    fn line(&self) -> String {
        format!(
            "seed {:>4}: virtual {:>6.1}s (drain {:.2}s) wall {:>5}ms sent {} delivered {} \
             unreliable {:.0}% sequenced {:.0}% burst timeouts client {:?} server {:?} \
             net sent {} lost {} dup {} blackout {} problems {}",
            self.seed,
            self.virtual_total.as_secs_f64(),
            self.drain.as_secs_f64(),
            self.wall.as_millis(),
            self.messages_sent,
            self.messages_delivered,
            self.unreliable_share * 100.0,
            self.sequenced_share * 100.0,
            self.burst_client_error_after,
            self.burst_server_error_after,
            self.net.sent,
            self.net.dropped_loss,
            self.net.duplicated,
            self.net.dropped_blackout,
            self.problems.len(),
        )
    }
}

/// The server, its clients, and what each stream saw.
struct World {
    net: SimNetwork,
    start: Instant,
    server: Server,
    clients: Vec<Client>,
    peers: Vec<Option<PeerId>>,
    /// Indexed by tag.
    streams: Vec<Stream>,
    rng: Rng,
    report: Report,
    ticks: u64,
}

impl World {
    fn now(&self) -> Duration {
        self.net.clock().now() - self.start
    }

    fn client_of(&self, peer: PeerId) -> Option<usize> {
        self.peers.iter().position(|p| *p == Some(peer))
    }

    fn send_up(&mut self, c: usize, mode: usize, len: usize) {
        let t = tag(c, false, mode);
        let s = &mut self.streams[t as usize];
        let p = make_payload(t, s.sent, len);
        match self.clients[c].send(&p, Delivery::ALL[mode]) {
            Ok(()) => s.on_sent(),
            Err(Error::QueueFull { .. }) => {}
            Err(e) => {
                let at = self.now();
                self.report.problem(at, format!("client {c} send: {e}"));
            }
        }
    }

    fn send_down(&mut self, c: usize, mode: usize, len: usize) {
        let Some(peer) = self.peers[c] else { return };
        let t = tag(c, true, mode);
        let s = &mut self.streams[t as usize];
        let p = make_payload(t, s.sent, len);
        match self.server.send(peer, &p, Delivery::ALL[mode]) {
            Ok(()) => s.on_sent(),
            Err(Error::QueueFull { .. }) => {}
            Err(e) => {
                let at = self.now();
                self.report.problem(at, format!("server send to {c}: {e}"));
            }
        }
    }

    /// One tick of game traffic: positions every tick, unreliable effects,
    /// reliable events and ordered commands/chat now and then, in bursts.
    fn game_traffic(&mut self) {
        for c in 0..CLIENTS {
            if !self.clients[c].is_connected() || self.peers[c].is_none() {
                continue;
            }
            // Client -> server: input/position, effects, events, commands.
            let len = self.rng.between(16, 64);
            self.send_up(c, 1, len);
            if self.rng.chance(1, 2) {
                let len = self.rng.between(5, 200);
                self.send_up(c, 0, len);
            }
            if self.rng.chance(1, 3) {
                let n = if self.rng.chance(1, 20) { 10 } else { 1 };
                for _ in 0..n {
                    let len = self.rng.between(5, 400);
                    self.send_up(c, 2, len);
                }
            }
            if self.rng.chance(1, 4) {
                let len = if self.rng.chance(1, 10) {
                    self.rng.between(600, 1200)
                } else {
                    self.rng.between(5, 120)
                };
                self.send_up(c, 3, len);
            }
            // Server -> client: world state, effects, events, ordered updates.
            let len = self.rng.between(64, 400);
            self.send_down(c, 1, len);
            let len = self.rng.between(5, 200);
            self.send_down(c, 0, len);
            if self.rng.chance(1, 3) {
                let n = if self.rng.chance(1, 20) { 20 } else { 1 };
                for _ in 0..n {
                    let len = self.rng.between(5, 300);
                    self.send_down(c, 2, len);
                }
            }
            if self.rng.chance(1, 4) {
                let len = if self.rng.chance(1, 10) {
                    self.rng.between(600, 1200)
                } else {
                    self.rng.between(5, 200)
                };
                self.send_down(c, 3, len);
            }
        }
    }

    fn on_message(&mut self, at_client: Option<usize>, from_peer: Option<PeerId>, m: &Message) {
        let now = self.now();
        let (t, index) = match read_payload(m.bytes()) {
            Ok(x) => x,
            Err(e) => return self.report.problem(now, e),
        };
        let (c, down, mode) = ((t / 8) as usize, (t / 4) % 2 == 1, (t % 4) as usize);
        let right_place = match (at_client, from_peer) {
            (Some(at), None) => down && at == c,
            (None, Some(peer)) => !down && self.client_of(peer) == Some(c),
            _ => false,
        };
        if c >= CLIENTS || !right_place || Delivery::ALL[mode] != m.delivery {
            return self.report.problem(
                now,
                format!(
                    "stream {t} ({:?}) message arrived at {at_client:?}/{from_peer:?}",
                    m.delivery
                ),
            );
        }
        if let Err(e) = self.streams[t as usize].on_arrival(index) {
            self.report.problem(now, format!("stream {t}: {e}"));
        } else {
            self.report.messages_delivered += 1;
        }
    }

    /// Updates the server and the clients once and handles their events.
    fn update(&mut self) {
        let now = self.now();
        let events: Vec<ServerEvent> = self.server.update_events().collect();
        for e in events {
            match e {
                ServerEvent::Connected { peer, addr } => {
                    match self
                        .clients
                        .iter()
                        .position(|c| c.local_addr() == Some(addr))
                    {
                        Some(c) if self.peers[c].is_none() => self.peers[c] = Some(peer),
                        _ => self
                            .report
                            .problem(now, format!("unexpected Connected {peer} {addr}")),
                    }
                }
                ServerEvent::Message { peer, message } => {
                    self.on_message(None, Some(peer), &message)
                }
                other => self.report.problem(now, format!("server: {other:?}")),
            }
        }
        for c in 0..CLIENTS {
            let events: Vec<ClientEvent> = self.clients[c].update_events().collect();
            for e in events {
                match e {
                    ClientEvent::ConnectAccepted => {}
                    ClientEvent::Message(m) => self.on_message(Some(c), None, &m),
                    other => self.report.problem(now, format!("client {c}: {other:?}")),
                }
            }
        }
        self.ticks += 1;
        if self.ticks % 8 == 0 {
            self.check_caps();
        }
    }

    /// The hard caps hold on every connection.
    fn check_caps(&mut self) {
        let now = self.now();
        let window = usize::from(Config::default().reliable_window);
        let limit = Config::default().max_send_buffer_bytes;
        let mut all = Vec::new();
        for (c, client) in self.clients.iter().enumerate() {
            if client.is_connected() {
                all.push((format!("client {c}"), client.metrics()));
            }
        }
        for (c, peer) in self.peers.iter().enumerate() {
            if let Some(m) = peer.and_then(|p| self.server.metrics(p)) {
                all.push((format!("server peer of client {c}"), m));
            }
        }
        for (who, m) in all {
            if m.reorder_queue >= window
                || !(32..=768).contains(&m.congestion_window)
                || m.reliable_in_flight > 2 * window
                || m.send_buffer_bytes > limit
            {
                self.report.problem(
                    now,
                    format!(
                        "{who}: cap passed: reorder {} cwnd {} in flight {} buffer {}",
                        m.reorder_queue,
                        m.congestion_window,
                        m.reliable_in_flight,
                        m.send_buffer_bytes
                    ),
                );
            }
        }
    }

    fn reliable_complete(&self) -> bool {
        self.streams
            .iter()
            .filter(|s| s.delivery.is_reliable())
            .all(Stream::complete)
    }

    fn tick(&self, step: Duration) {
        self.net.clock().advance(step);
    }
}

fn run(s: Soak) -> Report {
    let wall = Instant::now();
    let net = SimNetwork::new(s.seed);
    net.set_conditioner(hostile());
    let server_addr: SocketAddr = SERVER_ADDR.parse().expect("server address");
    let mut server = Server::sandbox(Config::default(), &net);
    server.listen(server_addr).expect("listen");
    let clients = (0..CLIENTS)
        .map(|_| Client::sandbox(Config::default(), &net))
        .collect();
    let mut w = World {
        start: net.clock().now(),
        net: net.clone(),
        server,
        clients,
        peers: vec![None; CLIENTS],
        streams: (0..CLIENTS * 8)
            .map(|t| Stream::new(Delivery::ALL[t % 4]))
            .collect(),
        rng: Rng::new(s.seed),
        report: Report {
            seed: s.seed,
            ..Report::default()
        },
        ticks: 0,
    };
    for c in &mut w.clients {
        c.connect(server_addr).expect("connect");
    }

    // Connect (through the hostile link).
    while !(w.clients.iter().all(Client::is_connected) && w.peers.iter().all(Option::is_some)) {
        if w.now() > secs(5) {
            let at = w.now();
            w.report.problem(at, "clients did not connect within 5 s");
            return finish(w, wall);
        }
        w.update();
        w.tick(s.step);
    }

    // Game traffic with a blackout half way, then drain.
    let traffic_start = w.now();
    let blackout_at = traffic_start + s.traffic / 2;
    let traffic_end = traffic_start + s.traffic;
    let mut blackout_started = false;
    let mut completed_at = None;
    loop {
        let now = w.now();
        if now < traffic_end {
            w.game_traffic();
        }
        if !blackout_started && now >= blackout_at {
            net.blackout_for(BLACKOUT);
            blackout_started = true;
        }
        w.update();
        if now >= traffic_end {
            if completed_at.is_none() && w.reliable_complete() {
                completed_at = Some(now);
                w.report.drain = now - traffic_end;
            }
            if completed_at.is_some_and(|t| now >= t + TAIL) {
                break;
            }
            if now >= traffic_end + DRAIN_LIMIT {
                let missing: Vec<String> = w
                    .streams
                    .iter()
                    .enumerate()
                    .filter(|(_, st)| st.delivery.is_reliable() && !st.complete())
                    .map(|(t, st)| format!("stream {t}: {}/{}", st.distinct, st.sent))
                    .collect();
                w.report.problem(
                    now,
                    format!(
                        "reliable data stalled {DRAIN_LIMIT:?} after traffic stopped: {missing:?}"
                    ),
                );
                return finish(w, wall);
            }
        }
        if !w.report.problems.is_empty() {
            return finish(w, wall);
        }
        w.tick(s.step);
    }
    for (t, st) in w.streams.iter().enumerate() {
        if st.sent == 0 {
            let at = w.now();
            w.report.problem(at, format!("stream {t} sent nothing"));
        }
    }
    let share = |w: &World, d: Delivery| {
        w.streams
            .iter()
            .filter(|st| st.delivery == d)
            .map(|st| f64::from(st.distinct) / f64::from(st.sent.max(1)))
            .fold(1.0, f64::min)
    };
    w.report.unreliable_share = share(&w, Delivery::Unreliable);
    w.report.sequenced_share = share(&w, Delivery::UnreliableSequenced);
    if w.report.unreliable_share < 0.5 || w.report.sequenced_share < 0.2 {
        let at = w.now();
        let (u, q) = (w.report.unreliable_share, w.report.sequenced_share);
        w.report.problem(
            at,
            format!("too little unreliable traffic arrived: {u:.2} / sequenced {q:.2}"),
        );
    }

    burst_phase(&mut w, s);
    finish(w, wall)
}

/// A separate connection with a 2 s timeout on both ends meets a 5 s
/// blackout; the main connections (10 s timeout) ride it out.
fn burst_phase(w: &mut World, s: Soak) {
    let burst_addr: SocketAddr = BURST_SERVER_ADDR.parse().expect("address");
    let config = Config {
        timeout: BURST_TIMEOUT,
        ..Config::default()
    };
    let mut server = Server::sandbox(config.clone(), &w.net);
    server.listen(burst_addr).expect("listen");
    let mut client = Client::sandbox(config, &w.net);
    client.connect(burst_addr).expect("connect");
    let mut peer = None;
    let mut client_error = None;
    let mut server_error = None;
    let mut burst_at: Option<Duration> = None;
    let phase_start = w.now();
    let mut received = 0u32;
    let mut sent = 0u32;

    loop {
        let now = w.now();
        // Traffic on the burst connection until the blackout.
        if burst_at.is_none() && client.is_connected() {
            if let Some(p) = peer {
                let msg = make_payload(99, sent, 32);
                if client.send(&msg, Delivery::Reliable).is_ok()
                    && server.send(p, &msg, Delivery::Unreliable).is_ok()
                {
                    sent += 1;
                }
            }
        }
        let events: Vec<ServerEvent> = server.update_events().collect();
        for e in events {
            match e {
                ServerEvent::Connected { peer: p, .. } if peer.is_none() => peer = Some(p),
                ServerEvent::Message { .. } => received += 1,
                ServerEvent::Error {
                    peer: p,
                    error: Error::TimedOut(after),
                } if Some(p) == peer && server_error.is_none() && burst_at.is_some() => {
                    server_error = Some(now);
                    if after != BURST_TIMEOUT {
                        w.report
                            .problem(now, format!("burst server: TimedOut({after:?})"));
                    }
                }
                other => w.report.problem(now, format!("burst server: {other:?}")),
            }
        }
        let events: Vec<ClientEvent> = client.update_events().collect();
        for e in events {
            match e {
                ClientEvent::ConnectAccepted | ClientEvent::Message(_) => {}
                ClientEvent::Error(Error::TimedOut(after))
                    if client_error.is_none() && burst_at.is_some() =>
                {
                    client_error = Some(now);
                    if after != BURST_TIMEOUT {
                        w.report
                            .problem(now, format!("burst client: TimedOut({after:?})"));
                    }
                }
                other => w.report.problem(now, format!("burst client: {other:?}")),
            }
        }
        w.update();

        match burst_at {
            None => {
                if now > phase_start + secs(5) {
                    w.report.problem(now, "burst connection not up after 5 s");
                    return;
                }
                // One second of traffic on the connection, then the blackout.
                if client.is_connected() && peer.is_some() && received > 0 && sent >= 50 {
                    w.net.blackout_for(BURST);
                    burst_at = Some(now);
                }
            }
            Some(at) => {
                let deadline = at + BURST_TIMEOUT + secs(1);
                if now > deadline && (client_error.is_none() || server_error.is_none()) {
                    w.report.problem(
                        now,
                        format!(
                            "burst connection did not time out on both ends by {:?} after the \
                             burst began: client {:?} ({:?}), server peers {}",
                            BURST_TIMEOUT + secs(1),
                            client_error.map(|t| t - at),
                            client.state(),
                            server.peer_count()
                        ),
                    );
                    return;
                }
                if client_error.is_some() && server_error.is_some() {
                    break;
                }
            }
        }
        if !w.report.problems.is_empty() {
            return;
        }
        w.tick(s.step);
    }
    let at = burst_at.expect("burst started");
    w.report.burst_client_error_after = client_error.map(|t| t - at);
    w.report.burst_server_error_after = server_error.map(|t| t - at);

    // Dead, not stalled: sends refused on both ends, nothing more happens.
    let now = w.now();
    if client.state() != ClientState::Errored {
        w.report
            .problem(now, format!("burst client state {:?}", client.state()));
    }
    for d in Delivery::ALL {
        if client.send(b"after", d) != Err(Error::NotConnected) {
            w.report
                .problem(now, format!("burst client accepted a {d:?} send"));
        }
        let p = peer.expect("peer");
        if server.send(p, b"after", d).is_ok() {
            w.report
                .problem(now, format!("burst server accepted a {d:?} send"));
        }
    }
    if server.peer_count() != 0 {
        w.report.problem(now, "burst server still counts its peer");
    }

    // Past the end of the blackout: the dead connection stays dead and the
    // main ones come back.
    let resume = at + BURST + secs(2);
    while w.now() < resume {
        for e in server.update_events() {
            let now = w.now();
            w.report.problem(now, format!("burst server after: {e:?}"));
        }
        for e in client.update_events() {
            let now = w.now();
            w.report.problem(now, format!("burst client after: {e:?}"));
        }
        w.update();
        w.tick(s.step);
    }
    if client.state() != ClientState::Errored || server.peer_count() != 0 {
        let now = w.now();
        w.report.problem(now, "burst connection came back to life");
    }
    for c in 0..CLIENTS {
        w.send_up(c, 2, 50);
        w.send_down(c, 3, 50);
    }
    let limit = w.now() + secs(10);
    while !w.reliable_complete() {
        if w.now() > limit || !w.report.problems.is_empty() {
            let now = w.now();
            w.report.problem(
                now,
                "main connections carried nothing after the 5 s blackout",
            );
            return;
        }
        w.update();
        w.tick(s.step);
    }
}

fn finish(mut w: World, wall: Instant) -> Report {
    w.report.virtual_total = w.now();
    w.report.messages_sent = w.streams.iter().map(|s| u64::from(s.sent)).sum();
    w.report.net = w.net.stats();
    w.report.wall = wall.elapsed();
    w.report
}

// ---------------------------------------------------------------------------
// Driving many seeds.

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs seeds `0..seeds`, seed `n` ticking `steps[n % steps.len()]`.
fn soak(name: &str, seeds: u64, traffic: Duration, steps: &[Duration]) {
    let started = Instant::now();
    let reports = run_seeds(0..seeds, |seed| {
        run(Soak {
            seed,
            traffic,
            step: steps[seed as usize % steps.len()],
        })
    });
    let wall = started.elapsed();
    let verbose = std::env::var_os("LENTIL_SOAK_VERBOSE").is_some();
    for r in &reports {
        if verbose || !r.problems.is_empty() {
            eprintln!("[{name}] {}", r.line());
        }
    }
    let n = reports.len() as f64;
    let mean = |f: &dyn Fn(&Report) -> f64| reports.iter().map(f).sum::<f64>() / n;
    let max = |f: &dyn Fn(&Report) -> f64| reports.iter().map(f).fold(0.0, f64::max);
    let after = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64());
    eprintln!(
        "[{name}] {seeds} seeds x {:.0}s traffic (ticks {:?}): wall {:.2}s total, per seed \
         {:.0} ms mean / {:.0} ms max; virtual {:.1}s mean per seed; drain after stop {:.2}s \
         mean / {:.2}s max; messages sent {:.0} / delivered {:.0} mean; least unreliable share \
         {:.0}%, sequenced {:.0}%; 2 s-timeout connection ended {:.2}s (client) / {:.2}s \
         (server) mean, {:.2}s / {:.2}s max after the 5 s burst began",
        traffic.as_secs_f64(),
        steps,
        wall.as_secs_f64(),
        mean(&|r| r.wall.as_secs_f64() * 1000.0),
        max(&|r| r.wall.as_secs_f64() * 1000.0),
        mean(&|r| r.virtual_total.as_secs_f64()),
        mean(&|r| r.drain.as_secs_f64()),
        max(&|r| r.drain.as_secs_f64()),
        mean(&|r| r.messages_sent as f64),
        mean(&|r| r.messages_delivered as f64),
        reports
            .iter()
            .map(|r| r.unreliable_share)
            .fold(1.0, f64::min)
            * 100.0,
        reports
            .iter()
            .map(|r| r.sequenced_share)
            .fold(1.0, f64::min)
            * 100.0,
        mean(&|r| after(r.burst_client_error_after)),
        mean(&|r| after(r.burst_server_error_after)),
        max(&|r| after(r.burst_client_error_after)),
        max(&|r| after(r.burst_server_error_after)),
    );
    let failed: Vec<&Report> = reports.iter().filter(|r| !r.problems.is_empty()).collect();
    if let Some(first) = failed.first() {
        panic!(
            "{} of {seeds} seeds failed (seeds {:?}); first, seed {}:\n  {}",
            failed.len(),
            failed.iter().map(|r| r.seed).collect::<Vec<_>>(),
            first.seed,
            first.problems.join("\n  ")
        );
    }
}

/// Short form for CI: 50 seeds x 60 virtual seconds of traffic in 5 ms
/// ticks (about 5 s of wall time in release). An unoptimized build runs 10
/// seeds x 20 s so that a plain `cargo test` stays quick.
#[test]
fn soak_short() {
    if cfg!(debug_assertions) {
        soak("soak short (debug build)", 10, secs(20), &[ms(10)]);
    } else {
        soak("soak short", 50, secs(60), &[ms(5)]);
    }
}

/// Long form: 400 seeds x 60 virtual seconds of traffic, the tick cycling
/// through 1, 2, 5 and 16 ms (a 60 Hz game) by seed.
#[test]
#[ignore = "long soak; run with `cargo test --release --test soak -- --ignored`"]
fn soak_long() {
    let seeds = env_u64("LENTIL_SOAK_SEEDS").unwrap_or(400);
    let traffic = secs(env_u64("LENTIL_SOAK_SECS").unwrap_or(60));
    soak("soak long", seeds, traffic, &[ms(1), ms(2), ms(5), ms(16)]);
}

/// The checks themselves catch what they claim to.
#[test]
fn stream_checks_catch_violations() {
    let p = make_payload(5, 7, 40);
    assert_eq!(read_payload(&p), Ok((5, 7)));
    let mut bad = p.clone();
    bad[20] ^= 1;
    assert!(read_payload(&bad).is_err());

    let mut ordered = Stream::new(Delivery::ReliableOrdered);
    (0..3).for_each(|_| ordered.on_sent());
    assert!(ordered.on_arrival(1).is_err(), "out of order");
    let mut ordered = Stream::new(Delivery::ReliableOrdered);
    (0..3).for_each(|_| ordered.on_sent());
    assert!(ordered.on_arrival(0).is_ok());
    assert!(ordered.on_arrival(0).is_err(), "twice");
    assert!(ordered.on_arrival(5).is_err(), "never sent");
    assert!(!ordered.complete());

    let mut seq = Stream::new(Delivery::UnreliableSequenced);
    (0..3).for_each(|_| seq.on_sent());
    assert!(seq.on_arrival(2).is_ok());
    assert!(seq.on_arrival(1).is_err(), "backwards");

    let mut reliable = Stream::new(Delivery::Reliable);
    (0..2).for_each(|_| reliable.on_sent());
    assert!(reliable.on_arrival(1).is_ok());
    assert!(reliable.on_arrival(0).is_ok());
    assert!(reliable.complete());
    assert!(reliable.on_arrival(1).is_err(), "twice");
}
