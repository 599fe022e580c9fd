//! A server and several clients in one process, exchanging game-like traffic,
//! with a metrics table every second.
//!
//! ```text
//! cargo run --release --example demo -- --seconds 5
//! cargo run --release --example demo -- --clients 8 --loss 0.05 --latency-ms 20 --jitter-ms 5
//! cargo run --release --example demo -- --sim --loss 0.1 --latency-ms 20 --dup 0.01
//! ```
//!
//! Each client sends its position 60 times a second (unreliable-sequenced), a
//! chat line about every 500 ms (reliable) and a numbered game event about
//! every 100 ms (reliable-ordered). The server broadcasts a world snapshot 20
//! times a second (unreliable), echoes every chat line to every client
//! (reliable), and checks that each client's events arrive in order. All of
//! it is one serde enum, `Msg`, sent and received decoded through a
//! `TypedServer` and `TypedClient`s.
//!
//! By default everything runs over real UDP on 127.0.0.1. The link flags
//! (`--loss`, `--latency-ms`, `--jitter-ms`, `--dup`) put a small impairment
//! proxy thread (one UDP socket per client) between each client and the
//! server. With `--sim` the same demo runs on lentil's simulated network with
//! its link conditioner instead, in virtual time: the clock moves 1 ms per
//! loop turn, so a long run finishes in a fraction of its virtual duration.
//!
//! The run ends by itself: after `--seconds` of traffic the clients stop
//! sending, wait until their reliable messages are acknowledged, disconnect
//! gracefully, and the demo prints a summary. The exit code is non-zero if a
//! client failed to connect, an ordered event arrived out of order, or a
//! reliable message went missing.

mod common;

use std::collections::{BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lentil::clock::VirtualClock;
use lentil::{
    Config, Delivery, Error, LinkConditioner, Metrics, MetricsHandle, PeerId, Server, SimNetwork,
    TypedClient, TypedServer,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The game tick: clients and server produce traffic once per tick.
const GAME_TICK: Duration = Duration::from_millis(16);
/// Loop granularity: the endpoints are updated at least this often, so
/// measured round trips are not inflated by the game tick.
const POLL: Duration = Duration::from_millis(1);
/// Events every 6 ticks (~100 ms), chat every 31 ticks (~500 ms), snapshots
/// every 3 ticks (~20 Hz).
const EVENT_EVERY: u64 = 6;
const CHAT_EVERY: u64 = 31;
const SNAPSHOT_EVERY: u64 = 3;
/// Players per snapshot message, so a snapshot of many players still fits in
/// one packet (unreliable messages are never split into fragments).
const PLAYERS_PER_SNAPSHOT: usize = 64;

/// Everything the demo sends: the message type of its `TypedServer` and
/// `TypedClient`s, which encode and decode it.
#[derive(Debug, Serialize, Deserialize)]
enum Msg {
    /// Client -> server, unreliable-sequenced, every tick.
    Position { x: f32, y: f32 },
    /// Client -> server, reliable.
    Chat { seq: u32, text: String },
    /// Client -> server, reliable-ordered; `seq` must arrive as 0, 1, 2, ...
    Event { seq: u32 },
    /// Server -> client, reliable-ordered, once: the client's peer id.
    Welcome { peer: PeerId },
    /// Server -> clients, unreliable, 20 Hz.
    Snapshot {
        tick: u32,
        players: Vec<(PeerId, f32, f32)>,
    },
    /// Server -> every client, reliable: a chat line.
    ChatEcho {
        from: PeerId,
        seq: u32,
        text: String,
    },
}

// ---------------------------------------------------------------------------
// Command line

#[derive(Debug, Clone)]
struct Options {
    clients: usize,
    seconds: f64,
    sim: bool,
    loss: f64,
    latency: Duration,
    jitter: Duration,
    dup: f64,
    seed: u64,
}

impl Options {
    fn impaired(&self) -> bool {
        self.loss > 0.0 || !self.latency.is_zero() || !self.jitter.is_zero() || self.dup > 0.0
    }
}

const USAGE: &str = "\
usage: demo [--clients N] [--seconds S] [--sim] [--loss P] [--latency-ms L]
            [--jitter-ms J] [--dup P] [--seed N]

  --clients N      clients to start (default 4)
  --seconds S      seconds of traffic before the clients disconnect (default 5)
  --sim            run on the simulated network in virtual time instead of UDP
  --loss P         probability each datagram is dropped, 0..=1 (default 0)
  --latency-ms L   one-way delay added to every datagram (default 0)
  --jitter-ms J    extra uniform delay 0..=J per datagram (default 0)
  --dup P          probability a datagram is delivered twice, 0..=1 (default 0)
  --seed N         seed of the link impairment (default 1)

Without --sim the link flags are applied by an in-process UDP proxy.";

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        clients: 4,
        seconds: 5.0,
        sim: false,
        loss: 0.0,
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        dup: 0.0,
        seed: 1,
    };
    common::parse_flags(|flag, value| {
        let bad = |v: &str| format!("bad value {v:?} for {flag}");
        match flag {
            "--sim" => o.sim = true,
            "--clients" => {
                let v = value()?;
                o.clients = v.parse().map_err(|_| bad(&v))?;
                if !(1..=1000).contains(&o.clients) {
                    return Err("--clients must be 1..=1000".into());
                }
            }
            "--seconds" => o.seconds = common::parse_seconds(&value()?)?,
            "--loss" | "--dup" => {
                let v = value()?;
                let p: f64 = v.parse().map_err(|_| bad(&v))?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(format!("{flag} is a probability in 0..=1"));
                }
                if flag == "--loss" {
                    o.loss = p;
                } else {
                    o.dup = p;
                }
            }
            "--latency-ms" | "--jitter-ms" => {
                let v = value()?;
                let ms: f64 = v.parse().map_err(|_| bad(&v))?;
                if !(ms.is_finite() && (0.0..=10_000.0).contains(&ms)) {
                    return Err(format!("{flag} must be 0..=10000"));
                }
                let d = Duration::from_secs_f64(ms / 1000.0);
                if flag == "--latency-ms" {
                    o.latency = d;
                } else {
                    o.jitter = d;
                }
            }
            "--seed" => {
                let v = value()?;
                o.seed = v.parse().map_err(|_| bad(&v))?;
            }
            _ => return Err(common::unknown(flag)),
        }
        Ok(())
    })?;
    Ok(o)
}

// ---------------------------------------------------------------------------
// Time and transport: real UDP with the system clock, or the simulated network

enum World {
    Udp {
        proxies: Vec<Proxy>,
    },
    Sim {
        net: SimNetwork,
        clock: VirtualClock,
    },
}

impl World {
    fn now(&self) -> Instant {
        match self {
            World::Udp { .. } => Instant::now(),
            World::Sim { clock, .. } => clock.now(),
        }
    }

    /// Lets time pass: blocks on the server socket for up to `POLL` over UDP
    /// (a datagram for the server wakes it early), or moves the virtual clock
    /// by `POLL` on the simulated network.
    fn idle(&self, server: &mut GameServer) {
        match self {
            World::Udp { .. } => server.wait(POLL),
            World::Sim { clock, .. } => clock.advance(POLL),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            World::Udp { proxies } if proxies.is_empty() => "udp",
            World::Udp { .. } => "udp via impairment proxy",
            World::Sim { .. } => "simulated network, virtual time",
        }
    }
}

// ---------------------------------------------------------------------------
// The UDP impairment proxy: what the link conditioner does, for real sockets

/// One proxy socket between one client and the server. Datagrams from the
/// server go to the client (learned from its first datagram), everything
/// else goes to the server; each may be dropped, delayed or duplicated.
struct Proxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<ProxyStats>>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct ProxyStats {
    forwarded: u64,
    dropped: u64,
    duplicated: u64,
}

impl Proxy {
    fn spawn(server: SocketAddr, link: Link, seed: u64) -> std::io::Result<Proxy> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_nonblocking(true)?;
        let addr = socket.local_addr()?;
        let socket = mio::net::UdpSocket::from_std(socket);
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy {addr}"))
            .spawn(move || run_proxy(socket, server, &stop_flag, seed, link))?;
        Ok(Proxy {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    fn stop(&mut self) -> ProxyStats {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .and_then(Result::ok)
            .unwrap_or_default()
    }
}

/// What the proxy does to each datagram.
#[derive(Debug, Clone, Copy)]
struct Link {
    loss: f64,
    latency: Duration,
    jitter: Duration,
    dup: f64,
}

/// A datagram waiting for its delivery time; ordered by (time, arrival order).
type Delayed = std::cmp::Reverse<(Instant, u64, SocketAddr, Vec<u8>)>;

/// The proxy thread: waits for datagrams with `mio` (millisecond timeouts)
/// and sleeps the last sub-millisecond stretch before a delivery, so the
/// added delay is accurate to well under a millisecond.
fn run_proxy(
    mut socket: mio::net::UdpSocket,
    server: SocketAddr,
    stop: &AtomicBool,
    seed: u64,
    link: Link,
) -> std::io::Result<ProxyStats> {
    const IDLE: Duration = Duration::from_millis(5);
    const MS: Duration = Duration::from_millis(1);
    let mut poll = mio::Poll::new()?;
    let mut events = mio::Events::with_capacity(4);
    poll.registry()
        .register(&mut socket, mio::Token(0), mio::Interest::READABLE)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = ProxyStats::default();
    let mut queue: BinaryHeap<Delayed> = BinaryHeap::new();
    let mut client: Option<SocketAddr> = None;
    let mut order = 0u64;
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let until_due = queue
            .peek()
            .map_or(IDLE, |d| d.0 .0.saturating_duration_since(Instant::now()))
            .min(IDLE);
        if until_due > MS {
            // mio rounds its timeout up to whole milliseconds: wake a little early.
            poll.poll(&mut events, Some(until_due - MS))?;
        } else if !until_due.is_zero() {
            std::thread::sleep(until_due);
        }
        loop {
            let (len, from) = match socket.recv_from(&mut buf) {
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ICMP noise from a peer that went away, or similar: skip it.
                Err(_) => continue,
            };
            let to = if from == server {
                client
            } else {
                client = Some(from);
                Some(server)
            };
            let Some(to) = to else { continue };
            if rng.gen::<f64>() < link.loss {
                stats.dropped += 1;
                continue;
            }
            let copies = if rng.gen::<f64>() < link.dup { 2 } else { 1 };
            stats.duplicated += copies - 1;
            for _ in 0..copies {
                let jitter = Duration::from_nanos(rng.gen_range(0..=link.jitter.as_nanos() as u64));
                order += 1;
                let at = Instant::now() + link.latency + jitter;
                queue.push(std::cmp::Reverse((at, order, to, buf[..len].to_vec())));
            }
        }
        let now = Instant::now();
        while queue.peek().is_some_and(|d| d.0 .0 <= now) {
            if let Some(std::cmp::Reverse((_, _, to, data))) = queue.pop() {
                // A full socket buffer loses the datagram, as a router would.
                if socket.send_to(&data, to).is_ok() {
                    stats.forwarded += 1;
                }
            }
        }
    }
    Ok(stats)
}

// ---------------------------------------------------------------------------
// What the handlers record

/// Per-client counters, filled by the client's handlers.
#[derive(Debug, Default)]
struct ClientLog {
    connected: bool,
    failure: Option<String>,
    server_closed: Option<String>,
    peer: Option<PeerId>,
    snapshots: u64,
    snapshots_out_of_order: u64,
    last_snapshot_tick: Option<u32>,
    players_seen: usize,
    echoes: u64,
    own_echoes: u64,
    /// Messages of a kind only clients send.
    unexpected: u64,
}

/// What one client sent (kept by the main loop).
#[derive(Debug, Default, Clone, Copy)]
struct Sent {
    positions: u64,
    chats: u32,
    events: u32,
    send_errors: u64,
}

/// Per-peer counters on the server.
#[derive(Debug, Default)]
struct PeerLog {
    addr: Option<SocketAddr>,
    position: Option<(f32, f32)>,
    positions: u64,
    chats: u64,
    events: u64,
    next_event: u32,
    order_violations: u64,
    echoes_sent: u64,
}

/// Server counters, filled by the server's handlers.
#[derive(Debug, Default)]
struct ServerLog {
    peers: HashMap<PeerId, PeerLog>,
    connects: u64,
    disconnects: u64,
    disconnect_reasons: HashMap<String, u64>,
    errors: Vec<String>,
    /// Messages of a kind only the server sends.
    unexpected: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Endpoints and their handlers

type GameServer = TypedServer<Msg>;
type GameClient = TypedClient<Msg>;

fn make_server(world: &World, log: &Arc<Mutex<ServerLog>>) -> Result<GameServer, Error> {
    let mut server = match world {
        World::Udp { .. } => GameServer::new(Config::default()),
        World::Sim { net, .. } => GameServer::sandbox(Config::default(), net),
    };
    let l = log.clone();
    server.on_connect(move |server, peer| {
        lock(&l).connects += 1;
        lock(&l).peers.entry(peer).or_default().addr = server.peer_addr(peer);
        // Handlers may send: tell the client who it is.
        let _ = server.send(peer, &Msg::Welcome { peer }, Delivery::ReliableOrdered);
    });
    let l = log.clone();
    // Messages arrive decoded; one that does not decode goes to `on_error`.
    server.on_message(move |server, peer, msg| {
        let mut log = lock(&l);
        let p = log.peers.entry(peer).or_default();
        match msg {
            Msg::Position { x, y } => {
                p.positions += 1;
                p.position = Some((x, y));
            }
            Msg::Event { seq } => {
                p.events += 1;
                if seq != p.next_event {
                    p.order_violations += 1;
                }
                p.next_event = seq.wrapping_add(1);
            }
            Msg::Chat { seq, text } => {
                p.chats += 1;
                let echo = Msg::ChatEcho {
                    from: peer,
                    seq,
                    text,
                };
                for to in server.peers() {
                    if server.send(to, &echo, Delivery::Reliable).is_ok() {
                        log.peers.entry(to).or_default().echoes_sent += 1;
                    }
                }
            }
            // A server-to-client message sent to the server.
            _ => log.unexpected += 1,
        }
    });
    let l = log.clone();
    server.on_disconnect(move |_, _peer, reason| {
        let mut log = lock(&l);
        log.disconnects += 1;
        *log.disconnect_reasons
            .entry(reason.to_string())
            .or_default() += 1;
    });
    let l = log.clone();
    server.on_error(move |_, peer, error| match error {
        // The connection stays up; `decode_failures()` counted the message.
        Error::Decode { .. } => {}
        _ => lock(&l).errors.push(format!("peer {peer}: {error}")),
    });
    let addr = match world {
        World::Udp { .. } => "127.0.0.1:0",
        World::Sim { .. } => "127.0.0.1:9000",
    };
    server.listen(addr)?;
    Ok(server)
}

fn make_client(world: &World, log: &Arc<Mutex<ClientLog>>) -> GameClient {
    let mut client = match world {
        World::Udp { .. } => GameClient::new(Config::default()),
        World::Sim { net, .. } => GameClient::sandbox(Config::default(), net),
    };
    let l = log.clone();
    client.on_connect_accepted(move |_| lock(&l).connected = true);
    let l = log.clone();
    client.on_connect_rejected(move |_, reason| {
        lock(&l).failure = Some(format!("rejected: {reason}"));
    });
    let l = log.clone();
    client.on_error(move |_, error| {
        // A message that did not decode is counted by the client; the connection stays.
        if !matches!(error, Error::Decode { .. }) {
            lock(&l).failure = Some(error.to_string());
        }
    });
    let l = log.clone();
    client.on_disconnect(move |_, reason| lock(&l).server_closed = Some(reason.to_string()));
    let l = log.clone();
    client.on_message(move |_, message| {
        let mut log = lock(&l);
        match message {
            Msg::Welcome { peer } => log.peer = Some(peer),
            Msg::Snapshot { tick, players } => {
                log.snapshots += 1;
                // Unreliable: snapshots may be lost or overtake each other.
                if log.last_snapshot_tick.is_some_and(|t| tick < t) {
                    log.snapshots_out_of_order += 1;
                }
                log.last_snapshot_tick = Some(log.last_snapshot_tick.map_or(tick, |t| t.max(tick)));
                log.players_seen = log.players_seen.max(players.len());
            }
            Msg::ChatEcho { from, .. } => {
                log.echoes += 1;
                if Some(from) == log.peer {
                    log.own_echoes += 1;
                }
            }
            // A client-to-server message sent to a client.
            _ => log.unexpected += 1,
        }
    });
    client
}

// ---------------------------------------------------------------------------
// The metrics table

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What each column of the summary shows.
const SUMMARY_LEGEND: &str = "\
peer = the client's id at the server; welcome = whether its welcome arrived;
  pos out, pos in = positions the client sent and the server kept (unreliable-
  sequenced: a late one is dropped); chat, events = reliable-ordered messages,
  sent by the client / received by the server; echoes = chat echoes, sent by
  the server / received by the client; snaps = server snapshots received.";

/// What each column of the metrics table shows, printed once before the
/// first table; every line fits an 80-column terminal, as the table does.
const TABLE_LEGEND: &str = "\
columns: rtt ms, p99 ms = smoothed and 99th-percentile round trip;
  in msg, out msg = messages received and sent so far; in KB/s, out KB/s =
  bytes per second received and sent, over the last second; loss% = share of
  packets lost; resends = messages sent again after a loss; unacked = packets
  sent and not acknowledged yet. The server row sums its peers (mean rtt,
  worst p99).";

fn row(who: &str, rtt: f64, p99: f64, m: &Metrics, loss: f64) {
    println!(
        "{who:<9} {rtt:>6.2} {p99:>6.2} {:>7} {:>7} {:>7.1} {:>8.1} {:>5.2} {:>7} {:>7}",
        m.in_messages,
        m.out_messages,
        m.in_bandwidth / 1024.0,
        m.out_bandwidth / 1024.0,
        loss * 100.0,
        m.resends,
        m.pending_acks,
    );
}

fn print_table(title: &str, handles: &[MetricsHandle], server: &Server) {
    println!("{title}");
    println!(
        "{:<9} {:>6} {:>6} {:>7} {:>7} {:>7} {:>8} {:>5} {:>7} {:>7}",
        "who",
        "rtt ms",
        "p99 ms",
        "in msg",
        "out msg",
        "in KB/s",
        "out KB/s",
        "loss%",
        "resends",
        "unacked"
    );
    for (i, h) in handles.iter().enumerate() {
        let m = h.snapshot();
        row(
            &format!("client {}", i + 1),
            ms(m.latency),
            ms(m.rtt_p99),
            &m,
            m.packet_loss,
        );
    }
    // Server aggregate: sums of counters, mean RTT, worst p99, pooled loss rate.
    let peers: Vec<Metrics> = server
        .peers()
        .iter()
        .filter_map(|p| server.metrics(*p))
        .collect();
    let mut sum = Metrics::default();
    let (mut rtt, mut p99) = (0.0, 0.0f64);
    for m in &peers {
        sum.in_messages += m.in_messages;
        sum.out_messages += m.out_messages;
        sum.in_bandwidth += m.in_bandwidth;
        sum.out_bandwidth += m.out_bandwidth;
        sum.resends += m.resends;
        sum.pending_acks += m.pending_acks;
        sum.packets_lost += m.packets_lost;
        sum.packets_acked += m.packets_acked;
        rtt += ms(m.latency);
        p99 = p99.max(ms(m.rtt_p99));
    }
    let resolved = sum.packets_lost + sum.packets_acked;
    let loss = if resolved == 0 {
        0.0
    } else {
        sum.packets_lost as f64 / resolved as f64
    };
    let mean = if peers.is_empty() {
        0.0
    } else {
        rtt / peers.len() as f64
    };
    row(&format!("server[{}]", peers.len()), mean, p99, &sum, loss);
}

// ---------------------------------------------------------------------------
// The run

fn main() -> ExitCode {
    let o = match common::args_or_exit("demo", USAGE, parse_args()) {
        Ok(o) => o,
        Err(code) => return code,
    };
    match run(&o) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What phase the run is in; each has its own time bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Playing,
    Draining,
    Disconnecting,
}

fn run(o: &Options) -> Result<bool, Box<dyn std::error::Error>> {
    let wall_start = Instant::now();
    let mut world = if o.sim {
        let net = SimNetwork::new(o.seed);
        net.set_conditioner(
            LinkConditioner::new()
                .loss(o.loss)
                .latency(o.latency)
                .jitter(o.jitter)
                .duplicate(o.dup),
        );
        let clock = net.clock();
        World::Sim { net, clock }
    } else {
        World::Udp {
            proxies: Vec::new(),
        }
    };

    let server_log = Arc::new(Mutex::new(ServerLog::default()));
    let mut server = make_server(&world, &server_log)?;
    let server_addr = server.local_addr().ok_or("server is not listening")?;

    // Over impaired UDP each client talks to its own proxy socket.
    let mut targets = vec![server_addr; o.clients];
    if let World::Udp { proxies } = &mut world {
        if o.impaired() {
            for (i, target) in targets.iter_mut().enumerate() {
                let link = Link {
                    loss: o.loss,
                    latency: o.latency,
                    jitter: o.jitter,
                    dup: o.dup,
                };
                let proxy = Proxy::spawn(server_addr, link, o.seed.wrapping_add(i as u64))?;
                *target = proxy.addr;
                proxies.push(proxy);
            }
        }
    }

    let logs: Vec<Arc<Mutex<ClientLog>>> = (0..o.clients)
        .map(|_| Arc::new(Mutex::new(ClientLog::default())))
        .collect();
    let mut clients: Vec<GameClient> = logs.iter().map(|l| make_client(&world, l)).collect();
    // Metrics handles: what a dashboard on another thread would read.
    let handles: Vec<MetricsHandle> = clients
        .iter_mut()
        .map(|c| c.client_mut().metrics_handle())
        .collect();
    // The address the server will see for each client, to match them up in
    // the summary: the proxy's, or the client's own socket on loopback.
    let mut seen_as = Vec::with_capacity(o.clients);
    for (client, target) in clients.iter_mut().zip(&targets) {
        client.connect(*target)?;
        let local = client.local_addr().ok_or("client has no socket")?;
        seen_as.push(match &world {
            World::Udp { proxies } if !proxies.is_empty() => *target,
            World::Udp { .. } => SocketAddr::new(server_addr.ip(), local.port()),
            World::Sim { .. } => local,
        });
    }
    println!(
        "lentil demo: server on {server_addr} ({})\n{} clients, {} s of traffic",
        world.label(),
        o.clients,
        o.seconds
    );
    println!("{TABLE_LEGEND}");
    if o.impaired() {
        println!(
            "link: loss {:.1}%, latency {} ms one-way, jitter {} ms, duplicate {:.1}%, seed {}",
            o.loss * 100.0,
            ms(o.latency),
            ms(o.jitter),
            o.dup * 100.0,
            o.seed
        );
    }

    let mut sent = vec![Sent::default(); o.clients];
    let start = world.now();
    let mut phase = Phase::Connecting;
    let mut phase_start = start;
    let mut next_tick = start;
    let mut tick: u64 = 0;
    let mut snapshot_tick: u32 = 0;
    let mut next_report = start + Duration::from_secs(1);
    let mut connect_failed = false;
    let play_for = Duration::from_secs_f64(o.seconds);
    let mut drain_timed_out = false;

    let disconnect_timed_out = loop {
        let now = world.now();

        if phase == Phase::Playing && now >= next_tick {
            next_tick += GAME_TICK;
            tick += 1;
            play_tick(
                &mut clients,
                &mut sent,
                tick,
                now.duration_since(start).as_secs_f32(),
            );
            if tick % SNAPSHOT_EVERY == 0 {
                broadcast_snapshot(&mut server, &server_log, snapshot_tick);
                snapshot_tick += 1;
            }
        }

        server.update();
        for client in &mut clients {
            client.update();
        }

        if now >= next_report {
            next_report += Duration::from_secs(1);
            let title = format!(
                "\n[t={:.0}s, {:?}]",
                now.duration_since(start).as_secs_f64(),
                phase
            );
            print_table(&title, &handles, server.server());
        }

        let in_phase = now.duration_since(phase_start);
        match phase {
            Phase::Connecting => {
                let failed = logs.iter().any(|l| lock(l).failure.is_some());
                let all = clients.iter().all(|c| c.is_connected());
                if all || failed || in_phase >= Duration::from_secs(5) {
                    connect_failed = !all;
                    for (i, l) in logs.iter().enumerate() {
                        let l = lock(l);
                        if !l.connected {
                            let why = l.failure.as_deref().unwrap_or("no answer within 5 s");
                            println!("client {} failed to connect: {why}", i + 1);
                        }
                    }
                    phase = Phase::Playing;
                    phase_start = now;
                    next_tick = now;
                }
            }
            Phase::Playing => {
                if in_phase >= play_for {
                    phase = Phase::Draining;
                    phase_start = now;
                }
            }
            Phase::Draining => {
                // Every reliable message acknowledged, on both sides?
                let clients_idle = handles.iter().all(|h| h.snapshot().send_buffer_bytes == 0);
                let server_idle = server
                    .peers()
                    .iter()
                    .filter_map(|p| server.metrics(*p))
                    .all(|m| m.send_buffer_bytes == 0);
                let timed_out = in_phase >= Duration::from_secs(5);
                if (clients_idle && server_idle) || timed_out {
                    drain_timed_out = timed_out;
                    // The last full table: after disconnecting, the server forgets its peers.
                    let title = format!(
                        "\n[final, t={:.1}s, traffic over, before disconnect]",
                        now.duration_since(start).as_secs_f64()
                    );
                    print_table(&title, &handles, server.server());
                    for client in &mut clients {
                        client.disconnect();
                    }
                    phase = Phase::Disconnecting;
                    phase_start = now;
                }
            }
            Phase::Disconnecting => {
                let expected = lock(&server_log).connects;
                let seen = {
                    let log = lock(&server_log);
                    log.disconnects + log.errors.len() as u64
                };
                // A disconnect that is lost three times over ends in the
                // server's timeout; wait for that only in virtual time.
                let bound = match world {
                    World::Sim { .. } => server.config().timeout + Duration::from_secs(1),
                    World::Udp { .. } => server.config().linger + Duration::from_secs(2),
                };
                if seen >= expected || in_phase >= bound {
                    break seen < expected;
                }
            }
        }

        world.idle(&mut server);
    };

    let elapsed = world.now().duration_since(start);

    let proxy_stats: Vec<ProxyStats> = match &mut world {
        World::Udp { proxies } => proxies.iter_mut().map(Proxy::stop).collect(),
        World::Sim { .. } => Vec::new(),
    };

    // ---- summary
    let slog = lock(&server_log);
    println!("\nsummary ({}):", world.label());
    println!(
        "{:<9} {:>4} {:>7} {:>7} {:>7} {:>9} {:>11} {:>9} {:>6}",
        "client", "peer", "welcome", "pos out", "pos in", "chat", "events", "echoes", "snaps"
    );
    let mut reliable_missing = 0u64;
    let mut violations = 0u64;
    for (i, l) in logs.iter().enumerate() {
        let l = lock(l);
        let s = sent[i];
        let peer = slog
            .peers
            .iter()
            .find(|(_, p)| p.addr == Some(seen_as[i]))
            .map(|(id, p)| (*id, p));
        let (pos, chats, events, echoes_sent) = peer.map_or((0, 0, 0, 0), |(_, p)| {
            (p.positions, p.chats, p.events, p.echoes_sent)
        });
        if let Some((_, p)) = peer {
            violations += p.order_violations;
        }
        let welcome_missing = peer.is_some() && l.peer.is_none();
        reliable_missing += u64::from(s.chats).saturating_sub(chats)
            + u64::from(s.events).saturating_sub(events)
            + echoes_sent.saturating_sub(l.echoes)
            + u64::from(welcome_missing);
        println!(
            "{:<9} {:>4} {:>7} {:>7} {:>7} {:>9} {:>11} {:>9} {:>6}",
            format!("client {}", i + 1),
            peer.map_or("-".to_owned(), |(id, _)| id.to_string()),
            if l.peer.is_some() { "yes" } else { "MISSING" },
            s.positions,
            pos,
            format!("{}/{}", s.chats, chats),
            format!("{}/{}", s.events, events),
            format!("{}/{}", echoes_sent, l.echoes),
            l.snapshots,
        );
    }
    println!("{SUMMARY_LEGEND}");
    let snapshots_late: u64 = logs.iter().map(|l| lock(l).snapshots_out_of_order).sum();
    let decode_errors: u64 = server.decode_failures()
        + clients.iter().map(GameClient::decode_failures).sum::<u64>()
        + slog.unexpected
        + logs.iter().map(|l| lock(l).unexpected).sum::<u64>();
    let send_errors: u64 = sent.iter().map(|s| s.send_errors).sum();
    println!(
        "server: {} connects, {} graceful disconnects {:?}, {} errors",
        slog.connects,
        slog.disconnects,
        slog.disconnect_reasons,
        slog.errors.len()
    );
    for e in &slog.errors {
        println!("  error: {e}");
    }
    println!(
        "ordered events out of order: {violations}; reliable messages missing: \
         {reliable_missing}\nsnapshots overtaken: {snapshots_late}; send errors: {send_errors}; \
         decode errors: {decode_errors}"
    );
    if !proxy_stats.is_empty() {
        let total = proxy_stats
            .iter()
            .fold(ProxyStats::default(), |a, s| ProxyStats {
                forwarded: a.forwarded + s.forwarded,
                dropped: a.dropped + s.dropped,
                duplicated: a.duplicated + s.duplicated,
            });
        println!(
            "proxy: {} datagrams forwarded, {} dropped, {} duplicated",
            total.forwarded, total.dropped, total.duplicated
        );
    }
    if let World::Sim { net, .. } = &world {
        let s = net.stats();
        println!(
            "sim network: {} sent, {} delivered, {} lost, {} duplicated\n\
             {:.1} s virtual in {:.2} s wall",
            s.sent,
            s.delivered,
            s.dropped_loss,
            s.duplicated,
            elapsed.as_secs_f64(),
            wall_start.elapsed().as_secs_f64()
        );
    }
    if drain_timed_out {
        println!("warning: reliable messages were still unacknowledged after 5 s of draining");
    }
    if disconnect_timed_out {
        println!("warning: the server did not see every disconnect in time");
    }

    let ok = !connect_failed && violations == 0 && reliable_missing == 0;
    println!(
        "result: {}",
        if ok {
            "OK"
        } else if connect_failed {
            "FAILED (a client did not connect)"
        } else if violations > 0 {
            "FAILED (ordered events out of order)"
        } else {
            "FAILED (reliable messages missing: lentil lost data it promised to deliver)"
        }
    );
    Ok(ok)
}

/// One game tick of every connected client: a position each tick, an event
/// every ~100 ms, a chat line every ~500 ms (phases staggered by client).
fn play_tick(clients: &mut [GameClient], sent: &mut [Sent], tick: u64, t: f32) {
    for (i, (client, s)) in clients.iter_mut().zip(sent.iter_mut()).enumerate() {
        if !client.is_connected() {
            continue;
        }
        let angle = t * (1.0 + i as f32 * 0.1);
        let pos = Msg::Position {
            x: angle.cos() * 10.0,
            y: angle.sin() * 10.0,
        };
        match client.send(&pos, Delivery::UnreliableSequenced) {
            Ok(()) => s.positions += 1,
            Err(_) => s.send_errors += 1,
        }
        let phase = tick + i as u64;
        if phase % EVENT_EVERY == 0 {
            let event = Msg::Event { seq: s.events };
            match client.send(&event, Delivery::ReliableOrdered) {
                Ok(()) => s.events += 1,
                Err(_) => s.send_errors += 1,
            }
        }
        if (tick + 7 * i as u64) % CHAT_EVERY == 0 {
            let chat = Msg::Chat {
                seq: s.chats,
                text: format!("hello #{} from client {}", s.chats, i + 1),
            };
            match client.send(&chat, Delivery::Reliable) {
                Ok(()) => s.chats += 1,
                Err(_) => s.send_errors += 1,
            }
        }
    }
}

/// Sends everyone the latest position of every player, unreliably, in as
/// many messages as it takes.
fn broadcast_snapshot(server: &mut GameServer, log: &Mutex<ServerLog>, tick: u32) {
    let players: Vec<(PeerId, f32, f32)> = {
        let log = lock(log);
        let mut v: Vec<_> = log
            .peers
            .iter()
            .filter_map(|(id, p)| p.position.map(|(x, y)| (*id, x, y)))
            .collect();
        v.sort_by_key(|p| p.0);
        v
    };
    for chunk in players.chunks(PLAYERS_PER_SNAPSHOT) {
        let snapshot = Msg::Snapshot {
            tick,
            players: chunk.to_vec(),
        };
        // Encoded once for every peer; a snapshot always encodes.
        let _ = server.broadcast(&snapshot, Delivery::Unreliable);
    }
}
