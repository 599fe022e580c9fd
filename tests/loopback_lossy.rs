//! The delivery guarantees over real loopback UDP, through an in-test
//! impairment proxy that drops, duplicates and delays datagrams with a seeded
//! RNG, and a happy-path bulk stream without it.
//!
//! Real time: every test is bounded by a wall-clock deadline and fails, not
//! hangs, when the stream does not complete. The proxy thread stops and is
//! joined when its handle drops, also when a test panics.

mod impairment_support;

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use impairment_support::{make_payload, Size, Tally};
use lentil::{Client, ClientEvent, Config, Delivery, Error, Metrics, Server, ServerEvent};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Each test fails after this much wall-clock time.
const DEADLINE: Duration = Duration::from_secs(20);

/// What the proxy does to each datagram, independently per direction.
#[derive(Debug, Clone, Copy)]
struct Impairment {
    /// Probability a datagram is dropped.
    loss: f64,
    /// Probability a forwarded datagram is sent twice.
    duplicate: f64,
    /// Probability a forwarded copy is held back before it is sent.
    delay: f64,
    /// Longest hold; the hold is uniform in 1 ms..=max_delay.
    max_delay: Duration,
}

/// What the proxy did, counted over both directions.
#[derive(Debug, Clone, Copy, Default)]
struct ProxyStats {
    received: u64,
    dropped: u64,
    duplicated: u64,
    delayed: u64,
    forwarded: u64,
    send_errors: u64,
}

/// A UDP proxy between one client and one server on 127.0.0.1: the client
/// talks to [`Proxy::addr`], the proxy talks to the server from a second socket.
struct Proxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<ProxyStats>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toward {
    Server,
    Client,
}

struct Held {
    due: Instant,
    toward: Toward,
    data: Vec<u8>,
}

impl Proxy {
    fn start(server: SocketAddr, seed: u64, imp: Impairment) -> Proxy {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind proxy front");
        let back = UdpSocket::bind("127.0.0.1:0").expect("bind proxy back");
        front.set_nonblocking(true).expect("nonblocking front");
        back.set_nonblocking(true).expect("nonblocking back");
        let addr = front.local_addr().expect("proxy address");
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("impairment-proxy".into())
            .spawn(move || run_proxy(front, back, server, seed, imp, &stop_flag))
            .expect("spawn proxy");
        Proxy {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the proxy thread and returns what it did.
    fn finish(mut self) -> ProxyStats {
        self.stop_and_join().unwrap_or_default()
    }

    fn stop_and_join(&mut self) -> Option<ProxyStats> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .take()
            .map(|t| t.join().expect("proxy thread panicked"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            // Already unwinding, maybe: do not panic again.
            let _ = t.join();
        }
    }
}

fn run_proxy(
    front: UdpSocket,
    back: UdpSocket,
    server: SocketAddr,
    seed: u64,
    imp: Impairment,
    stop: &AtomicBool,
) -> ProxyStats {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = ProxyStats::default();
    let mut client: Option<SocketAddr> = None;
    let mut held: Vec<Held> = Vec::new();
    let mut buf = vec![0u8; 65_536];

    let send = |toward: Toward, data: &[u8], client: Option<SocketAddr>, stats: &mut ProxyStats| {
        let result = match (toward, client) {
            (Toward::Server, _) => back.send_to(data, server),
            (Toward::Client, Some(c)) => front.send_to(data, c),
            (Toward::Client, None) => return,
        };
        match result {
            Ok(_) => stats.forwarded += 1,
            // A full socket buffer loses the datagram, as a router would.
            Err(_) => stats.send_errors += 1,
        }
    };

    while !stop.load(Ordering::Acquire) {
        let mut busy = false;
        for (socket, toward) in [(&front, Toward::Server), (&back, Toward::Client)] {
            // Bounded per pass so one direction cannot starve the other.
            for _ in 0..256 {
                let (len, from) = match socket.recv_from(&mut buf) {
                    Ok(got) => got,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    // ICMP "port unreachable" and the like: skip.
                    Err(_) => continue,
                };
                busy = true;
                match toward {
                    Toward::Server => client = Some(from),
                    Toward::Client if from != server => continue,
                    Toward::Client => {}
                }
                stats.received += 1;
                if rng.gen::<f64>() < imp.loss {
                    stats.dropped += 1;
                    continue;
                }
                let copies = if rng.gen::<f64>() < imp.duplicate {
                    stats.duplicated += 1;
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    if rng.gen::<f64>() < imp.delay {
                        stats.delayed += 1;
                        let max_us = imp.max_delay.as_micros().max(1_000) as u64;
                        let hold = Duration::from_micros(rng.gen_range(1_000..=max_us));
                        held.push(Held {
                            due: Instant::now() + hold,
                            toward,
                            data: buf[..len].to_vec(),
                        });
                    } else {
                        send(toward, &buf[..len], client, &mut stats);
                    }
                }
            }
        }
        let now = Instant::now();
        let mut i = 0;
        while i < held.len() {
            if held[i].due <= now {
                let h = held.swap_remove(i);
                send(h.toward, &h.data, client, &mut stats);
                busy = true;
            } else {
                i += 1;
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    stats
}

/// What a real-time stream saw.
#[derive(Debug)]
struct Outcome {
    completed: bool,
    tally: Tally,
    elapsed: Duration,
    errors: Vec<String>,
    sender: Metrics,
    receiver: Option<Metrics>,
}

impl Outcome {
    fn line(&self) -> String {
        format!(
            "done={} in {:?}: distinct={} arrivals={} dups={} ooo={} corrupt={} \
             sender out_packets={} resends={} lost={} send_failures={} | receiver {:?} | errors {:?} | problems {:?}",
            self.completed,
            self.elapsed,
            self.tally.distinct,
            self.tally.arrivals,
            self.tally.dups,
            self.tally.out_of_order,
            self.tally.corrupt,
            self.sender.out_packets,
            self.sender.resends,
            self.sender.packets_lost,
            self.sender.send_failures,
            self.receiver
                .as_ref()
                .map(|m| (m.in_packets, m.duplicates_dropped, m.invalid_packets)),
            self.errors,
            self.tally.first_problems,
        )
    }
}

/// Streams `count` numbered messages client -> server over real UDP, the
/// client talking to `connect_to` (the server itself, or a proxy in front of
/// it), until all arrived or [`DEADLINE`] passed; then keeps going briefly to
/// catch late duplicates.
fn stream(server: &mut Server, connect_to: SocketAddr, count: u32, delivery: Delivery) -> Outcome {
    let size = Size::Varied;
    let mut client = Client::new(Config::default());
    client.connect(connect_to).expect("connect");
    let start = Instant::now();
    let mut tally = Tally::new(count);
    let mut errors = Vec::new();
    let mut peer = None;
    let mut next = 0u32;
    let mut completed_at = None;
    loop {
        let now = start.elapsed();
        if client.is_connected() && peer.is_some() {
            while next < count {
                match client.send_bytes(make_payload(next, size), delivery) {
                    Ok(()) => next += 1,
                    Err(Error::QueueFull { .. }) => break,
                    Err(e) => {
                        errors.push(format!("send {next}: {e}"));
                        break;
                    }
                }
            }
        }
        let mut busy = false;
        for e in server.update_events() {
            busy = true;
            match e {
                ServerEvent::Connected { peer: p, .. } => {
                    if peer.replace(p).is_some() {
                        errors.push("second Connected event".into());
                    }
                }
                ServerEvent::Message { message, .. } => {
                    if message.delivery == delivery {
                        tally.on_payload(&message.payload, size);
                    } else {
                        errors.push(format!("unexpected {:?} message", message.delivery));
                    }
                }
                other => errors.push(format!("server event at {now:?}: {other:?}")),
            }
        }
        for e in client.update_events() {
            busy = true;
            match e {
                ClientEvent::ConnectAccepted => {}
                other => errors.push(format!("client event at {now:?}: {other:?}")),
            }
        }
        if completed_at.is_none() && tally.complete() {
            completed_at = Some(now);
        }
        if completed_at.is_some_and(|t| now >= t + Duration::from_millis(200))
            || now >= DEADLINE
            || !errors.is_empty()
        {
            break;
        }
        if !busy {
            // Nothing arrived: let the sockets fill a little.
            client.wait(Duration::from_micros(200));
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    let receiver = peer.and_then(|p| server.metrics(p));
    if !client.is_connected() {
        errors.push(format!(
            "client not connected at the end: {:?}",
            client.state()
        ));
    }
    Outcome {
        completed: completed_at.is_some(),
        tally,
        elapsed: completed_at.unwrap_or_else(|| start.elapsed()),
        errors,
        sender: client.metrics(),
        receiver,
    }
}

fn assert_exactly_once(o: &Outcome, ordered: bool) {
    assert!(o.errors.is_empty(), "errors: {}", o.line());
    assert!(
        o.completed,
        "incomplete after {DEADLINE:?}, first missing {:?}: {}",
        o.tally.first_missing(),
        o.line()
    );
    assert_eq!(o.tally.corrupt, 0, "{}", o.line());
    assert_eq!(o.tally.dups, 0, "{}", o.line());
    assert_eq!(
        o.tally.arrivals,
        u64::from(o.tally.distinct),
        "{}",
        o.line()
    );
    if ordered {
        assert_eq!(o.tally.out_of_order, 0, "{}", o.line());
    }
}

fn lossy() -> Impairment {
    Impairment {
        loss: 0.10,
        duplicate: 0.05,
        delay: 0.05,
        max_delay: Duration::from_millis(10),
    }
}

fn listening_server() -> (Server, SocketAddr) {
    let mut server = Server::new(Config::default());
    server.listen("127.0.0.1:0").expect("listen");
    let addr = server.local_addr().expect("server address");
    (server, addr)
}

fn check_proxy(stats: &ProxyStats) {
    assert!(stats.dropped > 0, "proxy dropped nothing: {stats:?}");
    assert!(stats.duplicated > 0, "proxy duplicated nothing: {stats:?}");
    assert!(stats.delayed > 0, "proxy delayed nothing: {stats:?}");
}

#[test]
fn reliable_ordered_through_lossy_proxy() {
    let (mut server, server_addr) = listening_server();
    let proxy = Proxy::start(server_addr, 1, lossy());
    let outcome = stream(&mut server, proxy.addr, 5_000, Delivery::ReliableOrdered);
    let stats = proxy.finish();
    eprintln!(
        "[udp ordered via proxy] {} | proxy {stats:?}",
        outcome.line()
    );
    assert_exactly_once(&outcome, true);
    check_proxy(&stats);
}

#[test]
fn reliable_through_lossy_proxy() {
    let (mut server, server_addr) = listening_server();
    let proxy = Proxy::start(server_addr, 2, lossy());
    let outcome = stream(&mut server, proxy.addr, 2_000, Delivery::Reliable);
    let stats = proxy.finish();
    eprintln!(
        "[udp reliable via proxy] {} | proxy {stats:?}",
        outcome.line()
    );
    assert_exactly_once(&outcome, false);
    check_proxy(&stats);
}

#[test]
fn reliable_ordered_over_plain_loopback() {
    let (mut server, server_addr) = listening_server();
    let outcome = stream(&mut server, server_addr, 20_000, Delivery::ReliableOrdered);
    eprintln!("[udp ordered plain] {}", outcome.line());
    assert_exactly_once(&outcome, true);
}
