//! Bulk throughput over the simulated network at 20 ms and 200 ms RTT with 1%
//! random loss, and on links whose jitter reorders datagrams (up to 10 ms
//! extra per datagram, over a 1 ms and a 20 ms base RTT), in virtual time,
//! with the default `Config`.
//!
//! A client streams 1 MiB messages on the ordered channel (each split into
//! fragments) for 10 virtual seconds; the figure is message bytes delivered
//! per second, after a 2 s ramp. Two links: a 100 Mbit/s bottleneck with a
//! 50 ms queue, and one with no capacity limit, where only the protocol's own
//! windows and rate control bound the rate. Virtual time makes the figures
//! independent of this machine's speed. The reordering links show whether
//! loss detection tells late packets from lost ones: with jitter above the
//! base RTT most packets arrive out of order.
//!
//! Run: `cargo bench -p lentil-bench --bench throughput` (add `-- --quick` for 3 s runs, or
//! `-- --only=jitter` to run only the links whose rtt and name contain it).

use std::net::SocketAddr;
use std::time::Duration;

use lentil::{Client, Config, Delivery, LinkConditioner, Server, ServerEvent, SimNetwork};

const MIB: usize = 1024 * 1024;

struct Outcome {
    goodput: f64,
    loss: f64,
    srtt: Duration,
    resends: u64,
    spurious: u64,
}

/// Streams 1 MiB ordered messages over `link` for `seconds` (after a ramp).
fn stream(link: LinkConditioner, seconds: u64) -> Outcome {
    let net = SimNetwork::new(42);
    net.set_conditioner(link);
    let server_addr: SocketAddr = "10.0.0.1:9000".parse().expect("address");
    let mut server = Server::sandbox(Config::default(), &net);
    server.listen(server_addr).expect("listen");
    let mut client = Client::sandbox(Config::default(), &net);
    client.connect(server_addr).expect("connect");
    let clock = net.clock();
    let tick = Duration::from_millis(1);
    while !client.is_connected() {
        server.update();
        client.update();
        clock.advance(tick);
    }
    let message = vec![0x5a; MIB];
    let mut delivered = 0u64;
    let mut counted_from = None;
    let ramp = Duration::from_secs(2);
    let total = ramp + Duration::from_secs(seconds);
    let start = clock.elapsed();
    while clock.elapsed() - start < total {
        // Keep two messages queued so the sender is never idle.
        while client.metrics().out_buffer_bytes < 2 * MIB {
            if client.send(&message, Delivery::ReliableOrdered).is_err() {
                break;
            }
        }
        for event in server.update_events() {
            if let ServerEvent::Message { message, .. } = event {
                if counted_from.is_some() {
                    delivered += message.payload.len() as u64;
                }
            }
        }
        client.update();
        clock.advance(tick);
        if counted_from.is_none() && clock.elapsed() - start >= ramp {
            counted_from = Some(clock.elapsed());
        }
    }
    let measured = clock.elapsed() - counted_from.unwrap_or(start);
    let m = client.metrics();
    Outcome {
        goodput: delivered as f64 / measured.as_secs_f64(),
        loss: m.packet_loss,
        srtt: m.srtt,
        resends: m.resends,
        spurious: m.spurious_losses,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds = if quick { 3 } else { 10 };
    let only = std::env::args().find_map(|a| a.strip_prefix("--only=").map(str::to_owned));
    let wanted = |label: &str| only.as_deref().is_none_or(|o| label.contains(o));
    println!("bulk 1 MiB ordered messages, 1% loss, default Config, {seconds} virtual s");
    println!(
        "{:<8} {:<22} {:>12} {:>10} {:>10} {:>9} {:>9}",
        "rtt", "link", "goodput", "loss", "srtt", "resends", "spurious"
    );
    for rtt_ms in [20u64, 200] {
        let one_way = Duration::from_millis(rtt_ms / 2);
        let links = [
            (
                "100 Mbit/s, 50 ms queue",
                LinkConditioner::new()
                    .latency(one_way)
                    .loss(0.01)
                    .bandwidth(12_500_000),
            ),
            (
                "no capacity limit",
                LinkConditioner::new().latency(one_way).loss(0.01),
            ),
        ];
        for (name, link) in links {
            if !wanted(&format!("{rtt_ms} ms {name}")) {
                continue;
            }
            let o = stream(link, seconds);
            println!(
                "{:<8} {:<22} {:>8.2} MB/s {:>9.2}% {:>8.1}ms {:>9} {:>9}",
                format!("{rtt_ms} ms"),
                name,
                o.goodput / 1e6,
                o.loss * 100.0,
                o.srtt.as_secs_f64() * 1000.0,
                o.resends,
                o.spurious
            );
        }
    }
    println!();
    println!("reordering: uniform 0-10 ms jitter per datagram, no capacity limit");
    for (rtt_ms, jitter_ms, loss) in [
        (1u64, 0u64, 0.0),
        (1, 0, 0.05),
        (1, 10, 0.01),
        (1, 10, 0.05),
        (20, 0, 0.01),
        (20, 10, 0.01),
    ] {
        let name = format!("+{jitter_ms} ms jitter, {:.0}% loss", loss * 100.0);
        if !wanted(&format!("{rtt_ms} ms {name}")) {
            continue;
        }
        let link = LinkConditioner::new()
            .latency(Duration::from_micros(rtt_ms * 500))
            .jitter(Duration::from_millis(jitter_ms))
            .loss(loss);
        let o = stream(link, seconds);
        println!(
            "{:<8} {:<22} {:>8.2} MB/s {:>9.2}% {:>8.1}ms {:>9} {:>9}",
            format!("{rtt_ms} ms"),
            name,
            o.goodput / 1e6,
            o.loss * 100.0,
            o.srtt.as_secs_f64() * 1000.0,
            o.resends,
            o.spurious
        );
    }
}
