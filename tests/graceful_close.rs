//! A graceful disconnect sends every message queued before it, in every
//! delivery mode, before the close itself: the other side receives them all,
//! then sees the disconnect. Each case runs on the simulated network (virtual
//! time, deterministic) and on loopback UDP.

mod common;

use common::{secs, Log, Net, Pair};
use lentil::{Delivery, DisconnectReason, PeerId};

const SEED: u64 = 0x9C;

/// What one side saw, in the order it saw it.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Message(Vec<u8>),
    Disconnect,
}

/// One message per delivery mode, each naming its mode.
fn one_of_each() -> Vec<(Delivery, Vec<u8>)> {
    Delivery::ALL
        .iter()
        .map(|&d| (d, format!("{d:?}").into_bytes()))
        .collect()
}

/// The messages, in send order, then the disconnect.
fn expected(sent: &[(Delivery, Vec<u8>)]) -> Vec<Seen> {
    let mut seen: Vec<Seen> = sent.iter().map(|(_, m)| Seen::Message(m.clone())).collect();
    seen.push(Seen::Disconnect);
    seen
}

/// Sorts the messages of a log (unordered modes may overtake each other), keeping
/// the disconnect where it was: everything must arrive before it.
fn messages_then_disconnect(mut seen: Vec<Seen>) -> Vec<Seen> {
    let end = seen
        .iter()
        .position(|s| *s == Seen::Disconnect)
        .unwrap_or(seen.len());
    seen[..end].sort_by_key(|s| format!("{s:?}"));
    seen
}

fn client_close_sends_what_was_queued(net: &Net) {
    let mut pair = Pair::connected(net, net.config(), net.config());
    let seen: Log<Seen> = Log::new();
    let log = seen.clone();
    pair.server
        .on_message(move |_, _, msg| log.push(Seen::Message(msg.bytes().to_vec())));
    let log = seen.clone();
    pair.server
        .on_disconnect(move |_, _, _| log.push(Seen::Disconnect));

    let sent = one_of_each();
    for (delivery, msg) in &sent {
        pair.client.send(msg, *delivery).expect("queued");
    }
    pair.client.disconnect();

    assert!(
        pair.pump_until(secs(2), |server, _| server.peer_count() == 0),
        "the server saw the client go"
    );
    assert_eq!(
        messages_then_disconnect(seen.items()),
        messages_then_disconnect(expected(&sent))
    );
}

fn server_close_sends_what_was_queued(net: &Net) {
    let mut pair = Pair::connected(net, net.config(), net.config());
    let peer: PeerId = pair.peer();
    let seen: Log<Seen> = Log::new();
    let log = seen.clone();
    pair.client
        .on_message(move |_, msg| log.push(Seen::Message(msg.bytes().to_vec())));
    let log = seen.clone();
    pair.client.on_disconnect(move |_, reason| {
        assert_eq!(*reason, DisconnectReason::Kicked);
        log.push(Seen::Disconnect);
    });

    let sent = one_of_each();
    for (delivery, msg) in &sent {
        pair.server.send(peer, msg, *delivery).expect("queued");
    }
    pair.server.disconnect(peer);

    assert!(
        pair.pump_until(secs(2), |_, client| client.is_disconnected()),
        "the client saw the server close"
    );
    assert_eq!(
        messages_then_disconnect(seen.items()),
        messages_then_disconnect(expected(&sent))
    );
}

/// Many unreliable messages, more than one packet holds, queued in one tick.
fn client_close_sends_a_full_queue(net: &Net) {
    const COUNT: usize = 200;
    let mut pair = Pair::connected(net, net.config(), net.config());
    let got: Log<String> = Log::new();
    let log = got.clone();
    pair.server
        .on_message(move |_, _, msg| log.push(String::from_utf8_lossy(msg.bytes()).into_owned()));

    for i in 0..COUNT {
        let msg = format!("position {i:03} padded to a realistic size ....");
        pair.client
            .send(msg.as_bytes(), Delivery::Unreliable)
            .expect("queued");
    }
    pair.client.disconnect();

    assert!(pair.pump_until(secs(2), |server, _| server.peer_count() == 0));
    let mut got = got.items();
    got.sort();
    let want: Vec<String> = (0..COUNT)
        .map(|i| format!("position {i:03} padded to a realistic size ...."))
        .collect();
    assert_eq!(
        got, want,
        "every unreliable message queued before the close"
    );
}

macro_rules! on_both_networks {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sim() {
                super::$name(&super::Net::sim(super::SEED));
            }
            #[test]
            fn udp() {
                super::$name(&super::Net::udp());
            }
        }
    )*};
}

on_both_networks!(
    client_close_sends_what_was_queued,
    server_close_sends_what_was_queued,
    client_close_sends_a_full_queue,
);
