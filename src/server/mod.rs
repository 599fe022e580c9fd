//! The game server: listens on one socket, runs the stateless handshake, and
//! keeps one connection per accepted peer.
//!
//! [`Server`] is the sans-IO [`ServerCore`](core::ServerCore) (peers, the
//! handshake's server half, the schedule) under the driver that owns the
//! socket and the clock, with the game's handlers, thread handles and event
//! forwarding around it. Nothing is allocated for an address until it
//! returns a valid cookie; no reply to an unverified address is larger than
//! what it sent.

use std::any::Any;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use crate::endpoint::{endpoint_api, resolve, run_live, Driver, Registry, Transport};
use crate::metrics::Metrics;
use crate::threads::{Forward, HandleQueue, Recipient};
use crate::{Config, Error, PeerId, ServerHandle, ServerMetricsHandle, ServerStats};

mod addr_table;
mod budget;
mod core;
mod events;
mod handshake;
mod held_cap;
mod limiter;
mod log;
mod receive;
mod schedule;
mod send;
mod slots;
mod threads;

use self::core::ServerCore;
use events::ServerHandlers;
pub use events::{ConnectRequestInfo, ServerEvent};

/// A server accepting many clients.
///
/// Make it with [`new`](Self::new) (UDP) or [`sandbox`](Self::sandbox) (a
/// [`SimNetwork`](crate::SimNetwork)), register handlers, [`listen`](Self::listen), then call
/// [`update`](Self::update) once per tick: it reads datagrams, runs every
/// peer's timers, sends what is due and calls the handlers. For messages of
/// one serde type, wrap it in a [`TypedServer`](crate::TypedServer); for
/// other threads, see [`handle`](Self::handle) and
/// [`forward_events`](Self::forward_events).
///
/// ```no_run
/// use lentil::{Config, Delivery, Server};
/// let mut server = Server::new(Config::default());
/// server.on_message(|server, peer, msg| {
///     let _ = server.send(peer, msg.bytes(), Delivery::Reliable); // echo
/// });
/// server.listen("127.0.0.1:9000")?;
/// loop {
///     server.update();
///     # break;
/// }
/// # Ok::<(), lentil::Error>(())
/// ```
///
/// Deciding who may join, on a simulated network:
///
/// ```
/// use std::time::Duration;
/// use lentil::{Client, Config, RejectReason, Server, SimNetwork};
/// let net = SimNetwork::new(5);
/// let mut server = Server::sandbox(Config::default(), &net);
/// server.on_connect_request(|_, request| match &request.payload[..] {
///     b"let me in" => Ok(()),
///     _ => Err("wrong password".to_owned()),
/// });
/// server.listen("127.0.0.1:9000")?;
/// let config = Config { connect_payload: b"open sesame".to_vec(), ..Config::default() };
/// let mut client = Client::sandbox(config, &net);
/// let (tx, rx) = std::sync::mpsc::channel();
/// client.on_connect_rejected(move |_, reason| {
///     let _ = tx.send(reason.clone());
/// });
/// client.connect("127.0.0.1:9000")?;
/// for _ in 0..100 {
///     server.update();
///     client.update();
///     net.clock().advance(Duration::from_millis(1));
/// }
/// assert_eq!(rx.try_recv().ok(), Some(RejectReason::Custom("wrong password".into())));
/// assert_eq!(server.peer_count(), 0);
/// # Ok::<(), lentil::Error>(())
/// ```
pub struct Server {
    core: ServerCore,
    driver: Driver,
    handlers: ServerHandlers,
    registry: Registry,
    /// Messages queued by handles; empty until the first handle.
    inbox: HandleQueue<Recipient>,
    /// Copies of events for a consumer thread; off until asked for.
    forward: Forward<ServerEvent>,
    /// Context of everything this server logs, once it listens.
    span: tracing::Span,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr())
            .field("peers", &self.core.peers.len())
            .finish_non_exhaustive()
    }
}

endpoint_api!(Server, ServerEvent, ServerHandlers, ServerHandle);

impl Server {
    /// A server on `transport`, the game's own or one of lentil's.
    pub fn with_transport(config: Config, transport: impl Transport) -> Self {
        let driver = Driver::new(Arc::new(transport));
        Server {
            core: ServerCore::new(config, driver.now()),
            driver,
            handlers: ServerHandlers::default(),
            registry: Registry::default(),
            inbox: HandleQueue::default(),
            forward: Forward::default(),
            span: tracing::Span::none(),
        }
    }

    /// Binds the socket and starts accepting connections. Port 0 picks a free port
    /// (see [`local_addr`](Self::local_addr)).
    pub fn listen(&mut self, addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<(), Error> {
        if self.driver.is_open() {
            return Err(Error::AlreadyListening);
        }
        self.core.config.validate()?;
        let local = self.driver.bind(resolve(addr)?, &self.core.config)?;
        self.core.local_addr = Some(local);
        self.span = tracing::info_span!("lentil_server", addr = %local);
        self.span.in_scope(|| tracing::info!("listening"));
        Ok(())
    }

    /// The server's static public key: what a client pins with
    /// `Config::server_public_key` (set the server's own with `Config::static_key`).
    pub fn static_public_key(&self) -> [u8; 32] {
        self.core.cookies.static_public_key()
    }

    /// The bound address, while listening.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.driver.local_addr()
    }

    /// Whether the server is listening.
    pub fn is_listening(&self) -> bool {
        self.driver.is_open()
    }

    /// Turns accepting newcomers on or off; when off, handshake packets from
    /// unknown addresses are ignored. Connected peers are unaffected.
    pub fn set_accept_new_connections(&mut self, accept: bool) {
        self.core.accept_new = accept;
    }

    /// Whether newcomers are accepted.
    pub fn accepts_new_connections(&self) -> bool {
        self.core.accept_new
    }

    /// Puts what is queued for every peer on the wire now, within each
    /// connection's pacing rate and congestion window, without reading the
    /// socket, running timers or calling handlers: for a game that queues
    /// replies after its `update()` and wants them sent before the next.
    /// The peers stay due for the next `update()`, which runs their timers.
    /// Messages that other threads queued through a
    /// [`ServerHandle`](crate::ServerHandle) wait for the next `update()`.
    pub fn flush(&mut self) {
        // A busy loop flushes far more often than it has anything to send.
        if self.core.schedule.touched().is_empty() {
            return;
        }
        let now = self.driver.now();
        self.core.cadence.on_update(now);
        self.core.flush(now);
        self.send_transmits();
    }

    /// Connected peers (not counting those being disconnected).
    pub fn peers(&self) -> Vec<PeerId> {
        let mut ids: Vec<PeerId> = self
            .core
            .peers
            .iter()
            .filter(|(_, p)| p.conn.is_open())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// How many peers are connected.
    pub fn peer_count(&self) -> usize {
        self.core
            .peers
            .values()
            .filter(|p| p.conn.is_open())
            .count()
    }

    /// The address of `peer`.
    pub fn peer_addr(&self, peer: PeerId) -> Option<SocketAddr> {
        self.core.peers.get(&peer).map(|p| p.addr)
    }

    /// Metrics of `peer`'s connection.
    pub fn metrics(&self, peer: PeerId) -> Option<Metrics> {
        let p = self.core.peers.get(&peer)?;
        Some(Metrics::from_snapshot(&p.conn.snapshot(), &p.meter))
    }

    /// Counters of the listening socket outside any connection.
    pub fn stats(&self) -> ServerStats {
        self.core.stats
    }

    /// Publishes a snapshot of the whole server and of every peer to
    /// `handle`, where other threads read it
    /// ([`ServerMetricsHandle::server_snapshot`]). Nothing is kept per peer
    /// between publishes beyond the handle's totals, so the game decides how
    /// often this costs; call it every update or at least once a second.
    /// Never blocks: returns false if a reader held the handle and this
    /// publish was skipped.
    ///
    /// ```
    /// use lentil::{Config, Server, ServerMetricsHandle, SimNetwork};
    /// let net = SimNetwork::new(1);
    /// let mut server = Server::sandbox(Config::default(), &net);
    /// server.listen("127.0.0.1:9000")?;
    /// let handle = ServerMetricsHandle::default();
    /// server.update();
    /// assert!(server.publish_metrics(&handle));
    /// assert_eq!(handle.server_snapshot().peers, 0);
    /// # Ok::<(), lentil::Error>(())
    /// ```
    pub fn publish_metrics(&self, handle: &ServerMetricsHandle) -> bool {
        let peers = self
            .core
            .peers
            .iter()
            .map(|(id, p)| crate::PeerMetrics {
                peer: *id,
                addr: p.addr,
                connected: p.conn.is_open(),
                metrics: Metrics::from_snapshot(&p.conn.snapshot(), &p.meter),
            })
            .collect();
        handle.publish(self.driver.now(), self.core.stats, peers)
    }

    /// When the server next has timer work to do (possibly early: a peer
    /// whose deadline moved later is woken at the earlier one; never late).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.core.next_deadline(self.driver.now())
    }

    /// Registers the handler that decides connect requests: `Ok(())` accepts,
    /// `Err(reason)` rejects and the client sees `reason`. With several
    /// handlers, the first rejection wins; with none, every request is accepted.
    pub fn on_connect_request(
        &mut self,
        mut f: impl FnMut(&mut Server, &ConnectRequestInfo) -> Result<(), String> + Send + 'static,
    ) -> crate::HandlerId {
        self.on_connect_request_decided(move |server, request, verdict| {
            let judged = f(server, request);
            if verdict.is_ok() {
                *verdict = judged;
            }
        })
    }

    /// Like [`on_connect_request`](Self::on_connect_request), for a handler
    /// that also gets the game's context (see
    /// [`update_with`](Self::update_with)); it decides only in updates with
    /// a context of type `C`.
    pub fn on_connect_request_with<C: Any>(
        &mut self,
        mut f: impl FnMut(&mut Server, &mut C, &ConnectRequestInfo) -> Result<(), String>
            + Send
            + 'static,
    ) -> crate::HandlerId {
        self.on_connect_request_decided_with(move |server, ctx: &mut C, request, verdict| {
            let judged = f(server, ctx, request);
            if verdict.is_ok() {
                *verdict = judged;
            }
        })
    }

    /// One update's network work: what handles queued, the early sends,
    /// every datagram waiting (at most `MAX_DATAGRAMS_PER_UPDATE`), then
    /// every peer touched or due; events wait in the core for dispatch.
    fn pump(&mut self, now: Instant, ctx: &mut dyn Any) {
        self.core.cadence.on_update(now);
        // Before the listening check, so messages queued for a server that
        // is not listening fail and are counted instead of filling the queue.
        self.apply_queued();
        if !self.driver.is_open() {
            return;
        }
        let first_new = self.core.events.len();
        self.core.before_receive(now);
        self.send_transmits();
        self.receive(now, ctx);
        self.core.enforce_held_cap(now);
        self.core.after_receive(now);
        self.send_transmits();
        let new = self.core.events.get(first_new..).unwrap_or_default();
        new.iter().for_each(log::event);
        self.forward.forward(new);
    }

    fn receive(&mut self, now: Instant, ctx: &mut dyn Any) {
        self.core.budget.begin_update();
        for _ in 0..crate::MAX_DATAGRAMS_PER_UPDATE {
            // The rest wait in the socket for the next update (see budget.rs).
            if self.core.budget.update_spent() {
                return;
            }
            let Some((len, from)) = self.driver.recv() else {
                return;
            };
            let ahead = self.driver.batch_senders();
            if !ahead.is_empty() {
                self.core.look_ahead(ahead);
            }
            if let Some(pending) = self.core.handle(now, from, self.driver.received(len)) {
                let decision = self.ask_connect_handlers(&pending.info, ctx);
                self.core.decide(pending, decision, now);
            }
            if !self.core.transmits.is_empty() {
                self.send_transmits();
            }
        }
    }

    /// Hands the core's waiting datagrams to the driver; those the socket
    /// refused count against their peers.
    fn send_transmits(&mut self) {
        let refused = self.driver.send_all(&mut self.core.transmits);
        if !refused.is_empty() {
            self.core.note_refused(refused);
        }
    }

    /// Whether messages from `peer` still reach the game: not once this side
    /// disconnected it (a handler that kicks a peer hears nothing more of
    /// the batch it was reading). A peer that closed by itself is heard to
    /// the end.
    pub(crate) fn hears_from(&self, peer: PeerId) -> bool {
        self.core
            .peers
            .get(&peer)
            .is_none_or(|p| !p.conn.closed_here())
    }

    /// The connect-request handlers' verdict on `request`.
    fn ask_connect_handlers(
        &mut self,
        request: &ConnectRequestInfo,
        ctx: &mut dyn Any,
    ) -> Result<(), String> {
        let mut list = std::mem::take(&mut self.handlers.connect_request);
        let mut verdict = Ok(());
        run_live!(self.registry, list, |h| h(self, ctx, request, &mut verdict));
        list.merge(
            std::mem::take(&mut self.handlers.connect_request),
            &self.registry,
        );
        self.handlers.connect_request = list;
        verdict
    }
}

impl Server {
    /// Calls the handlers in `handlers` (taken out of `self`) for `event`.
    fn run_handlers(
        &mut self,
        handlers: &mut ServerHandlers,
        ctx: &mut dyn Any,
        event: &ServerEvent,
    ) {
        match event {
            ServerEvent::Connected { peer, .. } => {
                run_live!(self.registry, handlers.connected, |h| h(self, ctx, *peer));
            }
            // A peer this side disconnected is heard no more.
            ServerEvent::Message { peer, .. } if !self.hears_from(*peer) => {}
            ServerEvent::Message { peer, message } => {
                run_live!(self.registry, handlers.message, |h| h(
                    self, ctx, *peer, message
                ));
            }
            ServerEvent::Error { peer, error } => {
                run_live!(self.registry, handlers.error, |h| h(
                    self, ctx, *peer, error
                ));
            }
            ServerEvent::Disconnected { peer, reason } => {
                run_live!(self.registry, handlers.disconnect, |h| h(
                    self, ctx, *peer, reason
                ));
            }
        }
    }
}
