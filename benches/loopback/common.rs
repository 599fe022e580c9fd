//! What every workload shares: the 32-byte message layout of the shared
//! harness, the result line, histograms, the run context, and the small
//! adapter contract both lentil and plain UDP implement, so that one copy of
//! each workload loop measures both.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

pub const MSG_LEN: usize = 32;
const PAD: u8 = 0xA5;

/// A message before its fields are written: the harness's padding byte.
pub fn new_msg() -> [u8; MSG_LEN] {
    [PAD; MSG_LEN]
}

/// [0..8] sequence number LE, [8..16] send time (ns since the run's t0) LE.
pub fn encode(buf: &mut [u8; MSG_LEN], seq: u64, send_ns: u64) {
    buf[0..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..16].copy_from_slice(&send_ns.to_le_bytes());
}

pub fn decode(m: &[u8]) -> Option<(u64, u64)> {
    if m.len() != MSG_LEN {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(m[i..i + 8].try_into().expect("8 bytes"));
    Some((word(0), word(8)))
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The harness's check words, so stream/lossy messages are byte-identical to
/// the ones it sends and any altered byte or length is caught.
fn check_words(seq: u64, send_ns: u64) -> (u64, u64) {
    let a = mix(seq ^ 0x243F_6A88_85A3_08D3);
    let b = mix(a ^ send_ns);
    (b, mix(b ^ seq.rotate_left(29) ^ 0x1319_8A2E_0370_7344))
}

pub fn encode_checked(buf: &mut [u8; MSG_LEN], seq: u64, send_ns: u64) {
    encode(buf, seq, send_ns);
    let (b, c) = check_words(seq, send_ns);
    buf[16..24].copy_from_slice(&b.to_le_bytes());
    buf[24..32].copy_from_slice(&c.to_le_bytes());
}

pub fn decode_checked(m: &[u8]) -> Option<(u64, u64)> {
    let (seq, sent) = decode(m)?;
    let (b, c) = check_words(seq, sent);
    (m[16..24] == b.to_le_bytes() && m[24..32] == c.to_le_bytes()).then_some((seq, sent))
}

/// 1 ns to 120 s at 3 significant digits, as in the harness.
pub fn ns_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("histogram bounds")
}

pub fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.max(1));
}

/// Per-run limits and clock.
pub struct Ctx {
    /// Epoch of the send timestamps inside messages.
    pub t0: Instant,
    /// Every loop of the run gives up here, whatever the network does.
    pub deadline: Instant,
}

impl Ctx {
    pub fn new(limit: Duration) -> Ctx {
        let t0 = Instant::now();
        Ctx {
            t0,
            deadline: t0 + limit,
        }
    }

    pub fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.t0).as_nanos() as u64
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

/// One JSON result line, with the shared harness's field names. `None`
/// prints as null: not applicable or not measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub lib: String,
    pub workload: String,
    pub msgs: u64,
    pub secs: Option<f64>,
    pub msgs_per_sec: Option<f64>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p999_us: Option<f64>,
    pub delivered: u64,
    pub expected: u64,
    pub notes: Vec<String>,
    pub ok: Option<bool>,
    pub fail_kinds: Vec<String>,
    pub fail_reasons: Vec<String>,
    pub extra: Map<String, Value>,
}

impl RunResult {
    pub fn new(lib: &str, workload: &str) -> RunResult {
        RunResult {
            lib: lib.into(),
            workload: workload.into(),
            msgs: 0,
            secs: None,
            msgs_per_sec: None,
            p50_us: None,
            p99_us: None,
            p999_us: None,
            delivered: 0,
            expected: 0,
            notes: Vec::new(),
            ok: None,
            fail_kinds: Vec::new(),
            fail_reasons: Vec::new(),
            extra: Map::new(),
        }
    }

    pub fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }

    pub fn fail(&mut self, kind: &str, why: impl Into<String>) {
        self.ok = Some(false);
        if !self.fail_kinds.iter().any(|k| k == kind) {
            self.fail_kinds.push(kind.to_string());
        }
        self.fail_reasons.push(why.into());
    }

    pub fn set_extra(&mut self, key: &str, v: impl Into<Value>) {
        self.extra.insert(key.to_string(), v.into());
    }

    pub fn set_percentiles_ns(&mut self, h: &Histogram<u64>) {
        if h.is_empty() {
            return;
        }
        let us = |q: f64| Some(h.value_at_quantile(q) as f64 / 1e3);
        self.p50_us = us(0.50);
        self.p99_us = us(0.99);
        self.p999_us = us(0.999);
    }

    pub fn to_json(&self) -> String {
        let f = |x: Option<f64>| x.map_or(Value::Null, |v| json!(round3(v)));
        let mut v = json!({
            "lib": self.lib,
            "workload": self.workload,
            "msgs": self.msgs,
            "secs": f(self.secs),
            "msgs_per_sec": f(self.msgs_per_sec),
            "p50_us": f(self.p50_us),
            "p99_us": f(self.p99_us),
            "p999_us": f(self.p999_us),
            "delivered": self.delivered,
            "expected": self.expected,
            "notes": self.notes.join("; "),
            "ok": self.ok,
            "fail_kinds": self.fail_kinds,
            "fail_reason": if self.fail_reasons.is_empty() {
                Value::Null
            } else {
                json!(self.fail_reasons.join("; "))
            },
        });
        let obj = v.as_object_mut().expect("object");
        for (k, x) in &self.extra {
            obj.entry(k.clone()).or_insert_with(|| x.clone());
        }
        v.to_string()
    }
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Opaque id of a client as the server end sees it.
pub type PeerId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    ReliableOrdered,
    Unreliable,
}

pub enum SendError {
    /// Backpressure: the caller flushes, polls and retries.
    Full,
    /// The connection is unusable.
    Fatal(String),
}

/// Named counters an end exposes; summed over ends and printed in notes.
pub type Stats = Vec<(&'static str, u64)>;

/// The server side of one library, used on one thread; nothing blocks.
pub trait ServerEnd {
    fn local_addr(&self) -> SocketAddr;
    fn poll(&mut self);
    fn recv<F: FnMut(PeerId, &[u8])>(&mut self, f: F);
    fn try_send(&mut self, to: PeerId, d: Delivery, msg: &[u8]) -> Result<(), SendError>;
    fn flush(&mut self);
    /// `None` if the library has no notion of a connection.
    fn connected(&self) -> Option<usize>;
    fn stats(&self) -> Stats;
}

/// The client side of one library, used on one thread; nothing blocks.
pub trait ClientEnd {
    fn poll(&mut self);
    fn recv<F: FnMut(&[u8])>(&mut self, f: F);
    fn try_send(&mut self, d: Delivery, msg: &[u8]) -> Result<(), SendError>;
    fn flush(&mut self);
    fn is_connected(&self) -> bool;
    fn fatal(&self) -> Option<String>;
    fn stats(&self) -> Stats;
}

pub trait Lib: 'static {
    const NAME: &'static str;
    /// False for plain UDP: workloads then stop waiting for lost messages.
    const RELIABLE: bool;
    type Server: ServerEnd;
    type Client: ClientEnd;
    /// First entry of the notes.
    fn version() -> String;
    fn server(max_clients: usize) -> Result<Self::Server, String>;
    fn client(server_addr: SocketAddr) -> Result<Self::Client, String>;
    fn notes(workload: &str) -> Vec<String>;
}

/// Sums counters by name and renders the non-zero ones.
pub fn stats_note(
    prefix: &str,
    stats: impl IntoIterator<Item = (&'static str, u64)>,
) -> Option<String> {
    let mut sum: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (k, v) in stats {
        *sum.entry(k).or_default() += v;
    }
    let parts: Vec<String> = sum
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    (!parts.is_empty()).then(|| format!("{prefix}: {}", parts.join(" ")))
}
