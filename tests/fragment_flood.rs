//! A peer that sends hostile fragments (indices past their count, sizes that
//! do not fit together, counts that change mid-message, messages never
//! finished) cannot make a connection hold more than `max_held_bytes`: the
//! heap is measured by a counting allocator, not taken from lentil's own
//! accounting.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lentil::proto::Connection;
use lentil::wire::{self, DataHeader, Fragment, MessageHeader, Packet, DATA_HEADER_LEN};
use lentil::{Config, Delivery};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const TOKEN: u32 = 0x5eed;

/// Builds a data packet with message frames written by `frames`.
fn packet(seq: u16, frames: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    let mut out = Vec::new();
    DataHeader {
        token: TOKEN,
        seq,
        ack: 0,
        ack_bits: 0,
    }
    .emit(&mut out);
    frames(&mut out);
    Bytes::from(out)
}

fn feed(conn: &mut Connection, now: Instant, datagram: &Bytes) {
    let Ok(Packet::Data { header, .. }) = Packet::parse(datagram) else {
        panic!("not a data packet");
    };
    conn.handle_data(now, &header, &datagram[DATA_HEADER_LEN..], datagram);
}

fn fragment(delivery: Delivery, channel: u8, id: u16, index: u16, count: u16) -> MessageHeader {
    MessageHeader {
        delivery,
        channel,
        id,
        fragment: Some(Fragment { index, count }),
    }
}

#[test]
fn hostile_fragments_never_grow_memory_past_the_cap() {
    let config = Config {
        max_held_bytes: 2 * 1024 * 1024,
        timeout: Duration::from_secs(60),
        ..Config::default()
    };
    let cap = config.max_held_bytes;
    let t0 = Instant::now();
    let mut conn = Connection::new(&config, TOKEN, config.reliable_window, t0);
    let reliable = config.channel_for(Delivery::Reliable).unwrap();
    let ordered = config.channel_for(Delivery::ReliableOrdered).unwrap();
    let body = vec![0xab; 1300];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let baseline = LIVE.load(Ordering::Relaxed);
    let mut peak = 0isize;
    let mut most_held = 0;
    let mut seq = 1u16;
    // Reliable ids must stay inside the receive window, which slides only as
    // messages complete; the flood walks it with never-finished messages
    // (each claims 700 pieces and sends 3), bad shapes and gaps.
    for round in 0..20_000u32 {
        let now = t0 + Duration::from_micros(u64::from(round) * 50);
        let id = (round * 3 % 8000) as u16;
        let kind = round % 4;
        let datagram = packet(seq, |out| match kind {
            // A never-finished message on the unordered channel.
            0 => {
                for index in 0..3u16 {
                    let h = fragment(Delivery::Reliable, reliable, id + index, index, 700);
                    wire::emit_message(out, &h, &body[..300]);
                }
            }
            // Sizes that do not fit together: a middle piece shorter than its sibling.
            1 => {
                let h = fragment(Delivery::Reliable, reliable, id, 0, 5);
                wire::emit_message(out, &h, &body[..1000]);
                let h = fragment(Delivery::Reliable, reliable, id + 1, 1, 5);
                wire::emit_message(out, &h, &body[..10]);
            }
            // A count that changes mid-message.
            2 => {
                let h = fragment(Delivery::Reliable, reliable, id, 0, 4);
                wire::emit_message(out, &h, &body[..1000]);
                let h = fragment(Delivery::Reliable, reliable, id + 1, 1, 9);
                wire::emit_message(out, &h, &body[..1000]);
            }
            // Ordered pieces far past a gap that never fills.
            _ => {
                let gap_id = 1 + (rng.gen::<u16>() % 8000);
                let h = fragment(Delivery::ReliableOrdered, ordered, gap_id, 1, 2);
                wire::emit_message(out, &h, &body);
            }
        });
        feed(&mut conn, now, &datagram);
        // An index past its count does not even parse: the packet is dropped.
        let bad = packet(seq.wrapping_add(1), |out| {
            out.extend_from_slice(&[0x05, reliable, 0, 1, 0, 9, 0, 3, 1, 0]);
        });
        feed(&mut conn, now, &bad);
        seq = seq.wrapping_add(2);
        assert!(conn.is_open(), "round {round}: the connection closed");
        assert!(
            conn.held_bytes() <= cap,
            "round {round}: held {}",
            conn.held_bytes()
        );
        most_held = most_held.max(conn.held_bytes());
        peak = peak.max(LIVE.load(Ordering::Relaxed) - baseline);
    }
    let stats = *conn.stats();
    assert!(
        most_held + 2 * 1400 > cap,
        "the flood never reached the cap: {most_held}"
    );
    assert!(stats.fragments_dropped > 1000, "{stats:?}");
    assert!(stats.invalid_packets >= 20_000, "{stats:?}");
    assert_eq!(stats.messages_reassembled, 0);
    // The cap plus the connection's own fixed structures (windows, queues).
    let allowance = cap as isize + 1024 * 1024;
    assert!(
        peak <= allowance,
        "heap grew by {peak} bytes, more than the {cap}-byte cap allows"
    );
    println!(
        "peak heap growth {} KiB for a {} KiB cap; {} fragments dropped",
        peak / 1024,
        cap / 1024,
        stats.fragments_dropped
    );
    // Unfinished unordered messages expire after `reassembly_timeout`.
    assert!(conn.partial_messages() > 0);
    let later = t0 + Duration::from_secs(1) + config.reassembly_timeout;
    conn.handle_timeout(later + Duration::from_secs(1));
    conn.handle_timeout(later + Duration::from_secs(2));
    assert!(conn.is_open());
    assert_eq!(conn.partial_messages(), 0, "unfinished messages expired");
}
