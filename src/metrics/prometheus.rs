//! Metrics rendered in the Prometheus text exposition format, version 0.0.4.
//!
//! This file owns the metric names, their help texts and types, and the
//! rules of the format: one `# HELP` and one `# TYPE` line per family before
//! its samples, counters ending in `_total`, units in names (`_bytes`,
//! `_seconds`), names and label names restricted to their charsets, and label
//! values escaped for backslash, double quote and newline. A client's
//! connection renders as `lentil_client_*`, a server as `lentil_server_*`
//! plus `lentil_peer_*` families with one sample per peer (label `peer`).

use std::collections::HashSet;
use std::fmt::Write as _;

use super::{Metrics, PeerMetrics, ServerMetricsSnapshot};

/// Renders metrics as Prometheus text (exposition format 0.0.4), ready to
/// serve with content type `text/plain; version=0.0.4`.
///
/// Metric names start with a namespace (`lentil` unless changed), then
/// `client_`, `server_` or `peer_`. Labels added with [`label`](Self::label)
/// go on every sample, e.g. to tell several servers in one process apart.
///
/// ```
/// use lentil::{Prometheus, ServerMetricsSnapshot};
/// let snapshot = ServerMetricsSnapshot { peers: 2, accepted: 5, ..Default::default() };
/// let text = Prometheus::new().label("shard", "eu-1").render_server(&snapshot);
/// assert!(text.contains("# TYPE lentil_server_accepted_total counter\n"));
/// assert!(text.contains("lentil_server_accepted_total{shard=\"eu-1\"} 5\n"));
/// assert!(text.contains("lentil_server_peers{shard=\"eu-1\"} 2\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prometheus {
    namespace: String,
    labels: Vec<(String, String)>,
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            namespace: String::from("lentil"),
            labels: Vec::new(),
        }
    }
}

/// Label names the per-peer families use themselves.
const RESERVED_LABELS: [&str; 2] = ["peer", "addr"];

impl Prometheus {
    /// A renderer with namespace `lentil` and no extra labels.
    ///
    /// ```
    /// let text = lentil::Prometheus::new().render_client(&lentil::Metrics::default());
    /// assert!(text.starts_with("# HELP lentil_client_"));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the namespace that starts every metric name. Characters outside
    /// `[a-zA-Z0-9_:]` become `_`, and a leading digit gets a `_` before it;
    /// an empty namespace leaves names starting at `client_`, `server_` or `peer_`.
    ///
    /// ```
    /// let text = lentil::Prometheus::new()
    ///     .namespace("my-game")
    ///     .render_client(&lentil::Metrics::default());
    /// assert!(text.contains("\nmy_game_client_sent_bytes_total 0\n"));
    /// ```
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = sanitize(namespace, |c| {
            c.is_ascii_alphanumeric() || c == '_' || c == ':'
        });
        self
    }

    /// Adds a label to every sample. The name is made valid like a namespace
    /// (without `:`); the value may be any text and is escaped on output. A
    /// label whose name is empty, starts with `__` (reserved by Prometheus),
    /// is `peer` or `addr` (used by the per-peer families), or was already
    /// added, is ignored.
    ///
    /// ```
    /// let text = lentil::Prometheus::new()
    ///     .label("region", "say \"hi\"")
    ///     .render_client(&lentil::Metrics::default());
    /// assert!(text.contains("lentil_client_sent_bytes_total{region=\"say \\\"hi\\\"\"} 0\n"));
    /// ```
    pub fn label(mut self, name: &str, value: &str) -> Self {
        let name = sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_');
        let taken = name.is_empty()
            || name.starts_with("__")
            || RESERVED_LABELS.contains(&name.as_str())
            || self.labels.iter().any(|(n, _)| *n == name);
        if !taken {
            self.labels.push((name, value.to_owned()));
        }
        self
    }

    /// A client connection's metrics as Prometheus text (`<namespace>_client_*`).
    ///
    /// ```
    /// let m = lentil::Metrics { out_messages: 9, ..Default::default() };
    /// let text = lentil::Prometheus::new().render_client(&m);
    /// assert!(text.contains("\nlentil_client_sent_messages_total 9\n"));
    /// ```
    pub fn render_client(&self, metrics: &Metrics) -> String {
        let mut out = String::new();
        self.write_client(metrics, &mut out);
        out
    }

    /// Appends [`render_client`](Self::render_client)'s text to `out`, so a
    /// scrape can gather several sources into one buffer.
    pub fn write_client(&self, metrics: &Metrics, out: &mut String) {
        let labels = self.const_labels();
        for family in CONNECTION {
            let name = self.name("client", family.name);
            head(out, &name, family.kind, family.help);
            sample(out, &name, &labels, (family.value)(metrics));
        }
    }

    /// A server snapshot as Prometheus text: the whole server
    /// (`<namespace>_server_*`) and every peer (`<namespace>_peer_*`, label
    /// `peer`). A peer listed twice in `snapshot` is rendered once.
    ///
    /// ```
    /// use lentil::{Metrics, PeerMetrics, ServerMetricsSnapshot};
    /// let peer = PeerMetrics {
    ///     peer: 17,
    ///     addr: "10.0.0.2:4000".parse().unwrap(),
    ///     connected: true,
    ///     metrics: Metrics { in_messages: 3, ..Default::default() },
    /// };
    /// let snapshot = ServerMetricsSnapshot { peer_metrics: vec![peer], ..Default::default() };
    /// let text = lentil::Prometheus::new().render_server(&snapshot);
    /// assert!(text.contains("\nlentil_peer_received_messages_total{peer=\"17\"} 3\n"));
    /// assert!(text.contains("\nlentil_peer_info{peer=\"17\",addr=\"10.0.0.2:4000\"} 1\n"));
    /// ```
    pub fn render_server(&self, snapshot: &ServerMetricsSnapshot) -> String {
        let mut out = String::new();
        self.write_server(snapshot, &mut out);
        out
    }

    /// Appends [`render_server`](Self::render_server)'s text to `out`.
    pub fn write_server(&self, snapshot: &ServerMetricsSnapshot, out: &mut String) {
        let labels = self.const_labels();
        for family in SERVER {
            let name = self.name("server", family.name);
            head(out, &name, family.kind, family.help);
            sample(out, &name, &labels, (family.value)(snapshot));
        }

        let mut seen = HashSet::new();
        let peers: Vec<(&PeerMetrics, String)> = snapshot
            .peer_metrics
            .iter()
            .filter(|p| seen.insert(p.peer))
            .map(|p| {
                let mut l = labels.clone();
                push_label(&mut l, "peer", &p.peer.to_string());
                (p, l)
            })
            .collect();
        for family in CONNECTION {
            let name = self.name("peer", family.name);
            head(out, &name, family.kind, family.help);
            for (p, l) in &peers {
                sample(out, &name, l, (family.value)(&p.metrics));
            }
        }
        let name = self.name("peer", "connected");
        head(
            out,
            &name,
            Kind::Gauge,
            "Whether the peer is connected (1) or being disconnected (0).",
        );
        for (p, l) in &peers {
            sample(out, &name, l, Value::Count(u64::from(p.connected)));
        }
        let name = self.name("peer", "info");
        head(out, &name, Kind::Gauge, "The peer's address; always 1.");
        for (p, l) in &peers {
            let mut l = l.clone();
            push_label(&mut l, "addr", &p.addr.to_string());
            sample(out, &name, &l, Value::Count(1));
        }
    }

    /// The full metric name of `name` in `scope`.
    fn name(&self, scope: &str, name: &str) -> String {
        if self.namespace.is_empty() {
            format!("{scope}_{name}")
        } else {
            format!("{}_{scope}_{name}", self.namespace)
        }
    }

    /// The extra labels as `a="x",b="y"` (without braces).
    fn const_labels(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.labels {
            push_label(&mut out, name, value);
        }
        out
    }
}

impl Metrics {
    /// This snapshot as Prometheus text with the default [`Prometheus`]
    /// renderer (`lentil_client_*` families).
    ///
    /// ```
    /// let m = lentil::Metrics { resends: 2, ..Default::default() };
    /// assert!(m.to_prometheus().contains("\nlentil_client_resent_messages_total 2\n"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        Prometheus::new().render_client(self)
    }
}

impl ServerMetricsSnapshot {
    /// This snapshot as Prometheus text with the default [`Prometheus`]
    /// renderer (`lentil_server_*` and per-peer `lentil_peer_*` families).
    ///
    /// ```
    /// let s = lentil::ServerMetricsSnapshot { rejected: 1, ..Default::default() };
    /// assert!(s.to_prometheus().contains("\nlentil_server_rejected_total 1\n"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        Prometheus::new().render_server(self)
    }
}

/// A metric family's type.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// A sample's value: exact for counts, floating for the rest.
#[derive(Debug, Clone, Copy)]
enum Value {
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
struct Family<T> {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    value: fn(&T) -> Value,
}

/// Families of one connection, for a client or for each peer of a server.
static CONNECTION: &[Family<Metrics>] = &[
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
static SERVER: &[Family<ServerMetricsSnapshot>] = &[
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

/// Keeps the characters `keep` allows, turns others into `_`, and puts a `_`
/// before a leading digit.
fn sanitize(text: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(text.chars().map(|c| if keep(c) { c } else { '_' }));
    out
}

/// Writes the `# HELP` and `# TYPE` lines of family `name`.
fn head(out: &mut String, name: &str, kind: Kind, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push_str(match kind {
        Kind::Counter => " counter\n",
        Kind::Gauge => " gauge\n",
    });
}

/// Appends `name="value"` to a label list, with the value escaped.
fn push_label(labels: &mut String, name: &str, value: &str) {
    if !labels.is_empty() {
        labels.push(',');
    }
    labels.push_str(name);
    labels.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => labels.push_str("\\\\"),
            '"' => labels.push_str("\\\""),
            '\n' => labels.push_str("\\n"),
            c => labels.push(c),
        }
    }
    labels.push('"');
}

/// Writes one sample line: `name{labels} value`, or `name value` without labels.
fn sample(out: &mut String, name: &str, labels: &str, value: Value) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        out.push_str(labels);
        out.push('}');
    }
    out.push(' ');
    match value {
        Value::Count(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Real(x) if x.is_nan() => out.push_str("NaN"),
        Value::Real(x) if x == f64::INFINITY => out.push_str("+Inf"),
        Value::Real(x) if x == f64::NEG_INFINITY => out.push_str("-Inf"),
        Value::Real(x) => {
            let _ = write!(out, "{x}");
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_label_names_are_made_valid() {
        assert_eq!(
            sanitize("9 lives-ok:x", |c| c.is_ascii_alphanumeric()
                || c == '_'
                || c == ':'),
            "_9_lives_ok:x"
        );
        assert_eq!(sanitize("é", |c| c.is_ascii_alphanumeric()), "_");
        let p = Prometheus::new()
            .label("a-b", "1")
            .label("a_b", "2")
            .label("peer", "3")
            .label("__x", "4")
            .label("", "5");
        assert_eq!(p.labels, vec![("a_b".to_string(), "1".to_string())]);
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut l = String::new();
        push_label(&mut l, "x", "a\\b\"c\nd");
        assert_eq!(l, r#"x="a\\b\"c\nd""#);
        let mut h = String::new();
        head(&mut h, "m", Kind::Gauge, "one\\two\nthree \"q\"");
        assert_eq!(h, "# HELP m one\\\\two\\nthree \"q\"\n# TYPE m gauge\n");
    }

    #[test]
    fn special_floats_use_the_format_spelling() {
        let mut out = String::new();
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.25, 1e-9, 1e21] {
            sample(&mut out, "m", "", Value::Real(x));
        }
        assert_eq!(
            out,
            "m NaN\nm +Inf\nm -Inf\nm 0.25\nm 0.000000001\nm 1000000000000000000000\n"
        );
    }
}
