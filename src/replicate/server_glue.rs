//! Replication on a [`Server`], through its public API only: it follows
//! peers from the server's events, moves frames on replication's two
//! channels, and sizes each client's snapshot from that connection's
//! `Metrics::send_rate`. It keeps state only for peers the server accepted,
//! and never handles messages on the game's channels.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::sender::{PeerReplica, SenderStats};
use super::state::StateLink;
use super::world::{ReplicatedMap, Topic};
use super::{codec, ReplicateError, ReplicationConfig};
use crate::{PeerId, Server, ServerEvent};

/// Most snapshot credit a peer saves up, in update intervals' worth of
/// rate, so an idle moment does not turn into a burst.
const MAX_CREDIT_STEP: Duration = Duration::from_millis(50);

type SubscribeFn = Box<dyn FnMut(PeerId, Topic) -> bool + Send>;

struct Peer<K, L, R> {
    replica: PeerReplica<K>,
    state: StateLink<L, R>,
    credit: f64,
    last_update: Option<Instant>,
}

/// The server side of replication: one [`ReplicatedMap`] for every client,
/// each seeing the topics it is subscribed to, and a [`StateLink`] per peer
/// (`L` is the server's value for each peer, `R` each peer's own).
///
/// Feed it every event of [`Server::update_events`] ([`handle_event`]
/// returns `false` for the game's own), then call [`update`] once per tick.
///
/// [`handle_event`]: Self::handle_event
/// [`update`]: Self::update
pub struct ReplicationServer<K, V, L = (), R = ()> {
    config: ReplicationConfig,
    world: ReplicatedMap<K, V>,
    peers: HashMap<PeerId, Peer<K, L, R>>,
    initial_local: L,
    on_subscribe: Option<SubscribeFn>,
    malformed: u64,
    send_failures: u64,
}

impl<K, V, L, R> ReplicationServer<K, V, L, R>
where
    K: Ord + Clone + Hash + Serialize + DeserializeOwned,
    V: Serialize,
    L: Serialize + Clone,
    R: DeserializeOwned,
{
    /// Replication with an empty world; every new peer's state link starts
    /// with `initial_local` as the server's value.
    pub fn new(config: ReplicationConfig, initial_local: L) -> Self {
        Self {
            config,
            world: ReplicatedMap::new(),
            peers: HashMap::new(),
            initial_local,
            on_subscribe: None,
            malformed: 0,
            send_failures: 0,
        }
    }

    /// The world every client sees its scope of.
    pub fn world(&self) -> &ReplicatedMap<K, V> {
        &self.world
    }

    /// The world, to edit.
    pub fn world_mut(&mut self) -> &mut ReplicatedMap<K, V> {
        &mut self.world
    }

    /// Decides a client's own subscription requests; without it they are
    /// refused, so only the server chooses what a client sees.
    pub fn on_subscribe_request(&mut self, f: impl FnMut(PeerId, Topic) -> bool + Send + 'static) {
        self.on_subscribe = Some(Box::new(f));
    }

    /// Puts `topic` in `peer`'s scope; `false` if no such peer or already in.
    pub fn subscribe(&mut self, peer: PeerId, topic: Topic) -> bool {
        self.peers
            .get_mut(&peer)
            .is_some_and(|p| p.replica.subscribe(topic))
    }

    /// Takes `topic` out of `peer`'s scope; `false` if no such peer or not in.
    pub fn unsubscribe(&mut self, peer: PeerId, topic: Topic) -> bool {
        self.peers
            .get_mut(&peer)
            .is_some_and(|p| p.replica.unsubscribe(topic))
    }

    /// `peer`'s replication state (topics, acknowledged snapshot, stats).
    pub fn replica(&self, peer: PeerId) -> Option<&PeerReplica<K>> {
        self.peers.get(&peer).map(|p| &p.replica)
    }

    /// What was sent to `peer` so far.
    pub fn peer_stats(&self, peer: PeerId) -> Option<SenderStats> {
        self.replica(peer).map(PeerReplica::stats)
    }

    /// The state link with `peer`.
    pub fn state(&self, peer: PeerId) -> Option<&StateLink<L, R>> {
        self.peers.get(&peer).map(|p| &p.state)
    }

    /// The state link with `peer`, to set the server's value or a callback.
    pub fn state_mut(&mut self, peer: PeerId) -> Option<&mut StateLink<L, R>> {
        self.peers.get_mut(&peer).map(|p| &mut p.state)
    }

    /// Frames from clients that did not parse, dropped.
    pub fn malformed(&self) -> u64 {
        self.malformed
            + self
                .peers
                .values()
                .map(|p| p.state.malformed())
                .sum::<u64>()
    }

    /// Replication frames the engine refused to send (a full queue), dropped:
    /// the next snapshot carries the same changes.
    pub fn send_failures(&self) -> u64 {
        self.send_failures
    }

    /// Follows connects and disconnects and takes replication's messages;
    /// `true` if the event was replication's alone.
    pub fn handle_event(&mut self, event: &ServerEvent) -> bool {
        match event {
            ServerEvent::Connected { peer, .. } => {
                // A value that encoded once encodes again.
                if let Ok(mut state) = StateLink::new(self.initial_local.clone()) {
                    state.set_autoflush_delay(self.config.autoflush_delay);
                    let replica = PeerReplica::new();
                    let slot = Peer {
                        replica,
                        state,
                        credit: 0.0,
                        last_update: None,
                    };
                    self.peers.insert(*peer, slot);
                }
                false
            }
            ServerEvent::Disconnected { peer, .. } | ServerEvent::Error { peer, .. } => {
                self.peers.remove(peer);
                false
            }
            ServerEvent::Message { peer, message } if self.config.owns(message.channel) => {
                if self.handle_frame(*peer, message.bytes()).is_err() {
                    self.malformed += 1;
                }
                true
            }
            _ => false,
        }
    }

    fn handle_frame(&mut self, peer: PeerId, frame: &[u8]) -> Result<(), ReplicateError> {
        let Some(slot) = self.peers.get_mut(&peer) else {
            return Ok(());
        };
        let mut r = codec::Reader::new(frame);
        match r.tag()? {
            codec::SNAPSHOT_ACK => {
                let seq: u32 = r.value()?;
                r.finish()?;
                slot.replica.handle_ack(seq);
                Ok(())
            }
            tag @ (codec::SUBSCRIBE | codec::UNSUBSCRIBE) => {
                let topic: Topic = r.value()?;
                r.finish()?;
                let allowed = self.on_subscribe.as_mut().is_some_and(|f| f(peer, topic));
                if tag == codec::UNSUBSCRIBE {
                    slot.replica.unsubscribe(topic);
                } else if allowed {
                    slot.replica.subscribe(topic);
                }
                Ok(())
            }
            codec::STATE | codec::STATE_ACK => slot.state.handle(frame),
            _ => Err(ReplicateError::Malformed("unknown tag")),
        }
    }

    /// Sends every peer what is due: its state link's frames, and a snapshot
    /// within its budget, which is `rate_share` of the connection's send
    /// rate over the time since its last update, capped at one packet.
    pub fn update(&mut self, server: &mut Server, now: Instant) -> Result<(), ReplicateError> {
        let packet = server.config().max_packet_payload();
        let channels = (self.config.unreliable_channel, self.config.reliable_channel);
        let mut failures = 0;
        for (&peer, slot) in &mut self.peers {
            let Some(metrics) = server.metrics(peer) else {
                continue;
            };
            let resend_after = (metrics.srtt * 2).max(Duration::from_millis(20));
            while let Some(t) = slot.state.poll_transmit(now, packet, resend_after) {
                let channel = if t.reliable { channels.1 } else { channels.0 };
                failures += u64::from(server.send_on(peer, channel, &t.bytes).is_err());
            }
            let step = slot.last_update.map_or(MAX_CREDIT_STEP, |t| {
                now.saturating_duration_since(t).min(MAX_CREDIT_STEP)
            });
            slot.last_update = Some(now);
            let rate = metrics.send_rate * self.config.rate_share;
            slot.credit = (slot.credit + rate * step.as_secs_f64()).min(packet as f64);
            let budget = slot.credit.max(0.0) as usize;
            if let Some(frame) = slot.replica.build(now, &self.world, budget)? {
                slot.credit -= frame.len() as f64;
                failures += u64::from(server.send_on(peer, channels.0, &frame).is_err());
            }
        }
        self.send_failures += failures;
        Ok(())
    }
}
