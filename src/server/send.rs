//! What the server sends: messages to one peer or to all, typed or bytes,
//! on a delivery mode's channel or a named one, and graceful disconnects.
//! Every send goes through [`ServerCore::send`](super::core::ServerCore) or
//! its broadcast with a [`Route`] and a [`Payload`].

use bytes::Bytes;
#[cfg(feature = "typed")]
use serde::Serialize;

use super::Server;
use crate::proto::{Payload, Route};
use crate::{Delivery, DisconnectReason, Error, PeerId};

impl Server {
    /// Sends `message` to `peer`. It is queued and goes out on the next
    /// `update()` (or at once, if the connection can).
    pub fn send(
        &mut self,
        peer: PeerId,
        message: impl AsRef<[u8]>,
        delivery: Delivery,
    ) -> Result<(), Error> {
        self.send_routed(
            peer,
            Route::Delivery(delivery),
            Payload::Copied(message.as_ref()),
        )
    }

    /// Like [`send`](Self::send), taking ownership of the bytes without copying.
    pub fn send_bytes(
        &mut self,
        peer: PeerId,
        message: Bytes,
        delivery: Delivery,
    ) -> Result<(), Error> {
        self.send_routed(peer, Route::Delivery(delivery), Payload::Shared(message))
    }

    /// Sends `message` to `peer` on `channel`, an index into
    /// `Config::channels`, with that channel's delivery mode. A reliable
    /// message larger than one packet is split into fragments and joined on arrival.
    pub fn send_on(
        &mut self,
        peer: PeerId,
        channel: u8,
        message: impl AsRef<[u8]>,
    ) -> Result<(), Error> {
        self.send_routed(
            peer,
            Route::Channel(channel),
            Payload::Copied(message.as_ref()),
        )
    }

    /// Like [`send_on`](Self::send_on), taking ownership of the bytes without copying.
    pub fn send_bytes_on(
        &mut self,
        peer: PeerId,
        channel: u8,
        message: Bytes,
    ) -> Result<(), Error> {
        self.send_routed(peer, Route::Channel(channel), Payload::Shared(message))
    }

    /// Encodes `value` with the default codec (bincode) and sends it to
    /// `peer`; decode with [`Message::decode`](crate::Message::decode), or
    /// receive it in a [`TypedServer`](crate::TypedServer) or
    /// [`TypedClient`](crate::TypedClient).
    #[cfg(feature = "typed")]
    pub fn send_typed<T: Serialize>(
        &mut self,
        peer: PeerId,
        value: &T,
        delivery: Delivery,
    ) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.send_bytes(peer, bytes, delivery)
    }

    /// Like [`send_typed`](Self::send_typed), on `channel`.
    #[cfg(feature = "typed")]
    pub fn send_typed_on<T: Serialize>(
        &mut self,
        peer: PeerId,
        channel: u8,
        value: &T,
    ) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.send_bytes_on(peer, channel, bytes)
    }

    /// The one send path: `payload` for `peer` on the channel `route` names.
    pub(crate) fn send_routed(
        &mut self,
        peer: PeerId,
        route: Route,
        payload: Payload<'_>,
    ) -> Result<(), Error> {
        self.core.send(peer, route, payload)
    }

    /// Sends `message` to every connected peer; returns how many took it
    /// (a peer whose queue is full is skipped). The bytes are shared, not
    /// copied per peer.
    pub fn broadcast(&mut self, message: impl AsRef<[u8]>, delivery: Delivery) -> usize {
        let bytes = Bytes::copy_from_slice(message.as_ref());
        self.broadcast_bytes(Route::Delivery(delivery), bytes)
    }

    /// Sends `message` on `channel` to every connected peer; returns how many
    /// took it. The bytes are shared, not copied per peer.
    pub fn broadcast_on(&mut self, channel: u8, message: impl AsRef<[u8]>) -> usize {
        let bytes = Bytes::copy_from_slice(message.as_ref());
        self.broadcast_bytes(Route::Channel(channel), bytes)
    }

    /// Queues `bytes` for every connected peer on the channel `route`
    /// names, shared, not copied; returns how many took it.
    pub(crate) fn broadcast_bytes(&mut self, route: Route, bytes: Bytes) -> usize {
        self.core.broadcast(route, Payload::Shared(bytes))
    }

    /// Gracefully disconnects `peer`: queued reliable data is flushed (up to
    /// `Config::linger`), then it is told it was kicked. Unknown peers and a
    /// second call are ignored.
    pub fn disconnect(&mut self, peer: PeerId) {
        self.disconnect_with(peer, DisconnectReason::Kicked);
    }

    /// Like [`disconnect`](Self::disconnect) with a reason the client sees.
    pub fn disconnect_with(&mut self, peer: PeerId, reason: DisconnectReason) {
        let now = self.driver.now();
        self.core.close(peer, reason, now);
    }

    /// Gracefully disconnects every peer (reason: server shut down).
    pub fn disconnect_all(&mut self) {
        let now = self.driver.now();
        self.core.close_all(&DisconnectReason::ServerShutdown, now);
    }
}
