//! Metrics as the game's dashboard sees them.
//!
//! This module owns the per-connection snapshot [`Metrics`] (also named
//! [`MetricsSnapshot`]), which serializes with serde (durations as
//! milliseconds), the bandwidth meter behind its rates, and
//! [`MetricsHandle`], a shared slot the client refreshes on `update()` that
//! another thread reads without ever blocking the game loop (the endpoint
//! skips a refresh rather than wait for a reader). Its submodules own the
//! whole-server snapshot (`server`), the Prometheus text rendering
//! (`prometheus`) and the JSON rendering (`json`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
#[cfg(feature = "serde")]
use serde::{Serialize, Serializer};

use crate::proto::ConnectionSnapshot;

#[cfg(feature = "json")]
mod json;
mod prometheus;
mod server;
mod server_handle;

pub use prometheus::Prometheus;
pub(crate) use server::ServerTally;
pub use server::{PeerMetrics, ServerMetricsSnapshot, ServerStats};
pub use server_handle::ServerMetricsHandle;

#[cfg(feature = "serde")]
fn as_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// A snapshot of one connection's metrics.
///
/// Counters (`in_bytes`, `resends`, ...) only grow during a connection;
/// gauges (`reorder_queue`, `srtt`, ...) are the value at the snapshot.
/// Render it with [`to_prometheus`](Metrics::to_prometheus) or
/// [`to_json`](Metrics::to_json):
///
/// ```
/// let m = lentil::Metrics::default();
/// # #[cfg(feature = "json")]
/// assert!(m.to_json().contains("\"in_bytes\":0"));
/// assert!(m.to_prometheus().contains("lentil_client_received_bytes_total 0\n"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Metrics {
    /// Round-trip latency: the smoothed RTT (zero before the first sample).
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_millis"))]
    pub latency: Duration,
    /// UDP payload bytes received (header + data).
    pub in_bytes: u64,
    /// UDP payload bytes sent (header + data).
    pub out_bytes: u64,
    /// Packets received and accepted.
    pub in_packets: u64,
    /// Packets sent.
    pub out_packets: u64,
    /// Messages delivered to the application.
    pub in_messages: u64,
    /// Messages sent (first transmissions; resends are counted in `resends`).
    pub out_messages: u64,
    /// Keepalive pings sent plus received.
    pub keepalive_count: u64,
    /// Ordered messages held waiting for an earlier one.
    pub reorder_queue: usize,
    /// Packets sent and not yet acknowledged.
    pub pending_acks: usize,
    /// Payload bytes queued and not yet put on the wire.
    pub out_buffer_bytes: usize,
    /// Bytes charged against `max_send_buffer_bytes`: payload of messages unsent
    /// or unacknowledged, plus 64 bytes each.
    pub send_buffer_bytes: usize,
    /// Reliable messages sent and not yet acknowledged (bounded by the reliable window).
    pub reliable_in_flight: usize,
    /// Congestion window: ack-eliciting packets allowed in flight.
    pub congestion_window: usize,
    /// Packets that arrived after the receive history had moved past them.
    pub late_packets: u64,
    /// Smoothed RTT (RFC 6298).
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_millis"))]
    pub srtt: Duration,
    /// RTT variance.
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_millis"))]
    pub rtt_var: Duration,
    /// Median RTT sample.
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_millis"))]
    pub rtt_p50: Duration,
    /// 99th percentile RTT sample.
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_millis"))]
    pub rtt_p99: Duration,
    /// Largest RTT sample.
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_millis"))]
    pub rtt_max: Duration,
    /// Fraction of resolved packets that were lost, 0..=1. A packet
    /// declared lost whose ack came later counts as delivered.
    pub packet_loss: f64,
    /// Packets declared lost and never acknowledged later.
    pub packets_lost: u64,
    /// Packets declared lost whose ack came later: late, not lost (jitter or
    /// reordering beyond the loss delay). Each one cost a resend of its
    /// reliable messages.
    pub spurious_losses: u64,
    /// Packets acknowledged.
    pub packets_acked: u64,
    /// Reliable messages sent again.
    pub resends: u64,
    /// Probes sent: packets whose ack was overdue, with no later ack to
    /// judge them by, had their messages sent again before the
    /// retransmission timeout, without declaring them lost.
    pub probes: u64,
    /// Duplicate packets or messages dropped.
    pub duplicates_dropped: u64,
    /// Invalid packets dropped (malformed, stale, wrong token or sender).
    pub invalid_packets: u64,
    /// Packets that failed authentication (altered, truncated, forged; in
    /// the insecure mode, a bad checksum), dropped before anything read them.
    pub auth_failures: u64,
    /// Authenticated packets replayed (seen before or older than the replay
    /// window), dropped before anything read them; also counted in
    /// `duplicates_dropped`, since a packet the network duplicated is one.
    pub replays_dropped: u64,
    /// Unreliable-sequenced messages dropped for arriving after a newer one.
    pub stale_sequenced_dropped: u64,
    /// Datagrams the socket refused to send.
    pub send_failures: u64,
    /// Receive bandwidth over the last measurement interval, bytes per second.
    pub in_bandwidth: f64,
    /// Send bandwidth over the last measurement interval, bytes per second.
    pub out_bandwidth: f64,
    /// The rate the connection paces its sending at, bytes per second: rate
    /// control's estimate of what the path carries, capped by `Config::max_send_rate`.
    pub send_rate: f64,
    /// Bytes per second the peer acknowledged over the last round trip.
    pub delivery_rate: f64,
    /// How long the messages queued now would wait to leave at `send_rate`.
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_millis"))]
    pub queue_time: Duration,
    /// Bytes held for messages not yet deliverable (fragments of unfinished
    /// messages, ordered messages waiting for a gap), charged as against
    /// `Config::max_held_bytes`.
    pub held_bytes: usize,
    /// Messages sent split into fragments.
    pub messages_fragmented: u64,
    /// Messages received as fragments and joined.
    pub messages_reassembled: u64,
    /// Fragments dropped: inconsistent with their siblings, past the held
    /// bytes cap, or expired unfinished.
    pub fragments_dropped: u64,
}

impl Metrics {
    /// The metrics of a connection's `snapshot`, with bandwidth from `meter`.
    pub(crate) fn from_snapshot(c: &ConnectionSnapshot, meter: &BandwidthMeter) -> Metrics {
        let s = &c.counters;
        let resolved = s.packets_acked + s.packets_lost;
        let lost = s.packets_lost.saturating_sub(s.spurious_losses);
        Metrics {
            latency: c.srtt.unwrap_or_default(),
            in_bytes: s.in_bytes,
            out_bytes: s.out_bytes,
            in_packets: s.in_packets,
            out_packets: s.out_packets,
            in_messages: s.in_messages,
            out_messages: s.out_messages,
            keepalive_count: s.keepalive_count,
            reorder_queue: c.reorder_queue,
            pending_acks: c.pending_acks,
            out_buffer_bytes: c.unsent_bytes,
            send_buffer_bytes: c.buffered_bytes,
            reliable_in_flight: c.reliable_in_flight,
            congestion_window: c.congestion_window,
            late_packets: s.late_packets,
            srtt: c.srtt.unwrap_or_default(),
            rtt_var: c.rttvar,
            rtt_p50: c.rtt_p50.unwrap_or_default(),
            rtt_p99: c.rtt_p99.unwrap_or_default(),
            rtt_max: c.rtt_max.unwrap_or_default(),
            packet_loss: if resolved == 0 {
                0.0
            } else {
                lost as f64 / resolved as f64
            },
            packets_lost: lost,
            spurious_losses: s.spurious_losses,
            packets_acked: s.packets_acked,
            resends: s.resends,
            probes: s.probes,
            duplicates_dropped: s.duplicates_dropped,
            invalid_packets: s.invalid_packets,
            auth_failures: s.auth_failures,
            replays_dropped: s.replays_dropped,
            stale_sequenced_dropped: s.stale_sequenced_dropped,
            send_failures: s.send_failures,
            in_bandwidth: meter.in_rate,
            out_bandwidth: meter.out_rate,
            send_rate: c.send_rate,
            delivery_rate: c.delivery_rate,
            queue_time: c.queue_time,
            held_bytes: c.held_bytes,
            messages_fragmented: s.messages_fragmented,
            messages_reassembled: s.messages_reassembled,
            fragments_dropped: s.fragments_dropped,
        }
    }
}

/// Another name for [`Metrics`]: the snapshot of one connection.
pub type MetricsSnapshot = Metrics;

/// Measures bytes per second over intervals of at least `INTERVAL`.
#[derive(Debug, Clone, Default)]
pub(crate) struct BandwidthMeter {
    since: Option<Mark>,
    in_rate: f64,
    out_rate: f64,
}

/// The start of the interval being measured.
#[derive(Debug, Clone, Copy)]
struct Mark {
    at: Instant,
    /// `at + INTERVAL`: the meter is observed on every service of a peer,
    /// and comparing with the end costs less than working out the time since.
    ends: Instant,
    in_bytes: u64,
    out_bytes: u64,
}

impl BandwidthMeter {
    const INTERVAL: Duration = Duration::from_millis(250);

    pub(crate) fn observe(&mut self, now: Instant, in_bytes: u64, out_bytes: u64) {
        if let Some(m) = self.since {
            if now < m.ends {
                return;
            }
            let secs = now.saturating_duration_since(m.at).as_secs_f64();
            self.in_rate = in_bytes.saturating_sub(m.in_bytes) as f64 / secs;
            self.out_rate = out_bytes.saturating_sub(m.out_bytes) as f64 / secs;
        }
        self.since = Some(Mark {
            at: now,
            ends: now + Self::INTERVAL,
            in_bytes,
            out_bytes,
        });
    }

    /// The rates (in, out) per second over the last complete interval.
    pub(crate) fn rates(&self) -> (f64, f64) {
        (self.in_rate, self.out_rate)
    }
}

/// A metrics snapshot shared with other threads (a dashboard, a logger).
///
/// Get one from [`Client::metrics_handle`](crate::Client::metrics_handle);
/// the client refreshes it on every `update()`, and clones read the same slot.
///
/// ```no_run
/// use lentil::{Client, Config};
/// let mut client = Client::new(Config::default());
/// let handle = client.metrics_handle();
/// std::thread::spawn(move || {
///     let text = handle.snapshot().to_prometheus();
///     // serve `text` on the scrape endpoint
///     # drop(text);
/// });
/// client.connect("127.0.0.1:9000")?;
/// client.update();
/// # Ok::<(), lentil::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MetricsHandle {
    slot: Arc<Mutex<Metrics>>,
}

impl MetricsHandle {
    /// The latest published snapshot (all zero before the first `update()`).
    pub fn snapshot(&self) -> Metrics {
        self.slot.lock().clone()
    }

    /// Publishes without waiting: if a reader holds the slot, this refresh is skipped.
    pub(crate) fn publish(&self, metrics: impl FnOnce() -> Metrics) {
        if let Some(mut slot) = self.slot.try_lock() {
            *slot = metrics();
        }
    }
}
