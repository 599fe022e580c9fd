//! A server on the simulated network and peers whose every datagram a test
//! writes by hand: each walks the cookie handshake itself, knows its
//! connection token, and builds data packets frame by frame. For tests of
//! what a connected but hostile peer can make the server do.
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use lentil::proto::handshake::{ClientHandshake, HandshakeOutcome};
use lentil::transport::sim::SimSocket;
use lentil::transport::Socket;
use lentil::wire::{self, DataHeader, Fragment, MessageHeader, Packet};
use lentil::{Config, Delivery, PeerId, Server, ServerEvent, SimNetwork};

/// Where the server listens.
pub fn server_addr() -> SocketAddr {
    "127.0.0.1:9000".parse().expect("server address")
}

/// An address `10.<a>.<b>.<c>:<port>`.
pub fn v4(a: u8, b: u8, c: u8, port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::new(10, a, b, c).into(), port)
}

/// `config` with the server's receive budgets lifted: for tests that push
/// traffic far faster than any budget allows, in virtual time, to test
/// something else.
pub fn unbudgeted(config: Config) -> Config {
    Config {
        max_frames_per_peer_sec: u64::MAX / 2,
        max_bytes_per_peer_sec: u64::MAX / 2,
        max_frames_per_update: usize::MAX,
        ..config
    }
}

/// The insecure-mode configuration raw peers and honest clients use.
pub fn raw_config() -> Config {
    Config {
        insecure: true,
        reliable_window: 16_384,
        ..Config::default()
    }
}

/// A server on a simulated network, with every event it raised kept.
pub struct Bench {
    /// The network.
    pub net: SimNetwork,
    /// The server under test.
    pub server: Server,
    /// Events raised and not yet taken.
    pub events: Vec<ServerEvent>,
    /// The reject code of the last handshake refused, as text.
    pub last_reject: Option<String>,
}

impl Bench {
    /// A listening server with `config` on a fresh network seeded `seed`.
    pub fn new(seed: u64, config: Config) -> Self {
        // The raw peers speak the explicit insecure mode (checksummed, not
        // sealed): what these tests attack is the protocol core behind the
        // seal, which a peer with the session's keys reaches all the same.
        let config = Config {
            insecure: true,
            ..config
        };
        let net = SimNetwork::new(seed);
        let mut server = Server::sandbox(config, &net);
        server.listen(server_addr()).expect("listen");
        Bench {
            net,
            server,
            events: Vec::new(),
            last_reject: None,
        }
    }

    /// Runs the server once, keeping its events.
    pub fn update(&mut self) {
        self.events.extend(self.server.update_events());
    }

    /// Advances virtual time by `d` and runs the server.
    pub fn advance(&mut self, d: Duration) {
        self.net.clock().advance(d);
        self.update();
    }

    /// Takes the events kept so far.
    pub fn take_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.events)
    }

    /// Message bodies raised for `peer` among `events`, in order.
    pub fn messages_of(events: &[ServerEvent], peer: PeerId) -> Vec<Vec<u8>> {
        events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Message { peer: p, message } if *p == peer => Some(message.to_vec()),
                _ => None,
            })
            .collect()
    }
}

/// A peer whose packets the test writes.
pub struct RawPeer {
    /// Its socket.
    pub sock: SimSocket,
    /// The server's id for it.
    pub peer: PeerId,
    /// Its connection token.
    pub token: u32,
    /// Sequence number of the next packet.
    pub seq: u16,
}

/// Everything receivable on `sock` now.
pub fn recv_all(sock: &mut SimSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Ok(Some((len, _from))) = sock.recv_from(&mut buf) {
        out.push(buf[..len].to_vec());
    }
    out
}

impl RawPeer {
    /// Walks the handshake from `addr`; `None` if the server did not accept.
    pub fn try_connect(bench: &mut Bench, addr: SocketAddr, nonce: u64) -> Option<RawPeer> {
        let mut sock = bench.net.bind(addr).expect("bind raw peer");
        let t0 = bench.net.clock().now();
        let mut hs = ClientHandshake::new(&raw_config(), nonce, t0);
        let mut request = Vec::new();
        assert!(hs.poll_transmit(t0, &mut request));
        sock.send_to(&request, server_addr()).expect("send");
        bench.update();
        let challenge = recv_all(&mut sock)
            .iter()
            .find_map(|d| match Packet::parse(d) {
                Ok(Packet::Challenge(c)) if c.nonce == nonce => Some(c),
                _ => None,
            })?;
        let _ = hs.handle(&Packet::Challenge(challenge));
        let mut response = Vec::new();
        if !hs.poll_transmit(t0, &mut response) {
            return None;
        }
        sock.send_to(&response, server_addr()).expect("send");
        bench.update();
        let mut token = None;
        for d in recv_all(&mut sock) {
            match Packet::parse(&d) {
                Ok(Packet::Accept(a)) if a.nonce == nonce => {
                    if let Some(HandshakeOutcome::Accepted { token: t, .. }) =
                        hs.handle(&Packet::Accept(a))
                    {
                        token = Some(t);
                    }
                }
                Ok(Packet::Reject(r)) if r.nonce == nonce => {
                    bench.last_reject = Some(format!("{:?}", r.code));
                }
                _ => {}
            }
        }
        let token = token?;
        // Its Connected event is taken out: a test sees only what follows.
        let at = bench
            .events
            .iter()
            .position(|e| matches!(e, ServerEvent::Connected { addr: a, .. } if *a == addr))?;
        let ServerEvent::Connected { peer, .. } = bench.events.remove(at) else {
            return None;
        };
        Some(RawPeer {
            sock,
            peer,
            token,
            seq: 1,
        })
    }

    /// Walks the handshake from `addr`, trying again 20 ms later while the
    /// server's reply rate limit leaves it unanswered: the peer if accepted,
    /// the reject code (as text) if refused.
    pub fn handshake(bench: &mut Bench, addr: SocketAddr, nonce: u64) -> Result<RawPeer, String> {
        for _ in 0..100 {
            bench.last_reject = None;
            if let Some(p) = Self::try_connect(bench, addr, nonce) {
                return Ok(p);
            }
            if let Some(reason) = bench.last_reject.take() {
                return Err(reason);
            }
            bench.advance(Duration::from_millis(20));
        }
        Err("no answer".into())
    }

    /// Walks the handshake from `addr`; panics unless accepted.
    pub fn connect(bench: &mut Bench, addr: SocketAddr, nonce: u64) -> RawPeer {
        Self::try_connect(bench, addr, nonce).expect("the raw peer is accepted")
    }

    /// The next data packet (fresh sequence number, acking nothing) with
    /// whatever `frames` appends.
    pub fn next(&mut self, frames: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        DataHeader {
            token: self.token,
            seq: self.seq,
            ack: 0,
            ack_bits: 0,
        }
        .emit(&mut out);
        frames(&mut out);
        // The insecure mode's checksum, as that mode asks of every packet.
        lentil::crypto::append_crc(&mut out);
        self.seq = self.seq.wrapping_add(1);
        out
    }

    /// Puts `bytes` on the network to the server, without running it.
    pub fn put(&mut self, bytes: &[u8]) {
        self.sock.send_to(bytes, server_addr()).expect("sim send");
    }

    /// Sends `bytes` to the server and runs it once.
    pub fn send(&mut self, bench: &mut Bench, bytes: &[u8]) {
        self.put(bytes);
        bench.update();
    }

    /// Throws away what the server sent this peer.
    pub fn drain(&mut self) {
        recv_all(&mut self.sock);
    }
}

/// Appends a message frame on the default channel of `delivery`.
pub fn emit_msg(out: &mut Vec<u8>, delivery: Delivery, id: u16, body: &[u8]) {
    emit_piece(out, delivery, id, None, body);
}

/// Appends a message frame, maybe one fragment of a larger message, on the
/// default channel of `delivery`.
pub fn emit_piece(
    out: &mut Vec<u8>,
    delivery: Delivery,
    id: u16,
    fragment: Option<Fragment>,
    body: &[u8],
) {
    let header = MessageHeader {
        delivery,
        channel: Config::default().channel_for(delivery).unwrap_or(0),
        id,
        fragment,
    };
    wire::emit_message(out, &header, body);
}
