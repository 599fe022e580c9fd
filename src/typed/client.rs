//! [`TypedClient`]: a client whose messages are one serde type.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::client_events::TypedClientHandlers;
use super::TypedClientEvent;
use crate::{
    Client, ClientEvent, ClientHandle, ClientState, Config, Delivery, DisconnectReason, Error,
    HandlerId, Message, Metrics, RejectReason, SimNetwork,
};

/// Calls every handler of `$list` still registered with `$owner`'s client.
macro_rules! run_typed {
    ($owner:ident, $list:expr, |$h:ident| $call:expr) => {
        for (id, $h) in $list.iter_mut() {
            if $owner.client.registry().is_live(id) {
                $call;
            }
        }
    };
}

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
    client: Client,
    handlers: TypedClientHandlers<M>,
    events: Vec<TypedClientEvent<M>>,
    decode_failures: u64,
}

impl<M> std::fmt::Debug for TypedClient<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedClient")
            .field("client", &self.client)
            .field("message_type", &std::any::type_name::<M>())
            .field("decode_failures", &self.decode_failures)
            .finish_non_exhaustive()
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
            client,
            handlers: TypedClientHandlers::default(),
            events: Vec::new(),
            decode_failures: 0,
        }
    }

    /// The wrapped client; the typed handlers are dropped.
    pub fn into_client(self) -> Client {
        self.client
    }

    /// The wrapped client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The wrapped client, for its bytes API, metrics, handles and forwarding.
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Messages dropped because they did not decode as `M`, over this
    /// wrapper's life.
    pub fn decode_failures(&self) -> u64 {
        self.decode_failures
    }

    /// Encodes `message` and sends it with the given delivery mode.
    pub fn send(&mut self, message: &M, delivery: Delivery) -> Result<(), Error> {
        self.client.send_typed(message, delivery)
    }

    /// Encodes `message` and sends it on `channel`, an index into `Config::channels`.
    pub fn send_on(&mut self, channel: u8, message: &M) -> Result<(), Error> {
        self.client.send_typed_on(channel, message)
    }

    /// Processes datagrams and timers like [`Client::update`], then calls
    /// the wrapped client's handlers and the typed ones, event by event.
    pub fn update(&mut self) {
        let span = self.client.span();
        let _entered = span.enter();
        self.client.pump_now();
        let mut events = self.client.take_events();
        let mut handlers = std::mem::take(&mut self.handlers);
        for event in events.drain(..) {
            self.client.dispatch_event(&event);
            self.run_handlers(&mut handlers, event);
        }
        handlers.merge(std::mem::take(&mut self.handlers), self.client.registry());
        self.handlers = handlers;
        self.client.restore_events(events);
    }

    /// Like [`update`](Self::update), but returns the events, messages
    /// decoded, instead of calling handlers.
    pub fn update_events(&mut self) -> std::vec::Drain<'_, TypedClientEvent<M>> {
        let span = self.client.span();
        let _entered = span.enter();
        self.client.pump_now();
        let mut events = self.client.take_events();
        for event in events.drain(..) {
            let typed = self.typed_event(event);
            self.events.push(typed);
        }
        self.client.restore_events(events);
        self.events.drain(..)
    }

    /// Registers a handler for "the server accepted the connection".
    pub fn on_connect_accepted(
        &mut self,
        f: impl FnMut(&mut TypedClient<M>) + Send + 'static,
    ) -> HandlerId {
        let id = self.client.registry_mut().register();
        self.handlers.accepted.push(id, Box::new(f));
        id
    }

    /// Registers a handler for "the server refused the connection".
    pub fn on_connect_rejected(
        &mut self,
        f: impl FnMut(&mut TypedClient<M>, &RejectReason) + Send + 'static,
    ) -> HandlerId {
        let id = self.client.registry_mut().register();
        self.handlers.rejected.push(id, Box::new(f));
        id
    }

    /// Registers a handler for decoded messages from the server.
    pub fn on_message(
        &mut self,
        f: impl FnMut(&mut TypedClient<M>, M) + Send + 'static,
    ) -> HandlerId {
        let id = self.client.registry_mut().register();
        self.handlers.message.push(id, Box::new(f));
        id
    }

    /// Registers a handler for a connection lost without a graceful close,
    /// and for a message that failed to decode ([`Error::Decode`]; the
    /// connection stays up).
    pub fn on_error(
        &mut self,
        f: impl FnMut(&mut TypedClient<M>, &Error) + Send + 'static,
    ) -> HandlerId {
        let id = self.client.registry_mut().register();
        self.handlers.error.push(id, Box::new(f));
        id
    }

    /// Registers a handler for a graceful close by the server.
    pub fn on_disconnect(
        &mut self,
        f: impl FnMut(&mut TypedClient<M>, &DisconnectReason) + Send + 'static,
    ) -> HandlerId {
        let id = self.client.registry_mut().register();
        self.handlers.disconnect.push(id, Box::new(f));
        id
    }

    /// Removes a handler, typed or registered on the wrapped client; returns
    /// whether it was registered.
    pub fn remove_handler(&mut self, id: HandlerId) -> bool {
        let was_registered = self.client.remove_handler(id);
        // Lists taken out for a dispatch in progress drop it when merged back.
        self.handlers
            .merge(TypedClientHandlers::default(), self.client.registry());
        was_registered
    }

    /// See [`Client::connect`].
    pub fn connect(&mut self, addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<(), Error> {
        self.client.connect(addr)
    }

    /// See [`Client::disconnect`].
    pub fn disconnect(&mut self) {
        self.client.disconnect();
    }

    /// See [`Client::is_disconnecting`].
    pub fn is_disconnecting(&self) -> bool {
        self.client.is_disconnecting()
    }

    /// See [`Client::state`].
    pub fn state(&self) -> ClientState {
        self.client.state()
    }

    /// See [`Client::is_connected`].
    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    /// See [`Client::is_connecting`].
    pub fn is_connecting(&self) -> bool {
        self.client.is_connecting()
    }

    /// See [`Client::is_disconnected`].
    pub fn is_disconnected(&self) -> bool {
        self.client.is_disconnected()
    }

    /// See [`Client::is_errored`].
    pub fn is_errored(&self) -> bool {
        self.client.is_errored()
    }

    /// See [`Client::local_addr`].
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.client.local_addr()
    }

    /// See [`Client::server_addr`].
    pub fn server_addr(&self) -> Option<SocketAddr> {
        self.client.server_addr()
    }

    /// See [`Client::config`].
    pub fn config(&self) -> &Config {
        self.client.config()
    }

    /// See [`Client::metrics`].
    pub fn metrics(&self) -> Metrics {
        self.client.metrics()
    }

    /// See [`Client::latency`].
    pub fn latency(&self) -> Duration {
        self.client.latency()
    }

    /// See [`Client::next_deadline`].
    pub fn next_deadline(&self) -> Option<Instant> {
        self.client.next_deadline()
    }

    /// See [`Client::wait`].
    pub fn wait(&mut self, max: Duration) {
        self.client.wait(max);
    }

    /// A handle other threads can queue messages through (typed ones with
    /// [`ClientHandle::send_typed`]); see [`Client::handle`].
    pub fn handle(&mut self) -> ClientHandle {
        self.client.handle()
    }

    fn run_handlers(&mut self, handlers: &mut TypedClientHandlers<M>, event: ClientEvent) {
        match event {
            ClientEvent::ConnectAccepted => run_typed!(self, handlers.accepted, |h| h(self)),
            ClientEvent::ConnectRejected(reason) => {
                run_typed!(self, handlers.rejected, |h| h(self, &reason));
            }
            ClientEvent::Message(message) => match self.decode(&message) {
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
                            h(self, value);
                        }
                    });
                }
                Err(error) => run_typed!(self, handlers.error, |h| h(self, &error)),
            },
            ClientEvent::Error(error) => run_typed!(self, handlers.error, |h| h(self, &error)),
            ClientEvent::Disconnected(reason) => {
                run_typed!(self, handlers.disconnect, |h| h(self, &reason));
            }
        }
    }

    fn typed_event(&mut self, event: ClientEvent) -> TypedClientEvent<M> {
        match event {
            ClientEvent::ConnectAccepted => TypedClientEvent::ConnectAccepted,
            ClientEvent::ConnectRejected(reason) => TypedClientEvent::ConnectRejected(reason),
            ClientEvent::Message(message) => match self.decode(&message) {
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

    /// Decodes a message from the server; a failure is counted and logged.
    fn decode(&mut self, message: &Message) -> Result<M, Error> {
        super::decode_message(&message.payload, None).inspect_err(|error| {
            self.decode_failures += 1;
            tracing::debug!(channel = message.channel, %error, "message dropped");
        })
    }
}
