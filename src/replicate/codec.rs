//! The replication frame format: a tag byte, then bincode-encoded fields,
//! each self-delimiting so no length prefixes are needed. It owns the only
//! bincode configuration of this module; decoding is bounded (a hostile
//! length prefix cannot make it allocate) and never panics.
//!
//! ```text
//! SNAPSHOT      01 seq back removed:varint key* kept:varint key* upserts:varint (key value)*
//! SNAPSHOT_ACK  02 seq:varint
//! STATE         03 seq:varint value
//! STATE_ACK     04 seq:varint
//! SUBSCRIBE     05 topic:varint      UNSUBSCRIBE 06 topic:varint
//! ```
//! `back` is how many snapshots before `seq` its baseline is; 0 means none
//! (the snapshot is taken against the empty view). A kept key is one the
//! client keeps as it shows it rather than as the baseline has it.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::ReplicateError;

/// Tag of a server-to-client world snapshot (unreliable).
pub(crate) const SNAPSHOT: u8 = 1;
/// Tag of a client's acknowledgement of a snapshot (unreliable).
pub(crate) const SNAPSHOT_ACK: u8 = 2;
/// Tag of a per-connection state value.
pub(crate) const STATE: u8 = 3;
/// Tag of the acknowledgement of a state value.
pub(crate) const STATE_ACK: u8 = 4;
/// Tag of a client's request to join a topic (reliable).
pub(crate) const SUBSCRIBE: u8 = 5;
/// Tag of a client's request to leave a topic (reliable).
pub(crate) const UNSUBSCRIBE: u8 = 6;

/// How much bincode may claim per input byte: it claims the in-memory size of
/// every number it decodes (at most 16 bytes) and allocates a string from its
/// length prefix, so a limit of 32 times the frame never refuses a well-formed
/// value and stops a forged length at once.
const CLAIM_PER_BYTE: usize = 32;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Appends the bincode encoding of `value` to `out`.
pub(crate) fn put<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> Result<(), ReplicateError> {
    bincode::serde::encode_into_std_write(value, out, config())
        .map(|_| ())
        .map_err(|e| ReplicateError::Codec(e.to_string()))
}

/// Encodes `value` on its own.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ReplicateError> {
    let mut out = Vec::new();
    put(&mut out, value)?;
    Ok(out)
}

/// Reads a frame front to back; every read is checked.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over one whole frame.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// The next raw byte.
    pub(crate) fn tag(&mut self) -> Result<u8, ReplicateError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or(ReplicateError::Malformed("empty frame"))?;
        self.pos += 1;
        Ok(b)
    }

    /// The next bincode value.
    pub(crate) fn value<T: DeserializeOwned>(&mut self) -> Result<T, ReplicateError> {
        let rest = &self.bytes[self.pos..];
        let (value, used) =
            decode_prefix(rest).map_err(|e| ReplicateError::Codec(e.to_string()))?;
        self.pos += used;
        Ok(value)
    }

    /// The next count, refused if it exceeds the bytes left (every counted
    /// item takes at least one byte), so a count never sizes an allocation
    /// beyond the frame.
    pub(crate) fn count(&mut self) -> Result<usize, ReplicateError> {
        let n: u32 = self.value()?;
        let n = n as usize;
        if n > self.remaining() {
            return Err(ReplicateError::Malformed("count exceeds frame"));
        }
        Ok(n)
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Fails unless the whole frame was read.
    pub(crate) fn finish(&self) -> Result<(), ReplicateError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(ReplicateError::Malformed("trailing bytes"))
        }
    }
}

fn decode_prefix<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    const KIB: usize = 1024;
    match bytes.len() {
        len if len <= 2 * KIB => limited::<T, { 2 * KIB * CLAIM_PER_BYTE }>(bytes),
        len if len <= 64 * KIB => limited::<T, { 64 * KIB * CLAIM_PER_BYTE }>(bytes),
        _ => limited::<T, { 2048 * KIB * CLAIM_PER_BYTE }>(bytes),
    }
}

fn limited<T: DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(bytes, config().with_limit::<LIMIT>())
}

/// A frame of a tag and one number (acks, subscriptions).
pub(crate) fn small_frame(tag: u8, n: u32) -> Vec<u8> {
    let mut out = vec![tag];
    // A u32 always encodes.
    let _ = put(&mut out, &n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_back_to_back() {
        let mut out = vec![SNAPSHOT];
        put(&mut out, &7u32).unwrap();
        put(&mut out, "name").unwrap();
        let mut r = Reader::new(&out);
        assert_eq!(r.tag().unwrap(), SNAPSHOT);
        assert_eq!(r.value::<u32>().unwrap(), 7);
        assert_eq!(r.value::<String>().unwrap(), "name");
        r.finish().unwrap();
    }

    #[test]
    fn a_forged_length_or_count_is_an_error_not_an_allocation() {
        let mut hostile = vec![0xFF];
        hostile.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(Reader::new(&hostile).value::<Vec<u8>>().is_err());
        let frame = small_frame(SNAPSHOT, 1_000_000);
        let mut r = Reader::new(&frame[1..]);
        assert_eq!(
            r.count(),
            Err(ReplicateError::Malformed("count exceeds frame"))
        );
        assert!(Reader::new(&[]).tag().is_err());
    }
}
