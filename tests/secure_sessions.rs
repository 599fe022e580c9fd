//! Sessions under damage and under attack, with packet protection on (the
//! default): corruption, truncation and garbage on the simulated network;
//! an on-path attacker that sees, injects, replays and spoofs; connect
//! tokens (expiry, another server, reuse); a pinned server key; and the
//! insecure-mode mismatch. Token and mismatch tests run again on loopback UDP.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{ms, run_seeds, secs, Net};
use lentil::crypto::{StaticKey, TokenKey};
use lentil::proto::handshake::ClientHandshake;
use lentil::transport::sim::SimSocket;
use lentil::transport::Socket;
use lentil::wire::{self, DataHeader, Packet};
use lentil::{
    Client, ClientEvent, Config, Delivery, LinkConditioner, RejectReason, Server, ServerEvent,
    SimNetwork,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SERVER: &str = "10.0.0.1:9000";
const PROXY: &str = "10.0.0.2:9000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Message `i`: its number, then 28 bytes derived from it.
fn message(i: u32) -> Vec<u8> {
    let mut m = i.to_be_bytes().to_vec();
    m.extend((0..28u32).map(|k| (i.wrapping_mul(31).wrapping_add(k * 7)) as u8));
    m
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------
// Corruption, truncation and garbage
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct DamageReport {
    delivered_in_order: bool,
    count: usize,
    intact: bool,
    disconnected: bool,
    finished_at: Option<Duration>,
    auth_failures: u64,
    corrupted: u64,
    truncated: u64,
}

fn damaged_run(seed: u64) -> DamageReport {
    const COUNT: u32 = 10_000;
    let net = SimNetwork::new(seed);
    net.set_conditioner(
        LinkConditioner::new()
            .corrupt(0.02)
            .truncate(0.02)
            .latency(ms(10))
            .jitter(ms(2)),
    );
    let mut server = Server::sandbox(Config::default(), &net);
    server.listen(SERVER).unwrap();
    let mut client = Client::sandbox(Config::default(), &net);
    client.connect(SERVER).unwrap();
    let mut garbage: SimSocket = net.bind(addr("10.9.9.9:1234")).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xdead);
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut disconnected = false;
    let mut next = 0u32;
    let mut finished_at = None;
    let start = net.clock().elapsed();
    for _ in 0..60_000 {
        // 2 garbage datagrams per 1 ms tick: 2,000 per second, some dressed
        // as data packets.
        for _ in 0..2 {
            let len = rng.gen_range(1..1400);
            let mut g: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if rng.gen_bool(0.5) {
                g[0] = 0x06;
            }
            let _ = garbage.send_to(&g, addr(SERVER));
        }
        while next < COUNT && client.is_connected() {
            if client
                .send(message(next), Delivery::ReliableOrdered)
                .is_err()
            {
                break;
            }
            next += 1;
        }
        for e in server.update_events() {
            match e {
                ServerEvent::Message { message, .. } => got.push(message.payload.to_vec()),
                ServerEvent::Disconnected { .. } | ServerEvent::Error { .. } => disconnected = true,
                _ => {}
            }
        }
        for e in client.update_events() {
            if matches!(e, ClientEvent::Disconnected(_) | ClientEvent::Error(_)) {
                disconnected = true;
            }
        }
        if got.len() >= COUNT as usize {
            finished_at = Some(net.clock().elapsed() - start);
            break;
        }
        net.clock().advance(ms(1));
    }
    let peer = server.peers().first().copied();
    DamageReport {
        delivered_in_order: got
            .iter()
            .enumerate()
            .all(|(i, m)| m[..4] == (i as u32).to_be_bytes()),
        count: got.len(),
        intact: got.iter().enumerate().all(|(i, m)| *m == message(i as u32)),
        disconnected,
        finished_at,
        auth_failures: peer
            .and_then(|p| server.metrics(p))
            .map_or(0, |m| m.auth_failures)
            + client.metrics().auth_failures,
        corrupted: net.stats().corrupted,
        truncated: net.stats().truncated,
    }
}

#[test]
fn ten_thousand_ordered_messages_survive_flips_truncation_and_garbage_on_20_seeds() {
    let reports = run_seeds(1..=20, damaged_run);
    for (seed, r) in (1..=20).zip(&reports) {
        assert_eq!(
            r.count, 10_000,
            "seed {seed}: exactly once, none missing: {r:?}"
        );
        assert!(r.delivered_in_order && r.intact, "seed {seed}: {r:?}");
        assert!(!r.disconnected, "seed {seed}: {r:?}");
        // No stall: 10,000 messages of 32 bytes at 10 ms latency finish in seconds.
        assert!(
            r.finished_at.is_some_and(|t| t < secs(30)),
            "seed {seed}: {r:?}"
        );
        assert!(
            r.corrupted > 0 && r.truncated > 0,
            "seed {seed}: damage happened: {r:?}"
        );
        assert!(
            r.auth_failures > 0,
            "seed {seed}: damaged packets dropped and counted: {r:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// An on-path attacker
// ---------------------------------------------------------------------------

/// A relay between a client (which connects to `PROXY`) and the server: the
/// attacker on the path. It sees every datagram, and can send anything from
/// the address the server knows the client by.
struct OnPath {
    /// Toward the server, from the address the server sees as the client's.
    to_server: SimSocket,
    /// Toward the client, from the address the client sees as the server's.
    to_client: SimSocket,
    client_addr: Option<SocketAddr>,
    seen_c2s: Vec<Vec<u8>>,
    seen_s2c: Vec<Vec<u8>>,
}

impl OnPath {
    fn new(net: &SimNetwork) -> Self {
        OnPath {
            to_server: net.bind(addr("10.0.0.3:7000")).unwrap(),
            to_client: net.bind(addr(PROXY)).unwrap(),
            client_addr: None,
            seen_c2s: Vec::new(),
            seen_s2c: Vec::new(),
        }
    }

    fn relay(&mut self) {
        let mut buf = vec![0u8; 2048];
        while let Ok(Some((len, from))) = self.to_client.recv_from(&mut buf) {
            self.client_addr = Some(from);
            self.seen_c2s.push(buf[..len].to_vec());
            let _ = self.to_server.send_to(&buf[..len], addr(SERVER));
        }
        while let Ok(Some((len, _))) = self.to_server.recv_from(&mut buf) {
            self.seen_s2c.push(buf[..len].to_vec());
            if let Some(c) = self.client_addr {
                let _ = self.to_client.send_to(&buf[..len], c);
            }
        }
    }
}

struct World {
    net: SimNetwork,
    server: Server,
    client: Client,
    path: OnPath,
    server_got: Vec<Vec<u8>>,
    client_got: Vec<Vec<u8>>,
    server_events: Vec<ServerEvent>,
    client_events: Vec<ClientEvent>,
}

impl World {
    fn new(seed: u64) -> Self {
        let net = SimNetwork::new(seed);
        let mut server = Server::sandbox(Config::default(), &net);
        server.listen(SERVER).unwrap();
        let path = OnPath::new(&net);
        let mut client = Client::sandbox(Config::default(), &net);
        client.connect(PROXY).unwrap();
        let mut w = World {
            net,
            server,
            client,
            path,
            server_got: Vec::new(),
            client_got: Vec::new(),
            server_events: Vec::new(),
            client_events: Vec::new(),
        };
        w.run(ms(200));
        assert!(w.client.is_connected(), "connected through the relay");
        w
    }

    fn step(&mut self) {
        self.path.relay();
        for e in self.server.update_events() {
            match e {
                ServerEvent::Message { message, .. } => {
                    self.server_got.push(message.payload.to_vec())
                }
                other => self.server_events.push(other),
            }
        }
        self.path.relay();
        for e in self.client.update_events() {
            match e {
                ClientEvent::Message(m) => self.client_got.push(m.payload.to_vec()),
                other => self.client_events.push(other),
            }
        }
        self.net.clock().advance(ms(1));
    }

    fn run(&mut self, d: Duration) {
        for _ in 0..d.as_millis() {
            self.step();
        }
    }

    fn inject_to_server(&mut self, bytes: &[u8]) {
        self.path.to_server.send_to(bytes, addr(SERVER)).unwrap();
        self.step();
    }

    fn inject_to_client(&mut self, bytes: &[u8]) {
        let c = self.path.client_addr.unwrap();
        self.path.to_client.send_to(bytes, c).unwrap();
        self.step();
    }

    /// The newest data header seen in `dir`'s capture.
    fn last_header(seen: &[Vec<u8>]) -> DataHeader {
        seen.iter()
            .rev()
            .find_map(|d| match Packet::parse(d) {
                Ok(Packet::Data { header, .. }) => Some(header),
                _ => None,
            })
            .expect("a data packet was seen")
    }
}

/// A forged data packet in the clear: the captured header moved on by
/// `ahead`, then a message frame and a disconnect frame, then 16 bytes
/// standing for a tag.
fn forged(header: DataHeader, ahead: u16, body: &[u8], disconnect: bool) -> Vec<u8> {
    let mut out = Vec::new();
    DataHeader {
        seq: header.seq.wrapping_add(ahead),
        ..header
    }
    .emit(&mut out);
    let channel = Config::default()
        .channel_for(Delivery::ReliableOrdered)
        .unwrap();
    for id in 0..64u16 {
        wire::emit_message(
            &mut out,
            &wire::MessageHeader {
                delivery: Delivery::ReliableOrdered,
                channel,
                id,
                fragment: None,
            },
            body,
        );
    }
    if disconnect {
        wire::emit_disconnect(&mut out, 1, "");
    }
    out.extend_from_slice(&[0u8; 16]);
    out
}

#[test]
fn on_path_attacker_reads_injects_ends_and_replaces_nothing() {
    let mut w = World::new(7);
    const SECRET: &[u8] = b"the password is swordfish";
    for i in 0..50u32 {
        let mut m = SECRET.to_vec();
        m.extend_from_slice(&i.to_be_bytes());
        w.client.send(&m, Delivery::ReliableOrdered).unwrap();
        let peer = w.server.peers()[0];
        w.server.send(peer, &m, Delivery::ReliableOrdered).unwrap();
        w.step();
    }
    w.run(ms(200));
    assert_eq!(w.server_got.len(), 50);
    assert_eq!(w.client_got.len(), 50);
    let peer = w.server.peers()[0];

    // Reads nothing: no captured datagram holds the payload.
    for d in w.path.seen_c2s.iter().chain(&w.path.seen_s2c) {
        assert!(
            !d.windows(SECRET.len()).any(|x| x == SECRET),
            "payload in clear"
        );
    }

    // Injects nothing, ends nothing: forged packets with the right token
    // and fresh sequence numbers, carrying messages and a disconnect, to
    // both ends.
    let c2s = World::last_header(&w.path.seen_c2s);
    let s2c = World::last_header(&w.path.seen_s2c);
    let before_server = w.server.metrics(peer).unwrap().auth_failures;
    let before_client = w.client.metrics().auth_failures;
    for ahead in 1..20u16 {
        w.inject_to_server(&forged(c2s, ahead, b"injected", true));
        w.inject_to_client(&forged(s2c, ahead, b"injected", true));
    }
    // Every captured packet flipped in one bit, sent again.
    let captured: Vec<Vec<u8>> = w.path.seen_c2s.clone();
    for (i, d) in captured
        .iter()
        .enumerate()
        .filter(|(_, d)| wire::is_data(d))
    {
        let mut d = d.clone();
        let bit = i % (d.len() * 8);
        d[bit / 8] ^= 1 << (bit % 8);
        w.inject_to_server(&d);
    }
    w.run(ms(100));
    assert!(w.server.metrics(peer).unwrap().auth_failures > before_server + 19);
    assert!(w.client.metrics().auth_failures >= before_client + 19);
    assert_eq!(
        w.server_got.len(),
        50,
        "nothing injected reached the server's game"
    );
    assert_eq!(
        w.client_got.len(),
        50,
        "nothing injected reached the client's game"
    );
    assert!(w.client.is_connected());
    assert_eq!(w.server.peers(), vec![peer]);

    // Replays deliver nothing: every captured packet again, to each side.
    let before = w.server.metrics(peer).unwrap().replays_dropped;
    let (c2s_all, s2c_all) = (w.path.seen_c2s.clone(), w.path.seen_s2c.clone());
    for d in c2s_all.iter().filter(|d| wire::is_data(d)) {
        w.inject_to_server(d);
    }
    for d in s2c_all.iter().filter(|d| wire::is_data(d)) {
        w.inject_to_client(d);
    }
    assert!(w.server.metrics(peer).unwrap().replays_dropped > before);
    // Push the window far past the first captures, then replay them again:
    // older than the window, they still deliver nothing.
    for i in 0..6000u32 {
        let _ = w.client.send(message(i), Delivery::Unreliable);
        w.step();
    }
    let got_before = w.server_got.len();
    for d in c2s_all.iter().filter(|d| wire::is_data(d)).take(20) {
        w.inject_to_server(d);
    }
    w.run(ms(50));
    let replayed_now = w.server_got[got_before..]
        .iter()
        .filter(|m| m.starts_with(SECRET))
        .count();
    assert_eq!(
        replayed_now, 0,
        "a replay older than the window delivers nothing"
    );

    // Replaces nothing: a whole new handshake from the client's address
    // (request, then the response once the challenge is in).
    let t = std::time::Instant::now();
    let mut hs = ClientHandshake::new(&Config::default(), 0xBAD, t);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    for _ in 0..3 {
        if hs.poll_transmit(t, &mut out) {
            let _ = w.path.to_server.send_to(&out, addr(SERVER));
        }
        let events: Vec<ServerEvent> = w.server.update_events().collect();
        w.server_events.extend(events);
        while let Ok(Some((len, _))) = w.path.to_server.recv_from(&mut buf) {
            if let Ok(p) = Packet::parse(&buf[..len]) {
                hs.handle(&p);
            }
        }
    }
    w.run(ms(100));
    assert_eq!(w.server.peers(), vec![peer], "the session was not replaced");
    assert!(w.server.stats().ignored_live_session > 0);
    assert!(
        !w.server_events.iter().any(|e| matches!(
            e,
            ServerEvent::Error { .. } | ServerEvent::Disconnected { .. }
        )),
        "{:?}",
        w.server_events
    );
    assert!(
        !w.client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::Error(_) | ClientEvent::Disconnected(_))),
        "{:?}",
        w.client_events
    );

    // The session still works both ways.
    w.client.send(b"after", Delivery::ReliableOrdered).unwrap();
    w.server
        .send(peer, b"after", Delivery::ReliableOrdered)
        .unwrap();
    w.run(ms(200));
    assert_eq!(w.server_got.last().map(Vec::as_slice), Some(&b"after"[..]));
    assert_eq!(w.client_got.last().map(Vec::as_slice), Some(&b"after"[..]));
}

// ---------------------------------------------------------------------------
// Connect tokens, pinned keys, modes
// ---------------------------------------------------------------------------

fn token_server(net: &Net, key: &TokenKey) -> Server {
    net.server(Config {
        token_key: Some(key.clone()),
        ..net.config()
    })
}

fn client_with(net: &Net, config: Config, to: SocketAddr) -> Client {
    let mut c = net.client(config);
    c.connect(to).unwrap();
    c
}

/// Pumps until the client connects or is refused; returns the refusal.
fn outcome(net: &Net, server: &mut Server, client: &mut Client) -> Result<(), String> {
    let mut result = None;
    net.run_until(secs(3), || {
        server.update();
        for e in client.update_events() {
            match e {
                ClientEvent::ConnectAccepted => result = Some(Ok(())),
                ClientEvent::ConnectRejected(r) => result = Some(Err(r.to_string())),
                ClientEvent::Error(e) => result = Some(Err(e.to_string())),
                _ => {}
            }
        }
        result.is_some()
    });
    result.unwrap_or_else(|| Err("no answer".into()))
}

fn tokens(net: &Net) {
    let key = TokenKey::random();
    let mut server = token_server(net, &key);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    server.on_connect_request(move |_, info| {
        s2.lock()
            .unwrap()
            .push((info.client_id, info.user_data.to_vec()));
        Ok(())
    });
    let at = server.local_addr().unwrap();
    let refused = RejectReason::TokenRefused.to_string();

    let good = key
        .mint(77, b"account=alice", &[at], unix_now() + 60)
        .unwrap();
    let config = |t: Option<lentil::crypto::ConnectToken>| Config {
        connect_token: t,
        ..net.config()
    };
    let mut c = client_with(net, config(Some(good.clone())), at);
    assert_eq!(outcome(net, &mut server, &mut c), Ok(()));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(Some(77), b"account=alice".to_vec())]
    );

    // Used before: refused, as is no token, an expired one, one for another
    // server, and one from another backend.
    let mut again = client_with(net, config(Some(good)), at);
    assert_eq!(outcome(net, &mut server, &mut again), Err(refused.clone()));
    let mut none = client_with(net, config(None), at);
    assert_eq!(outcome(net, &mut server, &mut none), Err(refused.clone()));
    let expired = key.mint(78, b"", &[at], unix_now() - 1).unwrap();
    let mut c = client_with(net, config(Some(expired)), at);
    assert_eq!(outcome(net, &mut server, &mut c), Err(refused.clone()));
    let elsewhere = key
        .mint(79, b"", &[addr("192.0.2.1:1")], unix_now() + 60)
        .unwrap();
    let mut c = client_with(net, config(Some(elsewhere)), at);
    assert_eq!(outcome(net, &mut server, &mut c), Err(refused.clone()));
    let foreign = TokenKey::random()
        .mint(80, b"", &[at], unix_now() + 60)
        .unwrap();
    let mut c = client_with(net, config(Some(foreign)), at);
    assert_eq!(outcome(net, &mut server, &mut c), Err(refused));
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "no refused client reached the handler"
    );
    assert_eq!(server.peer_count(), 1);
}

#[test]
fn connect_tokens_admit_once_and_refuse_expired_misdirected_and_foreign_sim() {
    tokens(&Net::sim(11));
}

#[test]
fn connect_tokens_admit_once_and_refuse_expired_misdirected_and_foreign_udp() {
    tokens(&Net::udp());
}

fn modes(net: &Net) {
    let mut server = net.server(net.config());
    let at = server.local_addr().unwrap();
    let mut c = client_with(
        net,
        Config {
            insecure: true,
            ..net.config()
        },
        at,
    );
    assert_eq!(
        outcome(net, &mut server, &mut c),
        Err(RejectReason::ModeMismatch {
            server_insecure: false
        }
        .to_string())
    );
    let mut insecure = net.server(Config {
        insecure: true,
        ..net.config()
    });
    let at = insecure.local_addr().unwrap();
    let mut c = client_with(net, net.config(), at);
    assert_eq!(
        outcome(net, &mut insecure, &mut c),
        Err(RejectReason::ModeMismatch {
            server_insecure: true
        }
        .to_string())
    );
    let mut c = client_with(
        net,
        Config {
            insecure: true,
            ..net.config()
        },
        at,
    );
    assert_eq!(outcome(net, &mut insecure, &mut c), Ok(()), "both insecure");
}

#[test]
fn insecure_mode_mismatch_is_a_typed_rejection_sim() {
    modes(&Net::sim(12));
}

#[test]
fn insecure_mode_mismatch_is_a_typed_rejection_udp() {
    modes(&Net::udp());
}

#[test]
fn pinned_server_key_connects_only_to_that_server() {
    let net = Net::sim(13);
    let identity = StaticKey::random();
    let mut server = net.server(Config {
        static_key: Some(identity.clone()),
        ..net.config()
    });
    assert_eq!(server.static_public_key(), identity.public());
    let at = server.local_addr().unwrap();
    let pinned = |key: [u8; 32]| Config {
        server_public_key: Some(key),
        timeout: secs(1),
        ..net.config()
    };
    let mut c = client_with(&net, pinned(identity.public()), at);
    assert_eq!(outcome(&net, &mut server, &mut c), Ok(()));
    let mut c = client_with(&net, pinned(StaticKey::random().public()), at);
    assert!(
        outcome(&net, &mut server, &mut c).is_err(),
        "another key: no session"
    );
    assert_eq!(server.peer_count(), 1);
}

#[test]
fn a_man_in_the_middle_completes_no_session_in_token_or_pinned_mode() {
    // The attacker terminates the client's handshake with a lentil server of
    // its own (its own static key, no token key), and could relay whatever
    // it likes to the real one: it never gets a session with the client.
    let net = Net::sim(14);
    let key = TokenKey::random();
    let mut real = token_server(&net, &key);
    let real_addr = real.local_addr().unwrap();
    let mut mitm = net.server(Config {
        token_key: Some(TokenKey::random()),
        ..net.config()
    });
    let mitm_addr = mitm.local_addr().unwrap();
    let token = key.mint(1, b"", &[real_addr], unix_now() + 60).unwrap();
    let mut c = client_with(
        &net,
        Config {
            connect_token: Some(token),
            ..net.config()
        },
        mitm_addr,
    );
    assert!(outcome(&net, &mut mitm, &mut c).is_err());
    assert_eq!(mitm.peer_count(), 0);
    real.update();
    assert_eq!(real.peer_count(), 0);

    let identity = StaticKey::random();
    let mut c = client_with(
        &net,
        Config {
            server_public_key: Some(identity.public()),
            timeout: secs(1),
            ..net.config()
        },
        mitm_addr,
    );
    assert!(outcome(&net, &mut mitm, &mut c).is_err());
    assert!(!c.is_connected());
    assert_eq!(mitm.peer_count(), 0);
}
