//! The part of the public API the client and the server share word for
//! word, written once: updating (with or without the game's context, or
//! pulling the events), thread handles, event forwarding, handler removal,
//! the configuration and waiting.

/// Implements the shared methods on `$owner`, whose events are `$event`,
/// whose handler lists are `$handlers` and whose thread handles are
/// `$handle`, and its `Dispatch` and `Pumped`. The owner has the fields
/// `driver`, `span`, `inbox`, `forward`, `registry`, `handlers` and `core`
/// (with `config` and `events`), a `pump(now, ctx)` that does one update's
/// network work, a `next_deadline()`, and a `run_handlers` that calls its
/// handlers for one event.
macro_rules! endpoint_api {
    ($owner:ident, $event:ty, $handlers:ty, $handle:ty) => {
        impl $owner {
            #[doc = concat!("A ", stringify!($owner), " over real UDP; it opens its socket on `",
                                        "connect` or `listen`.")]
            pub fn new(config: $crate::Config) -> Self {
                Self::with_transport(config, $crate::UdpTransport)
            }

            #[doc = concat!("A ", stringify!($owner), " on a simulated network (the \"sandbox ",
                                        "connection\"): same API, no sockets, virtual time.")]
            pub fn sandbox(config: $crate::Config, network: &$crate::SimNetwork) -> Self {
                Self::with_transport(config, network.clone())
            }

            /// Processes incoming datagrams and timers, sends what is due,
            /// and calls the registered handlers. Harmless while not
            /// connected or listening.
            pub fn update(&mut self) {
                self.update_with(&mut ());
            }

            /// Like [`update`](Self::update), handing `ctx` (the game's own
            /// state) to the handlers registered with an `on_*_with` method
            /// for a context of type `C`; plain handlers run as in `update`.
            /// Handlers reach the game's state this way without shared
            /// ownership or locks.
            pub fn update_with<C: std::any::Any>(&mut self, ctx: &mut C) {
                let span = self.span.clone();
                let _entered = span.enter();
                let now = self.driver.now();
                self.pump(now, ctx);
                let mut events = std::mem::take(&mut self.core.events);
                if !events.is_empty() {
                    $crate::endpoint::dispatch(self, ctx, &mut events);
                }
                // Events raised from inside handlers wait for the next
                // update; else the buffer is reused.
                if self.core.events.is_empty() {
                    self.core.events = events;
                }
            }

            /// Like [`update`](Self::update), but returns the events
            /// instead of calling handlers.
            pub fn update_events(&mut self) -> std::vec::Drain<'_, $event> {
                let now = self.driver.now();
                self.span.clone().in_scope(|| self.pump(now, &mut ()));
                self.core.events.drain(..)
            }

            /// A handle other threads can queue messages through; they go
            /// out on the next [`update`](Self::update). Every handle of an
            /// endpoint shares one queue of 1024 messages (see
            /// [`handle_with_capacity`](Self::handle_with_capacity)).
            pub fn handle(&mut self) -> $handle {
                self.handle_with_capacity($crate::threads::DEFAULT_HANDLE_CAPACITY)
            }

            /// Like [`handle`](Self::handle); the first handle made sets the
            /// queue's capacity (at least 1), later calls share that queue.
            /// One update takes at most that many messages, so a thread that
            /// keeps queueing cannot hold the game loop.
            pub fn handle_with_capacity(&mut self, capacity: usize) -> $handle {
                <$handle>::new(self.inbox.sender(capacity))
            }

            /// Sends a copy of every event [`update`](Self::update) or
            /// [`update_events`](Self::update_events) reports, from now on,
            /// to the returned channel, for a consumer thread; handlers
            /// still run. The channel holds at most `capacity` events (at
            /// least 1): when it is full the game loop does not wait, the
            /// event is dropped for the channel and counted
            /// ([`forwarded_events_dropped`](Self::forwarded_events_dropped)).
            /// A second call moves forwarding to a new channel; dropping the
            /// receiver stops it.
            pub fn forward_events(
                &mut self,
                capacity: usize,
            ) -> crossbeam_channel::Receiver<$event> {
                self.forward.open(capacity)
            }

            /// Events not forwarded because the channel of
            /// [`forward_events`](Self::forward_events) was full.
            pub fn forwarded_events_dropped(&self) -> u64 {
                self.forward.dropped()
            }

            /// Removes a handler; returns whether it was registered.
            pub fn remove_handler(&mut self, id: $crate::HandlerId) -> bool {
                $crate::endpoint::remove_handler(self, id)
            }

            /// The time on this endpoint's transport: the system clock, or a
            /// simulated network's virtual clock.
            pub fn now(&self) -> std::time::Instant {
                self.driver.now()
            }

            /// The configuration.
            pub fn config(&self) -> &$crate::Config {
                &self.core.config
            }

            /// Blocks until a datagram may have arrived, the next deadline,
            /// or `max`, whichever is first. Returns at once on a simulated
            /// network.
            pub fn wait(&mut self, max: std::time::Duration) {
                let deadline = self.next_deadline();
                self.driver.wait(deadline, max);
            }
        }

        impl $crate::endpoint::Dispatch for $owner {
            type Event = $event;
            type Handlers = $handlers;

            fn registry(&self) -> &$crate::endpoint::Registry {
                &self.registry
            }

            fn registry_mut(&mut self) -> &mut $crate::endpoint::Registry {
                &mut self.registry
            }

            fn handler_lists(&mut self) -> &mut $handlers {
                &mut self.handlers
            }

            fn run(
                &mut self,
                handlers: &mut $handlers,
                ctx: &mut dyn std::any::Any,
                event: &$event,
            ) {
                self.run_handlers(handlers, ctx, event);
            }
        }

        impl $crate::endpoint::Pumped for $owner {
            fn pump_now(&mut self, ctx: &mut dyn std::any::Any) {
                let now = self.driver.now();
                self.pump(now, ctx);
            }

            fn take_events(&mut self) -> Vec<$event> {
                std::mem::take(&mut self.core.events)
            }

            fn restore_events(&mut self, buffer: Vec<$event>) {
                if self.core.events.is_empty() {
                    self.core.events = buffer;
                }
            }

            fn span(&self) -> tracing::Span {
                self.span.clone()
            }
        }
    };
}

/// What a wrapper (the typed client and server) needs of the endpoint it
/// wraps: one update's network work without dispatch, and the events it
/// raised, so the wrapper can run its own handlers in the same turn.
// Only the typed endpoints wrap another endpoint.
#[cfg_attr(not(feature = "typed"), allow(dead_code))]
pub(crate) trait Pumped: crate::endpoint::Dispatch {
    /// One update's network work; its events wait in the endpoint.
    fn pump_now(&mut self, ctx: &mut dyn std::any::Any);
    /// The events waiting for dispatch.
    fn take_events(&mut self) -> Vec<Self::Event>;
    /// Gives back the (drained) buffer of `take_events` for reuse, unless
    /// new events arrived meanwhile.
    fn restore_events(&mut self, buffer: Vec<Self::Event>);
    /// The context of the endpoint's logs.
    fn span(&self) -> tracing::Span;
}
pub(crate) use endpoint_api;
