//! What a wrapper around a server (the typed server) uses to drive it: one
//! update's network work without dispatch, the events it produced, and the
//! handlers of one event, so the wrapper's own handlers run in the same turn.

use super::Server;
use crate::handlers::Registry;
use crate::ServerEvent;

impl Server {
    /// One update's network work; its events wait in the server.
    pub(crate) fn pump_now(&mut self) {
        let now = self.clock.now();
        self.pump(now);
    }

    /// The events waiting for dispatch.
    pub(crate) fn take_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.events)
    }

    /// Gives back the (drained) buffer of [`take_events`](Self::take_events)
    /// for reuse, unless new events arrived meanwhile.
    pub(crate) fn restore_events(&mut self, buffer: Vec<ServerEvent>) {
        if self.events.is_empty() {
            self.events = buffer;
        }
    }

    /// Calls this server's own handlers for `event`.
    pub(crate) fn dispatch_event(&mut self, event: &ServerEvent) {
        let mut handlers = std::mem::take(&mut self.handlers);
        self.run_handlers(&mut handlers, event);
        handlers.merge(std::mem::take(&mut self.handlers), &self.registry);
        self.handlers = handlers;
    }

    /// Hands out handler ids and knows which are live, shared with the
    /// wrapper so ids never collide.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The context of this server's logs.
    pub(crate) fn span(&self) -> tracing::Span {
        self.span.clone()
    }
}
