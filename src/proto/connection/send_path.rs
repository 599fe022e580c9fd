//! How a message enters a connection: the one send path (a [`Route`] and a
//! [`Payload`]), the admission checks against the send buffer's byte cap and
//! the send-queue delay bound, and the queueing on the channel.

use bytes::Bytes;

use super::*;
use crate::proto::{Payload, Route};
use crate::{Delivery, Error};

impl Connection {
    /// Queues `payload` on the channel `route` names. A reliable message
    /// larger than one packet is split into fragments.
    pub fn send_routed(&mut self, route: Route, payload: Payload<'_>) -> Result<(), Error> {
        let channel = match route {
            Route::Delivery(delivery) => self.channel_for(delivery)?,
            Route::Channel(channel) => channel,
        };
        match payload {
            Payload::Copied(bytes) => self.send_slice_on(channel, bytes),
            Payload::Shared(bytes) => self.send_on(channel, bytes),
            Payload::Queued(bytes) => self.send_queued_on(channel, bytes),
        }
    }

    /// Queues a message on the first channel with this delivery mode.
    pub fn send(&mut self, payload: Bytes, delivery: Delivery) -> Result<(), Error> {
        let channel = self.channel_for(delivery)?;
        self.send_on(channel, payload)
    }

    /// Queues a copy of `payload` on the first channel with this delivery
    /// mode. A message that fits one packet is copied into the channel's
    /// arena, which allocates nothing once its chunks are recycled.
    pub fn send_slice(&mut self, payload: &[u8], delivery: Delivery) -> Result<(), Error> {
        let channel = self.channel_for(delivery)?;
        self.send_slice_on(channel, payload)
    }

    /// The id of the first channel with this delivery mode.
    pub(super) fn channel_for(&self, delivery: Delivery) -> Result<u8, Error> {
        self.channels
            .iter()
            .position(|c| c.delivery == delivery)
            .map(|c| c as u8)
            .ok_or(Error::NoChannelFor(delivery))
    }

    /// Queues a message on `channel`. A reliable message larger than one
    /// packet is split into fragments.
    pub fn send_on(&mut self, channel: u8, payload: Bytes) -> Result<(), Error> {
        let pieces = self.admit(channel, payload.len(), true)?;
        self.push(channel, pieces, payload);
        Ok(())
    }

    /// Queues a message a thread handle's queue already took: its sender
    /// had its backpressure then (`HandleQueueFull`), and a refusal now
    /// could only drop it, so the delay bound does not apply; the byte cap
    /// (`max_send_buffer_bytes`) still does.
    pub fn send_queued_on(&mut self, channel: u8, payload: Bytes) -> Result<(), Error> {
        let pieces = self.admit(channel, payload.len(), false)?;
        self.push(channel, pieces, payload);
        Ok(())
    }

    /// Like [`send_queued_on`](Self::send_queued_on), on the first channel
    /// with this delivery mode.
    pub fn send_queued(&mut self, payload: Bytes, delivery: Delivery) -> Result<(), Error> {
        let channel = self.channel_for(delivery)?;
        self.send_queued_on(channel, payload)
    }

    /// Like [`send_on`](Self::send_on), queueing a copy of `payload`.
    pub fn send_slice_on(&mut self, channel: u8, payload: &[u8]) -> Result<(), Error> {
        let pieces = self.admit(channel, payload.len(), true)?;
        if pieces > 1 {
            // A fragmented message is sliced into pieces of one buffer of its own.
            self.push(channel, pieces, Bytes::copy_from_slice(payload));
            return Ok(());
        }
        match &mut self.channels[usize::from(channel)].outbox {
            Outbox::Reliable(sender) => {
                sender.push_copy(payload);
            }
            Outbox::Unreliable(queue) => queue.push_copy(payload),
        }
        self.maybe_pending.insert(usize::from(channel));
        Ok(())
    }

    /// Queues an admitted message of `pieces` pieces on `channel`.
    pub(super) fn push(&mut self, channel: u8, pieces: usize, payload: Bytes) {
        match &mut self.channels[usize::from(channel)].outbox {
            Outbox::Unreliable(queue) => queue.push(payload),
            Outbox::Reliable(sender) if pieces > 1 => {
                sender.push_fragmented(payload, wire::fragment_payload(self.mtu).max(1));
                self.stats.messages_fragmented += 1;
            }
            Outbox::Reliable(sender) => {
                sender.push(payload);
            }
        }
        self.maybe_pending.insert(usize::from(channel));
    }

    /// Checks that a message of `len` bytes may be queued on `channel`: the
    /// connection is open, the channel exists, the message is not too large
    /// for its mode and fits the send buffer, and, with `delay_bound`, that
    /// the unsent queue is within `max_send_queue_delay`. Returns how many
    /// pieces it takes (more than one: it is fragmented).
    pub(super) fn admit(&self, channel: u8, len: usize, delay_bound: bool) -> Result<usize, Error> {
        if !self.is_open() {
            return Err(Error::NotConnected);
        }
        let Some(delivery) = self.channels.get(usize::from(channel)).map(|c| c.delivery) else {
            return Err(Error::UnknownChannel(channel));
        };
        let single = wire::max_packet_payload(self.mtu);
        let max = if delivery.is_reliable() {
            self.max_message_size.max(single)
        } else {
            single
        };
        if len > max {
            return Err(Error::MessageTooLarge { size: len, max });
        }
        let pieces = if len > single {
            len.div_ceil(wire::fragment_payload(self.mtu).max(1))
        } else {
            1
        };
        // One pass for both bounds: every send runs this.
        let (queued, unsent) = self.channels.iter().fold((0, 0), |(queued, unsent), c| {
            let (bytes, len, waiting) = c.sizes();
            (queued + bytes + len * MESSAGE_OVERHEAD, unsent + waiting)
        });
        if queued + len + pieces * MESSAGE_OVERHEAD > self.max_send_buffer_bytes {
            return Err(Error::QueueFull {
                queued_bytes: queued,
                limit_bytes: self.max_send_buffer_bytes,
            });
        }
        // Small reliable messages are the ones whose delay the bound keeps
        // short; a message of many packets is bulk, late by its own size, and
        // an unreliable one is dropped, not refused, when the path is busy.
        let bounded = delay_bound && delivery.is_reliable() && pieces == 1;
        if let Some(limit) = self.send_queue_limit().filter(|_| bounded) {
            if unsent >= limit {
                return Err(Error::QueueFull {
                    queued_bytes: unsent,
                    limit_bytes: limit,
                });
            }
        }
        Ok(pieces)
    }

    /// Unsent bytes past which a send is refused: what the current rate
    /// carries in `max_send_queue_delay`, or in two of the owner's update
    /// intervals if longer (nothing leaves between updates), at least
    /// `SEND_QUEUE_FLOOR`; plus what could leave at once, within both the
    /// congestion window and the pacer's balance, which waits on neither.
    /// The test is on what is already queued, so one large message is always
    /// accepted by an empty queue.
    pub(super) fn send_queue_limit(&self) -> Option<usize> {
        let delay = self.max_send_queue_delay?;
        let wait = delay.max(self.update_interval.min(MAX_UPDATE_GAP) * 2);
        // The float-to-int casts saturate, so a huge delay means no bound.
        let carried = (self.rate.rate() * wait.as_secs_f64()) as usize;
        let room = self
            .congestion
            .window()
            .saturating_sub(self.sent.eliciting_in_flight())
            .saturating_mul(wire::max_packet_payload(self.mtu));
        // The pacer refills as time passes; the last packet received is the
        // latest time known here (no clock is read), so its balance then
        // is a lower bound on what may leave now.
        let balance = self.pacer.balance_at(self.last_recv, self.rate.rate());
        let at_once = room.min(balance as usize);
        Some(carried.max(SEND_QUEUE_FLOOR).saturating_add(at_once))
    }
}
