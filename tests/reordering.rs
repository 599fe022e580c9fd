//! Loss detection on a link whose jitter exceeds its base RTT, in virtual
//! time on the simulated network: most datagrams arrive out of order, and
//! the sender must learn to tell late packets from lost ones.
//!
//! A client streams 64 KiB ordered messages at a configured 8 MB/s over a
//! link of 1 ms base RTT with up to 10 ms of jitter per datagram each way.
//! Each test asserts on the client's metrics after a few virtual seconds.

use std::net::SocketAddr;
use std::time::Duration;

use lentil::{Client, Config, Delivery, LinkConditioner, Metrics, Server, ServerEvent, SimNetwork};

const KIB: usize = 1024;

/// What one run measured: the client's metrics and the message bytes the
/// server received.
struct Run {
    metrics: Metrics,
    delivered: u64,
}

/// Streams over `link` for `seconds` virtual seconds at up to 8 MB/s.
fn stream(seed: u64, link: LinkConditioner, seconds: u64) -> Run {
    let net = SimNetwork::new(seed);
    net.set_conditioner(link);
    let server_addr: SocketAddr = "10.0.0.1:9000".parse().expect("address");
    let mut server = Server::sandbox(Config::default(), &net);
    server.listen(server_addr).expect("listen");
    let config = Config {
        max_send_rate: Some(8_000_000),
        ..Config::default()
    };
    let mut client = Client::sandbox(config, &net);
    client.connect(server_addr).expect("connect");
    let clock = net.clock();
    let tick = Duration::from_millis(1);
    while !client.is_connected() {
        server.update();
        client.update();
        clock.advance(tick);
    }
    let message = vec![0xa5; 64 * KIB];
    let mut delivered = 0u64;
    let end = clock.elapsed() + Duration::from_secs(seconds);
    while clock.elapsed() < end {
        while client.metrics().out_buffer_bytes < 256 * KIB {
            if client.send(&message, Delivery::ReliableOrdered).is_err() {
                break;
            }
        }
        for event in server.update_events() {
            if let ServerEvent::Message { message, .. } = event {
                delivered += message.payload.len() as u64;
            }
        }
        client.update();
        clock.advance(tick);
    }
    Run {
        metrics: client.metrics(),
        delivered,
    }
}

/// 1 ms base RTT, up to 10 ms extra per datagram: jitter ten times the RTT.
fn jittery() -> LinkConditioner {
    LinkConditioner::new()
        .latency(Duration::from_micros(500))
        .jitter(Duration::from_millis(10))
}

/// With no loss at all, late packets are learned to be late: few are
/// declared lost (each such one is a spurious resend), and the stream runs
/// near its configured rate.
#[test]
fn a_link_whose_jitter_exceeds_its_rtt_sends_few_spurious_resends() {
    for seed in 1..=3 {
        let run = stream(seed, jittery(), 4);
        let m = &run.metrics;
        assert!(m.packets_acked > 10_000, "seed {seed}: {m:?}");
        // Before the allowance settles, a few round trips declare late
        // packets lost; after it, hardly any.
        assert!(
            m.spurious_losses * 100 < m.packets_acked,
            "seed {seed}: {} spurious of {} acked",
            m.spurious_losses,
            m.packets_acked
        );
        assert!(
            m.resends * 50 < m.packets_acked,
            "seed {seed}: {} resends of {} acked",
            m.resends,
            m.packets_acked
        );
        let goodput = run.delivered as f64 / 4.0;
        assert!(goodput > 6e6, "seed {seed}: {goodput} B/s");
    }
}

/// Real losses on the same link are still found and resent: the learned
/// allowance delays a loss verdict by at most one RTT, it never hides one.
#[test]
fn real_losses_on_a_jittery_link_are_still_resent() {
    for seed in 1..=3 {
        let run = stream(seed, jittery().loss(0.02), 4);
        let m = &run.metrics;
        // About 2 % of the packets, each carrying one fragment, are lost.
        assert!(
            m.packets_lost * 100 > m.packets_acked,
            "seed {seed}: {} lost of {} acked",
            m.packets_lost,
            m.packets_acked
        );
        assert!(m.resends >= m.packets_lost / 2, "seed {seed}: {m:?}");
        assert!(
            m.spurious_losses * 4 < m.packets_lost,
            "seed {seed}: {} spurious against {} lost",
            m.spurious_losses,
            m.packets_lost
        );
        let goodput = run.delivered as f64 / 4.0;
        assert!(goodput > 5e6, "seed {seed}: {goodput} B/s");
    }
}
