//! Which transport an endpoint binds its socket on, and which clock it reads.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::transport::sim::SimNetwork;
use crate::transport::udp::UdpSocket;
use crate::transport::Socket;
use crate::{Config, Error};

/// Real UDP with the system clock, or a simulated network with its virtual clock.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Udp,
    Sim(SimNetwork),
}

impl Backend {
    pub(crate) fn clock(&self) -> Clock {
        match self {
            Backend::Udp => Clock::System,
            Backend::Sim(net) => Clock::Virtual(net.clock()),
        }
    }

    /// Binds the endpoint's socket; a UDP socket gets the buffer sizes
    /// `config` asks for.
    pub(crate) fn bind(&self, addr: SocketAddr, config: &Config) -> Result<Box<dyn Socket>, Error> {
        Ok(match self {
            Backend::Udp => Box::new(UdpSocket::bind_with_buffers(
                addr,
                config.socket_recv_buffer,
                config.socket_send_buffer,
                Some(config.mtu),
            )?),
            Backend::Sim(net) => Box::new(net.bind(addr)?),
        })
    }

    /// The address a client binds to talk to `server`.
    pub(crate) fn client_bind_addr(&self, server: SocketAddr) -> SocketAddr {
        match (self, server) {
            (Backend::Udp, SocketAddr::V4(_)) => SocketAddr::from(([0, 0, 0, 0], 0)),
            (Backend::Udp, SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
            // Simulated hosts share the server's IP family and loopback-like addressing.
            (Backend::Sim(_), SocketAddr::V4(_)) => SocketAddr::from(([127, 0, 0, 1], 0)),
            (Backend::Sim(_), SocketAddr::V6(_)) => SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 0)),
        }
    }
}

/// Blocks on `socket` until a datagram may have arrived, `deadline`, or `max`
/// from `now`, whichever is first. A failed wait only means the next update
/// comes sooner, so its error is dropped.
pub(crate) fn wait(
    socket: Option<&mut (dyn Socket + '_)>,
    now: Instant,
    deadline: Option<Instant>,
    max: Duration,
) {
    let until = deadline.map_or(max, |d| d.saturating_duration_since(now).min(max));
    if let Some(socket) = socket {
        let _ = socket.wait(until);
    }
}

/// Resolves `addr` to one socket address, or `Error::BadAddress`.
pub(crate) fn resolve(addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<SocketAddr, Error> {
    let text = format!("{addr:?}");
    addr.to_socket_addrs()
        .map_err(|_| Error::BadAddress(text.clone()))?
        .next()
        .ok_or(Error::BadAddress(text))
}
