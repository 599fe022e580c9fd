//! A `Server` fed arbitrary datagrams from arbitrary addresses, next to one
//! honest `Client`.
//!
//! Setup (fresh on every run): a `SimNetwork`, a server listening at
//! 127.0.0.1:9000 and an honest client connected to it.
//!
//! Input: records `sel u8 | adv u8 | len u16 (big-endian) | len bytes` (the
//! last record is cut at the end of the input). `sel & 0x0f` picks one of 16
//! source addresses (a socket bound lazily on first use); `(sel >> 4) & 3` is
//! how the bytes become a datagram to the server:
//!
//! * 0: sent as they are;
//! * 1: a valid `ConnectRequest`: `nonce u64 | window u16`
//!   (missing fields are zero, the window 8192 when absent);
//! * 2: a `ChallengeResponse` to the last challenge that source received
//!   (its nonce and genuine cookie, keys exchanged, the payload sealed):
//!   `payload…`;
//! * 3: a data packet with the token of the last `Accept` that source
//!   opened, sealed under that session's keys: `seq u16 | ack u16 |
//!   ack_bits u32 | frames…`.
//!
//! Kinds 2 and 3 fall back to sending the bytes as they are while the source
//! has no challenge or token yet. After each record the server and the client
//! update and the clock advances `adv * 4` ms; every fourth record the client
//! and the server each send the other a `ReliableOrdered` message. The server
//! echoes whatever the fuzzer's peers send it, so it has data in flight to
//! hostile peers as well.
//!
//! Invariants:
//! * the honest client stays connected, and each side delivers the other's
//!   messages unchanged, in order, each once; after a heal phase of plain
//!   updates (10 ms steps, at most 10 s), all of them;
//! * the server never sends a source that has not returned a genuine, unexpired
//!   cookie more bytes than it received from it (no amplification);
//! * `peer_count()` never exceeds the sources that returned a genuine cookie,
//!   plus the honest client.

#![no_main]

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use lentil::crypto::Protection;
use lentil::proto::handshake::{ClientHandshake, HandshakeOutcome};
use lentil::proto::server_handshake::COOKIE_LIFETIME;
use lentil::transport::sim::SimSocket;
use lentil::transport::Socket;
use lentil::wire::{
    Challenge, ConnectRequest, Cookie, Packet, MAX_CONNECT_PAYLOAD, PROTOCOL_VERSION,
};
use lentil::{Client, ClientEvent, Config, Delivery, PeerId, Server, ServerEvent, SimNetwork};
use libfuzzer_sys::fuzz_target;

const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 9000);
/// Send a client message every this many records.
const SEND_EVERY: usize = 4;
/// Steps of 10 ms the heal phase may take.
const HEAL_STEPS: usize = 1000;

/// The 16 source addresses: several ports on the client's own IP (sharing its
/// per-IP reply budget), other IPv4 hosts, and IPv6 ones.
fn source_addr(i: u8) -> SocketAddr {
    let v4 = |a, b, c, d, port| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port);
    let v6 = |last, port| {
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)),
            port,
        )
    };
    let i = i & 0x0f;
    match i {
        0..=5 => v4(127, 0, 0, 1, 50_000 + u16::from(i)),
        6 => v4(10, 0, 0, 1, 1),
        7 => v4(10, 0, 0, 1, 65_535),
        8 => v4(10, 0, 0, 2, 7777),
        9 => v4(192, 168, 1, 20, 9000),
        10 => v4(0, 0, 0, 0, 9000),
        11 => v4(255, 255, 255, 255, 9000),
        12 => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 9000),
        13 => v6(1, 4000),
        14 => v6(2, 4000),
        _ => v4(127, 0, 0, 2, 9000),
    }
}

fn be_u16(b: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(..2)?.try_into().ok()?))
}

/// `b` as a big-endian u64, zero-padded on the right when short.
fn be_u64_padded(b: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = b.len().min(8);
    buf[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(buf)
}

/// A fuzzer-controlled source.
struct Source {
    addr: SocketAddr,
    socket: SimSocket,
    /// Every challenge this source received: nonce -> cookies.
    challenges: HashMap<u64, Vec<Cookie>>,
    /// The last challenge received.
    last_challenge: Option<Challenge>,
    /// The handshake of the last response sent, which opens the accept.
    handshake: Option<ClientHandshake>,
    /// The token of the last `Accept` opened.
    token: Option<u32>,
    /// That session's packet protection.
    protection: Option<Protection>,
    /// Returned a genuine, unexpired cookie: the server may now talk freely to it.
    verified: bool,
}

impl Source {
    fn drain(&mut self, buf: &mut [u8]) {
        while let Ok(Some((len, from))) = self.socket.recv_from(buf) {
            assert_eq!(from, SERVER, "only the server sends to fuzz sources");
            match Packet::parse(&buf[..len]) {
                Ok(Packet::Challenge(c)) => {
                    self.challenges.entry(c.nonce).or_default().push(c.cookie);
                    self.last_challenge = Some(c);
                }
                Ok(Packet::Accept(accept)) => {
                    if let Some(hs) = self.handshake.as_mut() {
                        if let Some(HandshakeOutcome::Accepted { token, .. }) =
                            hs.handle(&Packet::Accept(accept))
                        {
                            self.token = Some(token);
                            self.protection = hs.take_protection();
                        }
                    }
                }
                Ok(Packet::Reject(_)) | Ok(Packet::Data { .. }) => {}
                other => panic!("server sent {from} something odd: {other:?}"),
            }
        }
    }
}

struct Harness {
    net: SimNetwork,
    server: Server,
    client: Client,
    /// The server's cookie epoch (the virtual time it was made).
    epoch: Instant,
    sources: Vec<Option<Source>>,
    honest: PeerId,
    /// Peers the server reported connected.
    known_peers: HashSet<PeerId>,
    /// Client messages sent, and delivered by the server.
    sent: u32,
    delivered: u32,
    /// Server messages to the client sent, and delivered by the client.
    sent_down: u32,
    delivered_down: u32,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Harness {
    fn new() -> Self {
        let net = SimNetwork::new(0x5eed);
        let clock = net.clock();
        let epoch = clock.now();
        let mut server = Server::sandbox(Config::default(), &net);
        server.listen(SERVER).expect("listen");
        let mut client = Client::sandbox(Config::default(), &net);
        client.connect(SERVER).expect("connect");
        let mut honest = None;
        for _ in 0..20 {
            for event in server.update_events() {
                if let ServerEvent::Connected { peer, .. } = event {
                    honest = Some(peer);
                }
            }
            client.update_events().for_each(drop);
            if client.is_connected() && honest.is_some() {
                break;
            }
            clock.advance(Duration::from_millis(1));
        }
        assert!(client.is_connected(), "honest client failed to connect");
        let honest = honest.expect("server saw the honest client");
        let mut known_peers = HashSet::new();
        known_peers.insert(honest);
        Harness {
            net,
            server,
            client,
            epoch,
            sources: (0..16).map(|_| None).collect(),
            honest,
            known_peers,
            sent: 0,
            delivered: 0,
            sent_down: 0,
            delivered_down: 0,
            buf: vec![0; 65_536],
            out: Vec::with_capacity(2048),
        }
    }

    fn now_ms(&self) -> u64 {
        self.net
            .clock()
            .now()
            .saturating_duration_since(self.epoch)
            .as_millis() as u64
    }

    fn source(&mut self, i: u8) -> &mut Source {
        let net = &self.net;
        self.sources[usize::from(i & 0x0f)].get_or_insert_with(|| {
            let addr = source_addr(i);
            Source {
                addr,
                socket: net.bind(addr).expect("bind a fuzz source"),
                challenges: HashMap::new(),
                last_challenge: None,
                handshake: None,
                token: None,
                protection: None,
                verified: false,
            }
        })
    }

    /// Builds the datagram of one record into `self.out` and sends it.
    fn send_record(&mut self, sel: u8, bytes: &[u8]) {
        let now_ms = self.now_ms();
        let mut out = std::mem::take(&mut self.out);
        let mut buf = std::mem::take(&mut self.buf);
        let src = self.source(sel);
        src.drain(&mut buf);
        out.clear();
        match (sel >> 4) & 3 {
            1 => ConnectRequest {
                version: PROTOCOL_VERSION,
                nonce: be_u64_padded(bytes),
                window: bytes.get(8..).and_then(be_u16).unwrap_or(8192),
                insecure: false,
            }
            .emit(&mut out),
            2 if src.last_challenge.is_some() => {
                let c = src.last_challenge.unwrap();
                let config = Config {
                    connect_payload: bytes[..bytes.len().min(MAX_CONNECT_PAYLOAD)].to_vec(),
                    ..Config::default()
                };
                let t = Instant::now();
                let mut hs = ClientHandshake::new(&config, c.nonce, t);
                hs.poll_transmit(t, &mut out);
                hs.handle(&Packet::Challenge(c));
                if !hs.poll_transmit(t, &mut out) {
                    out.clear();
                }
                src.handshake = Some(hs);
            }
            3 if src.token.is_some() => {
                out.push(0x06);
                out.extend_from_slice(&src.token.unwrap().to_be_bytes());
                let mut head = [0u8; 8];
                let n = bytes.len().min(8);
                head[..n].copy_from_slice(&bytes[..n]);
                out.extend_from_slice(&head);
                out.extend_from_slice(bytes.get(8..).unwrap_or(&[]));
                if let Some(p) = src.protection.as_mut() {
                    p.protect(&mut out);
                }
            }
            _ => out.extend_from_slice(bytes),
        }
        // Whatever way it was built, a genuine unexpired cookie verifies the source.
        if let Ok(Packet::ChallengeResponse(resp)) = Packet::parse(&out) {
            let genuine = src
                .challenges
                .get(&resp.nonce)
                .is_some_and(|cookies| cookies.contains(&resp.cookie));
            if genuine && now_ms <= resp.cookie.expires_ms {
                // Sanity of the replica of the server's expiry rule.
                assert!(resp.cookie.expires_ms <= now_ms + COOKIE_LIFETIME.as_millis() as u64);
                src.verified = true;
            }
        }
        let _ = src.socket.send_to(&out, SERVER);
        self.out = out;
        self.buf = buf;
    }

    fn check_server_event(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::Connected { peer, addr } => {
                assert!(self.known_peers.insert(peer), "peer id {peer} reused");
                assert_ne!(peer, self.honest);
                let i = (0..16u8)
                    .find(|&i| source_addr(i) == addr)
                    .unwrap_or_else(|| panic!("accepted a peer at unknown address {addr}"));
                let src = self.sources[usize::from(i)].as_ref().expect("bound");
                assert!(src.verified, "accepted {addr} without a genuine cookie");
            }
            ServerEvent::Message { peer, message } => {
                assert!(
                    self.known_peers.contains(&peer),
                    "message from unknown peer {peer}"
                );
                if peer == self.honest {
                    assert_eq!(message.delivery, Delivery::ReliableOrdered);
                    assert_eq!(
                        message.bytes(),
                        &payload(self.delivered)[..],
                        "client message {} lost, repeated, reordered or altered",
                        self.delivered
                    );
                    self.delivered += 1;
                } else {
                    // Echo, so the server has data in flight to hostile peers too.
                    let _ = self
                        .server
                        .send_bytes(peer, message.payload, message.delivery);
                }
            }
            ServerEvent::Error { peer, error } => {
                assert_ne!(peer, self.honest, "honest peer lost: {error:?}");
            }
            ServerEvent::Disconnected { peer, reason } => {
                assert_ne!(peer, self.honest, "honest peer disconnected: {reason:?}");
            }
            other => panic!("an event this target does not check: {other:?}"),
        }
    }

    fn step(&mut self) {
        let events: Vec<ServerEvent> = self.server.update_events().collect();
        for event in events {
            self.check_server_event(event);
        }
        for event in self.client.update_events() {
            match event {
                ClientEvent::Message(message) => {
                    assert_eq!(message.delivery, Delivery::ReliableOrdered);
                    assert_eq!(
                        message.bytes(),
                        &payload(self.delivered_down)[..],
                        "server message {} lost, repeated, reordered or altered",
                        self.delivered_down
                    );
                    self.delivered_down += 1;
                }
                ClientEvent::Error(e) => panic!("honest client error: {e:?}"),
                ClientEvent::Disconnected(r) => panic!("honest client disconnected: {r:?}"),
                _ => {}
            }
        }
        assert!(self.client.is_connected(), "honest client dropped");
        self.check_invariants();
    }

    fn check_invariants(&self) {
        let mut verified = 0;
        for src in self.sources.iter().flatten() {
            if src.verified {
                verified += 1;
            } else {
                let out = self.net.bytes_between(SERVER, src.addr);
                let inn = self.net.bytes_between(src.addr, SERVER);
                assert!(
                    out <= inn,
                    "amplification: server sent {out} bytes to unverified {} after receiving {inn}",
                    src.addr
                );
            }
        }
        let peers = self.server.peer_count();
        assert!(
            peers <= verified + 1,
            "{peers} peers but only {verified} verified sources + the client"
        );
    }
}

fn payload(n: u32) -> Vec<u8> {
    let mut p = n.to_be_bytes().to_vec();
    p.extend((0..(n % 23) as u8).map(|i| i ^ 0x5a));
    p
}

fuzz_target!(|data: &[u8]| {
    let mut h = Harness::new();
    let clock = h.net.clock();

    let mut rest = data;
    let mut records = 0usize;
    while let [sel, adv, tail @ ..] = rest {
        let (len, tail) = match tail {
            [hi, lo, tail @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), tail),
            _ => (tail.len(), &[][..]),
        };
        let (bytes, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;

        h.send_record(*sel, bytes);
        h.step();
        records += 1;
        if records.is_multiple_of(SEND_EVERY) {
            h.client
                .send(&payload(h.sent), Delivery::ReliableOrdered)
                .expect("client send");
            h.sent += 1;
            h.server
                .send(h.honest, &payload(h.sent_down), Delivery::ReliableOrdered)
                .expect("server send");
            h.sent_down += 1;
        }
        clock.advance(Duration::from_millis(u64::from(*adv) * 4));
    }

    // Heal: plain updates until every honest message has arrived.
    for _ in 0..HEAL_STEPS {
        if h.delivered == h.sent && h.delivered_down == h.sent_down {
            break;
        }
        clock.advance(Duration::from_millis(10));
        h.step();
    }
    assert_eq!(h.delivered, h.sent, "client messages lost");
    assert_eq!(h.delivered_down, h.sent_down, "server messages lost");
});
