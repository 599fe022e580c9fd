//! What a connection tells the world about itself at one moment: its
//! counters and its gauges, as plain values, so the metrics layer reads
//! them without reaching into the connection.

use std::time::Duration;

use super::ConnectionStats;

/// One connection's counters and gauges, taken together.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectionSnapshot {
    /// Counters since the connection began.
    pub counters: ConnectionStats,
    /// Smoothed RTT, once sampled.
    pub srtt: Option<Duration>,
    /// RTT variance.
    pub rttvar: Duration,
    /// RTT percentiles p50, p99 and the largest, once sampled.
    pub rtt_p50: Option<Duration>,
    /// See `rtt_p50`.
    pub rtt_p99: Option<Duration>,
    /// See `rtt_p50`.
    pub rtt_max: Option<Duration>,
    /// Messages held for in-order delivery behind a gap.
    pub reorder_queue: usize,
    /// Packets received whose ack has not gone out yet.
    pub pending_acks: usize,
    /// Bytes queued and not yet sent once.
    pub unsent_bytes: usize,
    /// Bytes the send buffers hold, sent or not.
    pub buffered_bytes: usize,
    /// Reliable messages sent and not yet acknowledged.
    pub reliable_in_flight: usize,
    /// The congestion window, in packets.
    pub congestion_window: usize,
    /// The send rate, bytes per second.
    pub send_rate: f64,
    /// The measured delivery rate, bytes per second.
    pub delivery_rate: f64,
    /// How long what waits unsent would take to leave at the send rate.
    pub queue_time: Duration,
    /// Bytes held for messages not yet deliverable.
    pub held_bytes: usize,
}
