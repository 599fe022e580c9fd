//! A `Pair` of endpoints for protocol tests: one server and one client on
//! in-memory queues, in virtual time, with no socket.
//!
//! The pair is its own [`Transport`]: every datagram either side sends is
//! queued in flight with the time it is due, and a test may drop, delay,
//! duplicate or reorder what is in flight before [`Pair::step`] delivers
//! it. `step` updates both sides once and delivers what is due;
//! [`Pair::drive`] steps, jumping the clock to the next deadline or
//! arrival, until both sides are idle.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lentil::{Client, Config, Server, Socket, Transport};

/// Where the server listens on the pair's network.
pub const SERVER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(10, 0, 0, 1),
    4433,
));
/// Where the client's socket is.
pub const CLIENT: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(10, 0, 0, 2),
    5000,
));

/// One datagram on its way.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub data: Vec<u8>,
    /// When it arrives.
    pub due: Instant,
}

#[derive(Debug)]
struct Shared {
    now: Instant,
    /// How long a datagram takes one way unless a test moves it.
    latency: Duration,
    in_flight: VecDeque<InFlight>,
    /// Datagrams sent, by direction: (to the server, to the client).
    sent: (u64, u64),
}

/// The pair's network and clock, shared by both endpoints' sockets.
#[derive(Debug, Clone)]
pub struct PairNet {
    shared: Arc<Mutex<Shared>>,
}

impl PairNet {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The datagrams in flight, for a test to drop, delay or reorder.
    pub fn in_flight(&self) -> Vec<InFlight> {
        self.lock().in_flight.iter().cloned().collect()
    }

    /// Lets `edit` change the datagrams in flight.
    pub fn edit(&self, edit: impl FnOnce(&mut VecDeque<InFlight>)) {
        edit(&mut self.lock().in_flight);
    }

    /// Drops every datagram in flight to `to`; returns how many.
    pub fn drop_to(&self, to: SocketAddr) -> usize {
        let mut s = self.lock();
        let before = s.in_flight.len();
        s.in_flight.retain(|d| d.to != to);
        before - s.in_flight.len()
    }

    /// Datagrams sent so far: (to the server, to the client).
    pub fn sent(&self) -> (u64, u64) {
        self.lock().sent
    }

    pub fn now(&self) -> Instant {
        self.lock().now
    }

    fn advance_to(&self, t: Instant) {
        let mut s = self.lock();
        s.now = s.now.max(t);
    }

    /// When the next datagram in flight arrives.
    fn next_arrival(&self) -> Option<Instant> {
        self.lock().in_flight.iter().map(|d| d.due).min()
    }
}

struct PairSocket {
    addr: SocketAddr,
    net: PairNet,
}

impl Transport for PairNet {
    fn bind(&self, addr: SocketAddr, _config: &Config) -> io::Result<Box<dyn Socket>> {
        let addr = if addr.port() == 0 { CLIENT } else { addr };
        Ok(Box::new(PairSocket {
            addr,
            net: self.clone(),
        }))
    }

    fn now(&self) -> Instant {
        self.lock().now
    }

    fn client_bind_addr(&self, _server: SocketAddr) -> SocketAddr {
        CLIENT
    }
}

impl Socket for PairSocket {
    fn send_to(&mut self, data: &[u8], to: SocketAddr) -> io::Result<()> {
        let mut s = self.net.lock();
        let due = s.now + s.latency;
        if to == SERVER {
            s.sent.0 += 1;
        } else {
            s.sent.1 += 1;
        }
        s.in_flight.push_back(InFlight {
            from: self.addr,
            to,
            data: data.to_vec(),
            due,
        });
        Ok(())
    }

    fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        let mut s = self.net.lock();
        let now = s.now;
        let Some(i) = s
            .in_flight
            .iter()
            .position(|d| d.to == self.addr && d.due <= now)
        else {
            return Ok(None);
        };
        let d = s.in_flight.remove(i).expect("the index was just found");
        let len = d.data.len().min(buf.len());
        buf[..len].copy_from_slice(&d.data[..len]);
        Ok(Some((len, d.from)))
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn wait(&mut self, _timeout: Duration) -> io::Result<()> {
        Ok(())
    }
}

/// A server and a client on one [`PairNet`].
pub struct Pair {
    pub server: Server,
    pub client: Client,
    pub net: PairNet,
}

impl Pair {
    /// A listening server and a client that has started connecting, with
    /// `latency` each way.
    pub fn new(config: Config, latency: Duration) -> Pair {
        let net = PairNet {
            shared: Arc::new(Mutex::new(Shared {
                now: Instant::now(),
                latency,
                in_flight: VecDeque::new(),
                sent: (0, 0),
            })),
        };
        let mut server = Server::with_transport(config.clone(), net.clone());
        server.listen(SERVER).expect("the pair's server binds");
        let mut client = Client::with_transport(config, net.clone());
        client.connect(SERVER).expect("the pair's client connects");
        Pair {
            server,
            client,
            net,
        }
    }

    /// A pair that has completed its handshake.
    pub fn connected(config: Config, latency: Duration) -> Pair {
        let mut pair = Pair::new(config, latency);
        pair.drive_until(Duration::from_secs(5), |p| {
            p.client.is_connected() && p.server.peer_count() == 1
        });
        assert!(pair.client.is_connected(), "the pair connects");
        pair
    }

    /// Updates both sides once at the current time.
    pub fn step(&mut self) {
        self.server.update();
        self.client.update();
    }

    /// Moves the clock to the earliest of both sides' deadlines and the
    /// next arrival (at least 100 µs on), then steps.
    pub fn step_to_next(&mut self) {
        let now = self.net.now();
        let next = [
            self.server.next_deadline(),
            self.client.next_deadline(),
            self.net.next_arrival(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + Duration::from_millis(10));
        self.net
            .advance_to(next.max(now + Duration::from_micros(100)));
        self.step();
    }

    /// Steps until `done` holds or `limit` of virtual time passes; returns
    /// whether it held.
    pub fn drive_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut Pair) -> bool,
    ) -> bool {
        let end = self.net.now() + limit;
        while self.net.now() < end {
            self.step_to_next();
            if done(self) {
                return true;
            }
        }
        false
    }

    /// Steps for `span` of virtual time.
    pub fn drive_for(&mut self, span: Duration) {
        self.drive_until(span, |_| false);
    }

    /// Moves the clock on by `by` without stepping.
    pub fn advance(&mut self, by: Duration) {
        let t = self.net.now() + by;
        self.net.advance_to(t);
    }
}
