//! [`TypedServer`]: a server whose messages are one serde type.

use std::any::Any;

use super::wrapper::{run_message, typed_endpoint};
use super::{Codec, TypedServerEvent};
use crate::endpoint::{handler_set, run_live, Dispatch};
use crate::proto::{Payload, Route};
use crate::{Delivery, DisconnectReason, Error, PeerId, Server, ServerEvent};

handler_set! {
    /// The typed server's handlers, one list per event.
    struct TypedServerHandlers [M, C] for TypedServer<M, C> where [M: 'static, C: Codec<M>] {
        /// Registers a handler for "a peer was accepted".
        pub connected: on_connect / on_connect_with (peer: PeerId);
        /// Registers a handler for decoded messages from peers.
        pub message: on_message / on_message_with (peer: PeerId, message: M);
        /// Registers a handler for a peer lost without a graceful close, and
        /// for a message that failed to decode ([`Error::Decode`] naming the
        /// peer; the connection stays up).
        pub error: on_error / on_error_with (peer: PeerId, error: &Error);
        /// Registers a handler for a peer's graceful close.
        pub disconnect: on_disconnect / on_disconnect_with (peer: PeerId, reason: &DisconnectReason);
    }
}

typed_endpoint!(
    /// A [`Server`] whose messages are values of `M`, any serde type (usually an
    /// enum of every message kind), encoded by a [`Codec`] (bincode by default).
    ///
    /// Handlers get the typed server, so they can reply with typed messages, and
    /// messages arrive decoded. A message that fails to decode is dropped,
    /// counted in [`decode_failures`](Self::decode_failures), logged at debug
    /// level, and reported to the [`on_error`](Self::on_error) handlers (or the
    /// pull path) as [`Error::Decode`] naming the peer; the connection stays up.
    /// It is the wrapped server with a codec: every method of [`Server`] is
    /// reachable on it (it derefs to the server: metrics, bytes, handles,
    /// forwarded events, `on_connect_request`), and handlers registered on the
    /// server run too, before the typed ones.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lentil::{Config, Delivery, SimNetwork, TypedClient, TypedServer};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// enum Msg {
    ///     Ping(u32),
    ///     Pong(u32),
    /// }
    ///
    /// let net = SimNetwork::new(1);
    /// let mut server: TypedServer<Msg> = TypedServer::sandbox(Config::default(), &net);
    /// server.on_message(|server, peer, msg| {
    ///     if let Msg::Ping(n) = msg {
    ///         let _ = server.send(peer, &Msg::Pong(n), Delivery::Reliable);
    ///     }
    /// });
    /// server.listen("127.0.0.1:9000")?;
    ///
    /// let mut client: TypedClient<Msg> = TypedClient::sandbox(Config::default(), &net);
    /// client.on_connect_accepted(|client| {
    ///     let _ = client.send(&Msg::Ping(7), Delivery::Reliable);
    /// });
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// client.on_message(move |_, msg| {
    ///     let _ = tx.send(msg);
    /// });
    /// client.connect("127.0.0.1:9000")?;
    /// for _ in 0..200 {
    ///     server.update();
    ///     client.update();
    ///     net.clock().advance(Duration::from_millis(1));
    /// }
    /// assert_eq!(rx.try_recv().ok(), Some(Msg::Pong(7)));
    /// assert_eq!(server.decode_failures(), 0);
    /// # Ok::<(), lentil::Error>(())
    /// ```
    TypedServer over Server in server, from_server, server, server_mut, into_server, TypedServerHandlers, TypedServerEvent);

impl<M: 'static, C: Codec<M>> TypedServer<M, C> {
    /// Encodes `message` and sends it to `peer` with the given delivery mode.
    pub fn send(&mut self, peer: PeerId, message: &M, delivery: Delivery) -> Result<(), Error> {
        let bytes = self.decoder.codec.encode(message)?;
        self.server
            .send_routed(peer, Route::Delivery(delivery), Payload::Shared(bytes))
    }

    /// Encodes `message` and sends it to `peer` on `channel`, an index into
    /// `Config::channels`.
    pub fn send_on(&mut self, peer: PeerId, channel: u8, message: &M) -> Result<(), Error> {
        let bytes = self.decoder.codec.encode(message)?;
        self.server
            .send_routed(peer, Route::Channel(channel), Payload::Shared(bytes))
    }

    /// Encodes `message` once and sends it to every connected peer; returns
    /// how many took it (a peer whose send buffer is full is skipped).
    pub fn broadcast(&mut self, message: &M, delivery: Delivery) -> Result<usize, Error> {
        let bytes = self.decoder.codec.encode(message)?;
        Ok(self
            .server
            .broadcast_bytes(Route::Delivery(delivery), bytes))
    }

    /// Like [`broadcast`](Self::broadcast), on `channel`.
    pub fn broadcast_on(&mut self, channel: u8, message: &M) -> Result<usize, Error> {
        let bytes = self.decoder.codec.encode(message)?;
        Ok(self.server.broadcast_bytes(Route::Channel(channel), bytes))
    }

    /// Calls the typed handlers in `handlers` for `event`.
    fn run_typed(
        &mut self,
        handlers: &mut TypedServerHandlers<M, C>,
        ctx: &mut dyn Any,
        event: &ServerEvent,
    ) {
        match event {
            ServerEvent::Connected { peer, .. } => {
                run_live!(self.server.registry(), handlers.connected, |h| h(
                    self, ctx, *peer
                ));
            }
            ServerEvent::Message { peer, .. } if !self.server.hears_from(*peer) => {}
            ServerEvent::Message { peer, message } => {
                match self.decoder.decode(Some(*peer), message) {
                    Ok(value) => {
                        let list = &mut handlers.message;
                        run_message(self, list, value, message, |s, h, m| h(s, ctx, *peer, m));
                    }
                    Err(e) => run_live!(self.server.registry(), handlers.error, |h| h(
                        self, ctx, *peer, &e
                    )),
                }
            }
            ServerEvent::Error { peer, error } => {
                run_live!(self.server.registry(), handlers.error, |h| h(
                    self, ctx, *peer, error
                ));
            }
            ServerEvent::Disconnected { peer, reason } => {
                run_live!(self.server.registry(), handlers.disconnect, |h| h(
                    self, ctx, *peer, reason
                ));
            }
        }
    }

    /// `event` as the pull path reports it, its message decoded.
    fn pull(&mut self, event: ServerEvent) -> TypedServerEvent<M> {
        match event {
            ServerEvent::Connected { peer, addr } => TypedServerEvent::Connected { peer, addr },
            ServerEvent::Message { peer, message } => {
                match self.decoder.decode(Some(peer), &message) {
                    Ok(value) => TypedServerEvent::Message {
                        peer,
                        message: value,
                        channel: message.channel,
                        delivery: message.delivery,
                    },
                    Err(error) => TypedServerEvent::Error { peer, error },
                }
            }
            ServerEvent::Error { peer, error } => TypedServerEvent::Error { peer, error },
            ServerEvent::Disconnected { peer, reason } => {
                TypedServerEvent::Disconnected { peer, reason }
            }
        }
    }
}
