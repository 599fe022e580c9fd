//! Where `Client` and `Server` read the time from.
//!
//! The protocol core never reads a clock: it is handed `now`. The user-facing
//! endpoints read it here, either from the operating system or from the
//! virtual clock of a simulated network, so the same code runs in real and in
//! virtual time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A source of `Instant`s: the system clock or a shared virtual clock.
#[derive(Clone, Debug)]
pub enum Clock {
    /// `Instant::now()`.
    System,
    /// A virtual clock that only moves when [`VirtualClock::advance`] is called.
    Virtual(VirtualClock),
}

impl Clock {
    /// The current time of this clock.
    pub fn now(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            Clock::Virtual(v) => v.now(),
        }
    }
}

/// A virtual clock shared by everything on one simulated network.
///
/// Clones share the time; it moves only when advanced.
///
/// ```
/// use std::time::Duration;
///
/// let clock = lentil::VirtualClock::new();
/// let start = clock.now();
/// let other = clock.clone();
/// other.advance(Duration::from_millis(16));
/// assert_eq!(clock.now() - start, Duration::from_millis(16));
/// assert_eq!(clock.elapsed(), Duration::from_millis(16));
/// ```
#[derive(Clone, Debug)]
pub struct VirtualClock {
    origin: Instant,
    elapsed_nanos: Arc<AtomicU64>,
}

impl VirtualClock {
    /// A clock that starts at the current system instant and then stands still.
    pub fn new() -> Self {
        VirtualClock {
            origin: Instant::now(),
            elapsed_nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.origin + Duration::from_nanos(self.elapsed_nanos.load(Ordering::Acquire))
    }

    /// Virtual time elapsed since the clock was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.elapsed_nanos.load(Ordering::Acquire))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.elapsed_nanos.fetch_add(nanos, Ordering::AcqRel);
    }

    /// Moves the clock forward to `to`; a time in the past changes nothing.
    pub fn advance_to(&self, to: Instant) {
        if let Some(by) = to.checked_duration_since(self.now()) {
            self.advance(by);
        }
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

/// How often an endpoint's owner lets it send (`update()` or `flush()`):
/// nothing queued leaves in between, so the send-queue bound must allow for
/// that long a wait. Kept by the endpoint, handed to a connection when a
/// message is queued, so an idle connection costs nothing per update.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct UpdateCadence {
    last: Option<Instant>,
    interval: Duration,
}

impl UpdateCadence {
    /// The owner let the endpoint send at `now`.
    pub(crate) fn on_update(&mut self, now: Instant) {
        if let Some(last) = self.last {
            self.interval = now.saturating_duration_since(last);
        }
        self.last = Some(now);
    }

    /// The time between the last two chances to send (zero before two).
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cadence_is_the_gap_between_the_last_two_updates() {
        let t0 = Instant::now();
        let mut c = UpdateCadence::default();
        assert_eq!(c.interval(), Duration::ZERO);
        c.on_update(t0);
        assert_eq!(c.interval(), Duration::ZERO, "one update has no gap");
        c.on_update(t0 + Duration::from_millis(16));
        assert_eq!(c.interval(), Duration::from_millis(16));
        c.on_update(t0 + Duration::from_millis(17));
        assert_eq!(c.interval(), Duration::from_millis(1));
    }
}
