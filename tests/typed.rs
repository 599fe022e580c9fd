//! Typed messages: `TypedServer` / `TypedClient` round trips on the simulated
//! network, the pull path, channels, broadcast, and what happens to a message
//! that does not decode (an error event naming the sender, a counter, and a
//! connection that stays up).

mod common;

use common::{secs, Log, Net};
use lentil::{
    Client, Config, Delivery, Error, PeerId, Server, TypedClient, TypedClientEvent, TypedServer,
    TypedServerEvent,
};
use serde::{Deserialize, Serialize};

const SEED: u64 = 0x7E9;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Say(String),
    Move { x: f32, y: f32 },
    Seq(u32),
}

fn typed_server(net: &Net) -> TypedServer<Msg> {
    TypedServer::from_server(net.server(Config::default()))
}

fn typed_client(net: &Net) -> TypedClient<Msg> {
    TypedClient::from_client(net.client(Config::default()))
}

/// Connects `client` to `server`, updating both, and returns the peer id;
/// panics after 2 s. A macro so that either end may be typed or bytes: the
/// four types share these methods by name only.
macro_rules! connect {
    ($net:expr, $server:expr, $client:expr) => {{
        let (server, client) = ($server, $client);
        let addr = server.local_addr().expect("listening");
        client.connect(addr).expect("connect");
        let connected = $net.run_until(secs(2), || {
            server.update();
            client.update();
            client.is_connected() && server.peer_count() == 1
        });
        assert!(connected, "client did not connect");
        server.peers()[0]
    }};
}

/// Updates both until `done` holds; panics after 3 s.
fn pump(
    net: &Net,
    server: &mut TypedServer<Msg>,
    client: &mut TypedClient<Msg>,
    what: &str,
    mut done: impl FnMut() -> bool,
) {
    let ok = net.run_until(secs(3), || {
        server.update();
        client.update();
        done()
    });
    assert!(ok, "timed out waiting for {what}");
}

#[test]
fn typed_messages_round_trip_both_ways_with_handlers() {
    let net = Net::sim(SEED);
    let mut server = typed_server(&net);
    let at_server: Log<(PeerId, Msg)> = Log::new();
    let log = at_server.clone();
    // Echo everything back, typed, to the sender.
    server.on_message(move |server, peer, msg| {
        log.push((peer, msg.clone()));
        server
            .send(peer, &msg, Delivery::ReliableOrdered)
            .expect("echo");
    });
    let mut client = typed_client(&net);
    let at_client: Log<Msg> = Log::new();
    let log = at_client.clone();
    client.on_message(move |_, msg| log.push(msg));
    let peer = connect!(&net, &mut server, &mut client);

    let sent = vec![
        Msg::Say("hello, world".into()),
        Msg::Move { x: 1.5, y: -2.0 },
        Msg::Seq(u32::MAX),
        Msg::Say(String::new()),
    ];
    for msg in &sent {
        client.send(msg, Delivery::ReliableOrdered).expect("send");
    }
    pump(&net, &mut server, &mut client, "the echoes", || {
        at_client.len() == sent.len()
    });
    assert_eq!(at_client.items(), sent);
    let expected: Vec<(PeerId, Msg)> = sent.iter().map(|m| (peer, m.clone())).collect();
    assert_eq!(at_server.items(), expected);
    assert_eq!(server.decode_failures(), 0);
    assert_eq!(client.decode_failures(), 0);
}

#[test]
fn typed_pull_path_reports_decoded_messages_with_their_channel() {
    let net = Net::sim(SEED + 1);
    let mut server = typed_server(&net);
    let mut client = typed_client(&net);
    connect!(&net, &mut server, &mut client);

    // Channel 2 is the reliable one in the default channel list.
    client.send_on(2, &Msg::Seq(7)).expect("send_on");
    let mut got = Vec::new();
    let ok = net.run_until(secs(2), || {
        client.update();
        for event in server.update_events() {
            if let TypedServerEvent::Message {
                message,
                channel,
                delivery,
                ..
            } = event
            {
                got.push((message, channel, delivery));
            }
        }
        !got.is_empty()
    });
    assert!(ok, "message did not arrive");
    assert_eq!(got, vec![(Msg::Seq(7), 2, Delivery::Reliable)]);
}

#[test]
fn typed_broadcast_reaches_every_client() {
    let net = Net::sim(SEED + 2);
    let mut server = typed_server(&net);
    let addr = server.local_addr().expect("listening");
    let mut clients: Vec<TypedClient<Msg>> = (0..3).map(|_| typed_client(&net)).collect();
    for c in &mut clients {
        c.connect(addr).expect("connect");
    }
    let ok = net.run_until(secs(2), || {
        server.update();
        clients.iter_mut().for_each(TypedClient::update);
        server.peer_count() == 3 && clients.iter().all(|c| c.is_connected())
    });
    assert!(ok, "clients did not connect");

    let reached = server
        .broadcast(&Msg::Say("round starts".into()), Delivery::Reliable)
        .expect("broadcast");
    assert_eq!(reached, 3);
    let mut got = vec![Vec::new(); 3];
    let ok = net.run_until(secs(2), || {
        server.update();
        for (c, got) in clients.iter_mut().zip(got.iter_mut()) {
            for event in c.update_events() {
                if let TypedClientEvent::Message { message, .. } = event {
                    got.push(message);
                }
            }
        }
        got.iter().all(|g| !g.is_empty())
    });
    assert!(ok, "broadcast did not reach every client: {got:?}");
    for g in got {
        assert_eq!(g, vec![Msg::Say("round starts".into())]);
    }
}

#[test]
fn undecodable_message_raises_an_error_naming_the_peer_and_the_peer_stays() {
    let net = Net::sim(SEED + 3);
    let mut server = typed_server(&net);
    let errors: Log<(PeerId, Error)> = Log::new();
    let log = errors.clone();
    server.on_error(move |_, peer, error| log.push((peer, error.clone())));
    let messages: Log<Msg> = Log::new();
    let log = messages.clone();
    server.on_message(move |_, _, msg| log.push(msg));

    // A bytes-level client: it can send anything.
    let mut client = net.client(Config::default());
    let peer = connect!(&net, &mut server, &mut client);

    // Variant 9 does not exist; then a string whose length prefix claims
    // far more bytes than any message holds; then a valid message.
    client.send(b"\x09", Delivery::ReliableOrdered).unwrap();
    let mut hostile = vec![0u8, 0xFF];
    hostile.extend_from_slice(&u64::MAX.to_le_bytes());
    client.send(&hostile, Delivery::ReliableOrdered).unwrap();
    client
        .send_typed(&Msg::Seq(3), Delivery::ReliableOrdered)
        .unwrap();
    let ok = net.run_until(secs(2), || {
        server.update();
        client.update();
        !messages.is_empty()
    });
    assert!(ok, "the valid message after the bad ones did not arrive");

    assert_eq!(messages.items(), vec![Msg::Seq(3)]);
    assert_eq!(server.decode_failures(), 2);
    let errors = errors.items();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (from, error) in &errors {
        assert_eq!(*from, peer);
        assert!(
            matches!(error, Error::Decode { peer: Some(p), .. } if *p == peer),
            "{error:?}"
        );
        assert!(
            error.to_string().contains(&format!("peer {peer}")),
            "{error}"
        );
    }
    // The connection stays up, both ways.
    assert_eq!(server.peers(), vec![peer]);
    assert!(client.is_connected());
    server
        .send(peer, &Msg::Say("still here".into()), Delivery::Reliable)
        .expect("send after decode failures");
}

#[test]
fn undecodable_message_on_the_client_is_counted_and_reported_in_the_pull_path() {
    let net = Net::sim(SEED + 4);
    let mut server: Server = net.server(Config::default());
    let mut client = typed_client(&net);
    let peer = connect!(&net, &mut server, &mut client);

    server.send(peer, b"\x2a\x2a", Delivery::Reliable).unwrap();
    server
        .send_typed(peer, &Msg::Say("fine".into()), Delivery::Reliable)
        .unwrap();
    let mut events = Vec::new();
    let ok = net.run_until(secs(2), || {
        server.update();
        events.extend(client.update_events());
        events.len() >= 2
    });
    assert!(ok, "events did not arrive: {events:?}");
    let errors: Vec<&Error> = events
        .iter()
        .filter_map(|e| match e {
            TypedClientEvent::Error(error) => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{events:?}");
    assert!(
        matches!(errors[0], Error::Decode { peer: None, .. }),
        "{:?}",
        errors[0]
    );
    assert!(errors[0].to_string().contains("the server"));
    assert!(events.contains(&TypedClientEvent::Message {
        message: Msg::Say("fine".into()),
        channel: 2,
        delivery: Delivery::Reliable,
    }));
    assert_eq!(client.decode_failures(), 1);
    assert!(client.is_connected());
    assert_eq!(server.peer_count(), 1);
}

#[test]
fn every_message_handler_gets_its_own_copy_and_removed_ones_get_none() {
    let net = Net::sim(SEED + 5);
    let mut server = typed_server(&net);
    let first: Log<Msg> = Log::new();
    let second: Log<Msg> = Log::new();
    let removed: Log<Msg> = Log::new();
    let (a, b, c) = (first.clone(), second.clone(), removed.clone());
    server.on_message(move |_, _, m| a.push(m));
    let gone = server.on_message(move |_, _, m| c.push(m));
    server.on_message(move |_, _, m| b.push(m));
    assert!(server.remove_handler(gone));
    assert!(!server.remove_handler(gone));
    // A bytes handler on the wrapped server runs too.
    let raw: Log<Vec<u8>> = Log::new();
    let r = raw.clone();
    server
        .server_mut()
        .on_message(move |_, _, m| r.push(m.bytes().to_vec()));

    let mut client = typed_client(&net);
    connect!(&net, &mut server, &mut client);
    client
        .send(&Msg::Move { x: 0.0, y: 1.0 }, Delivery::Reliable)
        .unwrap();
    pump(&net, &mut server, &mut client, "the message", || {
        second.len() == 1
    });
    assert_eq!(first.items(), vec![Msg::Move { x: 0.0, y: 1.0 }]);
    assert_eq!(second.items(), first.items());
    assert!(removed.is_empty());
    assert_eq!(raw.len(), 1);
}

#[test]
fn typed_handlers_see_connects_and_disconnects() {
    let net = Net::sim(SEED + 6);
    let mut server = typed_server(&net);
    let seen: Log<String> = Log::new();
    let (a, b) = (seen.clone(), seen.clone());
    server.on_connect(move |server, peer| {
        a.push(format!("connect {peer}"));
        server
            .send(peer, &Msg::Say("welcome".into()), Delivery::ReliableOrdered)
            .unwrap();
    });
    server.on_disconnect(move |_, peer, reason| b.push(format!("disconnect {peer}: {reason}")));
    let mut client = typed_client(&net);
    let welcomed: Log<Msg> = Log::new();
    let w = welcomed.clone();
    client.on_message(move |client, msg| {
        w.push(msg);
        client.disconnect();
    });
    let peer = connect!(&net, &mut server, &mut client);
    pump(&net, &mut server, &mut client, "the disconnect", || {
        seen.len() == 2
    });
    assert_eq!(
        seen.items(),
        vec![
            format!("connect {peer}"),
            format!("disconnect {peer}: client disconnected")
        ]
    );
    assert_eq!(welcomed.items(), vec![Msg::Say("welcome".into())]);
}

#[test]
fn typed_sends_fail_like_byte_sends() {
    let net = Net::sim(SEED + 7);
    let mut server = typed_server(&net);
    let mut client = typed_client(&net);
    assert_eq!(
        client.send(&Msg::Seq(1), Delivery::Reliable),
        Err(Error::NotConnected)
    );
    assert_eq!(
        server.send(99, &Msg::Seq(1), Delivery::Reliable),
        Err(Error::UnknownPeer(99))
    );
    connect!(&net, &mut server, &mut client);
    assert_eq!(
        client.send_on(40, &Msg::Seq(1)),
        Err(Error::UnknownChannel(40))
    );
    // The bytes client still works underneath.
    let inner: &mut Client = client.client_mut();
    inner.send(b"raw", Delivery::Reliable).expect("bytes send");
}
