//! The connection's [`ConnectionSnapshot`].

use super::Connection;
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
}
