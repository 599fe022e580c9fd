//! The game server: listens on one socket, runs the stateless handshake, and
//! keeps one [`Connection`] per accepted peer.
//!
//! Nothing is allocated for an address until it returns a valid cookie; no
//! reply to an unverified address is larger than what it sent. Events reach
//! handlers registered with `on_*`, come out of [`Server::update_events`], or
//! are copied to a consumer thread ([`Server::forward_events`]); other
//! threads queue messages through a [`ServerHandle`](crate::ServerHandle).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::backend::{resolve, Backend};
use crate::clock::{Clock, UpdateCadence};
use crate::handlers::{run_handlers, HandlerId, Registry};
use crate::metrics::{BandwidthMeter, Metrics};
use crate::proto::arena::Arena;
use crate::proto::server_handshake::ServerHandshake;
use crate::proto::{transmit, CloseCause, ConnEvent, Connection};
use crate::route::Route;
use crate::threads::{Forward, Inbox, Recipient};
use crate::transport::sim::SimNetwork;
use crate::transport::Socket;
use crate::wire::{self, Packet, MAX_MTU};
use crate::{Config, Delivery, DisconnectReason, Error, Message, PeerId};

mod addr_table;
mod events;
mod handshake;
mod limiter;
mod log;
mod schedule;
mod threads;
mod wrap;

use addr_table::AddrTable;
use events::ServerHandlers;
pub use events::{ConnectRequestInfo, ServerEvent, ServerMetricsHandle, ServerStats};
use limiter::ReplyLimiter;
use schedule::{Schedule, Slot};

/// Hashes peer ids for the peer table, looked up several times per datagram.
/// The server hands the ids out in sequence and nobody else picks them, so
/// the protection of the default hasher against crafted keys buys nothing
/// here; a multiply by an odd constant spreads them over the table.
#[derive(Default)]
struct PeerIdHasher(u64);

impl Hasher for PeerIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The server's peers by id.
type PeerTable = HashMap<PeerId, Box<Peer>, BuildHasherDefault<PeerIdHasher>>;

/// Sends what is queued for those of `ids` whose connection `wants` it,
/// without running their timers.
fn transmit_to(
    peers: &mut PeerTable,
    socket: &mut dyn crate::transport::Socket,
    buf: &mut Vec<u8>,
    ids: &[PeerId],
    now: Instant,
    wants: fn(&Connection) -> bool,
) {
    for id in ids {
        if let Some(p) = peers.get_mut(id).filter(|p| wants(&p.conn)) {
            transmit(&mut p.conn, socket, buf, p.addr, now);
        }
    }
}

/// Looks up the peers of datagrams received and not yet processed, reading
/// a little of each: their lookups and first reads do not depend on one
/// another, so the processor waits on memory for all of them at once, and
/// each datagram then finds its peer in cache. A server hears from hundreds
/// of peers a tick, and between ticks their state leaves the cache.
fn warm_peers(by_addr: &mut AddrTable, peers: &PeerTable, senders: &[Option<SocketAddr>]) {
    let mut read = 0u64;
    for id in by_addr.look_ahead(senders) {
        if let Some(p) = peers.get(&id) {
            read ^= p.conn.warm() ^ u64::from(p.slot.is_touched());
        }
    }
    std::hint::black_box(read);
}

struct Peer {
    addr: SocketAddr,
    nonce: u64,
    conn: Connection,
    meter: BandwidthMeter,
    slot: Slot,
    /// The sealed accept, repeated if the client repeats its response.
    accept: crate::wire::Accept,
}

/// A server accepting many clients.
///
/// Make it with [`new`](Self::new) (UDP) or [`sandbox`](Self::sandbox) (a
/// [`SimNetwork`]), register handlers, [`listen`](Self::listen), then call
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
    config: Config,
    backend: Backend,
    clock: Clock,
    /// How often the owner updates or flushes.
    cadence: UpdateCadence,
    socket: Option<Box<dyn Socket>>,
    cookies: ServerHandshake,
    reply_limiter: ReplyLimiter,
    schedule: Schedule,
    due: Vec<PeerId>,
    /// Boxed: a table of whole peers (2 KiB each) would hold that much per
    /// empty slot too, and tables grow in powers of two.
    peers: PeerTable,
    by_addr: AddrTable,
    next_peer: PeerId,
    accept_new: bool,
    events: Vec<ServerEvent>,
    handlers: ServerHandlers,
    registry: Registry,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
    /// Peers' data packets are copied here, so their messages can be shared
    /// without an allocation per datagram.
    recv_arena: Arena,
    stats: ServerStats,
    /// Messages queued by handles; empty until the first handle.
    inbox: Inbox<Recipient>,
    /// Copies of events for a consumer thread; off until asked for.
    forward: Forward<ServerEvent>,
    /// Context of everything this server logs, once it listens.
    span: tracing::Span,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr())
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server over real UDP; call [`listen`](Self::listen) to open it.
    pub fn new(config: Config) -> Self {
        Self::with_backend(config, Backend::Udp)
    }

    /// A server on a simulated network: same API, no sockets, virtual time.
    pub fn sandbox(config: Config, network: &SimNetwork) -> Self {
        Self::with_backend(config, Backend::Sim(network.clone()))
    }

    fn with_backend(config: Config, backend: Backend) -> Self {
        let mtu = config.mtu;
        let clock = backend.clock();
        Server {
            cookies: ServerHandshake::new(&config, clock.now()),
            schedule: Schedule::default(),
            due: Vec::new(),
            reply_limiter: ReplyLimiter::new(
                config.handshake_replies_per_source,
                config.handshake_replies_per_sec,
            ),
            clock,
            cadence: UpdateCadence::default(),
            backend,
            config,
            socket: None,
            peers: HashMap::default(),
            by_addr: AddrTable::default(),
            next_peer: 1,
            accept_new: true,
            events: Vec::new(),
            handlers: ServerHandlers::default(),
            registry: Registry::default(),
            // Outgoing datagrams never exceed the mtu.
            send_buf: Vec::with_capacity(mtu),
            recv_buf: vec![0; MAX_MTU],
            recv_arena: Arena::for_datagrams(),
            stats: ServerStats::default(),
            inbox: Inbox::default(),
            forward: Forward::default(),
            span: tracing::Span::none(),
        }
    }

    /// Binds the socket and starts accepting connections. Port 0 picks a free port
    /// (see [`local_addr`](Self::local_addr)).
    pub fn listen(&mut self, addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<(), Error> {
        if self.socket.is_some() {
            return Err(Error::AlreadyListening);
        }
        self.config.validate()?;
        let addr = resolve(addr)?;
        let socket = self.backend.bind(addr, &self.config)?;
        let local = socket.local_addr();
        self.socket = Some(socket);
        self.span = tracing::info_span!("lentil_server", addr = %local);
        self.span.in_scope(|| tracing::info!("listening"));
        Ok(())
    }

    /// The server's static public key: what a client pins with
    /// `Config::server_public_key` (set the server's own with `Config::static_key`).
    pub fn static_public_key(&self) -> [u8; 32] {
        self.cookies.static_public_key()
    }

    /// The bound address, while listening.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.as_ref().map(|s| s.local_addr())
    }

    /// Whether the server is listening.
    pub fn is_listening(&self) -> bool {
        self.socket.is_some()
    }

    /// Turns accepting newcomers on or off; when off, handshake packets from
    /// unknown addresses are ignored. Connected peers are unaffected.
    pub fn set_accept_new_connections(&mut self, accept: bool) {
        self.accept_new = accept;
    }

    /// Whether newcomers are accepted.
    pub fn accepts_new_connections(&self) -> bool {
        self.accept_new
    }

    /// Processes incoming datagrams and timers of every peer, sends what is
    /// due, and calls the registered handlers. Harmless while not listening.
    pub fn update(&mut self) {
        let span = self.span.clone();
        let _entered = span.enter();
        let now = self.clock.now();
        self.pump(now);
        self.dispatch();
    }

    /// Like [`update`](Self::update), but returns the events instead of
    /// calling handlers (connect requests are still decided by the
    /// `on_connect_request` handlers, and accepted when there are none).
    pub fn update_events(&mut self) -> std::vec::Drain<'_, ServerEvent> {
        let now = self.clock.now();
        self.span.clone().in_scope(|| self.pump(now));
        self.events.drain(..)
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
        if self.schedule.touched().is_empty() {
            return;
        }
        let now = self.clock.now();
        self.cadence.on_update(now);
        if let Some(socket) = self.socket.as_mut() {
            let touched = self.schedule.touched();
            let buf = &mut self.send_buf;
            transmit_to(&mut self.peers, socket.as_mut(), buf, touched, now, |_| {
                true
            });
        }
    }

    /// Sends `message` to `peer`.
    pub fn send(
        &mut self,
        peer: PeerId,
        message: impl AsRef<[u8]>,
        delivery: Delivery,
    ) -> Result<(), Error> {
        self.queue_for(peer, |conn| conn.send_slice(message.as_ref(), delivery))
    }

    /// Like [`send`](Self::send), taking ownership of the bytes without copying.
    pub fn send_bytes(
        &mut self,
        peer: PeerId,
        message: Bytes,
        delivery: Delivery,
    ) -> Result<(), Error> {
        self.send_routed(peer, message, Route::Delivery(delivery))
    }

    /// Sends `message` to `peer` on `channel`, an index into
    /// `Config::channels`, with that channel's delivery mode. A reliable
    /// message larger than one packet is split into fragments and joined on arrival.
    pub fn send_on(
        &mut self,
        peer: PeerId,
        channel: u8,
        message: impl AsRef<[u8]>,
    ) -> Result<(), Error> {
        self.queue_for(peer, |conn| conn.send_slice_on(channel, message.as_ref()))
    }

    /// Like [`send_on`](Self::send_on), taking ownership of the bytes without copying.
    pub fn send_bytes_on(
        &mut self,
        peer: PeerId,
        channel: u8,
        message: Bytes,
    ) -> Result<(), Error> {
        self.send_routed(peer, message, Route::Channel(channel))
    }

    /// Queues `message` for `peer` on the channel `route` names.
    pub(crate) fn send_routed(
        &mut self,
        peer: PeerId,
        message: Bytes,
        route: Route,
    ) -> Result<(), Error> {
        self.queue_for(peer, |conn| match route {
            Route::Delivery(delivery) => conn.send(message, delivery),
            Route::Channel(channel) => conn.send_on(channel, message),
        })
    }

    /// Queues a message on `peer`'s connection with `queue`, and marks the
    /// peer for the next update once it took it.
    fn queue_for(
        &mut self,
        peer: PeerId,
        queue: impl FnOnce(&mut Connection) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let p = self.peers.get_mut(&peer).ok_or(Error::UnknownPeer(peer))?;
        p.conn.set_update_interval(self.cadence.interval());
        queue(&mut p.conn)?;
        self.schedule.touch(&mut p.slot, peer);
        Ok(())
    }

    /// Queues `message` for every connected peer on the channel `route`
    /// names; returns how many took it. The bytes are shared, not copied.
    pub(crate) fn broadcast_routed(&mut self, message: Bytes, route: Route) -> usize {
        let mut reached = 0;
        let interval = self.cadence.interval();
        for (id, p) in self.peers.iter_mut().filter(|(_, p)| p.conn.is_open()) {
            p.conn.set_update_interval(interval);
            let sent = match route {
                Route::Delivery(delivery) => p.conn.send(message.clone(), delivery),
                Route::Channel(channel) => p.conn.send_on(channel, message.clone()),
            };
            if sent.is_ok() {
                self.schedule.touch(&mut p.slot, *id);
                reached += 1;
            }
        }
        reached
    }

    /// Sends `message` on `channel` to every connected peer; returns how many
    /// took it. The bytes are shared, not copied per peer.
    pub fn broadcast_on(&mut self, channel: u8, message: impl AsRef<[u8]>) -> usize {
        let bytes = Bytes::copy_from_slice(message.as_ref());
        self.broadcast_routed(bytes, Route::Channel(channel))
    }

    /// Encodes `value` with bincode and sends it to `peer`; decode with
    /// [`Message::decode`], or receive it in a [`TypedServer`](crate::TypedServer)
    /// or [`TypedClient`](crate::TypedClient).
    pub fn send_typed<T: Serialize>(
        &mut self,
        peer: PeerId,
        value: &T,
        delivery: Delivery,
    ) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.send_bytes(peer, bytes, delivery)
    }

    /// Like [`send_typed`](Self::send_typed), on `channel`.
    pub fn send_typed_on<T: Serialize>(
        &mut self,
        peer: PeerId,
        channel: u8,
        value: &T,
    ) -> Result<(), Error> {
        let bytes = crate::typed::encode(value)?;
        self.send_bytes_on(peer, channel, bytes)
    }

    /// legume's `send_message` to one peer: unreliable.
    pub fn send_message(&mut self, peer: PeerId, message: impl AsRef<[u8]>) -> Result<(), Error> {
        self.send(peer, message, Delivery::Unreliable)
    }

    /// legume's `send_reliable_message` to one peer.
    pub fn send_reliable_message(
        &mut self,
        peer: PeerId,
        message: impl AsRef<[u8]>,
    ) -> Result<(), Error> {
        self.send(peer, message, Delivery::Reliable)
    }

    /// Reliable, ordered message to one peer.
    pub fn send_ordered_message(
        &mut self,
        peer: PeerId,
        message: impl AsRef<[u8]>,
    ) -> Result<(), Error> {
        self.send(peer, message, Delivery::ReliableOrdered)
    }

    /// Sends `message` to every connected peer; returns how many took it
    /// (a peer whose queue is full is skipped). The bytes are shared, not copied per peer.
    pub fn broadcast(&mut self, message: impl AsRef<[u8]>, delivery: Delivery) -> usize {
        let bytes = Bytes::copy_from_slice(message.as_ref());
        self.broadcast_routed(bytes, Route::Delivery(delivery))
    }

    /// Gracefully disconnects `peer`: queued reliable data is flushed (up to
    /// `Config::linger`), then it is told it was kicked. Unknown peers and a
    /// second call are ignored.
    pub fn disconnect(&mut self, peer: PeerId) {
        self.disconnect_with(peer, DisconnectReason::Kicked);
    }

    /// Like [`disconnect`](Self::disconnect) with a reason the client sees.
    pub fn disconnect_with(&mut self, peer: PeerId, reason: DisconnectReason) {
        let now = self.clock.now();
        if let Some(p) = self.peers.get_mut(&peer) {
            p.conn.close(reason, now);
            self.schedule.touch(&mut p.slot, peer);
        }
    }

    /// Gracefully disconnects every peer (reason: server shut down).
    pub fn disconnect_all(&mut self) {
        let now = self.clock.now();
        for (id, p) in self.peers.iter_mut() {
            p.conn.close(DisconnectReason::ServerShutdown, now);
            self.schedule.touch(&mut p.slot, *id);
        }
    }

    /// Connected peers (not counting those being disconnected).
    pub fn peers(&self) -> Vec<PeerId> {
        let mut ids: Vec<PeerId> = self
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
        self.peers.values().filter(|p| p.conn.is_open()).count()
    }

    /// The address of `peer`.
    pub fn peer_addr(&self, peer: PeerId) -> Option<SocketAddr> {
        self.peers.get(&peer).map(|p| p.addr)
    }

    /// Metrics of `peer`'s connection.
    pub fn metrics(&self, peer: PeerId) -> Option<Metrics> {
        self.peers
            .get(&peer)
            .map(|p| Metrics::of(&p.conn, &p.meter))
    }

    /// Counters of the listening socket outside any connection.
    pub fn stats(&self) -> ServerStats {
        self.stats
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
            .peers
            .iter()
            .map(|(id, p)| crate::PeerMetrics {
                peer: *id,
                addr: p.addr,
                connected: p.conn.is_open(),
                metrics: Metrics::of(&p.conn, &p.meter),
            })
            .collect();
        handle.publish(self.clock.now(), self.stats, peers)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// When the server next has timer work to do (possibly early: a peer
    /// whose deadline moved later is woken at the earlier one; never late).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.schedule.next_deadline(self.clock.now())
    }

    /// Blocks until a datagram may have arrived, the next deadline, or `max`.
    pub fn wait(&mut self, max: Duration) {
        let deadline = self.next_deadline();
        crate::backend::wait(self.socket.as_deref_mut(), self.clock.now(), deadline, max);
    }

    /// Registers the handler that decides connect requests: `Ok(())` accepts,
    /// `Err(reason)` rejects and the client sees `reason`. With several
    /// handlers, the first rejection wins; with none, every request is accepted.
    pub fn on_connect_request(
        &mut self,
        f: impl FnMut(&mut Server, &ConnectRequestInfo) -> Result<(), String> + Send + 'static,
    ) -> HandlerId {
        let id = self.registry.register();
        self.handlers.connect_request.push(id, Box::new(f));
        id
    }

    /// Registers a handler for "a peer was accepted".
    pub fn on_connect(&mut self, f: impl FnMut(&mut Server, PeerId) + Send + 'static) -> HandlerId {
        let id = self.registry.register();
        self.handlers.connected.push(id, Box::new(f));
        id
    }

    /// Registers a handler for messages from peers.
    pub fn on_message(
        &mut self,
        f: impl FnMut(&mut Server, PeerId, &Message) + Send + 'static,
    ) -> HandlerId {
        let id = self.registry.register();
        self.handlers.message.push(id, Box::new(f));
        id
    }

    /// Registers a handler for a peer lost without a graceful close.
    pub fn on_error(
        &mut self,
        f: impl FnMut(&mut Server, PeerId, &Error) + Send + 'static,
    ) -> HandlerId {
        let id = self.registry.register();
        self.handlers.error.push(id, Box::new(f));
        id
    }

    /// Registers a handler for a peer's graceful close.
    pub fn on_disconnect(
        &mut self,
        f: impl FnMut(&mut Server, PeerId, &DisconnectReason) + Send + 'static,
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
            .merge(ServerHandlers::default(), &self.registry);
        was_registered
    }

    fn pump(&mut self, now: Instant) {
        self.cadence.on_update(now);
        // Before the listening check, so messages queued for a server that
        // is not listening fail and are counted instead of filling the queue.
        self.apply_queued();
        if self.socket.is_none() {
            return;
        }
        let first_new = self.events.len();
        let mut due = std::mem::take(&mut self.due);
        // Peers touched since the last update (a message queued, a close
        // asked for); they stay marked as taken, so the receive below does
        // not list them twice.
        self.schedule.take_touched(&mut due);
        // Replies queued since the last update leave before the socket is
        // read, for connections updated often enough (`sends_early`).
        if let Some(socket) = self.socket.as_mut() {
            let buf = &mut self.send_buf;
            transmit_to(
                &mut self.peers,
                socket.as_mut(),
                buf,
                &due,
                now,
                Connection::sends_early,
            );
        }
        self.receive(now);
        self.schedule.take_touched(&mut due);
        // Touched peers stay marked as taken while the due timers are popped,
        // so a peer both touched and due, and a stale entry, are skipped.
        // An entry that fired early (its peer heard from since) only sets
        // the timer again: the peer has nothing due, and a service would
        // find that out at the cost of its timers and a transmit.
        while let Some((at, id)) = self.schedule.pop_due(now) {
            if let Some(p) = self.peers.get_mut(&id) {
                let conn = &p.conn;
                if self
                    .schedule
                    .rearm_early(&mut p.slot, id, at, || conn.idle_until(now))
                {
                    continue;
                }
                if Schedule::take_due(&mut p.slot, at) {
                    due.push(id);
                }
            }
        }
        // Servicing touches nothing but the peer serviced, so each peer's
        // mark is cleared as it is serviced: one visit to its state, not two.
        for id in due.drain(..) {
            self.service_peer(id, now);
        }
        self.due = due;
        if self.schedule.needs_compaction(self.peers.len()) {
            let peers = &self.peers;
            self.schedule
                .compact(|id, at| peers.get(&id).is_some_and(|p| p.slot.is_live_timer(at)));
        }
        let new = self.events.get(first_new..).unwrap_or_default();
        new.iter().for_each(log::event);
        self.forward.forward(new);
    }

    fn receive(&mut self, now: Instant) {
        for _ in 0..crate::MAX_DATAGRAMS_PER_UPDATE {
            let Some(socket) = self.socket.as_mut() else {
                return;
            };
            let (len, from) = match socket.recv_from(&mut self.recv_buf) {
                Ok(Some(got)) => got,
                Ok(None) | Err(_) => return,
            };
            let ahead = socket.batch_senders();
            if !ahead.is_empty() {
                warm_peers(&mut self.by_addr, &self.peers, ahead);
            }
            self.stats.datagrams_in += 1;
            // Cheapest checks first: only a known peer's data packet is copied.
            let known = self.by_addr.get_next(&from);
            match Packet::parse(&self.recv_buf[..len]) {
                Ok(Packet::Data { header, .. }) => {
                    let Some(peer) = known.and_then(|id| self.peers.get_mut(&id)) else {
                        self.stats.invalid_datagrams += 1;
                        log::dropped(from, "data from no peer");
                        continue;
                    };
                    if header.token != peer.conn.token() {
                        self.stats.invalid_datagrams += 1;
                        peer.conn.note_invalid_packet();
                        log::dropped(from, "wrong connection token");
                        continue;
                    }
                    // Opened in place before anything reads it; a packet
                    // that fails changes nothing.
                    let Some(plain) = peer.conn.unprotect(&mut self.recv_buf[..len]) else {
                        self.stats.invalid_datagrams += 1;
                        log::dropped(from, "failed authentication or replayed");
                        continue;
                    };
                    let datagram = self.recv_arena.copy(&self.recv_buf[..plain]);
                    let frames = &datagram[wire::DATA_HEADER_LEN..];
                    peer.conn.handle_data(now, &header, frames, &datagram);
                    if let Some(id) = known {
                        self.schedule.touch(&mut peer.slot, id);
                    }
                    if peer.conn.ack_due() {
                        if let Some(socket) = self.socket.as_mut() {
                            transmit(
                                &mut peer.conn,
                                socket.as_mut(),
                                &mut self.send_buf,
                                from,
                                now,
                            );
                        }
                    }
                }
                Ok(Packet::ConnectRequest(req)) => {
                    // Nothing of the payload is used before the cookie returns;
                    // dropping it ends the borrow of the receive buffer.
                    let before = log::Handshake::counters(&self.stats);
                    self.on_connect_request_packet(from, req, known.is_some(), now);
                    before.log_outcome(from, &self.stats, &self.send_buf, false);
                }
                Ok(Packet::ChallengeResponse(resp)) => {
                    // Check the cookie before anything is copied or allocated.
                    if !self.cookies.cookie_valid(from, &resp, now) {
                        self.stats.bad_cookies += 1;
                        log::bad_cookie(from);
                        continue;
                    }
                    // The response borrows the receive buffer, which is
                    // lent out (not copied) while it is handled.
                    let buf = std::mem::take(&mut self.recv_buf);
                    if let Ok(Packet::ChallengeResponse(resp)) = Packet::parse(&buf[..len]) {
                        let before = log::Handshake::counters(&self.stats);
                        self.on_challenge_response(from, &resp, known, now);
                        before.log_outcome(from, &self.stats, &self.send_buf, true);
                    }
                    self.recv_buf = buf;
                }
                Ok(_) => {
                    self.stats.invalid_datagrams += 1;
                    log::dropped(from, "packet kind a server does not take");
                }
                Err(_) => {
                    self.stats.invalid_datagrams += 1;
                    log::dropped(from, "unparsable");
                }
            }
        }
    }

    fn remove_peer(&mut self, id: PeerId) {
        if let Some(p) = self.peers.remove(&id) {
            self.by_addr.remove_if(&p.addr, id);
        }
    }

    fn service_peer(&mut self, id: PeerId, now: Instant) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        Schedule::serviced(&mut peer.slot);
        let Some(socket) = self.socket.as_mut() else {
            return;
        };
        // A peer touched by a datagram or a queued message, with no timer
        // due, has nothing for its timers to do; a receive, a queued message
        // or an early send only ever moves deadlines into the future. A
        // closing peer is judged every time: an ack may have drained it.
        if Schedule::timer_may_be_due(&peer.slot, now) || !peer.conn.is_open() {
            peer.conn.handle_timeout(now);
        }
        transmit(
            &mut peer.conn,
            socket.as_mut(),
            &mut self.send_buf,
            peer.addr,
            now,
        );
        let s = peer.conn.stats();
        peer.meter.observe(now, s.in_bytes, s.out_bytes);
        while let Some(event) = peer.conn.poll_event() {
            let event = match event {
                ConnEvent::Message {
                    delivery,
                    channel,
                    payload,
                } => ServerEvent::Message {
                    peer: id,
                    message: Message {
                        payload,
                        delivery,
                        channel,
                    },
                },
                ConnEvent::Closed(CloseCause::PeerClosed(reason)) => {
                    ServerEvent::Disconnected { peer: id, reason }
                }
                ConnEvent::Closed(CloseCause::LocalClosed) => ServerEvent::Disconnected {
                    peer: id,
                    reason: local_close_reason(&peer.conn),
                },
                ConnEvent::Closed(CloseCause::TimedOut(after)) => ServerEvent::Error {
                    peer: id,
                    error: Error::TimedOut(after),
                },
                ConnEvent::Closed(CloseCause::Violation(why)) => ServerEvent::Error {
                    peer: id,
                    error: Error::ProtocolViolation(why),
                },
            };
            self.events.push(event);
        }
        if peer.conn.is_finished() {
            self.remove_peer(id);
        } else {
            let deadline = peer.conn.next_deadline();
            self.schedule.set_timer(&mut peer.slot, id, deadline);
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
        if self.events.is_empty() {
            self.events = events;
        }
    }

    /// Calls the handlers in `handlers` (taken out of `self`) for `event`.
    fn run_handlers(&mut self, handlers: &mut ServerHandlers, event: &ServerEvent) {
        match event {
            ServerEvent::Connected { peer, .. } => {
                run_handlers!(self, handlers.connected, |h| h(self, *peer))
            }
            ServerEvent::Message { peer, message } => {
                run_handlers!(self, handlers.message, |h| h(self, *peer, message))
            }
            ServerEvent::Error { peer, error } => {
                run_handlers!(self, handlers.error, |h| h(self, *peer, error))
            }
            ServerEvent::Disconnected { peer, reason } => {
                run_handlers!(self, handlers.disconnect, |h| h(self, *peer, reason))
            }
        }
    }
}

fn local_close_reason(conn: &Connection) -> DisconnectReason {
    conn.close_reason()
        .cloned()
        .unwrap_or(DisconnectReason::Kicked)
}
