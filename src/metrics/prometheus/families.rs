//! The metric families lentil exports: each one's name, type, help text and
//! how to read its value from a connection's or the server's snapshot.

use super::super::{Metrics, ServerMetricsSnapshot};

/// A metric family's type.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Counter,
    Gauge,
}

/// A sample's value: exact for counts, floating for the rest.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value {
    Count(u64),
    Real(f64),
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::Count(u64::try_from(n).unwrap_or(u64::MAX))
    }
}

/// One metric family: its name after the scope, type, help, and how to read
/// its value from `T`.
pub(super) struct Family<T> {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) help: &'static str,
    pub(super) value: fn(&T) -> Value,
}

/// Families of one connection, for a client or for each peer of a server.
pub(super) static CONNECTION: &[Family<Metrics>] = &[
    Family {
        name: "received_bytes_total",
        kind: Kind::Counter,
        help: "UDP payload bytes received (header + data).",
        value: |m| Value::Count(m.in_bytes),
    },
    Family {
        name: "sent_bytes_total",
        kind: Kind::Counter,
        help: "UDP payload bytes sent (header + data).",
        value: |m| Value::Count(m.out_bytes),
    },
    Family {
        name: "received_packets_total",
        kind: Kind::Counter,
        help: "Packets received and accepted.",
        value: |m| Value::Count(m.in_packets),
    },
    Family {
        name: "sent_packets_total",
        kind: Kind::Counter,
        help: "Packets sent.",
        value: |m| Value::Count(m.out_packets),
    },
    Family {
        name: "received_messages_total",
        kind: Kind::Counter,
        help: "Messages delivered to the application.",
        value: |m| Value::Count(m.in_messages),
    },
    Family {
        name: "sent_messages_total",
        kind: Kind::Counter,
        help: "Messages sent (first transmissions only).",
        value: |m| Value::Count(m.out_messages),
    },
    Family {
        name: "keepalives_total",
        kind: Kind::Counter,
        help: "Keepalive pings sent plus received.",
        value: |m| Value::Count(m.keepalive_count),
    },
    Family {
        name: "late_packets_total",
        kind: Kind::Counter,
        help: "Packets that arrived after the receive history had moved past them.",
        value: |m| Value::Count(m.late_packets),
    },
    Family {
        name: "lost_packets_total",
        kind: Kind::Counter,
        help: "Packets declared lost and never acknowledged later.",
        value: |m| Value::Count(m.packets_lost),
    },
    Family {
        name: "spurious_losses_total",
        kind: Kind::Counter,
        help: "Packets declared lost whose acknowledgement came later.",
        value: |m| Value::Count(m.spurious_losses),
    },
    Family {
        name: "acked_packets_total",
        kind: Kind::Counter,
        help: "Packets acknowledged.",
        value: |m| Value::Count(m.packets_acked),
    },
    Family {
        name: "resent_messages_total",
        kind: Kind::Counter,
        help: "Reliable messages sent again.",
        value: |m| Value::Count(m.resends),
    },
    Family {
        name: "duplicates_dropped_total",
        kind: Kind::Counter,
        help: "Duplicate packets or messages dropped.",
        value: |m| Value::Count(m.duplicates_dropped),
    },
    Family {
        name: "invalid_packets_total",
        kind: Kind::Counter,
        help: "Invalid packets dropped (malformed, stale, wrong token or sender).",
        value: |m| Value::Count(m.invalid_packets),
    },
    Family {
        name: "auth_failures_total",
        kind: Kind::Counter,
        help: "Packets that failed authentication, dropped unread.",
        value: |m| Value::Count(m.auth_failures),
    },
    Family {
        name: "replays_dropped_total",
        kind: Kind::Counter,
        help: "Authenticated packets replayed, dropped unread.",
        value: |m| Value::Count(m.replays_dropped),
    },
    Family {
        name: "stale_sequenced_dropped_total",
        kind: Kind::Counter,
        help: "Unreliable-sequenced messages dropped for arriving after a newer one.",
        value: |m| Value::Count(m.stale_sequenced_dropped),
    },
    Family {
        name: "send_failures_total",
        kind: Kind::Counter,
        help: "Datagrams the socket refused to send.",
        value: |m| Value::Count(m.send_failures),
    },
    Family {
        name: "reorder_queue_messages",
        kind: Kind::Gauge,
        help: "Ordered messages held waiting for an earlier one.",
        value: |m| m.reorder_queue.into(),
    },
    Family {
        name: "pending_ack_packets",
        kind: Kind::Gauge,
        help: "Packets sent and not yet acknowledged.",
        value: |m| m.pending_acks.into(),
    },
    Family {
        name: "unsent_bytes",
        kind: Kind::Gauge,
        help: "Payload bytes queued and not yet put on the wire.",
        value: |m| m.out_buffer_bytes.into(),
    },
    Family {
        name: "send_buffer_bytes",
        kind: Kind::Gauge,
        help: "Bytes charged against the send buffer limit: unsent or unacknowledged payload plus per-message overhead.",
        value: |m| m.send_buffer_bytes.into(),
    },
    Family {
        name: "reliable_in_flight_messages",
        kind: Kind::Gauge,
        help: "Reliable messages sent and not yet acknowledged.",
        value: |m| m.reliable_in_flight.into(),
    },
    Family {
        name: "congestion_window_packets",
        kind: Kind::Gauge,
        help: "Congestion window: ack-eliciting packets allowed in flight.",
        value: |m| m.congestion_window.into(),
    },
    Family {
        name: "rtt_smoothed_seconds",
        kind: Kind::Gauge,
        help: "Smoothed round-trip time (the latency); 0 before the first sample.",
        value: |m| Value::Real(m.srtt.as_secs_f64()),
    },
    Family {
        name: "rtt_variance_seconds",
        kind: Kind::Gauge,
        help: "Round-trip time variation.",
        value: |m| Value::Real(m.rtt_var.as_secs_f64()),
    },
    Family {
        name: "rtt_p50_seconds",
        kind: Kind::Gauge,
        help: "Median round-trip time sample.",
        value: |m| Value::Real(m.rtt_p50.as_secs_f64()),
    },
    Family {
        name: "rtt_p99_seconds",
        kind: Kind::Gauge,
        help: "99th percentile round-trip time sample.",
        value: |m| Value::Real(m.rtt_p99.as_secs_f64()),
    },
    Family {
        name: "rtt_max_seconds",
        kind: Kind::Gauge,
        help: "Largest round-trip time sample.",
        value: |m| Value::Real(m.rtt_max.as_secs_f64()),
    },
    Family {
        name: "packet_loss_ratio",
        kind: Kind::Gauge,
        help: "Fraction of resolved packets that were lost, 0 to 1.",
        value: |m| Value::Real(m.packet_loss),
    },
    Family {
        name: "receive_bandwidth_bytes_per_second",
        kind: Kind::Gauge,
        help: "Bytes received per second over the last measurement interval.",
        value: |m| Value::Real(m.in_bandwidth),
    },
    Family {
        name: "send_bandwidth_bytes_per_second",
        kind: Kind::Gauge,
        help: "Bytes sent per second over the last measurement interval.",
        value: |m| Value::Real(m.out_bandwidth),
    },
    Family {
        name: "send_rate_bytes_per_second",
        kind: Kind::Gauge,
        help: "Rate the connection paces its sending at.",
        value: |m| Value::Real(m.send_rate),
    },
    Family {
        name: "delivery_rate_bytes_per_second",
        kind: Kind::Gauge,
        help: "Bytes the peer acknowledged per second over the last round trip.",
        value: |m| Value::Real(m.delivery_rate),
    },
    Family {
        name: "queue_time_seconds",
        kind: Kind::Gauge,
        help: "How long queued messages would wait to leave at the send rate.",
        value: |m| Value::Real(m.queue_time.as_secs_f64()),
    },
    Family {
        name: "held_bytes",
        kind: Kind::Gauge,
        help: "Bytes held for messages not yet deliverable.",
        value: |m| m.held_bytes.into(),
    },
    Family {
        name: "messages_fragmented_total",
        kind: Kind::Counter,
        help: "Messages sent split into fragments.",
        value: |m| Value::Count(m.messages_fragmented),
    },
    Family {
        name: "messages_reassembled_total",
        kind: Kind::Counter,
        help: "Messages received as fragments and joined.",
        value: |m| Value::Count(m.messages_reassembled),
    },
    Family {
        name: "fragments_dropped_total",
        kind: Kind::Counter,
        help: "Fragments dropped as inconsistent, over the held-bytes cap, or expired.",
        value: |m| Value::Count(m.fragments_dropped),
    },
];

/// Families of the whole server.
pub(super) static SERVER: &[Family<ServerMetricsSnapshot>] = &[
    Family {
        name: "peers",
        kind: Kind::Gauge,
        help: "Peers connected, not counting those being disconnected.",
        value: |s| s.peers.into(),
    },
    Family {
        name: "accepted_total",
        kind: Kind::Counter,
        help: "Handshakes completed and accepted.",
        value: |s| Value::Count(s.accepted),
    },
    Family {
        name: "rejected_total",
        kind: Kind::Counter,
        help: "Handshakes rejected (full, version, or by a handler).",
        value: |s| Value::Count(s.rejected),
    },
    Family {
        name: "invalid_packets_total",
        kind: Kind::Counter,
        help: "Datagrams dropped as invalid: malformed, from no known peer, or with a wrong token.",
        value: |s| Value::Count(s.invalid_packets),
    },
    Family {
        name: "received_datagrams_total",
        kind: Kind::Counter,
        help: "Datagrams received on the socket.",
        value: |s| Value::Count(s.datagrams_in),
    },
    Family {
        name: "challenges_sent_total",
        kind: Kind::Counter,
        help: "Connect requests answered with a challenge.",
        value: |s| Value::Count(s.challenges_sent),
    },
    Family {
        name: "ignored_not_accepting_total",
        kind: Kind::Counter,
        help: "Handshake packets ignored because new connections were off.",
        value: |s| Value::Count(s.ignored_not_accepting),
    },
    Family {
        name: "bad_cookies_total",
        kind: Kind::Counter,
        help: "Challenge responses whose cookie was invalid or expired.",
        value: |s| Value::Count(s.bad_cookies),
    },
    Family {
        name: "rate_limited_replies_total",
        kind: Kind::Counter,
        help: "Handshake replies not sent because a rate limit was reached.",
        value: |s| Value::Count(s.replies_rate_limited),
    },
    Family {
        name: "received_bytes_total",
        kind: Kind::Counter,
        help: "Bytes received on all connections (header + data), departed peers included.",
        value: |s| Value::Count(s.in_bytes),
    },
    Family {
        name: "sent_bytes_total",
        kind: Kind::Counter,
        help: "Bytes sent on all connections (header + data), departed peers included.",
        value: |s| Value::Count(s.out_bytes),
    },
    Family {
        name: "received_packets_total",
        kind: Kind::Counter,
        help: "Packets received and accepted on all connections, departed peers included.",
        value: |s| Value::Count(s.in_packets),
    },
    Family {
        name: "sent_packets_total",
        kind: Kind::Counter,
        help: "Packets sent on all connections, departed peers included.",
        value: |s| Value::Count(s.out_packets),
    },
    Family {
        name: "receive_bandwidth_bytes_per_second",
        kind: Kind::Gauge,
        help: "Bytes received per second on all connections over the last measurement interval.",
        value: |s| Value::Real(s.in_bytes_per_sec),
    },
    Family {
        name: "send_bandwidth_bytes_per_second",
        kind: Kind::Gauge,
        help: "Bytes sent per second on all connections over the last measurement interval.",
        value: |s| Value::Real(s.out_bytes_per_sec),
    },
    Family {
        name: "receive_rate_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets received per second on all connections over the last measurement interval.",
        value: |s| Value::Real(s.in_packets_per_sec),
    },
    Family {
        name: "send_rate_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets sent per second on all connections over the last measurement interval.",
        value: |s| Value::Real(s.out_packets_per_sec),
    },
];
