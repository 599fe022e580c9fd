//! What a connection tells about itself: its gauges and counters one by
//! one, and all of them at once as a [`ConnectionSnapshot`].

use std::time::{Duration, Instant};

use super::*;
use crate::proto::ConnectionSnapshot;

impl Connection {
    /// Its counters and gauges now.
    pub fn snapshot(&self) -> ConnectionSnapshot {
        let rtt = self.rtt();
        ConnectionSnapshot {
            counters: *self.stats(),
            srtt: rtt.srtt(),
            rttvar: rtt.rttvar(),
            rtt_p50: rtt.percentile(50.0),
            rtt_p99: rtt.percentile(99.0),
            rtt_max: rtt.percentile(100.0),
            reorder_queue: self.reorder_queue(),
            pending_acks: self.pending_acks(),
            unsent_bytes: self.unsent_bytes(),
            buffered_bytes: self.buffered_bytes(),
            reliable_in_flight: self.reliable_in_flight(),
            congestion_window: self.congestion_window(),
            send_rate: self.send_rate(),
            delivery_rate: self.delivery_rate(),
            queue_time: self.queue_time(),
            held_bytes: self.held_bytes(),
        }
    }

    /// The pacing rate, bytes per second.
    pub fn send_rate(&self) -> f64 {
        self.rate.rate()
    }

    /// Bytes per second the peer acknowledged over the last round trip.
    pub fn delivery_rate(&self) -> f64 {
        self.rate.delivery_rate()
    }

    /// How long what is queued now would take to leave at the current rate.
    pub fn queue_time(&self) -> Duration {
        Duration::from_secs_f64(
            (self.unsent_bytes() as f64 / self.rate.rate().max(1.0)).min(3600.0),
        )
    }

    /// Payload bytes not yet put on the wire.
    pub fn unsent_bytes(&self) -> usize {
        self.channels.iter().map(Channel::unsent_bytes).sum()
    }

    /// Bytes held for messages that cannot be delivered yet (fragments of
    /// unfinished messages, ordered messages waiting for a gap), as charged
    /// against `max_held_bytes`.
    pub fn held_bytes(&self) -> usize {
        self.reassembly.held_bytes()
            + self
                .channels
                .iter()
                .map(Channel::reorder_bytes)
                .sum::<usize>()
    }

    /// Counters of this connection.
    pub fn stats(&self) -> &ConnectionStats {
        &self.stats
    }

    /// Counts a datagram the socket refused.
    pub fn note_send_failure(&mut self) {
        self.stats.send_failures += 1;
    }

    /// Counts a datagram with this connection's token that failed to parse.
    pub fn note_invalid_packet(&mut self) {
        self.stats.invalid_packets += 1;
    }

    /// The RTT estimator.
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Packets sent and not yet acknowledged or declared lost.
    pub fn pending_acks(&self) -> usize {
        self.sent.in_flight()
    }

    /// Reliable messages sent and awaiting acknowledgement.
    pub fn reliable_in_flight(&self) -> usize {
        self.channels.iter().map(Channel::in_flight).sum()
    }

    /// Messages partly received as fragments.
    pub fn partial_messages(&self) -> usize {
        self.reassembly.partial_messages()
    }

    /// Ordered messages held waiting for a gap to fill, all channels.
    pub fn reorder_queue(&self) -> usize {
        self.channels.iter().map(Channel::reorder_len).sum()
    }

    /// When a packet was last accepted from the peer.
    pub fn last_received(&self) -> Instant {
        self.last_recv
    }
}
