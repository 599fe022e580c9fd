//! The mechanics the typed client and server share: their state
//! ([`Wrapped`]: the endpoint, the typed handlers, the pull path's buffer and
//! the decode-failure count), the two update loops, and handler dispatch.
//! Each side keeps only its events and its handlers' arguments
//! ([`Typed`]).

use std::fmt;

use serde::de::DeserializeOwned;

use super::Endpoint;
use crate::handlers::{HandlerId, HandlerList, Registry};
use crate::{Error, Message, PeerId};

/// The typed handler lists of one side, one list per event.
pub(super) trait HandlerSet: Default {
    /// Puts back handlers added while this set was taken out, keeping only
    /// live ones.
    fn merge(&mut self, added: Self, registry: &Registry);
}

/// A typed client or server, as the shared update loops drive it.
pub(super) trait Typed: Sized {
    /// The wrapped client or server.
    type Endpoint: Endpoint;
    /// The typed handlers.
    type Handlers: HandlerSet;
    /// What the pull path reports.
    type Event;

    /// The wrapper's state.
    fn wrapped(&mut self) -> &mut Wrapped<Self::Endpoint, Self::Handlers, Self::Event>;

    /// Calls the typed handlers in `handlers` (taken out of `self`) for `event`.
    fn run_handlers(&mut self, handlers: &mut Self::Handlers, event: EventOf<Self>);

    /// `event` as the pull path reports it, its message decoded.
    fn typed_event(&mut self, event: EventOf<Self>) -> Self::Event;
}

/// The event type of the endpoint a typed wrapper wraps.
pub(super) type EventOf<W> = <<W as Typed>::Endpoint as Endpoint>::Event;

/// A typed wrapper's state: endpoint `E`, handler lists `H`, pull-path events `T`.
pub(super) struct Wrapped<E, H, T> {
    pub(super) endpoint: E,
    handlers: H,
    events: Vec<T>,
    decode_failures: u64,
}

impl<E: fmt::Debug, H, T> Wrapped<E, H, T> {
    /// Writes the wrapper named `wrapper` whose endpoint field is `endpoint`
    /// and whose messages are `M`.
    pub(super) fn fmt_as<M>(
        &self,
        f: &mut fmt::Formatter<'_>,
        wrapper: &str,
        endpoint: &str,
    ) -> fmt::Result {
        f.debug_struct(wrapper)
            .field(endpoint, &self.endpoint)
            .field("message_type", &std::any::type_name::<M>())
            .field("decode_failures", &self.decode_failures)
            .finish_non_exhaustive()
    }
}

impl<E: Endpoint, H: HandlerSet, T> Wrapped<E, H, T> {
    /// Wraps `endpoint`, keeping its handlers, handles and forwarding.
    pub(super) fn new(endpoint: E) -> Self {
        Wrapped {
            endpoint,
            handlers: H::default(),
            events: Vec::new(),
            decode_failures: 0,
        }
    }

    /// Messages dropped because they did not decode.
    pub(super) fn decode_failures(&self) -> u64 {
        self.decode_failures
    }

    /// Adds `f` to the list `list` picks, under an id from the endpoint's
    /// registry, so typed and bytes handlers share one id space. Callers
    /// name `F` (`add::<MessageFn<M>>`): inferred from `Box::new(f)` it would
    /// be the closure's own type, not the list's `dyn` handler type.
    pub(super) fn add<F: ?Sized>(
        &mut self,
        list: impl FnOnce(&mut H) -> &mut HandlerList<F>,
        f: Box<F>,
    ) -> HandlerId {
        let id = self.endpoint.registry_mut().register();
        list(&mut self.handlers).push(id, f);
        id
    }

    /// Removes a handler, typed or the endpoint's; returns whether it was
    /// registered.
    pub(super) fn remove_handler(&mut self, id: HandlerId) -> bool {
        let was_registered = self.endpoint.remove_handler(id);
        // Lists taken out for a dispatch in progress drop it when merged back.
        self.handlers.merge(H::default(), self.endpoint.registry());
        was_registered
    }

    /// Decodes a message from `peer` (`None`: the server); a failure is
    /// counted and logged.
    pub(super) fn decode<M: DeserializeOwned>(
        &mut self,
        peer: Option<PeerId>,
        message: &Message,
    ) -> Result<M, Error> {
        super::decode_message(&message.payload, peer).inspect_err(|error| {
            self.decode_failures += 1;
            // A `None` peer (a client's server) is left out of the record.
            tracing::debug!(peer, channel = message.channel, %error, "message dropped");
        })
    }
}

/// Processes datagrams and timers, then calls the endpoint's handlers and
/// the typed ones, event by event, so both see each event in order.
pub(super) fn update<W: Typed>(wrapper: &mut W) {
    let span = wrapper.wrapped().endpoint.span();
    let _entered = span.enter();
    let wrapped = wrapper.wrapped();
    wrapped.endpoint.pump_now();
    let mut events = wrapped.endpoint.take_events();
    // Taken out so each handler may borrow the wrapper mutably.
    let mut handlers = std::mem::take(&mut wrapped.handlers);
    for event in events.drain(..) {
        wrapper.wrapped().endpoint.dispatch_event(&event);
        wrapper.run_handlers(&mut handlers, event);
    }
    let wrapped = wrapper.wrapped();
    handlers.merge(
        std::mem::take(&mut wrapped.handlers),
        wrapped.endpoint.registry(),
    );
    wrapped.handlers = handlers;
    wrapped.endpoint.restore_events(events);
}

/// Like [`update`], but returns the events, messages decoded, instead of
/// calling handlers.
pub(super) fn update_events<W: Typed>(wrapper: &mut W) -> std::vec::Drain<'_, W::Event> {
    let span = wrapper.wrapped().endpoint.span();
    let _entered = span.enter();
    let wrapped = wrapper.wrapped();
    wrapped.endpoint.pump_now();
    let mut events = wrapped.endpoint.take_events();
    for event in events.drain(..) {
        let typed = wrapper.typed_event(event);
        wrapper.wrapped().events.push(typed);
    }
    let wrapped = wrapper.wrapped();
    wrapped.endpoint.restore_events(events);
    wrapped.events.drain(..)
}

/// Calls `call` with every handler of `list` still registered; one removed
/// by an earlier handler of the same dispatch is skipped.
pub(super) fn run_live<W: Typed, F: ?Sized>(
    wrapper: &mut W,
    list: &mut HandlerList<F>,
    mut call: impl FnMut(&mut W, &mut F),
) {
    for (id, handler) in list.iter_mut() {
        if wrapper.wrapped().endpoint.registry().is_live(id) {
            call(wrapper, handler);
        }
    }
}

/// Hands a decoded message to every live handler of `list`: `first` to the
/// first one, and a copy decoded again from `payload` to each other, so `M`
/// need not be `Clone`.
pub(super) fn run_message<W: Typed, M: DeserializeOwned, F: ?Sized>(
    wrapper: &mut W,
    list: &mut HandlerList<F>,
    first: M,
    payload: &[u8],
    mut call: impl FnMut(&mut W, &mut F, M),
) {
    let mut first = Some(first);
    run_live(wrapper, list, |wrapper, handler| {
        if let Some(value) = first.take().or_else(|| super::decode(payload).ok()) {
            call(wrapper, handler, value);
        }
    });
}
