//! Hard caps: every buffer and budget lentil bounds, each driven to its limit
//! over the simulated network in virtual time, with the typed error or the
//! counted drop it produces there.
//!
//! | cap | where | default | when reached |
//! |---|---|---|---|
//! | send buffer | `Config::max_send_buffer_bytes` (payload + `proto::MESSAGE_OVERHEAD` per message) | 8 MiB | `Error::QueueFull`, memory stops growing |
//! | reliable messages in flight | `Config::reliable_window` | 16384 per channel | `reliable_in_flight` stays <= window per channel |
//! | congestion window | `MIN_WINDOW`, `MAX_WINDOW` in `src/proto/congestion.rs` (private) | 32..=3072 packets | `congestion_window` stays in range |
//! | reorder queue | `Config::reliable_window` | 16384 | `reorder_queue` stays < window |
//! | peers | `Config::max_clients` | 1024 | `RejectReason::ServerFull` |
//! | pending handshakes | none kept (stateless cookie) | 0 | no heap growth per request |
//! | handshake replies | `Config::handshake_replies_per_source` / `_per_sec` | 1024/s / 20 000/s (tested at 32 and 100) | `ServerStats::replies_rate_limited` |
//! | datagrams per update | `MAX_DATAGRAMS_PER_UPDATE` (private) | 8192 | rest wait for the next update |
//!
//! Memory statements are measured with a counting global allocator (live
//! heap bytes). Because the allocator is process-wide, every test in this
//! binary takes one lock and they run one at a time. Read the figures with
//! `cargo test --release --test caps -- --nocapture`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use common::{ms, secs, Net, Pair};
use lentil::proto::MESSAGE_OVERHEAD;
use lentil::transport::sim::SimSocket;
use lentil::transport::Socket;
use lentil::wire::{self, ConnectRequest, DataHeader, Packet};
use lentil::{
    Client, ClientEvent, ClientState, Config, Delivery, Error, LinkConditioner, RejectReason,
    Server, SimNetwork,
};

// ---------------------------------------------------------------------------
// Counting allocator and test serialization.

/// `System`, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counter only
// observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Live heap bytes of the whole process.
fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs the tests of this binary one at a time (the allocator is global); a
/// failed test does not poison the others.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const KIB: usize = 1024;
/// `proto::congestion` is private: its documented floor, start and ceiling.
const MIN_WINDOW: usize = 32;
const INITIAL_WINDOW: usize = 64;
const MAX_WINDOW: usize = 3072;
const MIB: usize = 1024 * 1024;

fn kib(bytes: isize) -> f64 {
    bytes as f64 / 1024.0
}

// ---------------------------------------------------------------------------
// Raw sockets and handshake packets.

/// `10.a.b.c:port` for source number `i`: one distinct IP per source.
fn source_addr(i: usize, port: u16) -> SocketAddr {
    let i = i + 1;
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], port))
}

fn connect_request(nonce: u64) -> Vec<u8> {
    let mut out = Vec::new();
    ConnectRequest {
        version: wire::PROTOCOL_VERSION,
        nonce,
        window: Config::default().reliable_window,
        insecure: false,
    }
    .emit(&mut out);
    out
}

/// Receives everything ready on `socket`; returns (datagrams, challenges among them).
fn drain(socket: &mut SimSocket, buf: &mut [u8]) -> (usize, usize) {
    let (mut all, mut challenges) = (0, 0);
    while let Ok(Some((len, _))) = socket.recv_from(buf) {
        all += 1;
        if matches!(Packet::parse(&buf[..len]), Ok(Packet::Challenge(_))) {
            challenges += 1;
        }
    }
    (all, challenges)
}

/// A sandboxed server listening on `addr`.
fn server_at(net: &SimNetwork, config: Config, addr: SocketAddr) -> Server {
    let mut server = Server::sandbox(config, net);
    server.listen(addr).expect("listen");
    server
}

// ---------------------------------------------------------------------------
// Send buffer.

/// Sends `msg` until the queue refuses it, updating both ends every `every`
/// sends; returns how many were taken and the error.
fn fill_until_full(
    pair: &mut Pair,
    to_server: bool,
    msg: &[u8],
    delivery: Delivery,
    every: usize,
) -> (usize, Error) {
    let peer = pair.server.peers().first().copied();
    let mut taken = 0usize;
    loop {
        let sent = if to_server {
            pair.client.send(msg, delivery)
        } else {
            pair.server.send(peer.expect("a peer"), msg, delivery)
        };
        match sent {
            Ok(()) => taken += 1,
            Err(e) => return (taken, e),
        }
        if taken % every == 0 {
            pair.update();
            pair.net.tick();
        }
    }
}

/// A client and server with the default `Config`, connected over a clean
/// simulated path of 10 ms each way.
fn connected_over_10ms(seed: u64) -> (Net, Pair) {
    let net = Net::sim(seed);
    net.set_conditioner(LinkConditioner::new().latency(ms(10)));
    let pair = Pair::connected(&net, Config::default(), Config::default());
    (net, pair)
}

/// With the default `max_send_queue_delay`, small reliable messages queued
/// faster than the path carries are refused once what waits unsent would
/// take that long to leave (never under 4 KiB), long before the byte cap;
/// unreliable and multi-packet messages still go in, and once the path
/// carries the backlog away sends are accepted again.
#[test]
fn a_backlog_past_the_queue_delay_is_refused_until_it_drains() {
    let _serial = serial();
    let (net, mut pair) = connected_over_10ms(12);
    let server = pair.server_addr();
    let sim = net.sim_net().expect("sim").clone();
    sim.set_address_down(server, true);
    let msg = [7u8; 100];
    let (taken, err) = fill_until_full(&mut pair, true, &msg, Delivery::ReliableOrdered, 64);
    let Error::QueueFull {
        queued_bytes,
        limit_bytes,
    } = err
    else {
        panic!("expected QueueFull, got {err:?}");
    };
    assert!(limit_bytes >= 4 * KIB, "the floor: {limit_bytes}");
    assert!(
        queued_bytes >= limit_bytes,
        "{queued_bytes} < {limit_bytes}"
    );
    // The first flight left; the rest waits, a few packets past the limit.
    assert!(queued_bytes < limit_bytes + 2 * KIB, "{queued_bytes}");
    let m = pair.client.metrics();
    assert!(m.send_buffer_bytes < MIB, "far below the byte cap: {m:?}");
    assert!(taken * msg.len() >= limit_bytes, "took {taken}");

    assert!(pair.client.send(msg, Delivery::Unreliable).is_ok());
    assert!(pair
        .client
        .send(vec![1u8; 100 * KIB], Delivery::ReliableOrdered)
        .is_ok());
    assert!(matches!(
        pair.client.send(msg, Delivery::ReliableOrdered),
        Err(Error::QueueFull { .. })
    ));

    sim.set_address_down(server, false);
    let mut accepted = false;
    pair.pump_until(secs(3), |_, client| {
        accepted = client.send(msg, Delivery::ReliableOrdered).is_ok();
        accepted
    });
    assert!(accepted, "still refused after the path came back");
}

/// A quiet connection takes a burst of small reliable messages at once, up
/// to what its pacer and congestion window would let leave together, even
/// from an owner that updates every millisecond (so two update intervals
/// are nothing): the delay bound refuses only a backlog.
#[test]
fn a_quiet_connection_takes_a_burst_the_pacer_would_let_out_at_once() {
    let _serial = serial();
    let (_, mut pair) = connected_over_10ms(32);
    pair.pump_for(secs(2));
    let msg = [5u8; 100];
    for i in 0..150 {
        let sent = pair.client.send(msg, Delivery::ReliableOrdered);
        assert!(sent.is_ok(), "message {i} of a 15 KB burst: {sent:?}");
    }
}

/// The delay bound follows the owner's update cadence: a game that updates
/// at 60 Hz and queues small reliable messages each frame until refused is
/// held to what the path carries as the rate grows, not to 5 ms of sending
/// per 16 ms frame: over a clean 20 ms path it moves over 10 MB/s within
/// three seconds (48 MB/s here; 3 MB/s if the bound ignored the cadence).
#[test]
fn a_60_hz_sender_is_bounded_by_the_path_not_by_the_queue_floor() {
    let _serial = serial();
    let (net, mut pair) = connected_over_10ms(31);
    let delivered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let d = delivered.clone();
    pair.server
        .on_message(move |_, _, m| _ = d.fetch_add(m.payload.len(), Ordering::Relaxed));
    let msg = [3u8; 100];
    let frame = ms(16);
    let start = net.now();
    let mut next_frame = start;
    while net.now() < start + secs(3) {
        if net.now() >= next_frame {
            next_frame += frame;
            while pair.client.send(msg, Delivery::ReliableOrdered).is_ok() {}
            pair.client.update();
        }
        // The server updates every millisecond, as a dedicated one would.
        pair.server.update();
        net.tick();
    }
    let rate = delivered.load(Ordering::Relaxed) as f64 / 3.0;
    eprintln!(
        "[caps] 60 Hz sender, 100 B reliable messages: {:.2} MB/s",
        rate / 1e6
    );
    assert!(rate > 10e6, "{rate:.0} B/s");
}

/// Client to an unreachable server, then server to an unreachable client:
/// the send buffer fills to exactly `max_send_buffer_bytes`, the next send
/// fails with `QueueFull` naming both figures, and holding on keeps failing
/// without the buffer or the heap growing.
#[test]
fn send_buffer_cap_gives_queue_full_and_memory_stops_growing() {
    let _serial = serial();
    let limit = Config::default().max_send_buffer_bytes;
    assert_eq!(limit, 8 * MIB, "documented default");
    let msg = vec![0x5A; 1000];

    for to_server in [true, false] {
        let net = Net::sim(11);
        // The byte cap alone: the queue-delay bound would refuse sooner.
        let config = Config {
            max_send_queue_delay: None,
            ..Config::default()
        };
        let mut pair = Pair::connected(&net, config.clone(), config);
        let peer = pair.peer();
        let sim = net.sim_net().expect("sim").clone();
        let unreachable = if to_server {
            pair.server_addr()
        } else {
            pair.client.local_addr().expect("client addr")
        };
        sim.set_address_down(unreachable, true);
        let metrics = |pair: &Pair| {
            if to_server {
                pair.client.metrics()
            } else {
                pair.server.metrics(peer).expect("peer metrics")
            }
        };

        let (taken, err) = fill_until_full(&mut pair, to_server, &msg, Delivery::Reliable, 256);
        let dir = if to_server {
            "client->server"
        } else {
            "server->client"
        };
        let charge = msg.len() + MESSAGE_OVERHEAD;
        match err {
            Error::QueueFull {
                queued_bytes,
                limit_bytes,
            } => {
                assert_eq!(limit_bytes, limit, "{dir}");
                assert_eq!(queued_bytes, taken * charge, "{dir}: nothing was acked");
                assert!(queued_bytes <= limit, "{dir}: {queued_bytes} > {limit}");
                assert!(queued_bytes + charge > limit, "{dir}: refused too early");
            }
            other => panic!("{dir}: expected QueueFull, got {other:?}"),
        }
        let m = metrics(&pair);
        assert_eq!(m.send_buffer_bytes, taken * charge, "{dir}");
        assert!(m.out_messages > 0, "{dir}: some went on the wire");

        // Keep pushing for 3 virtual seconds (within the 10 s timeout).
        let heap_full = live();
        let mut heap_max = heap_full;
        let mut refused = 0u64;
        for _ in 0..3000 {
            let r = if to_server {
                pair.client.send(&msg, Delivery::ReliableOrdered)
            } else {
                pair.server.send(peer, &msg, Delivery::ReliableOrdered)
            };
            assert!(matches!(r, Err(Error::QueueFull { .. })), "{dir}: {r:?}");
            refused += 1;
            pair.update();
            net.tick();
            assert!(metrics(&pair).send_buffer_bytes <= limit, "{dir}");
            heap_max = heap_max.max(live());
        }
        let growth = heap_max - heap_full;
        eprintln!(
            "[caps] send buffer {dir}: {taken} x ({} B + {MESSAGE_OVERHEAD}) taken = {} B \
             (limit {limit}); {refused} more refused over 3 s; heap grew at most {:.1} KiB meanwhile",
            msg.len(),
            taken * charge,
            kib(growth)
        );
        assert!(
            growth < 256 * KIB as isize,
            "{dir}: heap kept growing by {growth} B with a full queue"
        );
        assert!(pair.client.is_connected(), "{dir}: still connected");
    }
}

// ---------------------------------------------------------------------------
// Reliable window.

#[test]
fn reliable_window_is_validated_and_defaults_to_16384() {
    let _serial = serial();
    assert_eq!(Config::default().reliable_window, 16384);
    assert!(Config::default().validate().is_ok());
    for bad in [0u16, 100, 3, 32_768] {
        let config = Config {
            reliable_window: bad,
            ..Config::default()
        };
        assert!(
            matches!(config.validate(), Err(Error::InvalidConfig(_))),
            "window {bad} accepted"
        );
    }
    let net = Net::sim(12);
    let mut client = net.client(Config {
        reliable_window: 100,
        ..Config::default()
    });
    assert!(matches!(
        client.connect("127.0.0.1:9"),
        Err(Error::InvalidConfig(_))
    ));
}

/// With a window of 64 and the peer unreachable, at most 64 messages per
/// reliable channel are ever in flight; the window is reached, never passed.
#[test]
fn reliable_window_caps_messages_in_flight_per_channel() {
    let _serial = serial();
    let window = 64u16;
    let config = Config {
        reliable_window: window,
        ..Config::default()
    };
    let net = Net::sim(13);
    let mut pair = Pair::connected(&net, config.clone(), config);
    let sim = net.sim_net().expect("sim").clone();
    sim.set_address_down(pair.server_addr(), true);
    let w = usize::from(window);

    let run = |pair: &mut Pair, delivery: Delivery, cap: usize| {
        for i in 0..500u32 {
            pair.client.send(i.to_be_bytes(), delivery).expect("send");
        }
        let mut max = 0;
        for _ in 0..2000 {
            pair.update();
            net.tick();
            let m = pair.client.metrics();
            assert!(
                m.reliable_in_flight <= cap,
                "{delivery:?}: {} in flight, cap {cap}",
                m.reliable_in_flight
            );
            max = max.max(m.reliable_in_flight);
        }
        max
    };
    let max_one = run(&mut pair, Delivery::Reliable, w);
    assert_eq!(max_one, w, "the window is reached on one channel");
    let max_both = run(&mut pair, Delivery::ReliableOrdered, 2 * w);
    assert_eq!(max_both, 2 * w, "and on both channels");
    eprintln!(
        "[caps] reliable window {window}: max in flight {max_one} (one channel), {max_both} (both)"
    );
    assert!(pair.client.is_connected());
}

/// The sender uses the smaller of its own window and the one the peer offers.
#[test]
fn reliable_window_of_the_peer_limits_the_sender() {
    let _serial = serial();
    let server_config = Config {
        reliable_window: 64,
        ..Config::default()
    };
    let net = Net::sim(14);
    let mut pair = Pair::connected(&net, server_config, Config::default());
    let peer = pair.peer();
    net.sim_net()
        .expect("sim")
        .set_address_down(pair.server_addr(), true);
    for i in 0..1000u32 {
        pair.client
            .send(i.to_be_bytes(), Delivery::ReliableOrdered)
            .expect("send");
    }
    let mut max = 0;
    for _ in 0..1000 {
        pair.update();
        net.tick();
        max = max.max(pair.client.metrics().reliable_in_flight);
    }
    assert_eq!(max, 64, "client (window 8192) limited by the server's 64");
    assert_eq!(
        pair.server.metrics(peer).expect("peer").reliable_in_flight,
        0
    );
}

// ---------------------------------------------------------------------------
// Congestion window.

/// Feeds the client's queue with 1000-byte ordered messages until it is full.
fn keep_fed(client: &mut Client, next: &mut u32) {
    loop {
        let mut msg = vec![0u8; 1000];
        msg[..4].copy_from_slice(&next.to_be_bytes());
        match client.send(&msg, Delivery::ReliableOrdered) {
            Ok(()) => *next += 1,
            Err(Error::QueueFull { .. }) => break,
            Err(e) => panic!("send: {e}"),
        }
    }
}

/// On a clean fast link a bulk sender's window grows past its initial 64
/// packets up to the 3072 ceiling; when the link turns to 40% loss it falls
/// back to the 32 floor. Every sample stays within [32, 3072].
#[test]
fn congestion_window_grows_on_a_clean_link_and_falls_under_heavy_loss() {
    let _serial = serial();
    let net = Net::sim(15);
    net.set_conditioner(LinkConditioner::new().latency(ms(2)));
    // A sender with its whole buffer queued, so every round trip sends a
    // full window: the delay bound would keep the backlog to milliseconds.
    let config = Config {
        max_send_buffer_bytes: 2 * MIB,
        max_send_queue_delay: None,
        ..Config::default()
    };
    let mut pair = Pair::connected(&net, config.clone(), config);
    assert_eq!(pair.client.metrics().congestion_window, INITIAL_WINDOW);
    let mut next = 0u32;
    let sample = |pair: &Pair, min: &mut usize, max: &mut usize| {
        let w = pair.client.metrics().congestion_window;
        assert!(
            (MIN_WINDOW..=MAX_WINDOW).contains(&w),
            "congestion window {w} out of [{MIN_WINDOW}, {MAX_WINDOW}]"
        );
        *min = (*min).min(w);
        *max = (*max).max(w);
    };

    let (mut clean_min, mut clean_max) = (usize::MAX, 0);
    for _ in 0..2000 {
        keep_fed(&mut pair.client, &mut next);
        pair.update();
        net.tick();
        sample(&pair, &mut clean_min, &mut clean_max);
    }
    let after_clean = pair.client.metrics().congestion_window;
    eprintln!(
        "[caps] cwnd clean 2 ms link, 2 s bulk: min {clean_min} max {clean_max} end {after_clean}; \
         {next} x 1000 B sent"
    );
    assert!(clean_max > INITIAL_WINDOW, "did not grow: max {clean_max}");
    assert_eq!(clean_max, MAX_WINDOW, "the ceiling is reached");

    net.set_conditioner(LinkConditioner::new().latency(ms(2)).loss(0.4));
    let (mut lossy_min, mut lossy_max) = (usize::MAX, 0);
    for _ in 0..3000 {
        keep_fed(&mut pair.client, &mut next);
        pair.update();
        net.tick();
        sample(&pair, &mut lossy_min, &mut lossy_max);
    }
    let after_loss = pair.client.metrics().congestion_window;
    eprintln!(
        "[caps] cwnd after 3 s of 40% loss: min {lossy_min} max {lossy_max} end {after_loss}; \
         lost {} packets",
        pair.client.metrics().packets_lost
    );
    assert!(
        after_loss < after_clean,
        "did not fall: {after_clean} -> {after_loss}"
    );
    assert!(after_loss < INITIAL_WINDOW, "still {after_loss}");
    assert_eq!(lossy_min, MIN_WINDOW, "the floor is reached");
    assert!(pair.client.is_connected());
}

// ---------------------------------------------------------------------------
// Reorder queue.

/// The first ordered message is lost on its way and the next ones arrive:
/// the receiver holds exactly window - 1 of them (the sender cannot put more
/// in flight past the missing one), and releases them all in order when the
/// resend arrives.
#[test]
fn reorder_queue_fills_to_window_minus_one_and_no_further() {
    let _serial = serial();
    let window = 64u16;
    let config = Config {
        reliable_window: window,
        ..Config::default()
    };
    let net = Net::sim(16);
    net.set_conditioner(LinkConditioner::new().latency(ms(5)));
    let mut pair = Pair::connected(&net, config.clone(), config);
    let peer = pair.peer();
    let sim = net.sim_net().expect("sim").clone();
    let (client_addr, server_addr) = (pair.client.local_addr().expect("addr"), pair.server_addr());

    sim.set_link_conditioner(client_addr, server_addr, LinkConditioner::new().loss(1.0));
    pair.client
        .send(0u32.to_be_bytes(), Delivery::ReliableOrdered)
        .expect("send");
    pair.client.update();
    sim.clear_link_conditioner(client_addr, server_addr);
    for i in 1..500u32 {
        pair.client
            .send(i.to_be_bytes(), Delivery::ReliableOrdered)
            .expect("send");
    }
    let cap = usize::from(window) - 1;
    let mut got = Vec::new();
    let mut max = 0;
    let done = net.run_until(secs(10), || {
        for e in pair.server.update_events() {
            if let lentil::ServerEvent::Message { message, .. } = e {
                got.push(u32::from_be_bytes(
                    message.bytes().try_into().expect("4 bytes"),
                ));
            }
        }
        pair.client.update();
        let held = pair.server.metrics(peer).expect("peer").reorder_queue;
        assert!(held <= cap, "reorder queue {held} > {cap}");
        max = max.max(held);
        got.len() == 500
    });
    eprintln!("[caps] reorder queue, head lost: max {max} held (window {window})");
    assert!(done, "only {} of 500 delivered", got.len());
    assert_eq!(max, cap, "the queue fills to window - 1");
    assert_eq!(got, (0..500).collect::<Vec<u32>>());
    assert_eq!(pair.server.metrics(peer).expect("peer").reorder_queue, 0);
}

/// Heavy loss, duplication and reordering with a 64-message window, ordered
/// streams both ways, one 700-byte message per packet: the reorder queue is
/// sampled every 1 ms tick and never holds more than window - 1 messages,
/// and both streams still arrive complete and in order.
#[test]
fn reorder_queue_stays_bounded_under_heavy_reordering_and_loss() {
    let _serial = serial();
    let window = 64u16;
    let config = Config {
        reliable_window: window,
        ..Config::default()
    };
    let net = Net::sim(17);
    net.set_conditioner(
        LinkConditioner::new()
            .loss(0.3)
            .duplicate(0.1)
            .latency(ms(5))
            .jitter(ms(20))
            .reorder(0.5, ms(40)),
    );
    let mut pair = Pair::connected(&net, config.clone(), config);
    let peer = pair.peer();
    const COUNT: u32 = 3000;
    let msg = |i: u32| {
        let mut m = vec![0u8; 700];
        m[..4].copy_from_slice(&i.to_be_bytes());
        m
    };
    let index = |m: &lentil::Message| u32::from_be_bytes(m.bytes()[..4].try_into().expect("4"));
    let (mut up_next, mut down_next) = (0u32, 0u32);
    let (mut up_got, mut down_got) = (0u32, 0u32);
    let (mut up_max, mut down_max) = (0usize, 0usize);
    let cap = usize::from(window) - 1;
    let done = net.run_until(secs(120), || {
        for _ in 0..20 {
            if up_next < COUNT
                && pair
                    .client
                    .send(msg(up_next), Delivery::ReliableOrdered)
                    .is_ok()
            {
                up_next += 1;
            }
            if down_next < COUNT
                && pair
                    .server
                    .send(peer, msg(down_next), Delivery::ReliableOrdered)
                    .is_ok()
            {
                down_next += 1;
            }
        }
        for e in pair.server.update_events() {
            if let lentil::ServerEvent::Message { message, .. } = e {
                assert_eq!(index(&message), up_got, "client->server out of order");
                up_got += 1;
            }
        }
        for e in pair.client.update_events() {
            match e {
                ClientEvent::Message(message) => {
                    assert_eq!(index(&message), down_got, "server->client out of order");
                    down_got += 1;
                }
                other => panic!("client event {other:?}"),
            }
        }
        let up = pair.server.metrics(peer).expect("peer").reorder_queue;
        let down = pair.client.metrics().reorder_queue;
        assert!(up <= cap, "server reorder queue {up} > {cap}");
        assert!(down <= cap, "client reorder queue {down} > {cap}");
        up_max = up_max.max(up);
        down_max = down_max.max(down);
        up_got == COUNT && down_got == COUNT
    });
    eprintln!(
        "[caps] reorder queue, hostile link (window {window}): max {up_max} at server, \
         {down_max} at client; delivered {up_got}/{COUNT} up, {down_got}/{COUNT} down by {:?}",
        net.now()
    );
    assert!(done, "streams incomplete: {up_got} up, {down_got} down");
    assert!(
        up_max >= cap / 2 && down_max >= cap / 2,
        "reordering too mild to test the cap: {up_max} / {down_max}"
    );
}

// ---------------------------------------------------------------------------
// Peers.

/// With `max_clients = 3`, the fourth client is rejected "server full" and
/// the count stays 3; once one leaves, the fourth gets in.
#[test]
fn max_clients_rejects_the_next_one_with_server_full() {
    let _serial = serial();
    assert_eq!(Config::default().max_clients, 1024);
    let net = Net::sim(27);
    let server_config = Config {
        max_clients: 3,
        ..Config::default()
    };
    let mut server = net.server(server_config);
    let addr = server.local_addr().expect("addr");
    let mut clients: Vec<Client> = (0..4).map(|_| net.client(Config::default())).collect();
    for c in &mut clients[..3] {
        c.connect(addr).expect("connect");
    }
    assert!(common::pump_many(
        &net,
        &mut server,
        &mut clients,
        secs(3),
        |s, cs| { s.peer_count() == 3 && cs[..3].iter().all(Client::is_connected) }
    ));

    clients[3].connect(addr).expect("connect");
    let mut rejected = None;
    let ok = net.run_until(secs(3), || {
        server.update();
        for c in &mut clients[..3] {
            c.update();
        }
        for e in clients[3].update_events() {
            match e {
                ClientEvent::ConnectRejected(reason) => rejected = Some(reason),
                other => panic!("fourth client: {other:?}"),
            }
        }
        assert!(server.peer_count() <= 3);
        rejected.is_some()
    });
    assert!(ok, "no answer to the fourth client");
    assert_eq!(rejected, Some(RejectReason::ServerFull));
    assert_eq!(clients[3].state(), ClientState::Disconnected);
    assert_eq!(server.peer_count(), 3);
    assert!(server.stats().rejected >= 1);

    clients[0].disconnect();
    assert!(common::pump_many(
        &net,
        &mut server,
        &mut clients,
        secs(3),
        |s, _| { s.peer_count() == 2 }
    ));
    clients[3].connect(addr).expect("connect again");
    assert!(common::pump_many(
        &net,
        &mut server,
        &mut clients,
        secs(3),
        |s, cs| { s.peer_count() == 3 && cs[3].is_connected() }
    ));
}

// ---------------------------------------------------------------------------
// Pending handshakes and handshake replies.

/// 1000 connect requests from 1000 addresses that never answer their
/// challenge: the server answers each, keeps no peer, and its heap does not
/// grow (everything the network itself allocates per address is warmed first).
#[test]
fn unanswered_connect_requests_leave_no_state() {
    let _serial = serial();
    const N: usize = 1000;
    let server_addr: SocketAddr = "10.200.0.1:9000".parse().expect("addr");
    let net = SimNetwork::new(18);
    let mut buf = vec![0u8; 2048];
    let mut sockets: Vec<SimSocket> = (0..N)
        .map(|i| net.bind(source_addr(i, 5000)).expect("bind"))
        .collect();
    // Warm the network's per-address accounting in both directions and every
    // socket's queue, with a stand-in at the server's address.
    {
        let mut stand_in = net.bind(server_addr).expect("bind stand-in");
        for s in &mut sockets {
            stand_in.send_to(b"x", s.local_addr()).expect("send");
            s.send_to(b"y", server_addr).expect("send");
        }
        drain(&mut stand_in, &mut buf);
        for s in &mut sockets {
            drain(s, &mut buf);
        }
    }
    let mut server = server_at(&net, Config::default(), server_addr);
    // Grow the server socket's queue once with garbage it ignores.
    for s in &mut sockets {
        s.send_to(&[0xFF], server_addr).expect("send");
    }
    server.update();
    let before_stats = server.stats();

    let heap_before = live();
    for (i, s) in sockets.iter_mut().enumerate() {
        s.send_to(&connect_request(i as u64), server_addr)
            .expect("send");
    }
    server.update();
    let mut challenges = 0;
    for s in &mut sockets {
        challenges += drain(s, &mut buf).1;
    }
    let heap_after = live();

    let growth = heap_after - heap_before;
    let stats = server.stats();
    eprintln!(
        "[caps] {N} unanswered connect requests: {challenges} challenges, \
         live heap grew {growth} B ({:.1} B per request)",
        growth as f64 / N as f64
    );
    assert_eq!(stats.datagrams_in - before_stats.datagrams_in, N as u64);
    assert_eq!(challenges, N, "every request answered");
    assert_eq!(server.peer_count(), 0);
    assert_eq!(stats.accepted, 0);
    assert!(
        growth < 64 * KIB as isize,
        "live heap grew {growth} B over {N} unanswered requests"
    );
    // Nothing is waiting to expire either.
    assert_eq!(server.next_deadline(), None);
}

/// With `handshake_replies_per_source = 32`, one source sending 1000 connect
/// requests within one virtual second gets
/// at most the per-source burst (32) plus one second of refill (32) answered.
#[test]
fn handshake_replies_are_rate_limited_per_source() {
    let _serial = serial();
    let default = Config::default();
    eprintln!(
        "[caps] defaults: handshake_replies_per_source {}, handshake_replies_per_sec {}",
        default.handshake_replies_per_source, default.handshake_replies_per_sec
    );
    let config = Config {
        handshake_replies_per_source: 32,
        ..default
    };
    let net = SimNetwork::new(19);
    let clock = net.clock();
    let server_addr: SocketAddr = "10.200.0.1:9000".parse().expect("addr");
    let mut server = server_at(&net, config, server_addr);
    let mut attacker = net
        .bind("10.9.9.9:7000".parse().expect("addr"))
        .expect("bind");
    let mut buf = vec![0u8; 2048];
    let mut challenges = 0;
    for i in 0..1000u64 {
        attacker
            .send_to(&connect_request(i), server_addr)
            .expect("send");
        server.update();
        challenges += drain(&mut attacker, &mut buf).1;
        clock.advance(ms(1));
    }
    server.update();
    challenges += drain(&mut attacker, &mut buf).1;
    let stats = server.stats();
    eprintln!(
        "[caps] one source, 1000 requests in 1 s: {challenges} challenges, {} rate limited",
        stats.replies_rate_limited
    );
    assert!(
        (32..=65).contains(&challenges),
        "{challenges} challenges to one source in 1 s"
    );
    assert_eq!(stats.replies_rate_limited, 1000 - challenges as u64);
    assert_eq!(server.peer_count(), 0);

    // The budget refills: a second later the source is answered again.
    clock.advance(secs(1));
    attacker
        .send_to(&connect_request(5000), server_addr)
        .expect("send");
    server.update();
    assert_eq!(drain(&mut attacker, &mut buf).1, 1, "refilled");
}

/// With `handshake_replies_per_sec = 100`, 1000 sources asking at once get
/// 100 answers, and 1000 more spread over the next second at most 100 more.
#[test]
fn handshake_replies_are_rate_limited_globally() {
    let _serial = serial();
    const N: usize = 1000;
    let config = Config {
        handshake_replies_per_sec: 100,
        ..Config::default()
    };
    let net = SimNetwork::new(20);
    let clock = net.clock();
    let server_addr: SocketAddr = "10.200.0.1:9000".parse().expect("addr");
    let mut server = server_at(&net, config, server_addr);
    let mut sockets: Vec<SimSocket> = (0..N)
        .map(|i| net.bind(source_addr(i, 6000)).expect("bind"))
        .collect();
    let mut buf = vec![0u8; 2048];

    for (i, s) in sockets.iter_mut().enumerate() {
        s.send_to(&connect_request(i as u64), server_addr)
            .expect("send");
    }
    server.update();
    let burst: usize = sockets.iter_mut().map(|s| drain(s, &mut buf).1).sum();
    let limited_burst = server.stats().replies_rate_limited;

    let mut spread = 0;
    for (i, s) in sockets.iter_mut().enumerate() {
        s.send_to(&connect_request((N + i) as u64), server_addr)
            .expect("send");
        server.update();
        spread += drain(s, &mut buf).1;
        clock.advance(ms(1));
    }
    let stats = server.stats();
    eprintln!(
        "[caps] global budget 100/s: {burst} of {N} answered at once ({limited_burst} limited), \
         {spread} of {N} over the next second; {} limited in all",
        stats.replies_rate_limited
    );
    assert_eq!(burst, 100, "the global burst");
    assert_eq!(limited_burst, (N - 100) as u64);
    assert!(spread <= 101, "{spread} answered over one second at 100/s");
    assert!(spread >= 90, "refill too slow: {spread}");
    assert_eq!(stats.replies_rate_limited, (2 * N - burst - spread) as u64);
    assert_eq!(server.peer_count(), 0);
}

// ---------------------------------------------------------------------------
// Datagrams per update.

/// xorshift64*: a tiny deterministic generator for garbage.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Datagram `i` of a flood: random bytes, truncated or tampered packets of
    /// every kind, data packets with made-up tokens, and valid connect requests.
    fn datagram(&mut self, i: usize) -> Vec<u8> {
        let len = (self.next() % 1400) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
        match i % 6 {
            0 => {}
            1 => d.truncate(1),
            2 => {
                // A data header with a made-up token, then noise.
                let mut p = Vec::new();
                DataHeader {
                    token: self.next() as u32,
                    seq: self.next() as u16,
                    ack: self.next() as u16,
                    ack_bits: self.next() as u32,
                }
                .emit(&mut p);
                d.truncate(100);
                p.extend_from_slice(&d);
                d = p;
            }
            3 => {
                let mut req = connect_request(self.next());
                req[1] ^= 0xFF; // bad magic
                d = req;
            }
            4 => d = connect_request(self.next()),
            _ => d.truncate(0),
        }
        d
    }
}

/// 20,000 garbage datagrams in one instant: the server reads a bounded
/// number per update, drains them all within a few, never panics, and its
/// connected client still gets through afterwards. The client, flooded the
/// same way, drops them all too.
#[test]
fn garbage_flood_is_drained_over_a_few_updates() {
    let _serial = serial();
    const FLOOD: u64 = 20_000;
    let net = Net::sim(21);
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let peer = pair.peer();
    let sim = net.sim_net().expect("sim").clone();
    let mut attacker = sim
        .bind("10.66.6.6:666".parse().expect("addr"))
        .expect("bind");
    let server_addr = pair.server_addr();
    let client_addr = pair.client.local_addr().expect("client addr");
    pair.update();
    pair.server.update();
    let base = pair.server.stats();

    let mut g = Garbage(0x9E37_79B9_7F4A_7C15);
    for i in 0..FLOOD as usize {
        attacker.send_to(&g.datagram(i), server_addr).expect("send");
    }
    let mut reads = Vec::new();
    while pair.server.stats().datagrams_in - base.datagrams_in < FLOOD {
        pair.server.update();
        reads.push(pair.server.stats().datagrams_in - base.datagrams_in);
        assert!(reads.len() <= 5, "not drained in 5 updates: {reads:?}");
    }
    eprintln!("[caps] server flood of {FLOOD}: cumulative datagrams read per update {reads:?}");
    assert!(
        reads.len() >= 2,
        "all {FLOOD} read in one update: no per-update bound"
    );
    let stats = pair.server.stats();
    assert!(
        stats.invalid_datagrams - base.invalid_datagrams >= FLOOD * 4 / 6 - 10,
        "{stats:?}"
    );
    assert_eq!(pair.server.peer_count(), 1);

    for i in 0..FLOOD as usize {
        attacker.send_to(&g.datagram(i), client_addr).expect("send");
    }
    let invalid_before = pair.client.metrics().invalid_packets;
    pair.client.update();
    assert_eq!(
        pair.client.metrics().invalid_packets - invalid_before,
        FLOOD,
        "the client drops every stray datagram"
    );

    pair.client
        .send(b"still here", Delivery::Reliable)
        .expect("send");
    pair.server
        .send(peer, b"me too", Delivery::Reliable)
        .expect("send");
    let mut got = (false, false);
    assert!(net.run_until(secs(2), || {
        for e in pair.server.update_events() {
            if let lentil::ServerEvent::Message { message, .. } = e {
                got.0 |= message.bytes() == b"still here";
            }
        }
        for e in pair.client.update_events() {
            if let ClientEvent::Message(message) = e {
                got.1 |= message.bytes() == b"me too";
            }
        }
        got == (true, true)
    }));
}

// ---------------------------------------------------------------------------
// Memory statements.

/// Live heap bytes freed by dropping `x`.
fn freed_by_dropping<T>(x: T) -> isize {
    let before = live();
    drop(x);
    before - live()
}

/// Connects `n` clients (0 allowed), lets them idle 3 virtual seconds with
/// keepalives, and returns (bytes the server frees when dropped, bytes the
/// clients free when dropped, bytes `n` never-connected clients free).
fn idle_footprint(n: usize) -> (isize, isize, isize) {
    let net = Net::sim(22);
    // Every simulated client shares 127.0.0.1: lift the per-source budget.
    let config = Config {
        handshake_replies_per_source: 100_000,
        ..Config::default()
    };
    let mut server = net.server(config.clone());
    let addr = server.local_addr().expect("addr");
    let mut clients: Vec<Client> = (0..n).map(|_| net.client(config.clone())).collect();
    for c in &mut clients {
        c.connect(addr).expect("connect");
    }
    assert!(common::pump_many(
        &net,
        &mut server,
        &mut clients,
        secs(5),
        |s, cs| { s.peer_count() == n && cs.iter().all(Client::is_connected) }
    ));
    common::pump_many(&net, &mut server, &mut clients, secs(3), |_, _| false);
    for c in &mut clients {
        assert!(c.is_connected());
    }
    // Nothing in flight: what is measured is the endpoints, not the network.
    server.update();
    for c in &mut clients {
        c.update();
    }
    server.update();
    let clients_bytes = freed_by_dropping(clients);
    let server_bytes = freed_by_dropping(server);
    let unconnected: Vec<Client> = (0..n).map(|_| net.client(Config::default())).collect();
    let unconnected_bytes = freed_by_dropping(unconnected);
    (server_bytes, clients_bytes, unconnected_bytes)
}

/// Heap cost of one idle connection, measured over 100 connected clients:
/// server side (per peer, beyond the empty server) and client side (per
/// connected client, beyond an unconnected one). Each under 64 KiB.
#[test]
fn memory_of_an_idle_connection() {
    let _serial = serial();
    const N: usize = 100;
    let (server_0, _, _) = idle_footprint(0);
    let (server_n, clients_n, unconnected_n) = idle_footprint(N);
    let per_peer = (server_n - server_0) / N as isize;
    let per_client = clients_n / N as isize;
    let per_client_conn = (clients_n - unconnected_n) / N as isize;
    eprintln!(
        "[caps] memory, idle connection (N = {N}): server {:.1} KiB empty, {:.2} KiB per peer; \
         client {:.2} KiB per connected client, of which {:.2} KiB is the connection \
         ({:.2} KiB is the unconnected Client's own buffers)",
        kib(server_0),
        kib(per_peer),
        kib(per_client),
        kib(per_client_conn),
        kib(unconnected_n / N as isize),
    );
    assert!(per_peer > 0);
    assert!(
        per_peer < 64 * KIB as isize,
        "server side: {per_peer} B per idle peer"
    );
    assert!(per_client_conn > 0);
    assert!(
        per_client_conn < 64 * KIB as isize,
        "client side: {per_client_conn} B per idle connection"
    );
}

/// Heap growth of one connection whose peer is unreachable, from idle to a
/// send queue full at `limit`, with `size`-byte reliable messages.
fn full_queue_growth(limit: usize, size: usize) -> (isize, usize, isize) {
    let config = Config {
        max_send_buffer_bytes: limit,
        max_send_queue_delay: None,
        ..Config::default()
    };
    let net = Net::sim(23);
    let mut pair = Pair::connected(&net, config.clone(), config);
    pair.pump_for(ms(500));
    net.sim_net()
        .expect("sim")
        .set_address_down(pair.server_addr(), true);
    pair.update();
    let msg = vec![0xA5; size];
    let before = live();
    let (taken, err) = fill_until_full(&mut pair, true, &msg, Delivery::Reliable, 1024);
    assert!(matches!(err, Error::QueueFull { .. }), "{err:?}");
    let full = live() - before;
    // Holding on for a second changes nothing.
    let mut most = full;
    for _ in 0..1000 {
        let _ = pair.client.send(&msg, Delivery::Reliable);
        pair.update();
        net.tick();
        most = most.max(live() - before);
    }
    (full, taken, most)
}

/// With `max_send_buffer_bytes = 1 MiB`, a queue filled with 1000-byte
/// messages until `QueueFull` costs less than twice the limit plus 64 KiB.
#[test]
fn memory_of_a_full_send_queue() {
    let _serial = serial();
    let limit = MIB;
    let bound = (2 * limit + 64 * KIB) as isize;
    for size in [1000usize, 200] {
        let (full, taken, most) = full_queue_growth(limit, size);
        eprintln!(
            "[caps] memory, full send queue (limit 1 MiB, {size} B messages): {taken} messages, \
             heap +{:.1} KiB at QueueFull ({:.2}x the limit, {:.1} B per message), \
             at most +{:.1} KiB over the next second",
            kib(full),
            full as f64 / limit as f64,
            full as f64 / taken as f64,
            kib(most)
        );
        assert!(full >= (limit / 2) as isize, "suspiciously small: {full}");
        assert!(full < bound, "{size} B: {full} B for a 1 MiB queue");
        assert!(most < bound, "{size} B: kept growing to {most} B");
    }
}

/// Tiny messages: the per-message bookkeeping is charged against the cap
/// too (`MESSAGE_OVERHEAD`), so a 1 MiB queue of 8-byte messages also stays
/// under twice the limit. (Before that charge it held 131,072 messages and
/// about 6.2x the limit.)
#[test]
fn memory_of_a_full_send_queue_of_tiny_messages() {
    let _serial = serial();
    let limit = MIB;
    let bound = (2 * limit + 64 * KIB) as isize;
    let (full, taken, _) = full_queue_growth(limit, 8);
    eprintln!(
        "[caps] memory, full send queue (limit 1 MiB, 8 B messages): {taken} messages, \
         heap +{:.1} KiB ({:.2}x the limit)",
        kib(full),
        full as f64 / limit as f64
    );
    assert!(full < bound, "8 B messages: {full} B for a 1 MiB queue");
}

/// Empty messages still cost their bookkeeping, so with the peer unreachable
/// they too end in `QueueFull`. (When only payload bytes counted, a million
/// empty messages were queued, 40 MiB, under a 1 MiB cap.)
#[test]
fn empty_messages_hit_the_send_buffer_cap() {
    let _serial = serial();
    let limit = MIB;
    let config = Config {
        max_send_buffer_bytes: limit,
        max_send_queue_delay: None,
        ..Config::default()
    };
    let net = Net::sim(24);
    let mut pair = Pair::connected(&net, config.clone(), config);
    net.sim_net()
        .expect("sim")
        .set_address_down(pair.server_addr(), true);
    let before = live();
    let mut refused = None;
    for i in 0..1_000_000usize {
        if let Err(e) = pair.client.send(b"", Delivery::Reliable) {
            assert!(matches!(e, Error::QueueFull { .. }), "{e:?}");
            refused = Some(i);
            break;
        }
    }
    assert_eq!(
        refused,
        Some(limit / MESSAGE_OVERHEAD),
        "cap / per-message charge"
    );
    let growth = live() - before;
    eprintln!(
        "[caps] empty reliable messages, peer down, 1 MiB cap: refused after {refused:?}, \
         heap +{:.1} KiB",
        kib(growth)
    );
    assert!(
        refused.is_some(),
        "1,000,000 empty messages queued ({growth} B) under a 1 MiB cap"
    );
    assert!(growth < (2 * limit + 64 * KIB) as isize, "{growth} B");
}
