//! What a [`TypedClient`] reports: its events with decoded messages, and the
//! handler types behind its `on_*`.

use super::wrapper::HandlerSet;
use super::TypedClient;
use crate::handlers::{HandlerList, Registry};
use crate::{Delivery, DisconnectReason, Error, RejectReason};

/// What happened on a [`TypedClient`], for its pull path
/// ([`TypedClient::update_events`]): a [`ClientEvent`](crate::ClientEvent)
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

pub(super) type AcceptedFn<M> = dyn FnMut(&mut TypedClient<M>) + Send;
pub(super) type RejectedFn<M> = dyn FnMut(&mut TypedClient<M>, &RejectReason) + Send;
pub(super) type MessageFn<M> = dyn FnMut(&mut TypedClient<M>, M) + Send;
pub(super) type ErrorFn<M> = dyn FnMut(&mut TypedClient<M>, &Error) + Send;
pub(super) type DisconnectFn<M> = dyn FnMut(&mut TypedClient<M>, &DisconnectReason) + Send;

pub(super) struct TypedClientHandlers<M> {
    pub(super) accepted: HandlerList<AcceptedFn<M>>,
    pub(super) rejected: HandlerList<RejectedFn<M>>,
    pub(super) message: HandlerList<MessageFn<M>>,
    pub(super) error: HandlerList<ErrorFn<M>>,
    pub(super) disconnect: HandlerList<DisconnectFn<M>>,
}

// Derived `Default` would ask for `M: Default`.
impl<M> Default for TypedClientHandlers<M> {
    fn default() -> Self {
        TypedClientHandlers {
            accepted: HandlerList::default(),
            rejected: HandlerList::default(),
            message: HandlerList::default(),
            error: HandlerList::default(),
            disconnect: HandlerList::default(),
        }
    }
}

impl<M> HandlerSet for TypedClientHandlers<M> {
    fn merge(&mut self, added: TypedClientHandlers<M>, registry: &Registry) {
        self.accepted.merge(added.accepted, registry);
        self.rejected.merge(added.rejected, registry);
        self.message.merge(added.message, registry);
        self.error.merge(added.error, registry);
        self.disconnect.merge(added.disconnect, registry);
    }
}
