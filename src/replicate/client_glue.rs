//! Replication on a [`Client`], through its public API only: it applies the
//! server's snapshots to a [`WorldView`], acknowledges them, carries the
//! state link and the client's subscription requests. Frames that fail to
//! parse are dropped and counted; it never handles the game's channels.

use std::hash::Hash;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::receiver::{ViewChange, WorldView};
use super::state::StateLink;
use super::world::Topic;
use super::{codec, ReplicateError, ReplicationConfig};
use crate::{Client, ClientEvent};

/// How often the newest snapshot is acknowledged again while none arrives.
const REACK_INTERVAL: Duration = Duration::from_millis(50);

/// The client side of replication: its view of the server's world (`K` to
/// `V`) and its state link (`L` is the client's value, `R` the server's).
///
/// Feed it every event of [`Client::update_events`] ([`handle_event`]
/// returns `false` for the game's own), then call [`update`] once per tick.
///
/// [`handle_event`]: Self::handle_event
/// [`update`]: Self::update
pub struct ReplicationClient<K, V, L = (), R = ()> {
    config: ReplicationConfig,
    view: WorldView<K, V>,
    state: StateLink<L, R>,
    ack_due: Option<u32>,
    last_ack: Option<Instant>,
    requests: Vec<Vec<u8>>,
    malformed: u64,
    send_failures: u64,
}

impl<K, V, L, R> ReplicationClient<K, V, L, R>
where
    K: Ord + Clone + Hash + DeserializeOwned,
    V: Clone + PartialEq + DeserializeOwned,
    L: Serialize,
    R: DeserializeOwned,
{
    /// An empty view; the state link starts with `initial_local`.
    pub fn new(config: ReplicationConfig, initial_local: L) -> Result<Self, ReplicateError> {
        let mut state = StateLink::new(initial_local)?;
        state.set_autoflush_delay(config.autoflush_delay);
        Ok(Self {
            view: WorldView::with_max_entries(config.max_view_entries),
            config,
            state,
            ack_due: None,
            last_ack: None,
            requests: Vec::new(),
            malformed: 0,
            send_failures: 0,
        })
    }

    /// The client's view of the entries in its scope.
    pub fn view(&self) -> &WorldView<K, V> {
        &self.view
    }

    /// What the applied snapshots changed since the last call.
    pub fn drain_changes(&mut self) -> std::vec::Drain<'_, ViewChange<K>> {
        self.view.drain_changes()
    }

    /// The state link with the server.
    pub fn state(&self) -> &StateLink<L, R> {
        &self.state
    }

    /// The state link, to set the client's value or a change callback.
    pub fn state_mut(&mut self) -> &mut StateLink<L, R> {
        &mut self.state
    }

    /// Asks the server to add `topic` to this client's scope (the server's
    /// `on_subscribe_request` decides).
    pub fn subscribe(&mut self, topic: Topic) {
        self.requests
            .push(codec::small_frame(codec::SUBSCRIBE, topic));
    }

    /// Asks the server to take `topic` out of this client's scope.
    pub fn unsubscribe(&mut self, topic: Topic) {
        self.requests
            .push(codec::small_frame(codec::UNSUBSCRIBE, topic));
    }

    /// Frames from the server that did not parse, dropped.
    pub fn malformed(&self) -> u64 {
        self.malformed + self.state.malformed()
    }

    /// Replication frames the engine refused to send, dropped.
    pub fn send_failures(&self) -> u64 {
        self.send_failures
    }

    /// Takes replication's messages; `true` if the event was replication's.
    pub fn handle_event(&mut self, event: &ClientEvent) -> bool {
        let ClientEvent::Message(message) = event else {
            return false;
        };
        if !self.config.owns(message.channel) {
            return false;
        }
        let frame = message.bytes();
        let result = match frame.first() {
            Some(&codec::SNAPSHOT) => self.view.apply(frame).map(|applied| {
                if applied.is_some() {
                    self.ack_due = applied;
                }
            }),
            Some(&(codec::STATE | codec::STATE_ACK)) => self.state.handle(frame),
            _ => Err(ReplicateError::Malformed("unknown tag")),
        };
        if result.is_err() {
            self.malformed += 1;
        }
        true
    }

    /// Sends what is due: the acknowledgement of the newest applied
    /// snapshot, subscription requests and the state link's frames.
    pub fn update(&mut self, client: &mut Client, now: Instant) {
        if !client.is_connected() {
            return;
        }
        let channels = (self.config.unreliable_channel, self.config.reliable_channel);
        let mut failures = 0;
        // The newest applied snapshot is acknowledged again now and then: the
        // server may be waiting on a lost acknowledgement before it sends more.
        let repeat = self.last_ack.is_some_and(|t| now >= t + REACK_INTERVAL);
        let ack = self
            .ack_due
            .take()
            .or(self.view.newest().filter(|_| repeat));
        if let Some(seq) = ack {
            let ack = codec::small_frame(codec::SNAPSHOT_ACK, seq);
            failures += u64::from(client.send_on(channels.0, ack).is_err());
            self.last_ack = Some(now);
        }
        for request in self.requests.drain(..) {
            failures += u64::from(client.send_on(channels.1, request).is_err());
        }
        let packet = client.config().max_packet_payload();
        let resend_after = (client.metrics().srtt * 2).max(Duration::from_millis(20));
        while let Some(t) = self.state.poll_transmit(now, packet, resend_after) {
            let channel = if t.reliable { channels.1 } else { channels.0 };
            failures += u64::from(client.send_on(channel, &t.bytes).is_err());
        }
        self.send_failures += failures;
    }
}
