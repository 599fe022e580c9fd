//! [`ServerHandle`]: lets other threads queue messages for a server's peers.

use bytes::Bytes;
#[cfg(feature = "typed")]
use serde::Serialize;

use super::queue::HandleSender;
use crate::proto::Route;
use crate::{Delivery, Error, PeerId};

/// Who a message queued through a [`ServerHandle`] goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recipient {
    Peer(PeerId),
    Everyone,
}

/// A cloneable, `Send` handle through which other threads queue messages for
/// a [`Server`](crate::Server)'s peers; they go out on the server's next
/// `update()`. Made by [`Server::handle`](crate::Server::handle).
///
/// The queue is bounded: when it is full a send returns
/// [`Error::HandleQueueFull`] at once and queues nothing, so neither side
/// ever blocks. A queued message the server cannot take when it applies it
/// (the peer left, its send buffer is full, the message is too large) is
/// dropped, logged at debug level, and counted in
/// [`failed_sends`](Self::failed_sends). Typed variants encode on the calling
/// thread, off the game loop.
///
/// ```
/// use lentil::{Config, Delivery, Server, SimNetwork};
/// let net = SimNetwork::new(7);
/// let mut server = Server::sandbox(Config::default(), &net);
/// server.listen("127.0.0.1:9000")?;
/// let handle = server.handle();
/// std::thread::spawn(move || {
///     // Reaches every peer connected at the server's next update.
///     let _ = handle.broadcast(b"round starts", Delivery::ReliableOrdered);
/// })
/// .join()
/// .expect("the thread ran");
/// server.update();
/// # Ok::<(), lentil::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerHandle {
    sender: HandleSender<Recipient>,
}

impl ServerHandle {
    pub(crate) fn new(sender: HandleSender<Recipient>) -> Self {
        ServerHandle { sender }
    }

    /// Queues `message` for `peer` with the given delivery mode.
    pub fn send(
        &self,
        peer: PeerId,
        message: impl AsRef<[u8]>,
        delivery: Delivery,
    ) -> Result<(), Error> {
        self.send_bytes(peer, Bytes::copy_from_slice(message.as_ref()), delivery)
    }

    /// Like [`send`](Self::send), taking ownership of the bytes without copying.
    pub fn send_bytes(
        &self,
        peer: PeerId,
        message: Bytes,
        delivery: Delivery,
    ) -> Result<(), Error> {
        self.sender
            .push(Recipient::Peer(peer), message, Route::Delivery(delivery))
    }

    /// Queues `message` for `peer` on `channel`, an index into `Config::channels`.
    pub fn send_on(
        &self,
        peer: PeerId,
        channel: u8,
        message: impl AsRef<[u8]>,
    ) -> Result<(), Error> {
        let bytes = Bytes::copy_from_slice(message.as_ref());
        self.sender
            .push(Recipient::Peer(peer), bytes, Route::Channel(channel))
    }

    /// Encodes `value` as a typed message (see [`TypedServer`](crate::TypedServer))
    /// and queues it for `peer`.
    #[cfg(feature = "typed")]
    pub fn send_typed<T: Serialize>(
        &self,
        peer: PeerId,
        value: &T,
        delivery: Delivery,
    ) -> Result<(), Error> {
        self.send_bytes(peer, crate::typed::encode(value)?, delivery)
    }

    /// Encodes `value` as a typed message and queues it for `peer` on `channel`.
    #[cfg(feature = "typed")]
    pub fn send_typed_on<T: Serialize>(
        &self,
        peer: PeerId,
        channel: u8,
        value: &T,
    ) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.sender
            .push(Recipient::Peer(peer), bytes, Route::Channel(channel))
    }

    /// Queues `message` for every peer connected at the next update (a peer
    /// whose send buffer is full is skipped, as with
    /// [`Server::broadcast`](crate::Server::broadcast)).
    pub fn broadcast(&self, message: impl AsRef<[u8]>, delivery: Delivery) -> Result<(), Error> {
        let bytes = Bytes::copy_from_slice(message.as_ref());
        self.sender
            .push(Recipient::Everyone, bytes, Route::Delivery(delivery))
    }

    /// Like [`broadcast`](Self::broadcast), on `channel`.
    pub fn broadcast_on(&self, channel: u8, message: impl AsRef<[u8]>) -> Result<(), Error> {
        let bytes = Bytes::copy_from_slice(message.as_ref());
        self.sender
            .push(Recipient::Everyone, bytes, Route::Channel(channel))
    }

    /// Encodes `value` as a typed message and queues it for every peer.
    #[cfg(feature = "typed")]
    pub fn broadcast_typed<T: Serialize>(
        &self,
        value: &T,
        delivery: Delivery,
    ) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.sender
            .push(Recipient::Everyone, bytes, Route::Delivery(delivery))
    }

    /// Encodes `value` as a typed message and queues it for every peer on `channel`.
    #[cfg(feature = "typed")]
    pub fn broadcast_typed_on<T: Serialize>(&self, channel: u8, value: &T) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.sender
            .push(Recipient::Everyone, bytes, Route::Channel(channel))
    }

    /// Most messages the queue holds before sends fail with
    /// [`Error::HandleQueueFull`].
    pub fn capacity(&self) -> usize {
        self.sender.capacity()
    }

    /// Messages queued through this server's handles that it could not take
    /// when it applied them (shared by every handle of the server).
    pub fn failed_sends(&self) -> u64 {
        self.sender.failed()
    }
}
