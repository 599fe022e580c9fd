//! Which packets have arrived from the peer: the source of the ack state, and
//! of packet-level deduplication and replay rejection.
//!
//! Packet numbers are 64-bit here, each rebuilt from the wire's 16 bits as
//! the one closest to the next expected. A ring of `HISTORY` bits indexed by
//! `number % HISTORY` remembers the newest `HISTORY` of them. A packet already
//! seen is a duplicate; one older than the history cannot be told from a
//! replay and is dropped whole, no frame of it applied (any reliable message
//! it carried is resent by its sender). This never decides what a packet's
//! frames mean; it only says whether the packet is new.

use super::seq::{reconstruct, seq_diff, seq_newer};

/// Packets remembered: enough for a congestion window sized for a long fat
/// path (see `congestion::MAX_WINDOW`) to stay inside it.
pub const HISTORY: usize = 4096;
const WORDS: usize = HISTORY / 64;

/// Why an arriving packet was not new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// Seen already.
    Duplicate,
    /// Older than the remembered history.
    TooOld,
    /// So far ahead that it is more likely a replay from before a wrap of the
    /// sequence numbers: an honest sender never runs this far ahead.
    TooFarAhead,
}

/// How far ahead of the newest packet a packet may be. A sender holds back
/// once 16384 of its packets go unacknowledged, so a jump of this much is a
/// replay from half the number space ago, not news.
pub const MAX_JUMP: i32 = 16_384;

/// Receive history of packet sequence numbers.
#[derive(Debug, Clone)]
pub struct ReceivedPackets {
    latest: Option<u64>,
    bits: [u64; WORDS],
}

impl Default for ReceivedPackets {
    fn default() -> Self {
        ReceivedPackets {
            latest: None,
            bits: [0; WORDS],
        }
    }
}

impl ReceivedPackets {
    fn bit(&self, seq: u16) -> bool {
        let i = seq as usize % HISTORY;
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, seq: u16, on: bool) {
        let i = seq as usize % HISTORY;
        if on {
            self.bits[i / 64] |= 1 << (i % 64);
        } else {
            self.bits[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Checks the packet whose wire number is `seq` without recording it;
    /// if it is new, returns its full number.
    pub fn check(&self, seq: u16) -> Result<u64, Stale> {
        let Some(latest) = self.latest else {
            return Ok(u64::from(seq));
        };
        let full = reconstruct(latest + 1, seq);
        if full > latest {
            if full - latest >= MAX_JUMP as u64 {
                return Err(Stale::TooFarAhead);
            }
            return Ok(full);
        }
        if latest - full >= HISTORY as u64 {
            return Err(Stale::TooOld);
        }
        if self.bit(seq) {
            return Err(Stale::Duplicate);
        }
        Ok(full)
    }

    /// Records the packet numbered `full`, which [`check`](Self::check) returned.
    pub fn record(&mut self, full: u64) {
        match self.latest {
            Some(latest) if full <= latest => {}
            Some(latest) => {
                let ahead = full - latest;
                if ahead >= HISTORY as u64 {
                    self.bits = [0; WORDS];
                } else {
                    for step in 1..=ahead {
                        self.set((latest + step) as u16, false);
                    }
                }
                self.latest = Some(full);
            }
            None => self.latest = Some(full),
        }
        self.set(full as u16, true);
    }

    /// The full number of the newest packet received.
    #[cfg(test)]
    pub fn latest(&self) -> Option<u64> {
        self.latest
    }

    /// The ack and ack bitfield to put on the next outgoing packet.
    pub fn ack_state(&self) -> (u16, u32) {
        match self.latest {
            Some(latest) => (latest as u16, self.bits_below(latest as u16)),
            None => (0, 0),
        }
    }

    /// The bitfield for an ack naming `seq`: which of the 32 packets before it
    /// arrived. Packets older than the history are left out: their ring slots
    /// now hold newer packets.
    pub fn bits_below(&self, seq: u16) -> u32 {
        // Every packet sends this, so the common case, all 32 slots inside
        // the history, reads them as one window instead of bit by bit.
        if (self.distance_behind(seq) as usize) + 32 < HISTORY {
            return self.window_below(seq);
        }
        let mut bits = 0u32;
        for i in 0..32u16 {
            let s = seq.wrapping_sub(1 + i);
            if (self.distance_behind(s) as usize) < HISTORY && self.bit(s) {
                bits |= 1 << i;
            }
        }
        bits
    }

    /// The ring bits of the 32 sequence numbers before `seq`, newest in bit 0.
    fn window_below(&self, seq: u16) -> u32 {
        // Bit j of the 32-bit run starting at `seq - 32` is `seq - 32 + j`,
        // which the bitfield wants in bit 31 - j.
        let start = usize::from(seq.wrapping_sub(32)) % HISTORY;
        let (word, offset) = (start / 64, start % 64);
        let mut run = self.bits[word] >> offset;
        if offset > 32 {
            run |= self.bits[(word + 1) % WORDS] << (64 - offset);
        }
        (run as u32).reverse_bits()
    }

    /// Whether `seq` is still inside the remembered history.
    pub fn in_history(&self, seq: u16) -> bool {
        (self.distance_behind(seq) as usize) < HISTORY
    }

    /// Whether `seq` is in the history and arrived.
    pub fn has(&self, seq: u16) -> bool {
        let latest = self.latest.map_or(seq, |l| l as u16);
        self.in_history(seq) && !seq_newer(seq, latest) && self.bit(seq)
    }

    /// How far `seq` (a wire number) is behind the newest packet received
    /// (0 if newer or none).
    pub fn distance_behind(&self, seq: u16) -> i32 {
        self.latest
            .map_or(0, |latest| seq_diff(latest as u16, seq).max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_and_dedup_across_the_wrap() {
        let mut r = ReceivedPackets::default();
        assert_eq!(r.ack_state(), (0, 0));
        let mut seq = 65_000u16;
        for _ in 0..(HISTORY + 1000) {
            let full = r.check(seq).expect("new");
            r.record(full);
            assert_eq!(r.check(seq), Err(Stale::Duplicate));
            seq = seq.wrapping_add(1);
        }
        let (ack, bits) = r.ack_state();
        assert_eq!(ack, seq.wrapping_sub(1));
        assert_eq!(bits, u32::MAX);
        assert_eq!(
            r.check(seq.wrapping_sub(HISTORY as u16 + 500)),
            Err(Stale::TooOld)
        );
    }

    #[test]
    fn gaps_show_in_the_bitfield_and_fill_late() {
        let mut r = ReceivedPackets::default();
        for s in [10u64, 11, 13, 14] {
            r.record(s);
        }
        let (ack, bits) = r.ack_state();
        assert_eq!(ack, 14);
        assert_eq!(bits & 0b111, 0b101); // 13 yes, 12 no, 11 yes
        assert_eq!(r.check(12), Ok(12));
        r.record(12);
        assert_eq!(r.ack_state(), (14, r.ack_state().1 | 0b10));
        assert_eq!(r.ack_state().1 & 0b111, 0b111);
    }

    #[test]
    fn a_jump_of_half_the_space_is_refused() {
        let mut r = ReceivedPackets::default();
        r.record(1);
        assert_eq!(r.check(1 + MAX_JUMP as u16), Err(Stale::TooFarAhead));
        assert_eq!(r.check(MAX_JUMP as u16), Ok(MAX_JUMP as u64));
    }

    /// A packet number is never judged by its low bits alone: after the
    /// 16-bit space wrapped 20 times, old and duplicate numbers are still
    /// told from new ones, and the full number keeps counting.
    #[test]
    fn full_numbers_count_past_many_wraps() {
        let mut r = ReceivedPackets::default();
        let end = 20u64 << 16;
        let mut full = 0u64;
        while full < end {
            // Pairs swapped, so every step is a reordering.
            for f in [full + 1, full] {
                assert_eq!(r.check(f as u16), Ok(f));
                r.record(f);
                assert_eq!(r.check(f as u16), Err(Stale::Duplicate));
            }
            full += 2;
        }
        assert_eq!(r.latest(), Some(end - 1));
        assert_eq!(
            r.check((end - 1 - HISTORY as u64) as u16),
            Err(Stale::TooOld)
        );
        assert_eq!(r.check(end as u16), Ok(end));
    }

    #[test]
    fn big_jump_clears_history() {
        let mut r = ReceivedPackets::default();
        r.record(1);
        r.record(1 + HISTORY as u64 + 100);
        assert_eq!(r.ack_state(), (1 + HISTORY as u16 + 100, 0));
        assert_eq!(r.check(1), Err(Stale::TooOld));
    }

    /// The bitfield read as one window matches the slot-by-slot reading,
    /// across word boundaries and the wrap of the sequence numbers.
    #[test]
    fn the_window_matches_the_slot_by_slot_bitfield() {
        let slow = |r: &ReceivedPackets, seq: u16| {
            (0..32u16).fold(0u32, |bits, i| {
                let s = seq.wrapping_sub(1 + i);
                let inside = (r.distance_behind(s) as usize) < HISTORY;
                bits | (u32::from(inside && r.bit(s)) << i)
            })
        };
        let mut r = ReceivedPackets::default();
        let mut full = 65_000u64;
        let mut x = 0x2545_f491_u32;
        for _ in 0..3 * HISTORY {
            // xorshift: a reproducible pattern of gaps of 1 to 4.
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            full += 1 + u64::from(x % 4);
            let seq = full as u16;
            r.record(full);
            assert_eq!(r.ack_state().1, slow(&r, seq), "ack {seq}");
            let older = seq.wrapping_sub((x % 200) as u16);
            assert_eq!(r.bits_below(older), slow(&r, older), "bits below {older}");
        }
    }

    #[test]
    fn bits_below_never_report_packets_past_the_history() {
        let mut r = ReceivedPackets::default();
        let last = HISTORY as u64 + 75;
        for s in 0..=last {
            r.record(s);
        }
        // last - (HISTORY - 1) = 76 is the oldest remembered; below it nothing may show.
        assert_eq!(r.bits_below(80), 0b1111);
        assert_eq!(r.bits_below(77), 0b1);
        assert_eq!(r.bits_below(70), 0);
    }
}
