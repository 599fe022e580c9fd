//! The game client: one connection to a server, driven by `update()`.
//!
//! [`Client`] is the sans-IO [`ClientCore`](core::ClientCore) (the
//! handshake, then one connection) under the driver that owns the socket
//! and the clock, with the game's handlers, thread handles and event
//! forwarding around it. Events reach handlers registered with `on_*`
//! (several per event, each removable), or come out of
//! [`Client::update_events`]. Handlers get `&mut Client`, so they can
//! reply, disconnect and read metrics, and with `update_with` the game's
//! own state too.

use std::any::Any;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::endpoint::{endpoint_api, resolve, run_live, Driver, Registry, Transport};
use crate::metrics::{Metrics, MetricsHandle};
use crate::threads::{Forward, HandleQueue};
use crate::{ClientHandle, Config, Error};

mod core;
mod events;
mod log;
mod send;
mod threads;

use self::core::ClientCore;
use events::ClientHandlers;
pub use events::{ClientEvent, ClientState};

/// A connection to one server.
///
/// Make it with [`new`](Self::new) (UDP) or [`sandbox`](Self::sandbox) (a
/// [`SimNetwork`](crate::SimNetwork)), register handlers, [`connect`](Self::connect), then call
/// [`update`](Self::update) once per tick: it reads datagrams, runs timers,
/// sends what is due and calls the handlers. Sends are queued and go out on
/// the next update. For messages of one serde type, wrap it in a
/// [`TypedClient`](crate::TypedClient).
///
/// ```no_run
/// use lentil::{Client, Config, Delivery};
/// let mut client = Client::new(Config::default());
/// client.on_message(|client, msg| {
///     println!("server says {:?}", msg.bytes());
///     let _ = client.send(b"thanks", Delivery::Reliable);
/// });
/// client.connect("127.0.0.1:9000")?;
/// loop {
///     client.update();
///     # break;
/// }
/// # Ok::<(), lentil::Error>(())
/// ```
///
/// The same client on a simulated network, whose virtual clock the game moves:
///
/// ```
/// use std::time::Duration;
/// use lentil::{Client, ClientState, Config, Server, SimNetwork};
/// let net = SimNetwork::new(1);
/// let mut server = Server::sandbox(Config::default(), &net);
/// server.listen("127.0.0.1:9000")?;
/// let mut client = Client::sandbox(Config::default(), &net);
/// client.connect("127.0.0.1:9000")?;
/// assert_eq!(client.state(), ClientState::Connecting);
/// for _ in 0..100 {
///     server.update();
///     client.update();
///     net.clock().advance(Duration::from_millis(1));
/// }
/// assert!(client.is_connected());
/// # Ok::<(), lentil::Error>(())
/// ```
pub struct Client {
    core: ClientCore,
    driver: Driver,
    handlers: ClientHandlers,
    registry: Registry,
    metrics_handle: Option<MetricsHandle>,
    /// Messages queued by handles; empty until the first handle.
    inbox: HandleQueue<()>,
    /// Copies of events for a consumer thread; off until asked for.
    forward: Forward<ClientEvent>,
    /// Context of everything this client logs, once it connects.
    span: tracing::Span,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.core.state)
            .field("server", &self.core.server)
            .finish_non_exhaustive()
    }
}

endpoint_api!(Client, ClientEvent, ClientHandlers, ClientHandle);

impl Client {
    /// A client on `transport`, the game's own or one of lentil's.
    pub fn with_transport(config: Config, transport: impl Transport) -> Self {
        Client {
            core: ClientCore::new(config),
            driver: Driver::new(Arc::new(transport)),
            handlers: ClientHandlers::default(),
            registry: Registry::default(),
            metrics_handle: None,
            inbox: HandleQueue::default(),
            forward: Forward::default(),
            span: tracing::Span::none(),
        }
    }

    /// Starts connecting to the server at `addr`. Fails if already connecting
    /// or connected, or if the address does not resolve.
    pub fn connect(&mut self, addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<(), Error> {
        if matches!(
            self.core.state,
            ClientState::Connecting | ClientState::Connected
        ) {
            return Err(Error::AlreadyConnected);
        }
        self.core.config.validate()?;
        let server = resolve(addr)?;
        if server.port() == 0 || server.ip().is_unspecified() {
            // Nothing can listen there: say so now, not after the timeout.
            return Err(Error::BadAddress(format!(
                "{server} cannot be a server's address"
            )));
        }
        let now = self.driver.now();
        // A graceful close still lingering is cut short, through the old
        // socket, so the old server hears the disconnect before this client
        // moves on.
        self.core.end_lingering_close(now);
        self.send_transmits();
        let local = self.driver.bind_client(server, &self.core.config)?;
        self.span = tracing::info_span!("lentil_client", %server);
        self.span.in_scope(|| tracing::debug!("connecting"));
        self.core.connect(server, local.port(), now);
        self.send_transmits();
        Ok(())
    }

    /// Whether a graceful close is still delivering queued messages or its
    /// disconnect notice; keep calling `update()` until this is false.
    pub fn is_disconnecting(&self) -> bool {
        self.core.is_disconnecting()
    }

    /// Gracefully disconnects: queued reliable messages are still delivered
    /// (for up to `Config::linger`) on the following `update()` calls, then the
    /// server is told. The state is `Disconnected` at once; a second call, or a
    /// call while not connected, is ignored.
    pub fn disconnect(&mut self) {
        let was = self.core.state;
        let now = self.driver.now();
        if !self.core.disconnect(now) {
            return;
        }
        if was == ClientState::Connecting {
            self.driver.close();
            self.span.in_scope(|| tracing::info!("connect abandoned"));
        } else {
            self.span.in_scope(|| {
                tracing::info!(reason = %crate::DisconnectReason::ClientDisconnected, "disconnecting")
            });
            self.send_transmits();
        }
    }

    /// Puts what is queued on the wire now, within the pacing rate and the
    /// congestion window, without reading the socket, running timers or
    /// calling handlers: for a game that queues messages after its
    /// `update()` and wants them sent before the next. Messages that other
    /// threads queued through a [`ClientHandle`](crate::ClientHandle) wait
    /// for the next `update()`.
    pub fn flush(&mut self) {
        // A busy loop flushes far more often than it has anything to send.
        if !self
            .core
            .conn
            .as_ref()
            .is_some_and(crate::proto::Connection::may_transmit)
        {
            return;
        }
        let now = self.driver.now();
        self.core.cadence.on_update(now);
        self.core.transmit_conn(now, |_| true);
        self.send_transmits();
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.core.state
    }

    /// Whether the client is connected.
    pub fn is_connected(&self) -> bool {
        self.core.state == ClientState::Connected
    }

    /// Whether the client is connecting.
    pub fn is_connecting(&self) -> bool {
        self.core.state == ClientState::Connecting
    }

    /// Whether the client is disconnected (not errored).
    pub fn is_disconnected(&self) -> bool {
        self.core.state == ClientState::Disconnected
    }

    /// Whether the connection was lost with an error.
    pub fn is_errored(&self) -> bool {
        self.core.state == ClientState::Errored
    }

    /// The server address, once `connect` was called.
    pub fn server_addr(&self) -> Option<SocketAddr> {
        self.core.server
    }

    /// The local socket address, while a socket is open.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.driver.local_addr()
    }

    /// Metrics of the current (or last) connection.
    pub fn metrics(&self) -> Metrics {
        self.core.metrics()
    }

    /// Round-trip latency (smoothed RTT); zero before the first sample.
    pub fn latency(&self) -> Duration {
        self.metrics().latency
    }

    /// A handle other threads can read metrics from; refreshed on every `update()`.
    pub fn metrics_handle(&mut self) -> MetricsHandle {
        self.metrics_handle
            .get_or_insert_with(MetricsHandle::default)
            .clone()
    }

    /// When the client next has timer work to do; a loop may sleep until then.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.core.next_deadline()
    }

    /// One update's network work; events wait in the core for dispatch.
    fn pump(&mut self, now: Instant, _ctx: &mut dyn Any) {
        let core = &mut self.core;
        core.cadence.on_update(now);
        let first_new = core.events.len();
        // Replies queued since the last update leave before the socket is
        // read, when updates come often enough (`sends_early`).
        core.transmit_conn(now, crate::proto::Connection::sends_early);
        self.send_transmits();
        self.receive(now);
        self.core.run_timers(now);
        self.apply_queued();
        self.core.transmit_all(now);
        self.send_transmits();
        self.core.collect_events();
        let new = self.core.events.get(first_new..).unwrap_or_default();
        new.iter().for_each(log::event);
        self.forward.forward(new);
        if self.core.settle(now) {
            self.driver.close();
        }
        if let Some(handle) = &self.metrics_handle {
            handle.publish(|| self.core.metrics());
        }
    }

    fn receive(&mut self, now: Instant) {
        while let Some((len, from)) = self.driver.recv() {
            self.core.handle(now, from, self.driver.received(len));
            if !self.core.transmits.is_empty() {
                self.send_transmits();
            }
            if self.core.handshake.is_none() && self.core.conn.is_none() {
                // Rejected: nothing more on this socket is for us.
                return;
            }
        }
    }

    /// Hands the core's waiting datagrams to the driver; those the socket
    /// refused count against the connection.
    fn send_transmits(&mut self) {
        let refused = self.driver.send_all(&mut self.core.transmits).len();
        if refused > 0 {
            self.core.note_refused(refused);
        }
    }
}

impl Client {
    /// Calls the handlers in `handlers` (taken out of `self`) for `event`.
    fn run_handlers(
        &mut self,
        handlers: &mut ClientHandlers,
        ctx: &mut dyn Any,
        event: &ClientEvent,
    ) {
        match event {
            ClientEvent::ConnectAccepted => {
                run_live!(self.registry, handlers.accepted, |h| h(self, ctx))
            }
            ClientEvent::ConnectRejected(r) => {
                run_live!(self.registry, handlers.rejected, |h| h(self, ctx, r))
            }
            ClientEvent::Message(m) => {
                run_live!(self.registry, handlers.message, |h| h(self, ctx, m))
            }
            ClientEvent::Error(e) => run_live!(self.registry, handlers.error, |h| h(self, ctx, e)),
            ClientEvent::Disconnected(r) => {
                run_live!(self.registry, handlers.disconnect, |h| h(self, ctx, r))
            }
        }
    }
}
