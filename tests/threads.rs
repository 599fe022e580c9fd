//! Thread handles and event forwarding: other threads queue messages through
//! `ServerHandle` / `ClientHandle` (sent on the endpoint's next update), a
//! consumer thread receives forwarded events, and full queues fail at once
//! instead of blocking either side.

mod common;

use std::thread;

use common::{secs, Net, Pair};
use lentil::{
    Client, ClientEvent, ClientHandle, Config, Delivery, Error, Server, ServerEvent, ServerHandle,
    TypedClient, TypedClientEvent, TypedServerEvent,
};
use serde::{Deserialize, Serialize};

const SEED: u64 = 0x7A2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Notice(String),
}

fn assert_send<T: Send>() {}
fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

#[test]
fn events_endpoints_and_handles_cross_threads() {
    assert_send::<ServerEvent>();
    assert_send::<ClientEvent>();
    assert_send::<TypedServerEvent<Msg>>();
    assert_send::<TypedClientEvent<Msg>>();
    assert_send::<Server>();
    assert_send::<Client>();
    assert_send::<lentil::TypedServer<Msg>>();
    assert_send_sync_clone::<ServerHandle>();
    assert_send_sync_clone::<ClientHandle>();
}

/// Messages the client received so far, as bytes.
fn client_messages(client: &mut Client) -> Vec<Vec<u8>> {
    client
        .update_events()
        .filter_map(|e| match e {
            ClientEvent::Message(m) => Some(m.bytes().to_vec()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_message_queued_on_another_thread_goes_out_on_the_next_server_update() {
    let net = Net::sim(SEED);
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let peer = pair.peer();
    let handle = pair.server.handle();
    thread::spawn(move || handle.send(peer, b"from a worker", Delivery::ReliableOrdered))
        .join()
        .expect("worker thread")
        .expect("queued");

    // Queued, not sent: without a server update nothing reaches the client.
    let mut got = Vec::new();
    net.run_for(secs(1), || got.extend(client_messages(&mut pair.client)));
    assert!(got.is_empty(), "arrived before the server updated: {got:?}");

    pair.server.update();
    let ok = net.run_until(secs(2), || {
        pair.server.update();
        got.extend(client_messages(&mut pair.client));
        !got.is_empty()
    });
    assert!(ok, "the queued message never arrived");
    assert_eq!(got, vec![b"from a worker".to_vec()]);
}

#[test]
fn a_message_queued_through_a_client_handle_reaches_the_server() {
    let net = Net::sim(SEED + 1);
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let handle = pair.client.handle();
    let worker = thread::spawn(move || {
        handle.send_on(2, b"on channel 2")?;
        handle.send_typed(&Msg::Notice("typed".into()), Delivery::ReliableOrdered)
    });
    worker.join().expect("worker thread").expect("queued");

    let mut got = Vec::new();
    let ok = net.run_until(secs(2), || {
        pair.client.update();
        for e in pair.server.update_events() {
            if let ServerEvent::Message { message, .. } = e {
                got.push(message);
            }
        }
        got.len() == 2
    });
    assert!(ok, "queued messages did not arrive: {got:?}");
    let on_2 = got
        .iter()
        .find(|m| m.channel == 2)
        .expect("the channel-2 message");
    assert_eq!(on_2.bytes(), b"on channel 2");
    let typed = got
        .iter()
        .find_map(|m| m.decode::<Msg>().ok())
        .expect("the typed message");
    assert_eq!(typed, Msg::Notice("typed".into()));
}

#[test]
fn a_typed_broadcast_from_another_thread_reaches_every_client() {
    let net = Net::sim(SEED + 2);
    let mut server = net.server(Config::default());
    let addr = server.local_addr().expect("listening");
    let mut clients: Vec<TypedClient<Msg>> = (0..3)
        .map(|_| TypedClient::from_client(net.client(Config::default())))
        .collect();
    for c in &mut clients {
        c.connect(addr).expect("connect");
    }
    let ok = net.run_until(secs(2), || {
        server.update();
        clients.iter_mut().for_each(TypedClient::update);
        server.peer_count() == 3
    });
    assert!(ok, "clients did not connect");

    let handle = server.handle();
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let handle = handle.clone();
            thread::spawn(move || {
                handle.broadcast_typed(&Msg::Notice(format!("worker {i}")), Delivery::Reliable)
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker thread").expect("queued");
    }
    let mut got = vec![Vec::new(); 3];
    let ok = net.run_until(secs(2), || {
        server.update();
        for (c, got) in clients.iter_mut().zip(got.iter_mut()) {
            for e in c.update_events() {
                if let TypedClientEvent::Message { message, .. } = e {
                    got.push(message);
                }
            }
        }
        got.iter().all(|g| g.len() == 2)
    });
    assert!(ok, "broadcasts missing: {got:?}");
    for mut g in got {
        g.sort_by_key(|Msg::Notice(t)| t.clone());
        assert_eq!(
            g,
            vec![
                Msg::Notice("worker 0".into()),
                Msg::Notice("worker 1".into())
            ]
        );
    }
    assert_eq!(handle.failed_sends(), 0);
}

#[test]
fn forwarded_events_reach_a_consumer_thread() {
    let net = Net::sim(SEED + 3);
    let mut pair = Pair::new(&net, Config::default(), Config::default());
    let events = pair.server.forward_events(64);
    // The consumer runs until the server, and with it the sender, is dropped.
    let consumer = thread::spawn(move || events.iter().collect::<Vec<ServerEvent>>());

    pair.connect();
    let peer = pair.peer();
    pair.client
        .send(b"hello consumer", Delivery::Reliable)
        .unwrap();
    pair.client.disconnect();
    let ok = pair.pump_until(secs(2), |server, _| server.peer_count() == 0);
    assert!(ok, "the peer did not leave");
    assert_eq!(pair.server.forwarded_events_dropped(), 0);
    drop(pair);

    let seen = consumer.join().expect("consumer thread");
    let kinds: Vec<String> = seen
        .iter()
        .map(|e| match e {
            ServerEvent::Connected { peer, .. } => format!("connected {peer}"),
            ServerEvent::Message { peer, message } => {
                format!(
                    "message {peer} {}",
                    String::from_utf8_lossy(message.bytes())
                )
            }
            ServerEvent::Disconnected { peer, reason } => format!("disconnected {peer} {reason}"),
            ServerEvent::Error { peer, error } => format!("error {peer} {error}"),
            other => format!("other {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            format!("connected {peer}"),
            format!("message {peer} hello consumer"),
            format!("disconnected {peer} client disconnected"),
        ]
    );
}

#[test]
fn handlers_still_run_while_events_are_forwarded_from_a_client() {
    let net = Net::sim(SEED + 4);
    let mut pair = Pair::new(&net, Config::default(), Config::default());
    let events = pair.client.forward_events(16);
    let accepted = common::Log::new();
    let a = accepted.clone();
    pair.client.on_connect_accepted(move |_| a.push(()));
    pair.connect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(events.try_recv(), Ok(ClientEvent::ConnectAccepted));
    assert!(events.try_recv().is_err());
}

#[test]
fn a_full_forwarding_channel_drops_and_counts_instead_of_blocking() {
    let net = Net::sim(SEED + 5);
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let peer = pair.peer();
    let events = pair.server.forward_events(2);
    for i in 0..5u8 {
        pair.client.send([i], Delivery::ReliableOrdered).unwrap();
    }
    let mut handled = 0;
    let ok = net.run_until(secs(2), || {
        pair.client.update();
        handled += pair.server.update_events().count();
        handled == 5
    });
    assert!(ok, "the game loop stalled: {handled} of 5 events");
    assert_eq!(pair.server.forwarded_events_dropped(), 3);
    let first: Vec<ServerEvent> = events.try_iter().collect();
    assert_eq!(first.len(), 2);
    assert!(
        matches!(&first[0], ServerEvent::Message { peer: p, message } if *p == peer && message.bytes() == [0])
    );
}

#[test]
fn a_full_handle_queue_errors_instead_of_blocking() {
    let net = Net::sim(SEED + 6);
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let peer = pair.peer();
    let handle = pair.server.handle_with_capacity(4);
    assert_eq!(handle.capacity(), 4);
    let worker = {
        let handle = handle.clone();
        thread::spawn(move || {
            (0..6u8)
                .map(|i| handle.send(peer, [i], Delivery::ReliableOrdered))
                .collect::<Vec<_>>()
        })
    };
    // The worker finishes although nobody drains the queue: no send blocks.
    let results = worker.join().expect("worker thread");
    assert_eq!(results[..4], [Ok(()), Ok(()), Ok(()), Ok(())]);
    assert_eq!(
        results[4..],
        [
            Err(Error::HandleQueueFull { capacity: 4 }),
            Err(Error::HandleQueueFull { capacity: 4 })
        ]
    );

    // An update drains the queue: there is room again, and the four arrive.
    pair.server.update();
    assert_eq!(handle.send(peer, [9], Delivery::ReliableOrdered), Ok(()));
    let mut got = Vec::new();
    let ok = net.run_until(secs(2), || {
        pair.server.update();
        got.extend(client_messages(&mut pair.client));
        got.len() == 5
    });
    assert!(ok, "queued messages missing: {got:?}");
    assert_eq!(got, vec![vec![0], vec![1], vec![2], vec![3], vec![9]]);
}

/// A handle's queue already gave its sender backpressure, so what it took
/// is not refused later by the send-queue delay bound, which would only
/// drop it: a full queue of small reliable messages, far more than 5 ms of
/// sending at a new connection's rate, all arrive and none count as failed.
#[test]
fn messages_a_handle_queued_are_not_dropped_by_the_delay_bound() {
    let net = Net::sim(SEED + 9);
    net.set_conditioner(lentil::LinkConditioner::new().latency(common::ms(20)));
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let handle = pair.client.handle();
    let count = 1000;
    for i in 0..count {
        handle
            .send([i as u8; 200], Delivery::ReliableOrdered)
            .expect("the handle's queue holds 1024");
    }
    let mut got = 0;
    let ok = net.run_until(secs(5), || {
        pair.client.update();
        for e in pair.server.update_events() {
            if let ServerEvent::Message { .. } = e {
                got += 1;
            }
        }
        got == count
    });
    assert!(ok, "{got} of {count} arrived");
    assert_eq!(handle.failed_sends(), 0);
}

#[test]
fn queued_sends_the_endpoint_cannot_take_are_counted() {
    let net = Net::sim(SEED + 7);
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let handle = pair.server.handle();
    handle.send(424_242, b"nobody", Delivery::Reliable).unwrap();
    handle.send_on(pair.peer(), 60, b"no such channel").unwrap();
    assert_eq!(handle.failed_sends(), 0);
    pair.server.update();
    assert_eq!(handle.failed_sends(), 2);
    // The counter is shared by every handle of the server.
    assert_eq!(pair.server.handle().failed_sends(), 2);
    assert_eq!(pair.server.peer_count(), 1);
}

#[test]
fn handles_of_a_dropped_endpoint_say_so() {
    let net = Net::sim(SEED + 8);
    let mut server = net.server(Config::default());
    let mut client = net.client(Config::default());
    let server_handle = server.handle();
    let client_handle = client.handle();
    drop(server);
    drop(client);
    assert_eq!(
        server_handle.broadcast(b"x", Delivery::Reliable),
        Err(Error::EndpointDropped)
    );
    assert_eq!(
        client_handle.send(b"x", Delivery::Reliable),
        Err(Error::EndpointDropped)
    );
}
