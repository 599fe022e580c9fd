//! Protocol behaviour on a `Pair`: one server, one client, in-memory queues
//! a test edits (drop, delay, duplicate, reorder), virtual time, no socket.

mod pair;

use std::sync::mpsc;
use std::time::Duration;

use lentil::{Config, Delivery, Error};
use pair::{Pair, SERVER};

const MS: Duration = Duration::from_millis(1);

/// A connected pair whose server reports every message it receives.
fn pair_with_inbox() -> (Pair, mpsc::Receiver<Vec<u8>>) {
    let mut pair = Pair::connected(Config::default(), 5 * MS);
    let (tx, rx) = mpsc::channel();
    pair.server.on_message(move |_, _, message| {
        let _ = tx.send(message.bytes().to_vec());
    });
    (pair, rx)
}

#[test]
fn a_lost_packet_is_resent_and_delivered_once() {
    let (mut pair, got) = pair_with_inbox();
    pair.client.send(b"important", Delivery::Reliable).unwrap();
    pair.client.flush();
    assert_eq!(
        pair.net.drop_to(SERVER),
        1,
        "the message's packet was in flight"
    );
    pair.drive_for(Duration::from_secs(2));
    let received: Vec<_> = got.try_iter().collect();
    assert_eq!(received, vec![b"important".to_vec()]);
    assert!(pair.client.metrics().resends >= 1);
}

#[test]
fn reordered_packets_still_deliver_an_ordered_channel_in_order() {
    let (mut pair, got) = pair_with_inbox();
    for n in 0u8..3 {
        pair.client.send([n], Delivery::ReliableOrdered).unwrap();
        pair.client.flush();
        pair.advance(MS);
    }
    // The first packet sent now arrives last.
    pair.net.edit(|q| {
        let latest = q.iter().map(|d| d.due).max().unwrap();
        if let Some(first) = q.iter_mut().find(|d| d.to == SERVER) {
            first.due = latest + 3 * MS;
        }
    });
    pair.drive_for(Duration::from_millis(200));
    let received: Vec<_> = got.try_iter().collect();
    assert_eq!(received, vec![vec![0], vec![1], vec![2]]);
}

#[test]
fn a_duplicated_packet_delivers_its_messages_once() {
    let (mut pair, got) = pair_with_inbox();
    pair.client.send(b"once", Delivery::Reliable).unwrap();
    pair.client
        .send(b"also once", Delivery::Unreliable)
        .unwrap();
    pair.client.flush();
    pair.net.edit(|q| {
        let copies: Vec<_> = q.iter().filter(|d| d.to == SERVER).cloned().collect();
        q.extend(copies);
    });
    pair.drive_for(Duration::from_millis(200));
    let mut received: Vec<_> = got.try_iter().collect();
    received.sort();
    assert_eq!(received, vec![b"also once".to_vec(), b"once".to_vec()]);
    let peer = pair.server.peers()[0];
    assert!(pair.server.metrics(peer).unwrap().duplicates_dropped >= 1);
}

#[test]
fn silence_past_the_timeout_ends_the_connection_on_both_sides() {
    let (mut pair, _got) = pair_with_inbox();
    let (tx, lost) = mpsc::channel();
    pair.client.on_error(move |_, error| {
        let _ = tx.send(error.clone());
    });
    let timeout = pair.client.config().timeout;
    let gone = pair.drive_until(timeout + Duration::from_secs(2), |p| {
        // A blackout: nothing sent either way arrives.
        p.net.edit(|q| q.clear());
        p.client.is_errored() && p.server.peer_count() == 0
    });
    assert!(gone, "both sides gave up within the timeout");
    assert!(matches!(lost.try_recv(), Ok(Error::TimedOut(_))));
}

#[test]
fn a_late_copy_of_an_old_packet_changes_nothing() {
    let (mut pair, got) = pair_with_inbox();
    pair.client
        .send(b"first", Delivery::ReliableOrdered)
        .unwrap();
    pair.client.flush();
    let old = pair.net.in_flight();
    pair.drive_for(Duration::from_millis(100));
    for n in 0u8..50 {
        pair.client.send([n], Delivery::ReliableOrdered).unwrap();
        pair.drive_for(2 * MS);
    }
    pair.drive_for(Duration::from_millis(100));
    let before: Vec<_> = got.try_iter().collect();
    assert_eq!(before.len(), 51);
    // The first packet arrives again, long after.
    let now = pair.net.now();
    pair.net.edit(|q| {
        q.extend(old.into_iter().map(|mut d| {
            d.due = now;
            d
        }))
    });
    pair.drive_for(Duration::from_millis(100));
    assert_eq!(
        got.try_iter().count(),
        0,
        "the replayed packet delivered nothing"
    );
    assert!(pair.client.is_connected());
}
