//! The bytes of one queued reliable message: small ones inline, the rest a
//! shared [`Bytes`].
//!
//! Most game messages are a few dozen bytes. Kept inline in their queue
//! slot, queueing one copies a few words, and sending, acknowledging and
//! dropping it touch no reference count and no allocator; a larger message,
//! or one handed over as `Bytes`, is shared instead of copied.

use bytes::Bytes;

/// Longest message kept inline. Sized so a slot holding it stays within
/// the 64 bytes each message is charged for its bookkeeping.
pub const INLINE: usize = 40;

/// A message's bytes, inline when short.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Up to [`INLINE`] bytes, held in place.
    Inline {
        /// How many of `bytes` are the message.
        len: u8,
        /// The message, then padding.
        bytes: [u8; INLINE],
    },
    /// A longer message, or one handed over without a copy.
    Shared(Bytes),
}

impl Payload {
    /// A copy of `data`: inline if it fits, else in `shared()`'s buffer.
    pub fn copy(data: &[u8], shared: impl FnOnce(&[u8]) -> Bytes) -> Self {
        if data.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..data.len()].copy_from_slice(data);
            Payload::Inline {
                len: data.len() as u8,
                bytes,
            }
        } else {
            Payload::Shared(shared(data))
        }
    }

    /// The message.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Payload::Shared(b) => b,
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Payload::Inline { len, .. } => usize::from(*len),
            Payload::Shared(b) => b.len(),
        }
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        Payload::Shared(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_messages_stay_inline_and_long_ones_are_shared() {
        let mut shared_calls = 0;
        let short = Payload::copy(b"hello", |d| {
            shared_calls += 1;
            Bytes::copy_from_slice(d)
        });
        assert!(matches!(short, Payload::Inline { .. }));
        assert_eq!(short.as_slice(), b"hello");
        let edge = Payload::copy(&[7u8; INLINE], Bytes::copy_from_slice);
        assert!(matches!(edge, Payload::Inline { .. }));
        assert_eq!(edge.len(), INLINE);
        let long = Payload::copy(&[9u8; INLINE + 1], |d| {
            shared_calls += 1;
            Bytes::copy_from_slice(d)
        });
        assert!(matches!(long, Payload::Shared(_)));
        assert_eq!(long.as_slice(), &[9u8; INLINE + 1][..]);
        assert_eq!(shared_calls, 1);
        assert_eq!(Payload::copy(b"", Bytes::copy_from_slice).len(), 0);
    }
}
