//! The game client: one connection to a server, driven by `update()`.
//!
//! legume's model: create, `connect`, call `update()` every tick, react to
//! events. Events reach handlers registered with `on_*` (several per event,
//! each removable), or, for games whose state lives in the loop, come out of
//! [`Client::update_events`] instead. Handlers get `&mut Client`, so they can
//! reply, disconnect and read metrics. Other threads queue messages through a
//! [`ClientHandle`](crate::ClientHandle) and can receive copies of the events
//! ([`Client::forward_events`]).

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::backend::{resolve, Backend};
use crate::clock::{Clock, UpdateCadence};
use crate::handlers::{run_handlers, HandlerId, Registry};
use crate::metrics::{BandwidthMeter, Metrics, MetricsHandle};
use crate::proto::arena::Arena;
use crate::proto::handshake::{ClientHandshake, HandshakeOutcome};
use crate::proto::{transmit, CloseCause, ConnEvent, Connection};
use crate::route::Route;
use crate::threads::{Forward, Inbox};
use crate::transport::sim::SimNetwork;
use crate::transport::Socket;
use crate::wire::{Packet, MAX_MTU};
use crate::{Config, Delivery, DisconnectReason, Error, Message, RejectReason};

mod events;
mod log;
mod threads;
mod wrap;

use events::ClientHandlers;
pub use events::{ClientEvent, ClientState};

/// A connection to one server.
///
/// Make it with [`new`](Self::new) (UDP) or [`sandbox`](Self::sandbox) (a
/// [`SimNetwork`]), register handlers, [`connect`](Self::connect), then call
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
    config: Config,
    backend: Backend,
    clock: Clock,
    /// How often the owner updates or flushes.
    cadence: UpdateCadence,
    /// When the connection's timers next have work, as of their last run;
    /// `None` after anything that may move it. See `run_timers`.
    timers_due: Option<Instant>,
    /// The connection's packet counts (in, out) when its timers last ran.
    timers_seen: (u64, u64),
    socket: Option<Box<dyn Socket>>,
    server: Option<SocketAddr>,
    state: ClientState,
    handshake: Option<ClientHandshake>,
    conn: Option<Connection>,
    events: Vec<ClientEvent>,
    handlers: ClientHandlers,
    registry: Registry,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
    /// Received datagrams are copied here, so their messages can be shared
    /// without an allocation per datagram.
    recv_arena: Arena,
    /// Datagrams dropped before reaching a connection (wrong sender, garbage).
    stray_datagrams: u64,
    meter: BandwidthMeter,
    metrics_handle: Option<MetricsHandle>,
    last_metrics: Metrics,
    /// Messages queued by handles; empty until the first handle.
    inbox: Inbox<()>,
    /// Copies of events for a consumer thread; off until asked for.
    forward: Forward<ClientEvent>,
    /// Context of everything this client logs, once it connects.
    span: tracing::Span,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over real UDP. It is `Disconnected` until [`connect`](Self::connect).
    pub fn new(config: Config) -> Self {
        Self::with_backend(config, Backend::Udp)
    }

    /// A client on a simulated network (the "sandbox connection"): same API,
    /// no sockets, virtual time.
    pub fn sandbox(config: Config, network: &SimNetwork) -> Self {
        Self::with_backend(config, Backend::Sim(network.clone()))
    }

    fn with_backend(config: Config, backend: Backend) -> Self {
        let mtu = config.mtu;
        Client {
            clock: backend.clock(),
            cadence: UpdateCadence::default(),
            timers_due: None,
            timers_seen: (0, 0),
            backend,
            config,
            socket: None,
            server: None,
            state: ClientState::Disconnected,
            handshake: None,
            conn: None,
            events: Vec::new(),
            handlers: ClientHandlers::default(),
            registry: Registry::default(),
            // Outgoing datagrams never exceed the mtu.
            send_buf: Vec::with_capacity(mtu),
            recv_buf: vec![0; MAX_MTU],
            recv_arena: Arena::for_datagrams(),
            stray_datagrams: 0,
            meter: BandwidthMeter::default(),
            metrics_handle: None,
            last_metrics: Metrics::default(),
            inbox: Inbox::default(),
            forward: Forward::default(),
            span: tracing::Span::none(),
        }
    }

    /// Starts connecting to the server at `addr`. Fails if already connecting
    /// or connected, or if the address does not resolve.
    pub fn connect(&mut self, addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<(), Error> {
        if matches!(self.state, ClientState::Connecting | ClientState::Connected) {
            return Err(Error::AlreadyConnected);
        }
        self.config.validate()?;
        let server = resolve(addr)?;
        let socket = self
            .backend
            .bind(self.backend.client_bind_addr(server), &self.config)?;
        let now = self.clock.now();
        self.end_lingering_close(now);
        self.socket = Some(socket);
        self.server = Some(server);
        self.conn = None;
        self.handshake = Some(ClientHandshake::new(&self.config, rand::random(), now));
        self.state = ClientState::Connecting;
        self.span = tracing::info_span!("lentil_client", %server);
        self.span.in_scope(|| tracing::debug!("connecting"));
        self.transmit_all(now);
        Ok(())
    }

    /// A graceful close still delivering queued data is cut short so the old
    /// server hears the disconnect before this client moves on.
    fn end_lingering_close(&mut self, now: Instant) {
        let (Some(mut conn), Some(socket), Some(server)) =
            (self.conn.take(), self.socket.as_mut(), self.server)
        else {
            return;
        };
        conn.close_now(DisconnectReason::ClientDisconnected);
        transmit(&mut conn, socket.as_mut(), &mut self.send_buf, server, now);
    }

    /// Whether a graceful close is still delivering queued messages or its
    /// disconnect notice; keep calling `update()` until this is false.
    pub fn is_disconnecting(&self) -> bool {
        self.handshake.is_none()
            && self.conn.as_ref().is_some_and(|c| !c.is_finished())
            && !self.is_connected()
    }

    /// Gracefully disconnects: queued reliable messages are still delivered
    /// (for up to `Config::linger`) on the following `update()` calls, then the
    /// server is told. The state is `Disconnected` at once; a second call, or a
    /// call while not connected, is ignored.
    pub fn disconnect(&mut self) {
        let now = self.clock.now();
        match self.state {
            ClientState::Connected => {
                if let Some(conn) = self.conn.as_mut() {
                    conn.close(DisconnectReason::ClientDisconnected, now);
                }
                self.timers_due = None;
                self.state = ClientState::Disconnected;
                self.span.in_scope(|| {
                    tracing::info!(reason = %DisconnectReason::ClientDisconnected, "disconnecting")
                });
                self.transmit_all(now);
            }
            ClientState::Connecting => {
                self.handshake = None;
                self.socket = None;
                self.state = ClientState::Disconnected;
                self.span.in_scope(|| tracing::info!("connect abandoned"));
            }
            ClientState::Disconnected | ClientState::Errored => {}
        }
    }

    /// Processes incoming datagrams and timers, sends what is due, and calls
    /// the registered handlers. Harmless while not connected.
    pub fn update(&mut self) {
        let span = self.span.clone();
        let _entered = span.enter();
        let now = self.clock.now();
        self.pump(now);
        self.dispatch();
    }

    /// Like [`update`](Self::update), but returns the events instead of
    /// calling handlers.
    pub fn update_events(&mut self) -> std::vec::Drain<'_, ClientEvent> {
        let now = self.clock.now();
        self.span.clone().in_scope(|| self.pump(now));
        self.events.drain(..)
    }

    /// Puts what is queued on the wire now, within the pacing rate and the
    /// congestion window, without reading the socket, running timers or
    /// calling handlers: for a game that queues messages after its
    /// `update()` and wants them sent before the next. Messages that other
    /// threads queued through a [`ClientHandle`](crate::ClientHandle) wait
    /// for the next `update()`.
    pub fn flush(&mut self) {
        // A busy loop flushes far more often than it has anything to send.
        if !self.conn.as_ref().is_some_and(Connection::may_transmit) {
            return;
        }
        let now = self.clock.now();
        self.cadence.on_update(now);
        self.transmit_conn(now, |_| true);
    }

    /// Sends `message` with the given delivery mode. It is queued and goes out
    /// on the next `update()` (or at once, if the connection can).
    pub fn send(&mut self, message: impl AsRef<[u8]>, delivery: Delivery) -> Result<(), Error> {
        self.open_conn()?.send_slice(message.as_ref(), delivery)
    }

    /// Like [`send`](Self::send), taking ownership of the bytes without copying.
    pub fn send_bytes(&mut self, message: Bytes, delivery: Delivery) -> Result<(), Error> {
        self.send_routed(message, Route::Delivery(delivery))
    }

    /// Sends `message` on `channel`, an index into `Config::channels`, with
    /// that channel's delivery mode. A reliable message larger than one packet
    /// is split into fragments and joined on arrival.
    pub fn send_on(&mut self, channel: u8, message: impl AsRef<[u8]>) -> Result<(), Error> {
        self.open_conn()?.send_slice_on(channel, message.as_ref())
    }

    /// Like [`send_on`](Self::send_on), taking ownership of the bytes without copying.
    pub fn send_bytes_on(&mut self, channel: u8, message: Bytes) -> Result<(), Error> {
        self.send_routed(message, Route::Channel(channel))
    }

    /// Queues `message` on the channel `route` names.
    pub(crate) fn send_routed(&mut self, message: Bytes, route: Route) -> Result<(), Error> {
        let conn = self.open_conn()?;
        match route {
            Route::Delivery(delivery) => conn.send(message, delivery),
            Route::Channel(channel) => conn.send_on(channel, message),
        }
    }

    /// The connection, while messages may be sent on it.
    fn open_conn(&mut self) -> Result<&mut Connection, Error> {
        if self.state != ClientState::Connected {
            return Err(Error::NotConnected);
        }
        let conn = self.conn.as_mut().ok_or(Error::NotConnected)?;
        conn.set_update_interval(self.cadence.interval());
        // A message queued may need a timer (a ping held back, say).
        self.timers_due = None;
        Ok(conn)
    }

    /// Encodes `value` with bincode and sends it; decode with
    /// [`Message::decode`], or receive it in a [`TypedServer`](crate::TypedServer).
    pub fn send_typed<T: Serialize>(&mut self, value: &T, delivery: Delivery) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.send_bytes(bytes, delivery)
    }

    /// Like [`send_typed`](Self::send_typed), on `channel`.
    pub fn send_typed_on<T: Serialize>(&mut self, channel: u8, value: &T) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.send_bytes_on(channel, bytes)
    }

    /// legume's `send_message`: unreliable.
    pub fn send_message(&mut self, message: impl AsRef<[u8]>) -> Result<(), Error> {
        self.send(message, Delivery::Unreliable)
    }

    /// legume's `send_reliable_message`: reliable, any order.
    pub fn send_reliable_message(&mut self, message: impl AsRef<[u8]>) -> Result<(), Error> {
        self.send(message, Delivery::Reliable)
    }

    /// legume's in-order message: reliable and ordered.
    pub fn send_ordered_message(&mut self, message: impl AsRef<[u8]>) -> Result<(), Error> {
        self.send(message, Delivery::ReliableOrdered)
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// Whether the client is connected.
    pub fn is_connected(&self) -> bool {
        self.state == ClientState::Connected
    }

    /// Whether the client is connecting.
    pub fn is_connecting(&self) -> bool {
        self.state == ClientState::Connecting
    }

    /// Whether the client is disconnected (not errored).
    pub fn is_disconnected(&self) -> bool {
        self.state == ClientState::Disconnected
    }

    /// Whether the connection was lost with an error.
    pub fn is_errored(&self) -> bool {
        self.state == ClientState::Errored
    }

    /// The server address, once `connect` was called.
    pub fn server_addr(&self) -> Option<SocketAddr> {
        self.server
    }

    /// The local socket address, while a socket is open.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.as_ref().map(|s| s.local_addr())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Metrics of the current (or last) connection.
    pub fn metrics(&self) -> Metrics {
        match &self.conn {
            Some(conn) => self.snapshot(conn),
            None => self.last_metrics.clone(),
        }
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
        match (&self.handshake, &self.conn) {
            (Some(hs), _) => Some(hs.next_deadline()),
            (None, Some(conn)) => conn.next_deadline(),
            (None, None) => None,
        }
    }

    /// Blocks until a datagram may have arrived, the next deadline, or `max`,
    /// whichever is first. Returns at once on a simulated network.
    pub fn wait(&mut self, max: Duration) {
        let deadline = self.next_deadline();
        crate::backend::wait(self.socket.as_deref_mut(), self.clock.now(), deadline, max);
    }

    /// Registers a handler for "the server accepted the connection".
    pub fn on_connect_accepted(
        &mut self,
        f: impl FnMut(&mut Client) + Send + 'static,
    ) -> HandlerId {
        let id = self.registry.register();
        self.handlers.accepted.push(id, Box::new(f));
        id
    }

    /// Registers a handler for "the server refused the connection".
    pub fn on_connect_rejected(
        &mut self,
        f: impl FnMut(&mut Client, &RejectReason) + Send + 'static,
    ) -> HandlerId {
        let id = self.registry.register();
        self.handlers.rejected.push(id, Box::new(f));
        id
    }

    /// Registers a handler for messages from the server.
    pub fn on_message(
        &mut self,
        f: impl FnMut(&mut Client, &Message) + Send + 'static,
    ) -> HandlerId {
        let id = self.registry.register();
        self.handlers.message.push(id, Box::new(f));
        id
    }

    /// Registers a handler for a connection lost without a graceful close
    /// (timeout, protocol violation, connect timeout).
    pub fn on_error(&mut self, f: impl FnMut(&mut Client, &Error) + Send + 'static) -> HandlerId {
        let id = self.registry.register();
        self.handlers.error.push(id, Box::new(f));
        id
    }

    /// Registers a handler for a graceful close by the server.
    pub fn on_disconnect(
        &mut self,
        f: impl FnMut(&mut Client, &DisconnectReason) + Send + 'static,
    ) -> HandlerId {
        let id = self.registry.register();
        self.handlers.disconnect.push(id, Box::new(f));
        id
    }

    /// Removes a handler; returns whether it was registered.
    pub fn remove_handler(&mut self, id: HandlerId) -> bool {
        let was_registered = self.registry.unregister(id);
        // Lists taken out for a dispatch in progress drop it when merged back.
        self.handlers
            .merge(ClientHandlers::default(), &self.registry);
        was_registered
    }

    fn snapshot(&self, conn: &Connection) -> Metrics {
        let mut m = Metrics::of(conn, &self.meter);
        m.invalid_packets += self.stray_datagrams;
        m
    }

    fn pump(&mut self, now: Instant) {
        self.cadence.on_update(now);
        let first_new = self.events.len();
        // Replies queued since the last update leave before the socket is
        // read, when updates come often enough (`sends_early`).
        self.transmit_conn(now, Connection::sends_early);
        self.receive(now);
        self.run_timers(now);
        self.apply_queued();
        self.transmit_all(now);
        self.collect_events();
        let new = self.events.get(first_new..).unwrap_or_default();
        new.iter().for_each(log::event);
        self.forward.forward(new);
        if let Some(conn) = self.conn.as_ref() {
            let s = conn.stats();
            self.meter.observe(now, s.in_bytes, s.out_bytes);
            if conn.is_finished() {
                // Keep the final figures readable after the connection is gone.
                self.last_metrics = self.snapshot(conn);
                self.conn = None;
                if self.handshake.is_none() {
                    self.socket = None;
                }
            }
        }
        if let Some(handle) = &self.metrics_handle {
            handle.publish(|| self.metrics());
        }
    }

    fn receive(&mut self, now: Instant) {
        let Some(socket) = self.socket.as_mut() else {
            return;
        };
        loop {
            let (len, from) = match socket.recv_from(&mut self.recv_buf) {
                Ok(Some(got)) => got,
                Ok(None) => break,
                Err(_) => break,
            };
            if Some(from) != self.server {
                self.stray_datagrams += 1;
                log::dropped(from, "not from the server");
                continue;
            }
            // A data packet is opened in place before anything reads it;
            // one that fails changes nothing.
            let len = match self.conn.as_mut() {
                Some(conn) if crate::wire::is_data(&self.recv_buf[..len]) => {
                    match conn.unprotect(&mut self.recv_buf[..len]) {
                        Some(plain) => plain,
                        None => {
                            log::dropped(from, "failed authentication or replayed");
                            continue;
                        }
                    }
                }
                _ => len,
            };
            let datagram = self.recv_arena.copy(&self.recv_buf[..len]);
            let Ok(packet) = Packet::parse(&datagram) else {
                self.stray_datagrams += 1;
                log::dropped(from, "unparsable");
                continue;
            };
            if let Some(hs) = self.handshake.as_mut() {
                match hs.handle(&packet) {
                    Some(HandshakeOutcome::Accepted { token, window }) => {
                        let protection = hs.take_protection();
                        self.handshake = None;
                        let mut conn = Connection::new(&self.config, token, window, now);
                        if let Some(protection) = protection {
                            conn.set_protection(protection);
                        }
                        conn.set_keepalive_phase(crate::proto::spread(u64::from(
                            socket.local_addr().port(),
                        )));
                        self.conn = Some(conn);
                        self.timers_due = None;
                        self.state = ClientState::Connected;
                        self.events.push(ClientEvent::ConnectAccepted);
                    }
                    Some(HandshakeOutcome::Rejected(reason)) => {
                        self.handshake = None;
                        self.socket = None;
                        self.state = ClientState::Disconnected;
                        self.events.push(ClientEvent::ConnectRejected(reason));
                        return;
                    }
                    None => {}
                }
                continue;
            }
            match (&packet, self.conn.as_mut()) {
                (Packet::Data { header, frames }, Some(conn)) if header.token == conn.token() => {
                    conn.handle_data(now, header, frames, &datagram);
                    if conn.ack_due() {
                        transmit(conn, socket.as_mut(), &mut self.send_buf, from, now);
                    }
                }
                // A repeated Accept after the handshake is expected, not hostile.
                (Packet::Accept(_), _) => {}
                _ => {
                    self.stray_datagrams += 1;
                    log::dropped(from, "not for this connection");
                }
            }
        }
    }

    fn run_timers(&mut self, now: Instant) {
        if let Some(hs) = self.handshake.as_ref() {
            if hs.timed_out(now) {
                let after = hs.timeout();
                self.handshake = None;
                self.socket = None;
                self.state = ClientState::Errored;
                if let Some(addr) = self.server {
                    self.events
                        .push(ClientEvent::Error(Error::ConnectTimedOut { addr, after }));
                }
            }
        }
        if let Some(conn) = self.conn.as_mut() {
            // Deadline-driven, as the server's peers are: while nothing
            // arrived, left or was queued since the timers last ran, they
            // have nothing to do before the deadline they gave, and a busy
            // loop waiting for a reply skips them.
            let seen = |c: &Connection| (c.stats().in_packets, c.stats().out_packets);
            let quiet = seen(conn) == self.timers_seen && self.timers_due.is_some_and(|t| now < t);
            if !quiet {
                conn.handle_timeout(now);
                self.timers_due = conn.next_deadline();
                self.timers_seen = seen(conn);
            }
        }
    }

    fn transmit_all(&mut self, now: Instant) {
        let (Some(socket), Some(server)) = (self.socket.as_mut(), self.server) else {
            return;
        };
        if let Some(hs) = self.handshake.as_mut() {
            if hs.poll_transmit(now, &mut self.send_buf) {
                // A lost handshake packet is repeated on the next interval.
                let _ = socket.send_to(&self.send_buf, server);
            }
        }
        self.transmit_conn(now, |_| true);
    }

    /// Sends what the connection has queued, if it `wants` to now.
    fn transmit_conn(&mut self, now: Instant, wants: fn(&Connection) -> bool) {
        if let (Some(conn), Some(socket), Some(server)) =
            (self.conn.as_mut(), self.socket.as_mut(), self.server)
        {
            if wants(conn) {
                transmit(conn, socket.as_mut(), &mut self.send_buf, server, now);
            }
        }
    }

    fn collect_events(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        while let Some(event) = conn.poll_event() {
            match event {
                ConnEvent::Message {
                    delivery,
                    channel,
                    payload,
                } => {
                    self.events.push(ClientEvent::Message(Message {
                        payload,
                        delivery,
                        channel,
                    }));
                }
                ConnEvent::Closed(CloseCause::PeerClosed(reason)) => {
                    self.state = ClientState::Disconnected;
                    self.events.push(ClientEvent::Disconnected(reason));
                }
                ConnEvent::Closed(CloseCause::TimedOut(after)) => {
                    self.state = ClientState::Errored;
                    self.events.push(ClientEvent::Error(Error::TimedOut(after)));
                }
                ConnEvent::Closed(CloseCause::Violation(why)) => {
                    self.state = ClientState::Errored;
                    self.events
                        .push(ClientEvent::Error(Error::ProtocolViolation(why)));
                }
                // This side asked for the close; legume raises no event for it.
                ConnEvent::Closed(CloseCause::LocalClosed) => {}
            }
        }
    }

    fn dispatch(&mut self) {
        if self.events.is_empty() {
            return;
        }
        let mut events = std::mem::take(&mut self.events);
        let mut handlers = std::mem::take(&mut self.handlers);
        for event in events.drain(..) {
            self.run_handlers(&mut handlers, &event);
        }
        handlers.merge(std::mem::take(&mut self.handlers), &self.registry);
        self.handlers = handlers;
        // Events raised from inside handlers wait for the next update; else reuse the buffer.
        if self.events.is_empty() {
            self.events = events;
        }
    }

    /// Calls the handlers in `handlers` (taken out of `self`) for `event`.
    fn run_handlers(&mut self, handlers: &mut ClientHandlers, event: &ClientEvent) {
        match event {
            ClientEvent::ConnectAccepted => run_handlers!(self, handlers.accepted, |h| h(self)),
            ClientEvent::ConnectRejected(r) => {
                run_handlers!(self, handlers.rejected, |h| h(self, r))
            }
            ClientEvent::Message(m) => run_handlers!(self, handlers.message, |h| h(self, m)),
            ClientEvent::Error(e) => run_handlers!(self, handlers.error, |h| h(self, e)),
            ClientEvent::Disconnected(r) => {
                run_handlers!(self, handlers.disconnect, |h| h(self, r))
            }
        }
    }
}
