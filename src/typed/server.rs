//! [`TypedServer`]: a server whose messages are one serde type.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::server_events::{ConnectedFn, DisconnectFn, ErrorFn, MessageFn, TypedServerHandlers};
use super::wrapper::{self, Typed, Wrapped};
use super::TypedServerEvent;
use crate::route::Route;
use crate::{
    Config, ConnectRequestInfo, Delivery, DisconnectReason, Error, HandlerId, Metrics, PeerId,
    Server, ServerEvent, ServerHandle, SimNetwork,
};

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
    inner: Wrapped<Server, TypedServerHandlers<M>, TypedServerEvent<M>>,
}

impl<M> std::fmt::Debug for TypedServer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt_as::<M>(f, "TypedServer", "server")
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
            inner: Wrapped::new(server),
        }
    }

    /// The wrapped server; the typed handlers are dropped.
    pub fn into_server(self) -> Server {
        self.inner.endpoint
    }

    /// The wrapped server.
    pub fn server(&self) -> &Server {
        &self.inner.endpoint
    }

    /// The wrapped server, for its bytes API, metrics, handles and forwarding.
    pub fn server_mut(&mut self) -> &mut Server {
        &mut self.inner.endpoint
    }

    /// Messages dropped because they did not decode as `M`, over this
    /// wrapper's life.
    pub fn decode_failures(&self) -> u64 {
        self.inner.decode_failures()
    }

    /// Encodes `message` and sends it to `peer` with the given delivery mode.
    pub fn send(&mut self, peer: PeerId, message: &M, delivery: Delivery) -> Result<(), Error> {
        self.server_mut().send_typed(peer, message, delivery)
    }

    /// Encodes `message` and sends it to `peer` on `channel`, an index into
    /// `Config::channels`.
    pub fn send_on(&mut self, peer: PeerId, channel: u8, message: &M) -> Result<(), Error> {
        self.server_mut().send_typed_on(peer, channel, message)
    }

    /// Encodes `message` once and sends it to every connected peer; returns
    /// how many took it (a peer whose send buffer is full is skipped).
    pub fn broadcast(&mut self, message: &M, delivery: Delivery) -> Result<usize, Error> {
        let bytes = super::encode(message)?;
        Ok(self
            .server_mut()
            .broadcast_routed(bytes, Route::Delivery(delivery)))
    }

    /// Like [`broadcast`](Self::broadcast), on `channel`.
    pub fn broadcast_on(&mut self, channel: u8, message: &M) -> Result<usize, Error> {
        let bytes = super::encode(message)?;
        Ok(self
            .server_mut()
            .broadcast_routed(bytes, Route::Channel(channel)))
    }

    /// Processes datagrams and timers like [`Server::update`], then calls
    /// the wrapped server's handlers and the typed ones, event by event.
    pub fn update(&mut self) {
        wrapper::update(self);
    }

    /// Like [`update`](Self::update), but returns the events, messages
    /// decoded, instead of calling handlers (connect requests are still
    /// decided by the `on_connect_request` handlers).
    pub fn update_events(&mut self) -> std::vec::Drain<'_, TypedServerEvent<M>> {
        wrapper::update_events(self)
    }

    /// Registers the handler that decides connect requests; it runs on the
    /// wrapped server (see [`Server::on_connect_request`]).
    pub fn on_connect_request(
        &mut self,
        f: impl FnMut(&mut Server, &ConnectRequestInfo) -> Result<(), String> + Send + 'static,
    ) -> HandlerId {
        self.server_mut().on_connect_request(f)
    }

    /// Registers a handler for "a peer was accepted".
    pub fn on_connect(
        &mut self,
        f: impl FnMut(&mut TypedServer<M>, PeerId) + Send + 'static,
    ) -> HandlerId {
        self.inner
            .add::<ConnectedFn<M>>(|h| &mut h.connected, Box::new(f))
    }

    /// Registers a handler for decoded messages from peers.
    pub fn on_message(
        &mut self,
        f: impl FnMut(&mut TypedServer<M>, PeerId, M) + Send + 'static,
    ) -> HandlerId {
        self.inner
            .add::<MessageFn<M>>(|h| &mut h.message, Box::new(f))
    }

    /// Registers a handler for a peer lost without a graceful close, and for
    /// a message that failed to decode ([`Error::Decode`]; the peer stays).
    pub fn on_error(
        &mut self,
        f: impl FnMut(&mut TypedServer<M>, PeerId, &Error) + Send + 'static,
    ) -> HandlerId {
        self.inner.add::<ErrorFn<M>>(|h| &mut h.error, Box::new(f))
    }

    /// Registers a handler for a peer's graceful close.
    pub fn on_disconnect(
        &mut self,
        f: impl FnMut(&mut TypedServer<M>, PeerId, &DisconnectReason) + Send + 'static,
    ) -> HandlerId {
        self.inner
            .add::<DisconnectFn<M>>(|h| &mut h.disconnect, Box::new(f))
    }

    /// Removes a handler, typed or registered on the wrapped server; returns
    /// whether it was registered.
    pub fn remove_handler(&mut self, id: HandlerId) -> bool {
        self.inner.remove_handler(id)
    }

    /// See [`Server::listen`].
    pub fn listen(&mut self, addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<(), Error> {
        self.server_mut().listen(addr)
    }

    /// See [`Server::local_addr`].
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server().local_addr()
    }

    /// See [`Server::peers`].
    pub fn peers(&self) -> Vec<PeerId> {
        self.server().peers()
    }

    /// See [`Server::peer_count`].
    pub fn peer_count(&self) -> usize {
        self.server().peer_count()
    }

    /// See [`Server::peer_addr`].
    pub fn peer_addr(&self, peer: PeerId) -> Option<SocketAddr> {
        self.server().peer_addr(peer)
    }

    /// See [`Server::metrics`].
    pub fn metrics(&self, peer: PeerId) -> Option<Metrics> {
        self.server().metrics(peer)
    }

    /// See [`Server::disconnect`].
    pub fn disconnect(&mut self, peer: PeerId) {
        self.server_mut().disconnect(peer);
    }

    /// See [`Server::disconnect_with`].
    pub fn disconnect_with(&mut self, peer: PeerId, reason: DisconnectReason) {
        self.server_mut().disconnect_with(peer, reason);
    }

    /// See [`Server::disconnect_all`].
    pub fn disconnect_all(&mut self) {
        self.server_mut().disconnect_all();
    }

    /// See [`Server::config`].
    pub fn config(&self) -> &Config {
        self.server().config()
    }

    /// See [`Server::next_deadline`].
    pub fn next_deadline(&self) -> Option<Instant> {
        self.server().next_deadline()
    }

    /// See [`Server::wait`].
    pub fn wait(&mut self, max: Duration) {
        self.server_mut().wait(max);
    }

    /// A handle other threads can queue messages through (typed ones with
    /// [`ServerHandle::send_typed`]); see [`Server::handle`].
    pub fn handle(&mut self) -> ServerHandle {
        self.server_mut().handle()
    }
}

impl<M> Typed for TypedServer<M>
where
    M: Serialize + DeserializeOwned + 'static,
{
    type Endpoint = Server;
    type Handlers = TypedServerHandlers<M>;
    type Event = TypedServerEvent<M>;

    fn wrapped(&mut self) -> &mut Wrapped<Server, TypedServerHandlers<M>, TypedServerEvent<M>> {
        &mut self.inner
    }

    fn run_handlers(&mut self, handlers: &mut TypedServerHandlers<M>, event: ServerEvent) {
        use wrapper::{run_live, run_message};
        match event {
            ServerEvent::Connected { peer, .. } => {
                run_live(self, &mut handlers.connected, |s, h| h(s, peer));
            }
            ServerEvent::Message { peer, message } => {
                match self.inner.decode(Some(peer), &message) {
                    Ok(value) => {
                        let list = &mut handlers.message;
                        run_message(self, list, value, &message.payload, |s, h, m| h(s, peer, m));
                    }
                    Err(error) => run_live(self, &mut handlers.error, |s, h| h(s, peer, &error)),
                }
            }
            ServerEvent::Error { peer, error } => {
                run_live(self, &mut handlers.error, |s, h| h(s, peer, &error));
            }
            ServerEvent::Disconnected { peer, reason } => {
                run_live(self, &mut handlers.disconnect, |s, h| h(s, peer, &reason));
            }
        }
    }

    fn typed_event(&mut self, event: ServerEvent) -> TypedServerEvent<M> {
        match event {
            ServerEvent::Connected { peer, addr } => TypedServerEvent::Connected { peer, addr },
            ServerEvent::Message { peer, message } => {
                match self.inner.decode(Some(peer), &message) {
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
