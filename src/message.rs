//! A received message as handlers and the event stream see it.

use bytes::Bytes;
#[cfg(feature = "typed")]
use serde::de::DeserializeOwned;

use crate::Delivery;
#[cfg(feature = "typed")]
use crate::Error;

/// One delivered message: its bytes, the channel it came on and that channel's mode.
///
/// Handlers and the event stream hand it out; it reads as a byte slice.
///
/// ```
/// use bytes::Bytes;
/// use lentil::{Delivery, Message};
///
/// let msg = Message {
///     payload: Bytes::from_static(b"jump"),
///     delivery: Delivery::ReliableOrdered,
///     channel: 0,
/// };
/// assert_eq!(msg.bytes(), b"jump");
/// assert!(msg.starts_with(b"ju"), "derefs to [u8]");
/// assert!(msg.delivery.is_reliable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message bytes, shared with the packet they arrived in (or, for a
    /// message joined from fragments, its own buffer).
    pub payload: Bytes,
    /// How it was sent.
    pub delivery: Delivery,
    /// The channel it came on: an index into `Config::channels`.
    pub channel: u8,
}

impl Message {
    /// The message bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.payload
    }

    /// Decodes a message sent with `send_typed`.
    #[cfg(feature = "typed")]
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        crate::typed::decode(&self.payload)
    }
}

impl std::ops::Deref for Message {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.payload
    }
}
