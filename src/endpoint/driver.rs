//! The edge of an endpoint: the socket, the clock, and the loop that moves
//! datagrams between them and the sans-IO core.
//!
//! A [`Transport`] opens sockets and tells the time: real UDP with the
//! system clock ([`UdpTransport`]), a [`SimNetwork`](crate::SimNetwork) with
//! its virtual clock, or one the game brings (a relay, a platform socket, a
//! channel between threads). The driver owns the socket one endpoint binds
//! on it; nothing in the protocol reads a clock or touches a socket.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::transmits::{Owner, Transmits};
use crate::transport::udp::UdpSocket;
use crate::transport::Socket;
use crate::wire::MAX_MTU;
use crate::{Config, Error};

/// Opens the sockets of clients and servers and tells them the time.
///
/// Implement it to move lentil's datagrams over something other than UDP:
/// `bind` hands out a [`Socket`] for an address of the transport's own
/// addressing (any `SocketAddr` the game chooses to mean its peers), and
/// `now` is the clock every endpoint on the transport reads. The example
/// `channel_transport` runs the demo traffic between two threads over a
/// pair of crossbeam channels.
///
/// ```
/// use std::time::Duration;
/// use lentil::{Client, Config, Server, SimNetwork};
/// // A simulated network is a transport too: it binds in-memory sockets
/// // and tells virtual time.
/// let net = SimNetwork::new(4);
/// let mut server = Server::with_transport(Config::default(), net.clone());
/// server.listen("127.0.0.1:9000")?;
/// let mut client = Client::with_transport(Config::default(), net.clone());
/// client.connect("127.0.0.1:9000")?;
/// for _ in 0..100 {
///     server.update();
///     client.update();
///     net.clock().advance(Duration::from_millis(1));
/// }
/// assert!(client.is_connected());
/// # Ok::<(), lentil::Error>(())
/// ```
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// Opens a socket bound to `addr`; port 0 asks for any free port.
    /// `config` carries the socket buffer sizes and the MTU a transport may use.
    fn bind(&self, addr: SocketAddr, config: &Config) -> io::Result<Box<dyn Socket>>;

    /// The current time of every endpoint on this transport.
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// The address a client binds to reach `server`: by default any port
    /// on the unspecified address of the server's family.
    fn client_bind_addr(&self, server: SocketAddr) -> SocketAddr {
        match server {
            SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
            SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
        }
    }
}

/// Real UDP through `mio`, with the system clock: what [`Client::new`](crate::Client::new)
/// and [`Server::new`](crate::Server::new) use.
#[derive(Debug, Clone, Copy, Default)]
pub struct UdpTransport;

impl Transport for UdpTransport {
    fn bind(&self, addr: SocketAddr, config: &Config) -> io::Result<Box<dyn Socket>> {
        Ok(Box::new(UdpSocket::bind_with_buffers(
            addr,
            config.socket_recv_buffer,
            config.socket_send_buffer,
            Some(config.mtu),
        )?))
    }
}

/// One endpoint's socket on its transport, and the buffer datagrams are read into.
pub(crate) struct Driver {
    transport: Arc<dyn Transport>,
    socket: Option<Box<dyn Socket>>,
    recv_buf: Vec<u8>,
    /// Owners of datagrams the socket refused in the last `send_all`.
    refused: Vec<Owner>,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("transport", &self.transport)
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl Driver {
    pub(crate) fn new(transport: Arc<dyn Transport>) -> Self {
        Driver {
            transport,
            socket: None,
            recv_buf: vec![0; MAX_MTU],
            refused: Vec::new(),
        }
    }

    /// The transport's time.
    pub(crate) fn now(&self) -> Instant {
        self.transport.now()
    }

    /// Opens the endpoint's socket at `addr`, replacing any open one.
    pub(crate) fn bind(&mut self, addr: SocketAddr, config: &Config) -> Result<SocketAddr, Error> {
        let socket = self.transport.bind(addr, config)?;
        let local = socket.local_addr();
        self.socket = Some(socket);
        Ok(local)
    }

    /// Opens a client's socket for talking to `server`.
    pub(crate) fn bind_client(
        &mut self,
        server: SocketAddr,
        config: &Config,
    ) -> Result<SocketAddr, Error> {
        self.bind(self.transport.client_bind_addr(server), config)
    }

    /// Closes the socket.
    pub(crate) fn close(&mut self) {
        self.socket = None;
    }

    pub(crate) fn is_open(&self) -> bool {
        self.socket.is_some()
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.as_ref().map(|s| s.local_addr())
    }

    /// Reads one datagram, if one is ready: its length and sender; its
    /// bytes are then [`received`](Self::received).
    pub(crate) fn recv(&mut self) -> Option<(usize, SocketAddr)> {
        let socket = self.socket.as_mut()?;
        socket.recv_from(&mut self.recv_buf).ok().flatten()
    }

    /// The first `len` bytes of the last datagram read, writable: a data
    /// packet is opened in place.
    pub(crate) fn received(&mut self, len: usize) -> &mut [u8] {
        let len = len.min(self.recv_buf.len());
        &mut self.recv_buf[..len]
    }

    /// The senders of the rest of the batch the last `recv` began (see
    /// [`Socket::batch_senders`]).
    pub(crate) fn batch_senders(&self) -> &[Option<SocketAddr>] {
        self.socket.as_ref().map_or(&[], |s| s.batch_senders())
    }

    /// Puts every queued datagram on the socket, flushing the socket's
    /// batch whenever the owner changes, so each refusal it reports belongs
    /// to one owner; returns the owner of each refused datagram. Without a
    /// socket the datagrams are dropped (nothing could carry them).
    pub(crate) fn send_all(&mut self, transmits: &mut Transmits) -> &[Owner] {
        self.refused.clear();
        let Some(socket) = self.socket.as_mut() else {
            transmits.drain(|_| {});
            return &self.refused;
        };
        let refused = &mut self.refused;
        let mut batch_owner: Option<Owner> = None;
        transmits.drain(|t| {
            if batch_owner.is_some_and(|o| o != t.owner) {
                let n = socket.flush_sends();
                refused.extend(std::iter::repeat_n(batch_owner.flatten(), n));
            }
            batch_owner = Some(t.owner);
            if socket.queue_send(&t.data, t.to).is_err() {
                refused.push(t.owner);
            }
        });
        let n = socket.flush_sends();
        refused.extend(std::iter::repeat_n(batch_owner.flatten(), n));
        &self.refused
    }

    /// Blocks until a datagram may have arrived, `deadline`, or `max` from
    /// now, whichever is first. A failed wait only means the next update
    /// comes sooner, so its error is dropped.
    pub(crate) fn wait(&mut self, deadline: Option<Instant>, max: Duration) {
        let now = self.now();
        let until = deadline.map_or(max, |d| d.saturating_duration_since(now).min(max));
        if let Some(socket) = self.socket.as_mut() {
            let _ = socket.wait(until);
        }
    }
}

/// Resolves `addr` to one socket address, or `Error::BadAddress`.
pub(crate) fn resolve(addr: impl ToSocketAddrs + fmt::Debug) -> Result<SocketAddr, Error> {
    let text = format!("{addr:?}");
    addr.to_socket_addrs()
        .map_err(|_| Error::BadAddress(text.clone()))?
        .next()
        .ok_or(Error::BadAddress(text))
}

impl Transport for crate::SimNetwork {
    fn bind(&self, addr: SocketAddr, _config: &Config) -> io::Result<Box<dyn Socket>> {
        Ok(Box::new(crate::SimNetwork::bind(self, addr)?))
    }

    fn now(&self) -> Instant {
        self.clock().now()
    }

    /// Simulated hosts share the server's IP family and loopback-like addressing.
    fn client_bind_addr(&self, server: SocketAddr) -> SocketAddr {
        match server {
            SocketAddr::V4(_) => SocketAddr::from(([127, 0, 0, 1], 0)),
            SocketAddr::V6(_) => SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 0)),
        }
    }
}
