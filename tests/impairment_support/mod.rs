//! Helpers shared by `tests/impairment.rs` and `tests/loopback_lossy.rs`:
//! self-checking payloads and a receiver-side tally of what arrived.
//!
//! A payload is its index (u32, big-endian) followed by bytes derived from the
//! index, so a corrupted, truncated or mixed-up message is caught, not counted.

#![allow(dead_code)]

use bytes::Bytes;

/// How long payloads are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// 4..=200 bytes, varying with the index.
    Varied,
    /// Exactly this many bytes (at least 4).
    Fixed(usize),
}

fn mix(i: u32) -> u64 {
    // splitmix64 finaliser: cheap, well spread.
    let mut z = u64::from(i).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The length of payload `i`.
pub fn payload_len(i: u32, size: Size) -> usize {
    match size {
        Size::Varied => 4 + (mix(i) % 197) as usize,
        Size::Fixed(n) => n.max(4),
    }
}

fn body_byte(i: u32, k: usize) -> u8 {
    let m = mix(i);
    (m.rotate_left((k % 64) as u32) as u8) ^ (k as u8).wrapping_mul(31)
}

/// Payload number `i`.
pub fn make_payload(i: u32, size: Size) -> Bytes {
    let len = payload_len(i, size);
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&i.to_be_bytes());
    v.extend((0..len - 4).map(|k| body_byte(i, k)));
    Bytes::from(v)
}

/// The index a payload carries, if every byte is what `make_payload` wrote.
pub fn verify_payload(p: &[u8], size: Size) -> Result<u32, String> {
    if p.len() < 4 {
        return Err(format!("payload of {} bytes has no index", p.len()));
    }
    let i = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
    let want = payload_len(i, size);
    if p.len() != want {
        return Err(format!("payload {i}: {} bytes, expected {want}", p.len()));
    }
    if let Some(k) = (0..want - 4).find(|&k| p[4 + k] != body_byte(i, k)) {
        return Err(format!("payload {i}: byte {} corrupted", 4 + k));
    }
    Ok(i)
}

/// What a receiver saw of a numbered stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages that arrived, duplicates included.
    pub arrivals: u64,
    /// Distinct indices that arrived.
    pub distinct: u32,
    /// Arrivals of an index already seen.
    pub dups: u64,
    /// Arrivals whose index is not one more than the previous arrival's.
    pub out_of_order: u64,
    /// Arrivals whose index is not greater than the previous arrival's.
    pub backwards: u64,
    /// Payloads that failed verification (or had an index out of range).
    pub corrupt: u64,
    /// The first few problems, for the failure message.
    pub first_problems: Vec<String>,
    seen: Vec<bool>,
    last: Option<u32>,
}

impl Tally {
    /// A tally for indices `0..count`.
    pub fn new(count: u32) -> Self {
        Tally {
            seen: vec![false; count as usize],
            ..Tally::default()
        }
    }

    fn note(&mut self, what: String) {
        if self.first_problems.len() < 8 {
            self.first_problems.push(what);
        }
    }

    /// Records one arriving payload.
    pub fn on_payload(&mut self, p: &[u8], size: Size) {
        self.arrivals += 1;
        let i = match verify_payload(p, size) {
            Ok(i) if (i as usize) < self.seen.len() => i,
            Ok(i) => {
                self.corrupt += 1;
                self.note(format!("index {i} out of range"));
                return;
            }
            Err(e) => {
                self.corrupt += 1;
                self.note(e);
                return;
            }
        };
        if self.seen[i as usize] {
            self.dups += 1;
            self.note(format!(
                "index {i} arrived twice (arrival #{})",
                self.arrivals
            ));
        } else {
            self.seen[i as usize] = true;
            self.distinct += 1;
        }
        let expected = self.last.map_or(0, |l| l.wrapping_add(1));
        if i != expected {
            self.out_of_order += 1;
        }
        if self.last.is_some_and(|l| i <= l) {
            self.backwards += 1;
        }
        self.last = Some(i);
    }

    /// Whether every index arrived.
    pub fn complete(&self) -> bool {
        self.distinct as usize == self.seen.len()
    }

    /// The highest index that arrived.
    pub fn max_seen(&self) -> Option<u32> {
        self.seen.iter().rposition(|s| *s).map(|i| i as u32)
    }

    /// The lowest index that has not arrived.
    pub fn first_missing(&self) -> Option<u32> {
        self.seen.iter().position(|s| !s).map(|i| i as u32)
    }
}

#[test]
fn payloads_round_trip_and_catch_corruption() {
    for size in [Size::Varied, Size::Fixed(4), Size::Fixed(1000)] {
        for i in [0u32, 1, 2, 255, 65_535, 65_536, 79_999, u32::MAX] {
            let p = make_payload(i, size);
            assert_eq!(verify_payload(&p, size), Ok(i));
            let mut bad = p.to_vec();
            if bad.len() > 4 {
                let last = bad.len() - 1;
                bad[last] ^= 1;
                assert!(verify_payload(&bad, size).is_err());
            }
            assert!(verify_payload(&p[..p.len() - 1], size).is_err());
        }
    }
    let lens: std::collections::HashSet<usize> =
        (0..2000).map(|i| payload_len(i, Size::Varied)).collect();
    assert!(lens.contains(&4) && lens.contains(&200) && lens.len() == 197);
}
