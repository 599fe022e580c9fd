//! What a server reports: its events, the connect request its handler
//! decides, its socket counters, the handle its metrics are published to,
//! and the handler types behind `on_*`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Serialize;

use super::Server;
use crate::handlers::{HandlerList, Registry};
use crate::metrics::{PeerMetrics, ServerMetricsSnapshot, ServerTally};
use crate::{DisconnectReason, Error, Message, Metrics, PeerId};

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
    /// Handshakes ignored because a live session holds their address.
    pub ignored_live_session: u64,
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

/// Metrics of the whole server and of every peer, published by
/// [`Server::publish_metrics`] and read from any thread.
///
/// Clones share one slot. Reading clones the latest snapshot out of the slot
/// and never waits for the game loop; publishing never waits for a reader
/// (a publish that meets a reader is skipped). The handle also keeps the
/// running totals behind [`ServerMetricsSnapshot`]'s traffic counters and
/// rates, so use one handle per server and publish regularly (every update,
/// or at least once a second): a departed peer's traffic counts up to the
/// last publish that saw it, and rates are measured between publishes at
/// least 250 ms apart.
///
/// ```no_run
/// use lentil::{Config, Server, ServerMetricsHandle};
/// let mut server = Server::new(Config::default());
/// server.listen("0.0.0.0:9000")?;
/// let handle = ServerMetricsHandle::default();
/// let reader = handle.clone();
/// std::thread::spawn(move || loop {
///     let text = reader.server_snapshot().to_prometheus();
///     // serve `text` on the scrape endpoint
///     # drop(text);
///     std::thread::sleep(std::time::Duration::from_secs(5));
/// });
/// loop {
///     server.update();
///     server.publish_metrics(&handle);
///     # break;
/// }
/// # Ok::<(), lentil::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ServerMetricsHandle {
    shared: Arc<SharedMetrics>,
}

#[derive(Debug, Default)]
struct SharedMetrics {
    /// The latest snapshot; readers hold the lock only to clone the `Arc`.
    slot: Mutex<Arc<ServerMetricsSnapshot>>,
    /// Totals and rates, touched only by publishers.
    tally: Mutex<ServerTally>,
}

impl ServerMetricsHandle {
    /// The latest published metrics of every peer, by id (empty before the
    /// first publish).
    ///
    /// ```
    /// let handle = lentil::ServerMetricsHandle::default();
    /// assert!(handle.snapshot().is_empty());
    /// ```
    pub fn snapshot(&self) -> HashMap<PeerId, Metrics> {
        self.latest()
            .peer_metrics
            .iter()
            .map(|p| (p.peer, p.metrics.clone()))
            .collect()
    }

    /// The latest published snapshot of the whole server, its peers included
    /// (all zero before the first publish).
    ///
    /// ```
    /// let handle = lentil::ServerMetricsHandle::default();
    /// let snapshot = handle.server_snapshot();
    /// assert_eq!((snapshot.peers, snapshot.accepted), (0, 0));
    /// assert!(snapshot.peer_metrics.is_empty());
    /// ```
    pub fn server_snapshot(&self) -> ServerMetricsSnapshot {
        ServerMetricsSnapshot::clone(&self.latest())
    }

    /// The latest published metrics of `peer`, if it was held by the server
    /// then.
    ///
    /// ```
    /// let handle = lentil::ServerMetricsHandle::default();
    /// assert!(handle.peer(1).is_none());
    /// ```
    pub fn peer(&self, peer: PeerId) -> Option<Metrics> {
        self.latest().peer(peer).map(|p| p.metrics.clone())
    }

    fn latest(&self) -> Arc<ServerMetricsSnapshot> {
        Arc::clone(&self.shared.slot.lock())
    }

    /// Folds a server's state at `now` into the totals and publishes the
    /// snapshot; returns false, without waiting, if another thread held the
    /// handle.
    pub(super) fn publish(
        &self,
        now: Instant,
        stats: ServerStats,
        peers: Vec<PeerMetrics>,
    ) -> bool {
        let Some(mut tally) = self.shared.tally.try_lock() else {
            return false;
        };
        let snapshot = Arc::new(tally.snapshot(now, stats, peers));
        drop(tally);
        match self.shared.slot.try_lock() {
            Some(mut slot) => {
                // The old snapshot is dropped after the lock is released.
                let old = std::mem::replace(&mut *slot, snapshot);
                drop(slot);
                drop(old);
                true
            }
            None => false,
        }
    }
}
