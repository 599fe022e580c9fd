//! What a [`TypedServer`] reports: its events with decoded messages, and the
//! handler types behind its `on_*`.

use std::net::SocketAddr;

use super::wrapper::HandlerSet;
use super::TypedServer;
use crate::handlers::{HandlerList, Registry};
use crate::{Delivery, DisconnectReason, Error, PeerId};

/// What happened on a [`TypedServer`], for its pull path
/// ([`TypedServer::update_events`]): a [`ServerEvent`](crate::ServerEvent)
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

pub(super) type ConnectedFn<M> = dyn FnMut(&mut TypedServer<M>, PeerId) + Send;
pub(super) type MessageFn<M> = dyn FnMut(&mut TypedServer<M>, PeerId, M) + Send;
pub(super) type ErrorFn<M> = dyn FnMut(&mut TypedServer<M>, PeerId, &Error) + Send;
pub(super) type DisconnectFn<M> = dyn FnMut(&mut TypedServer<M>, PeerId, &DisconnectReason) + Send;

pub(super) struct TypedServerHandlers<M> {
    pub(super) connected: HandlerList<ConnectedFn<M>>,
    pub(super) message: HandlerList<MessageFn<M>>,
    pub(super) error: HandlerList<ErrorFn<M>>,
    pub(super) disconnect: HandlerList<DisconnectFn<M>>,
}

// Derived `Default` would ask for `M: Default`.
impl<M> Default for TypedServerHandlers<M> {
    fn default() -> Self {
        TypedServerHandlers {
            connected: HandlerList::default(),
            message: HandlerList::default(),
            error: HandlerList::default(),
            disconnect: HandlerList::default(),
        }
    }
}

impl<M> HandlerSet for TypedServerHandlers<M> {
    fn merge(&mut self, added: TypedServerHandlers<M>, registry: &Registry) {
        self.connected.merge(added.connected, registry);
        self.message.merge(added.message, registry);
        self.error.merge(added.error, registry);
        self.disconnect.merge(added.disconnect, registry);
    }
}
