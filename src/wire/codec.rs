//! Byte-level reading and writing shared by every packet and frame.
//!
//! [`Reader`] is a bounds-checked cursor: every read returns `WireError`
//! instead of panicking. Varints are LEB128, at most 5 bytes, values up to `u32::MAX`.

use super::WireError;

/// A bounds-checked cursor over a datagram.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Reads `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.remaining() {
            return Err(WireError::Truncated);
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads a LEB128 varint of at most 5 bytes.
    pub fn varint(&mut self) -> Result<u32, WireError> {
        // Lengths of small payloads, most of them, take one byte.
        if let Some(&byte) = self.buf.get(self.pos).filter(|b| **b < 0x80) {
            self.pos += 1;
            return Ok(u32::from(byte));
        }
        let mut value: u64 = 0;
        for i in 0..5 {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return u32::try_from(value).map_err(|_| WireError::VarintOverflow);
            }
        }
        Err(WireError::VarintOverflow)
    }

    /// Reads a varint length, checks it against `max`, then reads that many bytes.
    pub fn length_prefixed(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = self.varint()? as usize;
        if len > max {
            return Err(WireError::TooLong);
        }
        if len > self.remaining() {
            return Err(WireError::LengthPastEnd);
        }
        self.bytes(len)
    }
}

/// Appends `value` as a LEB128 varint.
pub fn write_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Bytes `value` takes as a varint.
pub fn varint_len(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_rejects_overlong_and_overflow() {
        assert_eq!(
            Reader::new(&[0x80; 6]).varint(),
            Err(WireError::VarintOverflow)
        );
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x7f]).varint(),
            Err(WireError::VarintOverflow)
        );
        assert_eq!(Reader::new(&[0x80]).varint(), Err(WireError::Truncated));
    }

    #[test]
    fn length_prefix_checks_bound_and_end() {
        assert_eq!(
            Reader::new(&[5, 1, 2]).length_prefixed(10),
            Err(WireError::LengthPastEnd)
        );
        assert_eq!(
            Reader::new(&[5, 1, 2, 3, 4, 5]).length_prefixed(4),
            Err(WireError::TooLong)
        );
        assert_eq!(
            Reader::new(&[2, 7, 8]).length_prefixed(4),
            Ok(&[7u8, 8][..])
        );
    }
}
