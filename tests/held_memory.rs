//! What a connected peer can make the server hold, measured as real heap by a
//! counting global allocator (not by the server's own counters): many
//! unfinished fragments, the same once they expire, an ordered message far
//! ahead of a gap, an ordered fragment claiming 65 535 pieces, and many such
//! peers against the server-wide cap. Each must stay within what it is
//! charged, and what is charged within the caps.
//!
//! The tests take a lock so that no other test allocates while one measures.

mod raw;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use lentil::wire::{self, Fragment};
use lentil::{Config, Delivery, PeerId};
use raw::{emit_msg, emit_piece, v4, Bench, RawPeer};

/// Bytes currently allocated by the whole test binary.
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

fn live() -> i64 {
    LIVE_BYTES.load(Ordering::SeqCst)
}

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const MIB: f64 = 1024.0 * 1024.0;
/// What a connection may hold beyond its charges: event and scratch
/// buffers that grew while it was served, none of them held data.
const SLACK: i64 = 128 * 1024;

fn mib(bytes: i64) -> String {
    format!("{:.2} MiB", bytes as f64 / MIB)
}

fn held(bench: &Bench, peer: PeerId) -> i64 {
    bench
        .server
        .metrics(peer)
        .map_or(0, |m| m.held_bytes as i64)
}

/// Sends `frames` (each one encoded frame; an empty one ends a packet)
/// packed into packets of up to 1 200 bytes, running the server after every
/// 16 packets.
fn send_frames(bench: &mut Bench, p: &mut RawPeer, frames: impl Iterator<Item = Vec<u8>>) {
    send_frames_every(bench, p, frames, Duration::ZERO);
}

/// [`send_frames`], advancing virtual time by `step` before each run of
/// the server.
fn send_frames_every(
    bench: &mut Bench,
    p: &mut RawPeer,
    frames: impl Iterator<Item = Vec<u8>>,
    step: Duration,
) {
    let mut packet = Vec::new();
    let mut queued = 0;
    let mut flush = |bench: &mut Bench, p: &mut RawPeer, packet: &mut Vec<u8>, force: bool| {
        if packet.is_empty() {
            return;
        }
        let bytes = p.next(|out| out.extend_from_slice(packet));
        p.put(&bytes);
        packet.clear();
        queued += 1;
        if queued % 16 == 0 || force {
            bench.advance(step);
            p.drain();
            for e in std::mem::take(&mut bench.events) {
                match e {
                    lentil::ServerEvent::Message { .. } => {}
                    // Kept for the test to judge.
                    lentil::ServerEvent::Disconnected { .. } => bench.events.push(e),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    };
    for f in frames {
        if f.is_empty() || packet.len() + f.len() > 1_200 {
            flush(bench, p, &mut packet, false);
        }
        packet.extend_from_slice(&f);
    }
    flush(bench, p, &mut packet, true);
}

fn piece(delivery: Delivery, id: u64, fragment: Option<Fragment>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    emit_piece(&mut out, delivery, id as u16, fragment, body);
    out
}

/// 65 532 unfinished one-byte fragments, each the first of its own
/// two-piece message, on the unordered channel: four rounds of the 16 383
/// ids the window allows, each round closed by a whole message at its base
/// so the window moves on.
fn unfinished_fragments() -> impl Iterator<Item = Vec<u8>> {
    fragment_rounds(0..4)
}

/// Rounds of [`unfinished_fragments`]: round `r` uses ids from `r * 16 384`.
fn fragment_rounds(rounds: std::ops::Range<u64>) -> impl Iterator<Item = Vec<u8>> {
    rounds.flat_map(|round| {
        let base = round * 16_384;
        let frags = (base + 1..base + 16_384).map(|id| {
            piece(
                Delivery::Reliable,
                id,
                Some(Fragment { index: 0, count: 2 }),
                b"x",
            )
        });
        // The closing message ends its packet: the next round's ids are
        // inside the window only once it has moved.
        frags.chain([piece(Delivery::Reliable, base, None, b"w"), Vec::new()])
    })
}

/// Keeps `p` alive across `d` of virtual time, pinging every 500 ms.
fn idle(bench: &mut Bench, p: &mut RawPeer, d: Duration) {
    let step = Duration::from_millis(500);
    let mut waited = Duration::ZERO;
    while waited < d {
        let ping = p.next(wire::emit_ping);
        p.put(&ping);
        bench.advance(step);
        p.drain();
        bench.take_events();
        waited += step;
    }
}

#[test]
fn unfinished_fragments_cost_no_more_than_charged_and_nothing_once_expired() {
    let _serial = serial();
    let config = Config::default();
    let max_held = config.max_held_bytes as i64;
    let mut bench = Bench::new(1, raw::unbudgeted(config));
    let mut p = RawPeer::connect(&mut bench, v4(2, 0, 0, 6000), 1);
    bench.update();
    let base = live();
    send_frames(&mut bench, &mut p, unfinished_fragments());
    let (real, counted) = (live() - base, held(&bench, p.peer));
    let m = bench.server.metrics(p.peer).expect("connected");
    println!(
        "65,532 unfinished fragments: counted {}, real {}, {} dropped",
        mib(counted),
        mib(real),
        m.fragments_dropped
    );
    assert!(counted <= max_held, "charged past the cap");
    assert!(
        real <= counted + SLACK,
        "real heap {} past what was charged, {}",
        mib(real),
        mib(counted)
    );

    idle(&mut bench, &mut p, Duration::from_secs(11));
    let (real, counted) = (live() - base, held(&bench, p.peer));
    println!(
        "the same after they expire: counted {}, real {}",
        mib(counted),
        mib(real)
    );
    assert_eq!(counted, 0);
    assert!(
        real <= SLACK,
        "{} kept after every piece expired",
        mib(real)
    );
}

#[test]
fn an_ordered_message_far_ahead_costs_no_more_than_charged() {
    let _serial = serial();
    let config = Config::default();
    let mut bench = Bench::new(2, raw::unbudgeted(config));
    let mut p = RawPeer::connect(&mut bench, v4(2, 0, 0, 6001), 2);
    bench.update();
    let base = live();
    let far = p.next(|out| emit_msg(out, Delivery::ReliableOrdered, 16_383, b"z"));
    p.send(&mut bench, &far);
    p.drain();
    let (real, counted) = (live() - base, held(&bench, p.peer));
    println!("one 1-byte ordered message at id 16,383: counted {counted} B, real {real} B");
    assert!(
        real <= counted + SLACK,
        "real {real} B, charged {counted} B"
    );
    // The gap fills: everything is delivered and the slots go.
    let fill: Vec<Vec<u8>> = (0..16_383)
        .map(|id| piece(Delivery::ReliableOrdered, id, None, b"a"))
        .collect();
    send_frames(&mut bench, &mut p, fill.into_iter());
    let (real, counted) = (live() - base, held(&bench, p.peer));
    println!("after the gap fills: counted {counted} B, real {real} B");
    assert_eq!(counted, 0);
    // The reorder slots are given back; what stays is per-update scratch
    // that grew when 16 383 messages were released in one update.
    assert!(real <= 512 * 1024, "{real} B kept with nothing held");
}

#[test]
fn an_ordered_fragment_claiming_65535_pieces_reserves_nothing() {
    let _serial = serial();
    let config = Config::default();
    let mut bench = Bench::new(3, raw::unbudgeted(config));
    let mut p = RawPeer::connect(&mut bench, v4(2, 0, 0, 6002), 3);
    bench.update();
    let base = live();
    // 16 bytes a piece: 65 535 of them fit under the 1 MiB message cap.
    let claim = p.next(|out| {
        emit_piece(
            out,
            Delivery::ReliableOrdered,
            0,
            Some(Fragment {
                index: 0,
                count: 65_535,
            }),
            &[7u8; 16],
        )
    });
    p.send(&mut bench, &claim);
    p.drain();
    let (real, counted) = (live() - base, held(&bench, p.peer));
    println!("one ordered fragment claiming 65,535 pieces: counted {counted} B, real {real} B");
    assert!(counted > 0, "the piece is held");
    assert!(
        real <= counted + SLACK,
        "real {real} B, charged {counted} B"
    );
}

/// Eight peers each flood the held cap of their connection (8 MiB) against
/// a server-wide cap of 32 MiB, three passes over. After every update the
/// server holds no more than its cap, measured as real heap; the heaviest
/// holders lose their data, and peers that keep forcing the cap are
/// dropped with `HeldTooMuch`; an honest peer holding one small message for
/// a gap keeps it throughout.
#[test]
fn the_server_wide_cap_cuts_back_the_heaviest_and_drops_repeat_offenders() {
    let _serial = serial();
    let cap = 32 * 1024 * 1024;
    let config = Config {
        max_total_held_bytes: cap,
        ..Config::default()
    };
    let mut bench = Bench::new(4, raw::unbudgeted(config));
    let mut honest = RawPeer::connect(&mut bench, v4(3, 0, 0, 7000), 100);
    let ahead = honest.next(|out| emit_msg(out, Delivery::ReliableOrdered, 1, b"second"));
    honest.send(&mut bench, &ahead);
    let mut attackers: Vec<RawPeer> = (0..8)
        .map(|i| RawPeer::connect(&mut bench, v4(3, 1, i, 7000), 200 + u64::from(i)))
        .collect();
    bench.update();
    let base = live();
    let mut peak = 0i64;
    let mut dropped = Vec::new();
    for pass in 0..3u64 {
        for a in attackers.iter_mut() {
            if dropped.contains(&a.peer) {
                continue;
            }
            let rounds = pass * 4..pass * 4 + 4;
            send_frames_every(
                &mut bench,
                a,
                fragment_rounds(rounds),
                Duration::from_millis(1),
            );
            let now = live() - base;
            peak = peak.max(now);
            assert!(
                now <= cap as i64 + 8 * SLACK,
                "pass {pass}: {} held, cap {}",
                mib(now),
                mib(cap as i64)
            );
            for e in bench.take_events() {
                if let lentil::ServerEvent::Disconnected { peer, reason } = e {
                    assert_eq!(reason, lentil::DisconnectReason::HeldTooMuch);
                    dropped.push(peer);
                }
            }
        }
    }
    let total: i64 = std::iter::once(&honest)
        .chain(attackers.iter())
        .map(|p| held(&bench, p.peer))
        .sum();
    println!(
        "8 peers flooding, cap {}: peak real {}, held at the end {}, {} dropped",
        mib(cap as i64),
        mib(peak),
        mib(total),
        dropped.len()
    );
    assert!(total <= cap as i64);
    assert!(!dropped.is_empty(), "nobody forcing the cap was dropped");
    // The honest peer kept its one held message: filling the gap delivers both.
    assert!(bench.server.peers().contains(&honest.peer));
    let first = honest.next(|out| emit_msg(out, Delivery::ReliableOrdered, 0, b"first"));
    honest.send(&mut bench, &first);
    let got = Bench::messages_of(&bench.take_events(), honest.peer);
    assert_eq!(got, vec![b"first".to_vec(), b"second".to_vec()]);
}

/// The default cap (256 MiB) leaves the same eight peers' 64 MiB alone:
/// the cap, not something else, cut them back above.
#[test]
fn under_the_default_cap_the_same_peers_keep_what_they_hold() {
    let _serial = serial();
    let mut bench = Bench::new(5, raw::unbudgeted(Config::default()));
    let mut attackers: Vec<RawPeer> = (0..8)
        .map(|i| RawPeer::connect(&mut bench, v4(3, 2, i, 7000), 300 + u64::from(i)))
        .collect();
    for a in attackers.iter_mut() {
        send_frames_every(
            &mut bench,
            a,
            fragment_rounds(0..4),
            Duration::from_millis(1),
        );
    }
    let total: i64 = attackers.iter().map(|p| held(&bench, p.peer)).sum();
    println!("8 peers flooding, default cap: held {}", mib(total));
    assert!(total > 60 * 1024 * 1024, "held {}", mib(total));
    assert_eq!(bench.server.peer_count(), 8);
}
