//! Sequence numbers and message ids: 16 bits on the wire, 64 bits inside.
//!
//! On the wire they wrap at 65 536; `a` is newer than `b` when it lies less
//! than half the number space ahead of it (RFC 1982 serial number arithmetic).
//! Inside, every receiver keeps full 64-bit numbers, which never wrap, and
//! rebuilds each arriving one from its low 16 bits as the full number closest
//! to the one it expects next (RFC 9000, appendix A.3). Nothing here may
//! compare two full numbers by their low bits: that is what lets an id from
//! before a wrap pass as a new one.

/// Whether `a` is newer than `b`.
#[inline]
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

/// How far `a` is ahead of `b`; negative when `a` is older.
#[inline]
pub fn seq_diff(a: u16, b: u16) -> i32 {
    i32::from(a.wrapping_sub(b) as i16)
}

/// The full 64-bit number whose low 16 bits are `low` and that lies closest
/// to `expected` (ties go to the later one); never below 0 nor past `u64::MAX`.
#[inline]
pub fn reconstruct(expected: u64, low: u16) -> u64 {
    const SPAN: u64 = 1 << 16;
    const HALF: u64 = SPAN / 2;
    let candidate = (expected & !(SPAN - 1)) | u64::from(low);
    if candidate + HALF <= expected && candidate < u64::MAX - SPAN {
        candidate + SPAN
    } else if candidate > expected + HALF && candidate >= SPAN {
        candidate - SPAN
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconstruction_picks_the_closest_full_number() {
        assert_eq!(reconstruct(0x1_0000, 0xffff), 0xffff);
        assert_eq!(reconstruct(0xffff, 0x0001), 0x1_0001);
        assert_eq!(reconstruct(0x12_3456, 0x3456), 0x12_3456);
        assert_eq!(reconstruct(0x12_3456, 0x3455), 0x12_3455);
        assert_eq!(reconstruct(0x12_3456, 0xb455), 0x12_b455);
        // Half the space away either way: the later one.
        assert_eq!(reconstruct(0x12_3456, 0xb456), 0x12_b456);
        assert_eq!(reconstruct(0x12_3456, 0xb457), 0x11_b457);
        // Nothing below zero: early on, a low number far "behind" is ahead.
        assert_eq!(reconstruct(5, 0xfff0), 0xfff0);
        assert_eq!(reconstruct(0, 0), 0);
        // Every value within half the space of what is expected comes back.
        for expected in [40_000u64, 1 << 20, (1 << 20) + 12_345, 7 << 40] {
            for delta in [-32_767i64, -1, 0, 1, 32_767] {
                let full = (expected as i64 + delta) as u64;
                assert_eq!(
                    reconstruct(expected, full as u16),
                    full,
                    "{expected} {delta}"
                );
            }
        }
    }

    #[test]
    fn comparison_survives_the_wrap() {
        assert!(seq_newer(1, 0));
        assert!(!seq_newer(0, 1));
        assert!(seq_newer(0, 65_535));
        assert!(seq_newer(10, 65_530));
        assert!(!seq_newer(65_530, 10));
        assert!(!seq_newer(7, 7));
        assert_eq!(seq_diff(2, 65_534), 4);
        assert_eq!(seq_diff(65_534, 2), -4);
    }
}
