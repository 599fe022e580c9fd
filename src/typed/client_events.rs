//! What a [`TypedClient`](super::TypedClient) reports: its events, with
//! messages decoded.

use crate::{Delivery, DisconnectReason, Error, RejectReason};

/// What happened on a [`TypedClient`](super::TypedClient), for its pull path
/// ([`TypedClient::update_events`](super::TypedClient::update_events)): a [`ClientEvent`](crate::ClientEvent)
/// whose message is decoded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TypedClientEvent<M> {
    /// The server accepted the connection.
    ConnectAccepted,
    /// The server refused the connection.
    ConnectRejected(RejectReason),
    /// A message from the server, decoded.
    Message {
        /// The message.
        message: M,
        /// The channel it came on: an index into `Config::channels`.
        channel: u8,
        /// That channel's delivery mode.
        delivery: Delivery,
    },
    /// The connection was lost without a graceful close; or, with
    /// [`Error::Decode`], a message from the server could not be decoded and
    /// was dropped, and the connection stays up.
    Error(Error),
    /// The server closed the connection gracefully.
    Disconnected(DisconnectReason),
}
