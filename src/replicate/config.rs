//! The replication glue's own settings, kept apart from the engine's
//! `Config`: which two channels replication owns, what share of the send
//! rate snapshots may take, and the state link's flush delay. It only
//! describes; it never sends.

use std::time::Duration;

use crate::{Config, Delivery};

use super::state::DEFAULT_AUTOFLUSH_DELAY;

/// Settings of [`ReplicationServer`](super::ReplicationServer) and
/// [`ReplicationClient`](super::ReplicationClient). Both sides must agree on
/// the channels; [`apply_to`](Self::apply_to) adds them to an engine config.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationConfig {
    /// Channel (an `Unreliable` one) for snapshots, acknowledgements and
    /// per-connection state. Default 4: after the four default channels.
    pub unreliable_channel: u8,
    /// Channel (a `ReliableOrdered` one) for subscription requests and state
    /// values larger than one packet. Default 5.
    pub reliable_channel: u8,
    /// Share of a connection's `Metrics::send_rate` that snapshots may take,
    /// so the game's own messages keep the rest. Default 0.5.
    pub rate_share: f64,
    /// How long a per-connection state change waits for more before it goes
    /// (juggler's `autoflush_delay`). Default 0.2 s.
    pub autoflush_delay: Duration,
    /// Most entries a client's view accepts. Default 65,536.
    pub max_view_entries: usize,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            unreliable_channel: 4,
            reliable_channel: 5,
            rate_share: 0.5,
            autoflush_delay: DEFAULT_AUTOFLUSH_DELAY,
            max_view_entries: super::DEFAULT_MAX_ENTRIES,
        }
    }
}

impl ReplicationConfig {
    /// Makes `config`'s channels include replication's two, adding
    /// `Unreliable` channels in any gap; use it on both sides.
    pub fn apply_to(&self, config: &mut Config) {
        let needed = usize::from(self.unreliable_channel.max(self.reliable_channel)) + 1;
        if config.channels.len() < needed {
            config.channels.resize(needed, Delivery::Unreliable);
        }
        config.channels[usize::from(self.unreliable_channel)] = Delivery::Unreliable;
        config.channels[usize::from(self.reliable_channel)] = Delivery::ReliableOrdered;
    }

    /// Whether a message on `channel` belongs to replication.
    pub(crate) fn owns(&self, channel: u8) -> bool {
        channel == self.unreliable_channel || channel == self.reliable_channel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_to_adds_both_channels_and_keeps_the_defaults() {
        let mut config = Config::default();
        ReplicationConfig::default().apply_to(&mut config);
        assert_eq!(config.channels.len(), 6);
        assert_eq!(&config.channels[..4], &Delivery::ALL[..]);
        assert_eq!(config.channels[4], Delivery::Unreliable);
        assert_eq!(config.channels[5], Delivery::ReliableOrdered);
        assert!(config.validate().is_ok());
    }
}
