//! Per-connection state in both directions, in the shape of a juggler
//! connection: each side sets its local value, the other side sees it as its
//! remote value, and a change callback fires there. A change waits
//! `autoflush_delay` so a burst of changes goes as one; `flush` sends at
//! once. Only the newest value travels: it goes unreliable and is repeated
//! until acknowledged (a lost copy is never resent stale), or reliable when
//! it does not fit in one packet. It owns no socket and reads no clock.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{codec, ReplicateError};

/// Default `autoflush_delay`, as in juggler: changes within 0.2 s go as one.
pub const DEFAULT_AUTOFLUSH_DELAY: Duration = Duration::from_millis(200);

/// A frame for the engine to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The frame.
    pub bytes: Vec<u8>,
    /// Whether it needs a reliable channel (larger than one packet).
    pub reliable: bool,
}

type ChangeFn<R> = Box<dyn FnMut(&R) + Send>;

/// One connection's local and remote state. `L` is what this side sets, `R`
/// what the other side sets.
pub struct StateLink<L, R> {
    local: L,
    /// The local value's encoding, to tell a real change from a repeat.
    local_value: Vec<u8>,
    /// The frame carrying it, with its sequence number.
    local_frame: Vec<u8>,
    local_seq: u32,
    dirty_since: Option<Instant>,
    pending: bool,
    force: bool,
    sent_seq: u32,
    sent_at: Option<Instant>,
    acked_seq: u32,
    remote: Option<R>,
    remote_seq: u32,
    ack_due: bool,
    autoflush_delay: Duration,
    on_change: Vec<ChangeFn<R>>,
    malformed: u64,
}

impl<L: Serialize, R: DeserializeOwned> StateLink<L, R> {
    /// A link whose local value starts as `local` (sent once the link first
    /// polls), with the default `autoflush_delay`.
    pub fn new(local: L) -> Result<Self, ReplicateError> {
        let mut link = Self {
            local_value: Vec::new(),
            local_frame: Vec::new(),
            local,
            local_seq: 0,
            dirty_since: None,
            pending: false,
            force: false,
            sent_seq: 0,
            sent_at: None,
            acked_seq: 0,
            remote: None,
            remote_seq: 0,
            ack_due: false,
            autoflush_delay: DEFAULT_AUTOFLUSH_DELAY,
            on_change: Vec::new(),
            malformed: 0,
        };
        link.encode_local()?;
        link.force = true;
        Ok(link)
    }

    /// How long a change waits for more before it goes.
    pub fn set_autoflush_delay(&mut self, delay: Duration) {
        self.autoflush_delay = delay;
    }

    /// The current `autoflush_delay`.
    pub fn autoflush_delay(&self) -> Duration {
        self.autoflush_delay
    }

    /// This side's value.
    pub fn local(&self) -> &L {
        &self.local
    }

    /// The other side's value, once one arrived.
    pub fn remote(&self) -> Option<&R> {
        self.remote.as_ref()
    }

    /// Replaces this side's value; it goes after `autoflush_delay`. A value
    /// that encodes as the current one is no change.
    pub fn set_local(&mut self, value: L) -> Result<(), ReplicateError> {
        self.local = value;
        self.encode_local()
    }

    /// Sends the local value on the next poll, without waiting.
    pub fn flush(&mut self) {
        if self.pending {
            self.force = true;
        }
    }

    /// Calls `f` with the new remote value whenever it changes.
    pub fn on_change(&mut self, f: impl FnMut(&R) + Send + 'static) {
        self.on_change.push(Box::new(f));
    }

    /// Frames from the other side that did not parse.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Whether the other side acknowledged the current local value.
    pub fn is_synced(&self) -> bool {
        !self.pending && self.acked_seq == self.local_seq
    }

    /// The next frame to send, if any: an acknowledgement, the local value
    /// once its delay passed, or a repeat of an unacknowledged one after
    /// `resend_after`. Frames over `max_unreliable` bytes need a reliable
    /// channel and are not repeated. Call until it returns `None`.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        max_unreliable: usize,
        resend_after: Duration,
    ) -> Option<Transmit> {
        if self.ack_due {
            self.ack_due = false;
            return Some(Transmit {
                bytes: codec::small_frame(codec::STATE_ACK, self.remote_seq),
                reliable: false,
            });
        }
        if self.pending {
            let since = *self.dirty_since.get_or_insert(now);
            if !self.force && now < since + self.autoflush_delay {
                return None;
            }
            self.pending = false;
            self.force = false;
            self.dirty_since = None;
            return Some(self.transmit_local(now, max_unreliable));
        }
        let unacked = self.acked_seq < self.sent_seq && self.sent_seq == self.local_seq;
        let due = self.sent_at.is_some_and(|t| now >= t + resend_after);
        if unacked && due && self.local_frame.len() <= max_unreliable {
            return Some(self.transmit_local(now, max_unreliable));
        }
        None
    }

    /// Takes a frame from the other side; fires the change callbacks when
    /// it carries a newer value.
    pub fn handle(&mut self, frame: &[u8]) -> Result<(), ReplicateError> {
        let result = self.try_handle(frame);
        if result.is_err() {
            self.malformed += 1;
        }
        result
    }

    fn try_handle(&mut self, frame: &[u8]) -> Result<(), ReplicateError> {
        let mut r = codec::Reader::new(frame);
        match r.tag()? {
            codec::STATE => {
                let seq: u32 = r.value()?;
                let value: R = r.value()?;
                r.finish()?;
                self.ack_due = true;
                if seq > self.remote_seq {
                    self.remote_seq = seq;
                    self.remote = Some(value);
                    if let Some(remote) = &self.remote {
                        for f in &mut self.on_change {
                            f(remote);
                        }
                    }
                }
                Ok(())
            }
            codec::STATE_ACK => {
                let seq: u32 = r.value()?;
                r.finish()?;
                // An ack of a value not sent yet is ignored, not believed.
                if seq <= self.sent_seq {
                    self.acked_seq = self.acked_seq.max(seq);
                }
                Ok(())
            }
            _ => Err(ReplicateError::Malformed("not a state frame")),
        }
    }

    fn transmit_local(&mut self, now: Instant, max_unreliable: usize) -> Transmit {
        self.sent_seq = self.local_seq;
        self.sent_at = Some(now);
        let reliable = self.local_frame.len() > max_unreliable;
        if reliable {
            // Delivered for sure: nothing to repeat.
            self.acked_seq = self.local_seq;
        }
        Transmit {
            bytes: self.local_frame.clone(),
            reliable,
        }
    }

    fn encode_local(&mut self) -> Result<(), ReplicateError> {
        let value = codec::encode(&self.local)?;
        if self.local_seq == 0 || value != self.local_value {
            self.local_seq += 1;
            let mut frame = vec![codec::STATE];
            codec::put(&mut frame, &self.local_seq)?;
            frame.extend_from_slice(&value);
            self.local_frame = frame;
            self.local_value = value;
            self.pending = true;
        }
        Ok(())
    }
}
