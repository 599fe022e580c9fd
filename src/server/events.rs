//! What a server reports: its events, the connect request its handler
//! decides, its socket counters, and the handler types behind `on_*`.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use serde::Serialize;

use super::Server;
use crate::handlers::{HandlerList, Registry};
use crate::{DisconnectReason, Error, Message, Metrics, PeerId};

/// A connection request, as the `on_connect_request` handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequestInfo {
    /// The client's address (verified by the cookie exchange).
    pub addr: SocketAddr,
    /// The client's `Config::connect_payload` (a login token, say).
    pub payload: Bytes,
}

/// What happened on a server, for the pull path ([`Server::update_events`]).
#[derive(Debug, Clone, PartialEq)]
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

/// Counters of the server's listening socket, outside any connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ServerStats {
    /// Datagrams received on the socket.
    pub datagrams_in: u64,
    /// Connect requests answered with a challenge.
    pub challenges_sent: u64,
    /// Handshakes completed and accepted.
    pub accepted: u64,
    /// Handshakes rejected (full, version, or by a handler).
    pub rejected: u64,
    /// Handshake packets ignored because new connections are off.
    pub ignored_not_accepting: u64,
    /// Challenge responses whose cookie was invalid or expired.
    pub bad_cookies: u64,
    /// Handshake replies not sent because a rate limit was reached.
    pub replies_rate_limited: u64,
    /// Datagrams that failed to parse, came from no known peer, or had a wrong token.
    pub invalid_datagrams: u64,
}

pub(super) type ConnectRequestFn =
    dyn FnMut(&mut Server, &ConnectRequestInfo) -> Result<(), String> + Send;
pub(super) type ConnectedFn = dyn FnMut(&mut Server, PeerId) + Send;
pub(super) type MessageFn = dyn FnMut(&mut Server, PeerId, &Message) + Send;
pub(super) type ErrorFn = dyn FnMut(&mut Server, PeerId, &Error) + Send;
pub(super) type DisconnectFn = dyn FnMut(&mut Server, PeerId, &DisconnectReason) + Send;

#[derive(Default)]
pub(super) struct ServerHandlers {
    pub(super) connect_request: HandlerList<ConnectRequestFn>,
    pub(super) connected: HandlerList<ConnectedFn>,
    pub(super) message: HandlerList<MessageFn>,
    pub(super) error: HandlerList<ErrorFn>,
    pub(super) disconnect: HandlerList<DisconnectFn>,
}

impl ServerHandlers {
    pub(super) fn merge(&mut self, added: ServerHandlers, registry: &Registry) {
        self.connect_request.merge(added.connect_request, registry);
        self.connected.merge(added.connected, registry);
        self.message.merge(added.message, registry);
        self.error.merge(added.error, registry);
        self.disconnect.merge(added.disconnect, registry);
    }
}

/// Metrics of every peer, published by [`Server::publish_metrics`] and read
/// from any thread.
#[derive(Debug, Clone, Default)]
pub struct ServerMetricsHandle {
    pub(super) slot: std::sync::Arc<parking_lot::Mutex<HashMap<PeerId, Metrics>>>,
}

impl ServerMetricsHandle {
    /// The latest published snapshot of every peer.
    pub fn snapshot(&self) -> HashMap<PeerId, Metrics> {
        self.slot.lock().clone()
    }
}
