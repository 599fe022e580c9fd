//! `flush()` puts queued messages on the wire between updates: without
//! reading the socket or calling handlers, on both sides, on the simulated
//! network and over loopback UDP.

mod common;

use common::{ms, Net, Pair};
use lentil::{ClientEvent, Config, Delivery, ServerEvent};

/// Lets both sides settle so nothing is left to send (acks, pings).
fn settle(pair: &mut Pair) {
    let net = pair.net.clone();
    net.run_for(ms(50), || pair.update());
}

fn client_sends_on_flush(net: &Net) {
    let mut pair = Pair::connected(net, Config::default(), Config::default());
    settle(&mut pair);
    let before = pair.client.metrics().out_packets;
    pair.client
        .send(b"now", Delivery::ReliableOrdered)
        .expect("queued");
    assert_eq!(
        pair.client.metrics().out_packets,
        before,
        "send only queues"
    );
    pair.client.flush();
    assert_eq!(
        pair.client.metrics().out_packets,
        before + 1,
        "flush sent it"
    );
    // Only the server updates from here: the message is already on the wire.
    let mut got = None;
    let net = pair.net.clone();
    let arrived = net.run_until(ms(500), || {
        for event in pair.server.update_events() {
            if let ServerEvent::Message { message, .. } = event {
                got = Some(message.bytes().to_vec());
            }
        }
        got.is_some()
    });
    assert!(arrived, "the server never received the flushed message");
    assert_eq!(got.as_deref(), Some(&b"now"[..]));
}

fn server_sends_on_flush(net: &Net) {
    let mut pair = Pair::connected(net, Config::default(), Config::default());
    settle(&mut pair);
    let peer = pair.peer();
    let before = pair.server.metrics(peer).expect("peer").out_packets;
    pair.server
        .send(peer, b"reply", Delivery::Reliable)
        .expect("queued");
    pair.server.flush();
    let after = pair.server.metrics(peer).expect("peer").out_packets;
    assert_eq!(after, before + 1, "flush sent it");
    let mut got = None;
    let net = pair.net.clone();
    let arrived = net.run_until(ms(500), || {
        for event in pair.client.update_events() {
            if let ClientEvent::Message(message) = event {
                got = Some(message.bytes().to_vec());
            }
        }
        got.is_some()
    });
    assert!(arrived, "the client never received the flushed message");
    assert_eq!(got.as_deref(), Some(&b"reply"[..]));
    // The peer stays due: its next update still runs, and sends the
    // flushed message no second time.
    pair.server.update();
    assert_eq!(pair.server.peer_count(), 1);
    let later = pair.server.metrics(peer).expect("peer");
    assert_eq!(later.out_packets, after, "nothing new to send");
    assert_eq!(later.resends, 0);
}

#[test]
fn client_flush_sends_without_an_update_sim() {
    client_sends_on_flush(&Net::sim(1));
}

#[test]
fn client_flush_sends_without_an_update_udp() {
    client_sends_on_flush(&Net::udp());
}

#[test]
fn server_flush_sends_without_an_update_sim() {
    server_sends_on_flush(&Net::sim(2));
}

#[test]
fn server_flush_sends_without_an_update_udp() {
    server_sends_on_flush(&Net::udp());
}
