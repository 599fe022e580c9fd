//! Copies of an endpoint's events sent to a channel, for a consumer thread.
//!
//! The game loop never waits for the consumer: when the channel is full the
//! event is dropped and counted, with a warning at the 1st, 2nd, 4th, 8th...
//! drop, so a consumer that stays behind cannot flood the log. Until a
//! channel is opened, forwarding costs one branch per update.

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// An endpoint's event forwarding: off, or on to one channel.
#[derive(Debug)]
pub(crate) struct Forward<E> {
    tx: Option<Sender<E>>,
    /// Events dropped because the channel was full, over the endpoint's life.
    dropped: u64,
}

impl<E> Default for Forward<E> {
    fn default() -> Self {
        Forward {
            tx: None,
            dropped: 0,
        }
    }
}

impl<E: Clone> Forward<E> {
    /// Starts forwarding to a new channel holding at most `capacity` events
    /// (at least one); a previous channel gets nothing more.
    pub(crate) fn open(&mut self, capacity: usize) -> Receiver<E> {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        self.tx = Some(tx);
        rx
    }

    /// Sends a copy of each event; stops forwarding once the receiver is gone.
    pub(crate) fn forward(&mut self, events: &[E]) {
        let Some(tx) = self.tx.as_ref() else {
            return;
        };
        for event in events {
            match tx.try_send(event.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.dropped += 1;
                    if self.dropped.is_power_of_two() {
                        tracing::warn!(
                            capacity = tx.capacity().unwrap_or(0),
                            dropped = self.dropped,
                            "event channel full: the consumer is behind, events are dropped"
                        );
                    }
                }
                Err(TrySendError::Disconnected(_)) => {
                    tracing::debug!("event receiver dropped: forwarding stops");
                    self.tx = None;
                    return;
                }
            }
        }
    }

    /// Events dropped because the channel was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}
