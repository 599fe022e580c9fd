//! What a client reports: its state, its events for the pull path, and the
//! handlers behind `on_*`.

#[cfg(feature = "serde")]
use serde::Serialize;

use super::Client;
use crate::endpoint::handler_set;
use crate::{DisconnectReason, Error, Message, RejectReason};

/// Where a client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub enum ClientState {
    /// Not connected (never connected, disconnected, or rejected).
    Disconnected,
    /// Handshake in progress.
    Connecting,
    /// Connected: messages may be sent.
    Connected,
    /// The connection was lost (timeout, protocol violation, connect timeout).
    Errored,
}

/// What happened on a client, for the pull path ([`Client::update_events`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server accepted the connection.
    ConnectAccepted,
    /// The server refused the connection.
    ConnectRejected(RejectReason),
    /// A message from the server.
    Message(Message),
    /// The connection was lost without a graceful close.
    Error(Error),
    /// The server closed the connection gracefully.
    Disconnected(DisconnectReason),
}

handler_set! {
    /// The client's handlers, one list per event.
    struct ClientHandlers [] for Client where [] {
        /// Registers a handler for "the server accepted the connection".
        pub accepted: on_connect_accepted / on_connect_accepted_with ();
        /// Registers a handler for "the server refused the connection".
        pub rejected: on_connect_rejected / on_connect_rejected_with (reason: &RejectReason);
        /// Registers a handler for messages from the server.
        pub message: on_message / on_message_with (message: &Message);
        /// Registers a handler for a connection lost without a graceful close
        /// (timeout, protocol violation, connect timeout).
        pub error: on_error / on_error_with (error: &Error);
        /// Registers a handler for a graceful close by the server.
        pub disconnect: on_disconnect / on_disconnect_with (reason: &DisconnectReason);
    }
}
