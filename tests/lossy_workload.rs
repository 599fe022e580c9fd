//! The lossy bulk workload in virtual time: 20,000 reliable-ordered 32-byte
//! messages from client to server over a path that
//! loses 5 % of datagrams each way and delays each by 10 ms plus up to 2 ms
//! of jitter (a round trip of about 21 ms).
//!
//! The client queues messages as the shared harness does, until a send is
//! refused (`max_send_queue_delay`), then updates and tries again. Each run
//! reports when the last message arrived (completion) and the delivery
//! latency percentiles, counted from when each message was accepted, so a
//! figure is repeatable from its seed. The tests assert the shape of
//! loss recovery (a resend lost again is found by a probe before the
//! retransmission timeout; a clean path sends no probes) and bounds on the
//! workload itself.
//!
//! `cargo test --release --test lossy_workload -- --ignored --nocapture`
//! prints one line per seed.

use std::net::SocketAddr;
use std::time::Duration;

use lentil::{
    Client, ClientEvent, Config, Delivery, LinkConditioner, Metrics, Server, ServerEvent,
    SimNetwork,
};

const SERVER_ADDR: &str = "10.0.0.1:9000";

/// Messages in the workload.
const COUNT: usize = 20_000;

/// Bytes per message.
const SIZE: usize = 32;

/// Virtual time per loop iteration: a busy game loop updates far more often
/// than the path's round trip.
const STEP: Duration = Duration::from_micros(100);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 5 % loss each way, 10 ms delay plus up to 2 ms jitter.
fn lossy_path() -> LinkConditioner {
    LinkConditioner::new()
        .loss(0.05)
        .latency(ms(10))
        .jitter(ms(2))
}

/// What one run measured.
#[derive(Debug, Clone)]
struct Outcome {
    seed: u64,
    /// From queueing the messages to the last one's delivery.
    completion: Duration,
    p50: Duration,
    p99: Duration,
    sender: Metrics,
    /// Whether every message arrived once, in order.
    intact: bool,
}

impl Outcome {
    fn line(&self) -> String {
        format!(
            "seed {:>2}: completion {:6.1} ms, p50 {:5.1} ms, p99 {:5.1} ms, \
             packets {}, resends {}, lost {}, probes {}, spurious {}",
            self.seed,
            self.completion.as_secs_f64() * 1e3,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.sender.out_packets,
            self.sender.resends,
            self.sender.packets_lost,
            self.sender.probes,
            self.sender.spurious_losses,
        )
    }
}

/// Runs the workload once on `path` with `config` on both ends.
fn run(seed: u64, path: LinkConditioner, config: Config) -> Outcome {
    let server_addr: SocketAddr = SERVER_ADDR.parse().expect("server address");
    let net = SimNetwork::new(seed);
    let clock = net.clock();
    let mut server = Server::sandbox(config.clone(), &net);
    server.listen(server_addr).expect("listen");
    let mut client = Client::sandbox(config, &net);
    client.connect(server_addr).expect("connect");

    // Connect over a clean path, so every run starts its stream alike.
    let mut peer = None;
    for _ in 0..10_000 {
        for e in server.update_events() {
            if let ServerEvent::Connected { peer: p, .. } = e {
                peer = Some(p);
            }
        }
        client.update();
        if peer.is_some() && client.is_connected() {
            break;
        }
        clock.advance(STEP);
    }
    assert!(
        peer.is_some() && client.is_connected(),
        "seed {seed}: no connection"
    );
    net.set_conditioner(path);

    let start = clock.now();
    let mut completion = Duration::ZERO;
    // As the shared harness does: queue messages until the connection
    // refuses one, then update and try again; a message's latency counts
    // from when it was accepted.
    let mut accepted_at = Vec::with_capacity(COUNT);
    let mut latencies = Vec::with_capacity(COUNT);
    let mut intact = true;
    let limit = start + Duration::from_secs(10);
    while latencies.len() < COUNT && clock.now() < limit {
        while accepted_at.len() < COUNT {
            let mut payload = [0u8; SIZE];
            payload[..4].copy_from_slice(&(accepted_at.len() as u32).to_le_bytes());
            match client.send(payload, Delivery::ReliableOrdered) {
                Ok(()) => accepted_at.push(clock.now()),
                Err(lentil::Error::QueueFull { .. }) => break,
                Err(e) => panic!("seed {seed}: send failed: {e}"),
            }
        }
        for e in client.update_events() {
            if let ClientEvent::Error(error) = e {
                panic!("seed {seed}: client error {error}");
            }
        }
        for e in server.update_events() {
            if let ServerEvent::Message { message, .. } = e {
                let index = message
                    .bytes()
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_le_bytes);
                let n = latencies.len();
                intact &= index == Some(n as u32);
                latencies.push(clock.now() - accepted_at.get(n).copied().unwrap_or(start));
                completion = clock.now() - start;
            }
        }
        clock.advance(STEP);
    }
    assert_eq!(latencies.len(), COUNT, "seed {seed}: incomplete");
    let mut sorted = latencies.clone();
    sorted.sort();
    let at = |q: f64| sorted[((COUNT as f64 * q).ceil() as usize).min(COUNT) - 1];
    Outcome {
        seed,
        completion,
        p50: at(0.50),
        p99: at(0.99),
        sender: client.metrics(),
        intact,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One line per seed, then the medians.
#[test]
#[ignore = "prints figures; run with --ignored --nocapture"]
fn trace_lossy_workload() {
    let runs: Vec<Outcome> = (1..=12)
        .map(|seed| run(seed, lossy_path(), Config::default()))
        .collect();
    for r in &runs {
        println!("{}", r.line());
    }
    let clean = run(1, lossy_path().loss(0.0), Config::default());
    println!("clean   {}", clean.line());
    println!(
        "median completion {:.1} ms, median p99 {:.1} ms, worst completion {:.1} ms",
        median(runs.iter().map(|r| r.completion).collect()).as_secs_f64() * 1e3,
        median(runs.iter().map(|r| r.p99).collect()).as_secs_f64() * 1e3,
        runs.iter()
            .map(|r| r.completion)
            .max()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3,
    );
}

/// Every message arrives exactly once and in order, on every seed.
#[test]
fn lossy_workload_delivers_everything_in_order() {
    for seed in 1..=4 {
        let r = run(seed, lossy_path(), Config::default());
        assert!(r.intact, "{}", r.line());
    }
}

/// With jitter but no loss, no packet is judged lost for good and no probe
/// fires: every resend is of a packet that jitter delayed past the loss
/// threshold, which its late ack then shows (a spurious loss), and those are
/// under 1 % of the packets. At the rates slow start now reaches (tens of
/// packets per millisecond), a packet reordered by the jitter can fall
/// below the ack bitfield before any ack names it; it must still be acked.
#[test]
fn a_clean_path_sends_no_probes_and_resends_only_reordered_packets() {
    for seed in 1..=4 {
        let r = run(seed, lossy_path().loss(0.0), Config::default());
        let m = &r.sender;
        assert!(r.intact, "{}", r.line());
        assert_eq!(m.probes, 0, "{}", r.line());
        assert_eq!(m.packets_lost, 0, "{}", r.line());
        assert!(m.spurious_losses * 100 <= m.out_packets, "{}", r.line());
        // At most 40 messages fit a packet, and a resend goes twice:
        // nothing else was resent.
        assert!(m.resends <= 2 * 40 * m.spurious_losses, "{}", r.line());
    }
}

/// Slow start doubles the rate every round trip on a clean path, so the
/// 700 KB stream leaves in about four round trips after the 64-packet
/// first flight, and the last message lands by 105 ms (116 ms when the
/// rate grew only every other round trip; 97 ms when the send queue took
/// 16 KiB beyond the first flight, which then waited a round trip).
#[test]
fn slow_start_doubles_per_round_trip_on_a_clean_path() {
    let r = run(1, lossy_path().loss(0.0), Config::default());
    assert!(r.completion <= ms(105), "{}", r.line());
}

/// On the lossy path every seed completes within 150 ms, and the median
/// within 130 ms (153 ms before delivery-rate sampling and probes; runs up
/// to 190 ms before resends went twice, when a resend lost again waited for
/// a probe).
#[test]
fn lossy_workload_completes_promptly() {
    let runs: Vec<Outcome> = (1..=8)
        .map(|seed| run(seed, lossy_path(), Config::default()))
        .collect();
    for r in &runs {
        assert!(r.intact, "{}", r.line());
        assert!(r.completion <= ms(150), "{}", r.line());
    }
    let mid = median(runs.iter().map(|r| r.completion).collect());
    assert!(mid <= ms(130), "median {mid:?}");
}

/// With the send queue bounded by delay, a message's latency from its
/// acceptance is the path's and loss recovery's, not the queue's: the
/// median p99 stays within 50 ms (it was 131 ms with the whole stream
/// queued at once, 67 ms with the bound but resends sent once, 57 ms while
/// 16 KiB beyond the first flight could wait for its acks).
#[test]
fn lossy_delivery_latency_stays_within_60_ms_at_the_99th_percentile() {
    let runs: Vec<Outcome> = (1..=8)
        .map(|seed| run(seed, lossy_path(), Config::default()))
        .collect();
    let mid = median(runs.iter().map(|r| r.p99).collect());
    assert!(mid <= ms(50), "median p99 {mid:?}");
    for r in &runs {
        assert!(r.p50 <= ms(50), "{}", r.line());
    }
}
