//! The hot path in one thread, for profilers and instruction counters: a
//! `Client` and a `Server` over loopback UDP driven in a fixed order, so a
//! run under `valgrind --tool=callgrind` or `perf stat` counts the library's
//! own work per round trip or per tick, without the scheduling noise of two
//! busy threads.
//!
//! * `pingpong [N]`: N round trips of a 32-byte reliable-ordered message,
//!   each side calling `update_events()` once to read and once to send, as
//!   the shared peers harness does (default 20 000).
//! * `fanin [CLIENTS] [TICKS]`: every client sends one 32-byte unreliable
//!   message per tick and the server updates twice per tick (default 256
//!   clients, 300 ticks after 60 of warm-up).
//!
//! Prints the mean wall time per round trip (and per update that finds
//! nothing to do) or per server tick. Loopback
//! delivers a datagram before `send_to` returns, so every update finds what
//! the previous one sent.
//!
//! Run: `cargo run --release --example hotpath -- pingpong 20000`

use std::time::{Duration, Instant};

use lentil::{Client, ClientEvent, Config, Delivery, Server, ServerEvent};

fn main() -> Result<(), lentil::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("fanin") => fanin(arg(1, 256) as usize, arg(2, 300)),
        Some("pingpong") | None => pingpong(arg(1, 20_000)),
        Some(other) => {
            eprintln!("unknown workload {other:?}: pingpong [N] | fanin [CLIENTS] [TICKS]");
            Ok(())
        }
    }
}

fn listen(max_clients: usize) -> Result<Server, lentil::Error> {
    let mut server = Server::new(Config {
        max_clients,
        ..Config::default()
    });
    server.listen("127.0.0.1:0")?;
    Ok(server)
}

/// Updates everyone until every client is connected (or 5 s pass).
fn connect_all(server: &mut Server, clients: &mut [Client]) -> Result<(), lentil::Error> {
    let addr = server.local_addr().expect("listening");
    for c in clients.iter_mut() {
        c.connect(addr)?;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !clients.iter().all(Client::is_connected) {
        server.update_events().for_each(drop);
        for c in clients.iter_mut() {
            c.update_events().for_each(drop);
        }
    }
    Ok(())
}

fn pingpong(n: u64) -> Result<(), lentil::Error> {
    let mut server = listen(1)?;
    let mut clients = [Client::new(Config::default())];
    connect_all(&mut server, &mut clients)?;
    let [client] = &mut clients;
    let mut echo = Vec::new();
    let mut msg = [0u8; 32];
    let start = Instant::now();
    // Rounds in which the echo was not back after the fixed sequence (held
    // by pacing, say), and the extra updates they took.
    let (mut late, mut extra) = (0u64, 0u64);
    for seq in 0..n {
        msg[..8].copy_from_slice(&seq.to_le_bytes());
        client.send(msg, Delivery::ReliableOrdered)?;
        client.update_events().for_each(drop);
        let mut first = true;
        loop {
            for _ in 0..2 {
                for event in server.update_events() {
                    if let ServerEvent::Message { peer, message } = event {
                        echo.push((peer, message));
                    }
                }
                for (peer, message) in echo.drain(..) {
                    server.send(peer, message.bytes(), Delivery::ReliableOrdered)?;
                }
            }
            let got = client.update_events().any(
                |e| matches!(e, ClientEvent::Message(m) if m.bytes()[..8] == seq.to_le_bytes()),
            );
            if got || start.elapsed() > Duration::from_secs(60) {
                break;
            }
            late += u64::from(first);
            extra += 1;
            first = false;
        }
    }
    let per = start.elapsed() / n.max(1) as u32;
    println!("pingpong: {n} round trips, {per:?} each; {late} late by {extra} updates in all");
    // An update that finds nothing: what a busy loop pays between datagrams.
    let idle = Instant::now();
    for _ in 0..n {
        client.update_events().for_each(drop);
        server.update_events().for_each(drop);
    }
    let per_idle = idle.elapsed() / (2 * n.max(1)) as u32;
    println!("idle update: {per_idle:?}");
    let peer = server.peers().first().copied().unwrap_or_default();
    let (c, s) = (client.metrics(), server.metrics(peer).unwrap_or_default());
    println!(
        "send rate client {:.0} server {:.0} B/s, delivery rate client {:.0} server {:.0} B/s",
        c.send_rate, s.send_rate, c.delivery_rate, s.delivery_rate
    );
    Ok(())
}

fn fanin(clients: usize, ticks: u64) -> Result<(), lentil::Error> {
    let mut server = listen(clients)?;
    let mut cs: Vec<Client> = (0..clients)
        .map(|_| Client::new(Config::default()))
        .collect();
    connect_all(&mut server, &mut cs)?;
    let connected = cs.iter().filter(|c| c.is_connected()).count();
    let msg = [1u8; 32];
    let mut server_time = Duration::ZERO;
    let mut received = 0u64;
    let warmup = 60;
    for tick in 0..warmup + ticks {
        for c in cs.iter_mut() {
            c.update_events().for_each(drop);
            let _ = c.send(msg, Delivery::Unreliable);
            c.update_events().for_each(drop);
        }
        let t0 = Instant::now();
        for _ in 0..2 {
            received += server
                .update_events()
                .filter(|e| matches!(e, ServerEvent::Message { .. }))
                .count() as u64;
        }
        if tick >= warmup {
            server_time += t0.elapsed();
        }
    }
    let per = server_time / ticks.max(1) as u32;
    println!("fanin: {connected} clients, {received} messages, server {per:?} per tick");
    Ok(())
}
