//! What the client sends: messages, typed or bytes, on a delivery mode's
//! channel or a named one. Every send goes through
//! [`ClientCore::send`](super::core::ClientCore) with a [`Route`] and a [`Payload`].

use bytes::Bytes;
#[cfg(feature = "typed")]
use serde::Serialize;

use super::Client;
use crate::proto::{Payload, Route};
use crate::{Delivery, Error};

impl Client {
    /// Sends `message` with the given delivery mode. It is queued and goes out
    /// on the next `update()` (or at once, if the connection can).
    pub fn send(&mut self, message: impl AsRef<[u8]>, delivery: Delivery) -> Result<(), Error> {
        self.send_routed(Route::Delivery(delivery), Payload::Copied(message.as_ref()))
    }

    /// Like [`send`](Self::send), taking ownership of the bytes without copying.
    pub fn send_bytes(&mut self, message: Bytes, delivery: Delivery) -> Result<(), Error> {
        self.send_routed(Route::Delivery(delivery), Payload::Shared(message))
    }

    /// Sends `message` on `channel`, an index into `Config::channels`, with
    /// that channel's delivery mode. A reliable message larger than one packet
    /// is split into fragments and joined on arrival.
    pub fn send_on(&mut self, channel: u8, message: impl AsRef<[u8]>) -> Result<(), Error> {
        self.send_routed(Route::Channel(channel), Payload::Copied(message.as_ref()))
    }

    /// Like [`send_on`](Self::send_on), taking ownership of the bytes without copying.
    pub fn send_bytes_on(&mut self, channel: u8, message: Bytes) -> Result<(), Error> {
        self.send_routed(Route::Channel(channel), Payload::Shared(message))
    }

    /// Encodes `value` with the default codec (bincode) and sends it; decode
    /// with [`Message::decode`](crate::Message::decode), or receive it in a
    /// [`TypedServer`](crate::TypedServer).
    #[cfg(feature = "typed")]
    pub fn send_typed<T: Serialize>(&mut self, value: &T, delivery: Delivery) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.send_bytes(bytes, delivery)
    }

    /// Like [`send_typed`](Self::send_typed), on `channel`.
    #[cfg(feature = "typed")]
    pub fn send_typed_on<T: Serialize>(&mut self, channel: u8, value: &T) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.send_bytes_on(channel, bytes)
    }

    /// The one send path: `payload` on the channel `route` names.
    pub(crate) fn send_routed(&mut self, route: Route, payload: Payload<'_>) -> Result<(), Error> {
        self.core.send(route, payload)
    }
}
