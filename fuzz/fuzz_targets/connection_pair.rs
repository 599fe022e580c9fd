//! Two honest `Connection`s talking over an adversarial network.
//!
//! The fuzzer picks the configuration and a list of operations: sends on either
//! side, and per direction a queue of datagrams in flight that it may deliver
//! in any order, drop or duplicate, while virtual time moves.
//!
//! Invariants checked on every delivered message:
//! * it is a message the other side really sent, unchanged, on that channel;
//! * `Reliable` and `ReliableOrdered` arrive at most once, `Unreliable` and
//!   `UnreliableSequenced` never twice;
//! * `ReliableOrdered` arrives in send order with no gap;
//! * `UnreliableSequenced` never goes backwards;
//! * honest peers never see a protocol violation, and a peer-close happens only
//!   after the other side closed.
//!
//! Then a heal phase delivers everything at once and without loss, in 10 ms
//! steps of virtual time; unless a side closed or timed out, every reliable
//! message must have arrived exactly once and both send buffers must be empty
//! (everything acknowledged).

#![no_main]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use lentil::proto::{CloseCause, ConnEvent, Connection};
use lentil::wire::{FrameIter, Packet};
use lentil::{Config, Delivery};
use libfuzzer_sys::fuzz_target;

const TOKEN: u32 = 0x7a11_b0b0;
/// Steps of 10 ms the heal phase may take (20 s of virtual time, twice the timeout).
const HEAL_STEPS: usize = 2000;
/// Bytes of a message header: side, delivery, counter.
const MSG_HEADER: usize = 6;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dir {
    AtoB,
    BtoA,
}

#[derive(Arbitrary, Debug)]
struct Setup {
    /// Reliable window of A: 0 means the default, else `1 << ((w - 1) % 15)`.
    window_a: u8,
    /// Reliable window of B, as for A.
    window_b: u8,
    /// Use the smallest MTU (576) instead of the default.
    small_mtu: bool,
    /// Cap the send buffers at 4 KiB so `QueueFull` happens.
    small_buffer: bool,
}

#[derive(Arbitrary, Debug)]
enum Op {
    SendA {
        delivery: u8,
        len: u8,
    },
    SendB {
        delivery: u8,
        len: u8,
    },
    /// `count % 64` small messages from one side, so packets carry many frames.
    Burst {
        dir: Dir,
        delivery: u8,
        count: u8,
    },
    /// The sender of `dir` drains `poll_transmit` into the in-flight queue.
    Transmit {
        dir: Dir,
    },
    DeliverAtoB {
        index: u16,
    },
    DeliverBtoA {
        index: u16,
    },
    Drop {
        dir: Dir,
        index: u16,
    },
    Duplicate {
        dir: Dir,
        index: u16,
    },
    /// Moves time by `ms & 0x3ff` ms, or by `ms & 0x7fff` ms when the top bit is
    /// set (long enough to time out); both sides run timers and transmit.
    Advance {
        ms: u16,
    },
    /// Graceful close of one side; only when `key == 0xc1`, so runs that close
    /// stay a minority.
    Close {
        a: bool,
        key: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    setup: Setup,
    ops: Vec<Op>,
}

fn delivery_of(code: u8) -> Delivery {
    Delivery::ALL[usize::from(code % 4)]
}

fn delivery_index(d: Delivery) -> u8 {
    Delivery::ALL.iter().position(|&x| x == d).unwrap() as u8
}

fn payload_len(len: u8) -> usize {
    // Mostly small; above 200 large, up to past the biggest message that fits.
    if len < 200 {
        MSG_HEADER + usize::from(len)
    } else {
        MSG_HEADER + usize::from(len - 200) * 28
    }
}

fn make_payload(side: u8, delivery: Delivery, counter: u32, len: usize) -> Bytes {
    let mut p = Vec::with_capacity(len.max(MSG_HEADER));
    p.push(side);
    p.push(delivery_index(delivery));
    p.extend_from_slice(&counter.to_be_bytes());
    let mut i = 0u8;
    while p.len() < len {
        p.push((counter as u8).wrapping_add(i));
        i = i.wrapping_add(1);
    }
    Bytes::from(p)
}

/// Messages one side sent, as seen by the checker of the other side's deliveries.
#[derive(Default)]
struct Flow {
    /// Counter of every successfully queued message, with its mode.
    sent: HashMap<u32, Delivery>,
    /// Successfully queued `ReliableOrdered` counters, in send order.
    ordered: Vec<u32>,
    reliable_sent: usize,
    /// Times each counter was delivered.
    delivered: HashMap<u32, u32>,
    ordered_delivered: usize,
    reliable_delivered: usize,
    last_sequenced: Option<u32>,
}

struct Side {
    conn: Connection,
    tag: u8,
    /// Datagrams sent by this side, not yet delivered or dropped.
    in_flight: VecDeque<Bytes>,
    /// Messages this side sent, and their fate at the peer.
    flow: Flow,
    closed: Option<CloseCause>,
    close_called: bool,
}

struct World {
    a: Side,
    b: Side,
    now: Instant,
    mtu: usize,
    counter: u32,
    out: Vec<u8>,
}

impl World {
    fn sides(&mut self, dir: Dir) -> (&mut Side, &mut Side) {
        match dir {
            Dir::AtoB => (&mut self.a, &mut self.b),
            Dir::BtoA => (&mut self.b, &mut self.a),
        }
    }

    fn send(&mut self, dir: Dir, delivery: Delivery, len: usize) {
        self.counter += 1;
        let counter = self.counter;
        let (from, _) = self.sides(dir);
        let payload = make_payload(from.tag, delivery, counter, len);
        if from.conn.send(payload, delivery).is_ok() {
            from.flow.sent.insert(counter, delivery);
            if delivery == Delivery::ReliableOrdered {
                from.flow.ordered.push(counter);
            }
            if delivery.is_reliable() {
                from.flow.reliable_sent += 1;
            }
        }
    }

    fn transmit(&mut self, dir: Dir) {
        let (now, mtu) = (self.now, self.mtu);
        let mut out = std::mem::take(&mut self.out);
        let (from, _) = self.sides(dir);
        let mut budget = 100_000;
        while from.conn.poll_transmit(now, &mut out) {
            assert!(out.len() <= mtu, "datagram of {} > mtu {mtu}", out.len());
            match Packet::parse(&out) {
                Ok(Packet::Data { header, frames }) => {
                    assert_eq!(header.token, TOKEN);
                    assert!(
                        FrameIter::new(frames).all(|f| f.is_ok()),
                        "bad frame emitted"
                    );
                }
                other => panic!("emitted a non-data packet: {other:?}"),
            }
            from.in_flight.push_back(Bytes::copy_from_slice(&out));
            budget -= 1;
            assert!(budget > 0, "poll_transmit never returns false");
        }
        self.out = out;
    }

    fn deliver(&mut self, dir: Dir, index: usize) {
        let now = self.now;
        let (from, to) = self.sides(dir);
        if from.in_flight.is_empty() {
            return;
        }
        let index = index % from.in_flight.len();
        let Some(datagram) = from.in_flight.remove(index) else {
            return;
        };
        match Packet::parse(&datagram) {
            Ok(Packet::Data { header, frames }) => {
                to.conn.handle_data(now, &header, frames, &datagram);
            }
            other => panic!("in-flight datagram does not parse: {other:?}"),
        }
        drain_events(to, from);
    }

    /// Transmits and delivers everything, in rounds, until neither side sends.
    fn exchange(&mut self) {
        for _ in 0..1_000_000 {
            self.transmit(Dir::AtoB);
            self.transmit(Dir::BtoA);
            if self.a.in_flight.is_empty() && self.b.in_flight.is_empty() {
                return;
            }
            while !self.a.in_flight.is_empty() {
                self.deliver(Dir::AtoB, 0);
            }
            while !self.b.in_flight.is_empty() {
                self.deliver(Dir::BtoA, 0);
            }
        }
        panic!("the two sides never stop sending to each other");
    }

    fn timers(&mut self) {
        let now = self.now;
        self.a.conn.handle_timeout(now);
        drain_events(&mut self.a, &mut self.b);
        self.b.conn.handle_timeout(now);
        drain_events(&mut self.b, &mut self.a);
    }

    fn any_closed(&self) -> bool {
        self.a.closed.is_some()
            || self.b.closed.is_some()
            || self.a.conn.is_closed()
            || self.b.conn.is_closed()
    }

    fn all_delivered(&self) -> bool {
        let done = |s: &Side| s.flow.reliable_delivered == s.flow.reliable_sent;
        done(&self.a) && done(&self.b)
    }

    fn quiet(&self) -> bool {
        self.a.in_flight.is_empty()
            && self.b.in_flight.is_empty()
            && self.a.conn.buffered_bytes() == 0
            && self.b.conn.buffered_bytes() == 0
    }
}

/// Takes `to`'s events and checks each delivered message against what `from` sent.
fn drain_events(to: &mut Side, from: &mut Side) {
    while let Some(event) = to.conn.poll_event() {
        match event {
            ConnEvent::Message {
                delivery, payload, ..
            } => {
                check_message(&mut from.flow, from.tag, delivery, &payload)
            }
            ConnEvent::Closed(cause) => {
                assert!(to.closed.is_none(), "closed twice: {cause:?}");
                match &cause {
                    CloseCause::Violation(why) => {
                        panic!("honest peers hit a protocol violation: {why}")
                    }
                    CloseCause::PeerClosed(_) => {
                        assert!(from.close_called, "peer-closed but the peer never closed")
                    }
                    CloseCause::LocalClosed => {
                        assert!(to.close_called, "local close without close()")
                    }
                    CloseCause::TimedOut(_) => {}
                }
                to.closed = Some(cause);
            }
        }
    }
}

fn check_message(flow: &mut Flow, tag: u8, delivery: Delivery, payload: &[u8]) {
    assert!(payload.len() >= MSG_HEADER, "short payload {payload:02x?}");
    assert_eq!(payload[0], tag, "message from the wrong side");
    assert_eq!(
        payload[1],
        delivery_index(delivery),
        "delivered on the wrong channel"
    );
    let counter = u32::from_be_bytes(payload[2..6].try_into().unwrap());
    for (i, &b) in payload[MSG_HEADER..].iter().enumerate() {
        assert_eq!(
            b,
            (counter as u8).wrapping_add(i as u8),
            "payload corrupted"
        );
    }
    assert_eq!(
        flow.sent.get(&counter),
        Some(&delivery),
        "delivered message {counter} was never sent"
    );
    let times = flow.delivered.entry(counter).or_insert(0);
    *times += 1;
    assert_eq!(*times, 1, "{delivery:?} message {counter} delivered twice");
    match delivery {
        Delivery::Unreliable => {}
        Delivery::UnreliableSequenced => {
            assert!(
                flow.last_sequenced.is_none_or(|last| counter > last),
                "sequenced went back: {counter} after {:?}",
                flow.last_sequenced
            );
            flow.last_sequenced = Some(counter);
        }
        Delivery::Reliable => flow.reliable_delivered += 1,
        Delivery::ReliableOrdered => {
            let expected = flow.ordered.get(flow.ordered_delivered);
            assert_eq!(
                expected,
                Some(&counter),
                "ordered message {counter} out of order"
            );
            flow.ordered_delivered += 1;
            flow.reliable_delivered += 1;
        }
    }
}

fn config(window: u8, setup: &Setup) -> Config {
    let mut c = Config::default();
    if window != 0 {
        // A power of two, 1..=16384.
        c.reliable_window = 1 << ((window - 1) % 15);
    }
    if setup.small_mtu {
        c.mtu = lentil::wire::MIN_MTU;
    }
    if setup.small_buffer {
        c.max_send_buffer_bytes = 4096;
    }
    c.validate().expect("valid config");
    c
}

fn side(config: &Config, peer: &Config, tag: u8, now: Instant) -> Side {
    Side {
        conn: Connection::new(config, TOKEN, peer.reliable_window, now),
        tag,
        in_flight: VecDeque::new(),
        flow: Flow::default(),
        closed: None,
        close_called: false,
    }
}

fuzz_target!(|input: Input| {
    let Input { setup, ops } = input;
    let config_a = config(setup.window_a, &setup);
    let config_b = config(setup.window_b, &setup);
    let now = Instant::now();
    let mut w = World {
        a: side(&config_a, &config_b, b'A', now),
        b: side(&config_b, &config_a, b'B', now),
        now,
        mtu: config_a.mtu,
        counter: 0,
        out: Vec::new(),
    };

    for op in ops {
        match op {
            Op::SendA { delivery, len } => {
                w.send(Dir::AtoB, delivery_of(delivery), payload_len(len))
            }
            Op::SendB { delivery, len } => {
                w.send(Dir::BtoA, delivery_of(delivery), payload_len(len))
            }
            Op::Burst {
                dir,
                delivery,
                count,
            } => {
                for i in 0..count % 64 {
                    w.send(dir, delivery_of(delivery), MSG_HEADER + usize::from(i));
                }
            }
            Op::Transmit { dir } => w.transmit(dir),
            Op::DeliverAtoB { index } => w.deliver(Dir::AtoB, usize::from(index)),
            Op::DeliverBtoA { index } => w.deliver(Dir::BtoA, usize::from(index)),
            Op::Drop { dir, index } => {
                let (from, _) = w.sides(dir);
                if !from.in_flight.is_empty() {
                    let i = usize::from(index) % from.in_flight.len();
                    from.in_flight.remove(i);
                }
            }
            Op::Duplicate { dir, index } => {
                let (from, _) = w.sides(dir);
                if !from.in_flight.is_empty() {
                    let i = usize::from(index) % from.in_flight.len();
                    let copy = from.in_flight[i].clone();
                    from.in_flight.push_back(copy);
                }
            }
            Op::Advance { ms } => {
                let ms = if ms & 0x8000 != 0 {
                    ms & 0x7fff
                } else {
                    ms & 0x3ff
                };
                w.now += Duration::from_millis(u64::from(ms));
                w.timers();
                w.transmit(Dir::AtoB);
                w.transmit(Dir::BtoA);
            }
            Op::Close { a, key } => {
                if key == 0xc1 {
                    let now = w.now;
                    let (s, peer) = if a {
                        (&mut w.a, &mut w.b)
                    } else {
                        (&mut w.b, &mut w.a)
                    };
                    if s.conn.is_open() {
                        s.close_called = true;
                    }
                    s.conn
                        .close(lentil::DisconnectReason::ClientDisconnected, now);
                    drain_events(s, peer);
                }
            }
        }
    }

    // Heal: a perfect, instantaneous network from now on. Each 10 ms step
    // exchanges datagrams until both sides are silent, then runs the timers.
    let mut healed = false;
    for _ in 0..HEAL_STEPS {
        w.exchange();
        if w.any_closed() {
            break;
        }
        if w.all_delivered() && w.quiet() {
            healed = true;
            break;
        }
        w.now += Duration::from_millis(10);
        w.timers();
    }
    if w.any_closed() {
        return;
    }
    let report = |s: &Side| {
        format!(
            "{}: reliable sent {} delivered {} (ordered {}/{}), buffered {} bytes, in flight {}",
            s.tag as char,
            s.flow.reliable_sent,
            s.flow.reliable_delivered,
            s.flow.ordered_delivered,
            s.flow.ordered.len(),
            s.conn.buffered_bytes(),
            s.conn.reliable_in_flight(),
        )
    };
    assert!(
        healed,
        "not healed after {HEAL_STEPS} steps of 10 ms; {}; {}",
        report(&w.a),
        report(&w.b)
    );
});
