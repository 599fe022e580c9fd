//! Micro-benchmarks of the protocol core, through the public API only.
//!
//! What is measured, each as time per operation (criterion also prints
//! elements/s or bytes/s where a throughput is set):
//!
//! * `packet`: building a data packet (header plus 32 frames of 32 bytes, or
//!   one frame filling a 1400-byte MTU) and parsing it back (`Packet::parse`
//!   plus a walk of every frame with `FrameIter`).
//! * `ack`: two `Connection`s wired back to back in memory. `cycle` is the
//!   whole send -> transmit -> receive -> deliver -> ack -> ack processed
//!   round for 1 or 32 reliable-ordered messages per packet; `process_32` is
//!   what the sender alone pays to take in one ack packet acknowledging 32
//!   packets (parse included).
//! * `reorder`: the receiver takes windows of 64 one-message reliable-ordered
//!   packets in order, and reversed, and delivers them in order.
//! * `fragmentation`: a 64 KiB and a 1 MiB reliable message split, carried,
//!   acknowledged and reassembled between two connections.
//! * `handshake`: client request -> server challenge (cookie minted) ->
//!   client response -> cookie verified.
//!
//! Time is virtual: one `Instant::now()` per pair, advanced by hand half a
//! round trip at a time, so runs are repeatable and nothing touches a socket.
//! `handle_timeout` is never called: on a lossless link whose acks always
//! arrive within the loss delay, no timer has work to do. Every datagram is
//! copied into a fresh `Bytes` on receipt, as the real UDP receive path does.
//! Throughput is per message (`reorder` and `cycle/32` time a batch and divide
//! by its size), per ack packet, per handshake, or in payload bytes.
//!
//! Run: `cargo bench -p lentil-bench --bench micro` (about a minute); a subset by name, e.g.
//! `cargo bench -p lentil-bench --bench micro -- reorder`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use lentil::proto::handshake::{ClientHandshake, HandshakeOutcome};
use lentil::proto::server_handshake::ServerHandshake;
use lentil::proto::{ConnEvent, Connection};
use lentil::wire::{self, emit_message, DataHeader, FrameIter, MessageHeader, Packet};
use lentil::{Config, Delivery};

/// Payload of the small messages: a typical game event or input.
const SMALL: usize = 32;
/// One-way delay of the virtual link. A round trip of 1 ms keeps every ack
/// inside the sender's loss delay (9/8 of the RTT), so nothing is resent and
/// the figures measure the clean path only.
const HALF_RTT: Duration = Duration::from_micros(500);
/// Token both sides carry; the owner's token check is outside the core.
const TOKEN: u32 = 0x5eed_0001;

/// A small message; static, so queueing it costs no allocation and the
/// figures show the protocol, not the allocator.
fn small_message() -> Bytes {
    static BYTES: [u8; SMALL] = [0xab; SMALL];
    Bytes::from_static(&BYTES)
}

/// Parses `datagram` as a data packet and hands it to `conn`, as a server or
/// client does after its token check.
fn receive(conn: &mut Connection, now: Instant, datagram: &Bytes) {
    match Packet::parse(datagram) {
        Ok(Packet::Data { header, frames }) => conn.handle_data(now, &header, frames, datagram),
        other => panic!("expected a data packet, got {other:?}"),
    }
}

/// Drains `conn`'s events; returns the messages and their payload bytes.
/// A close means the pair broke, and every later figure would be a lie.
fn drain_messages(conn: &mut Connection) -> (usize, usize) {
    let (mut count, mut bytes) = (0, 0);
    while let Some(event) = conn.poll_event() {
        match event {
            ConnEvent::Message { payload, .. } => {
                count += 1;
                bytes += black_box(payload).len();
            }
            ConnEvent::Closed(cause) => panic!("connection closed: {cause:?}"),
        }
    }
    (count, bytes)
}

/// Two connections joined by an in-memory link: A sends, B receives and acks.
struct Link {
    a: Connection,
    b: Connection,
    now: Instant,
    buf: Vec<u8>,
    to_b: Vec<Bytes>,
    to_a: Vec<Bytes>,
}

impl Link {
    /// A fresh pair with the default configuration.
    fn new() -> Self {
        let config = Config::default();
        let now = Instant::now();
        let window = config.reliable_window;
        Link {
            a: Connection::new(&config, TOKEN, window, now),
            b: Connection::new(&config, TOKEN, window, now),
            now,
            buf: Vec::with_capacity(config.mtu),
            to_b: Vec::new(),
            to_a: Vec::new(),
        }
    }

    /// A pair whose congestion window has opened fully, so a measurement is
    /// not throttled by slow start in its first samples.
    fn warmed() -> Self {
        let mut link = Link::new();
        // One message per packet, so each ack grows the window by as much as possible.
        let message = Bytes::from(vec![0u8; 1000]);
        let total = 4096;
        let (mut queued, mut delivered) = (0, 0);
        while delivered < total {
            // Queued as a sender does: until the send-queue bound refuses.
            while queued < total && link.a.send(message.clone(), Delivery::Reliable).is_ok() {
                queued += 1;
            }
            delivered += link.round().0;
        }
        link
    }

    /// Moves virtual time on by half a round trip.
    fn advance(&mut self) {
        self.now += HALF_RTT;
    }

    /// Puts everything A may send on the link.
    fn flush_a(&mut self) {
        while self.a.poll_transmit(self.now, &mut self.buf) {
            self.to_b.push(Bytes::copy_from_slice(&self.buf));
        }
    }

    /// Puts everything B may send (its acks) on the link.
    fn flush_b(&mut self) {
        while self.b.poll_transmit(self.now, &mut self.buf) {
            self.to_a.push(Bytes::copy_from_slice(&self.buf));
        }
    }

    /// B takes every datagram on the link, flushing acks when they fall due as
    /// the real owners do; otherwise a long flight outruns the ack bitfield.
    fn b_receive_all(&mut self) {
        let datagrams = std::mem::take(&mut self.to_b);
        for d in &datagrams {
            receive(&mut self.b, self.now, d);
            if self.b.ack_due() {
                self.flush_b();
            }
        }
        self.to_b = datagrams;
        self.to_b.clear();
    }

    /// A takes every ack on the link.
    fn a_receive_all(&mut self) {
        for d in self.to_a.drain(..) {
            receive(&mut self.a, self.now, &d);
        }
    }

    /// One tick of both owners: A sends what it may, B receives, delivers and
    /// acks half a round trip later, A takes the acks a round trip after
    /// sending. Returns the messages and bytes B delivered.
    fn round(&mut self) -> (usize, usize) {
        self.flush_a();
        self.advance();
        self.b_receive_all();
        self.flush_b();
        let delivered = drain_messages(&mut self.b);
        self.advance();
        self.a_receive_all();
        delivered
    }

    /// Panics if anything was lost or resent: the benchmarks model a clean
    /// link, and a resend would mean they measured something else.
    fn assert_clean(&self) {
        for (side, conn) in [("A", &self.a), ("B", &self.b)] {
            let s = conn.stats();
            assert_eq!(s.packets_lost, 0, "{side} declared packets lost");
            assert_eq!(s.resends, 0, "{side} resent messages");
            assert_eq!(s.invalid_packets, 0, "{side} dropped invalid packets");
        }
    }
}

/// Packet building and parsing, no connection state.
fn packet(c: &mut Criterion) {
    let mut group = c.benchmark_group("packet");
    let header = DataHeader {
        token: TOKEN,
        seq: 4242,
        ack: 4100,
        ack_bits: 0xffff_fff7,
    };
    let small = [0x5au8; SMALL];
    let frames = 32u16;
    let full = vec![0xa5u8; full_mtu_payload(Config::default().mtu)];

    let build_small = |out: &mut Vec<u8>| {
        out.clear();
        header.emit(out);
        for id in 0..frames {
            let frame = MessageHeader {
                delivery: Delivery::ReliableOrdered,
                channel: 3,
                id: 1000 + id,
                fragment: None,
            };
            emit_message(out, &frame, black_box(&small));
        }
    };
    let build_full = |out: &mut Vec<u8>| {
        out.clear();
        header.emit(out);
        let frame = MessageHeader {
            delivery: Delivery::Reliable,
            channel: 2,
            id: 77,
            fragment: None,
        };
        emit_message(out, &frame, black_box(&full));
    };

    let mut out = Vec::with_capacity(wire::MAX_MTU);
    group.throughput(Throughput::Elements(u64::from(frames)));
    group.bench_function("build/32x32B", |b| {
        b.iter(|| {
            build_small(&mut out);
            black_box(out.len())
        })
    });
    build_small(&mut out);
    let small_packet = out.clone();
    assert!(small_packet.len() <= Config::default().mtu);
    group.bench_function("parse/32x32B", |b| {
        b.iter(|| parse_and_walk(black_box(&small_packet)))
    });
    assert_eq!(parse_and_walk(&small_packet), usize::from(frames) * SMALL);

    build_full(&mut out);
    let full_packet = out.clone();
    assert_eq!(full_packet.len(), Config::default().mtu);
    group.throughput(Throughput::Bytes(full_packet.len() as u64));
    group.bench_function("build/full_mtu", |b| {
        b.iter(|| {
            build_full(&mut out);
            black_box(out.len())
        })
    });
    group.bench_function("parse/full_mtu", |b| {
        b.iter(|| parse_and_walk(black_box(&full_packet)))
    });
    group.finish();
}

/// The payload of one reliable frame that fills a data packet of `mtu` bytes
/// exactly: `max_packet_payload` budgets for the widest length prefix, which
/// a payload this size does not need.
fn full_mtu_payload(mtu: usize) -> usize {
    let fits = |len| {
        wire::DATA_HEADER_LEN + wire::message_frame_len(Delivery::Reliable, false, len) <= mtu
    };
    let mut len = wire::max_packet_payload(mtu);
    while fits(len + 1) {
        len += 1;
    }
    len
}

/// Parses a data packet and touches every frame; returns the payload bytes
/// seen so the walk cannot be optimised away.
fn parse_and_walk(datagram: &[u8]) -> usize {
    let Ok(Packet::Data { header, frames }) = Packet::parse(datagram) else {
        panic!("not a data packet");
    };
    black_box(header);
    let mut bytes = 0;
    for frame in FrameIter::new(frames) {
        match frame.expect("well-formed frame") {
            wire::Frame::Message { payload, .. } => bytes += payload.len(),
            other => {
                black_box(other);
            }
        }
    }
    bytes
}

/// The reliable send/ack loop between two connections.
fn ack(c: &mut Criterion) {
    let mut group = c.benchmark_group("ack");
    for per_packet in [1usize, 32] {
        let mut link = Link::warmed();
        group.throughput(Throughput::Elements(per_packet as u64));
        group.bench_function(format!("cycle/{per_packet}_msg_per_packet"), |b| {
            b.iter(|| {
                for _ in 0..per_packet {
                    link.a
                        .send(small_message(), Delivery::ReliableOrdered)
                        .expect("queue message");
                }
                let (delivered, _) = link.round();
                assert_eq!(delivered, per_packet);
            })
        });
        link.assert_clean();
        assert_eq!(link.a.reliable_in_flight(), 0, "every message acked");
    }

    let mut link = Link::warmed();
    // Several acks per timed stretch spread the cost of reading the clock;
    // the flight they acknowledge must fit the congestion window.
    let acks_per_stretch = (link.a.congestion_window() / 32).clamp(1, 8);
    let mut acks = Vec::with_capacity(acks_per_stretch);
    group.throughput(Throughput::Elements(1));
    group.bench_function("process_32", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = acks_per_stretch.min((iters - done) as usize);
                link.ack_flights(n, &mut acks);
                let acked_before = link.a.stats().packets_acked;
                let start = Instant::now();
                for ack in &acks {
                    receive(&mut link.a, link.now, ack);
                }
                total += start.elapsed();
                assert_eq!(link.a.stats().packets_acked - acked_before, 32 * n as u64);
                done += n as u64;
            }
            total
        })
    });
    link.assert_clean();
    group.finish();
}

impl Link {
    /// Untimed set-up for `ack/process_32`: A sends `n` flights of 32
    /// one-message packets, B takes each flight and answers it with exactly
    /// one ack packet (held back until the flight is in, so that ack covers
    /// all 32), and the acks are left in `acks`, due at A a round trip after
    /// sending.
    fn ack_flights(&mut self, n: usize, acks: &mut Vec<Bytes>) {
        acks.clear();
        for _ in 0..n * 32 {
            self.a
                .send(small_message(), Delivery::ReliableOrdered)
                .expect("queue message");
            assert!(self.a.poll_transmit(self.now, &mut self.buf));
            self.to_b.push(Bytes::copy_from_slice(&self.buf));
        }
        self.advance();
        for flight in self.to_b.chunks(32) {
            for d in flight {
                receive(&mut self.b, self.now, d);
            }
            assert!(self.b.poll_transmit(self.now, &mut self.buf));
            acks.push(Bytes::copy_from_slice(&self.buf));
            assert!(!self.b.poll_transmit(self.now, &mut self.buf), "one ack");
        }
        self.to_b.clear();
        assert_eq!(drain_messages(&mut self.b).0, n * 32);
        self.advance();
    }

    /// A sends `n` one-message reliable-ordered packets; they wait on the link.
    fn one_message_packets(&mut self, n: usize) {
        for _ in 0..n {
            self.a
                .send(small_message(), Delivery::ReliableOrdered)
                .expect("queue message");
            assert!(self.a.poll_transmit(self.now, &mut self.buf));
            self.to_b.push(Bytes::copy_from_slice(&self.buf));
        }
    }
}

/// Ordered delivery of packets that arrive out of order.
fn reorder(c: &mut Criterion) {
    const WINDOW: usize = 64;
    let mut group = c.benchmark_group("reorder");
    group.throughput(Throughput::Elements(WINDOW as u64));
    for reversed in [false, true] {
        let mut link = Link::warmed();
        let name = if reversed {
            "reversed_64"
        } else {
            "in_order_64"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    link.one_message_packets(WINDOW);
                    link.advance();
                    if reversed {
                        link.to_b.reverse();
                    }
                    total += link.b_receive_timed();
                    link.flush_b();
                    link.advance();
                    link.a_receive_all();
                }
                total
            })
        });
        link.assert_clean();
        assert_eq!(link.b.reorder_queue(), 0);
        assert_eq!(link.a.reliable_in_flight(), 0, "every message acked");
    }
    group.finish();
}

impl Link {
    /// B takes the datagrams on the link in their current order and delivers
    /// what becomes deliverable. Returns the time spent in B's receive path;
    /// the acks B owes on the way are flushed off the clock, since sending
    /// them is not what is measured.
    fn b_receive_timed(&mut self) -> Duration {
        let datagrams = std::mem::take(&mut self.to_b);
        let mut elapsed = Duration::ZERO;
        let mut start = Instant::now();
        for d in &datagrams {
            receive(&mut self.b, self.now, d);
            if self.b.ack_due() {
                elapsed += start.elapsed();
                self.flush_b();
                start = Instant::now();
            }
        }
        let (delivered, _) = drain_messages(&mut self.b);
        elapsed += start.elapsed();
        assert_eq!(delivered, datagrams.len());
        self.to_b = datagrams;
        self.to_b.clear();
        elapsed
    }
}

/// Large reliable messages split into fragments and joined again.
fn fragmentation(c: &mut Criterion) {
    let mut group = c.benchmark_group("fragmentation");
    // Each iteration is milliseconds long: few, flat samples keep the run short.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    for (name, size) in [("64KiB", 64 * 1024), ("1MiB", 1024 * 1024)] {
        let mut link = Link::warmed();
        let message = Bytes::from((0..size).map(|i| i as u8).collect::<Vec<u8>>());
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                link.a
                    .send(message.clone(), Delivery::Reliable)
                    .expect("queue large message");
                let mut delivered = (0, 0);
                while delivered.0 == 0 {
                    delivered = link.round();
                }
                assert_eq!(delivered, (1, size));
            })
        });
        // The message may be in before its last acks are: let them land.
        link.round();
        link.assert_clean();
        assert_eq!(link.a.reliable_in_flight(), 0, "every fragment acked");
        assert_eq!(link.b.partial_messages(), 0);
    }
    group.finish();
}

/// The whole handshake, both halves, with its key exchanges (a fresh client
/// ephemeral key, two X25519 agreements on each side, HKDF, the sealed
/// payload and accept): one iteration is one handshake one core completes.
fn handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake");
    let config = Config::default();
    let now = Instant::now();
    let mut server = ServerHandshake::new(&config, now);
    let client_addr: SocketAddr = "192.0.2.7:40000".parse().expect("address");
    let server_addr: SocketAddr = "192.0.2.1:5000".parse().expect("address");
    let mut client_out = Vec::with_capacity(wire::CONNECT_REQUEST_MIN_LEN);
    let mut server_out = Vec::with_capacity(128);
    let mut nonce = 0u64;
    group.throughput(Throughput::Elements(1));
    group.bench_function("full_handshake_with_key_exchange", |b| {
        b.iter(|| {
            nonce = nonce.wrapping_add(1);
            let mut client = ClientHandshake::new(&config, nonce, now);
            assert!(client.poll_transmit(now, &mut client_out));

            let Ok(Packet::ConnectRequest(request)) = Packet::parse(&client_out) else {
                panic!("expected a connect request");
            };
            let challenge = server
                .challenge(client_addr, &request, now)
                .expect("same mode");
            server_out.clear();
            challenge.emit(&mut server_out);

            let challenge = Packet::parse(&server_out).expect("challenge parses");
            assert_eq!(client.handle(&challenge), None);
            assert!(client.poll_transmit(now, &mut client_out));

            let Ok(Packet::ChallengeResponse(response)) = Packet::parse(&client_out) else {
                panic!("expected a challenge response");
            };
            assert!(server.cookie_valid(client_addr, &response, now));
            let opened = server
                .open_response(&response, server_addr, 0, 7, 256)
                .expect("opens");
            server_out.clear();
            opened.accept.emit(&mut server_out);
            let accept = Packet::parse(&server_out).expect("accept parses");
            assert!(matches!(
                client.handle(&accept),
                Some(HandshakeOutcome::Accepted { token: 7, .. })
            ));
            black_box(client.take_protection());
        })
    });
    group.finish();
}

/// Short runs: the whole file should finish in about a minute on two cores,
/// and these operations are steady enough that more samples change little.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = micro;
    config = config();
    targets = packet, ack, reorder, fragmentation, handshake
}
criterion_main!(micro);
