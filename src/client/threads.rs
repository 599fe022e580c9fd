//! The client's side of thread handles and event forwarding: handing out
//! [`ClientHandle`]s, applying what they queued, and opening the channel its
//! events are copied to.

use crossbeam_channel::Receiver;

use super::{log, Client};
use crate::route::Route;
use crate::threads::{ClientHandle, DEFAULT_HANDLE_CAPACITY};
use crate::ClientEvent;

impl Client {
    /// A handle other threads can queue messages through; they go out on the
    /// next [`update`](Self::update). Every handle of a client shares one
    /// queue of 1024 messages (see [`handle_with_capacity`](Self::handle_with_capacity)).
    pub fn handle(&mut self) -> ClientHandle {
        self.handle_with_capacity(DEFAULT_HANDLE_CAPACITY)
    }

    /// Like [`handle`](Self::handle); the first handle made sets the queue's
    /// capacity (at least 1), later calls share that queue. One update takes
    /// at most that many messages, so a thread that keeps queueing cannot
    /// hold the game loop.
    pub fn handle_with_capacity(&mut self, capacity: usize) -> ClientHandle {
        ClientHandle::new(self.inbox.outbox(capacity))
    }

    /// Sends a copy of every event [`update`](Self::update) or
    /// [`update_events`](Self::update_events) reports, from now on, to the
    /// returned channel, for a consumer thread; handlers still run. The
    /// channel holds at most `capacity` events (at least 1): when it is full
    /// the game loop does not wait, the event is dropped for the channel and
    /// counted ([`forwarded_events_dropped`](Self::forwarded_events_dropped)).
    /// A second call moves forwarding to a new channel; dropping the receiver
    /// stops it.
    ///
    /// ```
    /// use lentil::{Client, ClientEvent, Config, SimNetwork};
    /// let net = SimNetwork::new(3);
    /// let mut client = Client::sandbox(Config::default(), &net);
    /// let events = client.forward_events(256);
    /// let ui = std::thread::spawn(move || {
    ///     // Ends when the client is dropped.
    ///     events.iter().filter(|e| matches!(e, ClientEvent::Message(_))).count()
    /// });
    /// client.update();
    /// drop(client);
    /// assert_eq!(ui.join().expect("the consumer ran"), 0);
    /// ```
    pub fn forward_events(&mut self, capacity: usize) -> Receiver<ClientEvent> {
        self.forward.open(capacity)
    }

    /// Events not forwarded because the channel of
    /// [`forward_events`](Self::forward_events) was full.
    pub fn forwarded_events_dropped(&self) -> u64 {
        self.forward.dropped()
    }

    /// Sends what handles queued since the last update; free while no handle
    /// was ever made.
    pub(super) fn apply_queued(&mut self) {
        for queued in self.inbox.drain() {
            let payload = queued.payload;
            let sent = self.open_conn().and_then(|conn| match queued.route {
                Route::Delivery(delivery) => conn.send_queued(payload, delivery),
                Route::Channel(channel) => conn.send_queued_on(channel, payload),
            });
            if let Err(error) = sent {
                self.inbox.note_failed();
                log::queued_send_failed(&error);
            }
        }
    }
}
