//! How a connection ends: a graceful close that lingers until its queues
//! drain, an immediate close, an eviction for abuse, and an abort.

use std::time::Instant;

use super::*;

impl Connection {
    /// Starts a graceful close: queued reliable data keeps flowing for up to
    /// `linger`, then the peer is told `reason`. A second call changes nothing.
    pub fn close(&mut self, reason: DisconnectReason, now: Instant) {
        if self.state == State::Open {
            self.state = State::Closing {
                reason,
                linger_until: now + self.linger,
            };
            self.finish_close_if_drained(now);
        }
    }

    /// Ends the connection now and queues the disconnect for the peer, without
    /// waiting for queued data (a graceful close already lingering is cut short).
    pub fn close_now(&mut self, reason: DisconnectReason) {
        match &self.state {
            State::Open => {}
            State::Closing { reason: given, .. } => {
                let given = given.clone();
                return self.close_now_with(given);
            }
            State::Closed => return,
        }
        self.close_now_with(reason);
    }

    pub(super) fn close_now_with(&mut self, reason: DisconnectReason) {
        self.disconnect_to_send = Some((reason.clone(), DISCONNECT_COPIES));
        self.close_reason = Some(reason);
        self.state = State::Closed;
    }

    /// Drops everything held for messages that cannot be delivered yet
    /// (partial messages, ordered messages waiting for a gap), counted as
    /// dropped fragments: what a server cuts back when its peers together
    /// hold more than its cap. A channel whose held messages go waits, for
    /// good, for messages the peer already saw acknowledged. Returns the
    /// pieces dropped.
    pub fn drop_held(&mut self) -> u64 {
        let mut dropped = self.reassembly.clear();
        for c in &mut self.channels {
            if let crate::proto::channel::Inbox::Ordered(o) = &mut c.inbox {
                dropped += o.clear() as u64;
            }
        }
        self.stats.fragments_dropped += dropped;
        dropped
    }

    /// Ends the connection now for `reason`, tells the peer, and raises the
    /// close as this side's own.
    pub fn evict(&mut self, reason: DisconnectReason) {
        if self.state != State::Closed {
            self.close_now_with(reason);
            self.events
                .push_back(ConnEvent::Closed(CloseCause::LocalClosed));
        }
    }

    /// Ends the connection at once without telling the peer.
    pub fn abort(&mut self) {
        self.state = State::Closed;
        self.disconnect_to_send = None;
    }

    pub(super) fn finish_close_if_drained(&mut self, now: Instant) {
        let State::Closing {
            reason,
            linger_until,
        } = &self.state
        else {
            return;
        };
        let drained = self.channels.iter().all(Channel::is_drained);
        if drained || now >= *linger_until {
            self.disconnect_to_send = Some((reason.clone(), DISCONNECT_COPIES));
            self.close_reason = Some(reason.clone());
            self.state = State::Closed;
            self.events
                .push_back(ConnEvent::Closed(CloseCause::LocalClosed));
        }
    }

    pub(super) fn close_with(&mut self, cause: CloseCause) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.disconnect_to_send = None;
            self.events.push_back(ConnEvent::Closed(cause));
        }
    }
}
