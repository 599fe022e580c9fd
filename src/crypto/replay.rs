//! A sliding window of packet numbers already accepted (RFC 6479's bitmap):
//! a number seen before, or older than the window, is refused. It holds a
//! fixed bitmap and never allocates per packet; it must be told about a
//! number only after that packet's tag checked out.

/// Packet numbers the window remembers behind the largest.
pub const REPLAY_WINDOW: u64 = 4096;
const WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// Replay window over 64-bit packet numbers.
#[derive(Clone)]
pub struct ReplayWindow {
    bits: [u64; WORDS],
    /// One more than the largest number accepted; 0 before any.
    next: u64,
}

impl std::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("next", &self.next)
            .finish()
    }
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            bits: [0; WORDS],
            next: 0,
        }
    }
}

impl ReplayWindow {
    /// One more than the largest number accepted (0 before any): the number
    /// packet-number reconstruction expects next.
    pub fn expected(&self) -> u64 {
        self.next
    }

    fn slot(pn: u64) -> (usize, u64) {
        (((pn / 64) as usize) % WORDS, 1 << (pn % 64))
    }

    /// Whether `pn` may be accepted: newer than the largest, or inside the
    /// window and not seen.
    pub fn check(&self, pn: u64) -> bool {
        if pn >= self.next {
            return true;
        }
        if self.next - pn > REPLAY_WINDOW - 64 {
            // Older than the window: the bits that held it hold newer ones.
            return false;
        }
        let (w, b) = Self::slot(pn);
        self.bits[w] & b == 0
    }

    /// Records `pn` as accepted; call only after [`check`](Self::check)
    /// passed and the packet authenticated.
    pub fn accept(&mut self, pn: u64) {
        if pn >= self.next {
            // Clear the words the window slides over, at most all of them.
            let old_word = self.next.div_ceil(64);
            let new_word = pn / 64;
            let mut w = old_word;
            while w <= new_word && w < old_word + WORDS as u64 {
                self.bits[(w as usize) % WORDS] = 0;
                w += 1;
            }
            self.next = pn + 1;
        }
        let (w, b) = Self::slot(pn);
        self.bits[w] |= b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_too_old_refused() {
        let mut w = ReplayWindow::default();
        for pn in [0u64, 1, 2, 5, 3] {
            assert!(w.check(pn));
            w.accept(pn);
        }
        for pn in [0u64, 1, 2, 3, 5] {
            assert!(!w.check(pn), "{pn} seen");
        }
        assert!(w.check(4));
        w.accept(10_000);
        assert!(!w.check(4), "far behind now");
        assert!(w.check(10_000 - 1000));
        assert!(w.check(10_001 - (REPLAY_WINDOW - 64)));
        assert!(!w.check(10_000 - (REPLAY_WINDOW - 64)));
        assert!(!w.check(10_000));
    }

    #[test]
    fn window_slides_without_forgetting_recent() {
        let mut w = ReplayWindow::default();
        for pn in (0..20_000u64).step_by(3) {
            assert!(w.check(pn));
            w.accept(pn);
            assert!(!w.check(pn));
            if pn >= 3000 {
                assert!(!w.check(pn - 3000), "inside the window, seen");
                assert!(w.check(pn - 2998), "inside the window, never sent");
            }
        }
    }

    #[test]
    fn at_least_1024_packets_reordered_are_taken() {
        let mut w = ReplayWindow::default();
        w.accept(5000);
        for pn in (5000 - 1024..5000).rev() {
            assert!(w.check(pn), "{pn}");
            w.accept(pn);
        }
    }
}
