//! Hostile traffic against a server on the simulated network, in virtual time:
//! a handshake flood from spoofed addresses, expired / forged / misdirected
//! cookies, replayed handshakes, a crashed client coming back on its old
//! address, forged and replayed data packets, a peer that lies, and random
//! garbage.
//!
//! The server runs the explicit insecure mode here, and the raw peers
//! checksum their packets as that mode asks: what these tests attack is the
//! protocol core behind packet protection, as a peer that completed a
//! handshake can (what the seal adds, against peers that cannot, is tested in
//! `secure_sessions.rs`).
//!
//! Each test checks that the server keeps no state for senders it has not
//! verified, never sends an unverified address more than it received from it,
//! counts what it drops, never lets a forged or replayed packet change a
//! connection, and that honest clients on the same server keep delivering.
//!
//! A counting global allocator measures the server's memory across the flood;
//! the tests of this file take a lock so that no other test allocates while
//! it measures.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::{check_payload, ms, payload, secs};
use lentil::proto::handshake::{ClientHandshake, HandshakeOutcome};
use lentil::proto::server_handshake::COOKIE_LIFETIME;
use lentil::transport::sim::SimSocket;
use lentil::transport::Socket;
use lentil::wire::{
    self, Accept, Challenge, ConnectRequest, Cookie, DataHeader, Packet, MAGIC, PROTOCOL_VERSION,
};
use lentil::{
    Client, Config, Delivery, Error, LinkConditioner, PeerId, Server, ServerEvent, SimNetwork,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------------------
// Memory accounting and test serialization
// ---------------------------------------------------------------------------

/// Bytes currently allocated by the whole test binary (all threads).
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

/// `System`, counting live bytes.
struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to `System`; the counter is a side effect.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn live_bytes() -> i64 {
    LIVE_BYTES.load(Ordering::SeqCst)
}

/// Every test of this file holds this lock, so the allocator counts one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// Harness: a server, optional honest clients streaming to it, raw sockets
// ---------------------------------------------------------------------------

const SEED: u64 = 0x0405_711E;
const TICK: Duration = Duration::from_millis(1);

fn server_addr() -> SocketAddr {
    "127.0.0.1:9000".parse().expect("server address")
}

/// A raw address for hostile sockets: `10.<a>.<b>.<c>:<port>`.
fn v4(a: u8, b: u8, c: u8, port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::new(10, a, b, c).into(), port)
}

/// Size of the body of an honest client's stream message.
const HONEST_LEN: usize = 24;

/// A server plus honest clients that stream `ReliableOrdered` messages to it
/// (one per client per tick while `streaming`). Every honest message is
/// checked on arrival: right bytes, right client, in order, exactly once.
/// Every other server event is kept in `events`.
struct Harness {
    net: SimNetwork,
    server: Server,
    honest: Vec<Client>,
    honest_addrs: Vec<SocketAddr>,
    /// `(peer, client index)` of honest clients the server accepted.
    honest_peers: Vec<(PeerId, usize)>,
    sent: Vec<u32>,
    delivered: Vec<u32>,
    streaming: bool,
    events: Vec<ServerEvent>,
}

impl Harness {
    fn new(net: SimNetwork, config: Config) -> Self {
        let config = Config {
            insecure: true,
            ..config
        };
        let mut server = Server::sandbox(config, &net);
        server.listen(server_addr()).expect("listen");
        Harness {
            net,
            server,
            honest: Vec::new(),
            honest_addrs: Vec::new(),
            honest_peers: Vec::new(),
            sent: Vec::new(),
            delivered: Vec::new(),
            streaming: false,
            events: Vec::new(),
        }
    }

    /// Connects `n` honest clients; panics unless all are connected within 2 s.
    fn connect_honest(&mut self, n: usize, config: &Config) {
        let config = Config {
            insecure: true,
            ..config.clone()
        };
        for _ in 0..n {
            let mut c = Client::sandbox(config.clone(), &self.net);
            c.connect(server_addr()).expect("connect");
            self.honest_addrs
                .push(c.local_addr().expect("client bound at connect"));
            self.honest.push(c);
            self.sent.push(0);
            self.delivered.push(0);
        }
        let want = self.honest.len();
        assert!(
            self.run_until(secs(2), |h| h.honest.iter().all(Client::is_connected)
                && h.honest_peers.len() == want),
            "honest clients did not connect"
        );
    }

    fn now(&self) -> Duration {
        self.net.clock().elapsed()
    }

    /// Runs the server once (no time passes) and sorts its events.
    fn update_server(&mut self) {
        let events: Vec<ServerEvent> = self.server.update_events().collect();
        for event in events {
            match event {
                ServerEvent::Connected { peer, addr } if self.honest_addrs.contains(&addr) => {
                    let index = self.honest_addrs.iter().position(|a| *a == addr).unwrap();
                    self.honest_peers.push((peer, index));
                }
                ServerEvent::Message { peer, message }
                    if self.honest_peers.iter().any(|(p, _)| *p == peer) =>
                {
                    let index = self
                        .honest_peers
                        .iter()
                        .find(|(p, _)| *p == peer)
                        .unwrap()
                        .1;
                    assert_eq!(message.delivery, Delivery::ReliableOrdered);
                    let (tag, n) = check_payload(&message);
                    assert_eq!(tag as usize, index, "honest message from the wrong peer");
                    assert_eq!(
                        n, self.delivered[index],
                        "honest client {index}: message out of order, duplicated or lost"
                    );
                    self.delivered[index] += 1;
                }
                ServerEvent::Error { peer, .. } | ServerEvent::Disconnected { peer, .. }
                    if self.honest_peers.iter().any(|(p, _)| *p == peer) =>
                {
                    panic!("an honest client lost its connection: {event:?}");
                }
                other => self.events.push(other),
            }
        }
    }

    /// One tick: honest clients queue a message each (if streaming) and flush,
    /// the server runs, then virtual time moves on by [`TICK`].
    fn tick(&mut self) {
        if self.streaming {
            for (i, c) in self.honest.iter_mut().enumerate() {
                let body = payload(i as u8, self.sent[i], HONEST_LEN);
                c.send(&body, Delivery::ReliableOrdered)
                    .expect("honest send");
                self.sent[i] += 1;
            }
        }
        for c in &mut self.honest {
            c.update();
            assert!(
                c.is_connected() || c.is_connecting(),
                "an honest client lost its connection: {:?}",
                c.state()
            );
        }
        self.update_server();
        self.net.clock().advance(TICK);
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now() + d;
        while self.now() < end {
            self.tick();
        }
    }

    fn run_until(&mut self, limit: Duration, mut pred: impl FnMut(&mut Self) -> bool) -> bool {
        let end = self.now() + limit;
        loop {
            if pred(self) {
                return true;
            }
            if self.now() >= end {
                return false;
            }
            self.tick();
        }
    }

    /// Stops the honest streams and waits until every message has arrived.
    fn finish_honest(&mut self) {
        self.streaming = false;
        assert!(
            self.run_until(secs(5), |h| h.delivered == h.sent),
            "honest messages missing: sent {:?}, delivered {:?}",
            self.sent,
            self.delivered
        );
        assert!(self.sent.iter().all(|&n| n > 0) || self.honest.is_empty());
    }

    /// Sends `bytes` from `sock` to the server and runs the server once.
    fn inject(&mut self, sock: &mut SimSocket, bytes: &[u8]) {
        sock.send_to(bytes, server_addr()).expect("sim send");
        self.update_server();
    }

    /// A handshake by hand, step 1: the cookie the server answers `nonce` with.
    fn challenge(&mut self, sock: &mut SimSocket, nonce: u64) -> Challenge {
        self.inject(sock, &connect_request(nonce));
        recv_all(sock)
            .iter()
            .find_map(|d| match Packet::parse(d) {
                Ok(Packet::Challenge(c)) if c.nonce == nonce => Some(c),
                _ => None,
            })
            .expect("the server answers a connect request with a challenge")
    }

    /// Sends a challenge response and returns the server's `Accept` for `nonce`, if any.
    fn respond(&mut self, sock: &mut SimSocket, response: &[u8], nonce: u64) -> Option<Accept> {
        self.inject(sock, response);
        recv_all(sock).iter().find_map(|d| match Packet::parse(d) {
            Ok(Packet::Accept(a)) if a.nonce == nonce => Some(a),
            _ => None,
        })
    }

    /// Removes and returns the kept (non-honest) events.
    fn take_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.events)
    }
}

fn connect_request(nonce: u64) -> Vec<u8> {
    let mut out = Vec::new();
    ConnectRequest {
        version: PROTOCOL_VERSION,
        nonce,
        window: 8192,
        insecure: true,
    }
    .emit(&mut out);
    out
}

/// The insecure-mode configuration the raw peers and honest clients use.
fn raw_config() -> Config {
    Config {
        insecure: true,
        reliable_window: 8192,
        ..Config::default()
    }
}

/// A response to `challenge` for `nonce`, and the handshake that sealed it
/// (which opens the server's accept).
fn answer(nonce: u64, challenge: Challenge) -> (Vec<u8>, ClientHandshake) {
    let t0 = std::time::Instant::now();
    let mut hs = ClientHandshake::new(&raw_config(), nonce, t0);
    let mut out = Vec::new();
    assert!(hs.poll_transmit(t0, &mut out));
    assert_eq!(hs.handle(&Packet::Challenge(challenge)), None);
    assert!(hs.poll_transmit(t0, &mut out));
    (out, hs)
}

fn challenge_response(nonce: u64, challenge: Challenge) -> Vec<u8> {
    answer(nonce, challenge).0
}

/// The connection token in the sealed `accept`, opened by the handshake `hs`.
fn token_of(hs: &mut ClientHandshake, accept: Accept) -> u32 {
    match hs.handle(&Packet::Accept(accept)) {
        Some(HandshakeOutcome::Accepted { token, .. }) => token,
        other => panic!("the accept opens: {other:?}"),
    }
}

/// Everything receivable on `sock` now.
fn recv_all(sock: &mut SimSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Ok(Some((len, _from))) = sock.recv_from(&mut buf) {
        out.push(buf[..len].to_vec());
    }
    out
}

/// A data packet: header, then whatever `frames` appends.
fn data_packet(
    token: u32,
    seq: u16,
    ack: u16,
    ack_bits: u32,
    frames: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let mut out = Vec::new();
    DataHeader {
        token,
        seq,
        ack,
        ack_bits,
    }
    .emit(&mut out);
    frames(&mut out);
    out
}

/// A peer whose every packet the test writes by hand: it walked the handshake
/// itself, so it knows its connection token.
struct RawPeer {
    sock: SimSocket,
    peer: PeerId,
    nonce: u64,
    token: u32,
    /// The challenge response that got it accepted, as sent.
    response: Vec<u8>,
    /// The server's accept of it.
    accept: Accept,
    seq: u16,
}

impl RawPeer {
    fn connect(h: &mut Harness, addr: SocketAddr, nonce: u64) -> RawPeer {
        let mut sock = h.net.bind(addr).expect("bind raw peer");
        let challenge = h.challenge(&mut sock, nonce);
        let (response, mut hs) = answer(nonce, challenge);
        let accept = h
            .respond(&mut sock, &response, nonce)
            .expect("a valid cookie is accepted");
        let peer = h
            .take_events()
            .into_iter()
            .find_map(|e| match e {
                ServerEvent::Connected { peer, addr: a } if a == addr => Some(peer),
                _ => None,
            })
            .expect("Connected event for the raw peer");
        RawPeer {
            sock,
            peer,
            nonce,
            token: token_of(&mut hs, accept),
            response,
            accept,
            seq: 1,
        }
    }

    /// Builds the next data packet (fresh sequence number, acking nothing).
    fn next(&mut self, frames: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let p = data_packet(self.token, self.seq, 0, 0, frames);
        self.seq = self.seq.wrapping_add(1);
        p
    }

    /// Sends `bytes` from this peer's address, with the insecure mode's
    /// checksum, and runs the server once.
    fn send(&mut self, h: &mut Harness, bytes: &[u8]) {
        let mut packet = bytes.to_vec();
        lentil::crypto::append_crc(&mut packet);
        h.inject(&mut self.sock, &packet);
    }
}

/// Appends a message frame on the default channel of `delivery`.
fn emit_msg(out: &mut Vec<u8>, delivery: Delivery, id: u16, body: &[u8]) {
    let header = wire::MessageHeader {
        delivery,
        channel: Config::default().channel_for(delivery).unwrap_or(0),
        id,
        fragment: None,
    };
    wire::emit_message(out, &header, body);
}

fn message_frame(delivery: Delivery, id: u16, body: &[u8]) -> impl FnOnce(&mut Vec<u8>) + '_ {
    move |out| emit_msg(out, delivery, id, body)
}

/// Message events the server raised for `peer`, in order, as bytes.
fn messages_of(events: &[ServerEvent], peer: PeerId) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message { peer: p, message } if *p == peer => Some(message.to_vec()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// 1. Handshake flood from spoofed addresses
// ---------------------------------------------------------------------------

const SPOOFED: usize = 10_000;
const REQUESTS_PER_ADDR: usize = 10;
const FLOOD_TOTAL: usize = SPOOFED * REQUESTS_PER_ADDR;
/// 1 ms ticks: the flood is spread over 2 virtual seconds (50 requests per tick).
const FLOOD_TICKS: usize = 2_000;
const HONEST_CLIENTS: usize = 3;
const FLOOD_LATENCY: Duration = Duration::from_millis(10);

fn spoofed_addr(i: usize) -> SocketAddr {
    // 10.0.1.0 + i: one distinct IP per address, and a distinct port too.
    let ip = Ipv4Addr::from(0x0A00_0100u32 + i as u32);
    SocketAddr::new(ip.into(), 20_000 + i as u16)
}

#[derive(Debug)]
struct FloodReport {
    rtt_p99: Vec<Duration>,
    live_delta: i64,
    stats: lentil::ServerStats,
    flood_window: Duration,
    bytes_in: Vec<u64>,
    bytes_out: Vec<u64>,
    sent: Vec<u32>,
}

/// Three honest clients stream ordered messages to a server through a 10 ms
/// link while (if `flood`) 10 000 spoofed addresses send it 10 connect
/// requests each over 2 s.
fn flood_run(flood: bool) -> FloodReport {
    let net = SimNetwork::new(SEED);
    let mut spoofed: Vec<SimSocket> = (0..SPOOFED)
        .map(|i| net.bind(spoofed_addr(i)).expect("bind spoofed"))
        .collect();
    // The simulator keeps per-address byte counters and a queue per socket.
    // Touch each of them once, with empty datagrams and before the server
    // exists, so that their growth is not mistaken for the server's memory:
    // what the flood may add afterwards is the server's state (and datagrams
    // in flight, which are drained before measuring).
    {
        let mut stand_in = net.bind(server_addr()).expect("bind stand-in");
        let mut buf = [0u8; 64];
        for s in &mut spoofed {
            stand_in.send_to(&[], s.local_addr()).unwrap();
            assert!(s.recv_from(&mut buf).unwrap().is_some());
            s.send_to(&[], server_addr()).unwrap();
        }
        while stand_in.recv_from(&mut buf).unwrap().is_some() {}
    }
    net.set_conditioner(LinkConditioner::new().latency(FLOOD_LATENCY));

    let config = Config::default();
    let mut h = Harness::new(net.clone(), config.clone());
    h.connect_honest(HONEST_CLIENTS, &config);
    h.streaming = true;
    h.run_for(ms(300));

    let mut request = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    let flood_start = h.now();
    let before = live_bytes();
    for t in 0..FLOOD_TICKS {
        if flood {
            for j in 0..FLOOD_TOTAL / FLOOD_TICKS {
                let k = t * (FLOOD_TOTAL / FLOOD_TICKS) + j;
                let s = &mut spoofed[k % SPOOFED];
                // Whatever the server answered this address last time.
                while s.recv_from(&mut buf).unwrap().is_some() {}
                request.clear();
                ConnectRequest {
                    version: PROTOCOL_VERSION,
                    nonce: (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    window: 8192,
                    insecure: true,
                }
                .emit(&mut request);
                s.send_to(&request, server_addr()).unwrap();
            }
        }
        h.tick();
        assert_eq!(
            h.server.peer_count(),
            HONEST_CLIENTS,
            "peer state for a spoofed address"
        );
    }
    // Let the last requests arrive and their answers land, then read them all.
    h.run_for(FLOOD_LATENCY * 3);
    for s in &mut spoofed {
        while s.recv_from(&mut buf).unwrap().is_some() {}
    }
    let after = live_bytes();
    let flood_window = h.now() - flood_start;

    h.finish_honest();
    assert_eq!(h.server.peer_count(), HONEST_CLIENTS);
    let bytes_in = spoofed
        .iter()
        .map(|s| net.bytes_between(s.local_addr(), server_addr()))
        .collect();
    let bytes_out = spoofed
        .iter()
        .map(|s| net.bytes_between(server_addr(), s.local_addr()))
        .collect();
    FloodReport {
        rtt_p99: h.honest.iter().map(|c| c.metrics().rtt_p99).collect(),
        live_delta: after - before,
        stats: h.server.stats(),
        flood_window,
        bytes_in,
        bytes_out,
        sent: h.sent.clone(),
    }
}

#[test]
fn handshake_flood_from_spoofed_addresses_costs_no_state_no_amplification_no_latency() {
    let _serial = serial();
    let quiet = flood_run(false);
    let flooded = flood_run(true);
    let s = flooded.stats;
    let config = Config::default();

    // No peer state for any spoofed address (also checked on every tick).
    assert_eq!(s.accepted, HONEST_CLIENTS as u64);
    assert_eq!(
        s.datagrams_in - quiet.stats.datagrams_in,
        FLOOD_TOTAL as u64
    );

    // No amplification, address by address.
    let mut challenge = Vec::new();
    Challenge {
        nonce: 0,
        server_static: [0; 32],
        server_ephemeral: [0; 32],
        cookie: Cookie {
            expires_ms: 0,
            mac: [0; 16],
        },
    }
    .emit(&mut challenge);
    for (i, (&inb, &out)) in flooded.bytes_in.iter().zip(&flooded.bytes_out).enumerate() {
        assert_eq!(
            inb,
            (REQUESTS_PER_ADDR * wire::CONNECT_REQUEST_MIN_LEN) as u64
        );
        assert!(
            out <= inb,
            "{}: server sent {out} bytes, received {inb}",
            spoofed_addr(i)
        );
    }
    let total_in: u64 = flooded.bytes_in.iter().sum();
    let total_out: u64 = flooded.bytes_out.iter().sum();
    let max_out = flooded.bytes_out.iter().copied().max().unwrap_or(0);
    assert_eq!(
        total_out % challenge.len() as u64,
        0,
        "only challenges go to spoofed addresses"
    );
    let replies = total_out / challenge.len() as u64;

    // Replies are capped by the global budget: a full bucket plus its refill.
    let rate = f64::from(config.handshake_replies_per_sec);
    let budget = (rate + rate * flooded.flood_window.as_secs_f64()).ceil() as u64;
    assert!(
        s.replies_rate_limited > 0,
        "a 50 000/s flood must hit the 20 000/s budget"
    );
    assert!(replies <= budget, "{replies} replies, budget {budget}");
    assert_eq!(
        replies + s.replies_rate_limited,
        FLOOD_TOTAL as u64,
        "every request is answered or counted as rate limited"
    );

    // Honest clients: everything arrived in order (checked on arrival), and
    // their latency did not suffer.
    assert_eq!(flooded.sent, quiet.sent);
    for (i, (q, f)) in quiet.rtt_p99.iter().zip(&flooded.rtt_p99).enumerate() {
        assert!(!q.is_zero() && !f.is_zero(), "client {i} has RTT samples");
        assert!(
            *f <= *q * 2 + ms(1),
            "client {i}: rtt p99 {f:?} under flood vs {q:?} quiet"
        );
    }

    // Memory: the server allocates nothing per spoofed address. Measured
    // (release, seed above): +163 KB over the flood against +79 KB for the
    // quiet run (not attributed further; the simulator's queue for the server
    // socket holds ~500 more datagrams in flight under the flood); 59 980 challenges of 25 bytes went out for 12.8 MB in,
    // 40 020 replies were rate limited, and rtt p99 was 20.479 ms in both runs.
    eprintln!(
        "flood: {} requests from {SPOOFED} addresses over {:?}: {} bytes in, {} bytes out \
         ({replies} challenges, largest to one address {max_out} bytes), {} rate-limited, \
         challenges_sent {}; honest rtt p99 quiet {:?} vs flood {:?}; live bytes delta over \
         the flood {} (quiet run: {})",
        FLOOD_TOTAL,
        flooded.flood_window,
        total_in,
        total_out,
        s.replies_rate_limited,
        s.challenges_sent,
        quiet.rtt_p99,
        flooded.rtt_p99,
        flooded.live_delta,
        quiet.live_delta
    );
    assert!(
        flooded.live_delta < 1024 * 1024,
        "live bytes grew by {} over the flood",
        flooded.live_delta
    );
}

// ---------------------------------------------------------------------------
// 2. Cookies: expiry, forgery, another address
// ---------------------------------------------------------------------------

#[test]
fn expired_forged_and_misdirected_cookies_are_ignored() {
    let _serial = serial();
    let net = SimNetwork::new(SEED + 2);
    let mut h = Harness::new(net.clone(), Config::default());
    let mut a = net.bind(v4(2, 0, 1, 5000)).unwrap();
    let mut b = net.bind(v4(2, 0, 2, 5000)).unwrap();
    let mut c = net.bind(v4(2, 0, 3, 5000)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 2);

    // Expired: answered just over COOKIE_LIFETIME after the challenge.
    let cookie = h.challenge(&mut a, 11);
    net.clock().advance(COOKIE_LIFETIME + ms(10));
    assert_eq!(h.respond(&mut a, &challenge_response(11, cookie), 11), None);
    assert_eq!(h.server.stats().bad_cookies, 1);
    assert_eq!(h.server.peer_count(), 0);

    // Forged: a fresh cookie's expiry with a random mac, and a random cookie.
    let fresh = h.challenge(&mut a, 12);
    let forged = Challenge {
        cookie: Cookie {
            expires_ms: fresh.cookie.expires_ms,
            mac: rng.gen(),
        },
        ..fresh
    };
    assert_eq!(h.respond(&mut a, &challenge_response(12, forged), 12), None);
    let random = Challenge {
        cookie: Cookie {
            expires_ms: rng.gen(),
            mac: rng.gen(),
        },
        ..fresh
    };
    assert_eq!(h.respond(&mut a, &challenge_response(12, random), 12), None);
    assert_eq!(h.server.stats().bad_cookies, 3);

    // Another address: A's valid cookie and nonce, sent from B.
    assert_eq!(h.respond(&mut b, &challenge_response(12, fresh), 12), None);
    assert_eq!(h.server.stats().bad_cookies, 4);
    assert_eq!(h.server.peer_count(), 0);
    assert_eq!(h.server.stats().accepted, 0);
    assert!(h.take_events().is_empty(), "no event for a bad cookie");
    assert_eq!(
        net.bytes_between(server_addr(), b.local_addr()),
        0,
        "nothing is sent to an address that never asked"
    );

    // Controls: the same valid cookie from A is accepted, and so is one
    // answered just inside its lifetime.
    assert!(h
        .respond(&mut a, &challenge_response(12, fresh), 12)
        .is_some());
    let late_but_valid = h.challenge(&mut c, 13);
    net.clock().advance(COOKIE_LIFETIME - ms(10));
    assert!(h
        .respond(&mut c, &challenge_response(13, late_but_valid), 13)
        .is_some());
    assert_eq!(h.server.peer_count(), 2);
    assert_eq!(h.server.stats().bad_cookies, 4);
}

// ---------------------------------------------------------------------------
// 3. Replayed handshake; a crashed client back on its old address
// ---------------------------------------------------------------------------

#[test]
fn replayed_challenge_response_creates_no_second_session() {
    let _serial = serial();
    let net = SimNetwork::new(SEED + 3);
    let mut h = Harness::new(net.clone(), Config::default());
    let mut p = RawPeer::connect(&mut h, v4(3, 0, 1, 5000), 31);
    let hello = p.next(message_frame(Delivery::ReliableOrdered, 0, b"hello"));
    p.send(&mut h, &hello);
    assert_eq!(
        messages_of(&h.take_events(), p.peer),
        vec![b"hello".to_vec()]
    );

    // The same response again, from the same address, several times while
    // its cookie is still valid: the server repeats its Accept, same token.
    for _ in 0..3 {
        h.run_for(ms(500));
        let again = h.respond(&mut p.sock, &p.response.clone(), p.nonce);
        assert_eq!(again, Some(p.accept), "a repeated Accept");
    }
    assert_eq!(h.server.peer_count(), 1);
    assert_eq!(h.server.peers(), vec![p.peer]);
    assert_eq!(h.server.stats().accepted, 1);
    assert!(
        h.take_events().is_empty(),
        "no Connected (or any) event for a replay"
    );

    // The original session is intact: its next message arrives in order.
    let more = p.next(message_frame(Delivery::ReliableOrdered, 1, b"still here"));
    p.send(&mut h, &more);
    assert_eq!(
        messages_of(&h.take_events(), p.peer),
        vec![b"still here".to_vec()]
    );

    // Once the cookie has expired the replay is just a bad cookie; from
    // another address it never was valid.
    h.run_for(COOKIE_LIFETIME);
    let bad_before = h.server.stats().bad_cookies;
    assert_eq!(h.respond(&mut p.sock, &p.response.clone(), p.nonce), None);
    let mut other = net.bind(v4(3, 0, 2, 5000)).unwrap();
    assert_eq!(h.respond(&mut other, &p.response.clone(), p.nonce), None);
    assert_eq!(h.server.stats().bad_cookies, bad_before + 2);
    assert_eq!(h.server.peers(), vec![p.peer]);
    assert_eq!(h.server.stats().accepted, 1);
    let last = p.next(message_frame(Delivery::ReliableOrdered, 2, b"and now"));
    p.send(&mut h, &last);
    assert_eq!(
        messages_of(&h.take_events(), p.peer),
        vec![b"and now".to_vec()]
    );
}

#[test]
fn client_restarting_on_its_address_replaces_its_session_at_once() {
    let _serial = serial();
    let net = SimNetwork::new(SEED + 4);
    let config = Config {
        timeout: secs(2),
        ..Config::default()
    };
    let mut h = Harness::new(net.clone(), config.clone());
    h.connect_honest(1, &config);
    h.streaming = true;
    h.run_for(ms(100));
    h.finish_honest();
    let (old_peer, _) = h.honest_peers[0];
    let addr = h.honest_addrs[0];

    // The client process dies: no disconnect, its socket just goes away.
    let crashed = h.honest.pop().unwrap();
    drop(crashed);
    h.honest_addrs.clear();
    h.honest_peers.clear();
    h.run_for(ms(20));
    assert_eq!(
        h.server.peers(),
        vec![old_peer],
        "the server has not noticed yet"
    );

    // It restarts on the same address with a new nonce; its handshake alone
    // replaces the old session, without waiting for the old one's timeout.
    let restarted_at = h.now();
    let mut sock = net
        .bind(addr)
        .expect("the crashed client's address is free again");
    let challenge = h.challenge(&mut sock, 0xC0FFEE);
    let (response, mut hs) = answer(0xC0FFEE, challenge);
    let accept = h
        .respond(&mut sock, &response, 0xC0FFEE)
        .expect("the restarted client is accepted");
    assert_eq!(h.now(), restarted_at, "accepted at once, in virtual time");
    let events = h.take_events();
    let replaced = events.iter().position(|e| {
        *e == ServerEvent::Error {
            peer: old_peer,
            error: Error::SessionReplaced,
        }
    });
    let new_peer = events.iter().find_map(|e| match e {
        ServerEvent::Connected { peer, addr: a } if *a == addr => Some(*peer),
        _ => None,
    });
    let connected = events
        .iter()
        .position(|e| matches!(e, ServerEvent::Connected { .. }));
    assert!(
        matches!((replaced, connected), (Some(r), Some(c)) if r < c) && events.len() == 2,
        "expected SessionReplaced for the old peer, then Connected: {events:?}"
    );
    let new_peer = new_peer.unwrap();
    assert_ne!(new_peer, old_peer);
    assert_eq!(h.server.peers(), vec![new_peer]);
    assert_eq!(h.server.stats().accepted, 2);
    let mut p = RawPeer {
        sock,
        peer: new_peer,
        nonce: 0xC0FFEE,
        token: token_of(&mut hs, accept),
        response: Vec::new(),
        accept,
        seq: 1,
    };

    // The new session works; the old one raises nothing more (no late timeout).
    let hi = p.next(message_frame(Delivery::ReliableOrdered, 0, b"back"));
    p.send(&mut h, &hi);
    assert_eq!(
        messages_of(&h.take_events(), new_peer),
        vec![b"back".to_vec()]
    );
    for _ in 0..15 {
        h.run_for(ms(200));
        let keepalive = p.next(wire::emit_ping);
        p.send(&mut h, &keepalive);
    }
    assert_eq!(h.server.peers(), vec![new_peer]);
    let stray: Vec<_> = h
        .take_events()
        .into_iter()
        .filter(|e| !matches!(e, ServerEvent::Message { .. }))
        .collect();
    assert!(
        stray.is_empty(),
        "the replaced session raised events later: {stray:?}"
    );
}

// ---------------------------------------------------------------------------
// 4. Forged and replayed data packets
// ---------------------------------------------------------------------------

#[test]
fn forged_and_replayed_data_packets_are_dropped_counted_and_change_nothing() {
    let _serial = serial();
    let net = SimNetwork::new(SEED + 5);
    let timeout = secs(2);
    let config = Config {
        timeout,
        ..Config::default()
    };
    let mut h = Harness::new(net.clone(), config);
    let mut p = RawPeer::connect(&mut h, v4(4, 0, 1, 5000), 41);
    let mut w = net.bind(v4(4, 0, 2, 5000)).unwrap();

    // Two genuine packets, recorded as an eavesdropper would.
    let captured_1 = p.next(|out| {
        emit_msg(out, Delivery::ReliableOrdered, 0, b"genuine");
        wire::emit_ping(out);
    });
    let captured_2 = p.next(wire::emit_ping);
    p.send(&mut h, &captured_1);
    p.send(&mut h, &captured_2);
    assert_eq!(
        messages_of(&h.take_events(), p.peer),
        vec![b"genuine".to_vec()]
    );
    h.run_for(ms(5));

    let stats0 = h.server.stats();
    let m0 = h.server.metrics(p.peer).unwrap();
    let next_seq = p.seq;
    let forged = |token: u32| {
        data_packet(token, next_seq, 1, u32::MAX, |out| {
            emit_msg(out, Delivery::ReliableOrdered, 1, b"forged");
        })
    };
    // Wrong token from the right address; right token from the wrong address.
    p.send(&mut h, &forged(p.token ^ 0x5A5A_0001));
    h.inject(&mut w, &forged(p.token));
    // A Disconnect both ways: wrong token from the peer's address, right
    // token from another address.
    let disconnect = |token: u32| {
        data_packet(token, next_seq, 0, 0, |out| {
            wire::emit_disconnect(out, 1, "")
        })
    };
    p.send(&mut h, &disconnect(p.token.wrapping_add(1)));
    h.inject(&mut w, &disconnect(p.token));
    h.run_for(ms(5));

    let stats1 = h.server.stats();
    let m1 = h.server.metrics(p.peer).expect("peer still there");
    assert_eq!(stats1.invalid_datagrams - stats0.invalid_datagrams, 4);
    assert_eq!(
        m1.invalid_packets - m0.invalid_packets,
        2,
        "the peer's address, wrong token"
    );
    assert!(h.take_events().is_empty(), "no message, no disconnect");
    assert_eq!(h.server.peers(), vec![p.peer]);
    assert_eq!(
        (
            m1.in_packets,
            m1.in_messages,
            m1.packets_acked,
            m1.duplicates_dropped
        ),
        (
            m0.in_packets,
            m0.in_messages,
            m0.packets_acked,
            m0.duplicates_dropped
        ),
        "forged packets changed the connection"
    );
    assert_eq!(
        net.bytes_between(server_addr(), w.local_addr()),
        0,
        "no reply to forgeries"
    );

    // The sequence number the forgeries used is still fresh for the real peer.
    let real = p.next(message_frame(Delivery::ReliableOrdered, 1, b"real"));
    p.send(&mut h, &real);
    assert_eq!(
        messages_of(&h.take_events(), p.peer),
        vec![b"real".to_vec()]
    );

    // Replayed at once: duplicates.
    let m2 = h.server.metrics(p.peer).unwrap();
    p.send(&mut h, &captured_2);
    p.send(&mut h, &real);
    let m3 = h.server.metrics(p.peer).unwrap();
    assert_eq!(m3.duplicates_dropped - m2.duplicates_dropped, 2);
    assert_eq!(m3.in_messages, m2.in_messages);

    // The peer moves on by 4 300 packets; a replay of the first capture is now
    // older than the 4096-packet receive history: late, and dropped whole.
    for _ in 0..4_300 {
        let mut ack_only = p.next(|_| {});
        lentil::crypto::append_crc(&mut ack_only);
        p.sock.send_to(&ack_only, server_addr()).unwrap();
    }
    h.tick();
    let m4 = h.server.metrics(p.peer).unwrap();
    p.send(&mut h, &captured_1);
    let m5 = h.server.metrics(p.peer).unwrap();
    assert_eq!(m5.late_packets - m4.late_packets, 1);
    assert_eq!(
        m5.duplicates_dropped, m4.duplicates_dropped,
        "no frame read"
    );
    assert_eq!(m5.in_messages, m4.in_messages);
    assert!(messages_of(&h.take_events(), p.peer).is_empty());

    // The peer falls silent. Replays of everything captured, every 100 ms,
    // must not keep it alive: it times out `timeout` after its last new packet.
    let last_new = h.now();
    let replays = [captured_1.clone(), captured_2.clone(), real.clone()];
    let timed_out_at = loop {
        assert!(h.now() - last_new < timeout + secs(1), "never timed out");
        if (h.now() - last_new).as_millis() % 100 == 50 {
            for r in &replays {
                p.send(&mut h, r);
            }
        }
        h.tick();
        let events = h.take_events();
        if let Some(e) = events
            .iter()
            .find(|e| matches!(e, ServerEvent::Error { .. }))
        {
            assert_eq!(
                *e,
                ServerEvent::Error {
                    peer: p.peer,
                    error: Error::TimedOut(timeout)
                }
            );
            break h.now();
        }
        assert!(events.is_empty(), "replays delivered something: {events:?}");
    };
    let silent_for = timed_out_at - last_new;
    assert!(
        silent_for >= timeout && silent_for <= timeout + ms(2),
        "timed out {silent_for:?} after the last new packet (timeout {timeout:?})"
    );
    assert_eq!(h.server.peer_count(), 0);
}

// ---------------------------------------------------------------------------
// 5. A peer that lies
// ---------------------------------------------------------------------------

#[test]
fn lying_peer_cannot_hurt_the_server_or_honest_clients() {
    let _serial = serial();
    let net = SimNetwork::new(SEED + 6);
    let config = Config::default();
    let mut h = Harness::new(net.clone(), config.clone());
    h.connect_honest(1, &config);
    h.streaming = true;
    let mut liar = RawPeer::connect(&mut h, v4(5, 0, 1, 5000), 51);
    let mut other = RawPeer::connect(&mut h, v4(5, 0, 2, 5000), 52);
    h.run_for(ms(600)); // the server has pinged the liars by now

    // Acks for packets never sent: every value, all bits set.
    let m0 = h.server.metrics(liar.peer).unwrap();
    for ack in [30_000u16, 0x8000, 65_535, 0, m0.out_packets as u16 + 40] {
        let lie = data_packet(liar.token, liar.seq, ack, u32::MAX, |out| {
            wire::emit_ping(out)
        });
        liar.seq = liar.seq.wrapping_add(1);
        liar.send(&mut h, &lie);
        h.run_for(ms(20));
    }
    let m1 = h
        .server
        .metrics(liar.peer)
        .expect("the liar is still connected");
    assert_eq!(
        m1.packets_acked, m0.packets_acked,
        "acks for packets never sent were credited ({} packets sent)",
        m1.out_packets
    );
    assert!(
        m1.latency < ms(50),
        "rtt from fictitious acks: {:?}",
        m1.latency
    );

    // Frames whose lengths run past the packet's end: dropped and counted,
    // with the valid frame before them; the connection stays open.
    let before = h.server.metrics(liar.peer).unwrap().invalid_packets;
    let mut truncated = liar.next(|out| {
        emit_msg(out, Delivery::ReliableOrdered, 0, b"valid first");
        emit_msg(out, Delivery::Reliable, 0, &[7u8; 200]);
    });
    truncated.truncate(truncated.len() - 150);
    liar.send(&mut h, &truncated);
    let mut cut_disconnect = liar.next(|out| wire::emit_disconnect(out, 4, "bye bye bye"));
    cut_disconnect.truncate(cut_disconnect.len() - 4);
    liar.send(&mut h, &cut_disconnect);
    let huge_len = liar.next(|out| {
        out.push(0x01); // Unreliable
        wire::write_varint(out, 60_000);
        out.extend_from_slice(b"short");
    });
    liar.send(&mut h, &huge_len);
    h.run_for(ms(10));
    assert_eq!(
        h.server.metrics(liar.peer).unwrap().invalid_packets - before,
        3
    );
    assert!(messages_of(&h.take_events(), liar.peer).is_empty());
    let ok = liar.next(message_frame(Delivery::ReliableOrdered, 0, b"well formed"));
    liar.send(&mut h, &ok);
    assert_eq!(
        messages_of(&h.take_events(), liar.peer),
        vec![b"well formed".to_vec()]
    );

    // A Disconnect carrying another connection's token, from the liar's
    // address (and the liar's own token from the other's address).
    let cross = data_packet(other.token, 500, 0, 0, |out| {
        wire::emit_disconnect(out, 1, "")
    });
    liar.send(&mut h, &cross);
    let cross = data_packet(liar.token, 500, 0, 0, |out| {
        wire::emit_disconnect(out, 1, "")
    });
    other.send(&mut h, &cross);
    h.run_for(ms(10));
    assert!(
        h.take_events().is_empty(),
        "a cross-token Disconnect disconnected someone"
    );
    let peers = h.server.peers();
    assert!(peers.contains(&liar.peer) && peers.contains(&other.peer));

    // A reliable message id beyond the receive window: the liar is dropped
    // as a protocol violator, on either reliable channel.
    let beyond = liar.next(message_frame(Delivery::ReliableOrdered, 30_000, b"x"));
    liar.send(&mut h, &beyond);
    let beyond = other.next(message_frame(
        Delivery::Reliable,
        config.reliable_window + 5,
        b"x",
    ));
    other.send(&mut h, &beyond);
    h.run_for(ms(5));
    let events = h.take_events();
    for peer in [liar.peer, other.peer] {
        let error = events
            .iter()
            .find_map(|e| match e {
                ServerEvent::Error { peer: p, error } if *p == peer => Some(error.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("peer {peer} not dropped: {events:?}"));
        assert!(matches!(error, Error::ProtocolViolation(_)), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("message id beyond the receive window"),
            "{error}"
        );
        assert!(!h.server.peers().contains(&peer));
    }
    // What it sends afterwards is a stranger's datagram; no new session.
    let invalid = h.server.stats().invalid_datagrams;
    let after = liar.next(message_frame(Delivery::ReliableOrdered, 1, b"x"));
    liar.send(&mut h, &after);
    assert_eq!(h.server.stats().invalid_datagrams, invalid + 1);
    assert_eq!(h.server.peer_count(), 1);

    // The honest client delivered throughout and still does.
    h.run_for(ms(200));
    h.finish_honest();
    assert!(h.sent[0] > 800);
}

// ---------------------------------------------------------------------------
// 6. Garbage
// ---------------------------------------------------------------------------

#[test]
fn random_garbage_from_many_addresses_is_counted_and_harmless() {
    let _serial = serial();
    let net = SimNetwork::new(SEED + 7);
    let config = Config::default();
    let mut h = Harness::new(net.clone(), config.clone());
    h.connect_honest(1, &config);
    h.streaming = true;
    h.run_for(ms(100));
    let mut senders: Vec<SimSocket> = (0..100u8)
        .map(|i| net.bind(v4(6, 0, i, 4000 + u16::from(i))).unwrap())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 7);
    let before = h.server.stats();
    let honest_invalid = h
        .server
        .metrics(h.honest_peers[0].0)
        .unwrap()
        .invalid_packets;

    const GARBAGE: usize = 10_000;
    for round in 0..GARBAGE / 10 {
        for j in 0..10 {
            let len = rng.gen_range(0..1500);
            let mut d = vec![0u8; len];
            rng.fill(&mut d[..]);
            // One datagram in four opens like a real packet (kind byte, and
            // for handshake kinds the magic and version) to get deeper into
            // the parser before the randomness starts.
            if len > 0 && rng.gen_bool(0.25) {
                d[0] = [0x01, 0x03, 0x06][rng.gen_range(0..3)];
                if d[0] != 0x06 && len >= 7 {
                    d[1..5].copy_from_slice(&MAGIC);
                    d[5..7].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
                }
            }
            let n = senders.len();
            let s = &mut senders[(round * 10 + j) % n];
            s.send_to(&d, server_addr()).unwrap();
        }
        h.tick();
    }
    h.run_for(ms(50));
    let after = h.server.stats();
    let delta = |f: fn(&lentil::ServerStats) -> u64| f(&after) - f(&before);

    assert_eq!(delta(|s| s.accepted), 0, "garbage created a peer");
    assert_eq!(h.server.peer_count(), 1);
    let garbage_in = GARBAGE as u64;
    let accounted = delta(|s| s.invalid_datagrams)
        + delta(|s| s.bad_cookies)
        + delta(|s| s.challenges_sent)
        + delta(|s| s.rejected)
        + delta(|s| s.ignored_not_accepting);
    assert!(delta(|s| s.datagrams_in) >= garbage_in);
    assert_eq!(
        accounted, garbage_in,
        "every garbage datagram is counted once"
    );
    assert_eq!(
        h.server
            .metrics(h.honest_peers[0].0)
            .unwrap()
            .invalid_packets,
        honest_invalid,
        "strangers' garbage is not charged to the honest peer"
    );
    for s in &senders {
        let (inb, out) = (
            net.bytes_between(s.local_addr(), server_addr()),
            net.bytes_between(server_addr(), s.local_addr()),
        );
        assert!(
            out <= inb,
            "{}: {out} bytes out for {inb} in",
            s.local_addr()
        );
    }
    eprintln!(
        "garbage: invalid {}, bad cookies {}, challenges {}, rejected {}",
        delta(|s| s.invalid_datagrams),
        delta(|s| s.bad_cookies),
        delta(|s| s.challenges_sent),
        delta(|s| s.rejected)
    );
    h.finish_honest();
    assert!(h.honest[0].is_connected());
}

// ---------------------------------------------------------------------------
// Known holes (ignored until src/ is fixed; see the reasons)
// ---------------------------------------------------------------------------

/// A packet captured long ago is replayed after the peer has sent more than
/// half the 16-bit sequence space since: it must still not count as new.
#[test]
fn replay_from_before_the_sequence_wrap_does_not_keep_a_silent_peer_alive() {
    let _serial = serial();
    let net = SimNetwork::new(SEED + 8);
    let timeout = secs(2);
    let config = Config {
        timeout,
        ..Config::default()
    };
    let mut h = Harness::new(net.clone(), config);
    let mut p = RawPeer::connect(&mut h, v4(8, 0, 1, 5000), 81);
    let captured = p.next(wire::emit_ping);
    p.send(&mut h, &captured);
    // 40 000 more packets (ten minutes of a 60 Hz game), then silence.
    for _ in 0..10 {
        for _ in 0..4_000 {
            let mut ack_only = p.next(|_| {});
            lentil::crypto::append_crc(&mut ack_only);
            p.sock.send_to(&ack_only, server_addr()).unwrap();
        }
        h.tick();
    }
    let last_new = h.now();
    h.run_for(secs(1));
    p.send(&mut h, &captured);
    let timed_out_at = loop {
        h.tick();
        if h.take_events()
            .iter()
            .any(|e| matches!(e, ServerEvent::Error { .. }))
        {
            break h.now();
        }
        assert!(h.now() - last_new < secs(10), "never timed out");
    };
    let silent_for = timed_out_at - last_new;
    assert!(
        silent_for <= timeout + ms(2),
        "a replay kept the silent peer alive: timed out {silent_for:?} after its last \
         new packet (timeout {timeout:?})"
    );
}

/// Out-of-order messages wait in the reorder queue; a hostile peer sending
/// each 1-byte message in a 60 KB datagram must not make the server hold
/// 60 KB per byte held.
#[test]
fn held_out_of_order_messages_do_not_pin_whole_datagrams() {
    let _serial = serial();
    let net = SimNetwork::new(SEED + 9);
    let mut h = Harness::new(net.clone(), Config::default());
    let mut p = RawPeer::connect(&mut h, v4(9, 0, 1, 5000), 91);
    h.run_for(ms(10));
    let before = live_bytes();
    // Ids 1..=200 while 0 is "lost": all 200 are held. Each datagram is
    // padded with 60 000 ping frames (one byte each, all valid).
    for id in 1..=200u16 {
        let d = p.next(|out| {
            emit_msg(out, Delivery::ReliableOrdered, id, b"x");
            out.resize(out.len() + 60_000, 0x10);
        });
        p.send(&mut h, &d);
    }
    h.run_for(ms(10));
    let grew = live_bytes() - before;
    let held = h.server.metrics(p.peer).map_or(0, |m| m.reorder_queue);
    assert!(
        grew < 1024 * 1024,
        "{held} held one-byte messages keep {grew} bytes alive"
    );
}
