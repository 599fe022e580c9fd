//! RPC benchmark over loopback UDP: calls per second and call latency (from
//! `call` to the `Answered` event) with 1 and with 64 clients, each keeping
//! a fixed number of calls in flight, and the heap allocations per call in
//! steady state (a counting allocator wraps the system one).
//!
//! One thread updates the server and every client in a busy loop, so a
//! latency includes one pass over all the clients. The command carries a
//! `u64` each way.
//!
//! `cargo bench --bench rpc` (5 s per run); `cargo bench --bench rpc -- --quick`
//! (1 s per run, under 20 s in all).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lentil::rpc::{Command, RpcClient, RpcClientEvent, RpcConfig, RpcEvent, RpcServer};
use lentil::{Client, Config, Server};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

struct Echo;
impl Command for Echo {
    const NAME: &'static str = "bench.echo";
    type Args = u64;
    type Reply = u64;
    type Error = ();
}

/// Start times of calls in flight, by call id modulo the table's size
/// (larger than any window, so live calls never share a slot).
const SLOTS: usize = 1 << 12;

struct Caller {
    rpc: RpcClient,
    started: Vec<Option<Instant>>,
    in_flight: usize,
}

struct Figures {
    calls: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    allocations: u64,
}

fn run(clients: usize, window: usize, warmup: Duration, measure: Duration) -> Figures {
    let mut server = Server::new(Config::default());
    server.listen("127.0.0.1:0").expect("listen");
    let addr = server.local_addr().expect("listening");
    let mut server = RpcServer::new(server, RpcConfig::default()).expect("rpc config");
    server
        .respond::<Echo, _>(|_, _, n| Ok(n))
        .expect("one responder");
    let mut callers: Vec<Caller> = (0..clients)
        .map(|_| {
            let mut client = Client::new(Config::default());
            client.connect(addr).expect("connect");
            Caller {
                rpc: RpcClient::new(client, RpcConfig::default()).expect("rpc config"),
                started: vec![None; SLOTS],
                in_flight: 0,
            }
        })
        .collect();
    let connect_by = Instant::now() + Duration::from_secs(5);
    while server.server().peer_count() < clients
        || callers.iter().any(|c| !c.rpc.client().is_connected())
    {
        assert!(Instant::now() < connect_by, "clients did not connect");
        server.update(&mut ()).for_each(drop);
        for c in &mut callers {
            c.rpc.update(&mut ()).for_each(drop);
        }
    }
    // Room for every latency of the measured window, reserved before it.
    let mut latencies = Vec::with_capacity(4_000_000);
    let begin = Instant::now();
    let (mut measuring, mut calls, mut allocations_at) = (false, 0u64, 0u64);
    let mut measure_start = begin;
    loop {
        let now = Instant::now();
        if !measuring && now >= begin + warmup {
            measuring = true;
            measure_start = now;
            allocations_at = ALLOCATIONS.load(Ordering::Relaxed);
        }
        if measuring && now >= measure_start + measure {
            let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_at;
            return Figures {
                calls,
                elapsed: now - measure_start,
                latencies,
                allocations,
            };
        }
        for c in &mut callers {
            while c.in_flight < window {
                let call = c
                    .rpc
                    .call::<Echo>(&7, Duration::from_secs(5))
                    .expect("call");
                c.started[call.0 as usize % SLOTS] = Some(Instant::now());
                c.in_flight += 1;
            }
        }
        server.update(&mut ()).for_each(drop);
        for c in &mut callers {
            for event in c.rpc.update(&mut ()) {
                if let RpcClientEvent::Rpc(RpcEvent::Answered(answer)) = event {
                    assert_eq!(answer.decode::<Echo>(), Ok(7));
                    c.in_flight -= 1;
                    let started = c.started[answer.call.0 as usize % SLOTS].take();
                    if measuring && latencies.len() < latencies.capacity() {
                        latencies.push(started.expect("started").elapsed());
                        calls += 1;
                    }
                }
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (warmup, measure) = if quick {
        (Duration::from_millis(500), Duration::from_secs(1))
    } else {
        (Duration::from_secs(1), Duration::from_secs(5))
    };
    println!(
        "rpc over loopback UDP, one thread; {} s per run",
        measure.as_secs_f64()
    );
    for (clients, window) in [(1, 1), (1, 64), (64, 1), (64, 8)] {
        let mut f = run(clients, window, warmup, measure);
        f.latencies.sort_unstable();
        let rate = f.calls as f64 / f.elapsed.as_secs_f64();
        println!(
            "{clients:>2} client(s), {window:>2} in flight each: {:>9.0} calls/s, latency p50 {:>7.1} µs, p99 {:>7.1} µs; {} allocations over {} calls ({:.4} per call)",
            rate,
            percentile(&f.latencies, 0.50).as_secs_f64() * 1e6,
            percentile(&f.latencies, 0.99).as_secs_f64() * 1e6,
            f.allocations,
            f.calls,
            f.allocations as f64 / f.calls.max(1) as f64,
        );
    }
}
