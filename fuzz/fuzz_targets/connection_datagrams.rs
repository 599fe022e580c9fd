//! One `Connection` fed arbitrary datagrams from a hostile or broken peer.
//!
//! Input: a sequence of records `ctl u8 | len u16 (big-endian) | len bytes`
//! (the last record is cut at the end of the input). Before each datagram the
//! clock advances `(ctl & 0x3f) * 8` ms and timers run; after it, `ctl >> 6`
//! may queue more messages (1 reliable, 2 ordered, 3 unreliable + sequenced).
//! Datagrams that parse as data packets carrying the connection's token go to
//! `handle_data`, the rest are dropped, as an owner would. The connection has
//! the default channels (0 unreliable, 1 sequenced, 2 reliable, 3 ordered),
//! so its frames (protocol 2: kind, channel, id, and index and count for
//! fragments of large reliable messages) reach every receive path.
//!
//! Invariants: nothing panics; every datagram the connection emits fits the
//! MTU and parses back as a data packet with its token and well-formed frames;
//! every message it delivers is either no longer than the longest datagram
//! handed in or (joined from fragments) at most `max_message_size`; it never
//! holds more than `max_held_bytes`; and a silent peer times out.

#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use lentil::proto::{ConnEvent, Connection};
use lentil::wire::{FrameIter, Packet};
use lentil::{Config, Delivery};
use libfuzzer_sys::fuzz_target;

/// The token the seed corpus uses.
const TOKEN: u32 = 0x5eed_0001;

fn payload(n: u32) -> Bytes {
    let mut p = n.to_be_bytes().to_vec();
    p.extend((0..(n % 40) as u8).map(|i| i.wrapping_mul(7)));
    Bytes::from(p)
}

struct Harness {
    conn: Connection,
    config: Config,
    out: Vec<u8>,
    counter: u32,
    /// Longest datagram handed to the connection.
    longest: usize,
}

impl Harness {
    fn send(&mut self, delivery: Delivery) {
        self.counter += 1;
        // QueueFull and the like are fine; they are not what this target checks.
        let _ = self.conn.send(payload(self.counter), delivery);
    }

    fn pump(&mut self, now: Instant) {
        let mut budget = 10_000;
        while self.conn.poll_transmit(now, &mut self.out) {
            check_outgoing(&self.out, self.config.mtu);
            budget -= 1;
            assert!(budget > 0, "poll_transmit never returns false");
        }
        while let Some(event) = self.conn.poll_event() {
            if let ConnEvent::Message { payload, .. } = event {
                assert!(
                    payload.len() <= self.longest || payload.len() <= self.config.max_message_size,
                    "delivered {} bytes: longer than any datagram and than max_message_size",
                    payload.len()
                );
            }
        }
        assert!(self.conn.held_bytes() <= self.config.max_held_bytes);
    }
}

fn check_outgoing(datagram: &[u8], mtu: usize) {
    assert!(datagram.len() <= mtu, "{} > mtu {mtu}", datagram.len());
    match Packet::parse(datagram) {
        Ok(Packet::Data { header, frames }) => {
            assert_eq!(header.token, TOKEN);
            for frame in FrameIter::new(frames) {
                assert!(frame.is_ok(), "emitted a bad frame: {frame:?}");
            }
        }
        other => panic!("emitted a non-data packet: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let base = Instant::now();
    let mut now = base;
    let mut h = Harness {
        conn: Connection::new(&config, TOKEN, 8192, now),
        out: Vec::with_capacity(config.mtu),
        config,
        counter: 0,
        longest: 0,
    };
    // Something in flight, so that acks and losses in the input have an effect.
    for delivery in [
        Delivery::Reliable,
        Delivery::ReliableOrdered,
        Delivery::Reliable,
        Delivery::ReliableOrdered,
        Delivery::Unreliable,
        Delivery::UnreliableSequenced,
    ] {
        h.send(delivery);
    }
    h.pump(now);
    h.send(Delivery::Reliable);
    h.send(Delivery::ReliableOrdered);
    h.pump(now);

    let mut rest = data;
    while let Some((&ctl, tail)) = rest.split_first() {
        let (len, tail) = match tail {
            [hi, lo, tail @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), tail),
            _ => (tail.len(), &[][..]),
        };
        let len = len.min(tail.len());
        let (chunk, tail) = tail.split_at(len);
        rest = tail;

        now += Duration::from_millis(u64::from(ctl & 0x3f) * 8);
        h.conn.handle_timeout(now);
        h.pump(now);

        let datagram = Bytes::copy_from_slice(chunk);
        if let Ok(Packet::Data { header, frames }) = Packet::parse(&datagram) {
            if header.token == TOKEN {
                h.longest = h.longest.max(datagram.len());
                h.conn.handle_data(now, &header, frames, &datagram);
            }
        }
        match ctl >> 6 {
            1 => h.send(Delivery::Reliable),
            2 => h.send(Delivery::ReliableOrdered),
            3 => {
                h.send(Delivery::Unreliable);
                h.send(Delivery::UnreliableSequenced);
            }
            _ => {}
        }
        h.conn.handle_timeout(now);
        h.pump(now);
    }

    // Run the timers to the end: retransmissions, keepalives, then the timeout.
    for _ in 0..30 {
        now += Duration::from_millis(500);
        h.conn.handle_timeout(now);
        h.pump(now);
    }
    assert!(h.conn.is_closed(), "a silent peer must time out");
});
