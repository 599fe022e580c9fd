//! Bandwidth over the simulated network, in virtual time: a configured send
//! rate holds over a long run, and rate control follows a link whose
//! capacity drops without filling the bottleneck's queue.

mod common;

use std::time::Duration;

use common::{ms, secs, Net, Pair};
use lentil::{Client, Config, Delivery, Error, LinkConditioner, Server};

const KB: u64 = 1000;
const MB: u64 = 1000 * KB;

/// Tops the client's queue up to `target` bytes with 1000-byte ordered messages.
fn keep_fed(client: &mut Client, target: usize) {
    while client.metrics().out_buffer_bytes < target {
        match client.send([7u8; 1000], Delivery::ReliableOrdered) {
            Ok(()) => {}
            Err(Error::QueueFull { .. }) => break,
            Err(e) => panic!("send: {e}"),
        }
    }
}

/// Bytes the server has received from its one peer.
fn received(server: &Server) -> u64 {
    let peer = server.peers()[0];
    server.metrics(peer).map_or(0, |m| m.in_bytes)
}

/// Runs the pair for `duration` with the client's queue kept fed; returns the
/// bytes per second the server received over it.
fn run_fed(pair: &mut Pair, duration: Duration, queued: usize) -> f64 {
    let before = received(&pair.server);
    let net = pair.net.clone();
    net.run_for(duration, || {
        keep_fed(&mut pair.client, queued);
        pair.server.update();
        pair.client.update();
    });
    (received(&pair.server) - before) as f64 / duration.as_secs_f64()
}

#[test]
fn a_configured_send_rate_holds_within_ten_percent_over_ten_seconds() {
    for limit in [200 * KB, 2 * MB] {
        let net = Net::sim(11);
        net.set_conditioner(LinkConditioner::new().latency(ms(10)));
        let client_config = Config {
            max_send_rate: Some(limit),
            ..Config::default()
        };
        let mut pair = Pair::connected(&net, Config::default(), client_config);
        let sent_before = pair.client.metrics().out_bytes;
        run_fed(&mut pair, secs(10), 256 * 1024);
        let sent = pair.client.metrics().out_bytes - sent_before;
        let rate = sent as f64 / 10.0;
        let error = (rate - limit as f64).abs() / limit as f64;
        println!(
            "limit {limit} B/s: sent {rate:.0} B/s over 10 s ({:.1}% off)",
            error * 100.0
        );
        assert!(
            error <= 0.10,
            "limit {limit}: sent {rate:.0} B/s, {:.1}% off",
            error * 100.0
        );
        assert!(pair.client.metrics().send_rate <= limit as f64);
    }
}

#[test]
fn rate_control_follows_a_capacity_drop_without_filling_the_queue() {
    let net = Net::sim(12);
    let link = |bandwidth| {
        LinkConditioner::new()
            .latency(ms(10))
            .bandwidth(bandwidth)
            .queue_limit(200 * KB)
    };
    net.set_conditioner(link(10 * MB));
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let sim = net.sim_net().expect("sim").clone();
    let (client, server) = (pair.client.local_addr().expect("bound"), pair.server_addr());
    let queued = 2 * 1024 * 1024;

    // Ramp up, then measure a clean 10 MB/s path.
    run_fed(&mut pair, secs(3), queued);
    let fast = run_fed(&mut pair, secs(3), queued);
    println!("10 MB/s link: {:.2} MB/s received", fast / 1e6);
    assert!(fast > 7e6, "only {fast:.0} B/s of a 10 MB/s link");

    // Capacity drops to a tenth.
    net.set_conditioner(link(MB));
    let net2 = net.clone();
    let mut worst_delay = Duration::ZERO;
    let mut followed_at = None;
    let start = net.now();
    net2.run_for(secs(10), || {
        keep_fed(&mut pair.client, queued);
        pair.server.update();
        pair.client.update();
        let since = net.now() - start;
        let rate = pair.client.metrics().send_rate;
        if followed_at.is_none() && rate < 1.5e6 {
            followed_at = Some(since);
        }
        if since > secs(3) {
            worst_delay = worst_delay.max(sim.queue_delay(client, server));
        }
    });
    let followed_at = followed_at.expect("the send rate never came down");
    let slow = run_fed(&mut pair, secs(5), queued);
    let m = pair.client.metrics();
    println!(
        "after the drop: send rate under 1.5 MB/s after {:.2} s; {:.2} MB/s received; \
         bottleneck queue at most {} ms once settled; srtt {:?}; dropped at the queue {}",
        followed_at.as_secs_f64(),
        slow / 1e6,
        worst_delay.as_millis(),
        m.srtt,
        sim.stats().dropped_queue_overflow
    );
    assert!(followed_at <= secs(3), "took {followed_at:?} to follow");
    assert!(
        slow > 0.75e6 && slow <= 1.01e6,
        "{slow:.0} B/s on a 1 MB/s link"
    );
    // The queue limit is 200 ms at 1 MB/s; a sender that ignored queueing
    // would keep it full.
    assert!(
        worst_delay < ms(100),
        "the bottleneck queue stayed long: {worst_delay:?}"
    );
    assert!(m.queue_time > Duration::ZERO && m.send_buffer_bytes <= 8 * 1024 * 1024);
}

/// Sends one 1000-byte unreliable message per 1 ms tick for `duration`;
/// returns how many arrived.
fn unreliable_stream(pair: &mut Pair, duration: Duration) -> (u64, u64) {
    let peer = pair.server.peers()[0];
    let before = pair.server.metrics(peer).map_or(0, |m| m.in_messages);
    let mut sent = 0;
    let net = pair.net.clone();
    net.run_for(duration, || {
        if pair.client.send([9u8; 1000], Delivery::Unreliable).is_ok() {
            sent += 1;
        }
        pair.server.update();
        pair.client.update();
    });
    // Let the last ones land.
    pair.pump_for(ms(50));
    let after = pair.server.metrics(peer).map_or(0, |m| m.in_messages);
    (sent, after - before)
}

#[test]
fn an_unreliable_stream_is_not_starved_at_low_rtt_with_relatively_large_jitter() {
    // 1 ms each way with up to 3 ms jitter: the jitter is larger than the
    // RTT itself, where a throttle that reads variance as congestion collapses.
    let net = Net::sim(13);
    net.set_conditioner(
        LinkConditioner::new()
            .latency(ms(1))
            .jitter(ms(3))
            .loss(0.02),
    );
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let (sent, arrived) = unreliable_stream(&mut pair, secs(10));
    let m = pair.client.metrics();
    println!(
        "1 MB/s unreliable at 2-8 ms RTT: {arrived} of {sent} arrived; send rate {:.2} MB/s; queue time {:?}",
        m.send_rate / 1e6,
        m.queue_time
    );
    assert_eq!(sent, 10_000, "the queue refused messages");
    assert!(
        arrived as f64 >= 0.95 * sent as f64,
        "only {arrived} of {sent} arrived over 2% loss"
    );
    assert!(m.send_rate >= 1.0e6, "the rate fell to {}", m.send_rate);
    assert!(m.queue_time < ms(20), "messages queue: {:?}", m.queue_time);
}

#[test]
fn jitter_is_not_read_as_congestion() {
    let bulk = |jitter: u64| {
        let net = Net::sim(14);
        net.set_conditioner(
            LinkConditioner::new()
                .latency(ms(10))
                .jitter(ms(jitter))
                .bandwidth(5 * MB)
                .queue_limit(500 * KB),
        );
        let mut pair = Pair::connected(&net, Config::default(), Config::default());
        run_fed(&mut pair, secs(2), 2 * 1024 * 1024);
        run_fed(&mut pair, secs(5), 2 * 1024 * 1024)
    };
    let steady = bulk(0);
    let jittery = bulk(10);
    println!(
        "5 MB/s link, 20 ms RTT: {:.2} MB/s without jitter, {:.2} MB/s with 0-10 ms jitter each way",
        steady / 1e6,
        jittery / 1e6
    );
    assert!(steady > 4.0e6, "{steady:.0} B/s");
    assert!(
        jittery > 0.8 * steady,
        "jitter cut throughput from {steady:.0} to {jittery:.0} B/s"
    );
}
