//! Receive work is budgeted in frames and bytes, not datagrams: a peer that
//! packs 1,387 pings into every datagram is throttled (its datagrams
//! dropped and counted) and, as it keeps on, disconnected with
//! `DisconnectReason::Flooding`, while an honest peer on the same server
//! loses nothing; the byte budget judges alike; and an update takes in at
//! most `max_frames_per_update` frames, leaving the rest in the socket for
//! the next one. Simulated network, virtual time.

mod raw;

use std::time::Duration;

use lentil::{Config, Delivery, DisconnectReason, ServerEvent};
use raw::{emit_msg, v4, Bench, RawPeer};

/// A packet of nothing but pings, filling a 1,400-byte datagram.
fn ping_packet(p: &mut RawPeer) -> Vec<u8> {
    p.next(|out| {
        while out.len() < 1_400 {
            lentil::wire::emit_ping(out);
        }
    })
}

struct FloodOutcome {
    throttled: u64,
    flooder_dropped_at: Option<Duration>,
    honest_delivered: u32,
    honest_sent: u32,
}

/// For `seconds` of virtual time, 1 ms a tick: the flooder sends `per_tick`
/// datagrams made by `make`, an honest peer one ordered message.
fn flood(
    config: Config,
    seconds: u64,
    per_tick: usize,
    mut make: impl FnMut(&mut RawPeer) -> Vec<u8>,
) -> FloodOutcome {
    let mut bench = Bench::new(21, config);
    let mut flooder = RawPeer::connect(&mut bench, v4(8, 0, 0, 1), 1);
    let mut honest = RawPeer::connect(&mut bench, v4(8, 0, 1, 1), 2);
    let mut out = FloodOutcome {
        throttled: 0,
        flooder_dropped_at: None,
        honest_delivered: 0,
        honest_sent: 0,
    };
    for tick in 0..seconds * 1_000 {
        if out.flooder_dropped_at.is_none() {
            for _ in 0..per_tick {
                let d = make(&mut flooder);
                flooder.put(&d);
            }
        }
        let id = out.honest_sent as u16;
        let m = honest.next(|o| emit_msg(o, Delivery::ReliableOrdered, id, b"honest"));
        honest.put(&m);
        out.honest_sent += 1;
        bench.advance(Duration::from_millis(1));
        flooder.drain();
        honest.drain();
        for e in bench.take_events() {
            match e {
                ServerEvent::Message { peer, .. } if peer == honest.peer => {
                    out.honest_delivered += 1
                }
                ServerEvent::Disconnected { peer, reason } if peer == flooder.peer => {
                    assert_eq!(reason, DisconnectReason::Flooding);
                    out.flooder_dropped_at = Some(Duration::from_millis(tick));
                }
                ServerEvent::Message { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    out.throttled = bench.server.stats().datagrams_throttled;
    out
}

#[test]
fn a_ping_flood_is_throttled_then_disconnected_and_an_honest_peer_loses_nothing() {
    // 10 datagrams of 1,387 pings a millisecond: 13.9 million frames a
    // second against a budget of 1 million (a game whose peers send few
    // messages; the default stays above any honest stream).
    let config = Config {
        max_frames_per_peer_sec: 1_000_000,
        ..Config::default()
    };
    let out = flood(config, 3, 10, ping_packet);
    println!(
        "ping flood: {} datagrams throttled, flooder dropped at {:?}",
        out.throttled, out.flooder_dropped_at
    );
    assert!(out.throttled > 0);
    let at = out
        .flooder_dropped_at
        .expect("the flooder was disconnected");
    assert!(
        at >= Duration::from_secs(2) && at < Duration::from_millis(2_200),
        "{at:?}"
    );
    assert_eq!(
        out.honest_delivered, out.honest_sent,
        "the honest peer lost messages"
    );
}

#[test]
fn a_raised_frame_budget_lets_the_same_flood_through() {
    let config = Config {
        max_frames_per_peer_sec: 100_000_000,
        ..Config::default()
    };
    let out = flood(config, 1, 10, ping_packet);
    assert_eq!(out.throttled, 0);
    assert!(out.flooder_dropped_at.is_none());
}

#[test]
fn the_byte_budget_throttles_big_packets_of_few_frames() {
    // One 1,300-byte unreliable message per datagram, 4 a millisecond:
    // 5.2 MB/s of 4,000 frames/s, far under the frame budget.
    let big = |p: &mut RawPeer| p.next(|o| emit_msg(o, Delivery::Unreliable, 0, &[9u8; 1_300]));
    let tight = Config {
        max_bytes_per_peer_sec: 1_000_000,
        ..Config::default()
    };
    let out = flood(tight, 3, 4, big);
    assert!(out.throttled > 0);
    assert!(out.flooder_dropped_at.is_some());
    assert_eq!(out.honest_delivered, out.honest_sent);
    let out = flood(Config::default(), 1, 4, big);
    assert_eq!(out.throttled, 0, "the default byte budget carries 5.2 MB/s");
}

#[test]
fn an_update_takes_at_most_its_frame_budget_and_the_rest_waits() {
    let config = Config {
        max_frames_per_update: 2_000,
        ..Config::default()
    };
    let mut bench = Bench::new(22, config);
    let mut p = RawPeer::connect(&mut bench, v4(8, 0, 2, 1), 3);
    let before = bench.server.metrics(p.peer).expect("peer").in_packets;
    for _ in 0..20 {
        let d = ping_packet(&mut p);
        p.put(&d);
    }
    bench.update();
    let first = bench.server.metrics(p.peer).expect("peer").in_packets - before;
    // 1,387 frames a datagram: the second one spends the 2,000.
    assert_eq!(first, 2, "one update took {first} datagrams");
    for _ in 0..20 {
        bench.advance(Duration::from_millis(1));
    }
    let all = bench.server.metrics(p.peer).expect("peer").in_packets - before;
    assert_eq!(all, 20, "the rest waited and were taken later");
    assert_eq!(bench.server.stats().datagrams_throttled, 0);
}
