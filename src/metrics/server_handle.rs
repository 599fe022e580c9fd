//! [`ServerMetricsHandle`]: the slot a server publishes its snapshot to,
//! read from any thread without blocking the game loop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::{Metrics, PeerMetrics, ServerMetricsSnapshot, ServerStats, ServerTally};
use crate::PeerId;

/// Metrics of the whole server and of every peer, published by
/// [`Server::publish_metrics`](crate::Server::publish_metrics) and read from any thread.
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
    pub(crate) fn publish(
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
