//! [`TypedClient`]: a client whose messages are one serde type.

use std::any::Any;

use super::wrapper::{run_message, typed_endpoint};
use super::{Codec, TypedClientEvent};
use crate::endpoint::{handler_set, run_live, Dispatch};
use crate::proto::{Payload, Route};
use crate::{Client, ClientEvent, Delivery, DisconnectReason, Error, RejectReason};

handler_set! {
    /// The typed client's handlers, one list per event.
    struct TypedClientHandlers [M, C] for TypedClient<M, C> where [M: 'static, C: Codec<M>] {
        /// Registers a handler for "the server accepted the connection".
        pub accepted: on_connect_accepted / on_connect_accepted_with ();
        /// Registers a handler for "the server refused the connection".
        pub rejected: on_connect_rejected / on_connect_rejected_with (reason: &RejectReason);
        /// Registers a handler for decoded messages from the server.
        pub message: on_message / on_message_with (message: M);
        /// Registers a handler for a connection lost without a graceful close,
        /// and for a message that failed to decode ([`Error::Decode`]; the
        /// connection stays up).
        pub error: on_error / on_error_with (error: &Error);
        /// Registers a handler for a graceful close by the server.
        pub disconnect: on_disconnect / on_disconnect_with (reason: &DisconnectReason);
    }
}

typed_endpoint!(
    /// A [`Client`] whose messages are values of `M`, any serde type (usually an
    /// enum of every message kind), encoded by a [`Codec`] (bincode by default).
    ///
    /// Handlers get the typed client, so they can reply with typed messages, and
    /// messages arrive decoded. A message that fails to decode is dropped,
    /// counted in [`decode_failures`](Self::decode_failures), logged at debug
    /// level, and reported to the [`on_error`](Self::on_error) handlers (or the
    /// pull path) as [`Error::Decode`] with no peer (it came from the server);
    /// the connection stays up. It is the wrapped client with a codec: every
    /// method of [`Client`] is reachable on it (it derefs to the client), and
    /// handlers registered on the client run too, before the typed ones.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lentil::{Config, Delivery, Server, SimNetwork, TypedClient, TypedClientEvent};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// enum Msg {
    ///     Hello { name: String },
    /// }
    ///
    /// let net = SimNetwork::new(2);
    /// let mut server = Server::sandbox(Config::default(), &net);
    /// server.on_connect(|server, peer| {
    ///     let _ = server.send_typed(peer, &Msg::Hello { name: "server".into() }, Delivery::Reliable);
    /// });
    /// server.listen("127.0.0.1:9000")?;
    ///
    /// let mut client: TypedClient<Msg> = TypedClient::sandbox(Config::default(), &net);
    /// client.connect("127.0.0.1:9000")?;
    /// let mut greeted = None;
    /// for _ in 0..200 {
    ///     server.update();
    ///     for event in client.update_events() {
    ///         if let TypedClientEvent::Message { message, .. } = event {
    ///             greeted = Some(message);
    ///         }
    ///     }
    ///     net.clock().advance(Duration::from_millis(1));
    /// }
    /// assert_eq!(greeted, Some(Msg::Hello { name: "server".into() }));
    /// # Ok::<(), lentil::Error>(())
    /// ```
    TypedClient over Client in client, from_client, client, client_mut, into_client, TypedClientHandlers, TypedClientEvent);

impl<M: 'static, C: Codec<M>> TypedClient<M, C> {
    /// Encodes `message` and sends it with the given delivery mode.
    pub fn send(&mut self, message: &M, delivery: Delivery) -> Result<(), Error> {
        self.send_routed(Route::Delivery(delivery), message)
    }

    /// Encodes `message` and sends it on `channel`, an index into `Config::channels`.
    pub fn send_on(&mut self, channel: u8, message: &M) -> Result<(), Error> {
        self.send_routed(Route::Channel(channel), message)
    }

    fn send_routed(&mut self, route: Route, message: &M) -> Result<(), Error> {
        let bytes = self.decoder.codec.encode(message)?;
        self.client.send_routed(route, Payload::Shared(bytes))
    }

    /// Calls the typed handlers in `handlers` for `event`.
    fn run_typed(
        &mut self,
        handlers: &mut TypedClientHandlers<M, C>,
        ctx: &mut dyn Any,
        event: &ClientEvent,
    ) {
        match event {
            ClientEvent::ConnectAccepted => {
                run_live!(self.client.registry(), handlers.accepted, |h| h(self, ctx));
            }
            ClientEvent::ConnectRejected(r) => {
                run_live!(self.client.registry(), handlers.rejected, |h| h(
                    self, ctx, r
                ));
            }
            // A message from the server; `None` names the server as the sender.
            ClientEvent::Message(message) => match self.decoder.decode(None, message) {
                Ok(value) => {
                    let list = &mut handlers.message;
                    run_message(self, list, value, message, |c, h, m| h(c, ctx, m));
                }
                Err(e) => run_live!(self.client.registry(), handlers.error, |h| h(self, ctx, &e)),
            },
            ClientEvent::Error(e) => {
                run_live!(self.client.registry(), handlers.error, |h| h(self, ctx, e))
            }
            ClientEvent::Disconnected(r) => {
                run_live!(self.client.registry(), handlers.disconnect, |h| h(
                    self, ctx, r
                ));
            }
        }
    }

    /// `event` as the pull path reports it, its message decoded.
    fn pull(&mut self, event: ClientEvent) -> TypedClientEvent<M> {
        match event {
            ClientEvent::ConnectAccepted => TypedClientEvent::ConnectAccepted,
            ClientEvent::ConnectRejected(reason) => TypedClientEvent::ConnectRejected(reason),
            ClientEvent::Message(message) => match self.decoder.decode(None, &message) {
                Ok(value) => TypedClientEvent::Message {
                    message: value,
                    channel: message.channel,
                    delivery: message.delivery,
                },
                Err(error) => TypedClientEvent::Error(error),
            },
            ClientEvent::Error(error) => TypedClientEvent::Error(error),
            ClientEvent::Disconnected(reason) => TypedClientEvent::Disconnected(reason),
        }
    }
}
