//! The client's sans-IO core: the handshake, then one connection, the state
//! the game sees, and the queue of datagrams ready to leave.
//!
//! It is handed the time and datagrams and hands out datagrams, events and
//! its next deadline; it never reads a clock or touches a socket (the
//! [`Client`](super::Client) around it does, through its driver).

use std::net::SocketAddr;
use std::time::Instant;

use super::{log, ClientEvent, ClientState};
use crate::clock::UpdateCadence;
use crate::endpoint::{take_data, PeerEvent, Refused, Transmits};
use crate::metrics::{BandwidthMeter, Metrics};
use crate::proto::arena::Arena;
use crate::proto::handshake::{ClientHandshake, HandshakeOutcome};
use crate::proto::{Connection, Payload, Route};
use crate::wire::Packet;
use crate::{Config, DisconnectReason, Error};

/// The sans-IO client.
pub(super) struct ClientCore {
    pub(super) config: Config,
    /// How often the owner updates or flushes.
    pub(super) cadence: UpdateCadence,
    /// When the connection's timers next have work, as of their last run;
    /// `None` after anything that may move it. See `run_timers`.
    timers_due: Option<Instant>,
    /// The connection's packet counts (in, out) when its timers last ran.
    timers_seen: (u64, u64),
    pub(super) server: Option<SocketAddr>,
    pub(super) state: ClientState,
    pub(super) handshake: Option<ClientHandshake>,
    pub(super) conn: Option<Connection>,
    /// A spread of keepalive phases among clients, from the local port.
    keepalive_phase: f64,
    /// Events raised, waiting for the game.
    pub(super) events: Vec<ClientEvent>,
    /// Datagrams ready to leave, for the driver.
    pub(super) transmits: Transmits,
    /// Received datagrams are copied here, so their messages can be shared
    /// without an allocation per datagram.
    recv_arena: Arena,
    /// Datagrams dropped before reaching a connection (wrong sender, garbage).
    stray_datagrams: u64,
    pub(super) meter: BandwidthMeter,
    pub(super) last_metrics: Metrics,
}

impl ClientCore {
    pub(super) fn new(config: Config) -> Self {
        let mtu = config.mtu;
        ClientCore {
            config,
            cadence: UpdateCadence::default(),
            timers_due: None,
            timers_seen: (0, 0),
            server: None,
            state: ClientState::Disconnected,
            handshake: None,
            conn: None,
            keepalive_phase: 0.0,
            events: Vec::new(),
            transmits: Transmits::new(mtu),
            recv_arena: Arena::for_datagrams(),
            stray_datagrams: 0,
            meter: BandwidthMeter::default(),
            last_metrics: Metrics::default(),
        }
    }

    /// Starts a handshake with `server` at `now`, from a socket on `local_port`.
    pub(super) fn connect(&mut self, server: SocketAddr, local_port: u16, now: Instant) {
        self.server = Some(server);
        self.conn = None;
        self.keepalive_phase = crate::proto::spread(u64::from(local_port));
        self.handshake = Some(ClientHandshake::new(&self.config, rand::random(), now));
        self.state = ClientState::Connecting;
        self.transmit_all(now);
    }

    /// A graceful close still delivering queued data is cut short so the old
    /// server hears the disconnect before this client moves on.
    pub(super) fn end_lingering_close(&mut self, now: Instant) {
        let (Some(mut conn), Some(server)) = (self.conn.take(), self.server) else {
            return;
        };
        conn.close_now(DisconnectReason::ClientDisconnected);
        self.transmits.push_conn(&mut conn, now, server, None);
    }

    /// Starts a graceful close: the state is `Disconnected` at once.
    /// Returns whether a connection or handshake was in progress.
    pub(super) fn disconnect(&mut self, now: Instant) -> bool {
        match self.state {
            ClientState::Connected => {
                if let Some(conn) = self.conn.as_mut() {
                    conn.close(DisconnectReason::ClientDisconnected, now);
                }
                self.timers_due = None;
                self.state = ClientState::Disconnected;
                self.transmit_all(now);
                true
            }
            ClientState::Connecting => {
                self.handshake = None;
                self.state = ClientState::Disconnected;
                true
            }
            ClientState::Disconnected | ClientState::Errored => false,
        }
    }

    /// Whether a graceful close is still delivering queued messages or its
    /// disconnect notice.
    pub(super) fn is_disconnecting(&self) -> bool {
        self.handshake.is_none()
            && self.conn.as_ref().is_some_and(|c| !c.is_finished())
            && self.state != ClientState::Connected
    }

    /// Queues `payload` on the channel `route` names.
    pub(super) fn send(&mut self, route: Route, payload: Payload<'_>) -> Result<(), Error> {
        if self.state != ClientState::Connected {
            return Err(Error::NotConnected);
        }
        let conn = self.conn.as_mut().ok_or(Error::NotConnected)?;
        conn.set_update_interval(self.cadence.interval());
        // A message queued may need a timer (a ping held back, say).
        self.timers_due = None;
        conn.send_routed(route, payload)
    }

    /// Takes in `datagram` from `from` at `now`.
    pub(super) fn handle(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        if Some(from) != self.server {
            self.stray_datagrams += 1;
            log::dropped(from, "not from the server");
            return;
        }
        let Ok(packet) = Packet::parse(datagram) else {
            self.stray_datagrams += 1;
            log::dropped(from, "unparsable");
            return;
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
                    conn.set_keepalive_phase(self.keepalive_phase);
                    self.conn = Some(conn);
                    self.timers_due = None;
                    self.state = ClientState::Connected;
                    self.events.push(ClientEvent::ConnectAccepted);
                }
                Some(HandshakeOutcome::Rejected(reason)) => {
                    self.handshake = None;
                    self.state = ClientState::Disconnected;
                    self.events.push(ClientEvent::ConnectRejected(reason));
                }
                None => {}
            }
            return;
        }
        let data = match packet {
            Packet::Data { header, .. } => Some(header),
            _ => None,
        };
        match (data, &packet, self.conn.as_mut()) {
            (Some(header), _, Some(conn)) => {
                if let Err(refused) = take_data(conn, &mut self.recv_arena, now, &header, datagram)
                {
                    // One that fails to open is counted by its connection.
                    if refused != Refused::Unauthentic {
                        self.stray_datagrams += 1;
                    }
                    log::dropped(from, refused.reason());
                } else if conn.ack_due() {
                    self.transmits.push_conn(conn, now, from, None);
                }
            }
            // A repeated Accept after the handshake is expected, not hostile.
            (_, Packet::Accept(_), _) => {}
            _ => {
                self.stray_datagrams += 1;
                log::dropped(from, "not for this connection");
            }
        }
    }

    /// Runs the handshake's and the connection's timers at `now`.
    pub(super) fn run_timers(&mut self, now: Instant) {
        if let Some(hs) = self.handshake.as_ref() {
            if hs.timed_out(now) {
                let after = hs.timeout();
                self.handshake = None;
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

    /// Queues the handshake's packet, if one is due, and what the
    /// connection has to send.
    pub(super) fn transmit_all(&mut self, now: Instant) {
        let Some(server) = self.server else {
            return;
        };
        if let Some(hs) = self.handshake.as_mut() {
            // A lost handshake packet is repeated on the next interval.
            self.transmits.push_with(server, None, |buf| {
                hs.poll_transmit(now, buf);
            });
        }
        self.transmit_conn(now, |_| true);
    }

    /// Queues what the connection has to send, if it `wants` to now.
    pub(super) fn transmit_conn(&mut self, now: Instant, wants: fn(&Connection) -> bool) {
        if let (Some(conn), Some(server)) = (self.conn.as_mut(), self.server) {
            if wants(conn) {
                self.transmits.push_conn(conn, now, server, None);
            }
        }
    }

    /// Counts datagrams the driver could not send.
    pub(super) fn note_refused(&mut self, count: usize) {
        if let Some(conn) = self.conn.as_mut() {
            (0..count).for_each(|_| conn.note_send_failure());
        }
    }

    /// Turns the connection's events into the client's.
    pub(super) fn collect_events(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        while let Some(event) = PeerEvent::poll(conn) {
            match event {
                PeerEvent::Message(message) => self.events.push(ClientEvent::Message(message)),
                PeerEvent::ClosedByPeer(reason) => {
                    self.state = ClientState::Disconnected;
                    self.events.push(ClientEvent::Disconnected(reason));
                }
                PeerEvent::Lost(error) => {
                    self.state = ClientState::Errored;
                    self.events.push(ClientEvent::Error(error));
                }
                // This side asked for the close; legume raises no event for it.
                PeerEvent::ClosedHere(_) => {}
            }
        }
    }

    /// Metrics of the current (or last) connection.
    pub(super) fn metrics(&self) -> Metrics {
        match &self.conn {
            Some(conn) => self.snapshot(conn),
            None => self.last_metrics.clone(),
        }
    }

    fn snapshot(&self, conn: &Connection) -> Metrics {
        let mut m = Metrics::from_snapshot(&conn.snapshot(), &self.meter);
        m.invalid_packets += self.stray_datagrams;
        m
    }

    /// Measures bandwidth at `now` and lets go of a finished connection,
    /// keeping its final figures. Returns whether the socket is no longer needed.
    pub(super) fn settle(&mut self, now: Instant) -> bool {
        let Some(conn) = self.conn.as_ref() else {
            return self.handshake.is_none();
        };
        let s = conn.stats();
        self.meter.observe(now, s.in_bytes, s.out_bytes);
        if conn.is_finished() {
            // Keep the final figures readable after the connection is gone.
            self.last_metrics = self.snapshot(conn);
            self.conn = None;
            return self.handshake.is_none();
        }
        false
    }

    /// When the client next has timer work to do.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        match (&self.handshake, &self.conn) {
            (Some(hs), _) => Some(hs.next_deadline()),
            (None, Some(conn)) => conn.next_deadline(),
            (None, None) => None,
        }
    }
}
