//! Scale benchmark: one server with many connected idle clients on the
//! simulated network. Reports the server's `update()` cost per 16 ms tick once
//! the clients are idle, and the heap bytes each connection costs the server
//! (a counting allocator wraps the system one).
//!
//! `cargo bench -p lentil-bench --bench scale` (1,000 and 10,000 clients);
//! `cargo bench -p lentil-bench --bench scale -- --quick` (1,000 only).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use lentil::{Client, Config, Server, SimNetwork};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn run(clients: usize) {
    let net = SimNetwork::new(7);
    let clock = net.clock();
    let config = Config {
        max_clients: clients,
        ..Config::default()
    };
    let mut server = Server::sandbox(config.clone(), &net);
    server.listen("127.0.0.1:9000").expect("listen");
    // Clients connect in waves, as players arrive: every simulated client
    // shares one IP, and a server answers at most 1024 handshakes per second
    // per source IP by default. Server-side memory is the heap growth during
    // the server's own updates.
    let mut fleet: Vec<Client> = Vec::with_capacity(clients);
    let mut server_growth = 0isize;
    while fleet.len() < clients {
        let wave = (clients - fleet.len()).min(500);
        for _ in 0..wave {
            let mut c = Client::sandbox(config.clone(), &net);
            c.connect(("127.0.0.1", 9000)).expect("connect");
            fleet.push(c);
        }
        for _ in 0..1000 {
            let live = LIVE.load(Ordering::Relaxed);
            server.update();
            server_growth += LIVE.load(Ordering::Relaxed) - live;
            for c in fleet.iter_mut() {
                c.update();
            }
            clock.advance(Duration::from_millis(10));
            if server.peer_count() == fleet.len() {
                break;
            }
        }
    }
    assert_eq!(server.peer_count(), clients, "not every client connected");
    // Let handshake traffic settle, then measure idle ticks.
    for _ in 0..200 {
        server.update();
        for c in fleet.iter_mut() {
            c.update();
        }
        clock.advance(Duration::from_millis(5));
    }
    let mut costs = Vec::new();
    for _ in 0..300 {
        clock.advance(Duration::from_millis(16));
        let t = Instant::now();
        server.update();
        costs.push(t.elapsed());
        for c in fleet.iter_mut() {
            c.update();
        }
    }
    costs.sort_unstable();
    let p50 = costs[costs.len() / 2];
    let p99 = costs[costs.len() * 99 / 100];
    let per_conn = server_growth as f64 / clients as f64;
    println!(
        "{{\"bench\":\"scale\",\"clients\":{clients},\"server_update_p50_us\":{:.1},\"server_update_p99_us\":{:.1},\"server_heap_bytes_per_connection\":{per_conn:.0},\"connected\":{}}}",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        server.peer_count()
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    run(1_000);
    if !quick {
        run(10_000);
    }
}
