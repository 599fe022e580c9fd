//! The mechanics the typed client and server share: the codec with its
//! decode-failure count ([`Decoder`]), the two update loops, and the
//! delivery of one decoded message to several handlers. Each side keeps
//! only its events and its handlers' arguments ([`Wraps`]).

use std::any::Any;

use super::codec::decode_error;
use super::Codec;
use crate::endpoint::{dispatch, Dispatch, HandlerList, Pumped};
use crate::{Error, Message, PeerId};

/// A codec and the count of messages it failed to decode.
#[derive(Debug)]
pub(super) struct Decoder<C> {
    pub(super) codec: C,
    failures: u64,
}

impl<C> Decoder<C> {
    pub(super) fn new(codec: C) -> Self {
        Decoder { codec, failures: 0 }
    }

    /// Messages dropped because they did not decode.
    pub(super) fn failures(&self) -> u64 {
        self.failures
    }

    /// Decodes a message from `peer` (`None`: the server); a failure is
    /// counted and logged.
    pub(super) fn decode<M>(&mut self, peer: Option<PeerId>, message: &Message) -> Result<M, Error>
    where
        C: Codec<M>,
    {
        self.codec
            .decode(&message.payload)
            .map_err(|e| decode_error(e, peer))
            .inspect_err(|error| {
                self.failures += 1;
                // A `None` peer (a client's server) is left out of the record.
                tracing::debug!(peer, channel = message.channel, %error, "message dropped");
            })
    }
}

/// A typed client or server: an endpoint under it, and events of its own
/// for the pull path.
pub(super) trait Wraps: Dispatch<Event = <Self::Inner as Dispatch>::Event> {
    /// The client or server wrapped.
    type Inner: Pumped;
    /// What the pull path reports.
    type Pulled;

    /// The wrapped endpoint.
    fn inner(&mut self) -> &mut Self::Inner;
    /// The pull path's buffer.
    fn pulled(&mut self) -> &mut Vec<Self::Pulled>;
    /// `event` as the pull path reports it, its message decoded.
    fn pulled_event(&mut self, event: Self::Event) -> Self::Pulled;
    /// The message type.
    type Msg;
    /// `message` decoded once more, for one more handler (`None` if it
    /// does not decode, which the first decode already reported).
    fn redecode(&mut self, message: &Message) -> Option<Self::Msg>;
}

/// Processes datagrams and timers, then calls the endpoint's handlers and
/// the typed ones, event by event, so both see each event in order.
pub(super) fn update_with<W: Wraps>(wrapper: &mut W, ctx: &mut dyn Any) {
    let span = wrapper.inner().span();
    let _entered = span.enter();
    wrapper.inner().pump_now(ctx);
    let mut events = wrapper.inner().take_events();
    dispatch(wrapper, ctx, &mut events);
    wrapper.inner().restore_events(events);
}

/// Like [`update_with`], but returns the events, messages decoded, instead
/// of calling handlers.
pub(super) fn update_events<W: Wraps>(wrapper: &mut W) -> std::vec::Drain<'_, W::Pulled> {
    let span = wrapper.inner().span();
    let _entered = span.enter();
    wrapper.inner().pump_now(&mut ());
    let mut events = wrapper.inner().take_events();
    for event in events.drain(..) {
        let pulled = wrapper.pulled_event(event);
        wrapper.pulled().push(pulled);
    }
    wrapper.inner().restore_events(events);
    wrapper.pulled().drain(..)
}

/// Hands a decoded message to every live handler of `list`: `first` to the
/// first one, and a copy decoded again to each other, so `M` need not be
/// `Clone`.
pub(super) fn run_message<W: Wraps, F: ?Sized>(
    wrapper: &mut W,
    list: &mut HandlerList<F>,
    first: W::Msg,
    message: &Message,
    mut call: impl FnMut(&mut W, &mut F, W::Msg),
) {
    let mut first = Some(first);
    for (id, handler) in list.iter_mut() {
        if !wrapper.inner().registry().is_live(id) {
            continue;
        }
        if let Some(value) = first.take().or_else(|| wrapper.redecode(message)) {
            call(wrapper, handler, value);
        }
    }
}

/// Writes what a typed endpoint `$typed<M, C>` over `$inner` (kept in the
/// field `$field`) has in common with the other side: its `Debug`, the
/// accessors of the wrapped endpoint (`$get`, `$get_mut`, `$into`), the
/// update loops, handler removal, `Deref` to the endpoint, and its
/// `Dispatch` and `Wraps` plumbing. Each side then writes `run_typed` (its
/// handlers for one event) and `pull` (one event for the pull path).
macro_rules! typed_endpoint {
    ($(#[$meta:meta])* $typed:ident over $inner:ident in $field:ident, $from:ident, $get:ident,
     $get_mut:ident, $into:ident, $handlers:ident, $pulled:ident) => {
        $(#[$meta])*
        pub struct $typed<M, C = $crate::Bincode> {
            $field: $inner,
            decoder: $crate::typed::wrapper::Decoder<C>,
            handlers: $handlers<M, C>,
            pulled: Vec<$pulled<M>>,
        }

        impl<M: serde::Serialize + serde::de::DeserializeOwned + 'static> $typed<M> {
            #[doc = concat!("A typed ", stringify!($field), " over real UDP (see [`",
                stringify!($inner), "::new`]).")]
            pub fn new(config: $crate::Config) -> Self {
                Self::$from($inner::new(config))
            }

            #[doc = concat!("A typed ", stringify!($field), " on a simulated network.")]
            pub fn sandbox(config: $crate::Config, network: &$crate::SimNetwork) -> Self {
                Self::$from($inner::sandbox(config, network))
            }

            #[doc = concat!("Wraps `", stringify!($field), "`, its messages encoded with ",
                "bincode, keeping its handlers, handles and forwarding.")]
            pub fn $from($field: $inner) -> Self {
                Self::with_codec($field, $crate::Bincode)
            }
        }

        impl<M, C> std::fmt::Debug for $typed<M, C> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($typed))
                    .field(stringify!($field), &self.$field)
                    .field("message_type", &std::any::type_name::<M>())
                    .field("decode_failures", &self.decoder.failures())
                    .finish_non_exhaustive()
            }
        }

        impl<M: 'static, C: $crate::typed::Codec<M>> $typed<M, C> {
            #[doc = concat!("Wraps `", stringify!($field), "`, its messages encoded by `codec`; ",
                "its handlers, handles and forwarding stay.")]
            pub fn with_codec($field: $inner, codec: C) -> Self {
                $typed {
                    $field,
                    decoder: $crate::typed::wrapper::Decoder::new(codec),
                    handlers: $handlers::default(),
                    pulled: Vec::new(),
                }
            }

            #[doc = concat!("The wrapped ", stringify!($field), "; the typed handlers are dropped.")]
            pub fn $into(self) -> $inner {
                self.$field
            }

            #[doc = concat!("The wrapped ", stringify!($field), ".")]
            pub fn $get(&self) -> &$inner {
                &self.$field
            }

            #[doc = concat!("The wrapped ", stringify!($field), ", for its bytes API, metrics, ",
                "handles and forwarding (also reachable through `Deref`).")]
            pub fn $get_mut(&mut self) -> &mut $inner {
                &mut self.$field
            }

            /// Messages dropped because they did not decode as `M`, over
            /// this wrapper's life.
            pub fn decode_failures(&self) -> u64 {
                self.decoder.failures()
            }

            #[doc = concat!("Processes datagrams and timers like [`", stringify!($inner),
                "::update`], then calls the wrapped endpoint's handlers and the typed ones, ",
                "event by event.")]
            pub fn update(&mut self) {
                $crate::typed::wrapper::update_with(self, &mut ());
            }

            #[doc = concat!("Like [`update`](Self::update), handing `ctx` to the handlers ",
                "registered for a context of its type (see [`", stringify!($inner),
                "::update_with`]).")]
            pub fn update_with<X: std::any::Any>(&mut self, ctx: &mut X) {
                $crate::typed::wrapper::update_with(self, ctx);
            }

            /// Like [`update`](Self::update), but returns the events,
            /// messages decoded, instead of calling handlers.
            pub fn update_events(&mut self) -> std::vec::Drain<'_, $pulled<M>> {
                $crate::typed::wrapper::update_events(self)
            }

            /// Removes a handler, typed or registered on the wrapped
            /// endpoint; returns whether it was registered.
            pub fn remove_handler(&mut self, id: $crate::HandlerId) -> bool {
                $crate::endpoint::remove_handler(self, id)
            }
        }

        impl<M, C> std::ops::Deref for $typed<M, C> {
            type Target = $inner;

            fn deref(&self) -> &$inner {
                &self.$field
            }
        }

        impl<M, C> std::ops::DerefMut for $typed<M, C> {
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.$field
            }
        }

        impl<M: 'static, C: $crate::typed::Codec<M>> $crate::endpoint::Dispatch for $typed<M, C> {
            type Event = <$inner as $crate::endpoint::Dispatch>::Event;
            type Handlers = $handlers<M, C>;

            fn registry(&self) -> &$crate::endpoint::Registry {
                $crate::endpoint::Dispatch::registry(&self.$field)
            }

            fn registry_mut(&mut self) -> &mut $crate::endpoint::Registry {
                $crate::endpoint::Dispatch::registry_mut(&mut self.$field)
            }

            fn handler_lists(&mut self) -> &mut Self::Handlers {
                &mut self.handlers
            }

            fn run(&mut self, handlers: &mut Self::Handlers, ctx: &mut dyn std::any::Any, event: &Self::Event) {
                $crate::endpoint::dispatch_one(&mut self.$field, ctx, event);
                self.run_typed(handlers, ctx, event);
            }
        }

        impl<M: 'static, C: $crate::typed::Codec<M>> $crate::typed::wrapper::Wraps for $typed<M, C> {
            type Inner = $inner;
            type Pulled = $pulled<M>;

            fn inner(&mut self) -> &mut $inner {
                &mut self.$field
            }

            fn pulled(&mut self) -> &mut Vec<$pulled<M>> {
                &mut self.pulled
            }

            fn pulled_event(&mut self, event: Self::Event) -> $pulled<M> {
                self.pull(event)
            }

            type Msg = M;

            fn redecode(&mut self, message: &$crate::Message) -> Option<M> {
                self.decoder.codec.decode(&message.payload).ok()
            }
        }
    };
}
pub(super) use typed_endpoint;
