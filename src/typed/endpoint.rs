//! What a typed wrapper needs of the [`Client`](crate::Client) or
//! [`Server`](crate::Server) it wraps: one update's network work without
//! dispatch, the events it produced, the endpoint's own handlers for one
//! event, and its handler registry, so the wrapper's handlers run in the same
//! turn and their ids never collide with the endpoint's.

use crate::handlers::{HandlerId, Registry};

/// A client or server, as a typed wrapper drives it.
pub(crate) trait Endpoint {
    /// What the endpoint reports.
    type Event;

    /// The context of the endpoint's logs.
    fn span(&self) -> tracing::Span;

    /// One update's network work; its events wait in the endpoint.
    fn pump_now(&mut self);

    /// The events waiting for dispatch.
    fn take_events(&mut self) -> Vec<Self::Event>;

    /// Gives back the (drained) buffer of [`take_events`](Self::take_events)
    /// for reuse, unless new events arrived meanwhile.
    fn restore_events(&mut self, buffer: Vec<Self::Event>);

    /// Calls the endpoint's own handlers for `event`.
    fn dispatch_event(&mut self, event: &Self::Event);

    /// Hands out handler ids and knows which are live.
    fn registry(&self) -> &Registry;

    /// The registry, to register a wrapper's handler.
    fn registry_mut(&mut self) -> &mut Registry;

    /// Unregisters `id`, the endpoint's handler or a wrapper's; returns
    /// whether it was registered.
    fn remove_handler(&mut self, id: HandlerId) -> bool;
}

/// Implements [`Endpoint`] for `$endpoint`, whose events are `$event`.
///
/// A macro rather than a generic impl because the bodies reach private
/// fields that the client and server share by name only (`clock`, `events`,
/// `handlers`, `registry`, `span`) and their private `pump` and
/// `run_handlers`; it is invoked inside each type's own module, where those
/// are visible.
macro_rules! impl_endpoint {
    ($endpoint:ty, $event:ty) => {
        impl $crate::typed::Endpoint for $endpoint {
            type Event = $event;

            fn span(&self) -> tracing::Span {
                self.span.clone()
            }

            fn pump_now(&mut self) {
                let now = self.clock.now();
                self.pump(now);
            }

            fn take_events(&mut self) -> Vec<$event> {
                std::mem::take(&mut self.events)
            }

            fn restore_events(&mut self, buffer: Vec<$event>) {
                if self.events.is_empty() {
                    self.events = buffer;
                }
            }

            fn dispatch_event(&mut self, event: &$event) {
                let mut handlers = std::mem::take(&mut self.handlers);
                self.run_handlers(&mut handlers, event);
                handlers.merge(std::mem::take(&mut self.handlers), &self.registry);
                self.handlers = handlers;
            }

            fn registry(&self) -> &$crate::handlers::Registry {
                &self.registry
            }

            fn registry_mut(&mut self) -> &mut $crate::handlers::Registry {
                &mut self.registry
            }

            fn remove_handler(&mut self, id: $crate::HandlerId) -> bool {
                // The inherent (public) method: it also prunes the endpoint's lists.
                <$endpoint>::remove_handler(self, id)
            }
        }
    };
}
pub(crate) use impl_endpoint;
