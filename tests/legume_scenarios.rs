//! legume's behavioural scenarios (tests/test_events.py, test_udp.py,
//! test_reliablemsg.py, test_keepalive.py, test_latency.py,
//! test_accept_new_connections.py), each written once as a function of a
//! [`Net`] and run twice: on the simulated network in virtual time
//! (`<scenario>::sim`, deterministic) and over real UDP on loopback
//! (`<scenario>::udp`, wall-clock bounded).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    check_payload, ms, payload, pump_many, secs, varied_len, Log, Net, Pair, PAYLOAD_HEADER,
};
use lentil::{
    Client, ClientState, Config, ConnectRequestInfo, Delivery, DisconnectReason, Error, HandlerId,
    LinkConditioner, Message, PeerId, RejectReason,
};
use serde::{Deserialize, Serialize};

const SEED: u64 = 0x1e9u64 << 8 | 0x05;

/// Tag of messages the client sends.
const UP: u8 = 0x55;
/// Tag of messages the server sends.
const DOWN: u8 = 0xAA;

/// Runs each named scenario as `<name>::sim` and `<name>::udp`.
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
    connect_accepted,
    connect_rejected_by_handler,
    server_full,
    not_accepting_new_connections,
    server_disconnects_client,
    server_disconnects_client_with_custom_reason,
    client_disconnects_server,
    disconnect_all,
    client_vanishes,
    server_vanishes,
    unreliable_messages_both_ways,
    reliable_messages_amid_unreliable_chaff,
    mixed_delivery_modes,
    handlers_send_disconnect_and_read_metrics,
    handler_removed_in_handler_stops_on_next_update,
    reconnect_after_disconnect_and_errors,
    long_unicode_reject_reason,
    connect_payload_reaches_server,
    typed_messages_round_trip,
    ipv6,
);

/// A client message log: (delivery, bytes).
type ClientInbox = Log<(Delivery, Vec<u8>)>;
/// A server message log: (peer, delivery, bytes).
type ServerInbox = Log<(PeerId, Delivery, Vec<u8>)>;

fn client_inbox(client: &mut Client) -> ClientInbox {
    let log = Log::new();
    let l = log.clone();
    client.on_message(move |_, m: &Message| l.push((m.delivery, m.bytes().to_vec())));
    log
}

fn server_inbox(server: &mut lentil::Server) -> ServerInbox {
    let log = Log::new();
    let l = log.clone();
    server.on_message(move |_, peer, m: &Message| l.push((peer, m.delivery, m.bytes().to_vec())));
    log
}

/// Every handler of a client, logged.
#[derive(Clone, Default)]
struct ClientEvents {
    accepted: Log<ClientState>,
    rejected: Log<RejectReason>,
    errors: Log<(Error, Duration)>,
    disconnects: Log<DisconnectReason>,
}

impl ClientEvents {
    fn attach(net: &Net, client: &mut Client) -> Self {
        let ev = ClientEvents::default();
        let l = ev.accepted.clone();
        client.on_connect_accepted(move |c| l.push(c.state()));
        let l = ev.rejected.clone();
        client.on_connect_rejected(move |_, r| l.push(r.clone()));
        let (l, n) = (ev.errors.clone(), net.clone());
        client.on_error(move |_, e| l.push((e.clone(), n.now())));
        let l = ev.disconnects.clone();
        client.on_disconnect(move |_, r| l.push(r.clone()));
        ev
    }
}

/// Every connection handler of a server, logged.
#[derive(Clone, Default)]
struct ServerEvents {
    connects: Log<(PeerId, Option<SocketAddr>)>,
    errors: Log<(PeerId, Error, Duration)>,
    disconnects: Log<(PeerId, DisconnectReason)>,
}

impl ServerEvents {
    fn attach(net: &Net, server: &mut lentil::Server) -> Self {
        let ev = ServerEvents::default();
        let l = ev.connects.clone();
        server.on_connect(move |s, p| l.push((p, s.peer_addr(p))));
        let (l, n) = (ev.errors.clone(), net.clone());
        server.on_error(move |_, p, e| l.push((p, e.clone(), n.now())));
        let l = ev.disconnects.clone();
        server.on_disconnect(move |_, p, r| l.push((p, r.clone())));
        ev
    }
}

fn connect_accepted(net: &Net) {
    let mut pair = Pair::new(net, net.config(), net.config());
    let cev = ClientEvents::attach(net, &mut pair.client);
    let sev = ServerEvents::attach(net, &mut pair.server);
    assert_eq!(pair.client.state(), ClientState::Disconnected);

    pair.client.connect(pair.server_addr()).unwrap();
    assert!(pair.client.is_connecting());
    assert!(pair.pump_until(secs(2), |_, _| !cev.accepted.is_empty()
        && !sev.connects.is_empty()));
    pair.pump_for(ms(200));

    // The handler saw the client already connected, and fired exactly once
    // although the handshake may have repeated packets.
    assert_eq!(cev.accepted.items(), vec![ClientState::Connected]);
    assert!(pair.client.is_connected());
    assert_eq!(pair.server.peer_count(), 1);
    let connects = sev.connects.items();
    assert_eq!(connects.len(), 1, "server on_connect fired {connects:?}");
    let (peer, addr) = connects[0];
    assert_eq!(pair.server.peers(), vec![peer]);
    assert_eq!(
        addr.expect("peer address").port(),
        pair.client.local_addr().expect("client socket").port()
    );
    assert_eq!(pair.client.server_addr(), Some(pair.server_addr()));
    assert!(cev.rejected.is_empty() && cev.errors.is_empty() && cev.disconnects.is_empty());
    assert!(sev.errors.is_empty() && sev.disconnects.is_empty());
    assert_eq!(pair.server.stats().accepted, 1);
}

fn connect_rejected_by_handler(net: &Net) {
    let mut pair = Pair::new(net, net.config(), net.config());
    let requests: Log<ConnectRequestInfo> = Log::new();
    let r = requests.clone();
    pair.server.on_connect_request(move |_, info| {
        r.push(info.clone());
        Err("banned".to_string())
    });
    let cev = ClientEvents::attach(net, &mut pair.client);
    let sev = ServerEvents::attach(net, &mut pair.server);

    pair.client.connect(pair.server_addr()).unwrap();
    assert!(pair.pump_until(secs(2), |_, _| !cev.rejected.is_empty()));
    pair.pump_for(ms(200));

    assert_eq!(
        cev.rejected.items(),
        vec![RejectReason::Custom("banned".into())]
    );
    assert!(!pair.client.is_connected());
    assert_eq!(pair.client.state(), ClientState::Disconnected);
    assert_eq!(pair.server.peer_count(), 0);
    assert_eq!(requests.len(), 1, "the handler decides once per handshake");
    assert!(cev.accepted.is_empty() && cev.errors.is_empty());
    assert!(sev.connects.is_empty());
    assert_eq!(pair.server.stats().rejected, 1);
    assert_eq!(pair.server.stats().accepted, 0);
}

fn server_full(net: &Net) {
    let server_config = Config {
        max_clients: 1,
        ..net.config()
    };
    let mut pair = Pair::connected(net, server_config, net.config());
    let first = pair.peer();
    let mut second = net.client(net.config());
    let cev = ClientEvents::attach(net, &mut second);

    second.connect(pair.server_addr()).unwrap();
    assert!(net.run_until(secs(2), || {
        pair.update();
        second.update();
        !cev.rejected.is_empty()
    }));
    net.run_for(ms(200), || {
        pair.update();
        second.update();
    });

    assert_eq!(cev.rejected.items(), vec![RejectReason::ServerFull]);
    assert!(cev.accepted.is_empty());
    assert_eq!(second.state(), ClientState::Disconnected);
    assert!(pair.client.is_connected(), "the first client is unaffected");
    assert_eq!(pair.server.peers(), vec![first]);
}

fn not_accepting_new_connections(net: &Net) {
    let config = net.config();
    let timeout = config.timeout;
    let mut pair = Pair::connected(net, config.clone(), config.clone());
    let existing = pair.peer();
    let up = server_inbox(&mut pair.server);
    let down = client_inbox(&mut pair.client);
    pair.server.set_accept_new_connections(false);
    assert!(!pair.server.accepts_new_connections());
    let before = pair.server.stats();

    let mut newcomer = net.client(config.clone());
    let cev = ClientEvents::attach(net, &mut newcomer);
    newcomer.connect(pair.server_addr()).unwrap();
    let started = net.now();
    let newcomer_addr = newcomer.local_addr().unwrap();

    assert!(net.run_until(timeout + secs(2), || {
        pair.update();
        newcomer.update();
        assert!(pair.client.is_connected(), "existing peer dropped");
        if cev.errors.is_empty() {
            assert!(newcomer.is_connecting(), "newcomer left Connecting early");
        }
        !cev.errors.is_empty()
    }));

    let (error, at) = cev.errors.items()[0].clone();
    assert_eq!(
        error,
        Error::ConnectTimedOut {
            addr: pair.server_addr(),
            after: timeout
        }
    );
    let waited = at - started;
    assert!(
        waited >= timeout && waited <= timeout + net.slack(),
        "connect timed out after {waited:?}, configured {timeout:?}"
    );
    assert_eq!(newcomer.state(), ClientState::Errored);
    assert!(cev.accepted.is_empty() && cev.rejected.is_empty());

    let after = pair.server.stats();
    assert!(after.ignored_not_accepting > before.ignored_not_accepting);
    assert_eq!(after.challenges_sent, before.challenges_sent);
    assert_eq!(after.accepted, before.accepted);
    assert_eq!(pair.server.peers(), vec![existing]);
    if let Some(sim) = net.sim_net() {
        assert_eq!(
            sim.bytes_between(pair.server_addr(), newcomer_addr),
            0,
            "the server replied to a newcomer while not accepting"
        );
    }

    // The existing connection still carries messages both ways.
    pair.client
        .send(payload(UP, 1, 40), Delivery::Reliable)
        .unwrap();
    pair.server
        .send(existing, payload(DOWN, 2, 40), Delivery::Reliable)
        .unwrap();
    assert!(pair.pump_until(secs(2), |_, _| up.len() == 1 && down.len() == 1));
    assert_eq!(check_payload(&up.items()[0].2), (UP, 1));
    assert_eq!(check_payload(&down.items()[0].1), (DOWN, 2));
}

fn server_disconnects_client(net: &Net) {
    let mut pair = Pair::connected(net, net.config(), net.config());
    let peer = pair.peer();
    let cev = ClientEvents::attach(net, &mut pair.client);
    let sev = ServerEvents::attach(net, &mut pair.server);

    pair.server.disconnect(peer);
    assert_eq!(pair.server.peer_count(), 0, "a kicked peer is not counted");
    pair.server.disconnect(peer); // a second call is ignored
    assert!(pair.pump_until(secs(2), |_, _| {
        !cev.disconnects.is_empty() && !sev.disconnects.is_empty()
    }));
    pair.pump_for(ms(200));

    assert_eq!(cev.disconnects.items(), vec![DisconnectReason::Kicked]);
    assert_eq!(
        sev.disconnects.items(),
        vec![(peer, DisconnectReason::Kicked)]
    );
    assert_eq!(pair.client.state(), ClientState::Disconnected);
    assert!(cev.errors.is_empty() && sev.errors.is_empty());
    assert!(pair.server.peers().is_empty());
}

fn server_disconnects_client_with_custom_reason(net: &Net) {
    let mut pair = Pair::connected(net, net.config(), net.config());
    let peer = pair.peer();
    let cev = ClientEvents::attach(net, &mut pair.client);
    let sev = ServerEvents::attach(net, &mut pair.server);
    let reason = DisconnectReason::Custom(format!("map change → {}", unicode_text(200)));

    pair.server.disconnect_with(peer, reason.clone());
    assert!(pair.pump_until(secs(2), |_, _| {
        !cev.disconnects.is_empty() && !sev.disconnects.is_empty()
    }));
    pair.pump_for(ms(200));

    assert_eq!(cev.disconnects.items(), vec![reason.clone()]);
    assert_eq!(sev.disconnects.items(), vec![(peer, reason)]);
    assert!(cev.errors.is_empty() && sev.errors.is_empty());
}

fn client_disconnects_server(net: &Net) {
    let mut pair = Pair::connected(net, net.config(), net.config());
    let peer = pair.peer();
    let cev = ClientEvents::attach(net, &mut pair.client);
    let sev = ServerEvents::attach(net, &mut pair.server);

    pair.client.disconnect();
    assert_eq!(pair.client.state(), ClientState::Disconnected);
    assert!(pair.pump_until(secs(2), |_, _| !sev.disconnects.is_empty()));
    // Past the timeout: a local close must not turn into a timeout later.
    pair.pump_for(net.short_timeout() + net.slack());

    assert_eq!(
        sev.disconnects.items(),
        vec![(peer, DisconnectReason::ClientDisconnected)]
    );
    assert!(
        cev.disconnects.is_empty(),
        "legume raises no disconnect event for a local close"
    );
    assert!(cev.errors.is_empty() && sev.errors.is_empty());
    assert_eq!(pair.client.state(), ClientState::Disconnected);
    assert_eq!(pair.server.peer_count(), 0);
}

fn disconnect_all(net: &Net) {
    const CLIENTS: usize = 3;
    let mut server = net.server(net.config());
    let sev = ServerEvents::attach(net, &mut server);
    let reasons: Log<(usize, DisconnectReason)> = Log::new();
    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|i| {
            let mut c = net.client(net.config());
            let r = reasons.clone();
            c.on_disconnect(move |_, reason| r.push((i, reason.clone())));
            c.connect(server.local_addr().unwrap()).unwrap();
            c
        })
        .collect();
    assert!(pump_many(
        net,
        &mut server,
        &mut clients,
        secs(2),
        |s, cs| { s.peer_count() == CLIENTS && cs.iter().all(Client::is_connected) }
    ));

    server.disconnect_all();
    assert_eq!(server.peer_count(), 0);
    assert!(pump_many(
        net,
        &mut server,
        &mut clients,
        secs(2),
        |_, _| { reasons.len() == CLIENTS && sev.disconnects.len() == CLIENTS }
    ));
    net.run_for(ms(200), || {
        server.update();
        clients.iter_mut().for_each(Client::update);
    });

    let mut got = reasons.items();
    got.sort_by_key(|(i, _)| *i);
    let expected: Vec<_> = (0..CLIENTS)
        .map(|i| (i, DisconnectReason::ServerShutdown))
        .collect();
    assert_eq!(got, expected);
    let peers: BTreeSet<PeerId> = sev
        .disconnects
        .items()
        .into_iter()
        .map(|(p, r)| {
            assert_eq!(r, DisconnectReason::ServerShutdown);
            p
        })
        .collect();
    assert_eq!(peers.len(), CLIENTS);
    assert!(clients.iter().all(Client::is_disconnected));
}

/// The client stops existing right after the server heard from it; the
/// server reports `TimedOut` once, after the configured timeout and not before.
fn client_vanishes(net: &Net) {
    let config = net.config();
    let timeout = config.timeout;
    let mut pair = Pair::connected(net, config.clone(), config);
    let peer = pair.peer();
    let sev = ServerEvents::attach(net, &mut pair.server);
    let heard: Log<Duration> = Log::new();
    let (h, n) = (heard.clone(), net.clone());
    pair.server.on_message(move |_, _, _| h.push(n.now()));

    pair.client
        .send(payload(UP, 0, 16), Delivery::Reliable)
        .unwrap();
    assert!(pair.pump_until(secs(2), |_, _| !heard.is_empty()));
    let last_heard = heard.items()[0];
    let Pair {
        mut server, client, ..
    } = pair;
    drop(client);

    assert!(net.run_until(timeout + secs(2), || {
        server.update();
        !sev.errors.is_empty()
    }));
    net.run_for(ms(200), || server.update());

    let errors = sev.errors.items();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (p, error, at) = errors[0].clone();
    assert_eq!((p, error), (peer, Error::TimedOut(timeout)));
    let silent = at - last_heard;
    // On UDP the handler's timestamp trails the receive instant by microseconds.
    let early = if net.is_sim() { Duration::ZERO } else { ms(50) };
    assert!(
        silent + early >= timeout && silent <= timeout + net.slack(),
        "timed out after {silent:?} of silence, configured {timeout:?}"
    );
    assert!(sev.disconnects.is_empty());
    assert_eq!(server.peer_count(), 0);
}

fn server_vanishes(net: &Net) {
    let config = net.config();
    let timeout = config.timeout;
    let mut pair = Pair::connected(net, config.clone(), config);
    let peer = pair.peer();
    let cev = ClientEvents::attach(net, &mut pair.client);
    let heard: Log<Duration> = Log::new();
    let (h, n) = (heard.clone(), net.clone());
    pair.client.on_message(move |_, _| h.push(n.now()));

    pair.server
        .send(peer, payload(DOWN, 0, 16), Delivery::Reliable)
        .unwrap();
    assert!(pair.pump_until(secs(2), |_, _| !heard.is_empty()));
    let last_heard = heard.items()[0];
    let Pair {
        server, mut client, ..
    } = pair;
    drop(server);

    assert!(net.run_until(timeout + secs(2), || {
        client.update();
        !cev.errors.is_empty()
    }));
    net.run_for(ms(200), || client.update());

    let errors = cev.errors.items();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (error, at) = errors[0].clone();
    assert_eq!(error, Error::TimedOut(timeout));
    let silent = at - last_heard;
    let early = if net.is_sim() { Duration::ZERO } else { ms(50) };
    assert!(
        silent + early >= timeout && silent <= timeout + net.slack(),
        "timed out after {silent:?} of silence, configured {timeout:?}"
    );
    assert_eq!(client.state(), ClientState::Errored);
    assert!(client.is_errored());
    assert!(cev.disconnects.is_empty());
}

/// Checks a log of one direction: every payload intact with `tag`, each index
/// at most once; returns the indices in arrival order.
fn indices(tag: u8, received: impl IntoIterator<Item = Vec<u8>>) -> Vec<u32> {
    let mut seen = BTreeSet::new();
    received
        .into_iter()
        .map(|bytes| {
            let (t, i) = check_payload(&bytes);
            assert_eq!(t, tag, "message {i} has the wrong tag");
            assert!(seen.insert(i), "message {i} delivered twice");
            i
        })
        .collect()
}

fn unreliable_messages_both_ways(net: &Net) {
    const N: u32 = 60;
    let mut pair = Pair::connected(net, net.config(), net.config());
    let peer = pair.peer();
    let up = server_inbox(&mut pair.server);
    let down = client_inbox(&mut pair.client);

    let mut sent = 0;
    assert!(pair.pump_until(secs(3), |server, client| {
        for _ in 0..5 {
            if sent < N {
                client
                    .send_message(payload(UP, sent, varied_len(sent, 600)))
                    .unwrap();
                server
                    .send_message(peer, payload(DOWN, sent, varied_len(sent + 1, 600)))
                    .unwrap();
                sent += 1;
            }
        }
        up.len() == N as usize && down.len() == N as usize
    }));
    pair.pump_for(ms(100));

    let up = up.items();
    assert!(up
        .iter()
        .all(|(p, d, _)| *p == peer && *d == Delivery::Unreliable));
    let mut got = indices(UP, up.into_iter().map(|(_, _, b)| b));
    got.sort_unstable();
    assert_eq!(got, (0..N).collect::<Vec<_>>());

    let down = down.items();
    assert!(down.iter().all(|(d, _)| *d == Delivery::Unreliable));
    let mut got = indices(DOWN, down.into_iter().map(|(_, b)| b));
    got.sort_unstable();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

/// A lossy, duplicating, reordering link on the simulated network (a real
/// loopback link stays perfect).
fn rough_link() -> LinkConditioner {
    LinkConditioner::new()
        .loss(0.1)
        .duplicate(0.1)
        .latency(ms(5))
        .jitter(ms(8))
        .reorder(0.1, ms(30))
}

fn reliable_messages_amid_unreliable_chaff(net: &Net) {
    const N: u32 = 150;
    const CHAFF: u8 = 0x0C;
    let mut pair = Pair::connected(net, net.config(), net.config());
    let peer = pair.peer();
    let up = server_inbox(&mut pair.server);
    let down = client_inbox(&mut pair.client);
    net.set_conditioner(rough_link());

    let reliable_count = |log: &[Vec<u8>]| log.iter().filter(|b| b[0] != CHAFF).count();
    let mut sent = 0;
    let done = pair.pump_until(secs(20), |server, client| {
        for _ in 0..5 {
            if sent < N {
                let len = varied_len(sent, 300);
                client
                    .send(payload(CHAFF, sent, 900), Delivery::Unreliable)
                    .unwrap();
                client
                    .send(payload(UP, sent, len), Delivery::Reliable)
                    .unwrap();
                server
                    .send(peer, payload(DOWN, sent, len), Delivery::Reliable)
                    .unwrap();
                server
                    .send(peer, payload(CHAFF, sent, 900), Delivery::Unreliable)
                    .unwrap();
                sent += 1;
            }
        }
        let up: Vec<_> = up.items().into_iter().map(|(_, _, b)| b).collect();
        let down: Vec<_> = down.items().into_iter().map(|(_, b)| b).collect();
        reliable_count(&up) == N as usize && reliable_count(&down) == N as usize
    });
    assert!(done, "reliable messages missing after 20 s");
    // Late duplicates would show up now.
    pair.pump_for(ms(500));

    let split = |items: Vec<(Delivery, Vec<u8>)>, tag: u8| {
        let (reliable, chaff): (Vec<_>, Vec<_>) = items.into_iter().partition(|(_, b)| b[0] == tag);
        for (d, b) in &chaff {
            assert_eq!(*d, Delivery::Unreliable);
            assert_eq!(b[0], CHAFF);
        }
        assert!(reliable.iter().all(|(d, _)| *d == Delivery::Reliable));
        let chaff = indices(CHAFF, chaff.into_iter().map(|(_, b)| b));
        assert!(chaff.iter().all(|&i| i < N));
        let mut got = indices(tag, reliable.into_iter().map(|(_, b)| b));
        got.sort_unstable();
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "reliable set incomplete");
    };
    split(up.items().into_iter().map(|(_, d, b)| (d, b)).collect(), UP);
    split(down.items(), DOWN);
}

/// Per-mode guarantees of messages with tag `base + mode index`, received
/// in arrival order.
fn check_modes(base: u8, n: u32, received: Vec<(Delivery, Vec<u8>)>) {
    let mut per_mode: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for (delivery, bytes) in received {
        let (tag, index) = check_payload(&bytes);
        let mode = usize::from(tag - base);
        assert_eq!(
            Delivery::ALL[mode],
            delivery,
            "message {index} in wrong mode"
        );
        assert!(index < n);
        per_mode.entry(mode).or_default().push(index);
    }
    let all: Vec<u32> = (0..n).collect();
    for (mode, delivery) in Delivery::ALL.iter().enumerate() {
        let got = per_mode.remove(&mode).unwrap_or_default();
        match delivery {
            Delivery::Unreliable => {
                let unique: BTreeSet<_> = got.iter().collect();
                assert_eq!(unique.len(), got.len(), "unreliable duplicated: {got:?}");
            }
            Delivery::UnreliableSequenced => assert!(
                got.windows(2).all(|w| w[0] < w[1]),
                "sequenced delivered an older message after a newer one: {got:?}"
            ),
            Delivery::Reliable => {
                let mut sorted = got.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, all, "reliable not exactly once");
            }
            Delivery::ReliableOrdered => assert_eq!(got, all, "ordered not in send order"),
        }
    }
}

fn mixed_delivery_modes(net: &Net) {
    const N: u32 = 100;
    let mut pair = Pair::connected(net, net.config(), net.config());
    let peer = pair.peer();
    let up = server_inbox(&mut pair.server);
    let down = client_inbox(&mut pair.client);
    net.set_conditioner(rough_link());

    let reliable_done = |items: &[(Delivery, Vec<u8>)]| {
        items.iter().filter(|(d, _)| d.is_reliable()).count() == 2 * N as usize
    };
    let mut next = 0u32;
    let done = pair.pump_until(secs(20), |server, client| {
        for _ in 0..8 {
            if next < 4 * N {
                let mode = (next % 4) as usize;
                let index = next / 4;
                let delivery = Delivery::ALL[mode];
                let len = varied_len(next, 200);
                client
                    .send(payload(0x10 + mode as u8, index, len), delivery)
                    .unwrap();
                server
                    .send(peer, payload(0x20 + mode as u8, index, len), delivery)
                    .unwrap();
                next += 1;
            }
        }
        let up: Vec<_> = up.items().into_iter().map(|(_, d, b)| (d, b)).collect();
        reliable_done(&up) && reliable_done(&down.items())
    });
    assert!(done, "reliable messages missing after 20 s");
    pair.pump_for(ms(500));

    check_modes(
        0x10,
        N,
        up.items().into_iter().map(|(_, d, b)| (d, b)).collect(),
    );
    check_modes(0x20, N, down.items());
}

fn keepalive_scenario(net: &Net, config: Config, idle: Duration) {
    let mut pair = Pair::connected(net, config.clone(), config.clone());
    let peer = pair.peer();
    let cev = ClientEvents::attach(net, &mut pair.client);
    let sev = ServerEvents::attach(net, &mut pair.server);
    assert!(idle > config.timeout * 3);

    let dropped = pair.pump_until(idle, |s, c| !c.is_connected() || s.peer_count() != 1);
    assert!(!dropped, "idle connection dropped");
    assert!(cev.errors.is_empty() && cev.disconnects.is_empty());
    assert!(sev.errors.is_empty() && sev.disconnects.is_empty());
    let floor = (idle.as_millis() / config.effective_ping_interval().as_millis() / 2) as u64;
    let client_pings = pair.client.metrics().keepalive_count;
    let server_pings = pair.server.metrics(peer).unwrap().keepalive_count;
    assert!(
        client_pings >= floor && server_pings >= floor,
        "keepalives: client {client_pings}, server {server_pings}, expected >= {floor}"
    );
}

#[test]
fn keepalive_keeps_idle_connection_up_sim() {
    // 60 virtual seconds idle with the default 10 s timeout.
    let net = Net::sim_with_step(SEED, ms(5));
    keepalive_scenario(&net, Config::default(), secs(60));
}

#[test]
fn keepalive_keeps_idle_connection_up_udp() {
    let config = Config {
        timeout: ms(500),
        ping_interval: ms(100),
        ..Config::default()
    };
    keepalive_scenario(&Net::udp(), config, ms(1600));
}

#[test]
fn short_timeout_with_default_ping_interval_keeps_idle_connection_up_sim() {
    // A 300 ms timeout with the default 500 ms ping interval: the keepalive
    // tightens itself to a third of the timeout instead of letting it fire.
    let config = Config {
        timeout: ms(300),
        ..Config::default()
    };
    assert_eq!(config.effective_ping_interval(), ms(100));
    keepalive_scenario(&Net::sim_with_step(SEED, ms(5)), config, secs(3));
}

fn latency_scenario(net: &Net, range: std::ops::RangeInclusive<Duration>) {
    net.set_conditioner(LinkConditioner::new().latency(ms(20)));
    let mut pair = Pair::connected(net, net.config(), net.config());
    let peer = pair.peer();
    let up = server_inbox(&mut pair.server);
    let mut sent = 0u32;
    pair.pump_until(secs(1), |server, client| {
        if sent < 20 {
            client
                .send(payload(UP, sent, 50), Delivery::Reliable)
                .unwrap();
            server
                .send(peer, payload(DOWN, sent, 50), Delivery::Reliable)
                .unwrap();
            sent += 1;
        }
        false
    });
    assert_eq!(up.len(), 20);

    let client_latency = pair.client.latency();
    assert_eq!(client_latency, pair.client.metrics().latency);
    let server_latency = pair.server.metrics(peer).unwrap().latency;
    assert!(
        range.contains(&client_latency) && range.contains(&server_latency),
        "latency client {client_latency:?}, server {server_latency:?}, expected {range:?}"
    );
}

#[test]
fn latency_is_measured_sim() {
    // 20 ms each way: a round trip of 40 ms plus at most a few 1 ms ticks.
    latency_scenario(&Net::sim(SEED), ms(35)..=ms(60));
}

#[test]
fn latency_is_measured_udp() {
    // Loopback: some non-zero time, far below a second.
    latency_scenario(&Net::udp(), Duration::from_nanos(1)..=ms(200));
}

fn handlers_send_disconnect_and_read_metrics(net: &Net) {
    const N: u32 = 8;
    let mut pair = Pair::new(net, net.config(), net.config());

    // Server: echo from inside the handler, reading metrics there too.
    let server_seen: Log<(u32, u64)> = Log::new();
    let s = server_seen.clone();
    pair.server.on_message(move |server, peer, m| {
        let (_, i) = check_payload(m);
        let in_messages = server.metrics(peer).expect("peer metrics").in_messages;
        s.push((i, in_messages));
        server
            .send(peer, payload(DOWN, i, m.len()), m.delivery)
            .unwrap();
    });
    let server_second = Log::<u32>::new();
    let s2 = server_second.clone();
    pair.server
        .on_message(move |_, _, m| s2.push(check_payload(m).1));
    let server_removed = Log::<u32>::new();
    let s3 = server_removed.clone();
    let id = pair.server.on_message(move |_, _, _| s3.push(0));
    assert!(pair.server.remove_handler(id));
    assert!(!pair.server.remove_handler(id), "removed twice");
    let sev = ServerEvents::attach(net, &mut pair.server);

    // Client: the first message goes out from the accept handler; each echo
    // triggers the next; after N echoes the client disconnects itself.
    pair.client.on_connect_accepted(|client| {
        client
            .send(payload(UP, 0, 24), Delivery::ReliableOrdered)
            .unwrap();
    });
    let client_seen: Log<(u32, u64)> = Log::new();
    let c = client_seen.clone();
    pair.client.on_message(move |client, m| {
        let (tag, i) = check_payload(m);
        assert_eq!(tag, DOWN);
        c.push((i, client.metrics().in_messages));
        if i + 1 < N {
            let next = i + 1;
            client
                .send(
                    payload(UP, next, varied_len(next, 200)),
                    Delivery::ReliableOrdered,
                )
                .unwrap();
        } else {
            client.disconnect();
            assert_eq!(client.state(), ClientState::Disconnected);
        }
    });
    let client_second = Log::<u32>::new();
    let c2 = client_second.clone();
    pair.client
        .on_message(move |_, m| c2.push(check_payload(m).1));
    let client_removed = Log::<u32>::new();
    let c3 = client_removed.clone();
    let id = pair.client.on_message(move |_, _| c3.push(0));
    assert!(pair.client.remove_handler(id));
    assert!(!pair.client.remove_handler(id));

    pair.client.connect(pair.server_addr()).unwrap();
    assert!(pair.pump_until(secs(3), |_, _| !sev.disconnects.is_empty()));
    pair.pump_for(ms(200));

    let all: Vec<u32> = (0..N).collect();
    let client_seen = client_seen.items();
    assert_eq!(client_seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(), all);
    for (k, (_, in_messages)) in client_seen.iter().enumerate() {
        assert!(
            *in_messages > k as u64,
            "metrics inside handler: {client_seen:?}"
        );
    }
    assert_eq!(client_second.items(), all, "second client handler");
    assert!(client_removed.is_empty(), "removed client handler fired");

    let server_seen = server_seen.items();
    assert_eq!(server_seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(), all);
    for (k, (_, in_messages)) in server_seen.iter().enumerate() {
        assert!(
            *in_messages > k as u64,
            "metrics inside handler: {server_seen:?}"
        );
    }
    assert_eq!(server_second.items(), all, "second server handler");
    assert!(server_removed.is_empty(), "removed server handler fired");

    assert_eq!(pair.client.state(), ClientState::Disconnected);
    let peer = sev.connects.items()[0].0;
    assert_eq!(
        sev.disconnects.items(),
        vec![(peer, DisconnectReason::ClientDisconnected)]
    );
}

/// Client handlers A then B on messages; at the `remove_at`-th message A
/// removes B. Returns what B saw. The server sends `batch` messages in one
/// update (one datagram, so one dispatch on the client), then after they
/// arrived, `batch` more.
fn remove_in_handler(net: &Net, batch: u32, remove_at: u32) -> Vec<u32> {
    let mut pair = Pair::connected(net, net.config(), net.config());
    let peer = pair.peer();
    let b_id: Arc<Mutex<Option<HandlerId>>> = Arc::default();
    let a_seen = Log::<u32>::new();
    let removed: Log<bool> = Log::new();
    let (a, cell, r) = (a_seen.clone(), b_id.clone(), removed.clone());
    pair.client.on_message(move |client, m| {
        let (_, i) = check_payload(m);
        a.push(i);
        if i == remove_at {
            let id = cell.lock().unwrap().expect("B registered");
            r.push(client.remove_handler(id));
        }
    });
    let b_seen = Log::<u32>::new();
    let b = b_seen.clone();
    let id = pair
        .client
        .on_message(move |_, m| b.push(check_payload(m).1));
    *b_id.lock().unwrap() = Some(id);

    for round in 0..2 {
        for i in 0..batch {
            let index = round * batch + i;
            pair.server
                .send(peer, payload(DOWN, index, 20), Delivery::ReliableOrdered)
                .unwrap();
        }
        let want = ((round + 1) * batch) as usize;
        assert!(pair.pump_until(secs(2), |_, _| a_seen.len() == want));
    }
    assert_eq!(a_seen.items(), (0..2 * batch).collect::<Vec<_>>());
    assert_eq!(removed.items(), vec![true]);
    b_seen.items()
}

/// Removal from inside a handler takes effect for later updates.
fn handler_removed_in_handler_stops_on_next_update(net: &Net) {
    let b = remove_in_handler(net, 10, 2);
    assert!(
        b.iter().all(|&i| i < 10),
        "removed handler fired in a later update: {b:?}"
    );
}

/// Removal from inside a handler takes effect at once: B, registered after
/// A, must not see the message during which A removed it, nor any after it,
/// even when they arrived in the same update.
fn handler_removed_in_handler_stops_within_dispatch(net: &Net) {
    let b = remove_in_handler(net, 10, 2);
    assert_eq!(
        b,
        vec![0, 1],
        "removed handler kept firing in the same dispatch"
    );
}

#[test]
fn handler_removed_in_handler_stops_within_dispatch_sim() {
    handler_removed_in_handler_stops_within_dispatch(&Net::sim(SEED));
}

#[test]
fn handler_removed_in_handler_stops_within_dispatch_udp() {
    handler_removed_in_handler_stops_within_dispatch(&Net::udp());
}

/// Server-side twin of the client dispatch rule: B, removed by A while
/// handling the third of ten messages that arrived together, must not fire
/// again.
#[test]
fn server_handler_removed_in_handler_stops_within_dispatch_sim() {
    let net = Net::sim(SEED);
    let mut pair = Pair::connected(&net, net.config(), net.config());
    let b_id: Arc<Mutex<Option<HandlerId>>> = Arc::default();
    let cell = b_id.clone();
    pair.server.on_message(move |server, _, m| {
        if check_payload(m).1 == 2 {
            let id = cell.lock().unwrap().expect("B registered");
            assert!(server.remove_handler(id));
        }
    });
    let b_seen = Log::<u32>::new();
    let b = b_seen.clone();
    let id = pair
        .server
        .on_message(move |_, _, m| b.push(check_payload(m).1));
    *b_id.lock().unwrap() = Some(id);
    let all = server_inbox(&mut pair.server);
    for i in 0..10 {
        pair.client
            .send(payload(UP, i, 20), Delivery::ReliableOrdered)
            .unwrap();
    }
    assert!(pair.pump_until(secs(1), |_, _| all.len() == 10));
    assert_eq!(b_seen.items(), vec![0, 1]);
}

fn reconnect_after_disconnect_and_errors(net: &Net) {
    let config = net.config();
    let timeout = config.timeout;
    let mut pair = Pair::new(net, config.clone(), config.clone());
    let cev = ClientEvents::attach(net, &mut pair.client);
    let sev = ServerEvents::attach(net, &mut pair.server);
    let up = server_inbox(&mut pair.server);
    let down = client_inbox(&mut pair.client);
    let addr = pair.server_addr();

    // Round trip on the current connection, with index `i`.
    let exchange = |pair: &mut Pair, i: u32| {
        let peer = *pair.server.peers().last().expect("a peer");
        pair.client
            .send(payload(UP, i, 30), Delivery::Reliable)
            .unwrap();
        pair.server
            .send(peer, payload(DOWN, i, 30), Delivery::Reliable)
            .unwrap();
        let (u, d) = (up.len(), down.len());
        assert!(pair.pump_until(secs(2), |_, _| up.len() == u + 1 && down.len() == d + 1));
        assert_eq!(check_payload(&up.items()[u].2), (UP, i));
        assert_eq!(check_payload(&down.items()[d].1), (DOWN, i));
    };

    // 1. Connect, then disconnect gracefully, then connect again.
    pair.connect();
    exchange(&mut pair, 0);
    pair.client.disconnect();
    assert!(pair.pump_until(secs(2), |_, _| sev.disconnects.len() == 1));
    pair.client.connect(addr).unwrap();
    assert!(pair.pump_until(secs(2), |s, c| c.is_connected() && s.peer_count() == 1));
    exchange(&mut pair, 1);

    // 2. Lose the connection (the server stops answering for longer than the
    //    timeout), then connect again once the server is back.
    assert!(net.run_until(timeout + secs(2), || {
        pair.client.update();
        !cev.errors.is_empty()
    }));
    assert_eq!(cev.errors.items()[0].0, Error::TimedOut(timeout));
    assert!(pair.client.is_errored());
    // The server, back, times the silent peer out too.
    assert!(pair.pump_until(timeout + secs(2), |s, _| s.peer_count() == 0));
    assert!(matches!(
        sev.errors.items()[..],
        [(_, Error::TimedOut(_), _)]
    ));
    assert!(pair
        .client
        .send(b"x", Delivery::Reliable)
        .is_err_and(|e| e == Error::NotConnected));
    pair.client.connect(addr).unwrap();
    assert!(pair.pump_until(secs(2), |s, c| c.is_connected() && s.peer_count() == 1));
    exchange(&mut pair, 2);

    // 3. A connect attempt that times out (server not accepting), then one
    //    that succeeds.
    pair.client.disconnect();
    assert!(pair.pump_until(secs(2), |s, _| s.peer_count() == 0));
    pair.server.set_accept_new_connections(false);
    pair.client.connect(addr).unwrap();
    assert!(pair.pump_until(timeout + secs(2), |_, _| cev.errors.len() == 2));
    assert!(matches!(
        cev.errors.items()[1].0,
        Error::ConnectTimedOut { .. }
    ));
    assert!(pair.client.is_errored());
    pair.server.set_accept_new_connections(true);
    pair.client.connect(addr).unwrap();
    assert!(pair.pump_until(secs(2), |s, c| c.is_connected() && s.peer_count() == 1));
    exchange(&mut pair, 3);

    assert_eq!(cev.accepted.len(), 4);
    let peers: BTreeSet<PeerId> = sev.connects.items().iter().map(|(p, _)| *p).collect();
    assert_eq!(peers.len(), 4, "each connection gets a fresh peer id");
    assert!(cev.rejected.is_empty() && cev.disconnects.is_empty());
}

/// `disconnect()` promises that queued reliable messages are delivered and
/// then the server is told; connecting again at once must not break that
/// promise (the server would otherwise keep a ghost peer until it times out).
fn reconnect_right_after_disconnect(net: &Net) {
    const N: u32 = 20;
    net.set_conditioner(LinkConditioner::new().latency(ms(10)));
    let config = net.config();
    let timeout = config.timeout;
    let mut pair = Pair::connected(net, config.clone(), config);
    let old = pair.peer();
    let sev = ServerEvents::attach(net, &mut pair.server);
    let up = server_inbox(&mut pair.server);
    for i in 0..N {
        pair.client
            .send(payload(UP, i, 50), Delivery::ReliableOrdered)
            .unwrap();
    }
    pair.client.disconnect();
    pair.client.connect(pair.server_addr()).unwrap();

    assert!(pair.pump_until(timeout + secs(2), |_, _| {
        !sev.disconnects.is_empty() || !sev.errors.is_empty()
    }));
    assert!(pair.pump_until(secs(2), |s, c| c.is_connected() && s.peer_count() == 1));
    let got: Vec<u32> = up
        .items()
        .into_iter()
        .filter(|(p, _, _)| *p == old)
        .map(|(_, _, b)| check_payload(&b).1)
        .collect();
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "queued messages lost");
    assert_eq!(
        sev.disconnects.items(),
        vec![(old, DisconnectReason::ClientDisconnected)],
        "server errors instead: {:?}",
        sev.errors.items()
    );
    assert!(sev.errors.is_empty());
}

#[test]
fn reconnect_right_after_disconnect_sim() {
    reconnect_right_after_disconnect(&Net::sim(SEED));
}

#[test]
fn reconnect_right_after_disconnect_udp() {
    reconnect_right_after_disconnect(&Net::udp());
}

/// A client that restarts on the same address (the simulated network hands
/// the freed port out again) replaces its old session, once the old one has
/// been silent for two ping intervals (a live session is never replaced by a
/// handshake from its address, which anyone on the path could make).
#[test]
fn restarted_client_replaces_its_old_session_sim() {
    let net = Net::sim(SEED);
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let old = pair.peer();
    let old_addr = pair.client.local_addr().unwrap();
    let sev = ServerEvents::attach(&net, &mut pair.server);
    let up = server_inbox(&mut pair.server);

    pair.client = net.client(Config::default()); // the old one is dropped
    pair.client.connect(pair.server_addr()).unwrap();
    assert_eq!(
        pair.client.local_addr(),
        Some(old_addr),
        "same address again"
    );
    let quiet = Config::default().ping_interval * 2;
    assert!(pair.pump_until(quiet + secs(2), |_, c| c.is_connected()));
    pair.pump_for(ms(100));

    let errors = sev.errors.items();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        (errors[0].0, errors[0].1.clone()),
        (old, Error::SessionReplaced)
    );
    let connects = sev.connects.items();
    assert_eq!(connects.len(), 1);
    let new = connects[0].0;
    assert_ne!(new, old);
    assert_eq!(pair.server.peers(), vec![new]);
    assert_eq!(pair.server.peer_addr(new), Some(old_addr));

    pair.client
        .send(payload(UP, 5, 30), Delivery::Reliable)
        .unwrap();
    assert!(pair.pump_until(secs(1), |_, _| up.len() == 1));
    assert_eq!(up.items()[0].0, new);
}

/// A string of `len` bytes mixing 1- to 4-byte characters.
fn unicode_text(len: usize) -> String {
    let pieces = ['b', 'ä', 'n', '漢', 'é', '🦀', ' ', 'Ω', 'd'];
    let mut s = String::new();
    for c in pieces.iter().cycle() {
        if s.len() + c.len_utf8() > len {
            break;
        }
        s.push(*c);
    }
    while s.len() < len {
        s.push('.');
    }
    s
}

fn long_unicode_reject_reason(net: &Net) {
    let exact = unicode_text(255);
    assert_eq!(exact.len(), 255);
    // Longer than the limit, with byte 255 inside a character.
    let long: String = "🦀漢".repeat(60);
    assert!(long.len() > 255 && !long.is_char_boundary(255));
    let mut cut = 255;
    while !long.is_char_boundary(cut) {
        cut -= 1;
    }
    let truncated = long[..cut].to_string();

    for (reason, expected) in [(exact.clone(), exact), (long, truncated)] {
        let mut pair = Pair::new(net, net.config(), net.config());
        let r = reason.clone();
        pair.server.on_connect_request(move |_, _| Err(r.clone()));
        let cev = ClientEvents::attach(net, &mut pair.client);
        pair.client.connect(pair.server_addr()).unwrap();
        assert!(pair.pump_until(secs(2), |_, _| !cev.rejected.is_empty()));
        assert_eq!(cev.rejected.items(), vec![RejectReason::Custom(expected)]);
        assert!(pair.client.is_disconnected());
    }
}

fn connect_payload_reaches_server(net: &Net) {
    let big = payload(0x7E, 42, lentil::wire::MAX_CONNECT_PAYLOAD);
    for token in [big, Vec::new(), vec![0u8]] {
        let client_config = Config {
            connect_payload: token.clone(),
            ..net.config()
        };
        let mut pair = Pair::new(net, net.config(), client_config);
        let seen: Log<ConnectRequestInfo> = Log::new();
        let s = seen.clone();
        pair.server.on_connect_request(move |_, info| {
            s.push(info.clone());
            Ok(())
        });
        pair.connect();
        let seen = seen.items();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].payload.as_ref(), token.as_slice());
        assert_eq!(seen[0].addr, pair.server.peer_addr(pair.peer()).unwrap());
        assert_eq!(
            seen[0].addr.port(),
            pair.client.local_addr().unwrap().port()
        );
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Action {
    Walk,
    Jump { height: u16 },
    Say(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Command {
    seq: u32,
    player: String,
    position: (f32, f32),
    action: Action,
    extra: Vec<u8>,
}

fn command(i: u32) -> Command {
    Command {
        seq: i,
        player: format!("player-{i}-ünï"),
        position: (i as f32 * 1.5, -(i as f32) / 3.0),
        action: match i % 3 {
            0 => Action::Walk,
            1 => Action::Jump {
                height: i as u16 * 7,
            },
            _ => Action::Say("gg 🦀".repeat(i as usize % 4)),
        },
        extra: payload(3, i, 5 + i as usize * 3),
    }
}

fn typed_messages_round_trip(net: &Net) {
    const N: u32 = 20;
    let mut pair = Pair::connected(net, net.config(), net.config());
    let codec_errors: Log<Error> = Log::new();
    let ce = codec_errors.clone();
    // The server decodes and answers with the command advanced by one.
    pair.server.on_message(move |server, peer, m| {
        let mut cmd: Command = m.decode().expect("decode at server");
        if let Err(e) = m.decode::<u8>() {
            ce.push(e);
        }
        cmd.seq += 1000;
        server
            .send_typed(peer, &cmd, Delivery::ReliableOrdered)
            .unwrap();
    });
    let replies: Log<Command> = Log::new();
    let r = replies.clone();
    pair.client
        .on_message(move |_, m| r.push(m.decode().expect("decode at client")));

    for i in 0..N {
        pair.client
            .send_typed(&command(i), Delivery::ReliableOrdered)
            .unwrap();
    }
    assert!(pair.pump_until(secs(2), |_, _| replies.len() == N as usize));

    let expected: Vec<Command> = (0..N)
        .map(|i| Command {
            seq: i + 1000,
            ..command(i)
        })
        .collect();
    assert_eq!(replies.items(), expected);
    // Decoding as the wrong type fails with a codec error, never garbage.
    let errors = codec_errors.items();
    assert_eq!(errors.len(), N as usize);
    assert!(errors.iter().all(|e| matches!(e, Error::Codec(_))));
}

fn ipv6(net: &Net) {
    let mut server = net.new_server(net.config());
    if let Err(e) = server.listen("[::1]:0") {
        assert!(!net.is_sim(), "the simulated network must bind ::1: {e}");
        eprintln!("skipping: cannot bind [::1]:0: {e}");
        return;
    }
    let mut pair = Pair {
        net: net.clone(),
        server,
        client: net.client(net.config()),
    };
    assert!(pair.server_addr().is_ipv6());
    let up = server_inbox(&mut pair.server);
    let down = client_inbox(&mut pair.client);
    pair.connect();
    let peer = pair.peer();
    assert!(pair.server.peer_addr(peer).unwrap().is_ipv6());
    assert!(pair.client.server_addr().unwrap().is_ipv6());

    for i in 0..10 {
        pair.client
            .send(payload(UP, i, 100 + i as usize), Delivery::ReliableOrdered)
            .unwrap();
        pair.server
            .send(peer, payload(DOWN, i, 100), Delivery::ReliableOrdered)
            .unwrap();
    }
    assert!(pair.pump_until(secs(2), |_, _| up.len() == 10 && down.len() == 10));
    let got = indices(UP, up.items().into_iter().map(|(_, _, b)| b));
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    let got = indices(DOWN, down.items().into_iter().map(|(_, b)| b));
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

#[test]
fn payload_helpers_detect_corruption() {
    let p = payload(9, 77, 64);
    assert_eq!(check_payload(&p), (9, 77));
    assert_eq!(p.len(), 64);
    assert!(p.len() > PAYLOAD_HEADER);
    let mut bad = p.clone();
    bad[40] ^= 1;
    assert!(std::panic::catch_unwind(|| check_payload(&bad)).is_err());
    assert_ne!(payload(9, 77, 64), payload(9, 78, 64));
}
