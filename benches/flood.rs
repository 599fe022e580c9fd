//! Flood benchmark: honest clients' round-trip times to a default server over
//! loopback UDP, without a flood and then under each flood a connected
//! attacker can send, all in one run on this machine.
//!
//! The server runs on its own thread, updating every millisecond and echoing
//! every message. Four honest clients, on the main thread, each send a
//! timestamped 16-byte `ReliableOrdered` message every 10 ms and time its
//! echo. An attacker thread walks the handshake itself, then sends about
//! 28 MB/s of crafted data packets, starting a fresh connection (a new
//! source port) every 1.5 s so it always holds one the server has not yet
//! disconnected for flooding. The floods:
//!
//! - `pings`: datagrams of 1,387 `Ping` frames;
//! - `empty_unreliable`: datagrams of 462 empty unreliable messages.
//!
//! Printed per phase: honest RTT p50 / p99 (µs), samples, and the server's
//! count of datagrams dropped by its receive budget; then whether each flood
//! kept p99 within 2 x the unloaded p99 + 5 ms.
//!
//! ```text
//! cargo bench --bench flood              # 5 s a phase
//! cargo bench --bench flood -- --quick   # 2 s a phase, under 30 s in all
//! ```

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use lentil::proto::handshake::{ClientHandshake, HandshakeOutcome};
use lentil::wire::{self, DataHeader, MessageHeader, Packet};
use lentil::{Client, ClientEvent, Config, Delivery, Server, ServerEvent};

const HONEST: usize = 4;
const SEND_EVERY: Duration = Duration::from_millis(10);
/// Datagrams the attacker sends per millisecond: 20 x 1,400 B = 28 MB/s.
const FLOOD_PER_MS: usize = 20;
const RECONNECT_EVERY: Duration = Duration::from_millis(1_500);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flood {
    None = 0,
    Pings = 1,
    EmptyUnreliable = 2,
}

impl Flood {
    fn name(self) -> &'static str {
        match self {
            Flood::None => "unloaded",
            Flood::Pings => "pings",
            Flood::EmptyUnreliable => "empty_unreliable",
        }
    }
}

/// Walks the handshake from a fresh socket; returns it and its token.
fn attacker_connect(server: SocketAddr, nonce: u64) -> Option<(UdpSocket, u32)> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .ok()?;
    let now = std::time::Instant::now();
    let mut hs = ClientHandshake::new(&bench_config(), nonce, now);
    let mut out = Vec::new();
    if !hs.poll_transmit(now, &mut out) {
        return None;
    }
    sock.send_to(&out, server).ok()?;
    let mut buf = [0u8; 2048];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        if let Ok(Packet::Challenge(c)) = Packet::parse(&buf[..n]) {
            if c.nonce == nonce {
                let _ = hs.handle(&Packet::Challenge(c));
                break;
            }
        }
    }
    if !hs.poll_transmit(now, &mut out) {
        return None;
    }
    sock.send_to(&out, server).ok()?;
    let token = loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        if let Ok(Packet::Accept(a)) = Packet::parse(&buf[..n]) {
            if a.nonce == nonce {
                if let Some(HandshakeOutcome::Accepted { token, .. }) =
                    hs.handle(&Packet::Accept(a))
                {
                    break token;
                }
            }
        }
    };
    sock.set_nonblocking(true).ok()?;
    Some((sock, token))
}

fn flood_packet(kind: Flood, token: u32, seq: u16, out: &mut Vec<u8>) {
    out.clear();
    DataHeader {
        token,
        seq,
        ack: 0,
        ack_bits: 0,
    }
    .emit(out);
    match kind {
        Flood::Pings => {
            while out.len() < 1_396 {
                wire::emit_ping(out);
            }
        }
        Flood::EmptyUnreliable => {
            let header = MessageHeader {
                delivery: Delivery::Unreliable,
                channel: Config::default()
                    .channel_for(Delivery::Unreliable)
                    .unwrap_or(0),
                id: 0,
                fragment: None,
            };
            while out.len() + 3 <= 1_396 {
                wire::emit_message(out, &header, &[]);
            }
        }
        Flood::None => {}
    }
    // The insecure mode's checksum: the flood tests what the protocol core
    // does with authenticated traffic, which a connected peer can send.
    lentil::crypto::append_crc(out);
}

/// The configuration of every endpoint here: the explicit insecure mode,
/// so the raw attacker (which holds no session keys) speaks as a peer would.
fn bench_config() -> Config {
    Config {
        insecure: true,
        ..Config::default()
    }
}

/// The attacker: floods with whatever `mode` says until `stop`.
fn attacker(server: SocketAddr, mode: Arc<AtomicU8>, stop: Arc<AtomicBool>) {
    let mut nonce = 1_000u64;
    let mut conn: Option<(UdpSocket, u32, u16, Instant)> = None;
    let mut out = Vec::with_capacity(1_500);
    let mut drain = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let kind = match mode.load(Ordering::Relaxed) {
            1 => Flood::Pings,
            2 => Flood::EmptyUnreliable,
            _ => Flood::None,
        };
        if kind == Flood::None {
            conn = None;
            thread::sleep(Duration::from_millis(1));
            continue;
        }
        if conn
            .as_ref()
            .is_none_or(|(_, _, _, since)| since.elapsed() >= RECONNECT_EVERY)
        {
            nonce += 1;
            conn = attacker_connect(server, nonce).map(|(s, t)| (s, t, 1, Instant::now()));
            if conn.is_none() {
                continue;
            }
        }
        let Some((sock, token, seq, _)) = conn.as_mut() else {
            continue;
        };
        let tick = Instant::now();
        for _ in 0..FLOOD_PER_MS {
            flood_packet(kind, *token, *seq, &mut out);
            *seq = seq.wrapping_add(1);
            let _ = sock.send_to(&out, server);
        }
        while sock.recv_from(&mut drain).is_ok() {}
        if let Some(rest) = Duration::from_millis(1).checked_sub(tick.elapsed()) {
            thread::sleep(rest);
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let phase = if quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(5)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let throttled = Arc::new(AtomicU64::new(0));
    let (addr_tx, addr_rx) = mpsc::channel();
    let server_thread = {
        let stop = stop.clone();
        let throttled = throttled.clone();
        thread::spawn(move || {
            let mut server = Server::new(bench_config());
            server.listen("127.0.0.1:0").expect("listen");
            addr_tx
                .send(server.local_addr().expect("bound"))
                .expect("send addr");
            let mut echo = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                echo.extend(server.update_events().filter_map(|e| match e {
                    ServerEvent::Message { peer, message }
                        if message.delivery == Delivery::ReliableOrdered =>
                    {
                        Some((peer, message.to_vec()))
                    }
                    _ => None,
                }));
                for (peer, body) in echo.drain(..) {
                    let _ = server.send(peer, &body, Delivery::ReliableOrdered);
                }
                throttled.store(server.stats().datagrams_throttled, Ordering::Relaxed);
                server.wait(Duration::from_millis(1));
            }
        })
    };
    let server: SocketAddr = addr_rx.recv().expect("server address");
    let mode = Arc::new(AtomicU8::new(Flood::None as u8));
    let attacker_thread = {
        let (mode, stop) = (mode.clone(), stop.clone());
        thread::spawn(move || attacker(server, mode, stop))
    };

    let mut clients: Vec<Client> = (0..HONEST)
        .map(|_| {
            let mut c = Client::new(bench_config());
            c.connect(server).expect("connect");
            c
        })
        .collect();
    let start = Instant::now();
    while !clients.iter().all(Client::is_connected) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "honest clients did not connect"
        );
        for c in &mut clients {
            c.update();
        }
        thread::sleep(Duration::from_millis(1));
    }

    let epoch = Instant::now();
    let mut report = Vec::new();
    for kind in [Flood::None, Flood::Pings, Flood::EmptyUnreliable] {
        mode.store(kind as u8, Ordering::Relaxed);
        let throttled_before = throttled.load(Ordering::Relaxed);
        let mut rtts = Vec::new();
        let mut next_send = Instant::now();
        let began = Instant::now();
        // Replies to messages of the phase before are not counted.
        let phase_start_ns = epoch.elapsed().as_nanos() as u64;
        while began.elapsed() < phase {
            if Instant::now() >= next_send {
                let now_ns = epoch.elapsed().as_nanos() as u64;
                for (i, c) in clients.iter_mut().enumerate() {
                    let mut body = now_ns.to_le_bytes().to_vec();
                    body.extend_from_slice(&(i as u64).to_le_bytes());
                    let _ = c.send(&body, Delivery::ReliableOrdered);
                }
                next_send += SEND_EVERY;
            }
            for c in &mut clients {
                for e in c.update_events() {
                    if let ClientEvent::Message(m) = e {
                        if m.len() == 16 {
                            let sent = u64::from_le_bytes(m[..8].try_into().expect("8 bytes"));
                            if sent >= phase_start_ns {
                                let now = epoch.elapsed().as_nanos() as u64;
                                rtts.push((now - sent) / 1_000);
                            }
                        }
                    }
                }
                assert!(c.is_connected(), "an honest client lost its connection");
            }
            thread::sleep(Duration::from_micros(200));
        }
        rtts.sort_unstable();
        let dropped = throttled.load(Ordering::Relaxed) - throttled_before;
        let (p50, p99) = (percentile(&rtts, 0.50), percentile(&rtts, 0.99));
        println!(
            "{{\"flood\":\"{}\",\"rtt_p50_us\":{p50},\"rtt_p99_us\":{p99},\"samples\":{},\"datagrams_throttled\":{dropped}}}",
            kind.name(),
            rtts.len()
        );
        report.push((kind, p50, p99, rtts.len()));
    }
    mode.store(Flood::None as u8, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let _ = attacker_thread.join();
    let _ = server_thread.join();

    let unloaded_p99 = report[0].2;
    let bound = 2 * unloaded_p99 + 5_000;
    println!("\nflood              RTT p50 us   RTT p99 us   samples   p99 <= 2 x unloaded + 5 ms ({bound} us)");
    for (kind, p50, p99, n) in &report {
        let verdict = if *kind == Flood::None {
            "-"
        } else if *p99 <= bound {
            "yes"
        } else {
            "NO"
        };
        println!(
            "{:<18} {p50:>10}   {p99:>10}   {n:>7}   {verdict}",
            kind.name()
        );
    }
}
