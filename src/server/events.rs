//! What a server reports: its events, the connect request its handler
//! decides, and the handlers behind `on_*`.

use std::net::SocketAddr;

use bytes::Bytes;

use super::Server;
use crate::endpoint::{handler_set, PeerEvent};
use crate::{DisconnectReason, Error, Message, PeerId};

/// A connection request, as the `on_connect_request` handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequestInfo {
    /// The client's address (verified by the cookie exchange).
    pub addr: SocketAddr,
    /// The client's `Config::connect_payload`, which travelled sealed.
    pub payload: Bytes,
    /// The client id its connect token carries, verified (only on a server
    /// with a `Config::token_key`; `None` otherwise).
    pub client_id: Option<u64>,
    /// The user data its connect token carries, verified (empty without one).
    pub user_data: Bytes,
}

/// What happened on a server, for the pull path ([`Server::update_events`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A peer completed the handshake and was accepted.
    Connected {
        /// The new peer.
        peer: PeerId,
        /// Its address.
        addr: SocketAddr,
    },
    /// A message from a peer.
    Message {
        /// The sender.
        peer: PeerId,
        /// The message.
        message: Message,
    },
    /// A peer's connection was lost without a graceful close.
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

impl ServerEvent {
    /// The server's event for `event` of `peer`'s connection.
    pub(super) fn from_peer(peer: PeerId, event: PeerEvent) -> ServerEvent {
        match event {
            PeerEvent::Message(message) => ServerEvent::Message { peer, message },
            PeerEvent::ClosedByPeer(reason) | PeerEvent::ClosedHere(reason) => {
                ServerEvent::Disconnected { peer, reason }
            }
            PeerEvent::Lost(error) => ServerEvent::Error { peer, error },
        }
    }
}

handler_set! {
    /// The server's handlers, one list per event.
    struct ServerHandlers [] for Server where [] {
        /// Registers a handler that judges connect requests, writing its
        /// rejection into `verdict` (see `Server::on_connect_request`).
        pub(crate) connect_request: on_connect_request_decided / on_connect_request_decided_with
            (request: &ConnectRequestInfo, verdict: &mut Result<(), String>);
        /// Registers a handler for "a peer was accepted".
        pub connected: on_connect / on_connect_with (peer: PeerId);
        /// Registers a handler for messages from peers.
        pub message: on_message / on_message_with (peer: PeerId, message: &Message);
        /// Registers a handler for a peer lost without a graceful close.
        pub error: on_error / on_error_with (peer: PeerId, error: &Error);
        /// Registers a handler for a peer's graceful close.
        pub disconnect: on_disconnect / on_disconnect_with (peer: PeerId, reason: &DisconnectReason);
    }
}
