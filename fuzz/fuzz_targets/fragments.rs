//! One `Connection` fed data packets full of fragment and message frames by a
//! hostile peer, under a small held-bytes cap.
//!
//! The input is structured (`arbitrary`): a setup (channel list, MTU,
//! `max_message_size`, `max_held_bytes` a little above the least valid value,
//! reliable window, `reassembly_timeout` from 50 ms to 10 s) and a list of
//! operations:
//! * a data packet of frames: fragments and whole messages on a channel
//!   (the kind matching the channel's mode, the id relative to one past the
//!   newest the peer used there before the packet), frames laid out verbatim
//!   with any kind, channel, id, index and count (so also bad index/count),
//!   pings;
//! * a train: one fragmented message (2 to 64 pieces of consistent sizes),
//!   shuffled and packed a few pieces per packet, optionally with one flaw (a
//!   piece missing, repeated, with another count, another size, empty, or the
//!   whole message past `max_message_size`);
//! * raw bytes, after a valid data header or alone;
//! * the connection sending a message of its own (so it has data in flight
//!   for the packets' acks);
//! * time passing (`handle_timeout`), or idling until every unordered partial
//!   message must have expired.
//!
//! Invariants, after every packet and every timer run:
//! * nothing panics, and everything the connection sends fits the MTU and
//!   parses back with its token and well-formed frames;
//! * `held_bytes() <= max_held_bytes`;
//! * every partial message holds at least one piece, so
//!   `partial_messages() * (HELD_PIECE_OVERHEAD + 1) <= held_bytes()`;
//! * a delivered message is on a channel the connection has, with its mode,
//!   and one longer than any datagram handed in (so joined from fragments) is
//!   at most `max_message_size`; no more messages were joined than half the
//!   fragment frames handed in;
//! * once `reassembly_timeout` plus the once-a-second sweep has passed since
//!   the last fragment for an unordered channel arrived, no unordered partial
//!   message is left: only an ordered channel that received fragments may
//!   still hold one (at most one each);
//! * the connection ends only by a violation, the peer's disconnect or a
//!   timeout; it is then replaced by a fresh one and the run goes on.

#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use lentil::proto::{CloseCause, ConnEvent, Connection, HELD_PIECE_OVERHEAD};
use lentil::wire::{
    self, emit_message, emit_ping, write_varint, DataHeader, Fragment, Frame, FrameIter,
    MessageHeader, Packet,
};
use lentil::{Config, Delivery};
use libfuzzer_sys::fuzz_target;

const TOKEN: u32 = 0xf4a9_0001;
/// How often the connection sweeps expired partial messages.
const SWEEP: Duration = Duration::from_secs(1);
/// Longest payload of a frame built from a length field.
const MAX_FRAME_PAYLOAD: usize = 2048;
/// Largest train piece.
const MAX_PIECE: usize = 1400;
/// Step of virtual time while idling to expire partial messages.
const IDLE_STEP: Duration = Duration::from_millis(100);

use Delivery::{Reliable as R, ReliableOrdered as O, Unreliable as U, UnreliableSequenced as S};

/// Channel lists a run may use; the second has no ordered channel, so there
/// every partial message must expire.
const LAYOUTS: [&[Delivery]; 4] = [&[O, R, U, O, S], &[R, U, R, S], &Delivery::ALL, &[O, O, R]];

#[derive(Arbitrary, Debug)]
struct Setup {
    /// Channel list: `LAYOUTS[layout % 4]`.
    layout: u8,
    /// MTU 576 instead of 1400.
    small_mtu: bool,
    /// `max_message_size`: one packet's payload plus this many 256-byte steps.
    message_steps: u8,
    /// `max_held_bytes` above the least valid value, in 256-byte steps.
    held_extra: u8,
    /// `reliable_window = 1 << (window % 15)`.
    window: u8,
    /// `reassembly_timeout = (expiry % 200 + 1) * 50 ms`.
    expiry: u8,
}

#[derive(Arbitrary, Debug)]
enum FrameSpec {
    /// Fragment `index` of `count` on channel `channel % channels`, the kind
    /// the channel's mode calls for; id `cursor + first + index`, where the
    /// cursor is one past the newest id used on that channel before this
    /// packet. `len % 2049` payload bytes.
    Fragment {
        channel: u8,
        first: i8,
        index: u8,
        count: u8,
        len: u16,
    },
    /// A whole message on channel `channel % channels`, id `cursor + off`
    /// (the cursor as for `Fragment`).
    Whole {
        channel: u8,
        off: i8,
        len: u16,
    },
    /// A message frame laid out verbatim: kind `0x01 + kind % 6`, or when
    /// `kind >= 0xf0` kind `0x0f + kind % 16` (ping, disconnect or unknown
    /// types, the rest then read as what they parse as); any channel, id,
    /// index and count.
    Wild {
        kind: u8,
        channel: u8,
        id: u16,
        index: u16,
        count: u16,
        len: u16,
    },
    Ping,
}

#[derive(Arbitrary, Debug)]
enum Flaw {
    None,
    /// Piece `at % count` never sent.
    Missing,
    /// Piece `at % count` sent twice.
    Repeated,
    /// Piece `at % count` claims one more piece.
    OtherCount,
    /// Piece `at % count` is one byte longer.
    OtherSize,
    /// Piece `at % count` is empty.
    Empty,
    /// Pieces large enough that the message passes `max_message_size`.
    TooLarge,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// One data packet: the next sequence number, or (`old = Some(k)`) one
    /// `k + 1` behind it; with `ack`, acknowledging everything the
    /// connection sent (else acknowledging nothing).
    Packet {
        old: Option<u8>,
        ack: bool,
        frames: Vec<FrameSpec>,
    },
    /// A fragmented message on channel `channel % channels` from id
    /// `cursor + first`: `2 + count % 63` pieces of `1 + piece % fit` bytes
    /// (`fit` keeps the message within `max_message_size`), the last of
    /// `1 + last % piece` bytes; sent in an order shuffled by `order` (0: in
    /// order), `1 + per_packet % 8` pieces per packet.
    Train {
        channel: u8,
        first: i8,
        count: u8,
        piece: u16,
        last: u16,
        order: u32,
        per_packet: u8,
        flaw: Flaw,
        at: u8,
    },
    /// Bytes after a valid data header (next sequence number, acknowledging
    /// everything the connection sent), or alone.
    Raw { header: bool, bytes: Vec<u8> },
    /// The connection sends `len` bytes on channel `channel % channels`.
    Send { channel: u8, len: u16 },
    /// Time moves `ms` ms, then the timers run.
    Advance { ms: u16 },
    /// Time moves in 100 ms steps until every unordered partial message must have expired.
    Idle,
}

#[derive(Arbitrary, Debug)]
struct Input {
    setup: Setup,
    ops: Vec<Op>,
}

struct Harness {
    config: Config,
    conn: Connection,
    now: Instant,
    /// Sequence number of the peer's next packet.
    next_seq: u16,
    /// The newest sequence number the connection sent, acked by `ack` packets.
    ack: u16,
    /// Per channel: one past the newest message id the peer used.
    cursor: Vec<u16>,
    /// `cursor` when the packet (or train) being built began: its ids are relative to this.
    base: Vec<u16>,
    /// When the last fragment for an unordered channel was handed in.
    last_unordered_fragment: Option<Instant>,
    /// Per channel: whether an ordered channel was handed a fragment.
    ordered_fragments: Vec<bool>,
    /// Fragment frames handed in since the connection was made.
    fragments_in: u64,
    /// Longest datagram handed in.
    longest_datagram: usize,
    out: Vec<u8>,
}

impl Harness {
    fn new(config: Config, now: Instant) -> Self {
        let n = config.channels.len();
        Harness {
            conn: Connection::new(&config, TOKEN, config.reliable_window, now),
            config,
            now,
            next_seq: 1,
            ack: 0,
            cursor: vec![0; n],
            base: vec![0; n],
            last_unordered_fragment: None,
            ordered_fragments: vec![false; n],
            fragments_in: 0,
            longest_datagram: 0,
            out: Vec::new(),
        }
    }

    /// A fresh connection in place of one that ended.
    fn reset(&mut self) {
        *self = Harness::new(self.config.clone(), self.now);
    }

    fn channel(&self, channel: u8) -> (u8, Delivery) {
        let c = channel % self.config.channels.len() as u8;
        (c, self.config.channels[usize::from(c)])
    }

    /// Starts a packet or train: ids are relative to the cursors as they are now.
    fn begin(&mut self) {
        self.base.copy_from_slice(&self.cursor);
    }

    /// The id `off` from channel `c`'s cursor at `begin`; moves the cursor past it.
    fn id(&mut self, c: u8, off: i32) -> u16 {
        let id = self.base[usize::from(c)].wrapping_add(off as u16);
        self.used(c, id);
        id
    }

    /// Moves channel `c`'s cursor past `id` if it is not already.
    fn used(&mut self, c: u8, id: u16) {
        let cursor = &mut self.cursor[usize::from(c)];
        if (id.wrapping_sub(*cursor) as i16) >= 0 {
            *cursor = id.wrapping_add(1);
        }
    }

    /// Appends a data header: the next sequence number, or with `old = Some(k)`
    /// one `k + 1` behind it; with `ack`, acknowledging everything the
    /// connection sent, else nothing.
    fn header(&mut self, old: Option<u8>, ack: bool, out: &mut Vec<u8>) {
        let seq = match old {
            None => {
                self.next_seq = self.next_seq.wrapping_add(1);
                self.next_seq.wrapping_sub(1)
            }
            Some(k) => self.next_seq.wrapping_sub(u16::from(k) + 1),
        };
        let ack = if ack { self.ack } else { 0 };
        DataHeader {
            token: TOKEN,
            seq,
            ack,
            ack_bits: if ack == 0 { 0 } else { u32::MAX },
        }
        .emit(out);
    }

    /// Hands a datagram to the connection and checks everything after it.
    fn hand_in(&mut self, datagram: Vec<u8>) {
        let datagram = Bytes::from(datagram);
        let Ok(Packet::Data { header, frames }) = Packet::parse(&datagram) else {
            return;
        };
        if header.token != TOKEN {
            return;
        }
        self.longest_datagram = self.longest_datagram.max(datagram.len());
        // What may be held afterwards, judged generously: every fragment frame
        // that parses counts, even in a packet the connection drops.
        for frame in FrameIter::new(frames).flatten() {
            if let Frame::Message {
                channel,
                fragment: Some(_),
                ..
            } = frame
            {
                self.fragments_in += 1;
                match self.config.channels.get(usize::from(channel)) {
                    Some(Delivery::ReliableOrdered) => {
                        self.ordered_fragments[usize::from(channel)] = true;
                    }
                    _ => self.last_unordered_fragment = Some(self.now),
                }
            }
        }
        self.conn.handle_data(self.now, &header, frames, &datagram);
        self.after();
    }

    fn timers(&mut self) {
        self.conn.handle_timeout(self.now);
        self.after();
        if let Some(last) = self.last_unordered_fragment {
            if self.now.saturating_duration_since(last) >= self.config.reassembly_timeout + SWEEP {
                let ordered = self.ordered_fragments.iter().filter(|&&o| o).count();
                assert!(
                    self.conn.partial_messages() <= ordered,
                    "{} partial messages left {:?} after the last unordered fragment \
                     (reassembly_timeout {:?}); only {ordered} ordered channels got fragments",
                    self.conn.partial_messages(),
                    self.now - last,
                    self.config.reassembly_timeout
                );
            }
        }
    }

    /// Drains events and datagrams, checks the invariants, and replaces a
    /// connection that ended.
    fn after(&mut self) {
        let mut closed = false;
        while let Some(event) = self.conn.poll_event() {
            match event {
                ConnEvent::Message {
                    delivery,
                    channel,
                    payload,
                } => {
                    assert_eq!(
                        self.config.channels.get(usize::from(channel)),
                        Some(&delivery),
                        "delivered on channel {channel} as {delivery:?}"
                    );
                    assert!(
                        payload.len() <= self.longest_datagram
                            || payload.len() <= self.config.max_message_size,
                        "joined a message of {} bytes, past max_message_size {}",
                        payload.len(),
                        self.config.max_message_size
                    );
                }
                ConnEvent::Closed(cause) => {
                    assert!(
                        matches!(
                            cause,
                            CloseCause::Violation(_)
                                | CloseCause::PeerClosed(_)
                                | CloseCause::TimedOut(_)
                        ),
                        "closed by {cause:?}"
                    );
                    closed = true;
                }
            }
        }
        let mut budget = 10_000;
        while self.conn.poll_transmit(self.now, &mut self.out) {
            assert!(self.out.len() <= self.config.mtu, "datagram past the MTU");
            match Packet::parse(&self.out) {
                Ok(Packet::Data { header, frames }) => {
                    assert_eq!(header.token, TOKEN);
                    assert!(FrameIter::new(frames).all(|f| f.is_ok()), "bad frame sent");
                    self.ack = header.seq;
                }
                other => panic!("sent a non-data packet: {other:?}"),
            }
            budget -= 1;
            assert!(budget > 0, "poll_transmit never returns false");
        }
        let held = self.conn.held_bytes();
        assert!(
            held <= self.config.max_held_bytes,
            "holds {held} bytes, past max_held_bytes {}",
            self.config.max_held_bytes
        );
        let partial = self.conn.partial_messages();
        assert!(
            partial * (HELD_PIECE_OVERHEAD + 1) <= held,
            "{partial} partial messages in {held} held bytes"
        );
        let joined = self.conn.stats().messages_reassembled;
        assert!(
            joined * 2 <= self.fragments_in,
            "{joined} messages joined from {} fragment frames",
            self.fragments_in
        );
        if closed || self.conn.is_closed() {
            assert!(self.conn.is_closed());
            self.reset();
        }
    }

    fn frame(&mut self, spec: &FrameSpec, out: &mut Vec<u8>) {
        match *spec {
            FrameSpec::Fragment {
                channel,
                first,
                index,
                count,
                len,
            } => {
                let (c, delivery) = self.channel(channel);
                let id = self.id(c, i32::from(first) + i32::from(index));
                let fragment = Fragment {
                    index: u16::from(index),
                    count: u16::from(count),
                };
                let kind = if delivery == Delivery::ReliableOrdered {
                    0x06
                } else {
                    0x05
                };
                wild_frame(out, kind, c, id, fragment, payload_len(len), id);
            }
            FrameSpec::Whole { channel, off, len } => {
                let (c, delivery) = self.channel(channel);
                let id = self.id(c, i32::from(off));
                let header = MessageHeader {
                    delivery,
                    channel: c,
                    id,
                    fragment: None,
                };
                emit_message(out, &header, &filler(payload_len(len), id));
            }
            FrameSpec::Wild {
                kind,
                channel,
                id,
                index,
                count,
                len,
            } => {
                let kind = if kind >= 0xf0 {
                    0x0f + kind % 16
                } else {
                    0x01 + kind % 6
                };
                let fragment = Fragment { index, count };
                wild_frame(out, kind, channel, id, fragment, payload_len(len), id);
            }
            FrameSpec::Ping => emit_ping(out),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn train(
        &mut self,
        channel: u8,
        first: i8,
        count: u8,
        piece: u16,
        last: u16,
        order: u32,
        per_packet: u8,
        flaw: Flaw,
        at: u8,
    ) {
        let (c, delivery) = self.channel(channel);
        let kind = if delivery == Delivery::ReliableOrdered {
            0x06
        } else {
            0x05
        };
        self.begin();
        let count = 2 + u16::from(count % 63);
        let pieces = usize::from(count);
        let fit = (self.config.max_message_size / pieces).clamp(1, MAX_PIECE);
        let mut piece_len = 1 + usize::from(piece) % fit;
        if matches!(flaw, Flaw::TooLarge) {
            piece_len = self.config.max_message_size / (pieces - 1) + 1;
        }
        let last_len = 1 + usize::from(last) % piece_len;
        let first_id = self.id(c, i32::from(first));
        self.used(c, first_id.wrapping_add(count - 1));
        let at = usize::from(at) % pieces;

        let mut frames: Vec<Vec<u8>> = Vec::with_capacity(pieces + 1);
        for index in 0..count {
            let i = usize::from(index);
            let id = first_id.wrapping_add(index);
            let mut len = if i + 1 == pieces { last_len } else { piece_len };
            let mut claimed = count;
            if i == at {
                match flaw {
                    Flaw::Missing => continue,
                    Flaw::OtherCount => claimed = count + 1,
                    Flaw::OtherSize => len += 1,
                    Flaw::Empty => len = 0,
                    _ => {}
                }
            }
            let fragment = Fragment {
                index,
                count: claimed,
            };
            let mut frame = Vec::with_capacity(len + 11);
            wild_frame(&mut frame, kind, c, id, fragment, len, first_id);
            if i == at && matches!(flaw, Flaw::Repeated) {
                frames.push(frame.clone());
            }
            frames.push(frame);
        }
        // A small deterministic shuffle: swap each piece with one `order` picks.
        if order != 0 {
            let mut x = order;
            for i in (1..frames.len()).rev() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                frames.swap(i, x as usize % (i + 1));
            }
        }
        let per_packet = 1 + usize::from(per_packet % 8);
        for chunk in frames.chunks(per_packet) {
            let mut out = Vec::new();
            self.header(None, true, &mut out);
            for frame in chunk {
                out.extend_from_slice(frame);
            }
            self.hand_in(out);
        }
    }
}

fn payload_len(len: u16) -> usize {
    usize::from(len) % (MAX_FRAME_PAYLOAD + 1)
}

/// `len` bytes that tell their message (`key`) and position apart.
fn filler(len: usize, key: u16) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u16).wrapping_mul(31).wrapping_add(key) as u8)
        .collect()
}

/// Appends a message frame with the layout of `kind` (index and count written
/// for kinds 5 and 6, whatever their values; the id for all but kind 1).
fn wild_frame(
    out: &mut Vec<u8>,
    kind: u8,
    channel: u8,
    id: u16,
    fragment: Fragment,
    len: usize,
    key: u16,
) {
    out.push(kind);
    out.push(channel);
    if kind != 0x01 {
        out.extend_from_slice(&id.to_be_bytes());
    }
    if kind == 0x05 || kind == 0x06 {
        out.extend_from_slice(&fragment.index.to_be_bytes());
        out.extend_from_slice(&fragment.count.to_be_bytes());
    }
    write_varint(out, len as u32);
    out.extend_from_slice(&filler(len, key.wrapping_add(fragment.index)));
}

fn config(setup: &Setup) -> Config {
    let mut c = Config {
        channels: LAYOUTS[usize::from(setup.layout) % LAYOUTS.len()].to_vec(),
        reliable_window: 1 << (setup.window % 15),
        reassembly_timeout: Duration::from_millis((u64::from(setup.expiry) % 200 + 1) * 50),
        // Long enough that idling out partial messages never times the connection out.
        timeout: Duration::from_secs(30),
        ..Config::default()
    };
    if setup.small_mtu {
        c.mtu = wire::MIN_MTU;
    }
    c.max_message_size = c.max_packet_payload() + usize::from(setup.message_steps) * 256;
    let piece = wire::fragment_payload(c.mtu);
    let cost = c.max_message_size + c.max_message_size.div_ceil(piece) * HELD_PIECE_OVERHEAD;
    let reliable = c.channels.iter().filter(|d| d.is_reliable()).count();
    c.max_held_bytes = cost * reliable + usize::from(setup.held_extra) * 256;
    c.validate().expect("valid config");
    c
}

fuzz_target!(|input: Input| {
    let Input { setup, ops } = input;
    let config = config(&setup);
    let mut h = Harness::new(config, Instant::now());

    for op in ops {
        match op {
            Op::Packet { old, ack, frames } => {
                let mut out = Vec::new();
                h.header(old, ack, &mut out);
                h.begin();
                for spec in &frames {
                    h.frame(spec, &mut out);
                }
                h.hand_in(out);
            }
            Op::Train {
                channel,
                first,
                count,
                piece,
                last,
                order,
                per_packet,
                flaw,
                at,
            } => h.train(
                channel, first, count, piece, last, order, per_packet, flaw, at,
            ),
            Op::Raw { header, bytes } => {
                let mut out = Vec::new();
                if header {
                    h.header(None, true, &mut out);
                }
                out.extend_from_slice(&bytes);
                h.hand_in(out);
            }
            Op::Send { channel, len } => {
                let (c, _) = h.channel(channel);
                let len = usize::from(len) % 8192;
                let _ = h.conn.send_on(c, Bytes::from(filler(len, len as u16)));
                h.after();
            }
            Op::Advance { ms } => {
                h.now += Duration::from_millis(u64::from(ms));
                h.timers();
            }
            Op::Idle => {
                let until = h
                    .last_unordered_fragment
                    .map_or(h.now, |t| t + h.config.reassembly_timeout + SWEEP);
                loop {
                    h.now += IDLE_STEP;
                    h.timers();
                    if h.now >= until {
                        break;
                    }
                }
            }
        }
    }
});
