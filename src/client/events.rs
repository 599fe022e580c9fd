//! What a client reports: its state, its events for the pull path, and the
//! handler types behind `on_*`.

#[cfg(feature = "serde")]
use serde::Serialize;

use super::Client;
use crate::handlers::{HandlerList, Registry};
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

pub(super) type AcceptedFn = dyn FnMut(&mut Client) + Send;
pub(super) type RejectedFn = dyn FnMut(&mut Client, &RejectReason) + Send;
pub(super) type MessageFn = dyn FnMut(&mut Client, &Message) + Send;
pub(super) type ErrorFn = dyn FnMut(&mut Client, &Error) + Send;
pub(super) type DisconnectFn = dyn FnMut(&mut Client, &DisconnectReason) + Send;

#[derive(Default)]
pub(super) struct ClientHandlers {
    pub(super) accepted: HandlerList<AcceptedFn>,
    pub(super) rejected: HandlerList<RejectedFn>,
    pub(super) message: HandlerList<MessageFn>,
    pub(super) error: HandlerList<ErrorFn>,
    pub(super) disconnect: HandlerList<DisconnectFn>,
}

impl ClientHandlers {
    pub(super) fn merge(&mut self, added: ClientHandlers, registry: &Registry) {
        self.accepted.merge(added.accepted, registry);
        self.rejected.merge(added.rejected, registry);
        self.message.merge(added.message, registry);
        self.error.merge(added.error, registry);
        self.disconnect.merge(added.disconnect, registry);
    }
}
