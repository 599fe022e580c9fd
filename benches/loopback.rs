//! Loopback benchmark: lentil against plain UDP on this machine, same run.
//!
//! Workloads follow the shared peers harness: `stream` pushes N 32-byte
//! reliable-ordered messages client -> server as fast as the send queue takes
//! them; `pingpong` does sequential round trips on reliable-ordered. Client and
//! server run on two threads of one process over 127.0.0.1. Prints one JSON
//! line per run. `cargo bench --bench loopback -- --quick` is the short form.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use lentil::{Client, ClientEvent, Config, Delivery, Error, Server, ServerEvent};

const MSG_LEN: usize = 32;

fn message(seq: u64, sent: Instant, origin: Instant) -> [u8; MSG_LEN] {
    let mut m = [0u8; MSG_LEN];
    m[..8].copy_from_slice(&seq.to_be_bytes());
    let us = sent.duration_since(origin).as_nanos() as u64;
    m[8..16].copy_from_slice(&us.to_be_bytes());
    let check = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ us;
    m[16..24].copy_from_slice(&check.to_be_bytes());
    m[24..32].copy_from_slice(&(!check).to_be_bytes());
    m
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn stream_lentil(n: u64) -> (f64, Vec<u64>, u64) {
    let mut server = Server::new(Config::default());
    server.listen("127.0.0.1:0").expect("listen");
    let addr = server.local_addr().expect("addr");
    let origin = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let done_s = done.clone();
    let server_thread = thread::spawn(move || {
        let mut next = 0u64;
        let mut lat = Vec::with_capacity(n as usize);
        let mut bad = 0u64;
        let mut finished_at = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        while next < n && Instant::now() < deadline {
            for e in server.update_events() {
                if let ServerEvent::Message { message, .. } = e {
                    let seq = u64::from_be_bytes(message[..8].try_into().unwrap_or_default());
                    let sent = u64::from_be_bytes(message[8..16].try_into().unwrap_or_default());
                    if seq != next {
                        bad += 1;
                    }
                    next = seq + 1;
                    let now = origin.elapsed().as_nanos() as u64;
                    lat.push((now.saturating_sub(sent)) / 1000);
                    if next == n {
                        finished_at = Some(Instant::now());
                    }
                }
            }
        }
        // Keep acking until the client has seen everything acknowledged.
        let linger = Instant::now() + Duration::from_millis(300);
        while Instant::now() < linger && !done_s.load(Ordering::Relaxed) {
            server.update();
        }
        (finished_at, lat, bad)
    });
    let mut client = Client::new(Config::default());
    client.connect(addr).expect("connect");
    while !client.is_connected() {
        client.update();
    }
    let start = Instant::now();
    let mut seq = 0u64;
    while seq < n && start.elapsed() < Duration::from_secs(60) {
        match client.send(
            message(seq, Instant::now(), origin),
            Delivery::ReliableOrdered,
        ) {
            Ok(()) => seq += 1,
            Err(Error::QueueFull { .. }) => client.update(),
            Err(e) => panic!("send failed: {e}"),
        }
        if seq % 64 == 0 {
            client.update();
        }
    }
    let (finished_at, mut lat, bad) = loop {
        client.update();
        if server_thread.is_finished() {
            done.store(true, Ordering::Relaxed);
            break server_thread.join().expect("server thread");
        }
    };
    let secs = finished_at.map_or(f64::NAN, |t| t.duration_since(start).as_secs_f64());
    lat.sort_unstable();
    (secs, lat, bad)
}

fn stream_raw(n: u64) -> f64 {
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    server
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok();
    let addr = server.local_addr().expect("addr");
    let receiver = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut got = 0u64;
        let mut last = Instant::now();
        while let Ok(len) = server.recv(&mut buf) {
            got += (len / MSG_LEN) as u64;
            last = Instant::now();
        }
        (got, last)
    });
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let origin = Instant::now();
    let start = Instant::now();
    let mut datagram = Vec::with_capacity(40 * MSG_LEN);
    let mut seq = 0;
    while seq < n {
        datagram.clear();
        for _ in 0..40 {
            datagram.extend_from_slice(&message(seq, Instant::now(), origin));
            seq += 1;
        }
        let _ = client.send_to(&datagram, addr);
    }
    let (got, last) = receiver.join().expect("receiver");
    got as f64 / last.duration_since(start).as_secs_f64()
}

fn pingpong_lentil(n: u32) -> Vec<u64> {
    let mut server = Server::new(Config::default());
    server.on_message(|server, peer, msg| {
        let _ = server.send(peer, msg.bytes(), Delivery::ReliableOrdered);
    });
    server.listen("127.0.0.1:0").expect("listen");
    let addr = server.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_s = stop.clone();
    let server_thread = thread::spawn(move || {
        while !stop_s.load(Ordering::Relaxed) {
            server.update();
        }
    });
    let mut client = Client::new(Config::default());
    client.connect(addr).expect("connect");
    while !client.is_connected() {
        client.update();
    }
    let mut rtts = Vec::with_capacity(n as usize);
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..n {
        let sent = Instant::now();
        client
            .send(i.to_be_bytes(), Delivery::ReliableOrdered)
            .expect("send");
        'wait: while Instant::now() < deadline {
            for e in client.update_events() {
                if let ClientEvent::Message(_) = e {
                    break 'wait;
                }
            }
        }
        rtts.push(sent.elapsed().as_nanos() as u64 / 1000);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = server_thread.join();
    rtts.sort_unstable();
    rtts
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 50_000 } else { 200_000 };
    let raw = stream_raw(n);
    let (secs, lat, bad) = stream_lentil(n);
    let rate = n as f64 / secs;
    println!(
        "{{\"lib\":\"lentil\",\"workload\":\"stream\",\"msgs\":{n},\"secs\":{secs:.4},\"msgs_per_sec\":{rate:.0},\"p50_us\":{},\"p99_us\":{},\"out_of_order\":{bad},\"raw_msgs_per_sec\":{raw:.0},\"ratio_to_raw\":{:.3}}}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        rate / raw
    );
    let rounds = if quick { 5_000 } else { 20_000 };
    let rtts = pingpong_lentil(rounds);
    println!(
        "{{\"lib\":\"lentil\",\"workload\":\"pingpong\",\"msgs\":{rounds},\"p50_us\":{},\"p99_us\":{}}}",
        percentile(&rtts, 0.5),
        percentile(&rtts, 0.99)
    );
}
