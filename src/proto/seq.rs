//! Wrapping comparison of 16-bit sequence numbers and message ids.
//!
//! Sequence numbers wrap at 65 536; `a` is newer than `b` when it lies less than
//! half the number space ahead of it (RFC 1982 serial number arithmetic).

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

#[cfg(test)]
mod tests {
    use super::*;

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
