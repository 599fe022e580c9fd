//! What a [`TypedServer`](super::TypedServer) reports: its events, with
//! messages decoded.

use std::net::SocketAddr;

use crate::{Delivery, DisconnectReason, Error, PeerId};

/// What happened on a [`TypedServer`](super::TypedServer), for its pull path
/// ([`TypedServer::update_events`](super::TypedServer::update_events)): a [`ServerEvent`](crate::ServerEvent)
/// whose message is decoded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TypedServerEvent<M> {
    /// A peer completed the handshake and was accepted.
    Connected {
        /// The new peer.
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
    },
    /// A message from a peer, decoded.
    Message {
        /// The sender.
        peer: PeerId,
        /// The message.
        message: M,
        /// The channel it came on: an index into `Config::channels`.
        channel: u8,
        /// That channel's delivery mode.
        delivery: Delivery,
    },
    /// A peer's connection was lost without a graceful close; or, with
    /// [`Error::Decode`], a message from it could not be decoded and was
    /// dropped, and the connection stays up.
    Error {
        /// The peer.
        peer: PeerId,
        /// What went wrong.
        error: Error,
    },
    /// A peer's connection closed gracefully (either side asked).
    Disconnected {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: DisconnectReason,
    },
}
