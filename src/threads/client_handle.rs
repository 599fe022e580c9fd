//! [`ClientHandle`]: lets other threads queue messages for a client's server.

use bytes::Bytes;
#[cfg(feature = "typed")]
use serde::Serialize;

use super::queue::HandleSender;
use crate::proto::Route;
use crate::{Delivery, Error};

/// A cloneable, `Send` handle through which other threads queue messages for
/// a [`Client`](crate::Client)'s server; they go out on the client's next
/// `update()`. Made by [`Client::handle`](crate::Client::handle).
///
/// The queue is bounded: when it is full a send returns
/// [`Error::HandleQueueFull`] at once and queues nothing, so neither side
/// ever blocks. A queued message the client cannot take when it applies it
/// (not connected, send buffer full, too large) is dropped, logged at debug
/// level, and counted in [`failed_sends`](Self::failed_sends).
///
/// ```
/// use lentil::{Client, Config, Delivery, SimNetwork};
/// let net = SimNetwork::new(7);
/// let mut client = Client::sandbox(Config::default(), &net);
/// let handle = client.handle();
/// let input = std::thread::spawn(move || handle.send(b"jump", Delivery::Reliable));
/// assert!(input.join().expect("the thread ran").is_ok()); // queued
/// client.update(); // not connected: dropped and counted
/// assert_eq!(client.handle().failed_sends(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct ClientHandle {
    sender: HandleSender<()>,
}

impl ClientHandle {
    pub(crate) fn new(sender: HandleSender<()>) -> Self {
        ClientHandle { sender }
    }

    /// Queues `message` with the given delivery mode.
    pub fn send(&self, message: impl AsRef<[u8]>, delivery: Delivery) -> Result<(), Error> {
        self.send_bytes(Bytes::copy_from_slice(message.as_ref()), delivery)
    }

    /// Like [`send`](Self::send), taking ownership of the bytes without copying.
    pub fn send_bytes(&self, message: Bytes, delivery: Delivery) -> Result<(), Error> {
        self.sender.push((), message, Route::Delivery(delivery))
    }

    /// Queues `message` on `channel`, an index into `Config::channels`.
    pub fn send_on(&self, channel: u8, message: impl AsRef<[u8]>) -> Result<(), Error> {
        let bytes = Bytes::copy_from_slice(message.as_ref());
        self.sender.push((), bytes, Route::Channel(channel))
    }

    /// Encodes `value` as a typed message (see [`TypedClient`](crate::TypedClient))
    /// and queues it.
    #[cfg(feature = "typed")]
    pub fn send_typed<T: Serialize>(&self, value: &T, delivery: Delivery) -> Result<(), Error> {
        self.send_bytes(crate::typed::encode(value)?, delivery)
    }

    /// Encodes `value` as a typed message and queues it on `channel`.
    #[cfg(feature = "typed")]
    pub fn send_typed_on<T: Serialize>(&self, channel: u8, value: &T) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.sender.push((), bytes, Route::Channel(channel))
    }

    /// Most messages the queue holds before sends fail with
    /// [`Error::HandleQueueFull`].
    pub fn capacity(&self) -> usize {
        self.sender.capacity()
    }

    /// Messages queued through this client's handles that it could not take
    /// when it applied them (shared by every handle of the client).
    pub fn failed_sends(&self) -> u64 {
        self.sender.failed()
    }
}
