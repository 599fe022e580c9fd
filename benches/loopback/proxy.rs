//! The shared harness's impairment proxy, reduced to what `lossy` uses: one
//! loopback socket between one client and the server, dropping, duplicating
//! and delaying each datagram by decisions drawn per direction, in arrival
//! order, from SplitMix64 streams seeded exactly like the harness's, so a seed
//! makes the same decisions here and there.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sys;

/// SplitMix64, as `harness/src/rng.rs`.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Draws nothing when `p` is 0, like the harness, so the streams stay aligned.
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.f64() < p
    }
}

#[derive(Clone, Debug)]
pub struct ImpairCfg {
    /// Per datagram, each direction.
    pub drop: f64,
    pub delay: Duration,
    /// Extra U[0, jitter) per datagram (may reorder).
    pub jitter: Duration,
    pub dup: f64,
    pub seed: u64,
}

impl ImpairCfg {
    /// The harness's `lossy` defaults.
    pub fn lossy(seed: u64) -> ImpairCfg {
        ImpairCfg {
            drop: 0.05,
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(2),
            dup: 0.0,
            seed,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "proxy: drop {:.1}%/dir, delay {:.1}ms + jitter U[0,{:.1})ms, dup {:.1}%, seed {}",
            self.drop * 100.0,
            self.delay.as_secs_f64() * 1e3,
            self.jitter.as_secs_f64() * 1e3,
            self.dup * 100.0,
            self.seed
        )
    }
}

#[derive(Clone, Debug, Default)]
pub struct ProxyStats {
    pub c2s_in: u64,
    pub c2s_dropped: u64,
    pub c2s_dup: u64,
    pub s2c_in: u64,
    pub s2c_dropped: u64,
    pub s2c_dup: u64,
    /// Released more than 1 ms after due: the proxy itself was late.
    pub late_over_1ms: u64,
    pub max_late_us: u64,
    pub send_errors: u64,
    pub kernel_drops: Option<u64>,
    pub sched: &'static str,
}

impl ProxyStats {
    pub fn describe(&self) -> String {
        format!(
            "proxy stats: c2s {} in/{} dropped/{} dup, s2c {} in/{} dropped/{} dup, released >1ms late: {}, max lateness {}us, send errors {}, proxy-socket kernel drops {}, proxy thread {}",
            self.c2s_in,
            self.c2s_dropped,
            self.c2s_dup,
            self.s2c_in,
            self.s2c_dropped,
            self.s2c_dup,
            self.late_over_1ms,
            self.max_late_us,
            self.send_errors,
            self.kernel_drops.map_or("?".to_string(), |d| d.to_string()),
            self.sched
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "c2s_in": self.c2s_in,
            "c2s_dropped": self.c2s_dropped,
            "c2s_dup": self.c2s_dup,
            "s2c_in": self.s2c_in,
            "s2c_dropped": self.s2c_dropped,
            "s2c_dup": self.s2c_dup,
            "late_over_1ms": self.late_over_1ms,
            "max_late_us": self.max_late_us,
            "send_errors": self.send_errors,
            "kernel_drops": self.kernel_drops,
        })
    }
}

/// Binds the proxy socket before the server exists, so its address is known.
/// 4 MiB buffers (capped by the kernel) keep the proxy from adding loss.
pub fn bind() -> std::io::Result<UdpSocket> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    sys::set_bufs(&s, 4 << 20);
    Ok(s)
}

pub struct Proxy {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<ProxyStats>>,
}

impl Proxy {
    pub fn start(sock: UdpSocket, server: SocketAddr, cfg: ImpairCfg) -> std::io::Result<Proxy> {
        let addr = sock.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("impair-proxy".into())
            .spawn(move || run(sock, server, cfg, stop2))?;
        Ok(Proxy {
            addr,
            stop,
            handle: Some(handle),
        })
    }

    pub fn stop(mut self) -> ProxyStats {
        self.halt()
    }

    fn halt(&mut self) -> ProxyStats {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Proxy {
    /// A run that unwinds still stops and joins the proxy thread.
    fn drop(&mut self) {
        self.halt();
    }
}

struct Pending {
    at: Instant,
    seq: u64,
    dest: SocketAddr,
    data: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

fn run(sock: UdpSocket, server: SocketAddr, cfg: ImpairCfg, stop: Arc<AtomicBool>) -> ProxyStats {
    let mut rng_c2s = Rng::new(cfg.seed.wrapping_mul(2).wrapping_add(1));
    let mut rng_s2c = Rng::new(cfg.seed.wrapping_mul(2).wrapping_add(2));
    let mut client: Option<SocketAddr> = None;
    let mut heap: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut st = ProxyStats {
        sched: sys::boost_thread(),
        ..ProxyStats::default()
    };
    let mut buf = vec![0u8; 65536];
    let _ = sock.set_nonblocking(true);
    // Longest sleep with nothing scheduled: bounds how late `stop` is seen.
    let idle = Duration::from_millis(2);
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while heap.peek().is_some_and(|p| p.0.at <= now) {
            let p = heap.pop().expect("peeked").0;
            let late = now.duration_since(p.at);
            if late > Duration::from_millis(1) {
                st.late_over_1ms += 1;
            }
            st.max_late_us = st.max_late_us.max(late.as_micros() as u64);
            if sock.send_to(&p.data, p.dest).is_err() {
                st.send_errors += 1;
            }
        }
        let wait = heap
            .peek()
            .map_or(idle, |p| p.0.at.saturating_duration_since(Instant::now()))
            .clamp(Duration::from_micros(20), idle);
        sys::wait_readable(&sock, wait);
        let Ok((n, src)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let now = Instant::now();
        let c2s = src != server;
        let (dest, rng, c_in, c_drop, c_dup) = if c2s {
            client = Some(src);
            (
                server,
                &mut rng_c2s,
                &mut st.c2s_in,
                &mut st.c2s_dropped,
                &mut st.c2s_dup,
            )
        } else {
            let Some(c) = client else { continue };
            (
                c,
                &mut rng_s2c,
                &mut st.s2c_in,
                &mut st.s2c_dropped,
                &mut st.s2c_dup,
            )
        };
        *c_in += 1;
        // The same draws per datagram whatever is decided, as in the harness.
        let drop = rng.chance(cfg.drop);
        let dup = rng.chance(cfg.dup);
        let j1 = rng.f64();
        let j2 = rng.f64();
        if drop {
            *c_drop += 1;
            continue;
        }
        let copies: &[f64] = if dup { &[j1, j2] } else { &[j1] };
        if dup {
            *c_dup += 1;
        }
        for &j in copies {
            seq += 1;
            heap.push(Reverse(Pending {
                at: now + cfg.delay + cfg.jitter.mul_f64(j),
                seq,
                dest,
                data: buf[..n].to_vec(),
            }));
        }
    }
    st.kernel_drops = sock
        .local_addr()
        .ok()
        .and_then(|a| sys::udp_drops(a.port()));
    st
}
