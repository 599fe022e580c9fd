//! [`TypedServer`]: a server whose messages are one serde type.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::server_events::TypedServerHandlers;
use super::TypedServerEvent;
use crate::route::Route;
use crate::{
    Config, ConnectRequestInfo, Delivery, DisconnectReason, Error, HandlerId, Message, Metrics,
    PeerId, Server, ServerEvent, ServerHandle, SimNetwork,
};

/// Calls every handler of `$list` still registered with `$owner`'s server.
macro_rules! run_typed {
    ($owner:ident, $list:expr, |$h:ident| $call:expr) => {
        for (id, $h) in $list.iter_mut() {
            if $owner.server.registry().is_live(id) {
                $call;
            }
        }
    };
}

/// A [`Server`] whose messages are values of `M`, any serde type (usually an
/// enum of every message kind), encoded with bincode.
///
/// Handlers get the typed server, so they can reply with typed messages, and
/// messages arrive decoded. A message that fails to decode is dropped,
/// counted in [`decode_failures`](Self::decode_failures), logged at debug
/// level, and reported to the [`on_error`](Self::on_error) handlers (or the
/// pull path) as [`Error::Decode`] naming the peer; the connection stays up.
/// The wrapped server is reachable through [`server`](Self::server) and
/// [`server_mut`](Self::server_mut) for everything else (metrics, bytes,
/// handles, forwarded events); handlers registered on it run too, before the
/// typed ones.
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
pub struct TypedServer<M> {
    server: Server,
    handlers: TypedServerHandlers<M>,
    events: Vec<TypedServerEvent<M>>,
    decode_failures: u64,
}

impl<M> std::fmt::Debug for TypedServer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedServer")
            .field("server", &self.server)
            .field("message_type", &std::any::type_name::<M>())
            .field("decode_failures", &self.decode_failures)
            .finish_non_exhaustive()
    }
}

impl<M> TypedServer<M>
where
    M: Serialize + DeserializeOwned + 'static,
{
    /// A typed server over real UDP; call [`listen`](Self::listen) to open it.
    pub fn new(config: Config) -> Self {
        Self::from_server(Server::new(config))
    }

    /// A typed server on a simulated network.
    pub fn sandbox(config: Config, network: &SimNetwork) -> Self {
        Self::from_server(Server::sandbox(config, network))
    }

    /// Wraps `server`, keeping its handlers, handles and forwarding.
    pub fn from_server(server: Server) -> Self {
        TypedServer {
            server,
            handlers: TypedServerHandlers::default(),
            events: Vec::new(),
            decode_failures: 0,
        }
    }

    /// The wrapped server; the typed handlers are dropped.
    pub fn into_server(self) -> Server {
        self.server
    }

    /// The wrapped server.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The wrapped server, for its bytes API, metrics, handles and forwarding.
    pub fn server_mut(&mut self) -> &mut Server {
        &mut self.server
    }

    /// Messages dropped because they did not decode as `M`, over this
    /// wrapper's life.
    pub fn decode_failures(&self) -> u64 {
        self.decode_failures
    }

    /// Encodes `message` and sends it to `peer` with the given delivery mode.
    pub fn send(&mut self, peer: PeerId, message: &M, delivery: Delivery) -> Result<(), Error> {
        self.server.send_typed(peer, message, delivery)
    }

    /// Encodes `message` and sends it to `peer` on `channel`, an index into
    /// `Config::channels`.
    pub fn send_on(&mut self, peer: PeerId, channel: u8, message: &M) -> Result<(), Error> {
        self.server.send_typed_on(peer, channel, message)
    }

    /// Encodes `message` once and sends it to every connected peer; returns
    /// how many took it (a peer whose send buffer is full is skipped).
    pub fn broadcast(&mut self, message: &M, delivery: Delivery) -> Result<usize, Error> {
        let bytes = super::encode(message)?;
        Ok(self
            .server
            .broadcast_routed(bytes, Route::Delivery(delivery)))
    }

    /// Like [`broadcast`](Self::broadcast), on `channel`.
    pub fn broadcast_on(&mut self, channel: u8, message: &M) -> Result<usize, Error> {
        let bytes = super::encode(message)?;
        Ok(self.server.broadcast_routed(bytes, Route::Channel(channel)))
    }

    /// Processes datagrams and timers like [`Server::update`], then calls
    /// the wrapped server's handlers and the typed ones, event by event.
    pub fn update(&mut self) {
        let span = self.server.span();
        let _entered = span.enter();
        self.server.pump_now();
        let mut events = self.server.take_events();
        let mut handlers = std::mem::take(&mut self.handlers);
        for event in events.drain(..) {
            self.server.dispatch_event(&event);
            self.run_handlers(&mut handlers, event);
        }
        handlers.merge(std::mem::take(&mut self.handlers), self.server.registry());
        self.handlers = handlers;
        self.server.restore_events(events);
    }

    /// Like [`update`](Self::update), but returns the events, messages
    /// decoded, instead of calling handlers (connect requests are still
    /// decided by the `on_connect_request` handlers).
    pub fn update_events(&mut self) -> std::vec::Drain<'_, TypedServerEvent<M>> {
        let span = self.server.span();
        let _entered = span.enter();
        self.server.pump_now();
        let mut events = self.server.take_events();
        for event in events.drain(..) {
            let typed = self.typed_event(event);
            self.events.push(typed);
        }
        self.server.restore_events(events);
        self.events.drain(..)
    }

    /// Registers the handler that decides connect requests; it runs on the
    /// wrapped server (see [`Server::on_connect_request`]).
    pub fn on_connect_request(
        &mut self,
        f: impl FnMut(&mut Server, &ConnectRequestInfo) -> Result<(), String> + Send + 'static,
    ) -> HandlerId {
        self.server.on_connect_request(f)
    }

    /// Registers a handler for "a peer was accepted".
    pub fn on_connect(
        &mut self,
        f: impl FnMut(&mut TypedServer<M>, PeerId) + Send + 'static,
    ) -> HandlerId {
        let id = self.server.registry_mut().register();
        self.handlers.connected.push(id, Box::new(f));
        id
    }

    /// Registers a handler for decoded messages from peers.
    pub fn on_message(
        &mut self,
        f: impl FnMut(&mut TypedServer<M>, PeerId, M) + Send + 'static,
    ) -> HandlerId {
        let id = self.server.registry_mut().register();
        self.handlers.message.push(id, Box::new(f));
        id
    }

    /// Registers a handler for a peer lost without a graceful close, and for
    /// a message that failed to decode ([`Error::Decode`]; the peer stays).
    pub fn on_error(
        &mut self,
        f: impl FnMut(&mut TypedServer<M>, PeerId, &Error) + Send + 'static,
    ) -> HandlerId {
        let id = self.server.registry_mut().register();
        self.handlers.error.push(id, Box::new(f));
        id
    }

    /// Registers a handler for a peer's graceful close.
    pub fn on_disconnect(
        &mut self,
        f: impl FnMut(&mut TypedServer<M>, PeerId, &DisconnectReason) + Send + 'static,
    ) -> HandlerId {
        let id = self.server.registry_mut().register();
        self.handlers.disconnect.push(id, Box::new(f));
        id
    }

    /// Removes a handler, typed or registered on the wrapped server; returns
    /// whether it was registered.
    pub fn remove_handler(&mut self, id: HandlerId) -> bool {
        let was_registered = self.server.remove_handler(id);
        // Lists taken out for a dispatch in progress drop it when merged back.
        self.handlers
            .merge(TypedServerHandlers::default(), self.server.registry());
        was_registered
    }

    /// See [`Server::listen`].
    pub fn listen(&mut self, addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<(), Error> {
        self.server.listen(addr)
    }

    /// See [`Server::local_addr`].
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.local_addr()
    }

    /// See [`Server::peers`].
    pub fn peers(&self) -> Vec<PeerId> {
        self.server.peers()
    }

    /// See [`Server::peer_count`].
    pub fn peer_count(&self) -> usize {
        self.server.peer_count()
    }

    /// See [`Server::peer_addr`].
    pub fn peer_addr(&self, peer: PeerId) -> Option<SocketAddr> {
        self.server.peer_addr(peer)
    }

    /// See [`Server::metrics`].
    pub fn metrics(&self, peer: PeerId) -> Option<Metrics> {
        self.server.metrics(peer)
    }

    /// See [`Server::disconnect`].
    pub fn disconnect(&mut self, peer: PeerId) {
        self.server.disconnect(peer);
    }

    /// See [`Server::disconnect_with`].
    pub fn disconnect_with(&mut self, peer: PeerId, reason: DisconnectReason) {
        self.server.disconnect_with(peer, reason);
    }

    /// See [`Server::disconnect_all`].
    pub fn disconnect_all(&mut self) {
        self.server.disconnect_all();
    }

    /// See [`Server::config`].
    pub fn config(&self) -> &Config {
        self.server.config()
    }

    /// See [`Server::next_deadline`].
    pub fn next_deadline(&self) -> Option<Instant> {
        self.server.next_deadline()
    }

    /// See [`Server::wait`].
    pub fn wait(&mut self, max: Duration) {
        self.server.wait(max);
    }

    /// A handle other threads can queue messages through (typed ones with
    /// [`ServerHandle::send_typed`]); see [`Server::handle`].
    pub fn handle(&mut self) -> ServerHandle {
        self.server.handle()
    }

    fn run_handlers(&mut self, handlers: &mut TypedServerHandlers<M>, event: ServerEvent) {
        match event {
            ServerEvent::Connected { peer, .. } => {
                run_typed!(self, handlers.connected, |h| h(self, peer));
            }
            ServerEvent::Message { peer, message } => match self.decode(peer, &message) {
                Ok(value) => {
                    // The decoded value goes to the first handler; any other
                    // gets its own copy, decoded again, so `M` need not be `Clone`.
                    let mut decoded = Some(value);
                    run_typed!(self, handlers.message, |h| {
                        let value = match decoded.take() {
                            Some(value) => Some(value),
                            None => super::decode(&message.payload).ok(),
                        };
                        if let Some(value) = value {
                            h(self, peer, value);
                        }
                    });
                }
                Err(error) => run_typed!(self, handlers.error, |h| h(self, peer, &error)),
            },
            ServerEvent::Error { peer, error } => {
                run_typed!(self, handlers.error, |h| h(self, peer, &error));
            }
            ServerEvent::Disconnected { peer, reason } => {
                run_typed!(self, handlers.disconnect, |h| h(self, peer, &reason));
            }
        }
    }

    fn typed_event(&mut self, event: ServerEvent) -> TypedServerEvent<M> {
        match event {
            ServerEvent::Connected { peer, addr } => TypedServerEvent::Connected { peer, addr },
            ServerEvent::Message { peer, message } => match self.decode(peer, &message) {
                Ok(value) => TypedServerEvent::Message {
                    peer,
                    message: value,
                    channel: message.channel,
                    delivery: message.delivery,
                },
                Err(error) => TypedServerEvent::Error { peer, error },
            },
            ServerEvent::Error { peer, error } => TypedServerEvent::Error { peer, error },
            ServerEvent::Disconnected { peer, reason } => {
                TypedServerEvent::Disconnected { peer, reason }
            }
        }
    }

    /// Decodes a message from `peer`; a failure is counted and logged.
    fn decode(&mut self, peer: PeerId, message: &Message) -> Result<M, Error> {
        super::decode_message(&message.payload, Some(peer)).inspect_err(|error| {
            self.decode_failures += 1;
            tracing::debug!(peer, channel = message.channel, %error, "message dropped");
        })
    }
}
