//! [`TypedClient`]: a client whose messages are one serde type.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::client_events::{
    AcceptedFn, DisconnectFn, ErrorFn, MessageFn, RejectedFn, TypedClientHandlers,
};
use super::wrapper::{self, Typed, Wrapped};
use super::TypedClientEvent;
use crate::{
    Client, ClientEvent, ClientHandle, ClientState, Config, Delivery, DisconnectReason, Error,
    HandlerId, Metrics, RejectReason, SimNetwork,
};

/// A [`Client`] whose messages are values of `M`, any serde type (usually an
/// enum of every message kind), encoded with bincode.
///
/// Handlers get the typed client, so they can reply with typed messages, and
/// messages arrive decoded. A message that fails to decode is dropped,
/// counted in [`decode_failures`](Self::decode_failures), logged at debug
/// level, and reported to the [`on_error`](Self::on_error) handlers (or the
/// pull path) as [`Error::Decode`] with no peer (it came from the server);
/// the connection stays up. The wrapped client is reachable through
/// [`client`](Self::client) and [`client_mut`](Self::client_mut) for
/// everything else; handlers registered on it run too, before the typed ones.
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
pub struct TypedClient<M> {
    inner: Wrapped<Client, TypedClientHandlers<M>, TypedClientEvent<M>>,
}

impl<M> std::fmt::Debug for TypedClient<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt_as::<M>(f, "TypedClient", "client")
    }
}

impl<M> TypedClient<M>
where
    M: Serialize + DeserializeOwned + 'static,
{
    /// A typed client over real UDP; it is `Disconnected` until [`connect`](Self::connect).
    pub fn new(config: Config) -> Self {
        Self::from_client(Client::new(config))
    }

    /// A typed client on a simulated network.
    pub fn sandbox(config: Config, network: &SimNetwork) -> Self {
        Self::from_client(Client::sandbox(config, network))
    }

    /// Wraps `client`, keeping its handlers, handles and forwarding.
    pub fn from_client(client: Client) -> Self {
        TypedClient {
            inner: Wrapped::new(client),
        }
    }

    /// The wrapped client; the typed handlers are dropped.
    pub fn into_client(self) -> Client {
        self.inner.endpoint
    }

    /// The wrapped client.
    pub fn client(&self) -> &Client {
        &self.inner.endpoint
    }

    /// The wrapped client, for its bytes API, metrics, handles and forwarding.
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.inner.endpoint
    }

    /// Messages dropped because they did not decode as `M`, over this
    /// wrapper's life.
    pub fn decode_failures(&self) -> u64 {
        self.inner.decode_failures()
    }

    /// Encodes `message` and sends it with the given delivery mode.
    pub fn send(&mut self, message: &M, delivery: Delivery) -> Result<(), Error> {
        self.client_mut().send_typed(message, delivery)
    }

    /// Encodes `message` and sends it on `channel`, an index into `Config::channels`.
    pub fn send_on(&mut self, channel: u8, message: &M) -> Result<(), Error> {
        self.client_mut().send_typed_on(channel, message)
    }

    /// Processes datagrams and timers like [`Client::update`], then calls
    /// the wrapped client's handlers and the typed ones, event by event.
    pub fn update(&mut self) {
        wrapper::update(self);
    }

    /// Like [`update`](Self::update), but returns the events, messages
    /// decoded, instead of calling handlers.
    pub fn update_events(&mut self) -> std::vec::Drain<'_, TypedClientEvent<M>> {
        wrapper::update_events(self)
    }

    /// Registers a handler for "the server accepted the connection".
    pub fn on_connect_accepted(
        &mut self,
        f: impl FnMut(&mut TypedClient<M>) + Send + 'static,
    ) -> HandlerId {
        self.inner
            .add::<AcceptedFn<M>>(|h| &mut h.accepted, Box::new(f))
    }

    /// Registers a handler for "the server refused the connection".
    pub fn on_connect_rejected(
        &mut self,
        f: impl FnMut(&mut TypedClient<M>, &RejectReason) + Send + 'static,
    ) -> HandlerId {
        self.inner
            .add::<RejectedFn<M>>(|h| &mut h.rejected, Box::new(f))
    }

    /// Registers a handler for decoded messages from the server.
    pub fn on_message(
        &mut self,
        f: impl FnMut(&mut TypedClient<M>, M) + Send + 'static,
    ) -> HandlerId {
        self.inner
            .add::<MessageFn<M>>(|h| &mut h.message, Box::new(f))
    }

    /// Registers a handler for a connection lost without a graceful close,
    /// and for a message that failed to decode ([`Error::Decode`]; the
    /// connection stays up).
    pub fn on_error(
        &mut self,
        f: impl FnMut(&mut TypedClient<M>, &Error) + Send + 'static,
    ) -> HandlerId {
        self.inner.add::<ErrorFn<M>>(|h| &mut h.error, Box::new(f))
    }

    /// Registers a handler for a graceful close by the server.
    pub fn on_disconnect(
        &mut self,
        f: impl FnMut(&mut TypedClient<M>, &DisconnectReason) + Send + 'static,
    ) -> HandlerId {
        self.inner
            .add::<DisconnectFn<M>>(|h| &mut h.disconnect, Box::new(f))
    }

    /// Removes a handler, typed or registered on the wrapped client; returns
    /// whether it was registered.
    pub fn remove_handler(&mut self, id: HandlerId) -> bool {
        self.inner.remove_handler(id)
    }

    /// See [`Client::connect`].
    pub fn connect(&mut self, addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<(), Error> {
        self.client_mut().connect(addr)
    }

    /// See [`Client::disconnect`].
    pub fn disconnect(&mut self) {
        self.client_mut().disconnect();
    }

    /// See [`Client::is_disconnecting`].
    pub fn is_disconnecting(&self) -> bool {
        self.client().is_disconnecting()
    }

    /// See [`Client::state`].
    pub fn state(&self) -> ClientState {
        self.client().state()
    }

    /// See [`Client::is_connected`].
    pub fn is_connected(&self) -> bool {
        self.client().is_connected()
    }

    /// See [`Client::is_connecting`].
    pub fn is_connecting(&self) -> bool {
        self.client().is_connecting()
    }

    /// See [`Client::is_disconnected`].
    pub fn is_disconnected(&self) -> bool {
        self.client().is_disconnected()
    }

    /// See [`Client::is_errored`].
    pub fn is_errored(&self) -> bool {
        self.client().is_errored()
    }

    /// See [`Client::local_addr`].
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.client().local_addr()
    }

    /// See [`Client::server_addr`].
    pub fn server_addr(&self) -> Option<SocketAddr> {
        self.client().server_addr()
    }

    /// See [`Client::config`].
    pub fn config(&self) -> &Config {
        self.client().config()
    }

    /// See [`Client::metrics`].
    pub fn metrics(&self) -> Metrics {
        self.client().metrics()
    }

    /// See [`Client::latency`].
    pub fn latency(&self) -> Duration {
        self.client().latency()
    }

    /// See [`Client::next_deadline`].
    pub fn next_deadline(&self) -> Option<Instant> {
        self.client().next_deadline()
    }

    /// See [`Client::wait`].
    pub fn wait(&mut self, max: Duration) {
        self.client_mut().wait(max);
    }

    /// A handle other threads can queue messages through (typed ones with
    /// [`ClientHandle::send_typed`]); see [`Client::handle`].
    pub fn handle(&mut self) -> ClientHandle {
        self.client_mut().handle()
    }
}

impl<M> Typed for TypedClient<M>
where
    M: Serialize + DeserializeOwned + 'static,
{
    type Endpoint = Client;
    type Handlers = TypedClientHandlers<M>;
    type Event = TypedClientEvent<M>;

    fn wrapped(&mut self) -> &mut Wrapped<Client, TypedClientHandlers<M>, TypedClientEvent<M>> {
        &mut self.inner
    }

    fn run_handlers(&mut self, handlers: &mut TypedClientHandlers<M>, event: ClientEvent) {
        use wrapper::{run_live, run_message};
        match event {
            ClientEvent::ConnectAccepted => run_live(self, &mut handlers.accepted, |c, h| h(c)),
            ClientEvent::ConnectRejected(reason) => {
                run_live(self, &mut handlers.rejected, |c, h| h(c, &reason));
            }
            // A message from the server; `None` names the server as the sender.
            ClientEvent::Message(message) => match self.inner.decode(None, &message) {
                Ok(value) => {
                    let list = &mut handlers.message;
                    run_message(self, list, value, &message.payload, |c, h, m| h(c, m));
                }
                Err(error) => run_live(self, &mut handlers.error, |c, h| h(c, &error)),
            },
            ClientEvent::Error(error) => run_live(self, &mut handlers.error, |c, h| h(c, &error)),
            ClientEvent::Disconnected(reason) => {
                run_live(self, &mut handlers.disconnect, |c, h| h(c, &reason));
            }
        }
    }

    fn typed_event(&mut self, event: ClientEvent) -> TypedClientEvent<M> {
        match event {
            ClientEvent::ConnectAccepted => TypedClientEvent::ConnectAccepted,
            ClientEvent::ConnectRejected(reason) => TypedClientEvent::ConnectRejected(reason),
            ClientEvent::Message(message) => match self.inner.decode(None, &message) {
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
