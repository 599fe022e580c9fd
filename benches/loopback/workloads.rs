//! The four workloads of the shared harness (`harness/src/workloads.rs`),
//! written once against [`Lib`] so lentil and plain UDP run the same loops:
//! server on its own thread, client(s) on the calling thread, each in a tight
//! `poll -> recv -> send -> flush` loop that yields when an iteration did
//! nothing. Every loop stops at the run's deadline, and every thread started
//! here is joined before the function returns.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::proxy::{self, ImpairCfg, Proxy};
use crate::sys;

/// Sets the flag when dropped, also while a panic unwinds, so the other side
/// of a run never waits for a party that is gone.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

type ServerThread<R> = JoinHandle<(R, Stats)>;

/// Builds the server on its own thread (its socket lives there) and returns
/// its address once it is listening.
fn spawn_server<L: Lib, R: Send + 'static>(
    max_clients: usize,
    body: impl FnOnce(&mut L::Server) -> R + Send + 'static,
) -> Result<(SocketAddr, ServerThread<R>), String> {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name("server".into())
        .spawn(move || {
            let mut s = match L::server(max_clients) {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e.clone()));
                    panic!("server construction failed: {e}");
                }
            };
            let addr = s.local_addr();
            let _ = tx.send(Ok(addr));
            let r = body(&mut s);
            let mut st = s.stats();
            // Datagrams the kernel dropped because the server did not read in time.
            if let Some(d) = sys::udp_drops(addr.port()) {
                st.push(("server_socket_kernel_drops", d));
            }
            (r, st)
        })
        .map_err(|e| e.to_string())?;
    match rx.recv() {
        Ok(Ok(addr)) => Ok((addr, handle)),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err("server thread died before listening".into())
        }
    }
}

/// Polls a client until it may send; gives up when `stop` is set, the
/// connection dies, or the deadline passes.
fn connect<C: ClientEnd>(ctx: &Ctx, c: &mut C, stop: &AtomicBool) -> Result<Duration, String> {
    let start = Instant::now();
    while !c.is_connected() {
        if stop.load(Ordering::Relaxed) {
            return Err("server side ended before the client connected".into());
        }
        if let Some(e) = c.fatal() {
            return Err(format!("connect failed: {e}"));
        }
        if ctx.expired() {
            return Err("connect did not finish before the deadline".into());
        }
        c.poll();
        c.recv(|_| {});
        c.flush();
        thread::yield_now();
    }
    Ok(start.elapsed())
}

// --------------------------------------------------------------------------
// stream (W1) and lossy (W3)
// --------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Exit {
    /// All n delivered (then the linger).
    Complete,
    /// Unreliable transport: client done and nothing new for 300 ms.
    Quiet,
    Deadline,
    /// The client gave up; its error says why.
    Aborted,
}

struct StreamOut {
    delivered: u64,
    received: u64,
    dups: u64,
    out_of_order: u64,
    corrupt: u64,
    max_seq: Option<u64>,
    server_lost_client: u64,
    exit: Exit,
    last_new: Option<Instant>,
    done_at: Option<Instant>,
    lat: hdrhistogram::Histogram<u64>,
    first_violations: Vec<String>,
}

impl StreamOut {
    fn violation(&mut self, v: String) {
        if self.first_violations.len() < 6 {
            self.first_violations.push(v);
        }
    }
}

/// The client pushes `n` checked messages on reliable-ordered as fast as the
/// library takes them; the server classifies every delivery (corrupt, dup,
/// out of order, good). `secs` runs from the first accepted send to the n-th
/// distinct delivery, latency from `try_send` to receipt. With `impair`, all
/// traffic crosses the impairment proxy.
pub fn stream<L: Lib>(
    ctx: &Ctx,
    name: &str,
    n: u64,
    impair: Option<ImpairCfg>,
    linger: Duration,
) -> RunResult {
    let mut r = RunResult::new(L::NAME, name);
    r.msgs = n;
    r.expected = n;

    let proxy_sock = match impair.as_ref().map(|_| proxy::bind()).transpose() {
        Ok(s) => s,
        Err(e) => {
            r.fail("setup", format!("proxy bind failed: {e}"));
            return r;
        }
    };

    let done = Arc::new(AtomicBool::new(false));
    let client_finished = Arc::new(AtomicBool::new(false));
    let (t0, deadline) = (ctx.t0, ctx.deadline);
    let reliable = L::RELIABLE;
    let (done_s, cf_s) = (done.clone(), client_finished.clone());
    let spawned = spawn_server::<L, _>(1, move |s| {
        let _stop_client = SetOnDrop(done_s.clone());
        let mut o = StreamOut {
            delivered: 0,
            received: 0,
            dups: 0,
            out_of_order: 0,
            corrupt: 0,
            max_seq: None,
            server_lost_client: 0,
            exit: Exit::Deadline,
            last_new: None,
            done_at: None,
            lat: ns_histogram(),
            first_violations: Vec::new(),
        };
        let mut seen = vec![0u64; (n as usize).div_ceil(64)];
        let (mut peak_conn, mut lost_now) = (0usize, false);
        let mut finished_seen: Option<Instant> = None;
        let mut last_progress = Instant::now();
        loop {
            let now = Instant::now();
            if let Some(d) = o.done_at {
                if now >= d + linger || done_s.load(Ordering::Relaxed) {
                    o.exit = Exit::Complete;
                    break;
                }
            } else if now >= deadline {
                o.exit = Exit::Deadline;
                break;
            } else if done_s.load(Ordering::Relaxed) {
                o.exit = Exit::Aborted;
                break;
            }
            s.poll();
            if o.done_at.is_none() {
                if let Some(c) = s.connected() {
                    if c == 0 && peak_conn > 0 && !lost_now {
                        o.server_lost_client += 1;
                        lost_now = true;
                        let v = format!("server lost the client after {} delivered", o.delivered);
                        o.violation(v);
                    }
                    lost_now &= c == 0;
                    peak_conn = peak_conn.max(c);
                }
            }
            let t = Instant::now();
            let t_ns = t.saturating_duration_since(t0).as_nanos() as u64;
            let mut got = 0u64;
            let before = o.delivered;
            s.recv(|_peer, m| {
                got += 1;
                o.received += 1;
                let Some((seq, sent_ns)) = decode_checked(m).filter(|(seq, _)| *seq < n) else {
                    o.corrupt += 1;
                    o.violation(format!("corrupt: {} bytes", m.len()));
                    return;
                };
                let (w, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
                if seen[w] & bit != 0 {
                    o.dups += 1;
                    o.violation(format!("dup {seq}"));
                    return;
                }
                seen[w] |= bit;
                o.delivered += 1;
                if let Some(mx) = o.max_seq.filter(|mx| seq < *mx) {
                    o.out_of_order += 1;
                    o.violation(format!("late {seq} after {mx}"));
                }
                o.max_seq = Some(o.max_seq.map_or(seq, |mx| mx.max(seq)));
                record(&mut o.lat, t_ns.saturating_sub(sent_ns));
            });
            s.flush();
            if o.delivered > before {
                last_progress = t;
                o.last_new = Some(t);
            }
            if o.done_at.is_none() {
                if o.delivered >= n {
                    o.done_at = Some(t);
                    if !reliable {
                        o.exit = Exit::Complete;
                        break;
                    }
                    continue;
                }
                if !reliable && cf_s.load(Ordering::Relaxed) {
                    let f = *finished_seen.get_or_insert(t);
                    if t.duration_since(last_progress.max(f)) > Duration::from_millis(300) {
                        o.exit = Exit::Quiet;
                        break;
                    }
                }
            }
            if got == 0 {
                thread::yield_now();
            }
        }
        o
    });
    let (server_addr, server) = match spawned {
        Ok(x) => x,
        Err(e) => {
            r.fail("setup", format!("server setup failed: {e}"));
            return r;
        }
    };
    let proxy = match proxy_sock.map(|s| Proxy::start(s, server_addr, impair.clone().expect("set")))
    {
        Some(Err(e)) => {
            done.store(true, Ordering::SeqCst);
            let _ = server.join();
            r.fail("setup", format!("proxy start failed: {e}"));
            return r;
        }
        p => p.map(|p| p.expect("checked")),
    };
    let target = proxy.as_ref().map_or(server_addr, |p| p.addr);

    let mut client_stats = Vec::new();
    let mut first_send: Option<Instant> = None;
    let (mut sent, mut full) = (0u64, 0u64);
    let client_run = (|| -> Result<(), (&'static str, String)> {
        let _stop_server = SetOnDrop(done.clone());
        let mut c = L::client(target).map_err(|e| ("setup", e))?;
        let res = (|| {
            let ct = connect(ctx, &mut c, &done).map_err(|e| ("disconnected", e))?;
            r.note(format!("connect {:.1}ms", ct.as_secs_f64() * 1e3));
            let mut msg = new_msg();
            loop {
                if done.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if ctx.expired() {
                    return Err(("deadline", "deadline reached before completion".to_string()));
                }
                c.poll();
                c.recv(|_| {});
                let mut did = 0u64;
                while sent < n {
                    let t = Instant::now();
                    encode_checked(&mut msg, sent, ctx.ns(t));
                    match c.try_send(Delivery::ReliableOrdered, &msg) {
                        Ok(()) => {
                            first_send.get_or_insert(t);
                            sent += 1;
                            did += 1;
                        }
                        Err(SendError::Full) => {
                            full += 1;
                            break;
                        }
                        Err(SendError::Fatal(e)) => {
                            return Err(("disconnected", format!("send failed after {sent}: {e}")))
                        }
                    }
                }
                if sent == n {
                    client_finished.store(true, Ordering::SeqCst);
                }
                c.flush();
                if let Some(e) = c.fatal() {
                    // Dead after the server already has everything: not a failure.
                    if done.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    return Err((
                        "disconnected",
                        format!("connection died after {sent} sent: {e}"),
                    ));
                }
                if did == 0 {
                    thread::yield_now();
                }
            }
        })();
        client_stats = c.stats();
        res
    })();
    done.store(true, Ordering::SeqCst);
    let joined = server.join();
    if let Some(p) = proxy {
        let ps = p.stop();
        r.note(impair.as_ref().expect("set").describe());
        r.note(ps.describe());
        r.set_extra("proxy", ps.to_json());
    }
    if let Err((_, e)) = &client_run {
        r.note(format!("CLIENT: {e}"));
    }
    let (o, server_stats) = match joined {
        Ok(x) => x,
        Err(_) => {
            r.fail("server_panic", "server thread panicked");
            return r;
        }
    };
    r.delivered = o.delivered;
    let end = o.done_at.or(o.last_new);
    if let (Some(f), Some(e)) = (first_send, end) {
        let secs = e.saturating_duration_since(f).as_secs_f64();
        r.secs = Some(secs);
        if secs > 0.0 {
            r.msgs_per_sec = Some(o.delivered as f64 / secs);
        }
    }
    r.set_percentiles_ns(&o.lat);
    r.note("p50/p99/p999 = per-message latency from try_send to receipt");
    if o.done_at.is_none() {
        r.note(format!(
            "INCOMPLETE: server saw {} of {n} (client sent {sent})",
            o.delivered
        ));
    }
    let missing = n - o.delivered;
    let skipped = o.max_seq.map_or(0, |mx| mx + 1 - o.delivered);
    if o.dups > 0 || o.out_of_order > 0 || o.corrupt > 0 || skipped > 0 {
        r.note(format!(
            "order check: {} dup, {} out-of-order, {} corrupt, {skipped} skipped; first: {}",
            o.dups,
            o.out_of_order,
            o.corrupt,
            o.first_violations.join(", ")
        ));
    } else if o.delivered > 0 {
        r.note("order check OK");
    }
    if linger > Duration::ZERO && o.exit == Exit::Complete && reliable {
        r.note(format!(
            "kept receiving {:.0}ms after completion",
            linger.as_secs_f64() * 1e3
        ));
    }
    r.note(format!("client try_send Full {full} times"));
    if let Some(s) = stats_note("client lib stats", client_stats) {
        r.note(s);
    }
    if let Some(s) = stats_note("server lib stats", server_stats) {
        r.note(s);
    }
    if o.exit == Exit::Deadline {
        r.fail(
            "deadline",
            format!("deadline reached with {}/{n} delivered", o.delivered),
        );
    }
    if let Err((kind, e)) = client_run {
        if o.exit != Exit::Complete {
            r.fail(kind, format!("client: {e}"));
        }
    }
    if o.server_lost_client > 0 {
        r.fail(
            "disconnected",
            "server's connected() fell to 0 before completion",
        );
    }
    for (kind, count) in [
        ("dups", o.dups),
        ("out_of_order", o.out_of_order),
        ("corrupt", o.corrupt),
        ("skipped", skipped),
        ("missing", missing),
    ] {
        if count > 0 {
            r.fail(kind, format!("{count} {kind}"));
        }
    }
    if r.ok.is_none() {
        r.ok = Some(true);
    }
    r.set_extra("received", o.received);
    r.set_extra("dups", o.dups);
    r.set_extra("out_of_order", o.out_of_order);
    r.set_extra("corrupt", o.corrupt);
    r.set_extra("missing", missing);
    r.set_extra("skipped", skipped);
    r
}

// --------------------------------------------------------------------------
// pingpong (W2)
// --------------------------------------------------------------------------

/// `n` sequential round trips of one 32-byte reliable-ordered message; the
/// server echoes each on receipt. p* = RTT, msgs_per_sec = round trips/s.
pub fn pingpong<L: Lib>(ctx: &Ctx, n: u64) -> RunResult {
    let mut r = RunResult::new(L::NAME, "pingpong");
    r.msgs = n;
    r.expected = n;
    let done = Arc::new(AtomicBool::new(false));
    let deadline = ctx.deadline;
    let done_s = done.clone();
    let spawned = spawn_server::<L, _>(1, move |s| {
        let mut pending: Vec<(PeerId, Vec<u8>)> = Vec::new();
        let (mut echoed, mut full, mut fatal) = (0u64, 0u64, None);
        while !done_s.load(Ordering::Relaxed) && Instant::now() < deadline {
            s.poll();
            let before = pending.len();
            s.recv(|p, m| pending.push((p, m.to_vec())));
            let got = pending.len() - before;
            let mut i = 0;
            while i < pending.len() {
                match s.try_send(pending[i].0, Delivery::ReliableOrdered, &pending[i].1) {
                    Ok(()) => {
                        echoed += 1;
                        i += 1;
                    }
                    Err(SendError::Full) => {
                        full += 1;
                        break;
                    }
                    Err(SendError::Fatal(e)) => {
                        fatal = Some(e);
                        i += 1;
                    }
                }
            }
            pending.drain(..i);
            s.flush();
            if got == 0 {
                thread::yield_now();
            }
        }
        (echoed, full, fatal)
    });
    let (server_addr, server) = match spawned {
        Ok(x) => x,
        Err(e) => {
            r.fail("setup", format!("server setup failed: {e}"));
            return r;
        }
    };
    let mut hist = ns_histogram();
    let (mut completed, mut lost) = (0u64, 0u64);
    let mut client_stats = Vec::new();
    let (mut t_start, mut t_end) = (None, None);
    let res = (|| -> Result<(), String> {
        let _stop_server = SetOnDrop(done.clone());
        let mut c = L::client(server_addr)?;
        let res = (|| {
            let ct = connect(ctx, &mut c, &done)?;
            r.note(format!("connect {:.1}ms", ct.as_secs_f64() * 1e3));
            let mut msg = new_msg();
            t_start = Some(Instant::now());
            for seq in 0..n {
                let t_send = Instant::now();
                encode(&mut msg, seq, ctx.ns(t_send));
                loop {
                    match c.try_send(Delivery::ReliableOrdered, &msg) {
                        Ok(()) => break,
                        Err(SendError::Full) => {
                            c.flush();
                            c.poll();
                            c.recv(|_| {});
                        }
                        Err(SendError::Fatal(e)) => {
                            return Err(format!("send failed at ping {seq}: {e}"))
                        }
                    }
                    if ctx.expired() {
                        return Err(format!("deadline at ping {seq}"));
                    }
                }
                c.flush();
                let mut got: Option<Instant> = None;
                loop {
                    let now = Instant::now();
                    c.poll();
                    c.recv(|m| {
                        if got.is_none() && decode(m).is_some_and(|(s, _)| s == seq) {
                            got = Some(Instant::now());
                        }
                    });
                    if let Some(t) = got {
                        record(&mut hist, t.duration_since(t_send).as_nanos() as u64);
                        completed += 1;
                        break;
                    }
                    if let Some(e) = c.fatal() {
                        return Err(format!("connection died at ping {seq}: {e}"));
                    }
                    if now >= ctx.deadline {
                        return Err(format!("deadline at ping {seq}"));
                    }
                    if !L::RELIABLE && now.duration_since(t_send) > Duration::from_secs(1) {
                        lost += 1;
                        break;
                    }
                    c.flush();
                    thread::yield_now();
                }
            }
            t_end = Some(Instant::now());
            Ok(())
        })();
        client_stats = c.stats();
        res
    })();
    if let Err(e) = &res {
        r.note(format!("CLIENT: {e}"));
    }
    done.store(true, Ordering::SeqCst);
    let ((echoed, sfull, sfatal), server_stats) = match server.join() {
        Ok(x) => x,
        Err(_) => {
            r.fail("server_panic", "server thread panicked");
            return r;
        }
    };
    r.delivered = completed;
    if let Some(ts) = t_start {
        let secs = t_end
            .unwrap_or_else(Instant::now)
            .duration_since(ts)
            .as_secs_f64();
        r.secs = Some(secs);
        r.msgs_per_sec = Some(completed as f64 / secs);
    }
    r.set_percentiles_ns(&hist);
    r.note("msgs_per_sec = round trips/s; p* = RTT");
    if lost > 0 {
        r.note(format!(
            "{lost} pings got no echo within 1s (unreliable transport) and were skipped"
        ));
    }
    r.note(format!(
        "server echoed {echoed}, echo try_send Full {sfull} times"
    ));
    if let Some(e) = sfatal {
        r.note(format!("server send error: {e}"));
    }
    if let Some(s) = stats_note("client lib stats", client_stats) {
        r.note(s);
    }
    if let Some(s) = stats_note("server lib stats", server_stats) {
        r.note(s);
    }
    if let Err(e) = res {
        r.fail(
            if e.contains("deadline") {
                "deadline"
            } else {
                "disconnected"
            },
            e,
        );
    }
    r
}

// --------------------------------------------------------------------------
// fanin (W4)
// --------------------------------------------------------------------------

/// `clients` clients (a socket each, all driven from this thread) each send
/// one 32-byte unreliable message per `tick` for `dur`, after `warmup` of the
/// same traffic unmeasured. The server ticks at the same rate; p* is its
/// thread's CPU time per tick (poll + receive + flush).
pub fn fanin<L: Lib>(
    ctx: &Ctx,
    clients: usize,
    tick: Duration,
    dur: Duration,
    warmup: Duration,
) -> RunResult {
    let mut r = RunResult::new(L::NAME, "fanin");
    let ticks = (dur.as_secs_f64() / tick.as_secs_f64()).round() as u64;
    r.msgs = ticks * clients as u64;
    let cpu_clock = sys::thread_cpu_ns().is_some();
    let t0 = ctx.t0;
    // Falls back to wall time where the thread CPU clock is missing.
    let cpu_now = move || sys::thread_cpu_ns().unwrap_or_else(|| t0.elapsed().as_nanos() as u64);

    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let connected = Arc::new(AtomicUsize::new(usize::MAX));
    let (m_s, stop_s, conn_s) = (measuring.clone(), stop.clone(), connected.clone());
    let deadline = ctx.deadline;
    let spawned = spawn_server::<L, _>(clients, move |s| {
        let mut cpu = ns_histogram();
        let (mut received, mut warm, mut bad, mut overruns, mut measured_ticks) =
            (0u64, 0u64, 0u64, 0u64, 0u64);
        let mut next = Instant::now();
        while !stop_s.load(Ordering::Relaxed) && Instant::now() < deadline {
            let c0 = cpu_now();
            s.poll();
            s.recv(|_, m| {
                if m.len() != MSG_LEN {
                    bad += 1;
                } else if m[16] == 1 {
                    received += 1;
                } else {
                    warm += 1;
                }
            });
            s.flush();
            let c1 = cpu_now();
            if m_s.load(Ordering::Relaxed) {
                record(&mut cpu, c1.saturating_sub(c0));
                measured_ticks += 1;
            }
            conn_s.store(s.connected().unwrap_or(usize::MAX), Ordering::Relaxed);
            next += tick;
            let now = Instant::now();
            if next > now {
                thread::sleep(next - now);
            } else {
                overruns += 1;
                next = now;
            }
        }
        (cpu, received, bad, overruns, measured_ticks, warm)
    });
    let (server_addr, server) = match spawned {
        Ok(x) => x,
        Err(e) => {
            r.fail("setup", format!("server setup failed: {e}"));
            return r;
        }
    };

    let (mut expected, mut sent_ok, mut full, mut fatal) = (0u64, 0u64, 0u64, 0u64);
    let mut client_overruns = 0u64;
    let mut secs = None;
    let mut client_cpu = ns_histogram();
    let mut all_stats = Vec::new();
    let res = (|| -> Result<(), String> {
        let _stop_server = SetOnDrop(stop.clone());
        let mut cs = Vec::with_capacity(clients);
        for i in 0..clients {
            cs.push(
                L::client(server_addr).map_err(|e| format!("creating client {i} failed: {e}"))?,
            );
        }
        // Everyone ticks at the game rate until connected, as a game would.
        let t_conn = Instant::now();
        let mut next = Instant::now();
        loop {
            for c in cs.iter_mut() {
                c.poll();
                c.recv(|_| {});
                c.flush();
            }
            let n_conn = cs.iter().filter(|c| c.is_connected()).count();
            let srv = connected.load(Ordering::Relaxed);
            if n_conn == clients && (srv == usize::MAX || srv >= clients) {
                break;
            }
            if t_conn.elapsed() > Duration::from_secs(10) || ctx.expired() {
                let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
                for c in cs.iter().filter(|c| !c.is_connected()) {
                    let why = c.fatal().unwrap_or_else(|| "still connecting".into());
                    *reasons.entry(why).or_default() += 1;
                }
                let msg = format!(
                    "only {n_conn}/{clients} clients connected after {:.1}s; unconnected: {reasons:?}",
                    t_conn.elapsed().as_secs_f64()
                );
                if n_conn == 0 {
                    return Err(msg);
                }
                r.note(format!(
                    "{msg}; PROCEEDING WITH THE {n_conn} CONNECTED CLIENTS"
                ));
                cs.retain(|c| c.is_connected());
                break;
            }
            next += tick;
            let now = Instant::now();
            if next > now {
                thread::sleep(next - now);
            } else {
                next = now;
            }
        }
        if cs.len() == clients {
            r.note(format!(
                "all {clients} connected in {:.0}ms",
                t_conn.elapsed().as_secs_f64() * 1e3
            ));
        }
        let mut msg = new_msg();
        let warm_ticks = (warmup.as_secs_f64() / tick.as_secs_f64()).round() as u64;
        let mut t_start = Instant::now();
        let mut next = t_start;
        // Phase 0 warms up (lazy per-peer setup happens here), phase 1 counts.
        for (phase, n_ticks) in [(0u8, warm_ticks), (1u8, ticks)] {
            if phase == 1 {
                measuring.store(true, Ordering::SeqCst);
                t_start = Instant::now();
                next = t_start;
            }
            msg[16] = phase;
            for t in 0..n_ticks {
                let c0 = cpu_now();
                for (i, c) in cs.iter_mut().enumerate() {
                    c.poll();
                    c.recv(|_| {});
                    encode(&mut msg, i as u64, t);
                    if phase == 1 {
                        expected += 1;
                    }
                    match c.try_send(Delivery::Unreliable, &msg) {
                        Ok(()) => sent_ok += phase as u64,
                        Err(SendError::Full) => full += phase as u64,
                        Err(SendError::Fatal(_)) => fatal += phase as u64,
                    }
                    c.flush();
                }
                if phase == 1 {
                    record(&mut client_cpu, cpu_now().saturating_sub(c0));
                }
                if ctx.expired() {
                    return Err(format!("deadline during tick {t} of phase {phase}"));
                }
                next += tick;
                let now = Instant::now();
                if next > now {
                    thread::sleep(next - now);
                } else {
                    client_overruns += phase as u64;
                    next = now;
                }
            }
        }
        measuring.store(false, Ordering::SeqCst);
        secs = Some(t_start.elapsed().as_secs_f64());
        // Let in-flight datagrams land; clients keep ticking without new messages.
        let drain_end = Instant::now() + Duration::from_millis(300);
        while Instant::now() < drain_end {
            for c in cs.iter_mut() {
                c.poll();
                c.recv(|_| {});
                c.flush();
            }
            thread::sleep(tick);
        }
        for c in &cs {
            all_stats.extend(c.stats());
        }
        Ok(())
    })();
    if let Err(e) = &res {
        r.note(format!("CLIENTS: {e}"));
    }
    measuring.store(false, Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    let ((cpu, received, bad, s_overruns, measured_ticks, warm_rx), server_stats) =
        match server.join() {
            Ok(x) => x,
            Err(_) => {
                r.fail("server_panic", "server thread panicked");
                return r;
            }
        };
    r.expected = expected;
    r.delivered = received;
    r.secs = secs;
    if let Some(s) = secs {
        r.msgs_per_sec = Some(received as f64 / s);
    }
    r.set_percentiles_ns(&cpu);
    r.note(format!(
        "p* = server thread {} per {:.0}ms tick ({measured_ticks} ticks measured, after {:.1}s unmeasured warm-up: {warm_rx} msgs); {} clients planned x {ticks} ticks",
        if cpu_clock { "CPU time" } else { "WALL time (no thread CPU clock here)" },
        tick.as_secs_f64() * 1e3,
        warmup.as_secs_f64(),
        clients,
    ));
    if !client_cpu.is_empty() {
        r.note(format!(
            "client thread CPU per tick (all {clients} clients) p50 {:.0}us p99 {:.0}us",
            client_cpu.value_at_quantile(0.5) as f64 / 1e3,
            client_cpu.value_at_quantile(0.99) as f64 / 1e3
        ));
    }
    if full > 0 || fatal > 0 {
        r.note(format!(
            "client try_send: {sent_ok} ok, {full} Full, {fatal} fatal"
        ));
    }
    if bad > 0 {
        r.note(format!("{bad} malformed messages at server"));
    }
    if client_overruns > 0 || s_overruns > 0 {
        r.note(format!(
            "tick overruns: clients {client_overruns} (measured phase), server {s_overruns} (whole run)"
        ));
    }
    if let Some(s) = stats_note("client lib stats (sum)", all_stats) {
        r.note(s);
    }
    if let Some(s) = stats_note("server lib stats", server_stats) {
        r.note(s);
    }
    if let Err(e) = res {
        r.fail(
            if e.contains("deadline") {
                "deadline"
            } else {
                "setup"
            },
            e,
        );
    }
    r
}
