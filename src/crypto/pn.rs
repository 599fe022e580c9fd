//! Full packet numbers from the low 16 bits the wire carries, as RFC 9000
//! appendix A.3 reconstructs them: the candidate nearest to the next number
//! expected. It only computes; whether the number is fresh is the replay
//! window's call.

/// Bits of the packet number the data header carries (its `seq`).
pub const PN_BITS: u32 = 16;

/// The 64-bit packet number whose low 16 bits are `truncated` and which lies
/// closest to `expected` (one more than the largest number authenticated so
/// far, or 0 before any).
pub fn decode_packet_number(expected: u64, truncated: u16) -> u64 {
    let win = 1u64 << PN_BITS;
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | u64::from(truncated);
    if candidate + hwin <= expected && candidate < u64::MAX - win {
        candidate + win
    } else if candidate > expected + hwin && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 9000 A.3 scaled to 16 bits: largest 0xa82f30ea,
    /// truncated 0x9b32 (its low 16 bits' neighbour) decodes to 0xa82f9b32.
    #[test]
    fn rfc9000_example() {
        assert_eq!(decode_packet_number(0xa82f_30eb, 0x9b32), 0xa82f_9b32);
    }

    #[test]
    fn nearest_candidate_across_wraps() {
        assert_eq!(decode_packet_number(0, 0), 0);
        assert_eq!(decode_packet_number(0, 5), 5);
        assert_eq!(decode_packet_number(0x1_0000, 0xffff), 0xffff);
        assert_eq!(decode_packet_number(0xfff0, 0x0003), 0x1_0003);
        assert_eq!(decode_packet_number(0x1_0003, 0xfff0), 0xfff0);
        for expected in [10u64, 0x7fff, 0x8000, 0x1_2345, 0xdead_beef] {
            for delta in [-30_000i64, -1, 0, 1, 30_000] {
                let pn = (expected as i64 + delta).max(0) as u64;
                assert_eq!(decode_packet_number(expected, pn as u16), pn);
            }
        }
    }
}
