//! The whole-server snapshot and the running totals behind it.
//!
//! [`ServerMetricsSnapshot`] gathers the listening socket's counters, the
//! traffic of every connection and one [`PeerMetrics`] per peer. A server's
//! peers come and go, so its traffic totals cannot be the sum of the current
//! peers' counters (they would drop when a peer leaves); `ServerTally` keeps
//! the last counters seen of every peer, folds those of a departed peer into
//! a running total, and measures bytes and packets per second from the
//! totals with a [`BandwidthMeter`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

#[cfg(feature = "serde")]
use serde::Serialize;

use super::{BandwidthMeter, Metrics};
use crate::PeerId;

/// Counters of the server's listening socket, outside any connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
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
    /// Data packets dropped because their peer was over its receive budget
    /// (`Config::max_frames_per_peer_sec`, `max_bytes_per_peer_sec`).
    pub datagrams_throttled: u64,
}

/// One peer's metrics, as a server snapshot lists them.
///
/// In JSON the fields of [`Metrics`] sit beside `peer`, `addr` and `connected`
/// in one flat object.
///
/// ```
/// # #[cfg(feature = "json")] {
/// let p = lentil::PeerMetrics {
///     peer: 17,
///     addr: "127.0.0.1:5000".parse().unwrap(),
///     connected: true,
///     metrics: lentil::Metrics::default(),
/// };
/// let json: serde_json::Value = serde_json::to_value(&p).unwrap();
/// assert_eq!(json["peer"], 17);
/// assert_eq!(json["addr"], "127.0.0.1:5000");
/// assert_eq!(json["in_bytes"], 0);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct PeerMetrics {
    /// The peer.
    pub peer: PeerId,
    /// Its address.
    pub addr: SocketAddr,
    /// Whether it is connected (false while it is being disconnected).
    pub connected: bool,
    /// Its connection's metrics.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub metrics: Metrics,
}

/// A snapshot of the whole server: socket counters, traffic totals and
/// rates, and every peer's metrics.
///
/// Read it from [`ServerMetricsHandle::server_snapshot`](crate::ServerMetricsHandle::server_snapshot)
/// after [`Server::publish_metrics`](crate::Server::publish_metrics), and
/// render it with [`to_prometheus`](Self::to_prometheus) or
/// [`to_json`](Self::to_json):
///
/// ```
/// let snapshot = lentil::ServerMetricsSnapshot::default();
/// assert_eq!(snapshot.peers, 0);
/// assert!(snapshot.to_prometheus().contains("lentil_server_peers 0\n"));
/// # #[cfg(feature = "json")]
/// assert!(snapshot.to_json().contains("\"peer_metrics\":[]"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct ServerMetricsSnapshot {
    /// Peers connected (not counting those being disconnected).
    pub peers: usize,
    /// Handshakes completed and accepted.
    pub accepted: u64,
    /// Handshakes rejected (full, version, or by a handler).
    pub rejected: u64,
    /// Datagrams dropped as invalid: malformed, from no known peer, or with a
    /// wrong token.
    pub invalid_packets: u64,
    /// Datagrams received on the socket.
    pub datagrams_in: u64,
    /// Connect requests answered with a challenge.
    pub challenges_sent: u64,
    /// Handshake packets ignored because new connections are off.
    pub ignored_not_accepting: u64,
    /// Challenge responses whose cookie was invalid or expired.
    pub bad_cookies: u64,
    /// Handshake replies not sent because a rate limit was reached.
    pub replies_rate_limited: u64,
    /// Bytes received on every connection (header + data), departed peers
    /// included.
    pub in_bytes: u64,
    /// Bytes sent on every connection (header + data), departed peers included.
    pub out_bytes: u64,
    /// Packets received and accepted on every connection, departed peers included.
    pub in_packets: u64,
    /// Packets sent on every connection, departed peers included.
    pub out_packets: u64,
    /// Receive rate of all connections over the last measurement interval,
    /// bytes per second.
    pub in_bytes_per_sec: f64,
    /// Send rate of all connections over the last measurement interval,
    /// bytes per second.
    pub out_bytes_per_sec: f64,
    /// Packets received per second over the last measurement interval.
    pub in_packets_per_sec: f64,
    /// Packets sent per second over the last measurement interval.
    pub out_packets_per_sec: f64,
    /// Every peer the server holds, connected or being disconnected, by id.
    pub peer_metrics: Vec<PeerMetrics>,
}

impl ServerMetricsSnapshot {
    /// The metrics of `peer`, if the snapshot holds it.
    ///
    /// ```
    /// let snapshot = lentil::ServerMetricsSnapshot::default();
    /// assert!(snapshot.peer(1).is_none());
    /// ```
    pub fn peer(&self, peer: PeerId) -> Option<&PeerMetrics> {
        self.peer_metrics.iter().find(|p| p.peer == peer)
    }
}

/// Traffic counters of one connection, or a sum of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Traffic {
    in_bytes: u64,
    out_bytes: u64,
    in_packets: u64,
    out_packets: u64,
}

impl Traffic {
    fn of(m: &Metrics) -> Traffic {
        Traffic {
            in_bytes: m.in_bytes,
            out_bytes: m.out_bytes,
            in_packets: m.in_packets,
            out_packets: m.out_packets,
        }
    }

    fn add(&mut self, other: Traffic) {
        self.in_bytes = self.in_bytes.saturating_add(other.in_bytes);
        self.out_bytes = self.out_bytes.saturating_add(other.out_bytes);
        self.in_packets = self.in_packets.saturating_add(other.in_packets);
        self.out_packets = self.out_packets.saturating_add(other.out_packets);
    }
}

/// Running totals and rates of one server, kept by its metrics handle.
#[derive(Debug, Default)]
pub(crate) struct ServerTally {
    /// The counters of every peer at the previous snapshot.
    last: HashMap<PeerId, Traffic>,
    /// What departed peers had sent and received when last seen.
    departed: Traffic,
    bytes: BandwidthMeter,
    packets: BandwidthMeter,
}

impl ServerTally {
    /// The snapshot of a server whose socket counters are `stats` and whose
    /// peers are `peers` (in any order) at `now`.
    pub(crate) fn snapshot(
        &mut self,
        now: Instant,
        stats: ServerStats,
        mut peers: Vec<PeerMetrics>,
    ) -> ServerMetricsSnapshot {
        peers.sort_unstable_by_key(|p| p.peer);
        let departed = &mut self.departed;
        self.last.retain(|id, seen| {
            let present = peers.binary_search_by_key(id, |p| p.peer).is_ok();
            if !present {
                departed.add(*seen);
            }
            present
        });
        let mut total = self.departed;
        for p in &peers {
            let traffic = Traffic::of(&p.metrics);
            total.add(traffic);
            self.last.insert(p.peer, traffic);
        }
        self.bytes.observe(now, total.in_bytes, total.out_bytes);
        self.packets
            .observe(now, total.in_packets, total.out_packets);
        let (in_bytes_per_sec, out_bytes_per_sec) = self.bytes.rates();
        let (in_packets_per_sec, out_packets_per_sec) = self.packets.rates();
        ServerMetricsSnapshot {
            peers: peers.iter().filter(|p| p.connected).count(),
            accepted: stats.accepted,
            rejected: stats.rejected,
            invalid_packets: stats.invalid_datagrams,
            datagrams_in: stats.datagrams_in,
            challenges_sent: stats.challenges_sent,
            ignored_not_accepting: stats.ignored_not_accepting,
            bad_cookies: stats.bad_cookies,
            replies_rate_limited: stats.replies_rate_limited,
            in_bytes: total.in_bytes,
            out_bytes: total.out_bytes,
            in_packets: total.in_packets,
            out_packets: total.out_packets,
            in_bytes_per_sec,
            out_bytes_per_sec,
            in_packets_per_sec,
            out_packets_per_sec,
            peer_metrics: peers,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn peer(id: PeerId, in_bytes: u64, out_packets: u64) -> PeerMetrics {
        PeerMetrics {
            peer: id,
            addr: SocketAddr::from(([127, 0, 0, 1], 1000 + id as u16)),
            connected: true,
            metrics: Metrics {
                in_bytes,
                out_packets,
                ..Metrics::default()
            },
        }
    }

    #[test]
    fn totals_keep_departed_peers_and_rates_follow_the_totals() {
        let mut tally = ServerTally::default();
        let t0 = Instant::now();
        let stats = ServerStats {
            accepted: 2,
            ..ServerStats::default()
        };
        let s = tally.snapshot(t0, stats, vec![peer(2, 500, 5), peer(1, 100, 1)]);
        assert_eq!((s.in_bytes, s.out_packets, s.peers), (600, 6, 2));
        assert_eq!(
            s.peer_metrics.iter().map(|p| p.peer).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(s.in_bytes_per_sec, 0.0, "no interval measured yet");

        // Peer 2 leaves; its traffic stays in the totals.
        let t1 = t0 + Duration::from_millis(500);
        let s = tally.snapshot(t1, stats, vec![peer(1, 400, 3)]);
        assert_eq!((s.in_bytes, s.out_packets, s.peers), (900, 8, 1));
        assert!((s.in_bytes_per_sec - 600.0).abs() < 1e-9, "{s:?}");
        assert!((s.out_packets_per_sec - 4.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.accepted, 2);
        assert_eq!(s.peer(1).map(|p| p.metrics.in_bytes), Some(400));
        assert!(s.peer(2).is_none());
    }

    #[test]
    fn extreme_counters_saturate_instead_of_overflowing() {
        let mut tally = ServerTally::default();
        let now = Instant::now();
        let peers = vec![peer(1, u64::MAX, u64::MAX), peer(2, u64::MAX, 1)];
        let s = tally.snapshot(now, ServerStats::default(), peers);
        assert_eq!((s.in_bytes, s.out_packets), (u64::MAX, u64::MAX));
        let s = tally.snapshot(now, ServerStats::default(), Vec::new());
        assert_eq!(s.in_bytes, u64::MAX);
        assert!(s.peer_metrics.is_empty());
    }
}
