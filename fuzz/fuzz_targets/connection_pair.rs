//! Two honest `Connection`s talking over an adversarial network, on several
//! channels, with large reliable messages that travel as fragments.
//!
//! The fuzzer picks the configuration (reliable windows, MTU, send buffer,
//! channel list, a held-bytes cap just large enough for one message per
//! channel, a send-rate cap) and a list of operations: sends on any channel of
//! either side, large reliable messages (1 KiB to 97 KiB, contents derived
//! from a seed), and per direction a queue of datagrams in flight that it may
//! deliver in any order, drop or duplicate, while virtual time moves.
//!
//! Invariants checked on every delivered message:
//! * it is a message the other side really sent, on that channel, with that
//!   channel's delivery mode, its length and every byte unchanged;
//! * reliable messages arrive at most once, unreliable ones never twice;
//! * on each `ReliableOrdered` channel, messages arrive in send order with no
//!   gap;
//! * on each `UnreliableSequenced` channel, messages never go backwards.
//!
//! Invariants checked after every step:
//! * honest peers never see a protocol violation, and a peer-close happens
//!   only after the other side closed;
//! * the receiver never holds more than `max_held_bytes` and never drops a
//!   fragment (an honest sender keeps its peer under the cap, and the
//!   reassembly timeout is too long to expire here);
//! * every message sent as fragments and delivered was counted reassembled
//!   once, and every fragmented send was counted fragmented once.
//!
//! Then a heal phase delivers everything at once and without loss, in 10 ms
//! steps of virtual time; unless a side closed or timed out, every reliable
//! message must have arrived exactly once, both send buffers must be empty
//! (everything acknowledged) and nothing may be left held for reassembly.

#![no_main]

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use lentil::proto::{CloseCause, ConnEvent, Connection, HELD_PIECE_OVERHEAD};
use lentil::wire::{self, FrameIter, Packet};
use lentil::{Config, Delivery};
use libfuzzer_sys::fuzz_target;

const TOKEN: u32 = 0x7a11_b0b0;
/// Steps of 10 ms the heal phase may take (30 s of virtual time, three
/// times the timeout), enough for everything queued even at a capped rate.
const HEAL_STEPS: usize = 3000;
/// Bytes of a message header: side, channel, counter.
const MSG_HEADER: usize = 6;
/// Most bytes of large messages one side queues per run, so that a run stays
/// short and the heal phase can always deliver them.
const LARGE_BUDGET: usize = 384 * 1024;
/// Largest message a `Large` operation makes: 1 KiB plus 1.5 bytes per unit of `size`.
const LARGE_MAX: usize = 1024 + 0xffff * 3 / 2;
/// `max_message_size` with `tight_held`: just above `LARGE_MAX`.
const TIGHT_MESSAGE_SIZE: usize = 100 * 1024;
/// Send-rate cap with `rate_cap`, bytes per second.
const RATE_CAP: u64 = 192 * 1024;
/// Virtual time after which `Advance` stops moving the clock: well under the
/// reassembly timeout, so no partial message between honest peers expires.
const MAX_VIRTUAL_TIME: Duration = Duration::from_secs(20 * 3600);

use Delivery::{Reliable as R, ReliableOrdered as O, Unreliable as U, UnreliableSequenced as S};

/// Channel lists a run may use (both sides alike).
const LAYOUTS: [&[Delivery]; 3] = [&Delivery::ALL, &[O, R, U, O, S], &[R, O, O, S, R, U, O]];

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
    /// Channel list: `LAYOUTS[layout % 3]`.
    layout: u8,
    /// `max_message_size` of 100 KiB and the least `max_held_bytes` that
    /// allows it, so the senders' held budget is what holds them back.
    tight_held: bool,
    /// Cap both send rates at `RATE_CAP`.
    rate_cap: bool,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// One message on channel `channel % channels`; length from `len` (see `payload_len`).
    Send {
        dir: Dir,
        channel: u8,
        len: u8,
    },
    /// A large message on reliable channel `channel % reliable channels`,
    /// `1024 + size * 3 / 2` bytes made from `seed`.
    Large {
        dir: Dir,
        channel: u8,
        size: u16,
        seed: u16,
    },
    /// `count % 64` small messages from one side on one channel, so packets carry many frames.
    Burst {
        dir: Dir,
        channel: u8,
        count: u8,
    },
    /// The sender of `dir` drains `poll_transmit` into the in-flight queue.
    Transmit {
        dir: Dir,
    },
    /// Delivers in-flight datagram `index % in flight`.
    Deliver {
        dir: Dir,
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

fn payload_len(len: u8) -> usize {
    // Mostly small; above 200 large, up to past the biggest message that fits
    // one packet (so a reliable one is split in two).
    if len < 200 {
        MSG_HEADER + usize::from(len)
    } else {
        MSG_HEADER + usize::from(len - 200) * 28
    }
}

/// The key a message's body bytes derive from.
fn body_key(counter: u32, seed: u32) -> u32 {
    counter.wrapping_mul(0x0100_0193) ^ seed.rotate_left(16) ^ 0x5bd1_e995
}

/// Body byte `i` of a message: position-dependent, so a piece joined in the
/// wrong place or a piece of another message shows.
fn body_byte(key: u32, i: usize) -> u8 {
    let mut x = key ^ (i as u32).wrapping_mul(0x9e37_79b9);
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x as u8
}

fn make_payload(side: u8, channel: u8, counter: u32, key: u32, len: usize) -> Bytes {
    let len = len.max(MSG_HEADER);
    let mut p = Vec::with_capacity(len);
    p.push(side);
    p.push(channel);
    p.extend_from_slice(&counter.to_be_bytes());
    p.extend((0..len - MSG_HEADER).map(|i| body_byte(key, i)));
    Bytes::from(p)
}

/// What the checker knows of one sent message.
struct SentMsg {
    channel: u8,
    len: usize,
    key: u32,
    fragmented: bool,
}

/// Messages one side sent, as seen by the checker of the other side's deliveries.
#[derive(Default)]
struct Flow {
    /// Every successfully queued message, by counter.
    sent: HashMap<u32, SentMsg>,
    /// Per channel: successfully queued counters in send order (ordered channels).
    ordered: HashMap<u8, Vec<u32>>,
    /// Per channel: how many of `ordered` were delivered.
    ordered_delivered: HashMap<u8, usize>,
    /// Per channel: the newest sequenced counter delivered.
    last_sequenced: HashMap<u8, u32>,
    reliable_sent: usize,
    reliable_delivered: usize,
    /// Counters delivered at least once.
    delivered: HashSet<u32>,
    /// Messages queued as fragments, and how many of them were delivered.
    fragmented_sent: u64,
    fragmented_delivered: u64,
    /// Bytes of `Large` messages queued.
    large_bytes: usize,
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
    start: Instant,
    now: Instant,
    config: Config,
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

    fn channel(&self, channel: u8) -> u8 {
        channel % self.config.channels.len() as u8
    }

    /// Queues a message on `channel`; counts it if the connection took it.
    fn send(&mut self, dir: Dir, channel: u8, len: usize, seed: Option<u32>) -> bool {
        self.counter += 1;
        let counter = self.counter;
        let delivery = self.config.channels[usize::from(channel)];
        let single = self.config.max_packet_payload();
        let key = body_key(counter, seed.unwrap_or(counter));
        let (from, _) = self.sides(dir);
        let payload = make_payload(from.tag, channel, counter, key, len);
        let len = payload.len();
        if from.conn.send_on(channel, payload).is_err() {
            return false;
        }
        let fragmented = delivery.is_reliable() && len > single;
        from.flow.sent.insert(
            counter,
            SentMsg {
                channel,
                len,
                key,
                fragmented,
            },
        );
        if delivery == Delivery::ReliableOrdered {
            from.flow.ordered.entry(channel).or_default().push(counter);
        }
        if delivery.is_reliable() {
            from.flow.reliable_sent += 1;
        }
        if fragmented {
            from.flow.fragmented_sent += 1;
        }
        assert_eq!(
            from.conn.stats().messages_fragmented,
            from.flow.fragmented_sent,
            "a message of {len} bytes was not split as expected (one packet holds {single})"
        );
        true
    }

    fn send_large(&mut self, dir: Dir, channel: u8, size: u16, seed: u16) {
        let reliable: Vec<u8> = (0..self.config.channels.len() as u8)
            .filter(|&c| self.config.channels[usize::from(c)].is_reliable())
            .collect();
        let channel = reliable[usize::from(channel) % reliable.len()];
        let len = 1024 + usize::from(size) * 3 / 2;
        let (from, _) = self.sides(dir);
        if from.flow.large_bytes + len > LARGE_BUDGET {
            return;
        }
        if self.send(dir, channel, len, Some(u32::from(seed))) {
            let (from, _) = self.sides(dir);
            from.flow.large_bytes += len;
        }
    }

    fn transmit(&mut self, dir: Dir) {
        let (now, mtu) = (self.now, self.config.mtu);
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
        let config = self.config.clone();
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
        drain_events(to, from, &config);
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
        drain_events(&mut self.a, &mut self.b, &self.config);
        self.b.conn.handle_timeout(now);
        drain_events(&mut self.b, &mut self.a, &self.config);
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

/// Takes `to`'s events and checks each delivered message against what `from`
/// sent, then what `to` holds.
fn drain_events(to: &mut Side, from: &mut Side, config: &Config) {
    while let Some(event) = to.conn.poll_event() {
        match event {
            ConnEvent::Message {
                delivery,
                channel,
                payload,
            } => check_message(
                &mut from.flow,
                from.tag,
                config,
                delivery,
                channel,
                &payload,
            ),
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
    let stats = to.conn.stats();
    assert!(
        to.conn.held_bytes() <= config.max_held_bytes,
        "{} holds {} bytes, past max_held_bytes {}",
        to.tag as char,
        to.conn.held_bytes(),
        config.max_held_bytes
    );
    assert_eq!(
        stats.fragments_dropped, 0,
        "{} dropped fragments an honest peer sent",
        to.tag as char
    );
    assert_eq!(
        stats.messages_reassembled, from.flow.fragmented_delivered,
        "{} counted {} messages reassembled but delivered {} sent as fragments",
        to.tag as char, stats.messages_reassembled, from.flow.fragmented_delivered
    );
}

fn check_message(
    flow: &mut Flow,
    tag: u8,
    config: &Config,
    delivery: Delivery,
    channel: u8,
    payload: &[u8],
) {
    assert_eq!(
        config.channels.get(usize::from(channel)),
        Some(&delivery),
        "delivered on channel {channel} as {delivery:?}, not its mode"
    );
    assert!(payload.len() >= MSG_HEADER, "short payload {payload:02x?}");
    assert_eq!(payload[0], tag, "message from the wrong side");
    assert_eq!(payload[1], channel, "delivered on the wrong channel");
    let counter = u32::from_be_bytes(payload[2..6].try_into().unwrap());
    let Some(sent) = flow.sent.get(&counter) else {
        panic!("delivered message {counter} was never sent");
    };
    assert_eq!(
        sent.channel, channel,
        "message {counter} on another channel"
    );
    assert_eq!(
        payload.len(),
        sent.len,
        "message {counter} arrived with another length"
    );
    if let Some(i) = payload[MSG_HEADER..]
        .iter()
        .enumerate()
        .position(|(i, &b)| b != body_byte(sent.key, i))
    {
        panic!(
            "message {counter} of {} bytes corrupted at byte {}",
            sent.len,
            MSG_HEADER + i
        );
    }
    assert!(
        flow.delivered.insert(counter),
        "{delivery:?} message {counter} delivered twice"
    );
    if sent.fragmented {
        flow.fragmented_delivered += 1;
    }
    match delivery {
        Delivery::Unreliable => {}
        Delivery::UnreliableSequenced => {
            let last = flow.last_sequenced.insert(channel, counter);
            assert!(
                last.is_none_or(|last| counter > last),
                "sequenced channel {channel} went back: {counter} after {last:?}"
            );
        }
        Delivery::Reliable => flow.reliable_delivered += 1,
        Delivery::ReliableOrdered => {
            let next = flow.ordered_delivered.entry(channel).or_insert(0);
            let expected = flow.ordered.get(&channel).and_then(|o| o.get(*next));
            assert_eq!(
                expected,
                Some(&counter),
                "ordered channel {channel}: message {counter} out of order"
            );
            *next += 1;
            flow.reliable_delivered += 1;
        }
    }
}

fn config(window: u8, setup: &Setup) -> Config {
    let mut c = Config {
        channels: LAYOUTS[usize::from(setup.layout) % LAYOUTS.len()].to_vec(),
        // Between honest peers no partial message may expire: the clock stops
        // well before this (see `MAX_VIRTUAL_TIME`).
        reassembly_timeout: Duration::from_secs(24 * 3600),
        ..Config::default()
    };
    if window != 0 {
        // A power of two, 1..=16384.
        c.reliable_window = 1 << ((window - 1) % 15);
    }
    if setup.small_mtu {
        c.mtu = wire::MIN_MTU;
    }
    if setup.small_buffer {
        c.max_send_buffer_bytes = 4096;
    }
    if setup.tight_held {
        // The least cap `validate` accepts: one largest message per reliable channel.
        let piece = wire::fragment_payload(c.mtu);
        let cost = TIGHT_MESSAGE_SIZE + TIGHT_MESSAGE_SIZE.div_ceil(piece) * HELD_PIECE_OVERHEAD;
        let reliable = c.channels.iter().filter(|d| d.is_reliable()).count();
        c.max_message_size = TIGHT_MESSAGE_SIZE;
        c.max_held_bytes = cost * reliable;
    }
    if setup.rate_cap {
        c.max_send_rate = Some(RATE_CAP);
    }
    c.validate().expect("valid config");
    assert!(LARGE_MAX <= c.max_message_size);
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
        start: now,
        now,
        // Both sides share everything the checks read: channels, MTU, caps.
        config: config_a.clone(),
        counter: 0,
        out: Vec::new(),
    };

    for op in ops {
        match op {
            Op::Send { dir, channel, len } => {
                let channel = w.channel(channel);
                w.send(dir, channel, payload_len(len), None);
            }
            Op::Large {
                dir,
                channel,
                size,
                seed,
            } => w.send_large(dir, channel, size, seed),
            Op::Burst {
                dir,
                channel,
                count,
            } => {
                let channel = w.channel(channel);
                for i in 0..count % 64 {
                    w.send(dir, channel, MSG_HEADER + usize::from(i), None);
                }
            }
            Op::Transmit { dir } => w.transmit(dir),
            Op::Deliver { dir, index } => w.deliver(dir, usize::from(index)),
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
                if w.now - w.start < MAX_VIRTUAL_TIME {
                    w.now += Duration::from_millis(u64::from(ms));
                }
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
                    drain_events(s, peer, &w.config);
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
            "{}: reliable sent {} delivered {} (ordered {:?}/{:?}), buffered {} bytes, \
             in flight {}, holding {} bytes in {} partial messages",
            s.tag as char,
            s.flow.reliable_sent,
            s.flow.reliable_delivered,
            s.flow.ordered_delivered,
            s.flow
                .ordered
                .iter()
                .map(|(c, o)| (*c, o.len()))
                .collect::<HashMap<_, _>>(),
            s.conn.buffered_bytes(),
            s.conn.reliable_in_flight(),
            s.conn.held_bytes(),
            s.conn.partial_messages(),
        )
    };
    assert!(
        healed,
        "not healed after {HEAL_STEPS} steps of 10 ms; {}; {}",
        report(&w.a),
        report(&w.b)
    );
    for s in [&w.a, &w.b] {
        assert_eq!(
            (s.conn.held_bytes(), s.conn.partial_messages()),
            (0, 0),
            "{} still holds bytes after everything was delivered",
            s.tag as char
        );
    }
});
