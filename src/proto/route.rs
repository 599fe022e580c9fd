//! What a send names: the channel a message goes on, and how its bytes are
//! held, for the one send path every endpoint and handle goes through.

use bytes::Bytes;

use crate::Delivery;

/// The channel a message is sent on, as `send` and `send_on` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The first channel configured with this mode (`send`).
    Delivery(Delivery),
    /// An index into `Config::channels` (`send_on`).
    Channel(u8),
}

/// A message's bytes as a send hands them over.
#[derive(Debug, Clone)]
pub enum Payload<'a> {
    /// Borrowed: a message that fits one packet is copied into the channel's
    /// arena, which allocates nothing once its chunks are recycled.
    Copied(&'a [u8]),
    /// Shared bytes, queued without a copy.
    Shared(Bytes),
    /// Shared bytes a thread handle's queue already took: its sender had
    /// its backpressure then (`HandleQueueFull`), and a refusal now could
    /// only drop it, so the send-queue delay bound does not apply (the byte
    /// cap still does).
    Queued(Bytes),
}

impl Payload<'_> {
    /// The same message for one more connection: shared bytes are shared.
    pub fn share(&self) -> Self {
        self.clone()
    }

    /// The message's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Payload::Copied(s) => s.len(),
            Payload::Shared(b) | Payload::Queued(b) => b.len(),
        }
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
