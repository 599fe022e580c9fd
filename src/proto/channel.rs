//! One channel of a connection: its delivery mode, its send queue and its
//! receive state. Channels are independent: each has its own id space, so a
//! gap on one ordered channel never holds back another.

use super::channel_receivers::{OrderedReceiver, ReliableReceiver, SequencedReceiver};
use super::send_buffer::{HeldBudget, ReliableSender, UnreliableSender};
use super::sent::Fate;
use crate::{wire, Delivery};

/// The send side of a channel.
#[derive(Debug)]
pub enum Outbox {
    /// `Unreliable` and `UnreliableSequenced`: a FIFO.
    Unreliable(UnreliableSender),
    /// `Reliable` and `ReliableOrdered`: held until acknowledged.
    Reliable(ReliableSender),
}

/// The receive side of a channel.
#[derive(Debug)]
pub enum Inbox {
    /// Delivers whatever arrives.
    Unreliable,
    /// Drops what is older than the newest delivered.
    Sequenced(SequencedReceiver),
    /// Delivers each id once, in any order.
    Reliable(ReliableReceiver),
    /// Delivers each id once, in id order.
    Ordered(OrderedReceiver),
}

/// A set of channel indices (below 64, the most a connection has), one bit
/// each: which channels may have messages to send, or which sequenced
/// channels remember a delivered message. Kept beside the channels so a
/// connection can pass over those with nothing to do without reading them:
/// they lie apart in memory, and a server asks this of every peer it
/// services.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ChannelSet(u64);

impl ChannelSet {
    /// Adds a channel.
    pub fn insert(&mut self, channel: usize) {
        // An index past 64 cannot happen (the config refuses more channels);
        // were it to, every channel is taken in rather than none.
        self.0 |= 1u64.checked_shl(channel as u32).unwrap_or(u64::MAX);
    }

    /// Removes a channel.
    pub fn remove(&mut self, channel: usize) {
        self.0 &= !1u64.checked_shl(channel as u32).unwrap_or(0);
    }

    /// Whether the channel is in the set.
    pub fn contains(self, channel: usize) -> bool {
        self.0 & 1u64.checked_shl(channel as u32).unwrap_or(0) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The channels in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let channel = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(channel)
        })
    }
}

/// One channel.
#[derive(Debug)]
pub struct Channel {
    /// Its delivery mode.
    pub delivery: Delivery,
    /// Messages to send.
    pub outbox: Outbox,
    /// Receive state.
    pub inbox: Inbox,
}

impl Channel {
    /// A channel with `window` ids of receive window, keeping what the peer
    /// holds for it under `held_limit` bytes.
    pub fn new(delivery: Delivery, window: u16, held_limit: usize) -> Self {
        let budget = |ordered| HeldBudget {
            limit: held_limit,
            ordered,
        };
        let (outbox, inbox) = match delivery {
            Delivery::Unreliable => (
                Outbox::Unreliable(UnreliableSender::default()),
                Inbox::Unreliable,
            ),
            Delivery::UnreliableSequenced => (
                Outbox::Unreliable(UnreliableSender::default()),
                Inbox::Sequenced(SequencedReceiver::default()),
            ),
            Delivery::Reliable => (
                Outbox::Reliable(ReliableSender::with_budget(budget(false))),
                Inbox::Reliable(ReliableReceiver::new(window)),
            ),
            Delivery::ReliableOrdered => (
                Outbox::Reliable(ReliableSender::with_budget(budget(true))),
                Inbox::Ordered(OrderedReceiver::new(window)),
            ),
        };
        Channel {
            delivery,
            outbox,
            inbox,
        }
    }

    /// Routes the fate of a packet that carried message `id` of `channels`'
    /// channel `channel`; a loss may queue a resend, so the channel joins
    /// `pending`.
    pub fn route_fate(
        channels: &mut [Channel],
        pending: &mut ChannelSet,
        channel: u8,
        id: u16,
        fate: Fate,
    ) {
        let index = usize::from(channel);
        if let Some(c) = channels.get_mut(index) {
            c.on_fate(id, fate);
            if fate == Fate::Lost {
                pending.insert(index);
            }
        }
    }

    /// Routes the fate of a packet that carried message `id` of this channel.
    pub fn on_fate(&mut self, id: u16, fate: Fate) {
        if let Outbox::Reliable(sender) = &mut self.outbox {
            match fate {
                Fate::Acked => sender.on_acked(id),
                Fate::Lost => sender.on_lost(id),
            }
        }
    }

    /// Payload bytes held for sending or awaiting acknowledgement.
    pub fn bytes(&self) -> usize {
        match &self.outbox {
            Outbox::Unreliable(u) => u.bytes(),
            Outbox::Reliable(r) => r.bytes(),
        }
    }

    /// Messages (fragments counted one each) held for sending or awaiting acknowledgement.
    pub fn len(&self) -> usize {
        match &self.outbox {
            Outbox::Unreliable(u) => u.len(),
            Outbox::Reliable(r) => r.len(),
        }
    }

    /// What a send checks, in one look: payload bytes held and messages held
    /// (for the byte cap), and the unsent ones' size on the wire, each with
    /// a small message's frame header (for the delay bound, so a queue of
    /// tiny messages is judged by what it takes to send).
    pub fn sizes(&self) -> (usize, usize, usize) {
        let header = wire::message_frame_len(self.delivery, false, 0);
        match &self.outbox {
            Outbox::Unreliable(u) => (u.bytes(), u.len(), u.bytes() + u.len() * header),
            Outbox::Reliable(r) => (
                r.bytes(),
                r.len(),
                r.unsent_bytes() + r.unsent_len() * header,
            ),
        }
    }

    /// Payload bytes never put on the wire.
    pub fn unsent_bytes(&self) -> usize {
        match &self.outbox {
            Outbox::Unreliable(u) => u.bytes(),
            Outbox::Reliable(r) => r.unsent_bytes(),
        }
    }

    /// Whether messages wait to go out, new or to be resent.
    pub fn has_pending(&self) -> bool {
        match &self.outbox {
            Outbox::Unreliable(u) => u.len() > 0,
            Outbox::Reliable(r) => r.has_pending(),
        }
    }

    /// Reliable messages sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        match &self.outbox {
            Outbox::Unreliable(_) => 0,
            Outbox::Reliable(r) => r.in_flight(),
        }
    }

    /// Whether nothing of this channel is left to deliver: every reliable
    /// message acknowledged, every unreliable one sent (a graceful close
    /// waits for both, so what was queued before it still goes out).
    pub fn is_drained(&self) -> bool {
        match &self.outbox {
            Outbox::Unreliable(u) => u.len() == 0,
            Outbox::Reliable(r) => r.is_drained(),
        }
    }

    /// Ordered messages waiting for a gap to fill.
    pub fn reorder_len(&self) -> usize {
        match &self.inbox {
            Inbox::Ordered(o) => o.len(),
            _ => 0,
        }
    }

    /// Bytes charged for messages waiting for a gap to fill.
    pub fn reorder_bytes(&self) -> usize {
        match &self.inbox {
            Inbox::Ordered(o) => o.held_bytes(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ChannelSet;

    #[test]
    fn channel_set_holds_what_was_inserted() {
        let mut set = ChannelSet::default();
        assert!(set.is_empty());
        for c in [0, 3, 63] {
            set.insert(c);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 3, 63]);
        assert!(set.contains(3) && !set.contains(4));
        set.remove(3);
        set.remove(64);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 63]);
        let mut all = ChannelSet::default();
        all.insert(64);
        assert_eq!(all.iter().count(), 64, "an impossible index takes all in");
    }
}
