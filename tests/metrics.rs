//! Metrics counters move as they should (legume's tests/test_metrics.py and
//! more): on the simulated network in virtual time unless named `udp`.

mod common;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use common::{check_payload, ms, payload, secs, varied_len, Log, Net, Pair};
use lentil::transport::Socket;
use lentil::{Config, Delivery, LinkConditioner, ServerMetricsHandle};

const SEED: u64 = 0x3E7;

fn connected_sim(seed: u64) -> (Net, Pair) {
    let net = Net::sim(seed);
    let pair = Pair::connected(&net, Config::default(), Config::default());
    (net, pair)
}

/// Indices of messages received, with their payloads checked.
fn inbox_server(pair: &mut Pair) -> Log<u32> {
    let log = Log::new();
    let l = log.clone();
    pair.server
        .on_message(move |_, _, m| l.push(check_payload(m).1));
    log
}

fn inbox_client(pair: &mut Pair) -> Log<u32> {
    let log = Log::new();
    let l = log.clone();
    pair.client
        .on_message(move |_, m| l.push(check_payload(m).1));
    log
}

#[test]
fn counters_after_a_reliable_exchange_on_a_lossless_link() {
    const N: u32 = 100;
    const M: u32 = 60;
    let (_net, mut pair) = connected_sim(SEED);
    let peer = pair.peer();
    let up = inbox_server(&mut pair);
    let down = inbox_client(&mut pair);

    let mut up_bytes = 0;
    for i in 0..N {
        let p = payload(1, i, varied_len(i, 300));
        up_bytes += p.len() as u64;
        pair.client.send(&p, Delivery::Reliable).unwrap();
    }
    for i in 0..M {
        let p = payload(2, i, varied_len(i + 3, 300));
        pair.server.send(peer, &p, Delivery::Reliable).unwrap();
    }
    assert!(pair.pump_until(secs(2), |_, _| {
        up.len() == N as usize && down.len() == M as usize
    }));
    pair.pump_for(ms(100));

    // Zero latency: what one side sends in an update, the other receives in
    // its next update.
    pair.client.update();
    pair.server.update();
    let c = pair.client.metrics();
    let s = pair.server.metrics(peer).unwrap();
    assert_eq!(c.out_packets, s.in_packets, "client -> server packets");
    assert_eq!(c.out_bytes, s.in_bytes, "client -> server bytes");
    pair.client.update();
    let c = pair.client.metrics();
    assert_eq!(s.out_packets, c.in_packets, "server -> client packets");
    assert_eq!(s.out_bytes, c.in_bytes, "server -> client bytes");

    assert_eq!((c.out_messages, s.in_messages), (N as u64, N as u64));
    assert_eq!((s.out_messages, c.in_messages), (M as u64, M as u64));
    for m in [&c, &s] {
        assert!(m.in_packets > 0 && m.out_packets > 0 && m.in_bytes > 0 && m.out_bytes > 0);
        assert!(m.out_bytes >= m.out_packets * lentil::wire::DATA_HEADER_LEN as u64);
        assert!(m.packets_acked > 0);
        assert_eq!(m.packets_lost, 0, "{m:?}");
        assert_eq!(m.packet_loss, 0.0);
        assert_eq!(m.resends, 0, "spurious resends on a perfect link");
        assert_eq!(m.duplicates_dropped, 0);
        assert_eq!(m.invalid_packets, 0);
        assert_eq!(m.send_failures, 0);
    }
    assert!(c.out_bytes > up_bytes, "payload bytes plus headers");
    // The network saw at least what the client counted (plus the handshake).
    let sim = pair.net.sim_net().unwrap();
    let client_addr = pair.client.local_addr().unwrap();
    let server_addr = pair.server_addr();
    assert!(sim.bytes_between(client_addr, server_addr) > c.out_bytes);
    assert!(sim.bytes_received_by(client_addr) > c.in_bytes);
}

/// legume's testClientOut / testServerOut: queued bytes grow with each send,
/// and sent bytes exceed what was queued.
fn buffer_and_transfer_bytes(net: &Net) {
    let mut pair = Pair::connected(net, net.config(), net.config());
    let peer = pair.peer();
    let up = inbox_server(&mut pair);
    let down = inbox_client(&mut pair);
    let mut expected_up = 0u64;
    let mut expected_down = 0u64;
    for i in 0..20u32 {
        let a = payload(1, 2 * i, 40 + i as usize);
        let b = payload(1, 2 * i + 1, 41 + i as usize);
        pair.client.send_message(&a).unwrap();
        assert!(pair.client.metrics().out_buffer_bytes >= a.len());
        pair.client.send_message(&b).unwrap();
        assert_eq!(pair.client.metrics().out_buffer_bytes, a.len() + b.len());
        expected_up += (a.len() + b.len()) as u64;

        let before = pair.server.metrics(peer).unwrap().out_buffer_bytes;
        pair.server.send_message(peer, &a).unwrap();
        let after = pair.server.metrics(peer).unwrap().out_buffer_bytes;
        assert_eq!(after, before + a.len());
        expected_down += a.len() as u64;

        let want = (up.len() + 2, down.len() + 1);
        assert!(pair.pump_until(secs(1), |_, _| (up.len(), down.len()) == want));
        assert_eq!(pair.client.metrics().out_buffer_bytes, 0);
        assert!(pair.client.metrics().out_bytes > expected_up);
        assert!(pair.server.metrics(peer).unwrap().in_bytes > expected_up);
        assert!(pair.server.metrics(peer).unwrap().out_bytes > expected_down);
        assert!(pair.client.metrics().in_bytes > expected_down);
    }
    assert_eq!(pair.client.metrics().out_messages, 40);
    assert_eq!(pair.server.metrics(peer).unwrap().in_messages, 40);
}

#[test]
fn buffer_and_transfer_bytes_sim() {
    buffer_and_transfer_bytes(&Net::sim(SEED));
}

#[test]
fn buffer_and_transfer_bytes_udp() {
    buffer_and_transfer_bytes(&Net::udp());
}

/// Streams `n` reliable messages client -> server, a few per tick, until
/// all arrived; returns the server's log.
fn stream_up(pair: &mut Pair, n: u32, delivery: Delivery, limit: Duration) -> Vec<u32> {
    let got = inbox_server(pair);
    let mut sent = 0;
    let done = pair.pump_until(limit, |_, client| {
        for _ in 0..4 {
            if sent < n {
                // A full queue is backpressure, not an error: retry next tick.
                match client.send(payload(5, sent, varied_len(sent, 200)), delivery) {
                    Ok(()) => sent += 1,
                    Err(lentil::Error::QueueFull { .. }) => break,
                    Err(e) => panic!("send failed: {e}"),
                }
            }
        }
        got.len() >= n as usize
    });
    assert!(done, "only {} of {n} messages arrived", got.len());
    got.items()
}

/// Jitter larger than the loss delay's margin makes the sender declare
/// packets lost that only came late; their acks take the losses back, so a
/// link that drops nothing reports no loss.
#[test]
fn packets_that_came_late_are_not_reported_as_lost() {
    const N: u32 = 2000;
    let (net, mut pair) = connected_sim(SEED + 2);
    net.set_conditioner(LinkConditioner::new().latency(ms(20)).jitter(ms(20)));
    let mut got = stream_up(&mut pair, N, Delivery::Reliable, secs(60));
    pair.pump_for(ms(500));
    got.sort_unstable();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    let c = pair.client.metrics();
    assert!(c.spurious_losses > 0, "jitter declared nothing lost: {c:?}");
    assert_eq!(c.packets_lost, 0, "{c:?}");
    assert_eq!(c.packet_loss, 0.0, "{c:?}");
}

#[test]
fn loss_shows_in_resends_and_packet_loss() {
    const N: u32 = 200;
    let (net, mut pair) = connected_sim(SEED);
    let peer = pair.peer();
    net.set_conditioner(LinkConditioner::new().loss(0.2).latency(ms(5)));
    let mut got = stream_up(&mut pair, N, Delivery::Reliable, secs(30));
    pair.pump_for(ms(300));

    got.sort_unstable();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    let c = pair.client.metrics();
    assert!(c.resends > 0, "{c:?}");
    assert!(c.packets_lost > 0, "{c:?}");
    assert!(
        c.packet_loss > 0.05 && c.packet_loss < 0.5,
        "packet_loss {} with 20% loss",
        c.packet_loss
    );
    assert_eq!(c.out_messages, N as u64, "resends are not new messages");
    assert_eq!(pair.server.metrics(peer).unwrap().in_messages, N as u64);
    let lost = net.sim_net().unwrap().stats().dropped_loss;
    assert!(lost > 0);
}

#[test]
fn duplication_shows_in_duplicates_dropped() {
    const N: u32 = 200;
    let (net, mut pair) = connected_sim(SEED + 1);
    let peer = pair.peer();
    net.set_conditioner(
        LinkConditioner::new()
            .duplicate(0.3)
            .latency(ms(5))
            .jitter(ms(3)),
    );
    let mut got = stream_up(&mut pair, N, Delivery::Reliable, secs(10));
    pair.pump_for(ms(300));

    assert_eq!(got.len(), N as usize, "a duplicate was delivered");
    got.sort_unstable();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    let s = pair.server.metrics(peer).unwrap();
    assert!(s.duplicates_dropped > 0, "{s:?}");
    assert_eq!(s.in_messages, N as u64);
    assert!(net.sim_net().unwrap().stats().duplicated > 0);
}

#[test]
fn pending_acks_and_buffered_bytes_drain_once_acked() {
    const N: usize = 50;
    const LEN: usize = 100;
    let (net, mut pair) = connected_sim(SEED);
    let peer = pair.peer();
    net.set_conditioner(LinkConditioner::new().latency(ms(20)));
    let up = inbox_server(&mut pair);
    pair.pump_until(secs(1), |_, c| c.metrics().pending_acks == 0);

    for i in 0..N {
        pair.client
            .send(payload(4, i as u32, LEN), Delivery::Reliable)
            .unwrap();
    }
    let queued = pair.client.metrics();
    assert_eq!(queued.out_buffer_bytes, N * LEN, "queued before update");
    // The send buffer charges each message its payload plus a fixed overhead.
    let charged = N * (LEN + lentil::proto::MESSAGE_OVERHEAD);
    assert_eq!(queued.send_buffer_bytes, charged);
    assert_eq!(queued.pending_acks, 0, "nothing is on the wire yet");

    pair.client.update();
    let sent = pair.client.metrics();
    assert!(sent.out_buffer_bytes < N * LEN, "{sent:?}");
    assert!(sent.pending_acks > 0, "{sent:?}");
    assert_eq!(
        sent.send_buffer_bytes, charged,
        "unacknowledged data is held"
    );

    // Server side too: queued bytes show before its update.
    pair.server
        .send(peer, payload(4, 0, LEN), Delivery::ReliableOrdered)
        .unwrap();
    assert_eq!(pair.server.metrics(peer).unwrap().out_buffer_bytes, LEN);

    assert!(pair.pump_until(secs(2), |_, c| {
        let m = c.metrics();
        m.pending_acks == 0 && m.out_buffer_bytes == 0 && m.send_buffer_bytes == 0
    }));
    assert_eq!(up.len(), N);
    let s = pair.server.metrics(peer).unwrap();
    assert_eq!((s.out_buffer_bytes, s.send_buffer_bytes), (0, 0));
}

#[test]
fn reorder_queue_fills_under_reordering_and_empties() {
    const N: u32 = 300;
    let (net, mut pair) = connected_sim(SEED);
    let peer = pair.peer();
    let client_addr = pair.client.local_addr().unwrap();
    net.sim_net().unwrap().set_link_conditioner(
        pair.server_addr(),
        client_addr,
        LinkConditioner::new()
            .latency(ms(10))
            .jitter(ms(5))
            .reorder(0.3, ms(40)),
    );
    let got = inbox_client(&mut pair);
    let mut sent = 0;
    let mut largest = 0;
    assert!(pair.pump_until(secs(10), |server, client| {
        for _ in 0..3 {
            if sent < N {
                server
                    .send(peer, payload(6, sent, 30), Delivery::ReliableOrdered)
                    .unwrap();
                sent += 1;
            }
        }
        largest = largest.max(client.metrics().reorder_queue);
        got.len() == N as usize
    }));
    assert!(largest > 0, "reorder_queue never rose under reordering");
    assert_eq!(got.items(), (0..N).collect::<Vec<_>>());
    assert_eq!(pair.client.metrics().reorder_queue, 0);
}

/// Reliable traffic both ways every 10 ms for `duration`.
fn chatter(pair: &mut Pair, duration: Duration) {
    let peer = pair.peer();
    let mut i = 0u32;
    let mut last = Duration::ZERO;
    let net = pair.net.clone();
    pair.pump_until(duration, |server, client| {
        if net.now() >= last + ms(10) {
            last = net.now();
            client.send(payload(8, i, 120), Delivery::Reliable).unwrap();
            server
                .send(peer, payload(9, i, 120), Delivery::Reliable)
                .unwrap();
            i += 1;
        }
        false
    });
}

#[test]
fn rtt_percentiles_are_ordered() {
    let (net, mut pair) = connected_sim(SEED);
    let peer = pair.peer();
    net.set_conditioner(LinkConditioner::new().latency(ms(20)).jitter(ms(30)));
    chatter(&mut pair, secs(3));

    for m in [pair.client.metrics(), pair.server.metrics(peer).unwrap()] {
        assert!(m.rtt_p50 >= ms(40), "{m:?}");
        assert!(m.rtt_p50 <= m.rtt_p99 && m.rtt_p99 <= m.rtt_max, "{m:?}");
        assert!(m.rtt_p50 < m.rtt_max, "jitter should spread samples: {m:?}");
        assert!(m.rtt_max <= ms(110), "{m:?}");
        assert!(m.srtt >= ms(40) && m.srtt <= ms(110), "{m:?}");
        assert_eq!(m.latency, m.srtt);
        assert!(m.rtt_var > Duration::ZERO);
        assert!(m.out_bandwidth > 0.0 && m.in_bandwidth > 0.0, "{m:?}");
    }
}

#[test]
#[cfg(feature = "json")]
fn metrics_serialize_to_json_with_durations_in_ms() {
    let (net, mut pair) = connected_sim(SEED);
    net.set_conditioner(LinkConditioner::new().latency(ms(20)));
    chatter(&mut pair, secs(1));
    let m = pair.client.metrics();
    let json = serde_json::to_value(&m).unwrap();

    let latency = json["latency"].as_f64().expect("latency is a number");
    assert!((latency - m.latency.as_secs_f64() * 1000.0).abs() < 1e-6);
    assert!((35.0..=60.0).contains(&latency), "latency {latency} ms");
    for key in ["srtt", "rtt_var", "rtt_p50", "rtt_p99", "rtt_max"] {
        assert!(json[key].is_f64(), "{key} missing or not in ms: {json}");
    }
    assert_eq!(
        json["rtt_max"].as_f64().unwrap(),
        m.rtt_max.as_secs_f64() * 1000.0
    );
    assert_eq!(json["in_messages"].as_u64(), Some(m.in_messages));
    assert_eq!(json["out_packets"].as_u64(), Some(m.out_packets));
    assert!(json["packet_loss"].is_f64());
    assert!(m.in_messages > 0);
    // Every field made it into the object.
    let text = serde_json::to_string(&m).unwrap();
    for key in [
        "in_bytes",
        "out_bytes",
        "keepalive_count",
        "reorder_queue",
        "pending_acks",
        "out_buffer_bytes",
        "resends",
        "duplicates_dropped",
        "invalid_packets",
        "in_bandwidth",
    ] {
        assert!(
            text.contains(&format!("\"{key}\":")),
            "{key} missing: {text}"
        );
    }
    let default = serde_json::to_value(lentil::Metrics::default()).unwrap();
    assert_eq!(default["latency"].as_f64(), Some(0.0));
}

#[test]
fn metrics_handle_is_readable_from_another_thread() {
    const ROUNDS: u64 = 5;
    const PER_ROUND: u64 = 10;
    let (_net, mut pair) = connected_sim(SEED);
    let peer = pair.peer();
    let got = inbox_client(&mut pair);
    let handle = pair.client.metrics_handle();

    // The reader answers each request with what it reads from the handle.
    let (ask, asked) = mpsc::channel::<()>();
    let (answer, answers) = mpsc::channel::<u64>();
    let reader = std::thread::spawn(move || {
        for () in asked {
            if answer.send(handle.snapshot().in_messages).is_err() {
                break;
            }
        }
    });

    let mut seen = Vec::new();
    for round in 0..ROUNDS {
        for i in 0..PER_ROUND {
            let index = (round * PER_ROUND + i) as u32;
            pair.server
                .send(peer, payload(3, index, 64), Delivery::ReliableOrdered)
                .unwrap();
        }
        let want = ((round + 1) * PER_ROUND) as usize;
        assert!(pair.pump_until(secs(1), |_, _| got.len() == want));
        ask.send(()).unwrap();
        seen.push(answers.recv_timeout(secs(5)).expect("reader answered"));
    }
    drop(ask);
    reader.join().unwrap();
    let expected: Vec<u64> = (1..=ROUNDS).map(|r| r * PER_ROUND).collect();
    assert_eq!(seen, expected);
}

#[test]
fn server_metrics_handle_publishes_every_peer() {
    let (_net, mut pair) = connected_sim(SEED);
    let peer = pair.peer();
    let got = inbox_server(&mut pair);
    for i in 0..7 {
        pair.client
            .send(payload(1, i, 20), Delivery::Reliable)
            .unwrap();
    }
    assert!(pair.pump_until(secs(1), |_, _| got.len() == 7));
    let handle = ServerMetricsHandle::default();
    assert!(handle.snapshot().is_empty());
    pair.server.publish_metrics(&handle);
    let reader = handle.clone();
    let snapshot = std::thread::spawn(move || reader.snapshot())
        .join()
        .unwrap();
    assert_eq!(snapshot.len(), 1);
    assert_eq!(snapshot[&peer].in_messages, 7);
}

#[test]
fn garbage_datagrams_count_as_invalid() {
    let (net, mut pair) = connected_sim(SEED);
    let peer = pair.peer();
    let sim = net.sim_net().unwrap();
    let mut stranger = sim
        .bind("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .unwrap();
    let server_addr = pair.server_addr();
    let client_addr = pair.client.local_addr().unwrap();

    // A well-formed data packet, but from nobody the server knows.
    let mut forged = Vec::new();
    lentil::wire::DataHeader {
        token: 0xDEAD_BEEF,
        seq: 0,
        ack: 0,
        ack_bits: 0,
    }
    .emit(&mut forged);
    lentil::wire::emit_ping(&mut forged);
    let garbage: Vec<Vec<u8>> = vec![
        vec![0xFF],
        vec![0xFF; 40],
        b"LNTL but not a packet".to_vec(),
        payload(0xEE, 1, 300),
        forged,
    ];

    pair.pump_for(ms(50));
    let server_before = pair.server.stats();
    let peer_before = pair.server.metrics(peer).unwrap().invalid_packets;
    let client_before = pair.client.metrics().invalid_packets;
    for g in &garbage {
        stranger.send_to(g, server_addr).unwrap();
        stranger.send_to(g, client_addr).unwrap();
    }
    pair.update();
    let server_after = pair.server.stats();

    let n = garbage.len() as u64;
    assert_eq!(
        server_after.invalid_datagrams - server_before.invalid_datagrams,
        n
    );
    assert!(server_after.datagrams_in - server_before.datagrams_in >= n);
    assert_eq!(server_after.accepted, server_before.accepted);
    assert_eq!(
        pair.server.metrics(peer).unwrap().invalid_packets,
        peer_before,
        "strangers' garbage is not the peer's"
    );
    assert_eq!(pair.client.metrics().invalid_packets - client_before, n);
    // Nothing broke.
    assert!(pair.client.is_connected());
    assert_eq!(pair.server.peer_count(), 1);
}

/// Packets that carry only unreliable messages ask for no ack, so the peer
/// acknowledges them only when it next sends something (its header covers the
/// newest packet and 32 before it). Packets that arrived must never be
/// counted lost on a perfect link, however rarely the peer writes back.
#[test]
fn an_unreliable_stream_on_a_perfect_link_reports_no_loss() {
    let (net, mut pair) = connected_sim(SEED);
    let peer = pair.peer();
    net.set_conditioner(LinkConditioner::new().latency(ms(10)));
    let got = inbox_server(&mut pair);
    let mut i = 0u32;
    // Five packets' worth per tick, for a second.
    pair.pump_until(secs(1), |_, client| {
        for _ in 0..5 {
            client.send_message(payload(4, i, 1000)).unwrap();
            i += 1;
        }
        false
    });
    pair.pump_for(ms(100));
    assert_eq!(got.len(), i as usize, "a perfect link delivers everything");
    let s = pair.server.metrics(peer).unwrap();
    assert_eq!(s.in_messages, u64::from(i));
    let c = pair.client.metrics();
    assert_eq!(
        (c.packets_lost, c.packet_loss),
        (0, 0.0),
        "delivered packets counted lost: {c:?}"
    );
}
