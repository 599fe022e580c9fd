//! Exactly-once delivery when the wire's 16-bit message ids and packet
//! numbers wrap: a server on the simulated network, in virtual time, takes
//! packets a test writes by hand, past 2^16 and 2^20 ids, with packets
//! duplicated, replayed (recent, older than the receive history, and 65 536
//! packets old) and reordered. Every message must come out once, with the
//! bytes that were sent under its id, and no replay may deliver anything.

mod raw;

use std::time::Duration;

use lentil::wire::Fragment;
use lentil::{Config, Delivery, ServerEvent};
use raw::{emit_msg, emit_piece, v4, Bench, RawPeer};

const SEED: u64 = 0xE0_0CE;

/// Whole one-byte messages with full ids `ids` on `delivery`'s channel,
/// `per_packet` to a packet; returns the packets.
fn whole_messages(
    peer: &mut RawPeer,
    delivery: Delivery,
    ids: impl Iterator<Item = u64>,
    per_packet: usize,
) -> Vec<Vec<u8>> {
    let ids: Vec<u64> = ids.collect();
    ids.chunks(per_packet)
        .map(|chunk| {
            peer.next(|out| {
                for &id in chunk {
                    emit_msg(out, delivery, id as u16, &[id as u8]);
                }
            })
        })
        .collect()
}

/// Sends `packets`, running the server after every 16, and returns its events.
fn send_all(bench: &mut Bench, peer: &mut RawPeer, packets: &[Vec<u8>]) -> Vec<ServerEvent> {
    for batch in packets.chunks(16) {
        for p in batch {
            peer.put(p);
        }
        bench.advance(Duration::from_micros(100));
        peer.drain();
    }
    bench.take_events()
}

/// Before, once the 16-bit ids had wrapped, a second copy of index 0 under
/// a wire id equal to an unfinished message's first id joined that message
/// as its "missing" piece: "AAAABBBB" came out though piece 1 was never sent.
#[test]
fn a_repeated_fragment_index_after_the_id_wrap_never_completes_a_message() {
    let mut bench = Bench::new(SEED, raw::unbudgeted(Config::default()));
    let mut p = RawPeer::connect(&mut bench, v4(1, 0, 0, 5000), 1);
    let d = Delivery::Reliable;
    let first = p.next(|out| emit_piece(out, d, 1, Some(Fragment { index: 0, count: 2 }), b"AAAA"));
    p.send(&mut bench, &first);
    // Every other id up to 65 536: the id space wraps once.
    let ids = std::iter::once(0).chain(2..=65_536);
    let packets = whole_messages(&mut p, d, ids, 150);
    let events = send_all(&mut bench, &mut p, &packets);
    let got = Bench::messages_of(&events, p.peer);
    assert_eq!(got.len(), 65_536, "every whole message once");
    // Full id 65 537, wire id 1: index 0 of a new message.
    let again = p.next(|out| emit_piece(out, d, 1, Some(Fragment { index: 0, count: 2 }), b"BBBB"));
    p.send(&mut bench, &again);
    let events = bench.take_events();
    assert!(
        Bench::messages_of(&events, p.peer).is_empty(),
        "a second index 0 completed a message: {events:?}"
    );
    // Its real second piece completes it, and only it.
    let last = p.next(|out| emit_piece(out, d, 2, Some(Fragment { index: 1, count: 2 }), b"CC"));
    p.send(&mut bench, &last);
    let events = bench.take_events();
    assert_eq!(
        Bench::messages_of(&events, p.peer),
        vec![b"BBBBCC".to_vec()]
    );
    assert_eq!(
        bench.server.peers(),
        vec![p.peer],
        "the peer stays connected"
    );
}

/// Before, a genuine packet replayed once it was older than the receive
/// history still had its reliable frames read, and after 65 536 ids their
/// wire ids looked new: 12 old messages were delivered in place of the real
/// ids 65 536 to 65 547, which were then dropped as duplicates.
#[test]
fn a_replayed_packet_older_than_the_history_delivers_nothing() {
    let mut bench = Bench::new(SEED + 1, raw::unbudgeted(Config::default()));
    let mut p = RawPeer::connect(&mut bench, v4(1, 0, 0, 5001), 2);
    let d = Delivery::ReliableOrdered;
    let captured = p.next(|out| {
        for id in 0..12u16 {
            emit_msg(out, d, id, format!("old-{id}").as_bytes());
        }
    });
    p.send(&mut bench, &captured);
    assert_eq!(Bench::messages_of(&bench.take_events(), p.peer).len(), 12);
    // 65 524 more ids in 5 000 packets: the capture is 5 000 packets old,
    // past the 4 096 the receive history holds.
    let ids: Vec<u64> = (12..65_536).collect();
    let per_packet = ids.len().div_ceil(5_000);
    let packets = whole_messages(&mut p, d, ids.into_iter(), per_packet);
    assert!(packets.len() > 4_096);
    let events = send_all(&mut bench, &mut p, &packets);
    assert_eq!(Bench::messages_of(&events, p.peer).len(), 65_524);

    let before = bench.server.metrics(p.peer).expect("peer");
    p.send(&mut bench, &captured);
    let after = bench.server.metrics(p.peer).expect("peer");
    assert!(
        Bench::messages_of(&bench.take_events(), p.peer).is_empty(),
        "a replay delivered something"
    );
    assert_eq!(after.late_packets - before.late_packets, 1);
    assert_eq!(after.in_messages, before.in_messages);
    assert_eq!(
        after.duplicates_dropped, before.duplicates_dropped,
        "not one frame of the replay was even looked at"
    );

    // The real ids 65 536.. are delivered, in order, once.
    let real = p.next(|out| {
        for id in 0..12u16 {
            emit_msg(out, d, id, format!("new-{id}").as_bytes());
        }
    });
    p.send(&mut bench, &real);
    p.send(&mut bench, &real);
    let want: Vec<Vec<u8>> = (0..12).map(|i| format!("new-{i}").into_bytes()).collect();
    assert_eq!(Bench::messages_of(&bench.take_events(), p.peer), want);
}

/// Ids per channel in the long run: past 2^20.
const LONG_RUN_IDS: u64 = (1 << 20) + 4_096;
/// Messages per channel in each packet of the long run.
const PER_PACKET: u64 = 16;

/// 2^20 + 4 096 ids on both reliable channels, 16 of each to a packet, so
/// the packet numbers wrap too (65 792 packets). Packets go out in swapped
/// pairs; every fifth is sent twice; every 97th is followed by replays of
/// the packets 3, 5 000 and 65 736 before it (a duplicate, one older than
/// the history, and one whose wire number is that of a recent packet).
/// Every message comes out exactly once with its own bytes, ordered ones in
/// order, and the connection survives.
#[test]
fn exactly_once_past_a_million_ids_under_duplication_replay_and_reordering() {
    let mut bench = Bench::new(SEED + 2, raw::unbudgeted(Config::default()));
    let mut p = RawPeer::connect(&mut bench, v4(1, 0, 0, 5002), 3);
    let packets_total = LONG_RUN_IDS / PER_PACKET;
    let mut built: Vec<Vec<u8>> = Vec::with_capacity(packets_total as usize);
    for n in 0..packets_total {
        built.push(p.next(|out| {
            for id in n * PER_PACKET..(n + 1) * PER_PACKET {
                let body = (id as u32).to_le_bytes();
                emit_msg(out, Delivery::ReliableOrdered, id as u16, &body);
                emit_msg(out, Delivery::Reliable, id as u16, &body);
            }
        }));
    }
    let mut next_ordered = 0u64;
    let mut unordered_seen = vec![false; LONG_RUN_IDS as usize];
    let mut unordered_count = 0u64;
    let me = p.peer;
    let mut check = |bench: &mut Bench| {
        for e in bench.take_events() {
            let ServerEvent::Message { peer, message } = e else {
                panic!("unexpected event {e:?}");
            };
            assert_eq!(peer, me);
            let id = u64::from(u32::from_le_bytes(message[..].try_into().expect("4 bytes")));
            match message.delivery {
                Delivery::ReliableOrdered => {
                    assert_eq!(id, next_ordered, "ordered message out of order or repeated");
                    next_ordered += 1;
                }
                Delivery::Reliable => {
                    assert!(!unordered_seen[id as usize], "id {id} delivered twice");
                    unordered_seen[id as usize] = true;
                    unordered_count += 1;
                }
                other => panic!("unexpected delivery {other:?}"),
            }
        }
    };
    let mut sent = 0usize;
    let mut order = Vec::with_capacity(8);
    for pair in (0..built.len()).step_by(2) {
        order.clear();
        order.extend([pair + 1, pair].into_iter().filter(|&i| i < built.len()));
        for &i in &order {
            p.put(&built[i]);
            if i % 5 == 0 {
                p.put(&built[i]);
            }
            if i % 97 == 0 {
                for back in [3, 5_000, 65_736] {
                    if let Some(old) = i.checked_sub(back) {
                        p.put(&built[old]);
                    }
                }
            }
            sent += 1;
        }
        if sent % 16 < 2 {
            bench.advance(Duration::from_micros(100));
            p.drain();
            check(&mut bench);
        }
    }
    bench.advance(Duration::from_micros(100));
    check(&mut bench);
    assert_eq!(
        next_ordered, LONG_RUN_IDS,
        "every ordered message, in order"
    );
    assert_eq!(
        unordered_count, LONG_RUN_IDS,
        "every unordered message once"
    );
    let m = bench.server.metrics(p.peer).expect("still connected");
    assert!(m.late_packets > 0 && m.duplicates_dropped > 0);
    assert_eq!(m.in_messages, 2 * LONG_RUN_IDS);
}
