//! legume's API rules (tests/test_api.py, test_udp.py) and the error enum:
//! what each call does in each state, and what each error says.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{check_payload, ms, payload, secs, Log, Net, Pair};
use lentil::{
    Client, ClientEvent, ClientState, Config, Delivery, DisconnectReason, Error, LinkConditioner,
    Metrics, RejectReason, Server, ServerEvent, ServerStats,
};

const SEED: u64 = 0xA91;

/// Every way of sending must fail with `NotConnected`.
fn assert_cannot_send(client: &mut Client, when: &str) {
    for delivery in Delivery::ALL {
        assert_eq!(
            client.send(payload(1, 0, 8), delivery),
            Err(Error::NotConnected),
            "{when}: send {delivery:?}"
        );
    }
    assert_eq!(
        client.send(b"", Delivery::Reliable),
        Err(Error::NotConnected)
    );
    assert_eq!(
        client.send_bytes(bytes::Bytes::from_static(b"abc"), Delivery::Unreliable),
        Err(Error::NotConnected),
        "{when}: send_bytes"
    );
    #[cfg(feature = "typed")]
    assert_eq!(
        client.send_typed(&(1u32, "x"), Delivery::ReliableOrdered),
        Err(Error::NotConnected),
        "{when}: send_typed"
    );
    assert_eq!(
        client.send_message(b"m"),
        Err(Error::NotConnected),
        "{when}"
    );
    assert_eq!(
        client.send_reliable_message(b"m"),
        Err(Error::NotConnected),
        "{when}"
    );
    assert_eq!(
        client.send_ordered_message(b"m"),
        Err(Error::NotConnected),
        "{when}"
    );
}

#[test]
fn connecting_twice_is_already_connected() {
    let net = Net::sim(SEED);
    let mut pair = Pair::new(&net, Config::default(), Config::default());
    let addr = pair.server_addr();
    let other: SocketAddr = "127.0.0.1:9".parse().unwrap();

    pair.client.connect(addr).unwrap();
    assert_eq!(pair.client.connect(addr), Err(Error::AlreadyConnected));
    assert_eq!(pair.client.connect(other), Err(Error::AlreadyConnected));
    assert_eq!(pair.client.state(), ClientState::Connecting);
    assert_eq!(pair.client.server_addr(), Some(addr));

    assert!(pair.pump_until(secs(2), |_, c| c.is_connected()));
    assert_eq!(pair.client.connect(addr), Err(Error::AlreadyConnected));
    assert_eq!(pair.client.connect(other), Err(Error::AlreadyConnected));
    assert!(pair.client.is_connected());
    assert_eq!(pair.client.server_addr(), Some(addr));

    // The refused calls left the connection working, with one handshake.
    let got: Log<Vec<u8>> = Log::new();
    let g = got.clone();
    pair.server.on_message(move |_, _, m| g.push(m.to_vec()));
    pair.client
        .send(payload(2, 7, 40), Delivery::Reliable)
        .unwrap();
    assert!(pair.pump_until(secs(1), |_, _| got.len() == 1));
    assert_eq!(check_payload(&got.items()[0]), (2, 7));
    assert_eq!(pair.server.stats().accepted, 1);
    assert_eq!(pair.server.peer_count(), 1);
}

#[test]
fn connecting_twice_over_udp_is_already_connected() {
    let mut client = Client::new(Config::default());
    // Nothing answers on the discard port; the client stays Connecting.
    client.connect("127.0.0.1:9").unwrap();
    assert!(client.is_connecting());
    assert_eq!(client.connect("127.0.0.1:9"), Err(Error::AlreadyConnected));
    assert_eq!(client.connect("127.0.0.1:10"), Err(Error::AlreadyConnected));
    client.update();
    assert!(client.is_connecting());
    assert_eq!(client.server_addr(), Some("127.0.0.1:9".parse().unwrap()));
}

#[test]
fn sending_while_not_connected_is_not_connected() {
    let net = Net::sim(SEED);
    let config = Config {
        timeout: secs(2),
        ..Config::default()
    };
    // Before connect (both transports).
    assert_cannot_send(&mut Client::new(config.clone()), "new UDP client");
    let mut pair = Pair::new(&net, config.clone(), config.clone());
    assert_cannot_send(&mut pair.client, "before connect");

    // While connecting.
    pair.client.connect(pair.server_addr()).unwrap();
    assert_cannot_send(&mut pair.client, "while connecting");
    pair.server.update();
    pair.client.update();
    if pair.client.is_connecting() {
        assert_cannot_send(&mut pair.client, "while connecting, after an update");
    }

    // Connected: sending works; after disconnect it does not.
    assert!(pair.pump_until(secs(2), |_, c| c.is_connected()));
    pair.client.send(b"ok", Delivery::Reliable).unwrap();
    pair.client.disconnect();
    assert_cannot_send(&mut pair.client, "right after disconnect");
    pair.pump_for(ms(200));
    assert_cannot_send(&mut pair.client, "after disconnect");

    // After a rejection.
    pair.server.on_connect_request(|_, _| Err("no".into()));
    pair.client.connect(pair.server_addr()).unwrap();
    assert!(pair.pump_until(secs(2), |_, c| c.is_disconnected()));
    assert_cannot_send(&mut pair.client, "after a rejection");

    // After a connect timeout.
    let mut lonely = net.client(config);
    lonely
        .connect("127.0.0.1:1")
        .expect("connect to an address nobody listens on");
    assert!(net.run_until(secs(3), || {
        lonely.update();
        lonely.is_errored()
    }));
    assert_cannot_send(&mut lonely, "after a connect timeout");
}

#[test]
fn a_second_disconnect_is_ignored() {
    let net = Net::sim(SEED);
    // Before ever connecting: nothing happens.
    let mut idle = net.client(Config::default());
    idle.disconnect();
    idle.disconnect();
    assert_eq!(idle.state(), ClientState::Disconnected);
    assert_eq!(idle.update_events().count(), 0);

    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let peer = pair.peer();
    let server_disconnects: Log<(u64, DisconnectReason)> = Log::new();
    let s = server_disconnects.clone();
    pair.server
        .on_disconnect(move |_, p, r| s.push((p, r.clone())));
    let client_events: Log<String> = Log::new();
    let (c1, c2) = (client_events.clone(), client_events.clone());
    pair.client
        .on_disconnect(move |_, r| c1.push(format!("{r}")));
    pair.client.on_error(move |_, e| c2.push(format!("{e}")));

    pair.client.disconnect();
    pair.client.disconnect();
    pair.pump_for(ms(100));
    pair.client.disconnect();
    pair.pump_for(ms(500));

    assert_eq!(
        server_disconnects.items(),
        vec![(peer, DisconnectReason::ClientDisconnected)]
    );
    assert!(client_events.is_empty(), "{:?}", client_events.items());
    assert_eq!(pair.client.state(), ClientState::Disconnected);

    // Disconnecting while connecting abandons the attempt silently.
    pair.client.connect(pair.server_addr()).unwrap();
    pair.client.disconnect();
    pair.client.disconnect();
    assert_eq!(pair.client.state(), ClientState::Disconnected);
    pair.pump_for(secs(1));
    assert_eq!(pair.client.state(), ClientState::Disconnected);
    assert_eq!(pair.server.peer_count(), 0);
    assert!(client_events.is_empty());
}

#[test]
fn update_while_unconnected_is_harmless() {
    let net = Net::sim(SEED);
    let clients = [
        Client::new(Config::default()),
        net.client(Config::default()),
    ];
    for mut client in clients {
        for _ in 0..3 {
            client.update();
            client.wait(ms(1));
        }
        assert_eq!(client.update_events().count(), 0);
        assert_eq!(client.state(), ClientState::Disconnected);
        assert!(client.is_disconnected());
        assert_eq!(client.local_addr(), None);
        assert_eq!(client.server_addr(), None);
        assert_eq!(client.next_deadline(), None);
        assert_eq!(client.metrics(), Metrics::default());
        assert_eq!(client.latency(), Duration::ZERO);
    }
    let servers = [
        Server::new(Config::default()),
        net.new_server(Config::default()),
    ];
    for mut server in servers {
        for _ in 0..3 {
            server.update();
            server.wait(ms(1));
        }
        assert_eq!(server.update_events().count(), 0);
        assert!(!server.is_listening());
        assert_eq!(server.local_addr(), None);
        assert_eq!(server.peer_count(), 0);
        assert_eq!(server.stats(), ServerStats::default());
        assert_eq!(server.next_deadline(), None);
        server.disconnect_all();
        server.disconnect(1);
        assert_eq!(server.broadcast(b"x", Delivery::Reliable), 0);
    }
}

#[test]
fn bad_addresses_are_bad_address() {
    let net = Net::sim(SEED);
    let bad = [
        "not an address",
        "256.1.1.1:80",
        "127.0.0.1",
        "127.0.0.1:99999",
        "[::1:80",
        "",
    ];
    for text in bad {
        for mut client in [
            Client::new(Config::default()),
            net.client(Config::default()),
        ] {
            match client.connect(text) {
                Err(Error::BadAddress(shown)) => {
                    assert!(shown.contains(text), "{shown:?} does not name {text:?}")
                }
                other => panic!("connect({text:?}) gave {other:?}"),
            }
            assert_eq!(client.state(), ClientState::Disconnected);
            assert_eq!(client.local_addr(), None);
        }
        for mut server in [
            Server::new(Config::default()),
            net.new_server(Config::default()),
        ] {
            assert!(
                matches!(server.listen(text), Err(Error::BadAddress(_))),
                "listen({text:?})"
            );
            assert!(!server.is_listening());
        }
    }
    assert_eq!(
        Error::BadAddress("\"not an address\"".into()).to_string(),
        "bad address \"\\\"not an address\\\"\""
    );
}

#[test]
fn messages_larger_than_their_channel_carries_are_refused() {
    for mtu in [576, 1400] {
        let net = Net::sim(SEED);
        let config = Config {
            mtu,
            max_message_size: 4096,
            ..Config::default()
        };
        let max = config.max_packet_payload();
        assert!(max > 0 && max < mtu);
        // The link drops any datagram longer than the mtu, so a message
        // that fits in max_packet_payload must really fit in one packet.
        net.set_conditioner(LinkConditioner::new().mtu(mtu));
        let mut pair = Pair::connected(&net, config.clone(), config.clone());
        let peer = pair.peer();
        let up: Log<(Delivery, Vec<u8>)> = Log::new();
        let down: Log<(Delivery, Vec<u8>)> = Log::new();
        let (u, d) = (up.clone(), down.clone());
        pair.server
            .on_message(move |_, _, m| u.push((m.delivery, m.to_vec())));
        pair.client
            .on_message(move |_, m| d.push((m.delivery, m.to_vec())));

        let too_large = Err(Error::MessageTooLarge { size: max + 1, max });
        for (i, delivery) in Delivery::ALL.into_iter().enumerate() {
            let i = i as u32;
            if delivery.is_reliable() {
                // Reliable channels fragment up to max_message_size.
                assert_eq!(
                    pair.client.send(vec![0; 4097], delivery),
                    Err(Error::MessageTooLarge {
                        size: 4097,
                        max: 4096
                    })
                );
            } else {
                assert_eq!(
                    pair.client.send(payload(1, i, max + 1), delivery),
                    too_large
                );
                assert_eq!(
                    pair.server.send(peer, payload(2, i, max + 1), delivery),
                    too_large
                );
                assert_eq!(
                    pair.client.send(vec![0; 65_536], delivery),
                    Err(Error::MessageTooLarge { size: 65_536, max })
                );
            }
            pair.client.send(payload(1, i, max), delivery).unwrap();
            pair.server
                .send(peer, payload(2, i, max), delivery)
                .unwrap();
            // One largest message per update, so each needs its own packet.
            pair.update();
        }
        assert!(pair.pump_until(secs(2), |_, _| up.len() == 4 && down.len() == 4));
        for (log, tag) in [(up.items(), 1), (down.items(), 2)] {
            for (i, (delivery, bytes)) in log.into_iter().enumerate() {
                assert_eq!(bytes.len(), max);
                assert_eq!(check_payload(&bytes), (tag, i as u32));
                assert_eq!(delivery, Delivery::ALL[i]);
            }
        }
        let dropped = net.sim_net().unwrap().stats().dropped_mtu;
        assert_eq!(
            dropped, 0,
            "mtu {mtu}: datagrams longer than the mtu were sent"
        );
    }
}

#[test]
fn a_full_send_queue_is_queue_full_until_acked() {
    const LIMIT: usize = 1000;
    const LEN: usize = 100;
    let net = Net::sim(SEED);
    net.set_conditioner(LinkConditioner::new().latency(ms(10)));
    let client_config = Config {
        max_send_buffer_bytes: LIMIT,
        ..Config::default()
    };
    let mut pair = Pair::connected(&net, Config::default(), client_config);
    let got: Log<u32> = Log::new();
    let g = got.clone();
    pair.server
        .on_message(move |_, _, m| g.push(check_payload(m).1));
    use lentil::proto::MESSAGE_OVERHEAD;

    /// Queues ordered messages until the queue is full; returns how many fit.
    fn fill(client: &mut Client, index: &mut u32) -> usize {
        let mut accepted = 0;
        loop {
            match client.send(payload(7, *index, LEN), Delivery::ReliableOrdered) {
                Ok(()) => {
                    *index += 1;
                    accepted += 1;
                }
                Err(e) => {
                    // Each message is charged its payload plus the per-message overhead.
                    let full = Error::QueueFull {
                        queued_bytes: accepted * (LEN + MESSAGE_OVERHEAD),
                        limit_bytes: LIMIT,
                    };
                    assert_eq!(e, full);
                    return accepted;
                }
            }
        }
    }
    let mut index = 0u32;

    assert_eq!(
        fill(&mut pair.client, &mut index),
        LIMIT / (LEN + MESSAGE_OVERHEAD)
    );
    // Unreliable messages count against the same bound.
    assert!(matches!(
        pair.client.send([1; LEN], Delivery::Unreliable),
        Err(Error::QueueFull { .. })
    ));
    // Sent but unacknowledged data still holds the queue.
    pair.client.update();
    assert!(matches!(
        pair.client
            .send(payload(7, index, LEN), Delivery::ReliableOrdered),
        Err(Error::QueueFull { .. })
    ));
    // Once the server acknowledges, there is room again.
    assert!(pair.pump_until(secs(2), |_, c| c.metrics().send_buffer_bytes == 0));
    assert_eq!(
        fill(&mut pair.client, &mut index),
        LIMIT / (LEN + MESSAGE_OVERHEAD)
    );
    assert!(pair.pump_until(secs(2), |_, _| got.len()
        == 2 * (LIMIT / (LEN + MESSAGE_OVERHEAD))));
    assert_eq!(got.items(), (0..index).collect::<Vec<_>>());
}

#[test]
fn listening_twice_is_already_listening() {
    let net = Net::sim(SEED);
    for mut server in [
        Server::new(Config::default()),
        net.new_server(Config::default()),
    ] {
        server.listen("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        assert_eq!(server.listen("127.0.0.1:0"), Err(Error::AlreadyListening));
        assert_eq!(server.listen(addr), Err(Error::AlreadyListening));
        assert_eq!(server.local_addr(), Some(addr));
        assert!(server.is_listening());
    }
    // A second server on a taken address gets the socket error.
    let mut first = net.new_server(Config::default());
    first.listen("127.0.0.1:7000").unwrap();
    let mut second = net.new_server(Config::default());
    assert!(matches!(second.listen("127.0.0.1:7000"), Err(Error::Io(_))));
    assert!(!second.is_listening());
}

#[test]
fn sending_to_an_unknown_peer_is_unknown_peer() {
    let net = Net::sim(SEED);
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let peer = pair.peer();
    let stranger = peer + 41;
    let server = &mut pair.server;
    for delivery in Delivery::ALL {
        assert_eq!(
            server.send(stranger, b"hi", delivery),
            Err(Error::UnknownPeer(stranger))
        );
    }
    #[cfg(feature = "typed")]
    assert_eq!(
        server.send_typed(stranger, &5u8, Delivery::Reliable),
        Err(Error::UnknownPeer(stranger))
    );
    assert_eq!(
        server.send_message(stranger, b"x"),
        Err(Error::UnknownPeer(stranger))
    );
    assert_eq!(
        server.send_reliable_message(stranger, b"x"),
        Err(Error::UnknownPeer(stranger))
    );
    assert_eq!(
        server.send_ordered_message(stranger, b"x"),
        Err(Error::UnknownPeer(stranger))
    );
    assert_eq!(server.metrics(stranger), None);
    assert_eq!(server.peer_addr(stranger), None);
    server.disconnect(stranger);
    assert_eq!(server.broadcast(b"all", Delivery::Reliable), 1);

    // A peer that left becomes unknown once it is gone.
    pair.client.disconnect();
    assert!(pair.pump_until(secs(2), |s, _| s.metrics(peer).is_none()));
    assert_eq!(
        pair.server.send(peer, b"late", Delivery::Reliable),
        Err(Error::UnknownPeer(peer))
    );
    assert_eq!(pair.server.broadcast(b"all", Delivery::Reliable), 0);
}

#[test]
fn an_invalid_config_is_refused_on_connect_and_listen() {
    let net = Net::sim(SEED);
    assert_eq!(Config::default().validate(), Ok(()));
    let d = Config::default;
    let invalid = [
        Config { mtu: 100, ..d() },
        Config { mtu: 70_000, ..d() },
        Config {
            reliable_window: 0,
            ..d()
        },
        Config {
            reliable_window: 16_385,
            ..d()
        },
        Config {
            timeout: Duration::ZERO,
            ..d()
        },
        Config {
            ping_interval: Duration::ZERO,
            ..d()
        },
        Config {
            min_rto: secs(2),
            ..d()
        },
        Config {
            timeout: Duration::MAX,
            ..d()
        },
        Config {
            linger: secs(25 * 3600),
            ..d()
        },
    ];
    for config in invalid {
        let err = config.validate().expect_err("invalid config accepted");
        assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
        for mut client in [Client::new(config.clone()), net.client(config.clone())] {
            assert_eq!(client.connect("127.0.0.1:9000"), Err(err.clone()));
            assert_eq!(client.state(), ClientState::Disconnected);
            assert_eq!(client.local_addr(), None);
        }
        for mut server in [Server::new(config.clone()), net.new_server(config.clone())] {
            assert_eq!(server.listen("127.0.0.1:0"), Err(err.clone()));
            assert!(!server.is_listening());
        }
    }
    let mtu = Config { mtu: 100, ..d() }.validate().unwrap_err();
    assert!(mtu.to_string().starts_with("invalid config: mtu"), "{mtu}");

    let oversized = Config {
        connect_payload: vec![1; 513],
        ..d()
    };
    let mut client = net.client(oversized);
    assert_eq!(
        client.connect("127.0.0.1:9000"),
        Err(Error::ConnectPayloadTooLarge {
            size: 513,
            max: 512
        })
    );
}

/// Each variant once, with the fragments its message must contain.
fn every_error() -> Vec<(Error, Vec<&'static str>)> {
    let addr: SocketAddr = "127.0.0.1:9000".parse().unwrap();
    let all = vec![
        Error::NotConnected,
        Error::AlreadyConnected,
        Error::AlreadyListening,
        Error::NotListening,
        Error::BadAddress("nowhere:1".into()),
        Error::MessageTooLarge {
            size: 2000,
            max: 1371,
        },
        Error::ConnectPayloadTooLarge {
            size: 600,
            max: 512,
        },
        Error::QueueFull {
            queued_bytes: 4096,
            limit_bytes: 5000,
        },
        Error::UnknownPeer(77),
        Error::UnknownChannel(9),
        Error::NoChannelFor(Delivery::UnreliableSequenced),
        Error::InvalidConfig("mtu must be between 576 and 65507"),
        Error::TimedOut(secs(10)),
        Error::ConnectTimedOut {
            addr,
            after: ms(2500),
        },
        Error::Rejected(RejectReason::ServerFull),
        Error::ProtocolViolation("message id beyond the receive window"),
        Error::Codec("unexpected end".into()),
        Error::Decode {
            peer: Some(12),
            reason: "unexpected end".into(),
        },
        Error::Decode {
            peer: None,
            reason: "invalid variant".into(),
        },
        Error::HandleQueueFull { capacity: 64 },
        Error::EndpointDropped,
        Error::SessionReplaced,
        Error::Io("connection refused".into()),
    ];
    all.into_iter()
        .map(|e| {
            // `Error` is non-exhaustive: a variant added to `all` without
            // its expected text here fails the test.
            let fragments = match &e {
                Error::NotConnected => vec!["not connected"],
                Error::AlreadyConnected => vec!["already connected"],
                Error::AlreadyListening => vec!["already listening"],
                Error::NotListening => vec!["not listening"],
                Error::BadAddress(_) => vec!["bad address", "nowhere:1"],
                Error::MessageTooLarge { .. } => vec!["2000", "1371", "larger"],
                Error::ConnectPayloadTooLarge { .. } => vec!["connect payload", "600", "512"],
                Error::QueueFull { .. } => vec!["queue full", "4096", "5000"],
                Error::UnknownPeer(_) => vec!["unknown peer", "77"],
                Error::UnknownChannel(_) => vec!["no channel", "9"],
                Error::NoChannelFor(_) => vec!["no channel", "UnreliableSequenced"],
                Error::InvalidConfig(_) => vec!["invalid config", "mtu"],
                Error::TimedOut(_) => vec!["timed out", "10 s"],
                Error::ConnectTimedOut { .. } => vec!["127.0.0.1:9000", "timed out", "2.5 s"],
                Error::Rejected(_) => vec!["rejected", "server full"],
                Error::ProtocolViolation(_) => vec!["protocol violation", "receive window"],
                Error::Codec(_) => vec!["codec", "unexpected end"],
                Error::Decode { peer: Some(_), .. } => {
                    vec!["could not be decoded", "peer 12", "unexpected end"]
                }
                Error::Decode { peer: None, .. } => {
                    vec!["could not be decoded", "the server", "invalid variant"]
                }
                Error::HandleQueueFull { .. } => vec!["handle queue full", "64"],
                Error::EndpointDropped => vec!["handle", "dropped"],
                Error::SessionReplaced => vec!["session replaced"],
                Error::Io(_) => vec!["socket error", "connection refused"],
                other => panic!("no expected text for {other:?}: add it here"),
            };
            (e, fragments)
        })
        .collect()
}

#[test]
fn every_error_displays_a_sentence_naming_its_cause() {
    for (error, fragments) in every_error() {
        let text = error.to_string();
        assert!(
            !text.is_empty() && text.trim() == text,
            "{error:?}: {text:?}"
        );
        assert!(!text.contains('{') && !text.contains("Some("), "{text:?}");
        assert_ne!(text, format!("{error:?}"), "Display is just Debug");
        for fragment in fragments {
            assert!(
                text.contains(fragment),
                "{error:?} displays {text:?}, missing {fragment:?}"
            );
        }
        // std::error::Error is implemented, so `?` into Box<dyn Error> works.
        let boxed: Box<dyn std::error::Error> = Box::new(error.clone());
        assert_eq!(boxed.to_string(), text);
    }

    assert_eq!(
        Error::TimedOut(secs(10)).to_string(),
        "connection timed out after 10 s"
    );
    assert_eq!(
        Error::TimedOut(ms(1500)).to_string(),
        "connection timed out after 1.5 s"
    );
    assert_eq!(
        Error::Rejected(RejectReason::ServerFull).to_string(),
        "rejected by server: server full"
    );
    assert_eq!(
        RejectReason::VersionMismatch {
            client: 3,
            server: 4
        }
        .to_string(),
        "protocol version 3, expected 4"
    );
    assert_eq!(
        Error::Rejected(RejectReason::Custom("banned".into())).to_string(),
        "rejected by server: banned"
    );
    assert_eq!(
        Error::MessageTooLarge {
            size: 2000,
            max: 1371
        }
        .to_string(),
        "message of 2000 bytes is larger than the maximum of 1371 bytes for its channel"
    );
    assert_eq!(
        Error::ConnectTimedOut {
            addr: "127.0.0.1:9000".parse().unwrap(),
            after: secs(10)
        }
        .to_string(),
        "connect to 127.0.0.1:9000 timed out after 10 s"
    );
    assert_eq!(
        Error::from(std::io::Error::other("boom")),
        Error::Io("boom".into())
    );

    for (reason, text) in [
        (DisconnectReason::ClientDisconnected, "client disconnected"),
        (DisconnectReason::Kicked, "disconnected by server"),
        (DisconnectReason::ServerShutdown, "server shut down"),
        (DisconnectReason::Custom("map change".into()), "map change"),
    ] {
        assert_eq!(reason.to_string(), text);
    }
}

#[test]
fn update_events_returns_events_instead_of_calling_handlers() {
    let net = Net::sim(SEED);
    let mut server = net.server(Config::default());
    let mut client = net.client(Config::default());
    let called: Log<&'static str> = Log::new();
    let (a, b, c) = (called.clone(), called.clone(), called.clone());
    client.on_connect_accepted(move |_| a.push("client accepted"));
    client.on_message(move |_, _| b.push("client message"));
    server.on_connect(move |_, _| c.push("server connect"));

    client.connect(server.local_addr().unwrap()).unwrap();
    let mut client_events = Vec::new();
    let mut server_events = Vec::new();
    let mut sent = false;
    assert!(net.run_until(secs(2), || {
        server_events.extend(server.update_events());
        client_events.extend(client.update_events());
        if let (false, Some(ServerEvent::Connected { peer, .. })) = (sent, server_events.first()) {
            server
                .send(*peer, payload(3, 9, 30), Delivery::Reliable)
                .unwrap();
            sent = true;
        }
        client_events.len() == 2
    }));
    assert!(matches!(
        server_events[0],
        ServerEvent::Connected { addr, .. } if addr.port() == client.local_addr().unwrap().port()
    ));
    assert_eq!(client_events[0], ClientEvent::ConnectAccepted);
    match &client_events[1] {
        ClientEvent::Message(m) => {
            assert_eq!(m.delivery, Delivery::Reliable);
            assert_eq!(check_payload(m), (3, 9));
        }
        other => panic!("expected a message, got {other:?}"),
    }
    assert!(
        called.is_empty(),
        "handlers ran on the pull path: {:?}",
        called.items()
    );
}

#[test]
fn with_several_connect_request_handlers_all_are_asked_and_the_first_rejection_wins() {
    let net = Net::sim(SEED);
    let mut pair = Pair::new(&net, Config::default(), Config::default());
    let asked: Log<u8> = Log::new();
    for (n, verdict) in [(1, Ok(())), (2, Err("two")), (3, Err("three"))] {
        let a = asked.clone();
        pair.server.on_connect_request(move |_, _| {
            a.push(n);
            verdict.map_err(String::from)
        });
    }
    let rejected: Log<RejectReason> = Log::new();
    let r = rejected.clone();
    pair.client
        .on_connect_rejected(move |_, reason| r.push(reason.clone()));
    pair.client.connect(pair.server_addr()).unwrap();
    assert!(pair.pump_until(secs(2), |_, _| !rejected.is_empty()));
    assert_eq!(rejected.items(), vec![RejectReason::Custom("two".into())]);
    assert_eq!(asked.items(), vec![1, 2, 3]);
}

#[test]
fn remove_handler_reports_whether_it_was_registered() {
    let net = Net::sim(SEED);
    let mut pair = Pair::new(&net, Config::default(), Config::default());
    let gone = pair.client.on_message(|_, _| {});
    assert!(pair.client.remove_handler(gone));
    assert!(!pair.client.remove_handler(gone));
    let gone_server = pair.server.on_message(|_, _, _| {});
    assert!(pair.server.remove_handler(gone_server));
    assert!(!pair.server.remove_handler(gone_server));
    pair.connect();
}

/// The same rule from inside a handler (while handlers are dispatched).
#[test]
fn remove_handler_inside_a_handler_reports_whether_it_was_registered() {
    let net = Net::sim(SEED);
    let mut pair = Pair::new(&net, Config::default(), Config::default());
    let gone = pair.client.on_message(|_, _| {});
    assert!(pair.client.remove_handler(gone));
    let live = pair.client.on_error(|_, _| {});
    let results: Log<(bool, bool)> = Log::new();
    let r = results.clone();
    pair.client.on_connect_accepted(move |c| {
        r.push((c.remove_handler(gone), c.remove_handler(live)));
    });

    let gone_server = pair.server.on_message(|_, _, _| {});
    assert!(pair.server.remove_handler(gone_server));
    let server_results: Log<bool> = Log::new();
    let sr = server_results.clone();
    pair.server
        .on_connect(move |s, _| sr.push(s.remove_handler(gone_server)));

    pair.connect();
    assert_eq!(
        results.items(),
        vec![(false, true)],
        "(already removed, registered)"
    );
    assert_eq!(server_results.items(), vec![false]);
}

#[test]
fn send_takes_any_byte_container() {
    let net = Net::sim(SEED);
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let got: Log<Vec<u8>> = Log::new();
    let g = got.clone();
    pair.server
        .on_message(move |_, _, m| g.push(m.bytes().to_vec()));
    let owned: Vec<u8> = vec![1, 2, 3];
    pair.client.send(&owned, Delivery::ReliableOrdered).unwrap();
    pair.client.send(owned, Delivery::ReliableOrdered).unwrap();
    pair.client.send("text", Delivery::ReliableOrdered).unwrap();
    pair.client
        .send(String::from("owned text"), Delivery::ReliableOrdered)
        .unwrap();
    pair.client
        .send([9u8; 2], Delivery::ReliableOrdered)
        .unwrap();
    assert!(pair.pump_until(secs(1), |_, _| got.len() == 5));
    assert_eq!(
        got.items(),
        vec![
            vec![1, 2, 3],
            vec![1, 2, 3],
            b"text".to_vec(),
            b"owned text".to_vec(),
            vec![9, 9]
        ]
    );
}
